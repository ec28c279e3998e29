"""Check plain YAML values against Python type hints, with messages a user can act on.

Shared by the recipe schema and by the registry's check of component parameters, so
that ``batch_size: "64"`` and ``params: {hidden_dim: "64"}`` get the same kind of error.
"""

from __future__ import annotations

import collections.abc
import difflib
import math
import types
import typing
from typing import Annotated, Any, Iterable, Literal, Union

_NONE = type(None)


def describe(hint: Any) -> str:
    """A short English name for a type hint ("an integer", "one of 'a', 'b'")."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return "any value"
    if origin is Annotated:  # a declaration (seqtk.core.params): "an integer >= 1"
        base, *extras = typing.get_args(hint)
        bounds = [extra.describe() for extra in extras if callable(getattr(extra, "describe", None))]
        return " ".join([describe(base), *bounds])
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not _NONE]
        text = " or ".join(describe(a) for a in args)
        return text + (" or null" if len(args) < len(typing.get_args(hint)) else "")
    if origin in (list, tuple, collections.abc.Sequence) or hint in (list, tuple):
        items = typing.get_args(hint)
        if not items:
            return "a list"
        item, bounds = items[0], ""
        if typing.get_origin(item) is Annotated:  # "a list of integers >= 1"
            bounds = describe(item)[len(describe(typing.get_args(item)[0])):]
            item = typing.get_args(item)[0]
        inner = describe(item)
        return f"a list of {inner.removeprefix('an ').removeprefix('a ')}s{bounds}"
    if origin is dict or hint is dict:
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def check(value: Any, hint: Any) -> str | None:
    """Return None if ``value`` fits ``hint``, else "expected X, got Y".

    Unknown or complex hints (classes, callables) pass: the signature check is a first
    line of defence, and the component's own constructor remains the authority.
    """
    if hint is Any or hint is typing.Any:
        return None
    origin = typing.get_origin(hint)
    if origin is Annotated:
        return _check_annotated(value, hint)
    ok: bool
    if origin in (Union, types.UnionType):
        if any(check(value, arg) is None for arg in typing.get_args(hint)):
            return None
        declared = [a for a in typing.get_args(hint) if typing.get_origin(a) is Annotated]
        if len(declared) == 1 and all(a is _NONE or a is declared[0] for a in typing.get_args(hint)):
            return check(value, declared[0])  # `Annotated[int, Range(1)] | None`: name the bound
        ok = False
    elif hint is _NONE or hint is None:
        ok = value is None
    elif hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        # NaN and infinity pass every comparison with a limit (`lr: .nan` is not "<= 0"),
        # then poison training: no setting of seqtk takes them.
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and math.isfinite(value))
    elif hint is str:
        ok = isinstance(value, str)
    elif origin is Literal:
        ok = value in typing.get_args(hint)
    elif origin in (list, tuple, collections.abc.Sequence) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            ok = False
        else:
            args = [a for a in typing.get_args(hint) if a is not Ellipsis]
            if origin is tuple and args and Ellipsis not in typing.get_args(hint):
                if len(value) != len(args):
                    return f"expected {len(args)} items, got {len(value)}"
                pairs: Iterable[tuple[Any, Any]] = zip(value, args)
            else:
                pairs = ((v, args[0]) for v in value) if args else iter(())
            for item, item_hint in pairs:
                problem = check(item, item_hint)
                if problem is not None:
                    if typing.get_origin(item_hint) is Annotated:
                        return f"every item {problem}"
                    return f"expected {describe(hint)}, got an item {item!r}"
            ok = True
    elif origin is dict or hint is dict:
        ok = isinstance(value, dict)
    else:
        return None
    if ok:
        return None
    if isinstance(value, float) and not math.isfinite(value) and "a number" in describe(hint):
        return f"expected {describe(hint).replace('a number', 'a finite number')}, got {value!r} (NaN and infinity are not accepted)"
    shown = f" {value!r}" if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
    return f"expected {describe(hint)}, got {_type_name(value)}{shown}{suggestion(value, hint)}"


def _check_annotated(value: Any, hint: Any) -> str | None:
    """``Annotated[base, marker, ...]``: the base type first, then each marker with
    ``check_value`` (a :class:`seqtk.core.params.Range`), whose message names the bound
    ("must be an integer >= 1, got 0"); other metadata is ignored."""
    base, *extras = typing.get_args(hint)
    wrong_type = check(value, base)
    if wrong_type is not None:  # reads like every other type error: "expected an integer, got a string 'big'"
        return wrong_type
    for extra in extras:
        message = extra.check_value(value, base) if callable(getattr(extra, "check_value", None)) else None
        if message:
            return message
    return None


def suggestion(value: Any, hint: Any) -> str:
    """" (did you mean 'linear'?)" for a string close to one of a Literal's choices."""
    if not isinstance(value, str):
        return ""
    choices = [str(c) for c in _literal_choices(hint)]
    close = difflib.get_close_matches(value, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _literal_choices(hint: Any) -> list[Any]:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return [c for c in typing.get_args(hint) if isinstance(c, str)]
    if origin is Annotated:
        return _literal_choices(typing.get_args(hint)[0])
    if origin in (Union, types.UnionType):
        return [c for a in typing.get_args(hint) for c in _literal_choices(a)]
    return []
