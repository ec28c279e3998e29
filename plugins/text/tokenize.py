"""Turning a line of text into tokens and tokens back into a line.

Two tokenizers, chosen by name in the text domain's ``tokenizer`` parameter:

- ``"word"`` (:func:`word_tokens`): whitespace separates tokens, and punctuation is split
  off words so that "bone," and "bone" are one vocabulary entry. The rule, in order:

  1. an angle-bracketed tag such as ``<unk>`` is one token (corpora like the Penn
     Treebank write unknown words that way, and the vocabulary maps it to ``<unk>``);
  2. a word is a run of letters, digits or underscores, which may contain single inner
     apostrophes, hyphens or periods between such runs: ``dog's``, ``don't``,
     ``well-known``, ``3.5`` and ``e.g`` stay whole;
  3. every other non-space character is a token of its own: ``"ok..."`` is
     ``ok . . .``, ``"(a)"`` is ``( a )``.

  Letters and digits are Unicode-aware (``str.isalnum`` in the sense of Python's ``\\w``).
  Unlike nltk's Penn Treebank tokenizer, clitics stay attached (``dog's``, not
  ``dog 's``): every token is a piece of the original text, and nothing is rewritten.
- ``"char"`` (:func:`char_tokens`): every character is a token, spaces included, so the
  text is reproduced exactly.

:func:`detokenize` is the inverse the sample writer uses: words joined by single spaces
(``"a dog's bone , ok ."``, the usual form of tokenised corpora such as COCO captions in
GAN papers), characters joined with nothing.
"""

from __future__ import annotations

import difflib
import re
from typing import Callable, Sequence

__all__ = ["word_tokens", "char_tokens", "TOKENIZERS", "JOINERS", "detokenize", "get_tokenizer"]

_WORD = re.compile(
    r"""
    <[^\W\d_][\w-]*>              # a tag such as <unk>
    | \w+(?:['’\-.]\w+)*           # a word, with inner apostrophes, hyphens or periods
    | [^\w\s]                     # any other visible character on its own
    """,
    re.VERBOSE,
)


def word_tokens(line: str) -> list[str]:
    """Words and punctuation marks of ``line`` (see the module docstring for the rule)."""
    return _WORD.findall(line)


def char_tokens(line: str) -> list[str]:
    """Every character of ``line``, spaces included."""
    return list(line)


#: Tokenizer name -> function from a line to its tokens.
TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"word": word_tokens, "char": char_tokens}

#: Tokenizer name -> the string that joins tokens back into a line.
JOINERS: dict[str, str] = {"word": " ", "char": ""}


def _unknown_tokenizer(name: object) -> ValueError:
    valid = sorted(TOKENIZERS)
    close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ValueError(f"tokenizer must be one of {', '.join(map(repr, valid))}, got {name!r}{hint}")


def get_tokenizer(name: str) -> Callable[[str], list[str]]:
    """The tokenizer called ``name``; a ValueError lists the valid names and the closest one."""
    if not isinstance(name, str) or name not in TOKENIZERS:
        raise _unknown_tokenizer(name)
    return TOKENIZERS[name]


def detokenize(tokens: Sequence[str], tokenizer_name: str) -> str:
    """One line from ``tokens``: words joined by single spaces, characters by nothing."""
    if tokenizer_name not in JOINERS:
        raise _unknown_tokenizer(tokenizer_name)
    return JOINERS[tokenizer_name].join(tokens)
