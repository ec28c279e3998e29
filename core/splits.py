"""``Domain.load(split)`` that reads a split on first use and keeps it: one mixin for every domain.

Domains read their data lazily: building one for ``seqtk validate`` or ``seqtk sample``
must not read (or download, or generate) a dataset it never uses, and ``load`` is called
once per epoch and per evaluation, so a split is read once and then kept. Every domain
had written that bookkeeping itself; :class:`LazySplits` is the one copy.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Mapping

from seqtk.core.interfaces import SequenceData

__all__ = ["SPLITS", "LazySplits"]

#: The splits a domain serves.
SPLITS: tuple[str, ...] = ("train", "test")


class LazySplits:
    """Mixin for a ``Domain``: ``load(split)`` calls :meth:`read_splits` the first time and keeps what it gives.

    A domain lists it before ``Domain`` (``class MyDomain(LazySplits, Domain)``) and
    implements :meth:`read_splits`. A domain that reads both splits in one pass (one file
    split by rows) returns both, and ``load`` never reads again; one with a file per
    split returns the split asked for. :meth:`keep_splits` stores splits obtained another
    way (``scoring_data`` builds a domain around data it already holds).
    """

    #: The domain's name at the start of errors, e.g. "text" in "text: split must be ...".
    split_label: ClassVar[str] = "domain"

    def load(self, split: Literal["train", "test"]) -> SequenceData:
        if split not in SPLITS:
            raise ValueError(f"{self.split_label}: split must be 'train' or 'test', got {split!r}")
        kept = self._kept_splits()
        if split not in kept:
            kept.update(self.read_splits(split))
        return kept[split]

    def read_splits(self, split: Literal["train", "test"]) -> Mapping[str, SequenceData]:
        """Read ``split``; return it, with any other split read in the same pass."""
        raise NotImplementedError(f"{type(self).__name__} must implement read_splits(split)")

    def keep_splits(self, splits: Mapping[str, SequenceData]) -> None:
        """Keep ``splits`` (split name -> data) as if ``load`` had read them."""
        self._kept_splits().update(splits)

    def has_split(self, split: str) -> bool:
        """True once ``split`` has been read or kept."""
        return split in self._kept_splits()

    def _kept_splits(self) -> dict[str, SequenceData]:
        # Created on first use, so a domain's __init__ need not call the mixin's.
        kept: dict[str, SequenceData] | None = self.__dict__.get("_lazy_splits")
        if kept is None:
            kept = self.__dict__["_lazy_splits"] = {}
        return kept
