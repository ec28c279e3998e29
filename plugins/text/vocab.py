"""A token vocabulary built deterministically from training sentences.

Ids 0..3 are the specials ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``; then come the
training tokens by descending frequency, ties broken by Python string order (code
points), so the same training file always gives the same ids whatever the order in
which lines were read. The vocabulary is saved with a run as a plain list of strings
(``to_dict``), so a finished run decodes its samples without the data files and without
pickle.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["Vocabulary", "PAD", "BOS", "EOS", "UNK", "SPECIALS", "PAD_ID", "BOS_ID", "EOS_ID", "UNK_ID"]

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS: tuple[str, ...] = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)

#: Version of the ``to_dict`` layout, checked by ``from_dict``.
FORMAT = 1


class Vocabulary:
    """Token <-> id mapping with the four specials first.

    Text cannot inject control tokens: a literal ``<pad>``, ``<bos>`` or ``<eos>`` in a
    sentence encodes as ``<unk>`` (as does a literal ``<unk>``, which is what corpora
    that write unknown words as ``<unk>`` mean by it).
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with the specials {list(SPECIALS)}, got {tokens[:len(SPECIALS)]}")
        if len(set(tokens)) != len(tokens):
            duplicated = sorted(t for t, c in Counter(tokens).items() if c > 1)
            raise ValueError(f"a vocabulary lists each token once; repeated: {duplicated[:5]}")
        self.tokens: list[str] = tokens
        self._ids: dict[str, int] = {token: i for i, token in enumerate(tokens)}
        for special in (PAD, BOS, EOS):  # text never encodes to a control id
            self._ids[special] = UNK_ID

    @classmethod
    def build(
        cls, sentences: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None
    ) -> "Vocabulary":
        """The vocabulary of ``sentences`` (lists of tokens).

        ``min_freq``: tokens seen fewer times become ``<unk>``. ``max_size``: the most ids
        in total, **the four specials included** (so it is exactly the ``vocab_size`` the
        networks get when the data has enough distinct tokens); the most frequent tokens
        are kept. Must leave room for at least one real token (``max_size >= 5``).
        """
        if not isinstance(min_freq, int) or isinstance(min_freq, bool) or min_freq < 1:
            raise ValueError(f"min_freq must be an integer >= 1, got {min_freq!r}")
        if max_size is not None and (not isinstance(max_size, int) or isinstance(max_size, bool) or max_size <= len(SPECIALS)):
            raise ValueError(
                f"max_size (max_vocab) counts the {len(SPECIALS)} special tokens, so it must be an integer "
                f">= {len(SPECIALS) + 1} or null, got {max_size!r}"
            )
        counts: Counter[str] = Counter()
        for sentence in sentences:
            counts.update(sentence)
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    def __contains__(self, token: object) -> bool:
        return token in self._ids and token not in SPECIALS

    def id_of(self, token: str) -> int:
        return self._ids.get(token, UNK_ID)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens``; unknown tokens (and literal specials) become ``<unk>``'s id."""
        get = self._ids.get
        return [get(token, UNK_ID) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids`` up to the first ``<eos>``; ``<pad>`` and ``<bos>`` carry no text and are dropped."""
        out: list[str] = []
        size = len(self.tokens)
        for raw in ids:
            i = int(raw)
            if not 0 <= i < size:
                raise ValueError(f"token id {i} is outside this vocabulary (0..{size - 1})")
            if i == EOS_ID:
                break
            if i in (PAD_ID, BOS_ID):
                continue
            out.append(self.tokens[i])
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data (a format number and the token list) for a run's checkpoint."""
        return {"format": FORMAT, "tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> "Vocabulary":
        if not isinstance(state, Mapping) or state.get("format") != FORMAT or not isinstance(state.get("tokens"), list):
            raise ValueError(f"not a saved vocabulary (expected {{'format': {FORMAT}, 'tokens': [...]}})")
        tokens = state["tokens"]
        if not all(isinstance(t, str) for t in tokens):
            raise ValueError("a saved vocabulary's tokens must all be strings")
        return cls(tokens)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens: {self.tokens[4:9]}{'...' if len(self) > 9 else ''})"
