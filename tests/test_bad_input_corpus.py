"""The bad-input corpus: real user mistakes, each run through the CLI as a user would.

Every case is one entry of a table: the files it writes (a recipe with one mistake, a
broken data file, a damaged checkpoint), the command line, the file the message must name
and where in it (key path, line or column). For every case the test checks what the user
sees and what is left on disk:

- exit code 2, nothing on stdout;
- stderr is one paragraph: no blank line inside, no "Traceback", no ``File "...`` frames;
- it names the offending file and, where one exists, the key path, line or column;
- nothing is half-written: every file under the case's folder (run directory included)
  has the same name and bytes as before the command, so a new run's directory is absent
  and an old run (resume, sample) is byte-identical; no ``*.tmp`` file is left;
- a hostile payload (a YAML tag, a pickle in a checkpoint or an .npy file) never runs: the
  marker file it would create does not exist.

Each case runs in its own folder, which is also the working directory, so relative paths
in recipes (``output: {dir: run}``) land there. Most run in-process through
``seqtk.core.cli.main``; those marked ``subprocess`` run ``python -m seqtk`` to prove that
no traceback reaches a terminal. YAML files with errors live in ``tests/bad_inputs/``,
where they read as a user wrote them; binary and random files are made here from seeded
generators. Adding a case is adding one entry to ``CASES``.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import torch
import yaml

from seqtk.core import checkpoint as ckpt
from seqtk.core.api import run
from seqtk.core.cli import main

BAD_INPUTS = Path(__file__).parent / "bad_inputs"

#: The valid recipe the recipe and checkpoint cases break, one line at a time. Its line
#: numbers are the ones the expected messages quote.
MINIMAL_YAML = """\
seqtk: 1
name: tiny
seed: 0
domain:
  name: sines
  params: {samples: 16, length: 6, features: 2}
preset: rgan
generator:
  params: {hidden_dim: 4, noise_dim: 2}
discriminator:
  params: {hidden_dim: 4}
train:
  batch_size: 4
  device: cpu
  adversarial: {steps: 2}
  optimizer:
    generator: {lr: 0.001}
eval: {every: 1, samples: 4}
output: {dir: run, checkpoint_every: 1, keep_checkpoints: 1}
"""

#: Valid recipes for the three data domains, reading files in the case's folder ({tmp}).
TEXT: dict[str, Any] = {
    "seqtk": 1,
    "name": "text-tiny",
    "domain": {"name": "text", "params": {"train": "{tmp}/train.txt", "test": "{tmp}/test.txt"}},
    "preset": "seqgan",
    "generator": {"params": {"embed_dim": 4, "hidden_dim": 4}},
    "discriminator": {"params": {"embed_dim": 4, "filter_sizes": [2], "num_filters": [2]}},
    "estimator": {"params": {"rollouts": 1}},
    "train": {"batch_size": 4, "device": "cpu", "adversarial": {"steps": 1}},
    "eval": {"every": 1, "samples": 4, "metrics": ["nll-test"]},
    "output": {"dir": "{tmp}/run", "checkpoint_every": 1, "samples": 2},
}
TIMESERIES: dict[str, Any] = {
    "seqtk": 1,
    "name": "prices-tiny",
    "domain": {"name": "timeseries", "params": {"path": "{tmp}/prices.csv", "time_column": "day", "window": 4, "plots": False}},
    "preset": "rgan",
    "generator": {"params": {"hidden_dim": 4, "noise_dim": 2}},
    "discriminator": {"params": {"hidden_dim": 4}},
    "train": {"batch_size": 4, "device": "cpu", "adversarial": {"steps": 1}},
    "eval": {"every": 1, "samples": 4},
    "output": {"dir": "{tmp}/run", "checkpoint_every": 1, "samples": 2},
}
MUSIC: dict[str, Any] = {
    "seqtk": 1,
    "name": "music-tiny",
    "domain": {"name": "music", "params": {"path": "{tmp}/midi", "representation": "events", "notes": 8, "pianoroll": False}},
    "preset": "c-rnn-gan",
    "generator": {"params": {"hidden_dim": 4, "noise_dim": 2}},
    "discriminator": {"params": {"hidden_dim": 4}},
    "train": {"batch_size": 4, "device": "cpu", "adversarial": {"steps": 1}},
    "eval": {"every": 1, "samples": 4, "metrics": ["music-distance"]},
    "output": {"dir": "{tmp}/run", "checkpoint_every": 1, "samples": 2},
}

SENTENCES = [f"the {c} {t} is {a} ." for c in ("red", "green", "blue") for t in ("car", "kite") for a in ("big", "small")]
PRICES_HEADER = "day,price,volume\n"
PRICES = PRICES_HEADER + "".join(f"{day},{100 + np.sin(day / 3):.3f},{1000 + 7 * day}\n" for day in range(1, 41))


# --------------------------------------------------------------------------- writing a case's files

#: Writes one file (or folder) at ``target``; ``tmp`` is the case's folder, ``trained`` the
#: folder of a finished 2-step run of MINIMAL_YAML (for checkpoint cases).
Writer = Callable[[Path, Path, Path], None]


def text(content: str, encoding: str = "utf-8") -> Writer:
    return lambda target, tmp, trained: target.write_bytes(content.replace("{tmp}", str(tmp)).encode(encoding))


def raw(content: bytes) -> Writer:
    return lambda target, tmp, trained: target.write_bytes(content)


def fixture(name: str) -> Writer:
    """A YAML file of tests/bad_inputs/, copied into the case's folder."""
    return lambda target, tmp, trained: shutil.copyfile(BAD_INPUTS / name, target)


def edit(old: str, new: str) -> Writer:
    """MINIMAL_YAML with one piece of text replaced (it must occur exactly once)."""
    assert MINIMAL_YAML.count(old) == 1, f"{old!r} must occur once in MINIMAL_YAML"
    return text(MINIMAL_YAML.replace(old, new))


def recipe(base: dict[str, Any], **params: Any) -> Writer:
    """A data-domain recipe with ``params`` merged into its domain's params; "{tmp}" filled in."""

    def write(target: Path, tmp: Path, trained: Path) -> None:
        data = _fill(base, str(tmp))
        data["domain"]["params"].update(_fill(params, str(tmp)))
        target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    return write


def _fill(value: Any, tmp: str) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, tmp) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, tmp) for v in value]
    return value.replace("{tmp}", tmp) if isinstance(value, str) else value


def folder(**files: Writer) -> Writer:
    """A directory holding ``files`` (none: an empty directory)."""

    def write(target: Path, tmp: Path, trained: Path) -> None:
        target.mkdir(parents=True)
        for name, writer in files.items():
            writer(target / name.replace("__", "."), tmp, trained)

    return write


def noise(size: int, seed: int, header: bytes = b"") -> Writer:
    """``header`` followed by seeded random bytes."""
    return raw(header + np.random.default_rng(seed).bytes(size))


PNG_HEADER = b"\x89PNG\r\n\x1a\n"


def midi_pieces(count: int, seed: int = 1) -> Writer:
    """A folder of ``count`` valid MIDI files (the built-in synthetic phrases)."""
    from seqtk.plugins.music.builtin import builtin_pieces
    from seqtk.plugins.music.midi import write_midi

    def write(target: Path, tmp: Path, trained: Path) -> None:
        target.mkdir(parents=True)
        for index, piece in enumerate(builtin_pieces(count, seed=seed)):
            write_midi(piece, target / f"{index:03d}.mid")

    return write


def truncated_midi(keep: int) -> Writer:
    """A valid MIDI file cut after ``keep`` bytes, as an interrupted download leaves it."""
    from seqtk.plugins.music.builtin import builtin_pieces
    from seqtk.plugins.music.midi import write_midi

    def write(target: Path, tmp: Path, trained: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_midi(builtin_pieces(1, seed=2)[0], target)
        target.write_bytes(target.read_bytes()[:keep])

    return write


class Payload:
    """Unpickling this creates the file ``marker``: the side effect a hostile file is after."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def pickled_npy(marker: str) -> Writer:
    """An .npy file of Python objects whose unpickling would create ``marker``."""

    def write(target: Path, tmp: Path, trained: Path) -> None:
        array = np.empty(2, dtype=object)
        array[:] = [Payload(tmp / marker), 1.0]
        np.save(target, array, allow_pickle=True)

    return write


def truncated_npy(keep: int) -> Writer:
    def write(target: Path, tmp: Path, trained: Path) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.arange(120, dtype=np.float64).reshape(40, 3))
        target.write_bytes(buffer.getvalue()[:keep])

    return write


# --------------------------------------------------------------------------- damaging a checkpoint

CHECKPOINT = "run/checkpoints/step-00000002.pt"


def the_run() -> Writer:
    """A copy of the finished 2-step run (its one checkpoint is step 2)."""
    return lambda target, tmp, trained: shutil.copytree(trained, target)


def damaged(change: Callable[[bytes], bytes]) -> Writer:
    """The run's checkpoint, its bytes passed through ``change``."""
    return lambda target, tmp, trained: target.write_bytes(change((trained / "checkpoints" / Path(CHECKPOINT).name).read_bytes()))


def rewritten(change: Callable[[dict[str, Any], Path], Any]) -> Writer:
    """The run's checkpoint loaded, changed by ``change(state, tmp)`` and saved again with torch.save."""

    def write(target: Path, tmp: Path, trained: Path) -> None:
        state = ckpt.load_checkpoint(trained / "checkpoints" / Path(CHECKPOINT).name)
        changed = change(state, tmp)
        torch.save(state if changed is None else changed, target)

    return write


def _wrong_shapes(state: dict[str, Any], tmp: Path) -> None:
    """Every generator tensor one row wider: the weights of a bigger network."""
    state["generator"] = {k: torch.zeros(v.shape[0] + 1, *v.shape[1:]) for k, v in state["generator"].items()}


def _with_payload(marker: str) -> Callable[[dict[str, Any], Path], None]:
    def change(state: dict[str, Any], tmp: Path) -> None:
        state["generator"] = Payload(tmp / marker)

    return change


def _newer_format(state: dict[str, Any], tmp: Path) -> None:
    state["format"] = ckpt.FORMAT_VERSION + 1


# --------------------------------------------------------------------------- the corpus

RUN = ("run", "--quiet", "{tmp}/recipe.yaml")
VALIDATE = ("validate", "{tmp}/recipe.yaml")
RESUME = ("run", "--quiet", "{tmp}/recipe.yaml", "--resume")
SAMPLE = ("sample", "{tmp}/run", "-n", "2")


@dataclass(frozen=True)
class Case:
    """One mistake: what to write, what to run, what the message must name."""

    id: str
    kind: str  # "recipe", "data" or "checkpoint"
    files: dict[str, Writer]
    argv: tuple[str, ...]
    file: str  # the offending file (or folder), as the message must name it
    where: str | None  # the key path, line or column it must name (None: the file has no finer location)
    also: tuple[str, ...] = ()  # further text the message must hold (the hint that fixes it)
    subprocess: bool = False  # run `python -m seqtk` rather than cli.main in-process
    marker: str | None = None  # a file a hostile payload would create: it must never appear
    xfail: str | None = None  # a known gap, with the change that closes it


def R(id: str, writer: Writer, where: str | None, *also: str, argv: tuple[str, ...] = RUN, **options: Any) -> Case:
    """A recipe case: the recipe at {tmp}/recipe.yaml is the offending file."""
    return Case(id, "recipe", {"recipe.yaml": writer}, argv, "{tmp}/recipe.yaml", where, also, **options)


def D(id: str, base: dict[str, Any], files: dict[str, Writer], file: str, where: str | None, *also: str, params: dict[str, Any] | None = None, **options: Any) -> Case:
    """A data case: a valid recipe of ``base`` (with ``params``) reading the files written."""
    return Case(id, "data", {"recipe.yaml": recipe(base, **(params or {})), **files}, RUN, file, where, also, **options)


def C(id: str, files: dict[str, Writer], argv: tuple[str, ...], where: str | None, *also: str, **options: Any) -> Case:
    """A checkpoint case: a copy of the trained run, its checkpoint replaced by ``files``.

    The message names the checkpoint as the user gave its run directory: the recipe's
    relative ``output.dir`` for --resume, the absolute path typed after ``seqtk sample``.
    """
    file = "{tmp}/" + CHECKPOINT if argv[0] == "sample" else CHECKPOINT
    return Case(id, "checkpoint", {"recipe.yaml": text(MINIMAL_YAML), "run": the_run(), **files}, argv, file, where, also, **options)


GOOD_TEXT = {"train.txt": text("\n".join(SENTENCES * 2) + "\n"), "test.txt": text("\n".join(SENTENCES[::2]) + "\n")}
GOOD_PRICES = {"prices.csv": text(PRICES)}

CASES: list[Case] = [
    # ------------------------------------------------------------------ recipes: YAML
    R("yaml-unclosed-bracket", fixture("unclosed_bracket.yaml"), "line 7, column 1", "flow mapping that starts at line 6, column 8"),
    R("yaml-bad-indentation", fixture("bad_indentation.yaml"), "line 9, column 10", "indentation"),
    R("yaml-tab-indentation", fixture("tab_indentation.yaml"), "line 7, column 1", "never tabs", argv=VALIDATE),
    R("yaml-tag-python-object-apply", fixture("python_object_apply.yaml"), "line 3, column 7", "!!python/object/apply:os.system", "refused", marker="PWNED"),
    R("yaml-tag-python-name", fixture("python_name.yaml"), "line 7, column 17", "!!python/name:os.system", "refused"),
    R("yaml-tag-python-object-new", fixture("python_object_new.yaml"), "line 3, column 7", "refused", marker="PWNED", argv=VALIDATE, subprocess=True),
    R("yaml-top-level-list", fixture("top_level_list.yaml"), "line 2", "must be a mapping", "got a list"),
    R("yaml-top-level-scalar", fixture("top_level_scalar.yaml"), "line 2", "must be a mapping", "got a string"),
    R("yaml-duplicate-key", fixture("duplicate_keys.yaml"), "train: is given twice (first on line 5)", "(line 10)"),
    R("yaml-alias-bomb", fixture("alias_bomb.yaml"), None, "anchors and aliases expand this recipe to", "more than the 100000"),
    R("yaml-alias-loop", fixture("alias_loop.yaml"), "domain.params.inner", "line 3", "endless"),
    R("yaml-brackets-nested-too-deeply", text("seqtk: 1\nname: " + "[" * 5000 + "]" * 5000 + "\n"), "line 2", "nested too deeply"),
    R("yaml-nested-too-deeply", text("seqtk: 1\nname: " + "{a: " * 1000 + "}" * 1000 + "\n"), None, "nested too deeply"),
    R("yaml-impossible-date", edit("name: tiny", "name: 2021-02-30"), "line 2, column 7", "'2021-02-30' is not a valid !!timestamp value", "day is out of range"),
    R("yaml-empty-file", text(""), None, "the recipe is empty"),
    R("yaml-comments-only", text("# TODO: write the recipe\n"), None, "the recipe is empty"),
    R("encoding-latin-1", text(MINIMAL_YAML.replace("name: tiny", "name: café"), "latin-1"), "line 2, column 10", "not UTF-8"),
    R("encoding-utf-16", text(MINIMAL_YAML, "utf-16"), "line 1, column 1", "UTF-16"),
    Case("missing-recipe-file", "recipe", {}, ("run", "--quiet", "{tmp}/recipes/tiny.yaml"), "{tmp}/recipes/tiny.yaml", None, ("no such recipe file",)),
    R("recipe-is-a-directory", folder(), None, "cannot read"),
    # ------------------------------------------------------------------ recipes: keys and types
    R("unknown-keys-with-hints", fixture("unknown_keys.yaml"), "trian: unknown key (did you mean 'train'?)", "(line 5)", "eval.evry: unknown key (did you mean 'every'?)", "(line 8)"),
    R("missing-required-name", edit("name: tiny\n", ""), "name: missing required key", argv=VALIDATE),
    R("newer-schema-version", edit("seqtk: 1", "seqtk: 2"), "seqtk: this recipe uses schema version 2", "upgrade seqtk", "(line 1)"),
    R("batch-size-string", edit("batch_size: 4", 'batch_size: "64"'), "train.batch_size: expected an integer, got a string '64' (line 13)"),
    R("seed-float", edit("seed: 0", "seed: 1.5"), "seed: expected an integer, got a number 1.5 (line 3)", argv=VALIDATE, subprocess=True),
    R("params-list-not-mapping", edit("params: {hidden_dim: 4, noise_dim: 2}", "params: [4, 2]"), "generator.params: expected a mapping, got a list (line 9)"),
    R("section-list-not-mapping", edit("eval: {every: 1, samples: 4}", "eval: [1, 4]"), "eval: expected a mapping, got a list (line 18)"),
    R("device-unknown", edit("device: cpu", "device: gpu"), "train.device: expected one of 'auto', 'cpu', 'cuda', got a string 'gpu' (did you mean 'cpu'?) (line 14)"),
    R("unknown-generator-name", edit("generator:\n  params", "generator:\n  name: lstn\n  params"), "generator.name: unknown generator 'lstn' (did you mean 'lstm'?)", "(line 9)"),
    R("unknown-preset", edit("preset: rgan", "preset: rgam"), "preset: unknown preset 'rgam' (did you mean 'rgan'", "(line 7)"),
    R("unknown-metric", edit("eval: {every: 1, samples: 4}", "eval: {every: 1, samples: 4, metrics: [mmd, acff]}"), "eval.metrics.1: unknown metric 'acff' (did you mean 'acf'?)", "(line 18)"),
    R("unknown-param", edit("hidden_dim: 4, noise_dim", "hiden_dim: 4, noise_dim"), "generator.params.hiden_dim: unknown parameter for generator 'lstm' (did you mean 'hidden_dim'?)", "(line 9)"),
    R("param-wrong-type", edit("hidden_dim: 4, noise_dim", "hidden_dim: big, noise_dim"), "generator.params.hidden_dim: expected an integer, got a string 'big' (line 9)"),
    R("param-out-of-declared-range", edit("length: 6", "length: 1"), "domain.params.length: must be an integer >= 2, got 1 (line 6)"),
    # ------------------------------------------------------------------ recipes: absurd values
    R("lr-negative", edit("lr: 0.001", "lr: -0.001"), "train.optimizer.generator.lr: must be greater than 0, got -0.001 (line 17)"),
    R("lr-nan", edit("lr: 0.001", "lr: .nan"), "train.optimizer.generator.lr: expected a finite number, got nan", "(line 17)"),
    R("lr-inf", edit("lr: 0.001", "lr: .inf"), "train.optimizer.generator.lr: expected a finite number, got inf", "(line 17)"),
    R("batch-size-zero", edit("batch_size: 4", "batch_size: 0"), "train.batch_size: must be at least 1, got 0 (line 13)"),
    R("batch-size-huge", edit("batch_size: 4", "batch_size: 100000000"), "train.batch_size: must be at most 1048576, got 100000000", "(line 13)"),
    R("steps-negative", edit("steps: 2", "steps: -5"), "train.adversarial.steps: must be at least 0, got -5 (line 15)"),
    R("steps-zero-in-all", edit("steps: 2", "steps: 0"), "train.adversarial.steps: the recipe trains for 0 steps in all", "(line 15)"),
    R("eval-samples-zero", edit("samples: 4}", "samples: 0}"), "eval.samples: must be at least 1, got 0 (line 18)"),
    R("seed-beyond-64-bits", edit("seed: 0", "seed: 100000000000000000000000"), "seed: must fit in 64 bits", "(line 3)"),
    # ------------------------------------------------------------------ recipes: --set overrides
    R("set-unknown-key", text(MINIMAL_YAML), "train.batch_sise: unknown key (did you mean 'batch_size'?)", "(set by --set)", argv=(*RUN, "--set", "train.batch_sise=8")),
    R("set-unparsable-value", text(MINIMAL_YAML), "--set: value of 'eval.metrics' is not valid YAML", "line 1, column", argv=(*RUN, "--set", "eval.metrics=[mmd")),
    R("set-through-a-scalar", text(MINIMAL_YAML), "seed: is not a mapping, cannot set seed.value", "(set by --set)", argv=(*RUN, "--set", "seed.value=1")),
    R("set-without-equals", text(MINIMAL_YAML), "--set: expected KEY.PATH=VALUE, got 'train.batch_size'", argv=(*RUN, "--set", "train.batch_size")),
    R("set-bad-value", text(MINIMAL_YAML), "train.batch_size: must be at least 1, got -4", "(set by --set)", argv=(*RUN, "--set", "train.batch_size=-4")),
    # ------------------------------------------------------------------ data: text
    D("text-train-empty", TEXT, {**GOOD_TEXT, "train.txt": text("")}, "train file {tmp}/train.txt", None, "is empty"),
    D("text-train-blank-lines", TEXT, {**GOOD_TEXT, "train.txt": text("\n   \n\n")}, "train file {tmp}/train.txt", None, "only blank lines"),
    D("text-train-binary", TEXT, {**GOOD_TEXT, "train.txt": noise(2000, seed=1, header=PNG_HEADER)}, "train file {tmp}/train.txt", "line 1", "not valid UTF-8"),
    D("text-train-latin-1", TEXT, {**GOOD_TEXT, "train.txt": text("the red car is big .\nthe kite is small .\nthe café is blue .\n", "latin-1")}, "train file {tmp}/train.txt", "line 3", "not valid UTF-8"),
    D("text-test-utf-16", TEXT, {**GOOD_TEXT, "test.txt": text("\n".join(SENTENCES) + "\n", "utf-16")}, "test file {tmp}/test.txt", "line 1", "not valid UTF-8"),
    D("text-train-missing", TEXT, {"test.txt": GOOD_TEXT["test.txt"]}, "train file {tmp}/train.txt", None, "does not exist"),
    D("text-test-is-a-directory", TEXT, {"train.txt": GOOD_TEXT["train.txt"], "test.txt": folder()}, "test file {tmp}/test.txt", None, "is not a file"),
    D("text-sentence-too-long", TEXT, {**GOOD_TEXT, "train.txt": text("a b\nc d\na b c d e f g h\n")}, "{tmp}/train.txt", "line 3", "max_len=4", params={"max_len": 4, "too_long": "error"}),
    # ------------------------------------------------------------------ data: time series
    D("csv-empty", TIMESERIES, {"prices.csv": text("")}, "{tmp}/prices.csv", None, "file is empty"),
    D("csv-binary", TIMESERIES, {"prices.csv": noise(3000, seed=2, header=PNG_HEADER)}, "{tmp}/prices.csv", "line 1", "not valid UTF-8"),
    D("csv-utf-16", TIMESERIES, {"prices.csv": text(PRICES, "utf-16")}, "{tmp}/prices.csv", "line 1", "not valid UTF-8"),
    D("csv-ragged-row", TIMESERIES, {"prices.csv": text(PRICES_HEADER + "1,100.0,1000\n2,100.5,1001\n3,101.0,1002\n4,101.5,1003,9\n" + PRICES.split("\n", 5)[-1])}, "{tmp}/prices.csv", "line 5", "has 4 fields, but the header (line 1) has 3", subprocess=True),
    D("csv-nan-cell", TIMESERIES, {"prices.csv": text(PRICES_HEADER + "1,100.0,1000\n2,100.5,1001\n3,NaN,1002\n" + PRICES.split("\n", 4)[-1])}, "{tmp}/prices.csv", "line 4: column 'price'", "missing value", "interpolate"),
    D("csv-inf-cell", TIMESERIES, {"prices.csv": text(PRICES_HEADER + "1,100.0,1000\n2,100.5,1001\n3,101.0,1002\n4,101.5,1003\n5,102.0,inf\n" + PRICES.split("\n", 6)[-1])}, "{tmp}/prices.csv", "line 6: column 'volume'", "not a finite number"),
    D("csv-text-cell", TIMESERIES, {"prices.csv": text(PRICES_HEADER + "1,100.0,1000\n2,twelve,1001\n" + PRICES.split("\n", 3)[-1])}, "{tmp}/prices.csv", "line 3: column 'price'", "'twelve' is not a number"),
    D("csv-missing-column", TIMESERIES, GOOD_PRICES, "{tmp}/prices.csv", "no column named 'volumen'", "did you mean 'volume'", "fix columns", params={"columns": ["price", "volumen"]}),
    D("csv-header-only", TIMESERIES, {"prices.csv": text(PRICES_HEADER)}, "{tmp}/prices.csv", "(line 1)", "no data rows"),
    D("csv-unclosed-quote", TIMESERIES, {"prices.csv": text(PRICES_HEADER + '1,100.0,1000\n2,"100.5,1001\n3,101.0,1002\n')}, "{tmp}/prices.csv", "line 3", "quote"),
    D("csv-path-missing", TIMESERIES, {}, "{tmp}/prices.csv", None, "does not exist"),
    D("csv-path-is-a-directory", TIMESERIES, {"prices.csv": folder()}, "{tmp}/prices.csv", None, "is not a file"),
    D("npy-pickled-objects", TIMESERIES, {"prices.npy": pickled_npy("PWNED")}, "{tmp}/prices.npy", None, "holds Python objects", params={"path": "{tmp}/prices.npy", "time_column": None}, marker="PWNED"),
    D("npy-truncated", TIMESERIES, {"prices.npy": truncated_npy(200)}, "{tmp}/prices.npy", None, "corrupt or truncated", params={"path": "{tmp}/prices.npy", "time_column": None}),
    # ------------------------------------------------------------------ data: music
    D("midi-random-bytes", MUSIC, {"midi": folder(song__mid=noise(500, seed=3))}, "{tmp}/midi/song.mid", None, "not a valid MIDI file", "none of its 1 MIDI files could be read", subprocess=True),
    D("midi-truncated", MUSIC, {"midi": folder(song__mid=truncated_midi(40))}, "{tmp}/midi/song.mid", None, "truncated"),
    D("midi-empty-file", MUSIC, {"midi": folder(song__mid=raw(b""))}, "{tmp}/midi/song.mid", None, "empty file (0 bytes)"),
    D("midi-folder-missing", MUSIC, {}, "{tmp}/midi", None, "MIDI folder not found"),
    D("midi-folder-without-midi", MUSIC, {"midi": folder(notes__txt=text("C D E F G\n"))}, "{tmp}/midi", None, "no .mid or .midi files"),
    D("midi-one-piece-only", MUSIC, {"midi": midi_pieces(1)}, "{tmp}/midi", None, "1 distinct piece(s); at least 2 are needed"),
    D("midi-path-is-a-garbage-file", MUSIC, {"song.mid": noise(300, seed=4, header=b"MThd")}, "{tmp}/song.mid", None, "not a valid MIDI file", params={"path": "{tmp}/song.mid"}),
    # ------------------------------------------------------------------ checkpoints
    C("ckpt-truncated-resume", {CHECKPOINT: damaged(lambda data: data[: len(data) // 2])}, RESUME, None, "unreadable or truncated"),
    C("ckpt-zero-bytes-sample", {CHECKPOINT: raw(b"")}, SAMPLE, None, "the file is empty (0 bytes)"),
    C("ckpt-random-bytes-resume", {CHECKPOINT: noise(4096, seed=5)}, RESUME, None, "not a seqtk checkpoint", "zip archive"),
    C("ckpt-random-zip-bytes-sample", {CHECKPOINT: noise(4096, seed=6, header=b"PK\x03\x04")}, SAMPLE, None, "unreadable or truncated"),
    C("ckpt-text-file-sample", {CHECKPOINT: text("step: 2\ngenerator: weights.bin\n")}, SAMPLE, None, "not a seqtk checkpoint", "starts with b'step'"),
    C("ckpt-bare-pickle-payload-sample", {CHECKPOINT: lambda target, tmp, trained: target.write_bytes(pickle.dumps(Payload(tmp / "PWNED")))},
      SAMPLE, None, "not a seqtk checkpoint", marker="PWNED"),
    C("ckpt-of-another-recipe", {}, (*RESUME, "--set", "seed=1"), None, "belongs to a different recipe"),
    C("ckpt-of-another-recipe-names-the-setting", {}, (*RESUME, "--set", "seed=1"), "seed: 0 in the checkpoint, 1 now"),
    C("ckpt-newer-format-sample", {CHECKPOINT: rewritten(_newer_format)}, SAMPLE, None, "written by a newer seqtk", "upgrade seqtk"),
    C("ckpt-newer-format-resume", {CHECKPOINT: rewritten(_newer_format)}, RESUME, None, "written by a newer seqtk"),
    C("ckpt-pickle-payload-resume", {CHECKPOINT: rewritten(_with_payload("PWNED"))}, RESUME, None, "refused", marker="PWNED", subprocess=True),
    C("ckpt-pickle-payload-sample", {CHECKPOINT: rewritten(_with_payload("PWNED"))}, SAMPLE, None, "refused", marker="PWNED"),
    C("ckpt-not-a-checkpoint", {CHECKPOINT: rewritten(lambda state, tmp: [1, 2, 3])}, SAMPLE, None, "not a seqtk checkpoint"),
    C("ckpt-tensors-do-not-fit-resume", {CHECKPOINT: rewritten(_wrong_shapes)}, RESUME, None, "does not fit"),
    C("ckpt-tensors-do-not-fit-sample", {CHECKPOINT: rewritten(_wrong_shapes)}, SAMPLE, "generator", "do not fit"),
    C("ckpt-entries-missing-sample", {CHECKPOINT: rewritten(lambda state, tmp: {"format": ckpt.FORMAT_VERSION})}, SAMPLE, "'recipe'", "not a complete seqtk run checkpoint"),
    Case("init-generator-random-bytes", "checkpoint",
         {"recipe.yaml": edit("  device: cpu\n", "  device: cpu\n  init_generator: pretrained.pt\n"), "pretrained.pt": noise(2048, seed=7)},
         RUN, "pretrained.pt", None, ("not a seqtk checkpoint",)),
    Case("init-generator-pickle-payload", "checkpoint",
         {"recipe.yaml": edit("  device: cpu\n", "  device: cpu\n  init_generator: pretrained.pt\n"), "pretrained.pt": rewritten(_with_payload("PWNED"))},
         RUN, "pretrained.pt", None, ("refused",), marker="PWNED"),
]


# --------------------------------------------------------------------------- running a case


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-step run of MINIMAL_YAML: one checkpoint, step 2."""
    folder = tmp_path_factory.mktemp("trained")
    data = yaml.safe_load(MINIMAL_YAML)
    data["output"]["dir"] = str(folder / "run")
    result = run(data)
    assert [step for step, _ in ckpt.list_checkpoints(result.run_dir / "checkpoints")] == [2]
    return result.run_dir


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``root``: relative path -> bytes (None for a folder)."""
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


def prepare(case: Case, tmp: Path, trained: Path) -> list[str]:
    for name, writer in case.files.items():
        target = tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        writer(target, tmp, trained)
    return [arg.replace("{tmp}", str(tmp)) for arg in case.argv]


def in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


SEQTK_COMMAND = [sys.executable, "-m", "seqtk"]


@dataclass
class Launched:
    """A subprocess case started ahead of its test: its folder, the folder's snapshot, the process."""

    tmp: Path
    before: dict[str, bytes | None]
    process: subprocess.Popen  # type: ignore[type-arg]

    def result(self) -> tuple[int, str, str]:
        """Wait (at most 120 s, then kill) for ``python -m seqtk``; its exit code, stdout and stderr."""
        try:
            out, err = self.process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise
        return self.process.returncode, out, err


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory, trained: Path) -> Iterator[dict[str, Launched]]:
    """Every subprocess case, started at once: each spends seconds importing torch, so they overlap.

    Each runs ``python -m seqtk ...`` in its own folder as a user would type it, without
    the developer's SEQTK_* settings; any still running at the end are killed.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQTK_")}
    started: dict[str, Launched] = {}
    try:
        for case in CASES:
            if case.subprocess:
                tmp = tmp_path_factory.mktemp(case.id)
                argv = prepare(case, tmp, trained)
                process = subprocess.Popen(
                    [*SEQTK_COMMAND, *argv], cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                started[case.id] = Launched(tmp, snapshot(tmp), process)
        yield started
    finally:
        for job in started.values():
            if job.process.poll() is None:
                job.process.kill()
                job.process.communicate()


def check(case: Case, tmp: Path, code: int, out: str, err: str, before: dict[str, bytes | None]) -> None:
    assert code == 2, f"exit code {code}, expected 2; stderr: {err}"
    assert out == "", f"stdout should be empty: {out!r}"
    message = err.strip()
    assert message, "nothing on stderr"
    assert "\n\n" not in message, f"stderr is not one paragraph:\n{err}"
    assert "Traceback" not in err and 'File "' not in err, f"a traceback reached the user:\n{err}"
    offending = case.file.replace("{tmp}", str(tmp))
    assert offending in err, f"the message does not name {offending}:\n{err}"
    for expected in (case.where, *case.also):
        if expected is not None:
            assert expected.replace("{tmp}", str(tmp)) in err, f"{expected!r} missing from:\n{err}"
    if case.marker:
        assert not (tmp / case.marker).exists(), "a hostile payload ran"
    after = snapshot(tmp)
    assert sorted(after) == sorted(before), f"files appeared or vanished: {sorted(set(after) ^ set(before))}"
    changed = [name for name in after if after[name] != before[name]]
    assert not changed, f"files changed: {changed}"
    assert not list(tmp.rglob("*.tmp")), "a temporary file was left behind"
    if "run" not in case.files:
        assert not (tmp / "run").exists(), "a failed run left a run directory"


def params(cases: list[Case]) -> Iterator[Any]:
    for case in cases:
        marks = [pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else []
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", list(params(CASES)))
def test_bad_input_is_refused_cleanly(
    case: Case,
    tmp_path: Path,
    trained: Path,
    launched: dict[str, Launched],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if case.subprocess:
        job = launched[case.id]
        code, out, err = job.result()
        check(case, job.tmp, code, out, err, job.before)
        return
    monkeypatch.chdir(tmp_path)  # relative paths of a recipe (output: {dir: run}) stay in the case's folder
    argv = prepare(case, tmp_path, trained)
    before = snapshot(tmp_path)
    code, out, err = in_process(argv, capsys)
    check(case, tmp_path, code, out, err, before)


# --------------------------------------------------------------------------- the corpus itself


def test_the_corpus_covers_every_category() -> None:
    counts = {kind: sum(c.kind == kind for c in CASES) for kind in ("recipe", "data", "checkpoint")}
    assert counts["recipe"] >= 18 and counts["data"] >= 14 and counts["checkpoint"] >= 6, counts
    assert len(CASES) >= 45
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
    assert sum(c.subprocess for c in CASES) >= 5
    data = [c.id.split("-")[0] for c in CASES if c.kind == "data"]
    assert {prefix: data.count(prefix) >= 3 for prefix in ("text", "csv", "midi")} == {"text": True, "csv": True, "midi": True}, data


@pytest.mark.parametrize(
    ("base", "files"),
    [(TEXT, GOOD_TEXT), (TIMESERIES, GOOD_PRICES), (MUSIC, {"midi": midi_pieces(4)})],
    ids=["text", "timeseries", "music"],
)
def test_the_data_recipes_run_with_good_files(
    base: dict[str, Any], files: dict[str, Writer], tmp_path: Path, trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The data cases' recipes are valid: with good files they train, so exit 2 comes from the bad file alone."""
    argv = prepare(Case("good", "data", {"recipe.yaml": recipe(base), **files}, RUN, "", None), tmp_path, trained)
    code, out, err = in_process(argv, capsys)
    assert code == 0, err
    assert (tmp_path / "run" / "checkpoints" / "step-00000001.pt").is_file()


def test_minimal_recipe_is_valid_and_resumable(tmp_path: Path, trained: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The recipe cases break MINIMAL_YAML one line at a time; unbroken, it validates and its run resumes to the end."""
    monkeypatch.chdir(tmp_path)
    argv = prepare(C("good", {}, RESUME, None), tmp_path, trained)
    assert in_process(["validate", argv[2]], capsys)[0] == 0
    code, out, err = in_process(argv, capsys)
    assert code == 0, err
