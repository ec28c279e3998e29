"""Safe checkpoints.

A checkpoint is written atomically (``seqtk.core.atomic``): a crash at any moment
leaves either the old file or the new one, never half of one. Loading uses ``torch.load(weights_only=True)``, which refuses pickled code,
and every state (RNGs included) is stored as tensors, numbers, strings and containers.
"""

from __future__ import annotations

import io
import json
import pickle
import random
import re
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch

from seqtk.core.atomic import atomic_write_bytes, atomic_write_text
from seqtk.core.errors import CheckpointError

#: Bumped when the layout of a checkpoint changes; newer files are refused clearly.
FORMAT_VERSION = 1
#: What ``seqtk sample`` reads from a run's checkpoint (``load_checkpoint(path, required=SAMPLE_KEYS)``).
SAMPLE_KEYS = ("step", "recipe", "domain", "generator")
_NAME = re.compile(r"^step-(\d{8,})\.pt$")
#: Every file torch.save writes (its zip format) starts with these bytes.
_ZIP_MAGIC = b"PK\x03\x04"


# --------------------------------------------------------------------------- checkpoints


def checkpoint_path(directory: Path, step: int) -> Path:
    return directory / f"step-{step:08d}.pt"


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """Checkpoints in ``directory`` as (step, path), oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save({"format": FORMAT_VERSION, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, *, required: Iterable[str] = ()) -> dict[str, Any]:
    """Load a checkpoint without executing anything it contains.

    ``required`` names entries the caller reads (``SAMPLE_KEYS``); a file without them is
    refused here, naming it, rather than failing later with a bare ``KeyError``.
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_ZIP_MAGIC))
    except OSError as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc.strerror or exc})") from None
    if not head:
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint: the file is empty (0 bytes)")
    if head != _ZIP_MAGIC:
        # seqtk writes torch's zip format only: anything else (a bare pickle, a text file,
        # random bytes) never reaches an unpickler, however restricted.
        raise CheckpointError(
            f"{path}: not a seqtk checkpoint: a checkpoint is a zip archive written by torch.save (it starts with "
            f"{_ZIP_MAGIC!r}), this file starts with {head!r}"
        )
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols are not the user's business
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused: it holds Python objects beyond tensors and plain data{_named_global(exc)}, which could run "
            "code when loaded; seqtk never loads such files: use a checkpoint written by 'seqtk run'"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError) as exc:
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint ({_first_sentence(exc)})") from None
    if not isinstance(state, dict) or "format" not in state:
        raise CheckpointError(f"{path}: not a seqtk checkpoint (no 'format' key)")
    if isinstance(state["format"], bool) or not isinstance(state["format"], int):
        raise CheckpointError(f"{path}: not a seqtk checkpoint (its format {state['format']!r} is not a version number)")
    if state["format"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by a newer seqtk (checkpoint format {state['format']!r}; this seqtk reads {FORMAT_VERSION}): upgrade seqtk"
        )
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(
            f"{path}: not a complete seqtk run checkpoint: it lacks {', '.join(map(repr, missing))} "
            "(written by another program, or edited?); use a checkpoint that 'seqtk run' wrote"
        )
    return state


def _named_global(exc: BaseException) -> str:
    """" (here: pathlib.Path.touch)" from torch's refusal, which names the first object it would have built."""
    match = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    return f" (here: {match.group(1)})" if match else ""


def _first_sentence(exc: BaseException) -> str:
    """The first sentence of an exception's first line: torch's own messages go on for a paragraph."""
    line = next((part.strip() for part in str(exc).splitlines() if part.strip()), "")
    sentence = line.split(". ", 1)[0].rstrip(".")
    return f"{type(exc).__name__}: {sentence}" if sentence else type(exc).__name__


def load_weights(module: torch.nn.Module, weights: Any, path: Path, what: str) -> None:
    """Load ``weights`` (a checkpoint entry) into ``module``; ``CheckpointError`` naming ``path`` if they do not fit.

    ``torch``'s own error is a multi-line ``RuntimeError``; its first specific line (the first
    missing key or size mismatch) is kept so the user sees which tensor differs.
    """
    if not isinstance(weights, Mapping):
        raise CheckpointError(f"{path}: its {what} entry is {type(weights).__name__}, not a mapping of tensors; the checkpoint is damaged")
    try:
        module.load_state_dict(weights)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else type(exc).__name__
        raise CheckpointError(
            f"{path}: its {what} weights do not fit the {what} this recipe builds ({detail.rstrip('.')}); "
            "the checkpoint belongs to another recipe or was edited"
        ) from None


def recipe_differences(saved: Any, current: Mapping[str, Any], ignore: Iterable[str] = (), limit: int = 5) -> list[str]:
    """``"key.path: X in the checkpoint, Y now"`` for each setting that differs, ``ignore``d paths (and below) left out.

    Lets a refused ``--resume`` say *which* setting changed instead of only that one did.
    """
    skipped = tuple(ignore)
    old, new = _flatten(saved if isinstance(saved, Mapping) else {}), _flatten(current)
    found = []
    for key in sorted(set(old) | set(new)):
        if any(key == path or key.startswith(path + ".") for path in skipped):
            continue
        if old.get(key, _ABSENT) != new.get(key, _ABSENT):
            found.append(f"{key}: {_shown(old.get(key, _ABSENT))} in the checkpoint, {_shown(new.get(key, _ABSENT))} now")
    return found[:limit] + ([f"and {len(found) - limit} more"] if len(found) > limit else [])


_ABSENT = object()


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, Mapping) and item:
            flat.update(_flatten(item, path))
        else:
            flat[path] = list(item) if isinstance(item, tuple) else item
    return flat


def _shown(value: Any) -> str:
    return "absent" if value is _ABSENT else repr(value)


def prune_checkpoints(directory: Path, keep: int, protect: Iterable[Path] = ()) -> None:
    """Delete all but the newest ``keep`` checkpoints, sparing ``protect`` (the best one)."""
    spared = {Path(path).name for path in protect}
    for _, path in list_checkpoints(directory)[:-keep]:
        if path.name not in spared:
            path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the best checkpoint

#: Beside the checkpoints: which one is the run's best (``output.keep_best``), as JSON.
BEST_FILE = "best.json"
_BEST_KEYS = ("metric", "mode", "value", "step", "file")
_SELECTOR = re.compile(r"^(?P<run>.+)@(?P<which>best|\d+)$")


def improves(value: float, best: Mapping[str, Any] | None, mode: str) -> bool:
    """Whether ``value`` beats the best so far (strictly: a tie keeps the earlier step); NaN never does."""
    if not np.isfinite(value):
        return False
    if best is None:
        return True
    return value < best["value"] if mode == "min" else value > best["value"]


def write_best_record(directory: Path, record: Mapping[str, Any]) -> None:
    """Point ``best.json`` at ``record["file"]``, atomically (the trainer writes that checkpoint first)."""
    atomic_write_text(directory / BEST_FILE, json.dumps(dict(record), indent=2) + "\n")


def read_best_record(directory: Path) -> dict[str, Any] | None:
    """``best.json`` of a checkpoint folder, or None when the run kept no best."""
    path = directory / BEST_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable ({_first_sentence(exc)}); it is rewritten at the run's next best evaluation") from None
    if not isinstance(record, dict) or any(key not in record for key in _BEST_KEYS):
        raise CheckpointError(f"{path}: not a best-checkpoint record (expected the keys {', '.join(_BEST_KEYS)})")
    return record


def split_selector(text: str) -> tuple[Path, str | int]:
    """``"RUN@best"`` -> (RUN, "best"), ``"RUN@40"`` -> (RUN, 40), anything else (or an existing path) -> (path, "last")."""
    match = _SELECTOR.match(text)
    if match is None or Path(text).exists():
        return Path(text), "last"
    which = match.group("which")
    return Path(match.group("run")), "best" if which == "best" else int(which)


def find_checkpoint(run_dir: Path, which: str | int = "last") -> Path:
    """The checkpoint of a run directory (or of its ``checkpoints/`` folder): ``"last"``, ``"best"`` or a step.

    Raises ``CheckpointError`` saying what the run holds instead.
    """
    directory = run_dir / "checkpoints" if (run_dir / "checkpoints").is_dir() else run_dir
    found = list_checkpoints(directory)
    if which == "best":
        record = read_best_record(directory)
        if record is None:
            raise CheckpointError(
                f"{run_dir}: the run kept no best checkpoint (no {BEST_FILE} in {directory}); set output.keep_best.metric "
                "in its recipe (e.g. output.keep_best: {metric: nll-test}) and run it again, or use its newest checkpoint"
            )
        path = directory / str(record["file"])
        if not path.is_file():
            raise CheckpointError(f"{directory / BEST_FILE}: names {record['file']}, which is missing (deleted by hand?)")
        return path
    if not found:
        raise CheckpointError(f"{run_dir} holds no checkpoint (expected a run directory or a .pt file)")
    if which == "last":
        return found[-1][1]
    steps = {step: path for step, path in found}
    if which not in steps:
        raise CheckpointError(f"{run_dir}: no checkpoint of step {which}; it holds steps {', '.join(str(s) for s in sorted(steps))}")
    return steps[int(which)]


# --------------------------------------------------------------------------- components' own state

#: What a component's ``state_dict`` may hold: what ``torch.load(weights_only=True)`` reads back.
PLAIN_TYPES = "tensors, numbers (int, float, bool), strings and None, in lists, tuples and dicts with str or int keys"


def plain_state(state: Any, owner: str) -> dict[str, Any]:
    """``state`` (a component's ``state_dict()``) as it is, once it is known to be plain data.

    A checkpoint is loaded with ``weights_only=True``, which refuses any other object; so
    anything else is refused here, when it is written, naming ``owner`` (``"objective
    'fisher' (pkg.module.Fisher)"``) and where in the state it sits, not when a resume
    cannot read the file back.
    """
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{owner}: state_dict() returned a {_type_name(state)}, not a dict; return {{}} when there is no state")
    _check_plain(state, owner, "state_dict()")
    return dict(state)


def _check_plain(value: Any, owner: str, where: str) -> None:
    # Exact types: a subclass (numpy.float64 is a float) would be pickled as its own class.
    if value is None or type(value) in (torch.Tensor, torch.nn.Parameter, bool, int, float, str):
        return
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        for index, item in enumerate(value):
            _check_plain(item, owner, f"{where}[{index}]")
        return
    if type(value) in (dict, OrderedDict):
        for key, item in value.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise CheckpointError(
                    f"{owner}: its state has a key {key!r} ({_type_name(key)}) at {where}; keys must be str or int so that "
                    "checkpoints load with torch.load(weights_only=True)"
                )
            _check_plain(item, owner, f"{where}[{key!r}]")
        return
    _refuse(value, owner, where)


def _refuse(value: Any, owner: str, where: str) -> None:
    raise CheckpointError(
        f"{owner}: its state holds a {_type_name(value)} at {where}; a checkpoint keeps only {PLAIN_TYPES}, so that it loads "
        "with torch.load(weights_only=True) and runs no code: convert it in state_dict() (torch.as_tensor, float, list) "
        "and back in load_state_dict()"
    )


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def capture_component_states(components: Mapping[str, tuple[str, Any]]) -> dict[str, dict[str, Any]]:
    """``key -> state`` of each component in ``key -> (label, component)``, each checked by :func:`plain_state`.

    Tensors are moved to the CPU: a component gets its state back as a resumed run reads it
    from a checkpoint (``map_location="cpu"``), whichever rank or device wrote it.
    """
    return {key: _on_cpu(plain_state(component.state_dict(), label)) for key, (label, component) in components.items()}


def _on_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(item) for item in value)
    if isinstance(value, dict):
        return type(value)((key, _on_cpu(item)) for key, item in value.items())
    return value


def restore_component_states(components: Mapping[str, tuple[str, Any]], saved: Any, source: str) -> None:
    """Hand each component the state ``saved`` holds for its key.

    A component with no entry (a checkpoint written before components kept state, a
    metric added to ``eval.metrics`` on resume) keeps the state it was built with; an entry
    whose component is gone (a metric dropped on resume) is ignored. ``source`` (a
    checkpoint's path) names where a state that does not fit came from.
    """
    if saved is None:
        return
    if not isinstance(saved, Mapping):
        raise CheckpointError(f"{source}: its components entry is a {_type_name(saved)}, not a mapping; the checkpoint is damaged")
    for key, (label, component) in components.items():
        if key not in saved:
            continue
        try:
            component.load_state_dict(saved[key])
        except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
            raise CheckpointError(f"{source}: the state it holds for {label} does not fit: {_first_sentence(exc)}") from None


# --------------------------------------------------------------------------- random states


def capture_rng_state() -> dict[str, Any]:
    """Every global random state, as plain data that ``weights_only`` loading accepts."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
