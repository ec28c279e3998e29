"""`seqtk report`: the page's content for each domain, runs in progress, several runs, and user errors.

The browser test (tests/test_report_browser.py) checks that the page renders; this file
checks what it says, against numbers the runs recorded themselves.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import wave
from pathlib import Path

import pytest
import torch

pytest.importorskip("matplotlib")

from report_runs import shared_runs  # noqa: E402

from seqtk.core.cli import main  # noqa: E402
from seqtk.core.plugins import PluginHost  # noqa: E402
from seqtk.core.report import read_run, sample_items  # noqa: E402
from seqtk.core.report_items import Audio, Picture, Table  # noqa: E402
from seqtk.plugins.music.midi import read_midi  # noqa: E402


pytestmark = pytest.mark.filterwarnings("ignore::seqtk.core.interfaces.MetricWarning")  # tiny runs collapse, and say so


@pytest.fixture(scope="module")
def runs() -> dict[str, Path]:
    return shared_runs()


def report(capsys: pytest.CaptureFixture[str], out: Path, *run_dirs: Path) -> str:
    assert main(["report", *map(str, run_dirs), "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    return out.read_text(encoding="utf-8")


def test_time_series_report_holds_curves_metrics_pictures_and_environment(runs, tmp_path, capsys) -> None:
    page = report(capsys, tmp_path / "r.html", runs["sines"])
    sources = re.findall(r'\ssrc="([^"]*)"', page)
    assert len(sources) == 4  # losses, metrics over steps, the grid and the PCA picture
    assert all(s.startswith("data:image/png;base64,") for s in sources)  # nothing to fetch
    for source in sources:
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in page and "https://" not in page
    summary = json.loads((runs["sines"] / "summary.json").read_text())
    for name, value in summary["final_metrics"].items():
        initial = summary["initial_metrics"][name]
        assert re.search(rf"<td>{name}</td><td class=\"num\">{re.escape(f'{initial:.4g}')}</td><td class=\"num\">{re.escape(f'{value:.4g}')}</td>", page)
    assert "final (step 12)" in page and "finished after 12 steps" in page
    assert "Real series (left) beside generated ones (right) (step 12)" in page
    assert f"<td>torch</td><td>{torch.__version__}</td>" in page and "<td>builtin</td>" in page
    assert "name: sines-tiny" in page  # the resolved recipe


def test_environment_json_records_versions_device_and_plugins(runs) -> None:
    env = json.loads((runs["sines"] / "environment.json").read_text())
    assert env["torch"] == torch.__version__ and env["device"] == "cpu" and env["resumed"] is False
    assert any(p["name"] == "builtin" and p["status"] == "loaded" for p in env["plugins"])


def test_text_report_gives_each_sentence_an_nll_that_averages_to_nll_test(runs) -> None:
    view = read_run(runs["text"])
    (table,) = [item for item in sample_items(view, PluginHost(), count=8) if isinstance(item, Table)]
    generated = (runs["text"] / "samples" / "step-00000040.txt").read_text().splitlines()
    assert [row[0] for row in table.rows[: len(generated)]] == generated[:8]
    assert all(row[1] is not None and row[1] > 0 for row in table.rows[: len(generated)])
    # Every test sentence is shown (6 < 8): their NLLs, weighted by tokens (EOS included), are the run's nll-test.
    test_lines = (runs["text"].parent / "text-data" / "test.txt").read_text().splitlines()
    assert [row[2] for row in table.rows] == test_lines
    tokens = [len(line.split()) + 1 for line in test_lines]
    mean = sum(row[3] * n for row, n in zip(table.rows, tokens)) / sum(tokens)
    final = json.loads((runs["text"] / "summary.json").read_text())["final_metrics"]["nll-test"]
    assert mean == pytest.approx(final, rel=1e-5)


def test_music_report_plays_every_midi_sample_beside_held_out_excerpts(runs) -> None:
    items = sample_items(read_run(runs["music"]), PluginHost(), count=8)
    assert any(isinstance(i, Picture) and i.title.startswith("Piano roll") for i in items)
    sounds = [i for i in items if isinstance(i, Audio)]
    files = sorted((runs["music"] / "samples" / "step-00000014").glob("*.mid"))
    generated = [s for s in sounds if s.title.startswith("generated")]
    assert len(files) == 3 and [s.title for s in generated] == [f"generated step-00000014/{p.name}" for p in files if read_midi(p, allow_empty=True).notes]
    assert len(sounds) - len(generated) >= 1  # held-out excerpts to compare with
    for sound, path in zip(generated, files):
        piece = read_midi(path)
        with wave.open(io.BytesIO(sound.data)) as handle:
            seconds = handle.getnframes() / handle.getframerate()
        assert seconds == pytest.approx(min(8.0, piece.length_beats * 60 / piece.tempo_bpm), abs=1e-3)


def test_an_interrupted_run_is_reported_as_such(runs, tmp_path, capsys) -> None:
    run_dir = tmp_path / "cut"
    shutil.copytree(runs["sines"], run_dir)
    (run_dir / "summary.json").unlink()
    lines = (run_dir / "metrics.jsonl").read_text().splitlines(keepends=True)
    last_eval = max(i for i, line in enumerate(lines) if '"phase": "eval"' in line)
    (run_dir / "metrics.jsonl").write_text("".join(lines[:last_eval]) + lines[last_eval][:20])  # killed mid-line
    page = report(capsys, tmp_path / "cut.html", run_dir)
    assert "in progress or interrupted: no summary.json yet" in page
    assert "1 line(s) of metrics.jsonl could not be read" in page
    assert "newest (step 0)" in page and "final (step" not in page


def test_a_run_with_no_checkpoint_or_samples_yet_still_gets_a_page(runs, tmp_path, capsys) -> None:
    run_dir = tmp_path / "young"
    run_dir.mkdir()
    shutil.copy(runs["sines"] / "recipe.yaml", run_dir)
    first = (runs["sines"] / "metrics.jsonl").read_text().splitlines(keepends=True)[0]
    (run_dir / "metrics.jsonl").write_text(first)
    page = report(capsys, tmp_path / "young.html", run_dir)
    assert "No samples yet" in page and "No training step has been logged yet." in page
    assert "This run recorded no environment.json" in page


def test_several_runs_share_the_curves_and_the_metrics_table(runs, tmp_path, capsys) -> None:
    page = report(capsys, tmp_path / "two.html", runs["sines"], runs["text"])
    assert "seqtk report: sines-tiny, text-tiny" in page
    for label in ("sines-tiny", "text-tiny"):
        assert f"{label}: untrained (step 0)" in page and f"Samples: {label}" in page


def test_user_errors_exit_2_with_a_clear_message(tmp_path, capsys, monkeypatch) -> None:
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run directory (it holds neither recipe.yaml nor metrics.jsonl)" in capsys.readouterr().err
    (tmp_path / "metrics.jsonl").write_text("")
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    assert main(["report", str(tmp_path)]) == 2
    assert "pip install 'seqtk[plot]'" in capsys.readouterr().err
