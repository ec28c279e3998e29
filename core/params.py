"""Parameters declared once, on the constructor, and checked before anything is built.

A plugin states the bounds and choices of its parameters in its signature::

    def __init__(
        self,
        spec: DomainSpec,
        hidden_dim: Annotated[int, Range(1)] = 128,
        dropout: Annotated[float, Range(0, 1, max_open=True)] = 0.0,
        schedule: Literal["constant", "linear"] = "constant",
        bidirectional: bool = False,
    ) -> None: ...

Why one declaration: the registry reads it from the signature (through
:mod:`seqtk.core.typecheck`) and reports a bad value at ``seqtk validate`` as
``file: generator.params.hidden_dim: must be an integer >= 1, got 0 (line N)``, before a
tensor exists; :func:`checked` enforces the same declaration when the class is built
from Python, so a plugin no longer hand-writes the check a second time. Rules that
involve two parameters or the domain's spec stay in the constructor as ``ValueError``.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, TypeVar, Union

__all__ = [
    "Range", "checked", "declared_problems",
    "PositiveInt", "NonNegativeInt", "PositiveFloat", "NonNegativeFloat", "Dropout", "OpenFraction",
]

_C = TypeVar("_C", bound=type)


@dataclass(frozen=True)
class Range:
    """A numeric bound: ``Range(1)`` is ">= 1"; ``Range(0, 1, max_open=True)`` is "in [0, 1)".

    Used as ``Annotated[int, Range(...)]`` or ``Annotated[float, Range(...)]``. A float
    parameter also refuses NaN and infinity (as every seqtk setting does).
    """

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    #: Why the bound, shown after it: ``Range(2, note="the supervisor has one layer fewer")``.
    note: str = ""

    def describe(self) -> str:
        """The bound in words: ">= 1", "> 0", "<= 10" or "in [0, 1)"."""
        if self.min is not None and self.max is not None:
            return f"in {'(' if self.min_open else '['}{_num(self.min)}, {_num(self.max)}{')' if self.max_open else ']'}"
        if self.min is not None:
            return f"{'>' if self.min_open else '>='} {_num(self.min)}"
        if self.max is not None:
            return f"{'<' if self.max_open else '<='} {_num(self.max)}"
        return ""

    def check_value(self, value: Any, base: Any) -> str | None:
        """None when ``value`` is of ``base`` (int or float) and within the bound, else "must be ..."."""
        is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)  # numpy integers too, from Python
        if base is int:
            ok, noun = is_int, "an integer"
        else:
            ok = is_int or (isinstance(value, float) and math.isfinite(value))
            noun = "a finite number" if self.min is None or self.max is None else "a number"
        if ok:
            ok = (
                (self.min is None or (value > self.min if self.min_open else value >= self.min))
                and (self.max is None or (value < self.max if self.max_open else value <= self.max))
            )
        if ok:
            return None
        bound = f" {self.describe()}" if self.describe() else ""
        why = f" ({self.note})" if self.note else ""
        return f"must be {noun}{bound}{why}, got {value!r}"


#: The declarations most constructors need, named once.
PositiveInt = Annotated[int, Range(1)]
NonNegativeInt = Annotated[int, Range(0)]
PositiveFloat = Annotated[float, Range(0, min_open=True)]
NonNegativeFloat = Annotated[float, Range(0)]
Dropout = Annotated[float, Range(0, 1, max_open=True)]
#: A share strictly between 0 and 1 (a test fraction).
OpenFraction = Annotated[float, Range(0, 1, min_open=True, max_open=True)]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _is_declared(hint: Any) -> bool:
    """Whether ``hint`` carries a declaration worth enforcing at construction from Python."""
    origin = typing.get_origin(hint)
    if hint is bool or origin in (Annotated, Literal):
        return True
    if origin in (Union, types.UnionType):
        return any(_is_declared(a) for a in typing.get_args(hint))
    return False


@functools.lru_cache(maxsize=512)
def _declared_hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception:  # unresolvable annotations: nothing to enforce
        return {}
    return {name: hint for name, hint in hints.items() if name != "return" and _is_declared(hint)}


def declared_problems(function: Callable[..., Any], arguments: typing.Mapping[str, Any]) -> list[tuple[str, str]]:
    """(parameter, message) for every argument that breaks ``function``'s declarations."""
    from seqtk.core import typecheck  # typecheck imports nothing from here: no cycle at import

    hints = _declared_hints(function)
    problems = []
    for name, value in arguments.items():
        if name in hints:
            hint = hints[name]
            if hint is bool:  # the wording constructors have always used
                message = None if isinstance(value, bool) else f"must be true or false, got {value!r}"
            elif typing.get_origin(hint) is Literal:
                choices = typing.get_args(hint)
                message = None if value in choices and not isinstance(value, bool) else (
                    f"must be one of {', '.join(map(repr, choices))}, got {value!r}{typecheck.suggestion(value, hint)}"
                )
            else:
                message = _bound_message(value, hint) if _has_range(hint) else typecheck.check(value, hint)
            if message:
                problems.append((name, message))
    return problems


def _has_range(hint: Any) -> bool:
    """``Annotated[..., Range]`` or ``Annotated[..., Range] | None``."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return len(args) == 1 and _has_range(args[0])
    return typing.get_origin(hint) is Annotated and any(isinstance(e, Range) for e in typing.get_args(hint)[1:])


def _bound_message(value: Any, hint: Any) -> str | None:
    """From Python, a bound's own words even for a wrong type ("must be an integer >= 1, got '64'"),
    as constructors have always said; ``Annotated[...] | None`` too, for a value that is not None."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        declared = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(declared) == 1:
            hint, origin = declared[0], typing.get_origin(declared[0])
    if origin is not Annotated:
        return None
    base, *extras = typing.get_args(hint)
    for extra in extras:
        message = extra.check_value(value, base) if isinstance(extra, Range) else None
        if message:
            return message
    return None


def checked(label: str | Callable[[Any], str] | None = None) -> Callable[[_C], _C]:
    """Class decorator: enforce the constructor's declarations when built from Python too.

    The registry has already checked a recipe's params; this covers direct use
    (``GRUDiscriminator(spec, hidden_dim=0)``) with the same message, raised as the
    ``ValueError`` a constructor has always raised. ``label`` prefixes the message
    ("gru discriminator"); a callable gets the instance, for a base class shared by
    several components; the default is the class name.
    """

    def decorate(cls: _C) -> _C:
        init = cls.__init__
        signature = inspect.signature(init)

        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError:
                init(self, *args, **kwargs)  # let Python report the wrong call
                return
            problems = declared_problems(init, bound.arguments)
            if problems:
                name, message = problems[0]
                prefix = label(self) if callable(label) else (label or type(self).__name__)
                joiner = ": " if message.startswith("expected") else " "
                raise ValueError(f"{prefix}: {name}{joiner}{message}")
            init(self, *args, **kwargs)

        cls.__init__ = __init__  # type: ignore[misc]
        return cls

    return decorate

