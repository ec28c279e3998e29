"""Issue 15, item 7: the smaller defects, each pinned by a test.

Metric families and per-domain metric lists in ``seqtk score``; a plain CSV of samples
as a data error (or a working input); warnings with one prefix; docs that say what the
code does; dead fields gone; one copy each of the per-sequence score reduction, the
located UTF-8 read and the lazy split loading.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import warnings
from pathlib import Path
from typing import Mapping

import numpy as np
import pytest
import torch
import yaml

from seqtk.core import cli, errors, schema
from seqtk.core.cli import main
from seqtk.core.errors import DataError, RecipeError
from seqtk.core.interfaces import Batch, Domain, DomainSpec, Scores, SequenceData
from seqtk.core.recipe import load_recipe
from seqtk.core.scoring import family_members, metric_families, score
from seqtk.core.splits import LazySplits
from seqtk.core.textfiles import NotUtf8Error, decode_utf8, read_utf8
from seqtk.plugins import pictures
from seqtk.plugins.timeseries.csv_samples import write_series_csv
from seqtk.plugins.timeseries.table import read_table

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = [
    "the red car is big .",
    "a small dog ran home .",
    "the kite is blue .",
    "my cat sat on the mat .",
    "the sun is hot today .",
    "a big red bus went by .",
]


def corpus(tmp_path: Path) -> tuple[Path, Path]:
    real = tmp_path / "real.txt"
    real.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    samples = tmp_path / "samples.txt"
    samples.write_text("the red car is big .\nthe small cat ran home .\na blue kite .\n", encoding="utf-8")
    return real, samples


def unknown_metric_listing(capsys: pytest.CaptureFixture[str], argv: list[str]) -> list[str]:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("unknown metric 'blue'") and "Traceback" not in err
    return err.strip().split("; valid: ", 1)[1].split(", ")


# --------------------------------------------------------------------------- score: families


def test_a_family_name_scores_every_order_the_registry_defines(tmp_path: Path) -> None:
    real, samples = corpus(tmp_path)
    report = score("text", real, samples, ["bleu"])
    assert list(report["metrics"]) == ["bleu-2", "bleu-3", "bleu-4", "bleu-5"]
    one_by_one = score("text", real, samples, ["bleu-2", "bleu-3", "bleu-4", "bleu-5"])["metrics"]
    assert report["metrics"] == one_by_one
    # BLEU falls with its order on samples that share short n-grams only.
    values = list(report["metrics"].values())
    assert values == sorted(values, reverse=True) and values[0] < 1.0
    assert list(score("text", real, samples, ["self-bleu"])["metrics"]) == [f"self-bleu-{n}" for n in (2, 3, 4, 5)]
    # A name given twice (alone and in its family) is computed once, where first asked for.
    both = score("text", real, samples, ["distinct-3", "distinct", "unique"])["metrics"]
    assert list(both) == ["distinct-3", "distinct-1", "distinct-2", "distinct-4", "unique"]
    # distinct-1 by hand: 6 + 6 + 4 = 16 tokens, 13 different ones.
    assert both["distinct-1"] == pytest.approx(13 / 16)


def test_score_cli_accepts_a_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real, samples = corpus(tmp_path)
    assert main(["score", "text", "--real", str(real), "--samples", str(samples), "--metric", "bleu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed["metrics"]) == ["bleu-2", "bleu-3", "bleu-4", "bleu-5"]


def test_family_helpers_order_numerically_and_ignore_prefixes() -> None:
    names = ["bleu-10", "bleu-2", "self-bleu-3", "bleu", "bleu-x", "unique"]
    assert family_members("bleu", names) == ["bleu-2", "bleu-10"]
    assert family_members("self-bleu", names) == ["self-bleu-3"]
    assert family_members("uniq", names) == []
    assert metric_families(names) == ["bleu", "self-bleu"]


# --------------------------------------------------------------------------- score: metric lists per domain


def test_unknown_metric_lists_only_the_text_metrics_score_can_compute(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real, samples = corpus(tmp_path)
    listed = unknown_metric_listing(capsys, ["score", "text", "--real", str(real), "--samples", str(samples), "--metric", "blue"])
    orders = {"bleu": (2, 3, 4, 5), "self-bleu": (2, 3, 4, 5), "distinct": (1, 2, 3, 4)}
    expected = {f"{family}-{n}" for family, ns in orders.items() for n in ns} | set(orders) | {"unique"}
    assert set(listed) == expected  # no mmd, music-distance, density (text has no embedding) or nll-test (needs a generator)
    assert listed == sorted(listed)


def test_unknown_metric_lists_only_the_time_series_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(40)), encoding="utf-8")
    listed = unknown_metric_listing(capsys, ["score", "timeseries", "--real", str(data), "--samples", str(data), "--metric", "blue"])
    assert listed == ["acf", "coverage", "density", "discriminative", "marginal", "mmd", "predictive"]


def test_unknown_metric_for_music_lists_music_and_event_metrics_but_no_text_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real, _ = corpus(tmp_path)
    listed = unknown_metric_listing(capsys, ["score", "music", "--real", str(real), "--samples", str(real), "--metric", "blue"])
    assert "music-distance" in listed and "pitch-range-distance" in listed and "coverage" in listed
    assert not {"bleu", "bleu-2", "unique", "distinct-1", "nll-test", "nll-oracle"} & set(listed)


# --------------------------------------------------------------------------- score: plain CSV of samples


def plain_csv(path: Path, values: np.ndarray) -> Path:
    path.write_text("temp,load\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in values), encoding="utf-8")
    return path


def series(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = np.arange(rows)
    return np.column_stack([np.sin(steps / 3.0) + 0.1 * rng.normal(size=rows), np.cos(steps / 5.0) + 0.1 * rng.normal(size=rows)])


def test_a_plain_csv_of_samples_without_a_window_is_a_data_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = plain_csv(tmp_path / "real.csv", series(120, 0))
    samples = plain_csv(tmp_path / "other.csv", series(60, 1))
    assert main(["score", "timeseries", "--real", str(real), "--samples", str(samples)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"{samples}: no 'sample' and 'step' columns, so it is read as one series of 60 rows, which is one sample; "
        "expected seqtk's long format (a header 'sample,step,<features>', one row per sample per step), a 3-D .npy, "
        "or --param window=N"
    )
    assert "bug" not in err and "Traceback" not in err


def test_a_plain_csv_of_samples_is_cut_into_windows_like_the_real_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = series(120, 0)
    real = plain_csv(tmp_path / "real.csv", table)
    same = plain_csv(tmp_path / "same.csv", table)
    argv = ["score", "timeseries", "--real", str(real), "--param", "window=8", "--metric", "mmd", "--metric", "marginal", "--metric", "acf"]
    assert main([*argv, "--samples", str(same)]) == 0
    report = json.loads(capsys.readouterr().out)
    # The same rows cut the same way: the same 113 windows on both sides, so every distance is 0.
    assert report["protocol"]["sample_sequences"] == report["protocol"]["real_sequences"] == 120 - 8 + 1
    assert all(value < 1e-9 for value in report["metrics"].values())
    other = plain_csv(tmp_path / "other.csv", series(60, 1)[::-1] * 3.0)
    assert main([*argv, "--samples", str(other)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"]["sample_sequences"] == 60 - 8 + 1
    assert report["metrics"]["marginal"] > 0.1


def test_a_metric_refusing_the_data_is_a_data_error_not_a_bug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = plain_csv(tmp_path / "real.csv", series(120, 0))
    one = write_series_csv(series(8, 2).reshape(1, 8, 2), np.array([8]), tmp_path / "one.csv", ["temp", "load"])
    assert main(["score", "timeseries", "--real", str(real), "--samples", str(one), "--metric", "discriminative"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"metric 'discriminative' cannot score {one} against {real}: ")
    assert "at least 2 fake sequences" in err and "bug" not in err


# --------------------------------------------------------------------------- warnings


def test_a_warning_prints_the_seqtk_prefix_once(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(pictures, "_MISSING_WARNED", False)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = cli._show_warning  # what `seqtk` installs while a command runs
        assert pictures.no_pictures() == []
    assert capsys.readouterr().err == (
        "seqtk: warning: matplotlib is not installed, so no pictures are written; "
        "install it with `pip install 'seqtk[plot]'` (or `pip install matplotlib`)\n"
    )


def test_no_warning_in_seqtk_starts_with_its_own_prefix() -> None:
    """The CLI adds "seqtk: warning: "; a message that starts with "seqtk:" would say it twice."""
    found = []
    for path in sorted([*(ROOT / "core").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "warn" and node.args:
                first = node.args[0]
                text = first.value if isinstance(first, ast.Constant) else first.values[0].value if isinstance(first, ast.JoinedStr) and first.values and isinstance(first.values[0], ast.Constant) else ""
                if str(text).startswith("seqtk:"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


# --------------------------------------------------------------------------- docs


def test_recipes_doc_lists_every_builtin_preset() -> None:
    presets = yaml.safe_load((ROOT / "registry.yaml").read_text(encoding="utf-8"))["presets"]
    text = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    section = text.split("## Presets, and overriding a part", 1)[1].split("\n## ", 1)[0]
    assert len(presets) >= 7
    assert [name for name in presets if f"| `{name}` |" not in section] == []


def test_plugins_doc_explains_every_capability_word_and_provides_by_param() -> None:
    registry = yaml.safe_load((ROOT / "registry.yaml").read_text(encoding="utf-8"))
    words: set[str] = set()
    for kind, entries in registry.items():
        if isinstance(entries, dict) and kind != "presets":
            for entry in entries.values():
                words |= set(entry.get("requires", [])) | set(entry.get("provides", []))
                for table in (entry.get("provides_by_param") or {}).values():
                    words |= {w for listed in table.values() for w in listed}
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    table = text.split("| word | offered by | meaning |", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)`(?: / `([a-z_]+)`)?", table, flags=re.M))
    documented_words = {w for pair in documented for w in pair if w}
    assert words - documented_words == set()
    assert "| `provides_by_param` |" in text and "representation: {events: [continuous], tokens: [discrete]}" in text


def test_objectives_doc_does_not_claim_validation_imports_nothing() -> None:
    text = (ROOT / "docs" / "objectives.md").read_text(encoding="utf-8")
    assert "before anything is\nimported" not in text and "before anything is imported" not in text
    assert "imports the objective's module to read the signature" in text


# --------------------------------------------------------------------------- dead fields


def test_dead_fields_are_gone_and_batch_extras_is_documented() -> None:
    assert "variable_length" not in {f.name for f in dataclasses.fields(DomainSpec)}
    assert not hasattr(errors, "PluginError")
    assert not hasattr(schema, "COMPONENT_SECTIONS")
    assert "extras" in {f.name for f in dataclasses.fields(Batch)}
    assert "``extras``" in (Batch.__doc__ or "")


# --------------------------------------------------------------------------- Scores.per_sequence, the one copy


def test_per_sequence_scores_average_real_steps_only() -> None:
    values = torch.tensor([[1.0, 2.0, 3.0, 100.0], [4.0, -50.0, -50.0, -50.0], [0.0, 0.0, 0.0, 0.0]])
    batch = Batch(values=torch.zeros(3, 4), lengths=torch.tensor([3, 1, 0]))
    assert Scores.of(values, batch).per_sequence().tolist() == [2.0, 4.0, 0.0]  # an empty row scores 0, not NaN
    per_sequence = torch.tensor([0.5, -1.0, 2.0])
    assert Scores.of(per_sequence, batch).per_sequence() is per_sequence
    assert Scores(values).per_sequence().tolist() == [26.5, -36.5, 0.0]  # no weights: every step counts


def test_no_plugin_keeps_its_own_copy_of_the_per_sequence_reduction() -> None:
    copies = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name in ("_per_sample", "_per_sequence"):
                copies.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert copies == []


# --------------------------------------------------------------------------- UTF-8, the one reader


def test_decode_utf8_locates_the_first_bad_byte_by_line_and_column() -> None:
    data = "ok\nsecond line\nM".encode() + b"\xfc" + b"nchen\n"
    with pytest.raises(NotUtf8Error) as caught:
        decode_utf8(data)
    error = caught.value
    assert (error.line, error.column, error.offset, error.byte) == (3, 2, 16, b"\xfc")
    assert str(error) == "line 3: byte 2 of the line (offset 16) is not valid UTF-8 (invalid start byte: b'\\xfc')"
    # The byte-order mark is dropped, but counted in the offset, as an editor shows the file.
    assert decode_utf8(b"\xef\xbb\xbfhi") == "hi"
    assert decode_utf8(b"\xef\xbb\xbfhi", drop_bom=False) == "\ufeffhi"
    with pytest.raises(NotUtf8Error) as caught:
        decode_utf8(b"\xef\xbb\xbfa\n\xff\n")
    assert (caught.value.line, caught.value.column, caught.value.offset) == (2, 1, 5)


def test_read_utf8_names_the_file_and_says_what_was_expected(tmp_path: Path) -> None:
    expected = "a CSV file with a header line"
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path / 'gone.csv'))}: does not exist; expected {expected}$"):
        read_utf8(tmp_path / "gone.csv", str(tmp_path / "gone.csv"), expected)
    with pytest.raises(DataError, match=r"^the folder: is not a file; expected a CSV"):
        read_utf8(tmp_path, "the folder", expected)
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text("a,b\n1,2\n", encoding="utf-16")
    with pytest.raises(DataError, match=r"^u: line 1: byte 1 of the line \(offset 0\) is not valid UTF-8 .*re-save the file as UTF-8 \(it looks like UTF-16\)$"):
        read_utf8(utf16, "u", expected)
    npy = tmp_path / "array.csv"
    np.save(npy.open("wb"), np.zeros(3))
    with pytest.raises(DataError, match=r"\(it looks like a NumPy array: give it a \.npy suffix\)$"):
        read_utf8(npy, "n", expected)


def test_recipes_text_files_and_tables_locate_a_bad_byte_alike(tmp_path: Path) -> None:
    """The three readers share one decoder: the same bad byte is at the same line and column in each."""
    bad = "seqtk: 1\nname: caf".encode() + b"\xe9" + b"\n"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_bytes(bad)
    with pytest.raises(RecipeError, match=r"not UTF-8 text: byte b'\\xe9' at line 2, column 10"):
        load_recipe(recipe)
    table = tmp_path / "table.csv"
    table.write_bytes(b"a,b\n1,caf\xe9\n")
    with pytest.raises(DataError, match=r"line 2: byte 6 of the line \(offset 9\) is not valid UTF-8"):
        read_table(table)
    from seqtk.plugins.text.domain import read_sentences

    text = tmp_path / "text.txt"
    text.write_bytes(b"one\ncaf\xe9 au lait\n")
    with pytest.raises(DataError, match=r"^train file .*text\.txt: line 2: byte 4 of the line \(offset 7\) is not valid UTF-8"):
        read_sentences(text, "train")


# --------------------------------------------------------------------------- LazySplits, the one loader


class Counting(LazySplits, Domain):
    """A domain that counts how often it reads; ``together`` reads both splits in one pass."""

    split_label = "counting"

    def __init__(self, together: bool) -> None:
        self.together = together
        self.reads: list[str] = []

    @property
    def spec(self) -> DomainSpec:
        return DomainSpec(kind="continuous", max_len=2, features=1)

    def read_splits(self, split: str) -> Mapping[str, SequenceData]:
        self.reads.append(split)
        make = lambda n: SequenceData(Batch.full_length(torch.full((n, 2, 1), float(n))))  # noqa: E731
        return {"train": make(3), "test": make(2)} if self.together else {split: make(3 if split == "train" else 2)}

    def write_samples(self, batch: Batch, directory: Path, stem: str) -> list[Path]:
        return []


@pytest.mark.parametrize("together", [False, True])
def test_lazy_splits_read_each_split_once(together: bool) -> None:
    domain = Counting(together)
    assert not domain.has_split("train") and domain.reads == []  # building reads nothing
    test = domain.load("test")
    assert domain.load("test") is test and len(test) == 2
    assert len(domain.load("train")) == 3 and domain.load("train") is domain.load("train")
    assert domain.reads == (["test"] if together else ["test", "train"])
    with pytest.raises(ValueError, match=r"^counting: split must be 'train' or 'test', got 'valid'$"):
        domain.load("valid")  # type: ignore[arg-type]


def test_kept_splits_are_served_without_reading() -> None:
    domain = Counting(False)
    held = SequenceData(Batch.full_length(torch.zeros(4, 2, 1)))
    domain.keep_splits({"train": held, "test": held})
    assert domain.load("train") is held and domain.load("test") is held and domain.reads == []


def test_every_builtin_domain_loads_through_lazy_splits() -> None:
    from seqtk.core.plugins import PluginHost

    host = PluginHost()
    classes = {entry.name: entry.load() for entry in host.registry.entries("domains") if entry.plugin == "builtin"}
    assert {"text", "oracle", "timeseries", "sines", "music"} <= set(classes)
    assert [name for name, cls in classes.items() if not issubclass(cls, LazySplits) or cls.load is not LazySplits.load] == []
    assert {cls.split_label for cls in classes.values()} >= {"text", "oracle", "timeseries", "sines", "music"}


def test_scoring_keeps_its_real_batch_as_both_splits(tmp_path: Path) -> None:
    from seqtk.plugins.text.domain import TextDomain

    real, samples = corpus(tmp_path)
    domain, real_batch, _ = TextDomain.scoring_data(real, samples, {})
    assert domain.load("train").batch is real_batch and domain.load("test").batch is real_batch
