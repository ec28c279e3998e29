"""The GRU, LSTM and CNN discriminators: shapes, masks, gradients, parameters and learning.

Every discriminator reads tokens (as one-hot or relaxed ``[B, T, V]`` input) and
continuous values, and must score a sequence the same whatever its padding holds and
however many padding columns the batch has.
"""

from __future__ import annotations

from typing import Callable

import pytest
import torch

from seqtk.core.interfaces import Batch, Discriminator, DomainSpec
from seqtk.plugins.discriminators import CNNDiscriminator, GRUDiscriminator, LSTMDiscriminator

V, F, T = 7, 3, 6
TOKENS = DomainSpec(kind="discrete", max_len=T, vocab_size=V)
VALUES = DomainSpec(kind="continuous", max_len=T, features=F)
LENGTHS = torch.tensor([6, 4, 1, 2])

Make = Callable[[DomainSpec], Discriminator]

MAKERS: dict[str, Make] = {
    "gru": lambda spec: GRUDiscriminator(spec, hidden_dim=8, embed_dim=5),
    "gru-bi-2layers": lambda spec: GRUDiscriminator(spec, hidden_dim=8, embed_dim=5, bidirectional=True, num_layers=2),
    "lstm": lambda spec: LSTMDiscriminator(spec, hidden_dim=8, embed_dim=5),
    "lstm-uni-2layers": lambda spec: LSTMDiscriminator(spec, hidden_dim=8, embed_dim=5, bidirectional=False, num_layers=2),
    "cnn": lambda spec: CNNDiscriminator(spec, embed_dim=5, filter_sizes=[1, 2, 3, 5], num_filters=[3, 4, 4, 2]),
    "cnn-no-highway": lambda spec: CNNDiscriminator(spec, embed_dim=5, filter_sizes=(2, 4), num_filters=(4, 4), highway=False),
}
PER_STEP: dict[str, Make] = {
    "gru": lambda spec: GRUDiscriminator(spec, hidden_dim=8, embed_dim=5, per_step=True),
    "lstm-bi": lambda spec: LSTMDiscriminator(spec, hidden_dim=8, embed_dim=5, per_step=True),
    "lstm-uni": lambda spec: LSTMDiscriminator(spec, hidden_dim=8, embed_dim=5, bidirectional=False, per_step=True),
    "cnn": lambda spec: CNNDiscriminator(spec, embed_dim=5, filter_sizes=[1, 2, 3], num_filters=[3, 4, 4], per_step=True),
}
ALL = {**MAKERS, **{f"{k}-per-step": v for k, v in PER_STEP.items()}}


def token_batch(steps: int = T, lengths: torch.Tensor = LENGTHS, seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    return Batch(values=torch.randint(0, V, (len(lengths), steps), generator=gen), lengths=lengths.clone())


def value_batch(steps: int = T, lengths: torch.Tensor = LENGTHS, seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    return Batch(values=torch.rand(len(lengths), steps, F, generator=gen), lengths=lengths.clone())


def with_garbage(batch: Batch, extra: int, *, relaxed: bool = False) -> Batch:
    """The same sequences with ``extra`` more padding columns and garbage in all padding."""
    gen = torch.Generator().manual_seed(99)
    steps = batch.steps + extra
    mask = torch.arange(steps).unsqueeze(0) < batch.lengths.unsqueeze(1)
    if batch.values.is_floating_point():
        garbage = torch.randn(batch.size, steps, F, generator=gen) * 50
        garbage[0, -1, 0] = float("nan")  # even NaN in padding must not leak
        padded = torch.nn.functional.pad(batch.values, (0, 0, 0, extra))
        return Batch(values=torch.where(mask.unsqueeze(-1), padded, garbage), lengths=batch.lengths)
    values = torch.where(mask, torch.nn.functional.pad(batch.values, (0, extra)), torch.randint(0, V, (batch.size, steps), generator=gen))
    if not relaxed:
        return Batch(values=values, lengths=batch.lengths)
    soft = torch.softmax(torch.randn(batch.size, steps, V, generator=gen) * 3, dim=-1)
    exact = torch.nn.functional.one_hot(values, V).float()
    return Batch(values=values, lengths=batch.lengths, relaxed=torch.where(mask.unsqueeze(-1), exact, soft))


def build(make: Make, spec: DomainSpec) -> Discriminator:
    torch.manual_seed(0)
    return make(spec).eval()


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("name", MAKERS)
@pytest.mark.parametrize("kind", ["tokens", "values"])
def test_per_sequence_shapes(name: str, kind: str):
    spec, batch = (TOKENS, token_batch()) if kind == "tokens" else (VALUES, value_batch())
    scores = build(MAKERS[name], spec)(batch)
    assert scores.shape == (4,) and torch.isfinite(scores).all()


@pytest.mark.parametrize("name", PER_STEP)
@pytest.mark.parametrize("kind", ["tokens", "values"])
def test_per_step_shapes_and_zero_padding(name: str, kind: str):
    spec, batch = (TOKENS, token_batch()) if kind == "tokens" else (VALUES, value_batch())
    discriminator = build(PER_STEP[name], spec)
    assert discriminator.per_step
    scores = discriminator(batch)
    assert scores.shape == (4, T)
    assert (scores[~batch.mask] == 0).all() and (scores[batch.mask] != 0).all()


def test_cnn_pads_batches_shorter_than_its_widest_filter():
    cnn = build(lambda spec: CNNDiscriminator(spec, embed_dim=4, filter_sizes=[2, 5], num_filters=[3, 3]), TOKENS)
    short = token_batch(steps=2, lengths=torch.tensor([2, 1, 2, 1]))
    assert cnn(short).shape == (4,)
    torch.testing.assert_close(cnn(short), cnn(with_garbage(short, extra=6)))


def test_seqgan_configuration_builds_and_scores():
    spec = DomainSpec(kind="discrete", max_len=20, vocab_size=50)
    widths = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20]
    counts = [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160]
    cnn = CNNDiscriminator(spec, embed_dim=64, filter_sizes=widths, num_filters=counts, dropout=0.25, highway=True).eval()
    assert cnn.head.in_features == 1720
    batch = Batch(values=torch.randint(0, 50, (2, 20)), lengths=torch.tensor([20, 7]))
    assert cnn(batch).shape == (2,)


# --------------------------------------------------------------------------- masks


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("kind", ["tokens", "relaxed", "values"])
def test_padding_and_extra_columns_never_change_scores(name: str, kind: str):
    spec = VALUES if kind == "values" else TOKENS
    batch = value_batch() if kind == "values" else token_batch()
    discriminator = build(ALL[name], spec)
    clean = discriminator(batch)
    dirty = discriminator(with_garbage(batch, extra=3, relaxed=kind == "relaxed"))
    if clean.dim() == 2:  # per-step: the real steps agree, padding scores 0
        torch.testing.assert_close(dirty[:, :T], clean)
        assert (dirty[:, T:] == 0).all()
    else:
        torch.testing.assert_close(dirty, clean)
    # and each row scores as it does alone, cut to its own length (no padding at all)
    for row, length in enumerate(batch.lengths.tolist()):
        alone = discriminator(Batch.full_length(batch.values[row : row + 1, :length]))
        expected = clean[row, :length] if clean.dim() == 2 else clean[row]
        torch.testing.assert_close(alone[0], expected, rtol=1e-5, atol=1e-6)


def test_cnn_max_pool_ignores_windows_that_cross_the_end_of_a_sequence():
    """Hand-set CNN: embedding e(1) = 1, e(0) = 0; one width-2 filter computing a - b; score = feature.

    [1, 1, 1] of length 3 in 4 steps: the windows inside give 1 - 1 = 0; the window that
    crosses the end would see (1, padding 0) = 1 and must not count, so the score is 0.
    [1] of length 1 is shorter than the filter: its first window is (1, 0) = 1.
    """
    spec = DomainSpec(kind="discrete", max_len=4, vocab_size=2)
    cnn = CNNDiscriminator(spec, embed_dim=1, filter_sizes=[2], num_filters=[1], dropout=0.0, highway=False).eval()
    with torch.no_grad():
        cnn.embed.weight.copy_(torch.tensor([[0.0, 1.0]]))
        cnn.convs[0].weight.copy_(torch.tensor([[[1.0, -1.0]]]))
        cnn.convs[0].bias.zero_()
        cnn.head.weight.fill_(1.0)
        cnn.head.bias.zero_()
    batch = Batch(values=torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]]), lengths=torch.tensor([3, 1]))
    torch.testing.assert_close(cnn(batch), torch.tensor([0.0, 1.0]))


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("name", ALL)
def test_gradients_reach_relaxed_input_and_skip_padding(name: str):
    discriminator = build(ALL[name], TOKENS)
    batch = with_garbage(token_batch(), extra=0, relaxed=True)
    relaxed = batch.relaxed.clone().requires_grad_(True)
    discriminator(Batch(values=batch.values, lengths=batch.lengths, relaxed=relaxed)).sum().backward()
    grad_norm = relaxed.grad.norm(dim=-1)
    assert (grad_norm[batch.mask] > 0).any() and (grad_norm[~batch.mask] == 0).all()
    for row, length in enumerate(batch.lengths.tolist()):
        assert grad_norm[row, :length].sum() > 0, f"row {row} got no gradient"


# --------------------------------------------------------------------------- CUDA

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@CUDA
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("kind", ["tokens", "relaxed", "values"])
def test_cuda_scores_match_the_cpu_and_ignore_padding(name: str, kind: str):
    spec = VALUES if kind == "values" else TOKENS
    batch = with_garbage(value_batch() if kind == "values" else token_batch(), extra=2, relaxed=kind == "relaxed")
    discriminator = build(ALL[name], spec)
    on_cpu = discriminator(batch)
    gpu = discriminator.to("cuda")
    on_gpu = gpu(batch.to("cuda"))
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-3, atol=1e-4)  # cuDNN and TF32 round differently
    if kind == "relaxed":
        gpu.train()  # cuDNN's RNN backward exists in training mode only, where the trainer uses it
        relaxed = batch.relaxed.to("cuda").requires_grad_(True)
        gpu(Batch(values=batch.values.to("cuda"), lengths=batch.lengths.to("cuda"), relaxed=relaxed)).sum().backward()
        grad_norm = relaxed.grad.norm(dim=-1).cpu()
        assert (grad_norm[~batch.mask] == 0).all() and (grad_norm[batch.mask] > 0).any()


# --------------------------------------------------------------------------- learning


def two_distributions(n: int, gen: torch.Generator) -> tuple[Batch, Batch]:
    """Real rows use tokens 0-2 with probability 0.9, fake rows tokens 3-6; lengths 3 to 6."""
    def draw(low_prob: float) -> Batch:
        low = torch.randint(0, 3, (n, T), generator=gen)
        high = torch.randint(3, V, (n, T), generator=gen)
        values = torch.where(torch.rand(n, T, generator=gen) < low_prob, low, high)
        return Batch(values=values, lengths=torch.randint(3, T + 1, (n,), generator=gen))

    return draw(0.9), draw(0.1)


def accuracy(discriminator: Discriminator, real: Batch, fake: Batch) -> float:
    with torch.no_grad():
        def per_sequence(scores: torch.Tensor, batch: Batch) -> torch.Tensor:
            if scores.dim() == 1:
                return scores
            weight = batch.mask.float()
            return (scores * weight).sum(1) / weight.sum(1)

        right = (per_sequence(discriminator(real), real) > 0).sum() + (per_sequence(discriminator(fake), fake) <= 0).sum()
    return right.item() / (real.size + fake.size)


LEARNERS: dict[str, Make] = {
    "gru": lambda spec: GRUDiscriminator(spec, hidden_dim=16, embed_dim=8),
    "lstm": lambda spec: LSTMDiscriminator(spec, hidden_dim=16, embed_dim=8),
    "lstm-per-step": lambda spec: LSTMDiscriminator(spec, hidden_dim=16, embed_dim=8, per_step=True),
    "cnn": lambda spec: CNNDiscriminator(spec, embed_dim=8, filter_sizes=[2, 3], num_filters=[16, 16]),
}


@pytest.mark.parametrize("name", LEARNERS)
def test_learns_to_separate_two_token_distributions(name: str):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    discriminator = LEARNERS[name](TOKENS)
    held_out = two_distributions(200, gen)
    discriminator.eval()
    before = accuracy(discriminator, *held_out)
    optimiser = torch.optim.Adam(discriminator.parameters(), lr=1e-2)
    for _ in range(40):
        discriminator.train()
        real, fake = two_distributions(32, gen)
        real_scores, fake_scores = discriminator(real), discriminator(fake)
        if real_scores.dim() == 2:  # per-step: every real step is a labelled example
            real_scores, fake_scores = real_scores[real.mask], fake_scores[fake.mask]
        loss = torch.nn.functional.softplus(-real_scores).mean() + torch.nn.functional.softplus(fake_scores).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    discriminator.eval()
    after = accuracy(discriminator, *held_out)
    assert before < 0.75, f"{name} separated the data before training ({before:.2f})"
    assert after > 0.9, f"{name}: held-out accuracy {before:.2f} -> {after:.2f}"


# --------------------------------------------------------------------------- parameters


def test_gru_keeps_its_parameters_and_state_dict_layout():
    gru = GRUDiscriminator(TOKENS)
    assert not gru.rnn.bidirectional and gru.rnn.hidden_size == 64 and gru.embed.out_features == 32
    assert list(gru.state_dict()) == [
        "embed.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0", "head.weight", "head.bias",
    ]
    assert isinstance(gru.rnn, torch.nn.GRU)


def test_lstm_defaults():
    lstm = LSTMDiscriminator(VALUES)
    assert isinstance(lstm.rnn, torch.nn.LSTM)
    assert lstm.rnn.bidirectional and lstm.rnn.hidden_size == 64 and lstm.rnn.num_layers == 1
    assert lstm.embed is None and lstm.rnn.input_size == F and not lstm.per_step
    assert LSTMDiscriminator(TOKENS).embed.out_features == 32


def test_cnn_defaults():
    cnn = CNNDiscriminator(TOKENS)
    assert cnn.filter_sizes == (2, 3, 4, 5) and cnn.num_filters == (100, 100, 100, 100)
    assert cnn.embed.in_features == V and cnn.embed.out_features == 64 and cnn.embed.bias is None
    assert cnn.highway is not None and cnn.dropout.p == 0.25 and not cnn.per_step
    projected = CNNDiscriminator(VALUES)
    assert projected.embed.in_features == F and projected.embed.bias is not None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filter_sizes": [2, 3], "num_filters": [10]}, "same length"),
        ({"filter_sizes": [], "num_filters": []}, "non-empty list"),
        ({"filter_sizes": [0, 2], "num_filters": [1, 1]}, "filter_sizes must be an integer >= 1"),
        ({"filter_sizes": [2], "num_filters": [2.5]}, "num_filters must be an integer >= 1"),
        ({"filter_sizes": [True], "num_filters": [1]}, "filter_sizes"),
        ({"filter_sizes": [2, 300], "num_filters": [1, 1]}, "at most 256"),
        ({"filter_sizes": "2,3", "num_filters": [1, 1]}, "filter_sizes must be a non-empty list"),
        ({"embed_dim": 0}, "embed_dim"),
        ({"dropout": 1.0}, "dropout"),
        ({"highway": "yes"}, "highway"),
    ],
)
def test_cnn_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CNNDiscriminator(TOKENS, **kwargs)


@pytest.mark.parametrize("cls, name", [(GRUDiscriminator, "gru"), (LSTMDiscriminator, "lstm")])
@pytest.mark.parametrize(
    "kwargs, message",
    [({"hidden_dim": 0}, "hidden_dim"), ({"num_layers": 0}, "num_layers"), ({"dropout": -0.1}, "dropout"), ({"per_step": 1}, "per_step")],
)
def test_recurrent_rejects_bad_parameters(cls, name, kwargs, message):
    with pytest.raises(ValueError, match=f"{name} discriminator: {message}"):
        cls(TOKENS, **kwargs)


@pytest.mark.parametrize("cls", [GRUDiscriminator, LSTMDiscriminator, CNNDiscriminator])
def test_specs_without_inputs_are_refused(cls):
    with pytest.raises(ValueError, match="vocab_size"):
        cls(DomainSpec(kind="discrete", max_len=4))
    with pytest.raises(ValueError, match="features"):
        cls(DomainSpec(kind="continuous", max_len=4))


def test_registry_accepts_yaml_lists_and_builds(host):
    cnn = host.registry.get("discriminators", "cnn")
    params = {"filter_sizes": [1, 2, 3], "num_filters": [4, 4, 4], "dropout": 0.5}
    assert cnn.check_params(params) == []
    built = cnn.build({"spec": TOKENS}, params)
    assert isinstance(built, CNNDiscriminator) and built.filter_sizes == (1, 2, 3)
    problems = dict(cnn.check_params({"filter_sizes": [2, "3"], "num_filter": [1]}))
    assert "filter_sizes" in problems and "num_filter" in problems
    lstm = host.registry.get("discriminators", "lstm")
    assert lstm.check_params({"hidden_dim": 8, "per_step": True}) == []
    assert isinstance(lstm.build({"spec": VALUES}, {"hidden_dim": 8}), LSTMDiscriminator)


@pytest.mark.parametrize("kind", ["tokens", "values"])
def test_per_step_cnn_is_causal(kind: str):
    """Step t's score depends on steps <= t only: changing step 3 leaves steps 0-2 alone."""
    spec, batch = (TOKENS, token_batch(lengths=torch.full((4,), T))) if kind == "tokens" else (VALUES, value_batch(lengths=torch.full((4,), T)))
    cnn = build(PER_STEP["cnn"], spec)
    changed = batch.values.clone()
    changed[:, 3] = (changed[:, 3] + 1) % V if kind == "tokens" else changed[:, 3] + 1.0
    before, after = cnn(batch), cnn(Batch(values=changed, lengths=batch.lengths))
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert (before[:, 3] != after[:, 3]).all()
