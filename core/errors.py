"""Error types that the CLI turns into one clear paragraph and exit code 2.

Anything a user can fix (a recipe, a data file, a checkpoint, a plugin) raises a
``SeqtkError`` subclass; the CLI prints its message without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from typing import Iterable, Sequence


class SeqtkError(Exception):
    """Base of every error the user is expected to read and fix."""

    exit_code = 2
    #: Under torchrun every rank raises this same error, so only rank 0 prints it.
    reported_by_rank_zero = False


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a recipe, located by key path (and line, when known)."""

    path: str
    message: str
    line: int | None = None

    def render(self, source: str) -> str:
        where = f"{source}: {self.path}: " if self.path else f"{source}: "
        line = f" (line {self.line})" if self.line else ""
        return f"{where}{self.message}{line}"


class RecipeError(SeqtkError):
    """A recipe that cannot run; lists every problem found, each on its own line."""

    def __init__(self, source: str, problems: Sequence[Problem]):
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(p.render(source) for p in self.problems))


class RegistryError(SeqtkError):
    """A registry fragment or lookup that cannot be honoured."""


class UnknownNameError(RegistryError, KeyError):
    """An unknown component name; says which names are close and which exist."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]):
        self.kind, self.name = kind, name
        self.valid = sorted(valid)
        super().__init__(unknown_name_message(kind, name, self.valid))

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]


class ClashedNameError(UnknownNameError):
    """A name that two or more plugins registered: seqtk refuses to pick one.

    A subclass of ``UnknownNameError`` because both mean "this name resolves to no single
    component", so every place that reports an unknown name as a recipe error (at its
    key path and line) reports a clash the same way, at ``seqtk validate`` and at run.
    """

    def __init__(self, kind: str, name: str, message: str, valid: Iterable[str] = ()):
        self.kind, self.name = kind, name
        self.valid = sorted(valid)
        RegistryError.__init__(self, message)


class CheckpointError(SeqtkError):
    """A checkpoint that is missing, corrupt, unsafe or belongs to another recipe."""


class DataError(SeqtkError):
    """A data file or dataset that a domain cannot use."""


class FailedOnAnotherRank(SeqtkError):
    """Rank 0 refused something (a run directory, a checkpoint) and printed why; other ranks stop quietly."""

    reported_by_rank_zero = True

    def __init__(self, exit_code: int) -> None:
        super().__init__("rank 0 stopped the run")
        self.exit_code = exit_code


class TrainingError(SeqtkError):
    """Training stopped on purpose (for example a NaN loss); the last checkpoint is intact."""

    exit_code = 1


def unknown_name_message(kind: str, name: object, valid: Sequence[str]) -> str:
    """Return "unknown X 'y' (did you mean 'z'?); valid: ..." for any lookup table."""
    label = kind[:-1] if kind.endswith("s") else kind
    close = get_close_matches(str(name), valid, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    listing = ", ".join(valid) if valid else "none installed"
    return f"unknown {label} {name!r}{hint}; valid: {listing}"
