"""The stabilisers: the generator's weight average (train.ema), spectral normalisation, R1 and instance noise.

Each is checked against a value computed by hand (the average, the R1 penalty, the
noise schedule) or a property it promises (a normalised layer's top singular value is 1),
and in a run: it is saved with the checkpoint and a resumed run ends bit-identical to an
uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from test_trainer import CrashAt, assert_same_run, final_state, tiny

from seqtk.core.api import restore, run
from seqtk.core.ema import WeightAverage
from seqtk.core.errors import RecipeError
from seqtk.core.interfaces import Batch, Discriminator, DomainSpec
from seqtk.core.metrics_log import read_metrics
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import load_recipe
from seqtk.core.schema import InstanceNoise
from seqtk.core.stabilisers import add_instance_noise, r1_penalty
from seqtk.core.trainer import EVAL_SEED_OFFSET, sample_in_chunks
from seqtk.plugins.discriminators import CNNDiscriminator, GRUDiscriminator, LSTMDiscriminator
from seqtk.plugins.spectral import normalised_weights
from seqtk.plugins.tokens.relgan_discriminator import RelGANDiscriminator

VALUES = DomainSpec(kind="continuous", max_len=6, features=3)
TOKENS = DomainSpec(kind="discrete", max_len=6, vocab_size=7)

#: Every stabiliser at once, on the tiny recipe of test_trainer (pretraining, D pretraining, adversarial).
ALL_ON = {
    "train__ema": {"decay": 0.9, "start": 2},
    "train__adversarial__r1": 0.5,
    "train__adversarial__instance_noise": {"std": 0.1, "anneal_steps": 8},
    "discriminator__params__spectral_norm": True,
}


# --------------------------------------------------------------------------- the weight average


def test_the_average_equals_the_hand_computed_one() -> None:
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    average = WeightAverage(net, decay=0.9, start=1)
    weights = []
    for step in range(1, 7):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        weights.append([p.detach().clone() for p in net.parameters()])
        average.update(net, step)
    # Step 1 is at or before start: a copy. Step 2 is the first update after start: a copy
    # (the mean of one). Then d = min(0.9, 1 - 1/n): 1/2, 2/3, 0.75, 0.8 for n = 2..5.
    expected = weights[1]
    for n, w in zip(range(2, 6), weights[2:]):
        d = min(0.9, 1 - 1 / n)
        expected = [d * e + (1 - d) * x for e, x in zip(expected, w)]
    for got, want in zip(average.module.parameters(), expected):
        assert torch.allclose(got, want, atol=1e-6)
    assert average.updates == 5
    # Once past 1 / (1 - decay) updates the decay is the recipe's.
    average.updates = 100
    assert average.decay_now() == 0.9


def test_the_average_never_trains_and_its_state_round_trips() -> None:
    net = nn.Linear(3, 2)
    average = WeightAverage(net, decay=0.5)
    assert not any(p.requires_grad for p in average.module.parameters()) and not average.module.training
    average.update(net, 1)
    copy = WeightAverage(nn.Linear(3, 2), decay=0.5)
    copy.load_state_dict(average.state_dict())
    assert copy.updates == 1 and all(torch.equal(a, b) for a, b in zip(copy.module.parameters(), average.module.parameters()))
    with pytest.raises(ValueError, match="decay must be a number in"):
        WeightAverage(net, decay=1.0)


def test_evaluation_samples_and_seqtk_sample_come_from_the_average(tmp_path: Path) -> None:
    result = run(tiny(tmp_path, "ema", train__ema={"decay": 0.8}))
    state = final_state(result.run_dir)
    average = state["generator_ema"]["weights"]
    assert any(not torch.equal(average[k], state["generator"][k]) for k in average)
    # seqtk sample (api.restore) loads the average ...
    parts, recipe, _ = restore(result.run_dir)
    assert all(torch.equal(t, average[k]) for k, t in parts.generator.state_dict().items())
    # ... and the run's last evaluation wrote samples drawn from it under the evaluation seed.
    torch.manual_seed(recipe.data.seed + EVAL_SEED_OFFSET)
    with torch.no_grad():
        fake = sample_in_chunks(parts.generator, recipe.data.eval.samples, recipe.data.train.batch_size * 16)
    [written] = parts.domain.write_samples(fake.index(torch.arange(recipe.data.output.samples)), tmp_path / "again", "last")
    step = state["step"]
    assert written.read_bytes() == (result.run_dir / "samples" / f"step-{step:08d}.csv").read_bytes()


def test_decay_zero_evaluates_exactly_the_live_weights(tmp_path: Path) -> None:
    plain = run(tiny(tmp_path, "plain"))
    copied = run(tiny(tmp_path, "copied", train__ema={"decay": 0.0}))
    evals = [[r for r in read_metrics(d / "metrics.jsonl") if r["phase"] == "eval"] for d in (plain.run_dir, copied.run_dir)]
    assert evals[0] == evals[1]


# --------------------------------------------------------------------------- spectral normalisation


SPECTRAL = {
    "gru": lambda spec: GRUDiscriminator(spec, hidden_dim=8, embed_dim=5, spectral_norm=True),
    "lstm-bi-2layers": lambda spec: LSTMDiscriminator(spec, hidden_dim=8, embed_dim=5, num_layers=2, spectral_norm=True),
    "cnn": lambda spec: CNNDiscriminator(spec, embed_dim=5, filter_sizes=[1, 2, 3], num_filters=[3, 4, 4], spectral_norm=True),
}


def _top_singular_value(layer: nn.Module, name: str) -> float:
    weight = getattr(layer, name).detach()
    return float(torch.linalg.matrix_norm(weight.flatten(1), ord=2))


@pytest.mark.parametrize("spec", [VALUES, TOKENS], ids=["values", "tokens"])
@pytest.mark.parametrize("make", list(SPECTRAL.values()), ids=list(SPECTRAL))
def test_spectral_norm_bounds_every_weight_matrix_by_one(make: Any, spec: DomainSpec) -> None:
    torch.manual_seed(0)
    disc = make(spec)
    layers = normalised_weights(disc)
    kinds = {kind.__name__ for _, layer in layers for kind in (nn.Linear, nn.Conv1d, nn.GRU, nn.LSTM) if isinstance(layer, kind)}
    assert "Linear" in kinds and (kinds & {"GRU", "LSTM", "Conv1d"})
    batch = Batch(values=torch.randint(0, 7, (4, 6)), lengths=torch.tensor([6, 3, 1, 6])) if spec.is_discrete else Batch.full_length(torch.rand(4, 6, 3))
    for _ in range(30):  # one power iteration per training-mode forward pass
        disc(batch)
    for name, layer in layers:
        assert _top_singular_value(layer, name) == pytest.approx(1.0, abs=0.02), f"{type(layer).__name__}.{name}"


def test_relgan_cnn_takes_spectral_norm() -> None:
    disc = RelGANDiscriminator(TOKENS, embed_dim=4, num_rep=2, filter_sizes=[2], num_filters=[3], hidden_dim=5, spectral_norm=True)
    batch = Batch(values=torch.randint(0, 7, (4, 6)), lengths=torch.tensor([6, 3, 1, 6]))
    for _ in range(30):
        disc(batch)
    assert len(normalised_weights(disc)) == 6  # embedding, conv, highway gate and transform, hidden, head
    assert all(_top_singular_value(layer, name) == pytest.approx(1.0, abs=0.02) for name, layer in normalised_weights(disc))


def test_spectral_norm_survives_state_dict_save_and_load(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trained = SPECTRAL["gru"](VALUES)
    batch = Batch.full_length(torch.rand(4, 6, 3))
    for _ in range(5):
        trained(batch)
    torch.save(trained.state_dict(), tmp_path / "d.pt")
    loaded = SPECTRAL["gru"](VALUES)
    loaded.load_state_dict(torch.load(tmp_path / "d.pt"))
    assert any(key.endswith("_u") for key in loaded.state_dict())  # the power-iteration vectors travel too
    trained.eval(), loaded.eval()
    assert torch.equal(trained(batch), loaded(batch))


def test_spectral_norm_off_changes_nothing() -> None:
    torch.manual_seed(0)
    a = CNNDiscriminator(VALUES, embed_dim=5, filter_sizes=[2], num_filters=[3])
    torch.manual_seed(0)
    b = CNNDiscriminator(VALUES, embed_dim=5, filter_sizes=[2], num_filters=[3], spectral_norm=False)
    assert a.state_dict().keys() == b.state_dict().keys()
    with pytest.raises(ValueError, match="spectral_norm must be true or false"):
        CNNDiscriminator(VALUES, spectral_norm="yes")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- R1


class _Quadratic(Discriminator):
    """``D(x) = mean over real steps of (a . x_t)^2`` per step: a gradient easy to write down."""

    def __init__(self, per_step: bool) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))
        self.per_step = per_step

    def forward(self, batch: Batch) -> Tensor:
        scores = (batch.values @ self.a) ** 2 * batch.mask.to(batch.values.dtype)  # [B, T]
        if self.per_step:
            return scores
        return scores.sum(1) / batch.lengths.to(scores.dtype)


@pytest.mark.parametrize("per_step", [False, True], ids=["sequence", "per-step"])
def test_r1_matches_a_hand_computation(per_step: bool) -> None:
    torch.manual_seed(0)
    x = torch.rand(3, 4, 3)
    lengths = torch.tensor([4, 2, 1])
    disc = _Quadratic(per_step)
    gamma = 3.0
    penalty = r1_penalty(disc, Batch(values=x, lengths=lengths), gamma)
    # D(x) = (1/L) sum_{t<L} (a.x_t)^2, so dD/dx_t = (2/L) (a.x_t) a for t < L, 0 after.
    a = disc.a.detach()
    total = 0.0
    for i in range(3):
        length = int(lengths[i])
        grads = [(2.0 / length) * float(a @ x[i, t]) * a for t in range(length)]
        total += sum(float(g.square().sum()) for g in grads)
    assert float(penalty) == pytest.approx(gamma / 2 * total / 3, rel=1e-5)
    penalty.backward()  # it trains the discriminator
    assert disc.a.grad is not None and bool(disc.a.grad.abs().sum() > 0)


def test_r1_refuses_tokens() -> None:
    with pytest.raises(ValueError, match="needs real values"):
        r1_penalty(_Quadratic(False), Batch(values=torch.zeros(2, 3, dtype=torch.long), lengths=torch.tensor([3, 3])), 1.0)


# --------------------------------------------------------------------------- instance noise


def test_instance_noise_anneals_linearly_to_zero() -> None:
    schedule = InstanceNoise(std=0.2, anneal_steps=10)
    assert [schedule.std_at(s) for s in (0, 5, 10, 20)] == pytest.approx([0.2, 0.1, 0.0, 0.0])
    assert InstanceNoise(std=0.2).std_at(1000) == 0.2  # anneal_steps 0: constant


def test_instance_noise_has_the_asked_std_and_leaves_padding_alone() -> None:
    torch.manual_seed(0)
    values = torch.rand(400, 6, 3)
    batch = Batch(values=values, lengths=torch.tensor([6, 2] * 200))
    noisy = add_instance_noise(batch, 0.3)
    added = noisy.values - values
    assert float(added[batch.mask].std()) == pytest.approx(0.3, rel=0.05)
    assert torch.equal(added[~batch.mask], torch.zeros_like(added[~batch.mask]))
    assert add_instance_noise(batch, 0.0) is batch


def test_a_run_logs_the_annealed_std_and_r1(tmp_path: Path) -> None:
    result = run(tiny(tmp_path, "noisy", train__log_every=1, **ALL_ON))
    rows = {r["step"]: r for r in read_metrics(result.run_dir / "metrics.jsonl") if r["phase"] == "adversarial"}
    # The adversarial phase starts after 4 + 3 pretraining steps; logged step s did adversarial step s - 8.
    assert [rows[s]["d_instance_noise"] for s in (8, 12, 16, 20)] == pytest.approx([0.1, 0.05, 0.0, 0.0])
    assert all(r["d_r1"] >= 0 for r in rows.values())


# --------------------------------------------------------------------------- runs and recipes


def test_a_run_with_every_stabiliser_resumes_bit_identical(tmp_path: Path) -> None:
    run(tiny(tmp_path, "straight", **ALL_ON))
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tiny(tmp_path, "crashed", **ALL_ON), callbacks=[CrashAt(14)])
    run(tiny(tmp_path, "crashed", **ALL_ON), resume=True)
    assert_same_run(tmp_path / "straight", tmp_path / "crashed")
    a, b = final_state(tmp_path / "straight"), final_state(tmp_path / "crashed")
    assert a["generator_ema"]["updates"] == b["generator_ema"]["updates"] > 0
    for key, tensor in a["generator_ema"]["weights"].items():
        assert torch.equal(tensor, b["generator_ema"]["weights"][key]), key
    assert any(key.endswith("_u") for key in a["discriminator"])  # spectral norm's vectors were checkpointed


def test_noise_and_r1_are_refused_for_token_domains(tmp_path: Path, host: PluginHost) -> None:
    recipe = {
        "seqtk": 1,
        "name": "tokens",
        "domain": {"name": "oracle", "params": {}},
        "preset": "seqgan",
        "train": {"adversarial": {"r1": 1.0, "instance_noise": {"std": 0.1}}, "ema": {"decay": 1.5}},
    }
    path = tmp_path / "tokens.yaml"
    path.write_text(json.dumps(recipe))
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, host=host)
    text = str(caught.value)
    for key in ("train.adversarial.r1", "train.adversarial.instance_noise.std", "train.ema.decay"):
        assert key in text
