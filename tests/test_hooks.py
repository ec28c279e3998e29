"""Every hook in core/hookspecs.py is exercised by a plugin here (and documented in docs/plugins.md)."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any

import pytest

from seqtk.core import hookspecs
from seqtk.core.api import run
from seqtk.core.cli import build_parser
from seqtk.core.errors import RecipeError
from seqtk.core.hookspecs import hookimpl
from seqtk.core.plugins import PluginHost

REPO = Path(__file__).resolve().parents[1]
HOOKS = sorted(name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("seqtk_"))


class Recorder:
    """A callback that records what the trainer told it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_run_start(self, run_dir: Path, recipe: Any) -> None:
        self.events.append(("start", recipe.name))

    def on_eval(self, step: int, metrics: dict[str, float]) -> None:
        self.events.append(("eval", step))

    def on_checkpoint(self, step: int, path: Path) -> None:
        self.events.append(("checkpoint", step))

    def on_run_end(self, run_dir: Path, metrics: dict[str, float]) -> None:
        self.events.append(("end", sorted(metrics)))


class EveryHook:
    """A plugin implementing all four hooks."""

    def __init__(self) -> None:
        self.recorder = Recorder()

    @hookimpl
    def seqtk_register(self, registry: Any) -> None:
        registry.add("metrics", "always-zero", f"{__name__}:AlwaysZero", plugin="every-hook", requires=["continuous"])

    @hookimpl
    def seqtk_validate_recipe(self, recipe: Any, registry: Any) -> list[str]:
        return ["train.batch_size: this lab's policy wants at least 8"] if recipe.data.train.batch_size < 8 else []

    @hookimpl
    def seqtk_callbacks(self, recipe: Any) -> list[Any]:
        return [self.recorder]

    @hookimpl
    def seqtk_commands(self, subparsers: Any) -> None:
        parser = subparsers.add_parser("hello", help="say hello")
        parser.set_defaults(handler=lambda args: 0)


def _always_zero_class() -> type:
    from seqtk.core.interfaces import Metric

    class AlwaysZero(Metric):
        def __call__(self, real: Any, fake: Any) -> float:
            return 0.0

    return AlwaysZero


AlwaysZero = _always_zero_class()


def recipe(tmp_path: Path, batch_size: int = 8) -> dict[str, Any]:
    return {
        "seqtk": 1,
        "name": "hooks",
        "domain": {"name": "sines", "params": {"samples": 64, "length": 6, "features": 1}},
        "preset": "rgan",
        "generator": {"params": {"hidden_dim": 4}},
        "discriminator": {"params": {"hidden_dim": 4}},
        "train": {"batch_size": batch_size, "adversarial": {"steps": 4}},
        "eval": {"every": 2, "samples": 16, "metrics": ["always-zero", "mmd"]},
        "output": {"dir": str(tmp_path / "run"), "checkpoint_every": 4},
    }


def test_every_hook_is_exercised_and_documented() -> None:
    assert HOOKS == ["seqtk_callbacks", "seqtk_commands", "seqtk_register", "seqtk_validate_recipe"]
    implemented = {name for name in dir(EveryHook) if name.startswith("seqtk_")}
    assert implemented == set(HOOKS)
    guide = (REPO / "docs" / "plugins.md").read_text()
    for name in HOOKS:
        assert f"`{name}" in guide, f"{name} is not documented in docs/plugins.md"


def test_register_validate_and_callbacks_take_part_in_a_run(tmp_path: Path) -> None:
    plugin = EveryHook()
    host = PluginHost(plugins=[plugin])
    with pytest.raises(RecipeError, match=r"train\.batch_size: this lab's policy wants at least 8"):
        run(recipe(tmp_path, batch_size=4), host=host)
    result = run(recipe(tmp_path), host=host)
    assert result.metrics["always-zero"] == 0.0 and result.metrics["mmd"] > 0
    assert plugin.recorder.events == [
        ("start", "hooks"), ("eval", 0), ("eval", 2), ("eval", 4), ("checkpoint", 4), ("end", ["always-zero", "mmd"])
    ]


def test_commands_hook_adds_a_verb() -> None:
    host = PluginHost(plugins=[EveryHook()])
    parser = build_parser(host)
    args = parser.parse_args(["hello"])
    assert isinstance(args, argparse.Namespace) and args.handler(args) == 0
