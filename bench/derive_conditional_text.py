"""Derive the two conditional text data sets shipped in data/ from the shipped COCO captions.

No labelled or dialogue corpus ships with seqtk, so both are derived from
``data/coco/train.txt`` and ``data/coco/test.txt`` by fixed rules (no randomness), and
``tests/test_conditional_text.py`` re-derives them and compares the bytes:

- ``data/caption-topics/{train,test}.tsv`` (``label<TAB>caption``): a caption's topic is the
  one keyword group of :data:`TOPICS` its words meet; captions meeting none or several
  groups, or longer than :data:`MAX_WORDS` words, are left out. Per topic, in file order
  (train file first), every :data:`TEST_EVERY`-th kept caption goes to the test split, and
  each split keeps at most :data:`PER_CLASS` (train) or ``PER_CLASS // (TEST_EVERY - 1)``
  (test) captions per topic.
- ``data/caption-pairs/{train,test}.tsv`` (``context<TAB>response``): COCO's five captions of
  an image lie a few lines apart in these files, so a caption (the context) is paired with
  the caption among the :data:`WINDOW` lines before and after it in the same file that
  shares the largest share (Jaccard) of content words with it, if that share is at least
  :data:`MIN_OVERLAP` (the nearest, then the earlier, on ties): usually another caption of
  the same picture, a "say it another way" single-turn exchange whose response depends on
  its context. Both captions have at most :data:`MAX_WORDS` words. Pairs are kept in file
  order; every ``TEST_EVERY``-th goes to the test split.

    python bench/derive_conditional_text.py [--out data]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("coco/train.txt", "coco/test.txt")

#: Topic -> the words that mark it (whole lowercase words).
TOPICS: dict[str, frozenset[str]] = {
    "animal": frozenset("dog dogs cat cats horse horses giraffe giraffes elephant elephants zebra zebras bird birds sheep cow cows bear bears".split()),
    "food": frozenset("pizza sandwich food plate cake donut donuts banana bananas broccoli meal vegetables fruit".split()),
    "room": frozenset("bathroom kitchen toilet sink bedroom bed couch".split()),
    "vehicle": frozenset("train bus buses car cars truck trucks airplane airplanes plane planes jet motorcycle motorcycles bicycle bike bikes boat boats".split()),
}
MAX_WORDS = 12
PER_CLASS = 1000
TEST_EVERY = 6
WINDOW = 20
MIN_OVERLAP = 0.25
_STOP = frozenset(
    "a an the of on in with and is are to at its it his her their two three some there this that for by next near "
    "while from up down one other as be being has have".split()
)


def _words(line: str) -> set[str]:
    return set(re.findall(r"[a-z]+", line.lower()))


def _read(data: Path) -> list[list[str]]:
    return [[line.strip() for line in (data / name).read_text(encoding="utf-8").split("\n") if line.strip()] for name in SOURCES]


def topics(data: Path) -> tuple[list[str], list[str]]:
    """The ``label<TAB>caption`` lines of the train and test splits."""
    kept: dict[str, list[str]] = {topic: [] for topic in TOPICS}
    for lines in _read(data):
        for line in lines:
            if len(line.split()) > MAX_WORDS:
                continue
            words = _words(line)
            hits = [topic for topic, marks in TOPICS.items() if words & marks]
            if len(hits) == 1:
                kept[hits[0]].append(line)
    train: list[tuple[int, str]] = []
    test: list[tuple[int, str]] = []
    for topic, lines in kept.items():
        test += [(i, f"{topic}\t{line}") for i, line in enumerate(lines) if i % TEST_EVERY == TEST_EVERY - 1][: PER_CLASS // (TEST_EVERY - 1)]
        train += [(i, f"{topic}\t{line}") for i, line in enumerate(lines) if i % TEST_EVERY != TEST_EVERY - 1][:PER_CLASS]
    # Classes interleaved by their position within their class, then by topic name: a stable order.
    return [line for _, line in sorted(train)], [line for _, line in sorted(test)]


def pairs(data: Path) -> tuple[list[str], list[str]]:
    """The ``context<TAB>response`` lines of the train and test splits."""
    found = []
    for lines in _read(data):
        content = [_words(line) - _STOP for line in lines]
        short = [len(line.split()) <= MAX_WORDS for line in lines]
        for i, line in enumerate(lines):
            if not short[i]:
                continue
            best, share = None, 0.0
            near = (j for d in range(1, WINDOW + 1) for j in (i - d, i + d) if 0 <= j < len(lines) and short[j])  # nearest first, earlier on ties
            for j in near:
                union = len(content[i] | content[j])
                overlap = len(content[i] & content[j]) / union if union else 0.0
                if overlap > share:
                    best, share = j, overlap
            if best is not None and share >= MIN_OVERLAP:
                found.append(f"{line}\t{lines[best]}")
    return [p for k, p in enumerate(found) if k % TEST_EVERY != TEST_EVERY - 1], [p for k, p in enumerate(found) if k % TEST_EVERY == TEST_EVERY - 1]


def derived(data: Path = REPO / "data") -> dict[str, str]:
    """Relative path under data/ -> file content, for both data sets."""
    out = {}
    for folder, (train, test) in (("caption-topics", topics(data)), ("caption-pairs", pairs(data))):
        out[f"{folder}/train.tsv"] = "".join(line + "\n" for line in train)
        out[f"{folder}/test.tsv"] = "".join(line + "\n" for line in test)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "data")
    args = parser.parse_args()
    for name, text in derived().items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"{path}: {text.count(chr(10))} lines")


if __name__ == "__main__":
    main()
