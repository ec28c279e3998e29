"""TimeGAN as a model plugin: its phases learn, and its runs checkpoint, resume, sample and refuse bad recipes like any other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from seqtk.core import checkpoint as ckpt
from seqtk.core.api import run, sample
from seqtk.core.errors import RecipeError
from seqtk.core.interfaces import Batch, DomainSpec
from seqtk.core.metrics_log import read_metrics
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import load_recipe
from seqtk.core.trainer import recipe_fingerprint
from seqtk.plugins.timeseries.timegan import TimeGAN

from test_trainer import CrashAt

#: Small enough for a few seconds, long enough for each phase to show it learns.
TINY: dict[str, Any] = {
    "seqtk": 1,
    "name": "tiny-timegan",
    "seed": 5,
    "domain": {"name": "sines", "params": {"samples": 256, "length": 8, "features": 2, "plots": False}},
    "model": {
        "name": "timegan",
        "params": {"hidden_dim": 8, "num_layers": 2, "autoencoder_steps": 60, "supervisor_steps": 30, "joint_steps": 20},
    },
    "train": {"batch_size": 32, "log_every": 5, "optimizer": {"generator": {"lr": 0.01, "betas": [0.9, 0.999]}}},
    "eval": {"every": 55, "samples": 128},
    "output": {"checkpoint_every": 10, "samples": 4},
}


def tiny(tmp_path: Path, name: str, **params: Any) -> dict[str, Any]:
    recipe = json.loads(json.dumps(TINY))
    recipe["output"]["dir"] = str(tmp_path / name)
    recipe["model"]["params"].update(params)
    return recipe


def final_state(run_dir: Path) -> dict[str, Any]:
    return ckpt.load_checkpoint(ckpt.list_checkpoints(run_dir / "checkpoints")[-1][1])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted tiny run, shared by the tests that only read it."""
    tmp_path = tmp_path_factory.mktemp("timegan")
    run(tiny(tmp_path, "straight"), progress=False)
    return tmp_path / "straight"


def test_each_phase_learns_and_the_joint_phase_trains_every_network(trained: Path) -> None:
    result_dir = trained
    records = [r for r in read_metrics(result_dir / "metrics.jsonl") if r["phase"] != "eval"]
    assert [r["phase"] for r in records][:1] == ["autoencoder"] and records[-1]["phase"] == "joint"
    autoencoder = [r["ae_reconstruction"] for r in records if r["phase"] == "autoencoder"]
    supervisor = [r["s_supervised"] for r in records if r["phase"] == "supervisor"]
    assert autoencoder[-1] < 0.5 * autoencoder[0]
    assert supervisor[-1] < 0.5 * supervisor[0]
    joint = [r for r in records if r["phase"] == "joint"]
    assert all({"g_adversarial", "g_supervised", "g_moments", "e_reconstruction", "d_loss", "d_updated"} <= set(r) for r in joint)
    state = final_state(result_dir)
    assert set(state["optimizers"]) == {"autoencoder", "supervisor", "generator", "embedder", "discriminator"}
    # Each network once in the model's state; the sampling view's state is G, S and R.
    prefixes = {key.split(".")[0] for key in state["model"]}
    assert prefixes == {"embedder", "recovery", "generator_net", "supervisor", "discriminator_net"}
    assert {key.split(".")[0] for key in state["generator"]} == {"generator", "supervisor", "recovery"}
    assert 0 < state["model_state"]["discriminator_updates"] <= len(joint) * TINY["train"]["log_every"]
    # Evaluations log the discriminator's view, as for any GAN.
    evals = [r for r in read_metrics(result_dir / "metrics.jsonl") if r["phase"] == "eval"]
    assert "d_auc" in evals[-1] and "mmd" in evals[-1]


def test_training_improves_the_samples_over_the_untrained_model(trained: Path) -> None:
    summary = json.loads((trained / "summary.json").read_text())
    # Twenty joint steps of a tiny model: the values' distribution moves onto the data's
    # and the samples start to cover it (the benchmark measures how far it gets).
    assert summary["final_metrics"]["marginal"] < 0.5 * summary["initial_metrics"]["marginal"]
    assert summary["final_metrics"]["coverage"] > summary["initial_metrics"]["coverage"]


def test_a_crashed_run_resumes_bit_identically(tmp_path: Path, trained: Path) -> None:
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tiny(tmp_path, "crashed"), callbacks=[CrashAt(105)], progress=False)  # inside the joint phase
    assert ckpt.list_checkpoints(tmp_path / "crashed" / "checkpoints")[-1][0] == 100
    run(tiny(tmp_path, "crashed"), resume=True, progress=False)
    a, b = final_state(trained), final_state(tmp_path / "crashed")
    for key, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][key]), key
    for name, optimizer in a["optimizers"].items():
        for index, moments in optimizer["state"].items():
            for key, value in moments.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["optimizers"][name]["state"][index][key])), (name, key)
    assert (trained / "metrics.jsonl").read_bytes() == (tmp_path / "crashed" / "metrics.jsonl").read_bytes()


def test_seqtk_sample_restores_the_sampling_path(tmp_path: Path, trained: Path) -> None:
    files = sample(trained, 10, out_dir=tmp_path / "drawn", seed=1)
    assert files and all(f.exists() for f in files)
    again = sample(trained, 10, out_dir=tmp_path / "again", seed=1)
    assert [f.read_bytes() for f in files] == [f.read_bytes() for f in again]


def test_variable_lengths_are_masked_and_drawn_from_the_data() -> None:
    torch.manual_seed(0)
    spec = DomainSpec(kind="continuous", max_len=6, features=2, value_range=(-1.0, 1.0), length_weights=(0, 0, 1, 0, 0, 1))
    model = TimeGAN(spec=spec, hidden_dim=4, num_layers=2)
    drawn = model.generator.sample(200)
    assert set(drawn.lengths.tolist()) == {3, 6}
    assert torch.all(drawn.values[~drawn.mask] == 0) and drawn.values.min() >= -1 and drawn.values.max() <= 1
    # Padding never changes a loss: the same rows padded with garbage give the same reconstruction.
    values = torch.rand(4, 6, 2) * 2 - 1
    lengths = torch.tensor([3, 3, 6, 6])
    noisy = values.clone()
    noisy[:2, 3:] = 5.0
    clean = model._autoencoder_loss(Batch(values=values, lengths=lengths))[0]
    padded = model._autoencoder_loss(Batch(values=noisy, lengths=lengths))[0]
    assert torch.allclose(clean, padded)


def test_moment_loss_matches_a_hand_computation() -> None:
    x = torch.tensor([[[0.0], [1.0]], [[2.0], [3.0]]])  # two series, two steps, one feature
    x_hat = torch.tensor([[[1.0], [1.0]], [[1.0], [1.0]]])
    mask = torch.ones(2, 2, dtype=torch.bool)
    # Per step: real mean 1 and 2, std 1 and 1; fake mean 1, std 0.
    expected = ((1 - 1e-3) + (1 - 1e-3)) / 2 + (0 + 1) / 2
    assert TimeGAN._moment_loss(x_hat, x, mask).item() == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ({"generator": "lstm"}, "generator", "has no 'generator'"),
        ({"preset": "rgan"}, "preset", "has no 'preset'"),
        ({"train": {"adversarial": {"steps": 5}}}, "train.adversarial", "phases' lengths"),
        ({"model": {"name": "timegam"}}, "model.name", "timegan"),
        ({"model": {"name": "timegan", "params": {"hidden": 3}}}, "model.params", "hidden_dim"),
    ],
)
def test_model_recipes_refuse_what_the_model_replaces(tmp_path: Path, change: dict[str, Any], key: str, message: str) -> None:
    recipe = {**tiny(tmp_path, "refused"), **change}
    with pytest.raises(RecipeError) as caught:
        load_recipe(recipe, host=PluginHost())
    text = str(caught.value)
    assert key in text and message in text, text


def test_bad_model_params_are_recipe_errors(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"model\.params\.num_layers: must be an integer >= 2"):
        run(tiny(tmp_path, "bad", num_layers=1), progress=False)


def test_gan_recipes_read_as_before(tmp_path: Path) -> None:
    """A recipe without a model writes no model section, so its resolved recipe and fingerprint are unchanged."""
    recipe = load_recipe(Path(__file__).parent.parent / "recipes" / "quickstart.yaml", host=PluginHost())
    assert "model" not in recipe.to_dict()
    model_recipe = load_recipe(tiny(tmp_path, "x"), host=PluginHost())
    assert "generator" not in model_recipe.to_dict() and model_recipe.to_dict()["model"]["name"] == "timegan"


def test_checkpoints_from_before_models_and_stabilisers_still_resume() -> None:
    """The fingerprint of a GAN recipe is what the previous release computed (checked against it), unless a new key is set."""
    host = PluginHost()
    minimax = Path(__file__).parent.parent / "recipes" / "sines-minimax.yaml"
    assert recipe_fingerprint(load_recipe(minimax, host=host)) == "6363735421547ccb"
    assert recipe_fingerprint(load_recipe(minimax, ["train.ema.decay=null", "train.adversarial.r1=0"], host=host)) == "6363735421547ccb"
    assert recipe_fingerprint(load_recipe(minimax, ["train.ema.decay=0.99"], host=host)) != "6363735421547ccb"
