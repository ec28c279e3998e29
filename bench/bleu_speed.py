"""seqtk's BLEU and Self-BLEU beside nltk's sentence_bleu on COCO captions: speed and equality.

Protocol (Texygen's): hypotheses are COCO train captions (standing in for generated
text), references the whole COCO test set; sentence BLEU-n for n = 2..5 with uniform
weights and nltk's smoothing method 1, averaged over hypotheses. nltk is timed on the
first ``--nltk-subset`` hypotheses and its time scaled per hypothesis to the full count;
seqtk is timed on the full count, building its reference table included. Both are
compared on the subset (max absolute difference). Self-BLEU: the first
``--self-sentences`` hypotheses scored against each other, nltk on a subset likewise.

Tokens: ``seqtk.plugins.text.tokenize.word_tokens`` when that module exists, else
``str.split``; the output names which. Times are wall and process-CPU seconds (the CPU
time is steadier on a shared machine); speed ratios use CPU time. Prints one JSON object:

    python bench/bleu_speed.py --coco data/coco [--nltk-subset 50] [--hypotheses 10000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu  # type: ignore[import-untyped]

from seqtk.plugins.text.bleu import ReferenceSet, self_bleu_scores

ORDERS = (2, 3, 4, 5)
METHOD1 = SmoothingFunction().method1


def tokenizer() -> tuple[Callable[[str], list[str]], str]:
    try:
        from seqtk.plugins.text.tokenize import word_tokens
    except ImportError:
        return str.split, "str.split"
    return word_tokens, "seqtk.plugins.text.tokenize.word_tokens"


def read(path: Path, tokenize: Callable[[str], list[str]]) -> list[list[str]]:
    return [tokenize(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self) -> "Clock":
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu

    def as_dict(self, scale: float = 1.0) -> dict[str, float]:
        return {"wall": round(self.wall * scale, 4), "cpu": round(self.cpu * scale, 4)}


def nltk_scores(pairs: list[tuple[list[list[str]], list[str]]], n: int) -> tuple[list[float], Clock]:
    with Clock() as clock:
        scores = [float(sentence_bleu(refs, hyp, (1.0 / n,) * n, smoothing_function=METHOD1)) for refs, hyp in pairs]
    return scores, clock


def bleu_section(hypotheses: list[list[str]], references: list[list[str]], subset: int, protocol: dict[str, Any]) -> dict[str, Any]:
    with Clock() as build:
        table = ReferenceSet(references, max_n=max(ORDERS))
    result: dict[str, Any] = {"protocol": protocol, "seqtk_build_reference_table_seconds": build.as_dict(), "orders": {}}
    total_ours_cpu, total_nltk_cpu = build.cpu, 0.0
    for n in ORDERS:
        with Clock() as ours_clock:
            ours = [table.bleu(h, n) for h in hypotheses]
        theirs, nltk_clock = nltk_scores([(references, h) for h in hypotheses[:subset]], n)
        scale = len(hypotheses) / subset
        ours_cpu = ours_clock.cpu + build.cpu
        total_ours_cpu += ours_clock.cpu
        total_nltk_cpu += nltk_clock.cpu * scale
        result["orders"][f"bleu-{n}"] = {
            "protocol": protocol,
            "seqtk_value": sum(ours) / len(ours),
            "seqtk_value_on_nltk_subset": sum(ours[:subset]) / subset,
            "nltk_value_on_nltk_subset": sum(theirs) / subset,
            "max_abs_diff_vs_nltk_on_subset": max(abs(a - b) for a, b in zip(ours, theirs)),
            "seqtk_seconds_scoring_all": ours_clock.as_dict(),
            "seqtk_seconds_incl_table_build": {"wall": round(ours_clock.wall + build.wall, 4), "cpu": round(ours_cpu, 4)},
            "nltk_seconds_per_hypothesis": nltk_clock.as_dict(1 / subset),
            "nltk_seconds_estimated_all": nltk_clock.as_dict(scale),
            "speedup_cpu_incl_table_build": round(nltk_clock.cpu * scale / ours_cpu, 1),
        }
    result["all_four_orders"] = {
        "protocol": protocol,
        "seqtk_cpu_seconds_one_table_four_orders": round(total_ours_cpu, 4),
        "nltk_cpu_seconds_estimated": round(total_nltk_cpu, 2),
        "speedup_cpu": round(total_nltk_cpu / total_ours_cpu, 1),
    }
    return result


def self_bleu_section(sentences: list[list[str]], subset: int, protocol: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"protocol": protocol, "orders": {}}
    pairs = [(sentences[:i] + sentences[i + 1 :], sentences[i]) for i in range(subset)]
    for n in ORDERS:
        with Clock() as ours_clock:
            ours = self_bleu_scores(sentences, n)
        theirs, nltk_clock = nltk_scores(pairs, n)
        scale = len(sentences) / subset
        result["orders"][f"self-bleu-{n}"] = {
            "protocol": protocol,
            "seqtk_value": sum(ours) / len(ours),
            "max_abs_diff_vs_nltk_on_subset": max(abs(a - b) for a, b in zip(ours, theirs)),
            "seqtk_seconds_all": ours_clock.as_dict(),
            "nltk_seconds_per_sentence": nltk_clock.as_dict(1 / subset),
            "nltk_seconds_estimated_all": nltk_clock.as_dict(scale),
            "speedup_cpu": round(nltk_clock.cpu * scale / ours_clock.cpu, 1),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coco", type=Path, default=Path(__file__).resolve().parents[1] / "data/coco", help="folder with train.txt and test.txt")
    parser.add_argument("--hypotheses", type=int, default=10000, help="train captions used as hypotheses")
    parser.add_argument("--nltk-subset", type=int, default=50, help="hypotheses nltk scores (its time is scaled)")
    parser.add_argument("--self-sentences", type=int, default=2000, help="sentences for Self-BLEU")
    parser.add_argument("--self-nltk-subset", type=int, default=20, help="Self-BLEU sentences nltk scores")
    args = parser.parse_args()

    tokenize, tokenizer_name = tokenizer()
    hypotheses = read(args.coco / "train.txt", tokenize)[: args.hypotheses]
    references = read(args.coco / "test.txt", tokenize)
    subset = min(args.nltk_subset, len(hypotheses))
    self_sentences = hypotheses[: args.self_sentences]
    self_subset = min(args.self_nltk_subset, len(self_sentences))
    common = {"data": str(args.coco), "tokenizer": tokenizer_name, "weights": "uniform 1/n", "smoothing": "nltk method1 (epsilon 0.1)"}
    bleu_protocol = {
        **common,
        "hypotheses": len(hypotheses),
        "hypothesis_source": "train.txt (first lines)",
        "references": len(references),
        "reference_source": "test.txt (all)",
        "nltk_subset": subset,
    }
    self_protocol = {**common, "sentences": len(self_sentences), "sentence_source": "train.txt (first lines)", "nltk_subset": self_subset}
    report = {
        "python": sys.version.split()[0],
        "bleu": bleu_section(hypotheses, references, subset, bleu_protocol),
        "self_bleu": self_bleu_section(self_sentences, self_subset, self_protocol),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
