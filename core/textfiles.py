"""Reading a user's text file as UTF-8, with an error that says where the bad byte is.

Recipes, text corpora and CSV tables are all files a user edits or exports, and a stray
Latin-1 ``é`` or a UTF-16 export is a common reason they fail to load. "not UTF-8" alone
sends the user hunting through the file; the line and the byte within it do not.
:func:`decode_utf8` finds that place once for every reader, and :func:`read_utf8` adds
the checks every data file needs (missing, a folder, unreadable).
"""

from __future__ import annotations

import codecs
from pathlib import Path

from seqtk.core.errors import DataError

__all__ = ["NotUtf8Error", "decode_utf8", "read_utf8"]

_NPY_MAGIC = b"\x93NUMPY"


class NotUtf8Error(ValueError):
    """Bytes that are not UTF-8, located: ``line`` (1-based), ``column`` (1-based byte of that line), ``offset`` in the file."""

    def __init__(self, data: bytes, offset: int, reason: str) -> None:
        self.offset = offset
        self.line = data.count(b"\n", 0, offset) + 1
        self.column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        self.byte = data[offset : offset + 1]
        self.reason = reason
        #: What the file seems to be instead, when its first bytes say so: "UTF-16", "NumPy" or "".
        self.looks_like = _looks_like(data)
        super().__init__(f"line {self.line}: byte {self.column} of the line (offset {offset}) is not valid UTF-8 ({reason}: {self.byte!r})")


def decode_utf8(data: bytes, *, drop_bom: bool = True) -> str:
    """``data`` as text; a UTF-8 byte-order mark at the start is dropped unless ``drop_bom`` is False.

    Raises :class:`NotUtf8Error` at the first byte that is not UTF-8, its offset counted in
    ``data`` (the mark included), so line and column agree with any editor.
    """
    start = len(codecs.BOM_UTF8) if drop_bom and data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8Error(data, start + exc.start, exc.reason) from None


def read_utf8(path: Path, label: str, expected: str) -> str:
    """The text of the file ``path``; a ``DataError`` starting with ``label`` when it cannot be had.

    ``expected`` completes "expected ..." for a missing path or a folder (for example "a
    CSV file with a header line"). Undecodable bytes are reported by line and byte with
    a hint to re-save the file as UTF-8.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{label}: does not exist; expected {expected}")
    if not path.is_file():
        raise DataError(f"{label}: is not a file; expected {expected}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    try:
        return decode_utf8(data)
    except NotUtf8Error as exc:
        hint = {"UTF-16": " (it looks like UTF-16)", "NumPy": " (it looks like a NumPy array: give it a .npy suffix)"}.get(exc.looks_like, "")
        raise DataError(f"{label}: {exc}; expected UTF-8 text, re-save the file as UTF-8{hint}") from None


def _looks_like(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16"
    if data.startswith(_NPY_MAGIC):
        return "NumPy"
    return ""
