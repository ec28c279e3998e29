"""RelGANDiscriminator (relgan-cnn): representations, masking, relaxed input, and that it learns."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqtk.core.interfaces import Batch, DomainSpec
from seqtk.plugins.tokens.relgan_discriminator import RelGANDiscriminator

SPEC = DomainSpec(kind="discrete", max_len=7, vocab_size=9, pad_id=0, bos_id=1, eos_id=2, unsampled_ids=(0, 1))


def make(**params: object) -> RelGANDiscriminator:
    torch.manual_seed(2)
    options = {"embed_dim": 8, "num_rep": 4, "filter_sizes": [2, 3, 5], "num_filters": [6, 5, 4], "hidden_dim": 7} | params
    return RelGANDiscriminator(SPEC, **options).eval()  # type: ignore[arg-type]


def batch() -> Batch:
    values = torch.tensor([[3, 4, 5, 2, 0, 0, 0], [6, 7, 8, 3, 4, 5, 2], [8, 2, 0, 0, 0, 0, 0]])
    return Batch(values=values, lengths=torch.tensor([4, 7, 2]))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"embed_dim": 10, "num_rep": 4}, "multiple of num_rep"),
        ({"num_rep": 0}, "num_rep"),
        ({"filter_sizes": [2, 3], "num_filters": [4]}, "same length"),
        ({"dropout": 1.0}, "dropout"),
        ({"init": "xavier"}, "init"),
    ],
)
def test_bad_parameters_are_rejected(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make(**params)


def test_continuous_domains_are_rejected() -> None:
    with pytest.raises(ValueError, match="relgan-cnn discriminator: it embeds tokens"):
        RelGANDiscriminator(DomainSpec(kind="continuous", max_len=4, features=2))


def test_defaults_are_relgans_published_discriminator() -> None:
    d = RelGANDiscriminator(SPEC)
    assert (d.num_rep, d.rep_dim, d.filter_sizes, d.num_filters) == (64, 1, (2, 3, 4, 5), (300, 300, 300, 300))
    assert d.hidden.out_features == 100 and d.dropout.p == 0.25


def test_the_score_is_the_mean_of_one_score_per_representation() -> None:
    d = make()
    reps = d.representations(batch())
    assert reps.shape == (3, 4)
    torch.testing.assert_close(d(batch()), reps.mean(1))


def test_each_representation_reads_only_its_own_embedding_columns() -> None:
    d = make()
    before = d.representations(batch())
    with torch.no_grad():
        d.embed.weight[4:6] += 1.0  # rows of the embedding matrix = output units 4, 5: representation 2
    after = d.representations(batch())
    changed = (after - before).abs().amax(0) > 1e-6
    assert changed.tolist() == [False, False, True, False]


def test_padding_never_changes_a_score() -> None:
    d = make()
    scores = d(batch())
    junk = batch().values.clone()
    junk[0, 4:] = torch.tensor([5, 1, 8])
    junk[2, 2:] = 7
    torch.testing.assert_close(d(Batch(values=junk, lengths=batch().lengths)), scores)
    wider = F.pad(batch().values, (0, 3), value=6)  # extra columns past max_len's worth of data
    torch.testing.assert_close(d(Batch(values=wider, lengths=batch().lengths)), scores)
    # A batch narrower than the widest filter (5) is padded with zeros in time.
    short = Batch(values=torch.tensor([[3, 2], [4, 5]]), lengths=torch.tensor([2, 1]))
    padded = Batch(values=F.pad(short.values, (0, 5)), lengths=short.lengths)
    torch.testing.assert_close(d(short), d(padded))


def test_relaxed_one_hots_score_as_tokens_and_carry_gradients() -> None:
    d = make()
    b = batch()
    one_hot = F.one_hot(b.values, SPEC.vocab_size).float() * b.mask.unsqueeze(-1)
    relaxed = one_hot.clone().requires_grad_(True)
    scores = d(Batch(values=b.values, lengths=b.lengths, relaxed=relaxed))
    torch.testing.assert_close(scores, d(b))
    scores.sum().backward()
    assert relaxed.grad is not None
    assert float(relaxed.grad[b.mask].abs().sum()) > 0
    assert bool((relaxed.grad[~b.mask] == 0).all())


def test_it_learns_to_tell_two_token_distributions_apart() -> None:
    d = make(dropout=0.0).train()
    torch.manual_seed(0)
    real = Batch.full_length(torch.randint(3, 6, (32, 7)))   # tokens 3..5
    fake = Batch.full_length(torch.randint(5, 9, (32, 7)))   # tokens 5..8
    optimiser = torch.optim.Adam(d.parameters(), lr=0.01)

    def loss() -> torch.Tensor:
        return F.softplus(-(d(real) - d(fake))).mean()  # RSGAN's discriminator loss

    before = loss().item()
    for _ in range(40):
        optimiser.zero_grad()
        loss().backward()
        optimiser.step()
    assert before > 0.5 and loss().item() < 0.1
