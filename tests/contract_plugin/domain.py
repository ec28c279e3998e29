"""``contract-dna``: strands of A, C, G, T drawn from a seed, as tokens ending in <eos>."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping

import torch

from seqtk.core.atomic import atomic_write_text
from seqtk.core.errors import DataError
from seqtk.core.interfaces import Batch, Domain, DomainSpec, SequenceData

PAD, BOS, EOS = 0, 1, 2
BASES = "ACGT"
TOKEN = {base: index + 3 for index, base in enumerate(BASES)}


class ContractDna(Domain):
    """``samples`` strands of 1 .. ``max_len - 1`` bases, G and C each drawn with probability ``gc / 2``."""

    default_metrics: ClassVar[tuple[str, ...]] = ("contract-gc", "contract-length")

    def __init__(self, samples: int = 400, max_len: int = 12, gc: float = 0.8, seed: int = 0) -> None:
        if samples < 2:
            raise ValueError(f"samples must be at least 2 (a train and a test strand), got {samples}")
        if max_len < 2:
            raise ValueError(f"max_len counts the <eos>, so it must be at least 2, got {max_len}")
        if not 0.0 <= gc <= 1.0:
            raise ValueError(f"gc must lie in [0, 1], got {gc}")
        self.samples, self.max_len, self.gc, self.seed = samples, max_len, gc, seed
        self._splits: dict[str, SequenceData] | None = None

    @property
    def spec(self) -> DomainSpec:
        return DomainSpec(
            kind="discrete", max_len=self.max_len, vocab_size=3 + len(BASES), pad_id=PAD, bos_id=BOS, eos_id=EOS, unsampled_ids=(PAD, BOS)
        )

    def encode(self, strands: list[str]) -> Batch:
        values = torch.full((len(strands), self.max_len), PAD, dtype=torch.long)
        for row, strand in enumerate(strands):
            if len(strand) >= self.max_len:
                raise ValueError(f"strand {row} has {len(strand)} bases; max_len={self.max_len} holds {self.max_len - 1} and <eos>")
            values[row, : len(strand) + 1] = torch.tensor([TOKEN[b] for b in strand] + [EOS])
        return Batch(values=values, lengths=torch.tensor([len(s) + 1 for s in strands], dtype=torch.long))

    def decode(self, batch: Batch) -> list[str]:
        rows = batch.values.detach().cpu().tolist()
        return ["".join(BASES[t - 3] for t in row[: int(n)] if t >= 3) for row, n in zip(rows, batch.lengths.tolist())]

    def load(self, split: Literal["train", "test"]) -> SequenceData:
        if split not in ("train", "test"):
            raise ValueError(f"contract-dna: split must be 'train' or 'test', got {split!r}")
        if self._splits is None:
            rng = random.Random(self.seed)  # the data's own generator: the same data whatever the run's seed
            weights = [(1 - self.gc) / 2, self.gc / 2, self.gc / 2, (1 - self.gc) / 2]
            strands = ["".join(rng.choices(BASES, weights, k=rng.randint(1, self.max_len - 1))) for _ in range(self.samples)]
            cut = self.samples - max(1, self.samples // 5)
            self._splits = {"train": SequenceData(self.encode(strands[:cut])), "test": SequenceData(self.encode(strands[cut:]))}
        return self._splits[split]

    def write_samples(self, batch: Batch, directory: Path, stem: str) -> list[Path]:
        path = Path(directory) / f"{stem}.txt"
        atomic_write_text(path, "".join(strand + "\n" for strand in self.decode(batch)))
        return [path]

    def state_dict(self) -> dict[str, Any]:
        return {}  # the parameters regenerate the data exactly; nothing is fitted

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state:
            raise DataError(f"contract-dna keeps no state, got {sorted(state)}")

    @classmethod
    def scoring_data(cls, real: Path, samples: Path, params: Mapping[str, Any]) -> tuple["ContractDna", Batch, Batch]:
        if params:
            raise ValueError(f"contract-dna takes no scoring parameters, got {', '.join(params)}")
        files = {}
        for role, path in (("real", real), ("samples", samples)):
            lines = [line.strip().upper() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
            for number, line in enumerate(lines, start=1):
                if set(line) - set(BASES):
                    raise DataError(f"contract-dna: {role} file {path}: strand {number} holds something other than A, C, G, T")
            files[role] = lines
        domain = cls(max_len=max(len(s) for s in files["real"] + files["samples"]) + 1)
        return domain, domain.encode(files["real"]), domain.encode(files["samples"])
