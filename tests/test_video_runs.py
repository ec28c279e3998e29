"""The video domain end to end: a tiny run improves its metrics, writes GIFs and a strip, samples, and scores from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from seqtk.core.api import run, sample
from seqtk.core.cli import main
from seqtk.core.errors import RecipeError


def tiny_recipe(out: Path) -> dict:
    return {
        "seqtk": 1,
        "name": "video-tiny",
        "seed": 0,
        "domain": {"name": "video", "params": {"size": 8, "frames": 4, "clips": 160, "objects": 1, "radius": [0.2, 0.25], "speed": [0.1, 0.15]}},
        "generator": {"name": "video-lstm", "params": {"noise_dim": 4, "latent_dim": 4, "hidden_dim": 16, "width": 8, "levels": 1}},
        "discriminator": {"name": "video-gru", "params": {"embed_dim": 8, "width": 4, "levels": 1, "hidden_dim": 8, "spectral_norm": True}},
        "objective": {"name": "minimax", "params": {"non_saturating": True}},
        "estimator": "reparam",
        "train": {"batch_size": 16, "cpu_threads": 1, "adversarial": {"steps": 60},
                  "optimizer": {"generator": {"lr": 0.003, "betas": [0.5, 0.999]}, "discriminator": {"lr": 0.001, "betas": [0.5, 0.999]}}},
        "eval": {"every": 60, "samples": 32},
        "output": {"dir": str(out), "checkpoint_every": 60, "samples": 4},
    }


def test_a_tiny_run_improves_writes_gifs_and_a_strip_samples_and_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(tiny_recipe(tmp_path / "run"))
    # untrained frames are a uniform grey; a few steps make them dark with bright blobs, as the data
    assert result.metrics["video-pixels"] < result.initial_metrics["video-pixels"] - 0.3, (result.initial_metrics, result.metrics)
    samples = tmp_path / "run" / "samples"
    gifs = sorted((samples / "step-00000060").glob("clip-*.gif"))
    assert len(gifs) == 4
    with Image.open(gifs[0]) as gif:
        assert gif.n_frames == 4 and gif.size == (8, 8)
    with Image.open(samples / "step-00000060-strip.png") as strip:
        assert strip.format == "PNG" and strip.size[0] > 2 * 4 * 8  # real and generated blocks, four frames each, scaled up
    written = sample(tmp_path / "run", count=3, out_dir=tmp_path / "out")
    assert sum(p.suffix == ".gif" for p in written) == 3

    real = tmp_path / "real"
    real.mkdir()
    for i, gif in enumerate(gifs):  # the run's own GIFs, scored against themselves: distances of 0
        (real / f"r{i}.gif").write_bytes(gif.read_bytes())
    assert main(["score", "video", "--real", str(real), "--samples", str(samples / "step-00000060"), "--metric", "video-pixels", "--metric", "video-objects"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["metrics"] == {"video-pixels": 0.0, "video-objects": 0.0}
    assert scored["protocol"]["real_sequences"] == 4 and scored["protocol"]["sample_sequences"] == 4


def test_score_refuses_an_unknown_param_and_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "gifs"
    folder.mkdir()
    assert main(["score", "video", "--real", str(folder), "--samples", str(folder), "--param", "colour=1"]) == 2
    assert "--param colour: not an option of video scoring; valid: size, channels, frames, stride" in capsys.readouterr().err
    assert main(["score", "video", "--real", str(tmp_path / "nowhere"), "--samples", str(folder)]) == 2


def test_the_quickstarts_networks_learn_in_a_tiny_wgan_gp_run_and_a_misspelt_option_names_the_choices(tmp_path: Path) -> None:
    recipe = tiny_recipe(tmp_path / "run")
    recipe["generator"]["params"].update(decoder_start="broadcast", motion_noise="clip", initial_state="codes")
    recipe["discriminator"] = {"name": "video-cnn", "params": {"scores": "both", "embed_dim": 8, "width": 4, "levels": 1, "num_filters": [4, 4, 4], "differences": True}}
    recipe["objective"] = {"name": "wgan-gp", "params": {"critic_steps": 2}}
    recipe["train"]["optimizer"] = {"generator": {"lr": 0.002, "betas": [0.5, 0.9]}, "discriminator": {"lr": 0.002, "betas": [0.5, 0.9]}}
    result = run(recipe)
    assert result.metrics["video-pixels"] < result.initial_metrics["video-pixels"] - 0.3, (result.initial_metrics, result.metrics)
    assert sum(p.suffix == ".gif" for p in sample(tmp_path / "run", count=2, out_dir=tmp_path / "out")) == 2  # restores the broadcast grid
    recipe["generator"]["params"]["decoder_start"] = "tile"
    recipe["output"]["dir"] = str(tmp_path / "bad")
    with pytest.raises(RecipeError, match=r"generator\.params\.decoder_start: expected one of 'project', 'broadcast', got a string 'tile'"):
        run(recipe)
