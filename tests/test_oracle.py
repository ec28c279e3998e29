"""The SeqGAN oracle: its NLL against a numpy re-implementation, its sampling, data and metric."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from seqtk.core.errors import DataError
from seqtk.core.interfaces import Batch
from seqtk.plugins.text.oracle import PARAM_NAMES, OracleDomain, OracleLSTM, OracleNLL, inverse_cdf_draw, param_shapes

SEQGAN_PARAMS = Path(__file__).resolve().parents[1] / "data/seqgan-oracle/target_params.npz"


def numpy_nll(params: dict[str, np.ndarray], tokens: np.ndarray) -> np.ndarray:
    """Per-sequence mean NLL, written from SeqGAN's equations gate by gate, in float64."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    out = []
    for row in tokens:
        h = np.zeros(p["Ui"].shape[0])
        c = np.zeros_like(h)
        previous, total = 0, 0.0
        for token in row:
            x = p["embedding"][previous]
            i = sigmoid(x @ p["Wi"] + h @ p["Ui"] + p["bi"])
            f = sigmoid(x @ p["Wf"] + h @ p["Uf"] + p["bf"])
            o = sigmoid(x @ p["Wog"] + h @ p["Uog"] + p["bog"])
            candidate = np.tanh(x @ p["Wc"] + h @ p["Uc"] + p["bc"])
            c = f * c + i * candidate
            h = o * np.tanh(c)
            logits = h @ p["Wo"] + p["bo"]
            log_z = logits.max() + np.log(np.exp(logits - logits.max()).sum())
            total += log_z - logits[token]
            previous = token
        out.append(total / len(row))
    return np.array(out)


def small_domain(**kwargs) -> OracleDomain:
    settings = dict(vocab_size=11, embed_dim=4, hidden_dim=5, max_len=6, train_samples=50, test_samples=40, seed=3)
    return OracleDomain(**{**settings, **kwargs})


def test_nll_equals_numpy_reimplementation() -> None:
    oracle = OracleLSTM.random(11, 4, 5, seed=7)
    tokens = torch.randint(0, 11, (9, 6))
    expected = numpy_nll({k: v.numpy() for k, v in oracle.params.items()}, tokens.numpy())
    np.testing.assert_allclose(oracle.nll(tokens).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(oracle.nll(tokens, chunk_size=2).numpy(), expected, rtol=1e-5, atol=1e-5)
    # a shorter length averages only the first steps
    lengths = torch.tensor([6, 3, 1, 6, 6, 6, 6, 6, 2])
    short = oracle.nll(tokens, lengths)
    for row, n in enumerate(lengths.tolist()):
        assert short[row].item() == pytest.approx(numpy_nll(oracle.params_numpy(), tokens[row : row + 1, :n].numpy())[0], abs=1e-5)


def test_random_oracle_is_standard_normal_and_seeded() -> None:
    a, b, c = OracleLSTM.random(50, 8, 8, seed=1), OracleLSTM.random(50, 8, 8, seed=1), OracleLSTM.random(50, 8, 8, seed=2)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    for name, shape in param_shapes(50, 8, 8).items():
        assert tuple(a.params[name].shape) == shape and a.params[name].dtype == torch.float32
    values = torch.cat([t.flatten() for t in a.params.values()]).double()
    assert abs(values.mean().item()) < 0.05 and abs(values.std().item() - 1.0) < 0.05
    assert not any(isinstance(t, torch.nn.Parameter) for t in a.params.values())


def test_inverse_cdf_draw_matches_a_full_cumulative_sum() -> None:
    generator = torch.Generator().manual_seed(0)
    for size in (7, 97, 300):
        probs = torch.softmax(3 * torch.randn(500, size, generator=generator), dim=1)
        probs[:, 1] = 0.0  # zero-probability tokens are never drawn
        uniform = torch.rand(500, generator=generator, dtype=torch.float64)
        cdf = probs.double().cumsum(1)
        expected = torch.searchsorted(cdf, (uniform * cdf[:, -1]).unsqueeze(1), right=True).squeeze(1)
        drawn = inverse_cdf_draw(probs, uniform)
        assert torch.equal(drawn, expected) and not (drawn == 1).any()


def test_samples_follow_the_oracle_exactly() -> None:
    """With 4 tokens and 3 steps every sequence's probability is enumerable: compare the
    empirical first-token distribution (chi-square) and the mean NLL of samples (the
    oracle's entropy rate, to within four standard errors)."""
    oracle = OracleLSTM.random(4, 3, 3, seed=5)
    sequences = torch.tensor(list(itertools.product(range(4), repeat=3)))
    log_p = -3 * oracle.nll(sequences).double()  # log-probability of each whole sequence
    p = log_p.exp()
    assert p.sum().item() == pytest.approx(1.0, abs=1e-5)
    entropy_rate = float(-(p * log_p).sum() / 3)
    n = 20000
    samples = oracle.sample(n, 3, torch.Generator().manual_seed(1))
    first = torch.bincount(samples[:, 0], minlength=4).double()
    expected_first = torch.zeros(4, dtype=torch.float64).index_add_(0, sequences[:, 0], p) * n
    assert stats.chisquare(first.numpy(), expected_first.numpy()).pvalue > 1e-3
    nll = oracle.nll(samples).double()
    assert abs(nll.mean().item() - entropy_rate) < 4 * nll.std().item() / math.sqrt(n)


def test_domain_data_is_reproducible_held_out_and_ignores_global_seed() -> None:
    torch.manual_seed(1)
    first = small_domain()
    train, test = first.load("train").batch, first.load("test").batch
    torch.manual_seed(2)
    torch.rand(100)
    second = small_domain()
    assert torch.equal(second.load("train").batch.values, train.values)
    assert torch.equal(second.load("test").batch.values, test.values)
    assert train.values.shape == (50, 6) and test.values.shape == (40, 6)
    assert train.lengths.tolist() == [6] * 50
    assert not torch.equal(train.values[:40], test.values)  # a different stream, not the same rows
    assert not torch.equal(small_domain(seed=4).load("train").batch.values, train.values)
    spec = first.spec
    assert (spec.kind, spec.max_len, spec.vocab_size, spec.eos_id) == ("discrete", 6, 11, None)


def test_params_file_loads_and_is_checked(tmp_path: Path) -> None:
    oracle = OracleLSTM.random(11, 4, 5, seed=9)
    path = tmp_path / "oracle.npz"
    np.savez(path, **oracle.params_numpy())
    domain = small_domain(params_file=str(path))
    tokens = torch.randint(0, 11, (5, 6))
    assert torch.allclose(domain.nll(tokens), oracle.nll(tokens))
    with pytest.raises(DataError, match=r"missing\.npz: does not exist"):
        small_domain(params_file=str(tmp_path / "missing.npz")).oracle
    partial = {k: v for k, v in oracle.params_numpy().items() if k != "Wog"}
    np.savez(tmp_path / "partial.npz", **partial)
    with pytest.raises(DataError, match="lacks the array.*Wog"):
        small_domain(params_file=str(tmp_path / "partial.npz")).oracle
    with pytest.raises(DataError, match=r"embedding is \(11, 4\), expected \(12, 4\)"):
        small_domain(params_file=str(path), vocab_size=12).oracle
    (tmp_path / "junk.npz").write_text("not an archive")
    with pytest.raises(DataError, match="cannot be read"):
        small_domain(params_file=str(tmp_path / "junk.npz")).oracle


def test_state_detects_a_different_oracle() -> None:
    domain = small_domain()
    state = domain.state_dict()
    restored = small_domain()
    restored.load_state_dict(state)
    restored.load("train")  # same oracle: fine
    other = small_domain(seed=8)
    other.load_state_dict(state)
    with pytest.raises(DataError, match="not the one this run was trained against"):
        other.load("train")


def test_write_samples_token_ids(tmp_path: Path) -> None:
    batch = Batch(values=torch.tensor([[3, 0, 10], [1, 2, 7]]), lengths=torch.tensor([3, 2]))
    path = small_domain().write_samples(batch, tmp_path, "step-2")[0]
    assert path.read_text() == "3 0 10\n1 2\n" and path.name == "step-2.txt"


def test_oracle_nll_metric_is_token_weighted_and_checks_its_domain(tmp_path: Path) -> None:
    domain = small_domain()
    metric = OracleNLL(domain=domain)
    tokens = torch.randint(0, 11, (4, 6))
    padded = Batch(values=tokens, lengths=torch.tensor([6, 2, 6, 4]))
    per_row = domain.nll(tokens, padded.lengths).double()
    assert metric(padded, padded) == pytest.approx(float((per_row * padded.lengths).sum() / 18), rel=1e-9)
    scrambled = Batch(values=tokens.masked_fill(~padded.mask, 5), lengths=padded.lengths)
    assert metric(padded, scrambled) == pytest.approx(metric(padded, padded), rel=1e-6)
    assert OracleNLL.higher_is_better is False
    from seqtk.plugins.text.domain import TextDomain

    text_file = tmp_path / "t.txt"
    text_file.write_text("a b\n")
    with pytest.raises(ValueError, match="got TextDomain"):
        OracleNLL(domain=TextDomain(str(text_file), str(text_file)))


def test_registered_as_oracle_and_nll_oracle(host) -> None:
    domain = host.registry.get("domains", "oracle").build({}, {"vocab_size": 11, "embed_dim": 4, "hidden_dim": 5})
    assert isinstance(domain, OracleDomain)
    metric = host.registry.get("metrics", "nll-oracle").build({"domain": domain, "spec": domain.spec, "generator": None}, {})
    assert isinstance(metric, OracleNLL)
    assert set(PARAM_NAMES) == set(param_shapes(3, 2, 2))


@pytest.mark.skipif(not SEQGAN_PARAMS.is_file(), reason="SeqGAN's oracle parameters are not available")
def test_seqgan_oracle_entropy_and_uniform_baseline() -> None:
    domain = OracleDomain(params_file=str(SEQGAN_PARAMS), train_samples=2000, test_samples=1)
    samples = domain.load("train").batch
    metric = OracleNLL(domain=domain)
    assert metric(samples, samples) == pytest.approx(5.749, abs=0.05)
    uniform = Batch.full_length(torch.randint(0, 5000, (1000, 20), generator=torch.Generator().manual_seed(0)))
    assert metric(samples, uniform) == pytest.approx(11.43, abs=0.1)
