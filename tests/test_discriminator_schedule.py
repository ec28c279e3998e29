"""SeqGAN's discriminator schedule by pools, the Discriminator.regularization() hook, and d_acc/d_auc.

The toy oracle (12 tokens, 8 steps, an 8-unit oracle LSTM) and a tiny SeqGAN make every run
here take a second or two.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from seqtk.core import checkpoint as ckpt
from seqtk.core.api import load_recipe, run
from seqtk.core.discrimination import auc, separation, sequence_scores
from seqtk.core.errors import RecipeError
from seqtk.core.hookspecs import hookimpl
from seqtk.core.interfaces import Batch, Discriminator, DomainSpec
from seqtk.core.metrics_log import read_metrics
from seqtk.core.plugins import PluginHost
from seqtk.core.trainer import Trainer
from seqtk.plugins.discriminators import CNNDiscriminator

BATCH = 16
PRETRAIN_POOLS = {"pools": 3, "pool_size": 40, "epochs": 2}  # ceil(40 / 16) = 3 batches: 16, 16, 8
ADVERSARIAL_POOLS = {"pools": 2, "pool_size": 20, "epochs": 1}  # 2 batches: 16, 4

TOY: dict[str, Any] = {
    "seqtk": 1,
    "name": "pools",
    "seed": 1,
    "domain": {
        "name": "oracle",
        "params": {"vocab_size": 12, "embed_dim": 8, "hidden_dim": 8, "max_len": 8, "train_samples": 200, "test_samples": 200, "seed": 5},
    },
    "preset": "seqgan",
    "generator": {"params": {"embed_dim": 8, "hidden_dim": 8}},
    "discriminator": {"params": {"embed_dim": 8, "filter_sizes": [2, 3], "num_filters": [8, 8], "dropout": 0.0}},
    "estimator": {"params": {"rollouts": 2}},
    "train": {
        "batch_size": BATCH,
        "device": "cpu",
        "pretrain": {"generator_steps": 3, "discriminator_pools": PRETRAIN_POOLS},
        "adversarial": {"steps": 2, "discriminator_pools": ADVERSARIAL_POOLS},
        "optimizer": {"discriminator": {"lr": 0.01}},
        "log_every": 1,
    },
    "eval": {"every": 2, "samples": 64, "metrics": ["nll-oracle"]},
    "output": {"checkpoint_every": 2, "samples": 0},
}


def toy(tmp_path: Path, name: str, **train: Any) -> dict[str, Any]:
    recipe = json.loads(json.dumps(TOY))
    recipe["output"]["dir"] = str(tmp_path / name)
    for section, value in train.items():
        recipe["train"][section] = value
    return recipe


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class RecordingTrainer(Trainer):
    """Records (step, real rows, generated rows) of every discriminator update."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.updates: list[tuple[int, int, Tensor]] = []

    def _train_discriminator(self, real: Batch, fake: Batch) -> dict[str, float]:
        assert real.size == fake.size
        self.updates.append((self.state.step, real.size, fake.values.clone()))
        return super()._train_discriminator(real, fake)


def recording_trainer(recipe_data: dict[str, Any], host: PluginHost) -> RecordingTrainer:
    recipe = load_recipe(recipe_data, host=host)
    run_dir = Path(recipe_data["output"]["dir"])
    run_dir.mkdir(parents=True)
    return RecordingTrainer(recipe, host.registry, run_dir, callbacks=host.callbacks(recipe), progress=False)


def rows(values: Tensor) -> list[tuple[int, ...]]:
    return sorted(tuple(row) for row in values.tolist())


# ------------------------------------------------------------------ the schedule


def test_pools_make_exactly_pools_x_epochs_x_batches_updates_on_fresh_negatives(tmp_path: Path, host: PluginHost) -> None:
    trainer = recording_trainer(toy(tmp_path, "count"), host)
    trainer.fit()
    pretrain_updates = PRETRAIN_POOLS["epochs"] * ceil_div(PRETRAIN_POOLS["pool_size"], BATCH)  # per pool (step)
    adversarial_updates = ADVERSARIAL_POOLS["pools"] * ceil_div(ADVERSARIAL_POOLS["pool_size"], BATCH)  # per step
    assert trainer.total_steps == 3 + PRETRAIN_POOLS["pools"] + 2
    per_step = {step: sum(1 for s, _, _ in trainer.updates if s == step) for step in range(trainer.total_steps)}
    assert per_step == {0: 0, 1: 0, 2: 0, 3: pretrain_updates, 4: pretrain_updates, 5: pretrain_updates, 6: adversarial_updates, 7: adversarial_updates}
    # Adam counted exactly as many D steps: nothing trained the D outside the pools.
    first = next(iter(trainer.parts.discriminator.parameters()))
    assert int(trainer.d_opt.state[first]["step"]) == 3 * pretrain_updates + 2 * adversarial_updates
    assert [size for step, size, _ in trainer.updates if step == 3] == [16, 16, 8] * 2
    assert [size for step, size, _ in trainer.updates if step == 6] == [16, 4] * 2

    def pool(step: int, epoch: int) -> list[tuple[int, ...]]:
        batches = [values for s, _, values in trainer.updates if s == step]
        per_epoch = len(batches) // PRETRAIN_POOLS["epochs"]
        return rows(torch.cat(batches[epoch * per_epoch : (epoch + 1) * per_epoch]))

    # Every epoch revisits the same 40 negatives, in another order ...
    assert pool(3, 0) == pool(3, 1)
    first_batches = [values for s, _, values in trainer.updates if s == 3]
    assert not torch.equal(first_batches[0], first_batches[3])
    # ... and every pool draws new ones.
    assert pool(3, 0) != pool(4, 0) != pool(5, 0)
    records = read_metrics(tmp_path / "count" / "metrics.jsonl")
    assert {r["phase"] for r in records} == {"eval", "pretrain_generator", "pretrain_discriminator", "adversarial"}
    assert all("d_loss" in r for r in records if r["phase"] in ("pretrain_discriminator", "adversarial"))


def test_an_interrupted_pool_pretraining_resumes_bit_for_bit(tmp_path: Path) -> None:
    class CrashAt:
        def on_step(self, step: int, logs: Any) -> None:
            if step == 5:  # the second pool; the last checkpoint is at step 4, after the first
                raise RuntimeError("simulated crash")

    straight = run(toy(tmp_path, "straight"))
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(toy(tmp_path, "crashed"), callbacks=[CrashAt()])
    assert ckpt.list_checkpoints(tmp_path / "crashed" / "checkpoints")[-1][0] == 4
    resumed = run(toy(tmp_path, "crashed"), resume=True)
    assert resumed.steps == straight.steps == 8
    a = ckpt.load_checkpoint(ckpt.list_checkpoints(tmp_path / "straight" / "checkpoints")[-1][1])
    b = ckpt.load_checkpoint(ckpt.list_checkpoints(tmp_path / "crashed" / "checkpoints")[-1][1])
    for net in ("generator", "discriminator"):
        for key, tensor in a[net].items():
            assert torch.equal(tensor, b[net][key]), f"{net}.{key} differs"
    assert (tmp_path / "straight" / "metrics.jsonl").read_bytes() == (tmp_path / "crashed" / "metrics.jsonl").read_bytes()


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("train", "path", "message"),
    [
        ({"pretrain": {"discriminator_steps": 5, "discriminator_pools": {"pools": 2}}}, "train.pretrain.discriminator_pools", "cannot be used with train.pretrain.discriminator_steps"),
        ({"adversarial": {"discriminator_steps": 1, "discriminator_pools": {"pools": 2}}}, "train.adversarial.discriminator_pools", "not both"),
        ({"adversarial": {"discriminator_pools": {"pool_size": 100, "epochs": 3}}}, "train.adversarial.discriminator_pools.pools", "is 0, so pool_size and epochs have no effect"),
        ({"pretrain": {"discriminator_pools": {"pools": 1, "pool_size": 0}}}, "train.pretrain.discriminator_pools.pool_size", "must be at least 1"),
        ({"pretrain": {"discriminator_pools": {"pools": 1, "epochs": 0}}}, "train.pretrain.discriminator_pools.epochs", "must be at least 1"),
        ({"pretrain": {"discriminator_pools": {"pool": 1}}}, "train.pretrain.discriminator_pools.pool", "did you mean 'pools'"),
    ],
)
def test_pool_keys_are_validated_with_their_key_path(train: dict[str, Any], path: str, message: str, host: PluginHost) -> None:
    recipe = json.loads(json.dumps(TOY))
    recipe["train"] = {"batch_size": 8, **train}
    with pytest.raises(RecipeError) as caught:
        load_recipe(recipe, host=host)
    assert [p.path for p in caught.value.problems] == [path]
    assert message in caught.value.problems[0].message


def test_pools_alone_make_a_run_and_null_pool_size_takes_the_training_split(tmp_path: Path, host: PluginHost) -> None:
    recipe = toy(tmp_path, "whole", pretrain={"discriminator_pools": {"pools": 1}}, adversarial={"steps": 0})
    trainer = recording_trainer(recipe, host)
    trainer.fit()
    assert sum(size for _, size, _ in trainer.updates) == TOY["domain"]["params"]["train_samples"]


# ------------------------------------------------------------------ regularization


class ShrinkingCNN(CNNDiscriminator):
    """A CNN whose regularization() is ``scale`` times the sum of its squared weights."""

    def __init__(self, spec: DomainSpec, scale: float = 0.0, **params: Any) -> None:
        super().__init__(spec, **params)
        self.scale = scale

    def regularization(self) -> Tensor | None:
        if not self.scale:
            return None
        return self.scale * sum(p.pow(2).sum() for p in self.parameters())


class ShrinkingPlugin:
    @hookimpl
    def seqtk_register(self, registry: Any) -> None:
        registry.add("discriminators", "shrinking-cnn", f"{__name__}:ShrinkingCNN", plugin="shrinking")


def test_the_discriminators_regularization_joins_its_loss_and_is_logged(tmp_path: Path) -> None:
    host = PluginHost(plugins=[ShrinkingPlugin()])
    norms = {}
    for scale in (0.0, 0.05):
        recipe = toy(tmp_path, f"scale-{scale}")
        recipe["discriminator"] = {"name": "shrinking-cnn", "params": {**TOY["discriminator"]["params"], "scale": scale}}
        trainer = recording_trainer(recipe, host)
        # One update by hand: the logged penalty is the one computed from the weights before it.
        real = trainer.stream.next()
        fake = trainer.parts.generator.sample(real.size)
        with torch.no_grad():
            before = float(scale * sum(p.pow(2).sum() for p in trainer.parts.discriminator.parameters()))
        logs = trainer._train_discriminator(real, fake)
        assert logs.get("d_regularization", 0.0) == pytest.approx(before, rel=1e-6)
        assert ("d_regularization" in logs) == bool(scale)
        trainer.fit()
        records = read_metrics(tmp_path / f"scale-{scale}" / "metrics.jsonl")
        assert all(("d_regularization" in r) == bool(scale) for r in records if r["phase"] == "pretrain_discriminator")
        norms[scale] = sum(p.pow(2).sum().item() for p in trainer.parts.discriminator.parameters())
    assert norms[0.05] < 0.8 * norms[0.0]  # the penalty's gradient reached the weights


# ------------------------------------------------------------------ d_acc and d_auc


def test_separation_by_hand() -> None:
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.5, 1.0, -0.5])
    # Real 2.0 beats all 4; 0.5 beats -2 and -0.5 and ties 0.5 (half); -1 beats -2: 7.5 of 12 pairs.
    assert separation(real, fake) == pytest.approx({"d_acc_real": 2 / 3, "d_acc_fake": 2 / 4, "d_auc": 7.5 / 12})
    assert auc(torch.tensor([1.0, 2.0]), torch.tensor([0.0, -1.0])) == 1.0
    assert auc(torch.tensor([0.0, 0.0]), torch.tensor([0.0])) == 0.5


class StepScores(Discriminator):
    """Scores each step by its token id minus 2: a per-step discriminator whose values are known."""

    def forward(self, batch: Batch) -> Tensor:
        return batch.values.double() - 2.0


def test_a_per_step_discriminator_scores_a_sequence_by_the_mean_over_its_steps() -> None:
    batch = Batch(values=torch.tensor([[4, 0, 9], [1, 2, 3], [0, 0, 0]]), lengths=torch.tensor([2, 3, 1]))
    # Row 0: steps 4, 0 -> (2 + -2) / 2 = 0; row 1: (-1 + 0 + 1) / 3 = 0; row 2: -2.
    scores = sequence_scores(StepScores(), batch, chunk=2, device=torch.device("cpu"))
    assert scores.tolist() == [0.0, 0.0, -2.0]


def test_pool_trained_discriminator_separates_real_from_generated_in_the_eval_log(tmp_path: Path) -> None:
    recipe = toy(tmp_path, "separates", pretrain={"generator_steps": 20, "discriminator_pools": {"pools": 4, "pool_size": 200, "epochs": 3}}, adversarial={"steps": 0})
    recipe["eval"] = {"every": 20, "samples": 200, "metrics": ["nll-oracle"]}
    result = run(recipe)
    evals = [r for r in read_metrics(result.run_dir / "metrics.jsonl") if r["phase"] == "eval"]
    assert [r["step"] for r in evals] == [0, 20, 24]
    assert all({"d_acc_real", "d_acc_fake", "d_auc"} <= set(r) for r in evals)
    assert "d_auc" not in result.metrics  # the log's, not the run's final metrics
    untrained, trained = evals[1]["d_auc"], evals[2]["d_auc"]
    print(evals)  # same generator, before and after the pools
    assert trained > 0.75 and trained > untrained + 0.15, (untrained, trained)
    assert evals[2]["d_acc_real"] > 0.6 and evals[2]["d_acc_fake"] > 0.6


@pytest.mark.parametrize("fresh", [False, True])
def test_fresh_generator_optimizer_starts_the_adversarial_phase_from_no_adam_state(tmp_path: Path, host: PluginHost, fresh: bool) -> None:
    pretrain = {**TOY["train"]["pretrain"], "fresh_generator_optimizer": fresh}
    trainer = recording_trainer(toy(tmp_path, f"fresh-{fresh}", pretrain=pretrain), host)
    trainer.fit()
    first = next(iter(trainer.parts.generator.parameters()))
    adversarial_updates = TOY["train"]["adversarial"]["steps"]
    assert int(trainer.g_opt.state[first]["step"]) == adversarial_updates + (0 if fresh else pretrain["generator_steps"])


# ------------------------------------------------------------------ the pretraining rate


class LearningRateTrainer(Trainer):
    """Records the generator's learning rate of every step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rates: list[float] = []

    def _train_step(self, phase: Any) -> dict[str, float]:
        logs = super()._train_step(phase)
        self.rates.append(self.g_opt.param_groups[0]["lr"])
        return logs


def test_the_last_pretraining_steps_use_the_final_rate_and_the_adversarial_phase_its_own(tmp_path: Path, host: PluginHost) -> None:
    pretrain = {"generator_steps": 5, "generator_lr": 0.01, "generator_lr_final": 0.001, "generator_lr_final_steps": 2}
    data = toy(tmp_path, "final-rate", pretrain=pretrain, adversarial={"steps": 2, "discriminator_steps": 1})
    data["train"]["optimizer"]["generator"] = {"lr": 0.0005}
    recipe = load_recipe(data, host=host)
    (tmp_path / "final-rate").mkdir()
    trainer = LearningRateTrainer(recipe, host.registry, tmp_path / "final-rate", callbacks=host.callbacks(recipe), progress=False)
    trainer.fit()
    assert trainer.rates == [0.01, 0.01, 0.01, 0.001, 0.001, 0.0005, 0.0005]


@pytest.mark.parametrize(
    ("pretrain", "message"),
    [
        ({"generator_steps": 5, "generator_lr_final": 0.001}, "go together"),
        ({"generator_steps": 5, "generator_lr_final_steps": 2}, "go together"),
        ({"generator_steps": 5, "generator_lr_final": 0.001, "generator_lr_final_steps": 6}, "more than the 5 pretraining steps"),
    ],
)
def test_the_final_rate_keys_are_checked_together(tmp_path: Path, host: PluginHost, pretrain: dict[str, Any], message: str) -> None:
    with pytest.raises(RecipeError, match=message) as error:
        load_recipe(toy(tmp_path, "bad-rate", pretrain=pretrain), host=host)
    assert "train.pretrain.generator_lr_final_steps" in str(error.value)


def test_a_run_that_never_trains_its_discriminator_logs_no_discriminator_view(tmp_path: Path) -> None:
    data = toy(tmp_path, "mle-only", pretrain={"generator_steps": 4}, adversarial={"steps": 0})
    run(data, overwrite=True)
    evals = [r for r in read_metrics(tmp_path / "mle-only" / "metrics.jsonl") if r.get("phase") == "eval"]
    assert len(evals) >= 2 and all("nll-oracle" in r and "d_auc" not in r for r in evals)
