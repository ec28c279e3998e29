"""The trainer built from callbacks (issue 15, item 6), and its schedule of phase objects.

The progress bar, metrics.jsonl, the samples and checkpoints are seqtk's own callbacks,
offered by the built-in plugin through ``seqtk_callbacks`` like any plugin's: a plugin's
callback of the same name replaces one, ``callbacks.disable`` leaves one out, a tracker is
simply added, and ``early-stopping`` ends a run whose metric stopped improving (and resumes
to the same end after a crash).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from seqtk.core import checkpoint as ckpt
from seqtk.core.api import run
from seqtk.core.callbacks import EarlyStopping
from seqtk.core.errors import RecipeError
from seqtk.core.hookspecs import hookimpl
from seqtk.core.metrics_log import read_metrics
from seqtk.core.phases import discriminator_steps
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import load_recipe
from seqtk.core.trainer import Trainer, recipe_fingerprint

from test_trainer import CrashAt, assert_same_run, tiny

BUILTINS = ["progress", "metrics-log", "samples", "checkpoint"]
#: Evaluations of the tiny recipe fall at steps 0, 10, 15 and 20 (none during discriminator pretraining, steps 4-6).
NEVER_IMPROVES = {"metric": "mmd", "patience": 2, "min_delta": 1e9}


class Offers:
    """A plugin whose ``seqtk_callbacks`` returns the given callbacks."""

    def __init__(self, *callbacks: Any) -> None:
        self.callbacks = list(callbacks)

    @hookimpl
    def seqtk_callbacks(self, recipe: Any) -> list[Any]:
        return self.callbacks


class ListLog:
    """A replacement for ``metrics-log``: keeps the evaluations in memory instead of metrics.jsonl."""

    name = "metrics-log"

    def __init__(self) -> None:
        self.evaluations: list[tuple[int, dict[str, float]]] = []

    def on_eval(self, step: int, metrics: dict[str, float]) -> None:
        self.evaluations.append((step, dict(metrics)))


class Tracker:
    """A third party's experiment tracker: no name, so it is added beside the built-ins."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.metrics: dict[int, dict[str, float]] = {}

    def setup(self, run: Any) -> None:
        self.events.append(("setup", run.step))

    def on_eval(self, step: int, metrics: dict[str, float]) -> None:
        self.events.append(("eval", step))
        self.metrics[step] = dict(metrics)

    def on_checkpoint(self, step: int, path: Path) -> None:
        assert path.is_file()
        self.events.append(("checkpoint", step))

    def teardown(self) -> None:
        self.events.append(("teardown", -1))


def names(callbacks: list[Any]) -> list[str | None]:
    return [getattr(c, "name", None) for c in callbacks]


# ------------------------------------------------------------------ where callbacks come from


def test_the_builtin_callbacks_come_from_the_builtin_plugins_hook(tmp_path: Path) -> None:
    host = PluginHost()
    recipe = load_recipe(tiny(tmp_path, "x"), host=host)
    assert names(host.callbacks(recipe)) == BUILTINS
    offering = [impl.plugin_name for impl in host.pm.hook.seqtk_callbacks.get_hookimpls()]
    assert offering == ["builtin"]  # the core adds none of its own
    stopping = load_recipe(tiny(tmp_path, "x", callbacks={"early_stopping": {"metric": "mmd"}}), host=host)
    assert names(host.callbacks(stopping)) == ["progress", "metrics-log", "samples", "early-stopping", "checkpoint"]


def test_a_plugins_callback_replaces_the_builtin_of_the_same_name(tmp_path: Path) -> None:
    replacement, tracker = ListLog(), Tracker()
    result = run(tiny(tmp_path, "replaced"), host=PluginHost(plugins=[Offers(replacement, tracker)]))
    assert not (result.run_dir / "metrics.jsonl").exists()  # the built-in log is gone
    assert [step for step, _ in replacement.evaluations] == [0, 10, 15, 20]
    assert replacement.evaluations[-1][1] == result.metrics
    assert ckpt.list_checkpoints(result.run_dir / "checkpoints")[-1][0] == 20  # the other built-ins still run


def test_disable_leaves_a_callback_out_and_changes_nothing_else(tmp_path: Path) -> None:
    plain = run(tiny(tmp_path, "plain"))
    quiet = run(tiny(tmp_path, "quiet", callbacks={"disable": ["samples", "progress"]}))
    assert (plain.run_dir / "samples").is_dir() and not (quiet.run_dir / "samples").exists()
    assert (plain.run_dir / "metrics.jsonl").read_bytes() == (quiet.run_dir / "metrics.jsonl").read_bytes()
    # Which callbacks run may change on --resume: the fingerprint ignores it.
    host = PluginHost()
    fingerprints = {recipe_fingerprint(load_recipe(r, host=host)) for r in (tiny(tmp_path, "a"), tiny(tmp_path, "a", callbacks={"disable": ["progress"]}))}
    assert len(fingerprints) == 1


def test_an_unknown_name_to_disable_is_a_recipe_error_at_its_line(tmp_path: Path) -> None:
    recipe = tiny(tmp_path, "typo", callbacks={"disable": ["progres"]})
    path = tmp_path / "typo.yaml"
    path.write_text(json.dumps(recipe, indent=1))  # JSON is YAML: one key per line, so the line is known
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if '"disable"' in text)
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, host=PluginHost())
    assert str(caught.value) == (
        f"{path}: callbacks.disable.0: no callback is named 'progres'; valid: progress, metrics-log, samples, checkpoint (line {line})"
    )


def test_an_early_stopping_metric_the_recipe_does_not_evaluate_is_a_recipe_error(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"callbacks\.early_stopping\.metric: 'mdd' is not one of this recipe's evaluation metrics \(did you mean 'mmd'\?\)"):
        load_recipe(tiny(tmp_path, "x", callbacks={"early_stopping": {"metric": "mdd"}}), host=PluginHost())
    with pytest.raises(RecipeError, match=r"callbacks\.early_stopping\.patience: must be at least 1, got 0"):
        load_recipe(tiny(tmp_path, "x", callbacks={"early_stopping": {"metric": "mmd", "patience": 0}}), host=PluginHost())


def test_two_plugins_offering_one_name_are_refused_naming_both(tmp_path: Path) -> None:
    host = PluginHost(plugins=[Offers(ListLog())])
    host.register(Offers(ListLog()), name="second")
    with pytest.raises(RecipeError, match=r"plugins 'Offers' and 'second' both offer a callback named 'metrics-log'"):
        run(tiny(tmp_path, "clash"), host=host)


def test_a_tracker_is_added_and_sees_what_the_log_records(tmp_path: Path) -> None:
    tracker = Tracker()
    result = run(tiny(tmp_path, "tracked"), host=PluginHost(plugins=[Offers(tracker)]))
    assert tracker.events == [
        ("setup", 0), ("eval", 0), ("checkpoint", 4), ("checkpoint", 8), ("eval", 10), ("checkpoint", 12),
        ("eval", 15), ("checkpoint", 16), ("eval", 20), ("checkpoint", 20), ("teardown", -1),
    ]  # fmt: skip
    logged = {row["step"]: row for row in read_metrics(result.run_dir / "metrics.jsonl") if row["phase"] == "eval"}
    for step, metrics in tracker.metrics.items():
        assert all(logged[step][name] == value for name, value in metrics.items())


# ------------------------------------------------------------------ early stopping


class FakeRun:
    def __init__(self, higher_is_better: bool) -> None:
        self._higher = higher_is_better
        self.stops: list[tuple[str, str]] = []

    def higher_is_better(self, metric: str) -> bool:
        return self._higher

    def request_stop(self, by: str, reason: str) -> None:
        self.stops.append((by, reason))


@pytest.mark.parametrize(("higher_is_better", "values", "stops_at"), [
    (False, [5.0, 4.0, 4.5, 3.0, 3.5, 3.2], 5),  # lower is better: 3.0 at the 4th, then two without improving
    (True, [5.0, 4.0, 4.5, 3.0, 3.5, 3.2], 2),  # the same numbers, higher is better: 5.0 is never beaten
    (True, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], None),  # always improving
])  # fmt: skip
def test_early_stopping_counts_evaluations_without_improvement_in_the_metrics_direction(higher_is_better: bool, values: list[float], stops_at: int | None) -> None:
    callback, fake = EarlyStopping("m", patience=2), FakeRun(higher_is_better)
    callback.setup(fake)  # type: ignore[arg-type]
    for index, value in enumerate(values):
        callback.on_eval(index * 10, {"m": value})
        if fake.stops:
            break
    assert (index if fake.stops else None) == stops_at
    if stops_at is not None:
        by, reason = fake.stops[0]
        assert by == "early-stopping" and "m did not improve" in reason and "patience 2" in reason


def test_min_delta_and_an_explicit_mode(tmp_path: Path) -> None:
    callback, fake = EarlyStopping("m", patience=1, min_delta=0.5, mode="max"), FakeRun(False)
    callback.setup(fake)  # type: ignore[arg-type]
    callback.on_eval(0, {"m": 1.0})
    callback.on_eval(10, {"m": 1.4})  # better, but by less than min_delta
    assert fake.stops and "1 at step 0, max" in fake.stops[0][1]


def test_early_stopping_ends_the_run_checkpointed_and_summary_says_why(tmp_path: Path) -> None:
    result = run(tiny(tmp_path, "stopped", callbacks={"early_stopping": NEVER_IMPROVES}))
    assert result.steps == 15  # evaluations at 0 (the best), 10 and 15 (two without improvement)
    assert ckpt.list_checkpoints(result.run_dir / "checkpoints")[-1][0] == 15
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["steps"] == 15 and summary["stopped_early"]["by"] == "early-stopping" and summary["stopped_early"]["step"] == 15
    assert "mmd did not improve" in summary["stopped_early"]["reason"]
    rows = read_metrics(result.run_dir / "metrics.jsonl")
    assert rows[-1]["step"] == 15 and summary["final_metrics"] == {k: rows[-1][k] for k in summary["final_metrics"]}


def test_an_early_stopped_run_crashed_and_resumed_stops_where_the_uninterrupted_one_did(tmp_path: Path) -> None:
    straight = run(tiny(tmp_path, "straight", callbacks={"early_stopping": NEVER_IMPROVES}))
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tiny(tmp_path, "crashed", callbacks={"early_stopping": NEVER_IMPROVES}), callbacks=[CrashAt(14)])  # after the evaluation at 10
    resumed = run(tiny(tmp_path, "crashed", callbacks={"early_stopping": NEVER_IMPROVES}), resume=True)
    assert resumed.steps == straight.steps == 15 and resumed.stopped_early == straight.stopped_early
    assert_same_run(tmp_path / "straight", tmp_path / "crashed")
    # Resuming the stopped run again trains nothing more: the stop is part of its checkpoint.
    again = run(tiny(tmp_path, "crashed", callbacks={"early_stopping": NEVER_IMPROVES}), resume=True)
    assert again.steps == 15 and again.stopped_early == straight.stopped_early
    assert ckpt.list_checkpoints(tmp_path / "crashed" / "checkpoints")[-1][0] == 15


def test_early_stopping_settings_are_part_of_the_fingerprint_only_when_set(tmp_path: Path) -> None:
    host = PluginHost()
    minimax = Path(__file__).parent.parent / "recipes" / "sines-minimax.yaml"
    assert recipe_fingerprint(load_recipe(minimax, ["callbacks.disable=[progress]"], host=host)) == "6363735421547ccb"
    assert recipe_fingerprint(load_recipe(minimax, ["callbacks.early_stopping.patience=5"], host=host)) == "6363735421547ccb"
    assert recipe_fingerprint(load_recipe(minimax, ["callbacks.early_stopping.metric=mmd"], host=host)) != "6363735421547ccb"


# ------------------------------------------------------------------ phases


def trainer_for(tmp_path: Path, **changes: Any) -> Trainer:
    host = PluginHost()
    recipe = load_recipe(tiny(tmp_path, "phases", **changes), host=host)
    return Trainer(recipe, host.registry, tmp_path / "phases", callbacks=host.callbacks(recipe), progress=False)


def test_phases_are_objects_and_one_place_counts_adversarial_steps(tmp_path: Path) -> None:
    trainer = trainer_for(tmp_path)
    schedule = trainer.schedule
    assert [(p.name, p.start, p.end, p.changes_generator) for p in schedule.phases] == [
        ("pretrain_generator", 0, 4, True), ("pretrain_discriminator", 4, 7, False), ("adversarial", 7, 20, True)
    ]  # fmt: skip
    assert schedule.phase_at(6).name == "pretrain_discriminator" and schedule.phase_at(7) is schedule.adversarial
    assert [schedule.adversarial_step(s) for s in (0, 6, 7, 8, 19)] == [0, 0, 0, 1, 12]
    assert schedule.adversarial_steps == 13 and schedule.total_steps == trainer.total_steps == 20


def test_every_step_trains_its_phase_with_the_index_within_it(tmp_path: Path) -> None:
    """The estimator is told the adversarial step and the adversarial phase's length, nothing else."""
    trainer = trainer_for(tmp_path)
    seen: list[tuple[int, int]] = []
    original = trainer.parts.estimator.generator_step

    def recording(*args: Any, step: int, total_steps: int, **kwargs: Any) -> Any:
        seen.append((step, total_steps))
        return original(*args, step=step, total_steps=total_steps, **kwargs)

    trainer.parts.estimator.generator_step = recording  # type: ignore[method-assign]
    trainer.fit()
    assert seen == [(i, 13) for i in range(13)]


def test_discriminator_steps_are_decided_once_recipe_first_then_the_objective() -> None:
    class Critic:
        critic_steps = 5

    assert discriminator_steps(None, Critic(), "wgan-gp").count == 5
    assert discriminator_steps(None, Critic(), "wgan-gp").source == "objective 'wgan-gp''s critic_steps"
    assert discriminator_steps(2, Critic(), "wgan-gp") == discriminator_steps(2, object(), "minimax")
    assert discriminator_steps(2, Critic(), "wgan-gp").source == "train.adversarial.discriminator_steps"
    assert discriminator_steps(None, object(), "minimax").count == 1


def test_the_trainer_uses_the_resolved_discriminator_steps(tmp_path: Path) -> None:
    wgan = trainer_for(tmp_path, objective={"name": "wgan-gp", "params": {"critic_steps": 3}})
    assert (wgan.discriminator_steps.count, wgan.discriminator_steps.source) == (3, "objective 'wgan-gp''s critic_steps")
    chosen = trainer_for(tmp_path, objective={"name": "wgan-gp"}, train__adversarial__discriminator_steps=2)
    assert chosen.discriminator_steps.count == 2


def test_validate_prints_the_resolved_discriminator_steps_and_their_source(capsys: pytest.CaptureFixture[str]) -> None:
    from seqtk.core.cli import main

    wgan = str(Path(__file__).parent.parent / "recipes" / "sines-wgan-gp.yaml")
    assert main(["validate", wgan]) == 0
    assert "discriminator updates per adversarial step: 3 (train.adversarial.discriminator_steps)" in capsys.readouterr().out
    assert main(["validate", wgan, "--set", "train.adversarial.discriminator_steps=null"]) == 0
    assert "discriminator updates per adversarial step: 5 (objective 'wgan-gp''s critic_steps)" in capsys.readouterr().out
