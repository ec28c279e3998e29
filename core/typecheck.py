"""Check plain YAML values against Python type hints, with messages a user can act on.

Shared by the recipe schema and by the registry's check of component parameters, so
that ``batch_size: "64"`` and ``params: {hidden_dim: "64"}`` get the same kind of error.
"""

from __future__ import annotations

import collections.abc
import math
import types
import typing
from typing import Any, Iterable, Literal, Union

_NONE = type(None)


def describe(hint: Any) -> str:
    """A short English name for a type hint ("an integer", "one of 'a', 'b'")."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return "any value"
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
        inner = describe(items[0]) if items else "values"
        return f"a list of {inner.removeprefix('an ').removeprefix('a ')}s" if items else "a list"
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
    ok: bool
    if origin in (Union, types.UnionType):
        if any(check(value, arg) is None for arg in typing.get_args(hint)):
            return None
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
                if check(item, item_hint) is not None:
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
    return f"expected {describe(hint)}, got {_type_name(value)}{shown}"
