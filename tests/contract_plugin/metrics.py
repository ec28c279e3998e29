"""Two metrics that decode through the domain: GC content and mean length (lower is better for both)."""

from __future__ import annotations

from seqtk.core.interfaces import Batch, Domain, Metric


def gc_content(strands: list[str]) -> float:
    bases = sum(len(s) for s in strands)
    return sum(s.count("G") + s.count("C") for s in strands) / bases if bases else 0.0


class GCDistance(Metric):
    """|GC content of the samples - GC content of the real strands|."""

    def __init__(self, domain: Domain) -> None:
        self.decode = getattr(domain, "decode")

    def __call__(self, real: Batch, fake: Batch) -> float:
        return abs(gc_content(self.decode(real)) - gc_content(self.decode(fake)))

    def warning(self, value: float) -> str | None:
        return f"the GC content is {value:.2f} away from the data's" if value > 0.45 else None


class LengthDistance(Metric):
    """|mean length of the samples - mean length of the real strands|, in bases (<eos> not counted)."""

    uses_whole_test_set = True

    def __call__(self, real: Batch, fake: Batch) -> float:
        return abs(float(real.lengths.double().mean()) - float(fake.lengths.double().mean()))
