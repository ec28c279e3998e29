"""The built-in ``tensorboard`` callback: a run as TensorBoard sees it.

Enabled by ``callbacks.tensorboard.enabled`` in a recipe, offered by the built-in plugin's
``seqtk_callbacks`` like seqtk's other callbacks. It writes, into
``callbacks.tensorboard.log_dir`` (default ``RUN_DIR/tensorboard``):

- every loss metrics.jsonl logs (the same means at the same steps, tags ``loss/NAME``) and
  every evaluated value (``eval/NAME``) as scalars;
- the pictures of each evaluation (``samples/step-N-*.png``: time-series grids and PCA,
  piano rolls) as images (``samples/grid``, ...), and the first lines of a text sample file
  (``samples/step-N.txt``) as text, so it runs after the ``samples`` callback;
- the resolved recipe as hyperparameters (flattened key paths) and as text.

Resume. Steps up to the checkpoint resumed from are on disk (the writer is flushed with
every checkpoint); the resumed session opens a new event file in the same folder whose
first event asks readers to drop anything logged from the next step on (TensorBoard's
``purge_step``), so steps trained again after a crash are not shown twice. A fresh run
purges from step 0, so a run started again with ``--overwrite`` shows only itself.

``torch.utils.tensorboard`` needs the ``tensorboard`` package (the extra of that name);
``seqtk validate`` says so when a recipe enables it without the package
(:func:`missing_package_problem`). PNGs are passed to TensorBoard still encoded (their size
read from the header), so no image library is needed.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import time
from pathlib import Path
from typing import Any, Mapping

from seqtk.core.callbacks import Callback, Run
from seqtk.core.compare import flatten  # recipe key paths, as compare shows their differences
from seqtk.core.errors import Problem

NAME = "tensorboard"
INSTALL_HINT = "pip install 'seqtk[tensorboard]'"
#: Lines of a text sample file shown per evaluation.
TEXT_LINES = 8
#: PNG colour type -> channels (TensorBoard's ``colorspace``).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


def missing_package_problem(recipe: Any) -> Problem | None:
    """A recipe problem when the recipe enables TensorBoard but the package is not installed."""
    if not recipe.data.callbacks.tensorboard.enabled or importlib.util.find_spec("tensorboard") is not None:
        return None
    return Problem("callbacks.tensorboard.enabled", f"needs the tensorboard package, which is not installed: {INSTALL_HINT}")


def hparam_value(value: Any) -> bool | int | float | str:
    """What TensorBoard's hyperparameter table can hold: numbers and strings (null and lists as their JSON text)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)


def png_size(data: bytes) -> tuple[int, int, int]:
    """(height, width, channels) from a PNG's header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return height, width, _PNG_CHANNELS.get(data[25], 3)


def _wait_for_a_later_second(log_dir: Path) -> None:
    """Readers take a folder's event files in name order, and a name starts with the second it was made.

    A purge must come after the events it drops, so a new file must sort after every file
    already there: when one was made this very second (a run resumed at once, in tests), wait
    for the next. Within one second names would sort by process id, which proves nothing.
    """
    stamps = [int(parts[3]) for path in log_dir.glob("events.out.tfevents.*") if len(parts := path.name.split(".")) > 3 and parts[3].isdigit()]
    if stamps:
        latest = max(stamps)
        while int(time.time()) <= latest:
            time.sleep(0.05)


class TensorBoardLogger(Callback):
    """Losses, metrics, samples, pictures and the recipe as TensorBoard events (rank 0)."""

    name = NAME

    def __init__(self, log_dir: str | Path | None, every: int) -> None:
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.every = every
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.writer: Any = None
        self._hparams_written = False

    def setup(self, run: Run) -> None:
        super().setup(run)
        if self.log_dir is None:
            self.log_dir = run.run_dir / "tensorboard"

    def on_run_start(self, run_dir: Path, recipe: Any) -> None:
        if not self.run.resuming:
            self._open(purge_step=0)

    def on_resume(self, checkpoint: Mapping[str, Any]) -> None:
        saved = (checkpoint.get("callbacks") or {}).get(NAME)
        if saved is not None:  # absent when TensorBoard was enabled only now: the first logged means may then cover fewer steps
            self.sums, self.counts = dict(saved["sums"]), dict(saved["counts"])
        self._open(purge_step=int(checkpoint["step"]) + 1)

    def _open(self, purge_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        assert self.log_dir is not None
        _wait_for_a_later_second(self.log_dir)
        self.writer = SummaryWriter(str(self.log_dir), purge_step=purge_step)

    def on_step(self, step: int, logs: Mapping[str, float]) -> None:
        if self.writer is None:  # a resume that restored no checkpoint through on_resume: drop nothing before this step
            self._open(purge_step=step)
        # The same means at the same steps as metrics.jsonl (``MetricsLogger``).
        for key, value in logs.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
            self.counts[key] = self.counts.get(key, 0) + 1
        if step % self.every == 0 or step == self.run.total_steps:
            for key in self.sums:
                self.writer.add_scalar(f"loss/{key}", self.sums[key] / self.counts[key], step)
            self.sums, self.counts = {}, {}

    def on_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        if self.writer is None:
            self._open(purge_step=step)
        evaluation = self.run.evaluation
        values = {**evaluation.metrics, **evaluation.discrimination} if evaluation is not None else dict(metrics)
        if not self._hparams_written:
            self._write_recipe(sorted(values))
        for key, value in values.items():
            self.writer.add_scalar(f"eval/{key}", float(value), step)
        if evaluation is not None and evaluation.warnings:
            self.writer.add_text("warnings", "\n\n".join(evaluation.warnings), step)
        self._write_samples(step)

    def _write_recipe(self, metric_names: list[str]) -> None:
        """The resolved recipe: hyperparameters (flattened key paths) linked to the eval scalars, and the YAML as text."""
        import yaml
        from torch.utils.tensorboard.summary import hparams

        data = self.run.recipe.to_dict()
        experiment, start, end = hparams({k: hparam_value(v) for k, v in flatten(data).items()}, {f"eval/{m}": 0.0 for m in metric_names})
        for summary in (experiment, start, end):
            self.writer.file_writer.add_summary(summary)
        text = yaml.safe_dump(data, sort_keys=False)
        self.writer.add_text("recipe", "".join(f"    {line}\n" for line in text.splitlines()), 0)
        self._hparams_written = True

    def _write_samples(self, step: int) -> None:
        """What the ``samples`` callback wrote for this evaluation: its pictures as images, a text file's first lines as text."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        stem = f"step-{step:08d}"
        folder = self.run.run_dir / "samples"
        for path in sorted(folder.glob(f"{stem}-*.png")):
            data = path.read_bytes()
            try:
                height, width, channels = png_size(data)
            except ValueError:
                continue
            image = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=data)
            tag = "samples/" + path.stem[len(stem) + 1 :]
            self.writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)
        text = folder / f"{stem}.txt"
        if text.is_file():
            lines = text.read_text(encoding="utf-8").splitlines()[:TEXT_LINES]
            # Indented: TensorBoard renders text as Markdown, and a code block shows a sample exactly.
            self.writer.add_text("samples", "".join(f"    {line}\n" for line in lines), step)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Everything up to this step must be on disk: a resume from this checkpoint does not log it again.
        checkpoint.setdefault("callbacks", {})[NAME] = {"sums": dict(self.sums), "counts": dict(self.counts)}
        if self.writer is not None:
            self.writer.flush()

    def on_run_end(self, run_dir: Path, metrics: Mapping[str, float]) -> None:
        if self.writer is not None:
            self.writer.flush()

    def teardown(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
