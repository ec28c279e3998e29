"""SeqGAN's synthetic benchmark: an oracle LSTM writes the data and judges the samples.

The oracle (Yu et al., "SeqGAN", AAAI 2017, section "Synthetic Data Experiments";
DESIGN.md section 5) is a fixed, randomly initialised LSTM language model over
``vocab_size`` tokens. At step ``t`` it reads the embedding of the previous token (the
start token 0 at ``t = 0``; ``h_0 = c_0 = 0``) and computes, with row vectors::

    i  = sigmoid(x Wi  + h Ui  + bi)      f = sigmoid(x Wf + h Uf + bf)
    o  = sigmoid(x Wog + h Uog + bog)     c~ = tanh(x Wc + h Uc + bc)
    c' = f * c + i * c~                   h' = o * tanh(c')
    logits = h' Wo + bo                   (softmax over all tokens; no EOS)

Training data is sampled from it, and a generator is judged by how likely the oracle
finds the generator's samples (NLL-oracle, :class:`OracleNLL`): the one metric of text
generation whose ground truth is known.

The oracle is plain float32 tensors, not an ``nn.Module``: it is never trained, never
saved in a checkpoint and never seen by an optimiser.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Mapping

import numpy as np
import torch
from torch import Tensor

from seqtk.core.atomic import atomic_write_text
from seqtk.core.errors import DataError
from seqtk.core.interfaces import Batch, Domain, DomainSpec, Metric, SequenceData
from seqtk.core.params import PositiveInt, Range, checked
from seqtk.core.splits import LazySplits

__all__ = ["OracleLSTM", "OracleDomain", "OracleNLL", "PARAM_NAMES", "param_shapes", "inverse_cdf_draw"]

#: The oracle's arrays, in the order they are drawn from the seed and hashed.
PARAM_NAMES: tuple[str, ...] = (
    "embedding", "Wi", "Ui", "bi", "Wf", "Uf", "bf", "Wog", "Uog", "bog", "Wc", "Uc", "bc", "Wo", "bo",
)
#: The token fed as the first input (SeqGAN's ``start_token``).
START_TOKEN = 0
#: Rows sampled at once when drawing data; fixed, because the draws depend on it.
_SAMPLE_CHUNK = 1000
_STATE_FORMAT = 1


def param_shapes(vocab_size: int, embed_dim: int, hidden_dim: int) -> dict[str, tuple[int, ...]]:
    """The shape of every oracle array for the given sizes."""
    shapes: dict[str, tuple[int, ...]] = {"embedding": (vocab_size, embed_dim)}
    for gate in ("i", "f", "og", "c"):
        shapes[f"W{gate}"] = (embed_dim, hidden_dim)
        shapes[f"U{gate}"] = (hidden_dim, hidden_dim)
        shapes[f"b{gate}"] = (hidden_dim,)
    shapes["Wo"] = (hidden_dim, vocab_size)
    shapes["bo"] = (vocab_size,)
    return shapes


def _stream_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for one of an oracle's data streams (``"train"``, ``"test"``).

    Hashing keeps the streams apart from each other and from the parameter draw (seeded
    by ``seed`` itself): no seed's data reuses another seed's parameters or held-out data.
    """
    digest = hashlib.sha256(f"seqtk-oracle:{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def inverse_cdf_draw(probs: Tensor, uniform: Tensor) -> Tensor:
    """``[N]`` indices drawn from the rows of ``probs`` (``[N, V]``) by inverting their CDFs at ``uniform`` (``[N]``, in [0, 1)).

    A full cumulative sum over 5,000 tokens costs more than the LSTM step itself, so the
    search runs in two stages: over the sums of about ``sqrt(V)`` blocks of tokens, then,
    at the same relative position, within the chosen block (cumulative sums in float64).
    The result is an exact inverse-CDF draw up to float32 rounding of the block sums;
    zero-probability indices are never chosen.
    """
    rows, size = probs.shape
    block = _block_size(size)
    pad = (-size) % block
    padded = torch.nn.functional.pad(probs, (0, pad)) if pad else probs
    blocks = padded.reshape(rows, -1, block)
    block_cdf = blocks.sum(dim=2).to(torch.float64).cumsum(dim=1)
    target = (uniform.to(torch.float64) * block_cdf[:, -1]).unsqueeze(1)
    chosen = torch.searchsorted(block_cdf, target, right=True).clamp_max(block_cdf.shape[1] - 1)
    end = block_cdf.gather(1, chosen)
    start = torch.where(chosen > 0, block_cdf.gather(1, (chosen - 1).clamp_min(0)), torch.zeros_like(target))
    fraction = ((target - start) / (end - start)).clamp(0.0, 1.0)
    inner = blocks[torch.arange(rows, device=probs.device), chosen.squeeze(1)].cumsum(dim=1, dtype=torch.float64)
    offset = torch.searchsorted(inner, fraction * inner[:, -1:], right=True).clamp_max(block - 1)
    return (chosen * block + offset).squeeze(1).clamp_max(size - 1)


def _block_size(size: int) -> int:
    """About ``sqrt(size)``, preferring a divisor of ``size`` (no padding): 100 for 5,000 tokens."""
    root = max(1, math.isqrt(size - 1) + 1)
    return next((b for b in range(root, 2 * root + 1) if size % b == 0), root)


class OracleLSTM:
    """The oracle: SeqGAN's target LSTM as float32 tensors (see the module docstring)."""

    def __init__(self, params: Mapping[str, Tensor]) -> None:
        missing = [name for name in PARAM_NAMES if name not in params]
        if missing:
            raise ValueError(f"oracle parameters lack {', '.join(missing)}")
        vocab_size, embed_dim = params["embedding"].shape
        hidden_dim = params["Ui"].shape[0]
        expected = param_shapes(int(vocab_size), int(embed_dim), int(hidden_dim))
        for name, shape in expected.items():
            if tuple(params[name].shape) != shape:
                raise ValueError(f"oracle array {name} has shape {tuple(params[name].shape)}, expected {shape}")
        self.params = {name: params[name].detach().to("cpu", torch.float32).contiguous() for name in PARAM_NAMES}
        self.vocab_size, self.embed_dim, self.hidden_dim = int(vocab_size), int(embed_dim), int(hidden_dim)
        self._by_device: dict[torch.device, tuple[Tensor, Tensor, Tensor, Tensor]] = {}

    # ----------------------------------------------------------- construction

    @classmethod
    def random(cls, vocab_size: int, embed_dim: int, hidden_dim: int, seed: int) -> "OracleLSTM":
        """Every array drawn from N(0, 1), in ``PARAM_NAMES`` order, from a generator seeded by ``seed``.

        This is how SeqGAN initialises its target LSTM (normal, standard deviation 1). The
        draws are made on the CPU, so the oracle is the same on every machine.
        """
        generator = torch.Generator().manual_seed(int(seed))
        shapes = param_shapes(vocab_size, embed_dim, hidden_dim)
        return cls({name: torch.randn(shapes[name], generator=generator) for name in PARAM_NAMES})

    @classmethod
    def from_npz(cls, path: Path, vocab_size: int, embed_dim: int, hidden_dim: int) -> "OracleLSTM":
        """Load SeqGAN's parameters; their shapes must match the given sizes (a ``DataError`` says which differ)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(
                f"oracle params_file {path}: does not exist; expected an .npz with arrays {', '.join(PARAM_NAMES)}"
            )
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except Exception as exc:  # np.load raises several unrelated types for a bad archive
            raise DataError(f"oracle params_file {path}: cannot be read as an .npz archive ({exc})") from None
        missing = [name for name in PARAM_NAMES if name not in arrays]
        if missing:
            raise DataError(f"oracle params_file {path}: lacks the array(s) {', '.join(missing)}")
        expected = param_shapes(vocab_size, embed_dim, hidden_dim)
        wrong = [f"{n} is {arrays[n].shape}, expected {expected[n]}" for n in PARAM_NAMES if arrays[n].shape != expected[n]]
        if wrong:
            raise DataError(
                f"oracle params_file {path}: shapes do not match vocab_size={vocab_size}, embed_dim={embed_dim}, "
                f"hidden_dim={hidden_dim} ({'; '.join(wrong)}); set those parameters to the file's sizes"
            )
        for name in PARAM_NAMES:
            if not np.issubdtype(arrays[name].dtype, np.floating) or not np.isfinite(arrays[name]).all():
                raise DataError(f"oracle params_file {path}: array {name} must hold finite floating-point numbers")
        return cls({name: torch.from_numpy(np.asarray(arrays[name], dtype=np.float32)) for name in PARAM_NAMES})

    def params_numpy(self) -> dict[str, np.ndarray]:
        """The arrays by name, as ``np.savez(path, **oracle.params_numpy())`` writes a ``params_file``."""
        return {name: self.params[name].numpy().copy() for name in PARAM_NAMES}

    def fingerprint(self) -> str:
        """SHA-256 of the parameters: tells whether two oracles are the same one."""
        digest = hashlib.sha256()
        for name in PARAM_NAMES:
            array = self.params[name].numpy()
            digest.update(f"{name}{array.shape}".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()

    # ----------------------------------------------------------- the recurrence

    def _weights(self, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(input table ``[V, 4H]`` = embedding W + b, U ``[H, 4H]``, Wo, bo) on ``device``, cached.

        The gates' input term depends on the previous token only, so it is one row of a
        table computed once; each step then costs one ``h U`` and one ``h Wo``.
        """
        if device not in self._by_device:
            p = self.params
            gates = ("i", "f", "og", "c")
            w = torch.cat([p[f"W{g}"] for g in gates], dim=1)
            u = torch.cat([p[f"U{g}"] for g in gates], dim=1)
            b = torch.cat([p[f"b{g}"] for g in gates])
            table = p["embedding"] @ w + b
            self._by_device[device] = tuple(t.to(device) for t in (table, u, p["Wo"], p["bo"]))  # type: ignore[assignment]
        return self._by_device[device]

    @staticmethod
    def _cell(inputs: Tensor, h: Tensor, c: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        pre = inputs + h @ u
        i, f, o, candidate = pre.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(candidate)
        return torch.sigmoid(o) * torch.tanh(c), c

    def sample(self, n: int, length: int, generator: torch.Generator) -> Tensor:
        """``[n, length]`` long tokens drawn from the oracle on the CPU with ``generator``.

        Each token is drawn by :func:`inverse_cdf_draw` at one uniform number from
        ``generator``; rows are drawn ``_SAMPLE_CHUNK`` at a time. Nothing here touches
        torch's global random state.
        """
        table, u, wo, bo = self._weights(torch.device("cpu"))
        chunks = []
        for start in range(0, n, _SAMPLE_CHUNK):
            rows = min(_SAMPLE_CHUNK, n - start)
            h = torch.zeros(rows, self.hidden_dim)
            c = torch.zeros(rows, self.hidden_dim)
            previous = torch.full((rows,), START_TOKEN, dtype=torch.long)
            out = torch.empty(rows, length, dtype=torch.long)
            for t in range(length):
                h, c = self._cell(table[previous], h, c, u)
                uniform = torch.rand(rows, generator=generator, dtype=torch.float64)
                previous = inverse_cdf_draw(torch.softmax(h @ wo + bo, dim=1), uniform)
                out[:, t] = previous
            chunks.append(out)
        return torch.cat(chunks) if chunks else torch.empty(0, length, dtype=torch.long)

    @torch.no_grad()
    def nll(self, tokens: Tensor, lengths: Tensor | None = None, chunk_size: int = 1024) -> Tensor:
        """``[N]``: each sequence's mean per-token NLL (nats) under the oracle, teacher-forced.

        Step ``t`` is scored given the true tokens before it (the start token 0 before the
        first). ``lengths`` (``[N]``, default: every step) limits each mean to a row's first
        steps; a row of length 0 scores 0. Computed ``chunk_size`` rows at a time on the
        tokens' device; the result is on that device.
        """
        if tokens.dim() != 2:
            raise ValueError(f"oracle nll: tokens must be [N, T] token ids, got shape {tuple(tokens.shape)}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(f"oracle nll: token ids must lie in [0, {self.vocab_size - 1}]")
        if chunk_size < 1:
            raise ValueError(f"oracle nll: chunk_size must be >= 1, got {chunk_size}")
        device = tokens.device
        tokens = tokens.long()
        steps = tokens.shape[1]
        if lengths is None:
            lengths = torch.full((tokens.shape[0],), steps, dtype=torch.long, device=device)
        lengths = lengths.to(device).long()
        table, u, wo, bo = self._weights(device)
        out = []
        for start in range(0, tokens.shape[0], chunk_size):
            chunk = tokens[start : start + chunk_size]
            rows = chunk.shape[0]
            h = torch.zeros(rows, self.hidden_dim, device=device)
            c = torch.zeros(rows, self.hidden_dim, device=device)
            previous = torch.full((rows,), START_TOKEN, dtype=torch.long, device=device)
            step_nll = torch.empty(rows, steps, device=device)
            for t in range(steps):
                h, c = self._cell(table[previous], h, c, u)
                log_probs = torch.log_softmax(h @ wo + bo, dim=1)
                previous = chunk[:, t]
                step_nll[:, t] = -log_probs.gather(1, previous.unsqueeze(1)).squeeze(1)
            mask = torch.arange(steps, device=device).unsqueeze(0) < lengths[start : start + rows].unsqueeze(1)
            out.append((step_nll * mask).sum(1) / mask.sum(1).clamp_min(1))
        return torch.cat(out) if out else torch.empty(0, device=device)


@checked("oracle")
class OracleDomain(LazySplits, Domain):
    """SeqGAN's oracle benchmark: data sampled from a fixed LSTM that also scores samples.

    Parameters: ``params_file`` an .npz of SeqGAN's oracle (arrays ``PARAM_NAMES``; their
    shapes must match ``vocab_size``/``embed_dim``/``hidden_dim``) or null to draw the
    oracle from N(0, 1) with ``seed``; ``vocab_size``, ``embed_dim``, ``hidden_dim`` the
    oracle's sizes (SeqGAN: 5000, 32, 32); ``max_len`` tokens per sequence (20);
    ``train_samples`` / ``test_samples`` sequences sampled for training and held out;
    ``seed`` seeds the drawn oracle and the two data streams (each its own
    ``torch.Generator``, so the data is the same whatever the run's seed; 88 is SeqGAN's).
    """

    default_metrics: ClassVar[tuple[str, ...]] = ("nll-oracle", "nll-test")
    split_label: ClassVar[str] = "oracle"

    def __init__(
        self,
        params_file: str | None = None,
        vocab_size: Annotated[int, Range(2)] = 5000,
        embed_dim: PositiveInt = 32,
        hidden_dim: PositiveInt = 32,
        max_len: PositiveInt = 20,
        train_samples: PositiveInt = 10000,
        test_samples: PositiveInt = 10000,
        seed: int = 88,
    ) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"oracle: seed must be an integer, got {seed!r}")
        if params_file is not None and (not isinstance(params_file, (str, Path)) or not str(params_file).strip()):
            raise ValueError(f"oracle: params_file must be the path of an .npz file or null, got {params_file!r}")
        self.params_file = None if params_file is None else Path(params_file).expanduser()
        self.vocab_size, self.embed_dim, self.hidden_dim = vocab_size, embed_dim, hidden_dim
        self.length = max_len
        self.train_samples, self.test_samples = train_samples, test_samples
        self.seed = seed
        self._oracle: OracleLSTM | None = None
        self._expected_fingerprint: str | None = None

    @property
    def oracle(self) -> OracleLSTM:
        """The oracle, loaded or drawn on first use (so a run restored for sampling needs no file)."""
        if self._oracle is None:
            if self.params_file is not None:
                oracle = OracleLSTM.from_npz(self.params_file, self.vocab_size, self.embed_dim, self.hidden_dim)
            else:
                oracle = OracleLSTM.random(self.vocab_size, self.embed_dim, self.hidden_dim, self.seed)
            self._check_fingerprint(oracle.fingerprint())
            self._oracle = oracle
        return self._oracle

    @property
    def spec(self) -> DomainSpec:
        return DomainSpec(kind="discrete", max_len=self.length, vocab_size=self.vocab_size)

    def read_splits(self, split: Literal["train", "test"]) -> dict[str, SequenceData]:
        """Each split drawn from the oracle with its own seeded stream, so either can be drawn first."""
        count = self.train_samples if split == "train" else self.test_samples
        generator = torch.Generator().manual_seed(_stream_seed(self.seed, split))
        return {split: SequenceData(Batch.full_length(self.oracle.sample(count, self.length, generator)))}

    def nll(self, tokens: Tensor, lengths: Tensor | None = None, chunk_size: int = 1024) -> Tensor:
        """``[N]`` mean per-token NLL of each sequence under the oracle (see :meth:`OracleLSTM.nll`)."""
        return self.oracle.nll(tokens, lengths, chunk_size)

    def write_samples(self, batch: Batch, directory: Path, stem: str) -> list[Path]:
        """``<stem>.txt``: each sample's token ids (up to its length), space-separated, one per line."""
        values = batch.values.detach().cpu().tolist()
        lengths = batch.lengths.detach().cpu().tolist()
        text = "".join(" ".join(str(t) for t in row[: int(n)]) + "\n" for row, n in zip(values, lengths))
        path = Path(directory) / f"{stem}.txt"
        atomic_write_text(path, text)
        return [path]

    def report_samples(self, run_dir: Path, *, generator: Any = None, count: int = 8) -> list[Any]:
        """``seqtk report``: generated token ids beside held-out ones, with their NLL (``seqtk.plugins.text.report``)."""
        from seqtk.plugins.text.report import sentence_report

        test = self.load("test").batch
        shown = test.index(torch.arange(min(count, test.size)))
        held_out = [" ".join(str(t) for t in row[: int(n)]) for row, n in zip(shown.values.tolist(), shown.lengths.tolist())]

        def encode_line(line: str) -> Batch | None:
            try:
                ids = [int(word) for word in line.split()]
            except ValueError:
                return None
            if not ids or len(ids) > self.length or not all(0 <= i < self.vocab_size for i in ids):
                return None
            values = torch.tensor([ids + [0] * (self.length - len(ids))], dtype=torch.long)
            return Batch(values=values, lengths=torch.tensor([len(ids)]))

        return sentence_report(
            run_dir, generator=generator, count=count, held_out=held_out,
            held_out_batch=lambda i: shown.index(torch.tensor([i])), encode_line=encode_line,
        )

    # ----------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        """The oracle's fingerprint: the parameters regenerate everything else exactly."""
        return {"format": _STATE_FORMAT, "oracle_sha256": self.oracle.fingerprint()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Remember the saved oracle's fingerprint; an oracle that differs is a ``DataError`` once loaded."""
        if not isinstance(state, Mapping) or state.get("format") != _STATE_FORMAT:
            raise DataError(f"oracle: the saved domain state is not an oracle domain's state (format {_STATE_FORMAT})")
        self._expected_fingerprint = str(state["oracle_sha256"])
        if self._oracle is not None:
            self._check_fingerprint(self._oracle.fingerprint())

    def _check_fingerprint(self, actual: str) -> None:
        if self._expected_fingerprint is not None and actual != self._expected_fingerprint:
            source = f"params_file {self.params_file}" if self.params_file else f"seed {self.seed}"
            raise DataError(
                f"oracle: the oracle from {source} is not the one this run was trained against "
                "(its parameters changed since the checkpoint)"
            )

    def __repr__(self) -> str:
        return (
            f"OracleDomain(params_file={None if self.params_file is None else str(self.params_file)!r}, "
            f"vocab_size={self.vocab_size}, embed_dim={self.embed_dim}, hidden_dim={self.hidden_dim}, "
            f"max_len={self.length}, train_samples={self.train_samples}, test_samples={self.test_samples}, seed={self.seed})"
        )


@checked("nll-oracle")
class OracleNLL(Metric):
    """NLL-oracle: the oracle's mean per-token NLL of generated samples (lower is better).

    SeqGAN's headline number: how likely the true data distribution finds the samples.
    Averaged over every token of every sample (rows' padding excluded). Recipes evaluate
    10,000 samples, as the papers do. It rewards a generator that memorises its training
    samples, so report NLL-test beside it. ``chunk_size``: rows scored at once.
    """

    higher_is_better: ClassVar[bool] = False

    def __init__(self, domain: Domain, chunk_size: PositiveInt = 1024) -> None:
        if not isinstance(domain, OracleDomain):
            raise ValueError(f"nll-oracle needs the oracle domain, got {type(domain).__name__}")
        self.domain = domain
        self.chunk_size = chunk_size

    def __call__(self, real: Batch, fake: Batch) -> float:
        if fake.values.dim() != 2:
            raise ValueError(f"nll-oracle: samples must be [B, T] token ids, got shape {tuple(fake.values.shape)}")
        lengths = fake.lengths.clamp(0, fake.steps)
        total = int(lengths.sum())
        if total == 0:
            raise ValueError("nll-oracle: the samples hold no tokens")
        per_row = self.domain.nll(fake.values, lengths, self.chunk_size)
        return float((per_row.double() * lengths.to(per_row.device).double()).sum() / total)
