"""The built-in ``tensorboard`` callback (issue 16, item 3), read back with TensorBoard's own reader.

Scalars equal metrics.jsonl's values at its steps, each step once, also after a crash and a
resume (the resumed session purges what the crashed one logged after its checkpoint);
pictures arrive as images, text samples as text, the recipe as hyperparameters; a recipe
that enables it without the package fails validation naming the extra.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
import pytest

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")

from tensorboard.backend.event_processing import event_file_loader
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from seqtk.core.api import run
from seqtk.core.errors import RecipeError
from seqtk.core.metrics_log import read_metrics
from seqtk.core.recipe import load_recipe
from seqtk.plugins import tensorboard as tb

from test_text_runs import oracle_recipe, write_corpus
from test_trainer import CrashAt, tiny

ENABLED = {"enabled": True}


def accumulate(log_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def expected_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """metrics.jsonl as TensorBoard tags: losses under loss/, evaluations under eval/."""
    expected: dict[str, list[tuple[int, float]]] = {}
    for row in read_metrics(run_dir / "metrics.jsonl"):
        group = "eval" if row["phase"] == "eval" else "loss"
        for key, value in row.items():
            if key not in ("step", "phase", "warnings"):
                expected.setdefault(f"{group}/{key}", []).append((row["step"], value))
    return expected


def scalar_steps(log_dir: Path, tag: str) -> list[int]:
    """Every step of ``tag`` in the raw event files, repeats included (no purging)."""
    steps = []
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in event_file_loader.LegacyEventFileLoader(str(path)).Load():
            if any(value.tag == tag for value in event.summary.value):
                steps.append(event.step)
    return steps


def test_scalars_match_the_metrics_log_once_per_step_after_a_crash_and_resume(tmp_path: Path) -> None:
    recipe = tiny(tmp_path, "crashed", callbacks={"tensorboard": ENABLED})
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(recipe, callbacks=[CrashAt(14)])  # checkpoints at 4, 8, 12; losses logged up to 14, evaluated at 10
    log_dir = tmp_path / "crashed" / "tensorboard"
    assert 14 in scalar_steps(log_dir, "loss/g_loss")
    run(recipe, resume=True)

    # The crashed session's steps 13 and 14 are in its event file and logged again by the resumed one ...
    assert scalar_steps(log_dir, "loss/g_loss").count(14) == 2
    assert len(list(log_dir.glob("events.out.tfevents.*"))) == 2
    # ... and TensorBoard's reader shows each step once, with metrics.jsonl's values.
    events = accumulate(log_dir)
    expected = expected_scalars(tmp_path / "crashed")
    assert sorted(events.Tags()["scalars"]) == sorted(expected)
    assert {"loss/g_loss", "loss/d_loss", "eval/mmd", "eval/d_auc"} <= set(expected)
    for tag, rows in expected.items():
        logged = [(e.step, e.value) for e in events.Scalars(tag)]
        assert [step for step, _ in logged] == [step for step, _ in rows], tag
        assert all(value == pytest.approx(want, rel=1e-6, abs=1e-7) for (_, value), (_, want) in zip(logged, rows)), tag
    assert [step for step, _ in expected["eval/mmd"]] == [0, 10, 15, 20]
    # The recipe as hyperparameters, with flattened key paths, linked to the evaluated scalars.
    hparams = events.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(hparams["_hparams_/session_start_info"]).session_start_info.hparams
    assert start["train.batch_size"].number_value == 16 and start["domain.name"].string_value == "sines"
    assert start["train.optimizer.generator.betas"].string_value == "[0.5, 0.999]"
    experiment = HParamsPluginData.FromString(hparams["_hparams_/experiment"]).experiment
    assert {m.name.tag for m in experiment.metric_infos} == {tag for tag in expected if tag.startswith("eval/")}
    assert "recipe/text_summary" in events.Tags()["tensors"]


def test_a_fresh_run_over_an_old_one_shows_only_itself(tmp_path: Path) -> None:
    recipe = tiny(tmp_path, "again", callbacks={"tensorboard": ENABLED}, train__adversarial__steps=3)
    run(recipe)
    run(recipe, ["seed=4"], overwrite=True)
    events = accumulate(tmp_path / "again" / "tensorboard")
    expected = expected_scalars(tmp_path / "again")
    for tag, rows in expected.items():
        assert [(e.step, pytest.approx(e.value, rel=1e-6, abs=1e-7)) for e in events.Scalars(tag)] == rows, tag


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="pictures need matplotlib")
def test_pictures_are_images_and_log_dir_is_honoured(tmp_path: Path) -> None:
    recipe = tiny(tmp_path, "pictures", callbacks={"tensorboard": {"enabled": True, "log_dir": str(tmp_path / "tb")}})
    recipe["domain"]["params"]["plots"] = True
    recipe["train"]["pretrain"] = {}
    recipe["train"]["adversarial"]["steps"] = 4
    recipe["eval"]["every"] = 4
    run(recipe)
    assert not (tmp_path / "pictures" / "tensorboard").exists()
    events = accumulate(tmp_path / "tb")
    assert sorted(events.Tags()["images"]) == ["samples/grid", "samples/pca"]
    for tag in ("grid", "pca"):
        (image,) = [i for i in events.Images(f"samples/{tag}") if i.step == 4]
        png = (tmp_path / "pictures" / "samples" / f"step-00000004-{tag}.png").read_bytes()
        assert image.encoded_image_string == png and (image.height, image.width) == tb.png_size(png)[:2]
        assert [i.step for i in events.Images(f"samples/{tag}")] == [0, 4]


def test_text_samples_are_text(tmp_path: Path) -> None:
    train, test = write_corpus(tmp_path)
    recipe = oracle_recipe(tmp_path, pretrain={"generator_steps": 4})
    recipe["domain"] = {"name": "text", "params": {"train": str(train), "test": str(test)}}
    recipe["eval"] = {"every": 4, "metrics": ["unique"], "samples": 16}
    recipe["callbacks"] = {"tensorboard": ENABLED}
    run(recipe)
    events = accumulate(tmp_path / "oracle" / "tensorboard")
    texts = events.Tensors("samples/text_summary")
    assert [t.step for t in texts] == [0, 4]
    shown = texts[-1].tensor_proto.string_val[0].decode()
    written = (tmp_path / "oracle" / "samples" / "step-00000004.txt").read_text(encoding="utf-8").splitlines()
    assert shown == "".join(f"    {line}\n" for line in written[: tb.TEXT_LINES])


def test_hparams_are_the_flattened_resolved_recipe(tmp_path: Path) -> None:
    flat = tb.flatten({"train": {"batch_size": 16, "optimizer": {"generator": {"betas": [0.5, 0.9]}}}, "name": "x"})
    assert flat == {"train.batch_size": 16, "train.optimizer.generator.betas": [0.5, 0.9], "name": "x"}
    assert [tb.hparam_value(v) for v in (None, [0.5, 0.9], True, 3, "a")] == ["null", "[0.5, 0.9]", True, 3, "a"]


def test_a_missing_package_is_a_recipe_error_naming_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(RecipeError) as caught:
        load_recipe(tiny(tmp_path, "x", callbacks={"tensorboard": ENABLED}))
    assert "callbacks.tensorboard.enabled" in str(caught.value) and "pip install 'seqtk[tensorboard]'" in str(caught.value)
    load_recipe(tiny(tmp_path, "x"))  # not enabled: no package needed


def test_enabling_tensorboard_on_resume_keeps_the_checkpoint_usable(tmp_path: Path) -> None:
    recipe = tiny(tmp_path, "later")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(recipe, callbacks=[CrashAt(10)])
    later = json.loads(json.dumps(recipe))
    later["callbacks"] = {"tensorboard": ENABLED}
    result = run(later, resume=True)
    events = accumulate(result.run_dir / "tensorboard")
    assert [e.step for e in events.Scalars("eval/mmd")] == [10, 15, 20]
