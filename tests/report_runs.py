"""Tiny finished runs of each domain, for the report tests (a second or two each on one core)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqtk.core.api import run

SENTENCES = [f"the {c} {t} is {a} ." for c in ("red", "green", "blue") for t in ("car", "kite", "boat") for a in ("big", "small")]


def sines_recipe(out: Path, name: str = "sines-tiny", seed: int = 3) -> dict[str, Any]:
    return {
        "seqtk": 1,
        "name": name,
        "seed": seed,
        "domain": {"name": "sines", "params": {"samples": 200, "length": 8, "features": 2}},
        "preset": "rgan",
        "generator": {"params": {"hidden_dim": 8, "noise_dim": 4}},
        "discriminator": {"params": {"hidden_dim": 8}},
        "train": {"batch_size": 16, "adversarial": {"steps": 12}, "log_every": 2},
        "eval": {"every": 12, "samples": 40},
        "output": {"dir": str(out), "checkpoint_every": 12, "samples": 4},
    }


def music_recipe(out: Path) -> dict[str, Any]:
    return {
        "seqtk": 1,
        "name": "music-tiny",
        "seed": 0,
        "domain": {"name": "music", "params": {"source": "builtin", "builtin_count": 24, "representation": "tokens", "notes": 12, "stride": 12}},
        "preset": "relgan-lstm",
        "generator": {"params": {"embed_dim": 8, "hidden_dim": 16}},
        "discriminator": {"params": {"embed_dim": 8, "filter_sizes": [2, 3], "num_filters": [4, 4]}},
        "train": {"batch_size": 16, "pretrain": {"generator_steps": 10}, "adversarial": {"steps": 4}, "log_every": 2},
        "eval": {"every": 14, "metrics": ["music-distance", "pitch-range-distance"], "samples": 32},
        "output": {"dir": str(out), "checkpoint_every": 14, "samples": 3},
    }


def text_recipe(out: Path, data: Path) -> dict[str, Any]:
    data.mkdir(parents=True, exist_ok=True)
    (data / "train.txt").write_text("\n".join(SENTENCES[:14]) + "\n")
    (data / "test.txt").write_text("\n".join(SENTENCES[12:]) + "\n")
    return {
        "seqtk": 1,
        "name": "text-tiny",
        "seed": 1,
        "domain": {"name": "text", "params": {"train": str(data / "train.txt"), "test": str(data / "test.txt")}},
        "generator": {"name": "token-lstm", "params": {"embed_dim": 8, "hidden_dim": 16}},
        "discriminator": {"name": "cnn", "params": {"embed_dim": 8, "filter_sizes": [2], "num_filters": [4]}},
        "objective": "minimax",
        "estimator": {"name": "reinforce", "params": {"rollouts": 2}},
        "train": {"batch_size": 8, "pretrain": {"generator_steps": 40}, "adversarial": {"steps": 0},
                  "optimizer": {"generator": {"lr": 0.02, "betas": [0.9, 0.999]}}},
        "eval": {"every": 40, "metrics": ["nll-test"], "samples": 16},
        "output": {"dir": str(out), "checkpoint_every": 40, "samples": 5},
    }


def make_runs(root: Path) -> dict[str, Path]:
    """One finished run per domain under ``root``: ``sines``, ``music``, ``text``."""
    return {
        "sines": run(sines_recipe(root / "sines")).run_dir,
        "music": run(music_recipe(root / "music")).run_dir,
        "text": run(text_recipe(root / "text", root / "text-data")).run_dir,
    }


_SHARED: dict[str, Path] = {}


def shared_runs() -> dict[str, Path]:
    """``make_runs`` once per test process (both report test files read them; neither changes them)."""
    if not _SHARED:
        import atexit
        import shutil
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="seqtk-report-runs-"))
        atexit.register(shutil.rmtree, root, True)
        _SHARED.update(make_runs(root))
    return dict(_SHARED)
