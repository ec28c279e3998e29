"""The music domain end to end: training improves the music metrics, MIDI out, sampling and `seqtk score music`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seqtk.core.api import run
from seqtk.core.cli import main
from seqtk.plugins.music.builtin import builtin_pieces
from seqtk.plugins.music.midi import read_midi, write_midi
from seqtk.plugins.music.notes import Note, Piece


def write_folder(folder: Path, pieces: list[Piece]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, piece in enumerate(pieces):
        write_midi(piece, folder / f"{i:03d}.mid")
    return folder


def tokens_recipe(tmp_path: Path, source: dict[str, Any], **train: Any) -> dict[str, Any]:
    return {
        "seqtk": 1,
        "name": "music-tiny",
        "seed": 0,
        "domain": {"name": "music", "params": {**source, "representation": "tokens", "notes": 12, "stride": 12}},
        "preset": "relgan-lstm",
        "generator": {"params": {"embed_dim": 16, "hidden_dim": 48}},
        "discriminator": {"params": {"embed_dim": 8, "filter_sizes": [2, 3], "num_filters": [8, 8]}},
        "train": {
            "batch_size": 32,
            "pretrain": {"generator_steps": 150},
            "adversarial": {"steps": 0},
            "optimizer": {"generator": {"lr": 0.01, "betas": [0.9, 0.999], "grad_clip": 5.0}},
            **train,
        },
        "eval": {"every": 150, "metrics": ["music-distance", "pitch-range-distance", "scale-consistency-distance"], "samples": 128},
        "output": {"dir": str(tmp_path / "run"), "checkpoint_every": 50, "samples": 6},
    }


def test_maximum_likelihood_on_the_builtin_corpus_brings_samples_closer_to_it(tmp_path: Path) -> None:
    result = run(tokens_recipe(tmp_path, {"source": "builtin", "builtin_count": 60}))
    start, end = result.initial_metrics, result.metrics
    assert end["music-distance"] < start["music-distance"] - 0.1
    assert end["pitch-range-distance"] < start["pitch-range-distance"]
    folder = result.run_dir / "samples" / "step-00000150"
    files = sorted(folder.glob("*.mid"))
    assert [p.name for p in files] == [f"{i:04d}.mid" for i in range(6)]
    assert all(read_midi(p).notes for p in files)  # every sample is a playable, non-empty piece
    pytest.importorskip("matplotlib")
    assert (result.run_dir / "samples" / "step-00000150-pianoroll.png").stat().st_size > 0


def test_the_event_representation_trains_a_continuous_gan_and_resumes(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "midi", builtin_pieces(12, seed=3))
    recipe = {
        "seqtk": 1,
        "name": "events-tiny",
        "seed": 0,
        "domain": {"name": "music", "params": {"path": str(folder), "representation": "events", "notes": 16, "stride": 8}},
        "preset": "c-rnn-gan",
        "generator": {"params": {"hidden_dim": 16, "noise_dim": 4}},
        "discriminator": {"params": {"hidden_dim": 8}},
        "train": {"batch_size": 16, "pretrain": {"generator_steps": 4}, "adversarial": {"steps": 6}},
        "eval": {"every": 5, "samples": 16},
        "output": {"dir": str(tmp_path / "run"), "checkpoint_every": 5, "samples": 4},
    }
    whole = run(recipe)
    assert set(whole.metrics) >= {"music-distance", "polyphony-distance"}
    assert all(0.0 <= v <= 1.0 for v in whole.metrics.values())
    recipe["output"]["dir"] = str(tmp_path / "halves")
    recipe["train"]["adversarial"]["steps"] = 3
    run(recipe)
    recipe["train"]["adversarial"]["steps"] = 6
    resumed = run(recipe, resume=True)
    assert resumed.metrics == whole.metrics


def test_sample_needs_no_data_and_score_compares_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = write_folder(tmp_path / "real", builtin_pieces(20, seed=5))
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text(json.dumps(tokens_recipe(tmp_path, {"path": str(real)}, pretrain={"generator_steps": 20})))
    assert main(["run", str(recipe_file), "--quiet"]) == 0
    copy = shutil.copytree(real, tmp_path / "copy")
    shutil.rmtree(real)  # sampling needs only the checkpoint
    assert main(["sample", str(tmp_path / "run"), "-n", "5"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    sampled = [Path(line) for line in printed if line.endswith(".mid")]
    assert len(sampled) == 5 and len({p.parent for p in sampled}) == 1
    assert sampled[0].parent.parent == tmp_path / "run" / "generated"

    def score(samples: Path) -> dict[str, float]:
        assert main(["score", "music", "--real", str(copy), "--samples", str(samples)]) == 0
        return json.loads(capsys.readouterr().out)["metrics"]

    identical = score(copy)
    assert set(identical) == {
        "music-distance", "pitch-range-distance", "used-pitch-classes-distance", "pitch-class-entropy-distance",
        "scale-consistency-distance", "polyphony-distance", "repetitions-distance", "note-density-distance",
        "empty-beat-rate-distance",
    }
    assert all(value == 0.0 for value in identical.values())
    rng = np.random.default_rng(0)
    noise = [Piece([Note(0.5 * k, 0.5, int(rng.integers(30, 100)), 64) for k in range(64)]) for _ in range(10)]
    assert score(write_folder(tmp_path / "noise", noise))["music-distance"] > 0.5
    assert 0.0 <= score(sampled[0].parent)["music-distance"] <= 1.0


def test_score_names_an_unknown_param(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = write_folder(tmp_path / "real", builtin_pieces(3, seed=1))
    assert main(["score", "music", "--real", str(real), "--samples", str(real), "--param", "note=8"]) == 2
    assert "unknown scoring parameter(s) note; valid: notes, tracks, drums" in capsys.readouterr().err


def test_the_music_quickstart_recipe_runs_with_no_extra(tmp_path: Path) -> None:
    """Shortened, the shipped recipe goes through both phases on the built-in corpus."""
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "music-quickstart.yaml"
    overrides = [
        "train.pretrain.generator_steps=10", "train.adversarial.steps=3", "eval.every=5", "eval.samples=16",
        "output.checkpoint_every=5", "output.samples=2", f"output.dir={tmp_path / 'q'}", "domain.params.builtin_count=30",
    ]
    result = run(str(recipe), overrides)
    assert result.steps == 13 and 0.0 <= result.metrics["music-distance"] <= 1.0
    assert len(list((tmp_path / "q" / "samples" / "step-00000013").glob("*.mid"))) == 2


def test_event_tokens_train_with_seqgans_policy_gradient_too(tmp_path: Path) -> None:
    """The reinforce estimator (rollouts from a delayed copy) runs on music tokens as on text."""
    recipe = tokens_recipe(tmp_path, {"source": "builtin", "builtin_count": 20}, pretrain={"generator_steps": 5}, adversarial={"steps": 2})
    recipe["domain"]["params"].update(notes=6, stride=6)
    recipe["preset"] = "seqgan"
    recipe["estimator"] = {"params": {"rollouts": 2}}
    recipe["eval"] = {"every": 7, "metrics": ["music-distance"], "samples": 16}
    result = run(recipe)
    assert result.steps == 7 and 0.0 <= result.metrics["music-distance"] <= 1.0
    assert len(list((result.run_dir / "samples" / "step-00000007").glob("*.mid"))) == 6
