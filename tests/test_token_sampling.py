"""The fast categorical sampler draws exactly from softmax(logits / temperature).

Distributions are checked with chi-square goodness-of-fit tests against the exact
probabilities (computed in float64), on fixed seeds, so every test is deterministic.
Cells with small expected counts are pooled so that the chi-square approximation holds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from seqtk.plugins.tokens.sampling import (
    _inverse_cdf,
    block_size,
    gumbel_softmax_sample,
    sample_categorical,
    sample_multinomial,
)

DRAWS = 200_000
#: A fit is rejected below this p-value; with fixed seeds the tests are deterministic, and a
#: correct sampler fails a given seed with probability 1e-4.
ALPHA = 1e-4


def exact_probs(logits: torch.Tensor, temperature: float = 1.0) -> np.ndarray:
    return torch.softmax(logits.double() / temperature, dim=-1).numpy()


def counts_of(tokens: torch.Tensor, vocab: int) -> np.ndarray:
    return torch.bincount(tokens.reshape(-1), minlength=vocab).numpy()


def goodness_of_fit(counts: np.ndarray, probs: np.ndarray) -> float:
    """Chi-square p-value of ``counts`` against ``probs``; cells expecting < 5 draws are pooled."""
    total = counts.sum()
    expected = probs * total
    big = expected >= 5
    observed = list(counts[big]) + ([counts[~big].sum()] if (~big).any() else [])
    wanted = list(expected[big]) + ([expected[~big].sum()] if (~big).any() else [])
    observed, wanted = np.array(observed, dtype=float), np.array(wanted, dtype=float)
    wanted *= observed.sum() / wanted.sum()
    return float(stats.chisquare(observed, wanted).pvalue)


def draw_many(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    return sample_categorical(logits.expand(DRAWS, -1), temperature)


@pytest.mark.parametrize("vocab", [2, 7, 16, 50])
def test_matches_softmax_probabilities(vocab: int) -> None:
    # 50 is not a multiple of its block size (8), so the tail block is exercised; 16 is.
    logits = torch.randn(vocab, generator=torch.Generator().manual_seed(vocab)) * 1.5
    tokens = draw_many(logits)
    assert tokens.dtype == torch.long and tokens.shape == (DRAWS,)
    assert goodness_of_fit(counts_of(tokens, vocab), exact_probs(logits)) > ALPHA


def test_peaked_distribution() -> None:
    logits = torch.tensor([9.0, 0.0, 1.0, -3.0, 2.0, 0.5])
    probs = exact_probs(logits)
    assert probs[0] > 0.99
    tokens = draw_many(logits)
    assert goodness_of_fit(counts_of(tokens, 6), probs) > ALPHA


def test_masked_entries_are_never_drawn() -> None:
    inf = float("-inf")
    # Masked ids at both ends and in the middle, including the last column (where a
    # rounding overshoot of the inverse CDF would land).
    logits = torch.tensor([inf, 0.3, inf, -1.0, 2.0, 0.0, inf, 0.7, inf])
    tokens = draw_many(logits)
    counts = counts_of(tokens, 9)
    assert counts[[0, 2, 6, 8]].sum() == 0
    probs = exact_probs(logits)
    keep = probs > 0
    assert goodness_of_fit(counts[keep], probs[keep]) > ALPHA


@pytest.mark.parametrize("only", [0, 3, 8])
def test_single_allowed_token_is_always_drawn(only: int) -> None:
    logits = torch.full((9,), float("-inf"))
    logits[only] = -50.0
    assert bool((sample_categorical(logits.expand(1000, -1)) == only).all())


def test_temperature_is_applied() -> None:
    logits = torch.tensor([1.0, 0.0, -1.0, 0.5, 2.0])
    for temperature in (0.5, 3.0):
        tokens = draw_many(logits, temperature)
        assert goodness_of_fit(counts_of(tokens, 5), exact_probs(logits, temperature)) > ALPHA
    # And the untempered distribution is clearly rejected for temperature 0.5.
    tokens = draw_many(logits, 0.5)
    assert goodness_of_fit(counts_of(tokens, 5), exact_probs(logits)) < 1e-12


def test_rows_are_sampled_from_their_own_logits() -> None:
    logits = torch.randn(3, 6, generator=torch.Generator().manual_seed(1)) * 2
    tokens = sample_categorical(logits.repeat(DRAWS // 3, 1)).view(-1, 3)
    for row in range(3):
        assert goodness_of_fit(counts_of(tokens[:, row], 6), exact_probs(logits[row])) > ALPHA


def test_leading_dimensions_are_kept() -> None:
    logits = torch.randn(4, 3, 10)
    tokens, log_prob = sample_categorical(logits, return_log_prob=True)
    assert tokens.shape == (4, 3) and log_prob.shape == (4, 3)


def test_agrees_with_torch_multinomial() -> None:
    """Two-sample test: our draws and torch.multinomial's come from one distribution."""
    logits = torch.randn(12, generator=torch.Generator().manual_seed(5)) * 2
    ours = counts_of(draw_many(logits), 12)
    reference = counts_of(sample_multinomial(logits.expand(DRAWS, -1)), 12)
    table = np.stack([ours, reference])
    table = table[:, table.sum(0) > 0]
    assert stats.chi2_contingency(table).pvalue > ALPHA
    assert goodness_of_fit(reference, exact_probs(logits)) > ALPHA


def test_log_prob_is_the_log_softmax_of_the_drawn_token_and_differentiable() -> None:
    logits = (torch.randn(64, 11) * 3).requires_grad_()
    logits.data[:, 4] = float("-inf")
    tokens, log_prob = sample_categorical(logits, 0.7, return_log_prob=True)
    assert not bool((tokens == 4).any())
    reference = torch.log_softmax(logits / 0.7, -1).gather(1, tokens[:, None]).squeeze(1)
    torch.testing.assert_close(log_prob, reference)
    (grad,) = torch.autograd.grad(log_prob.sum(), logits)
    (expected,) = torch.autograd.grad(reference.sum(), logits)
    torch.testing.assert_close(grad, expected)
    assert bool(torch.isfinite(grad).all())


def test_seeded_runs_repeat_and_a_generator_can_be_given() -> None:
    logits = torch.randn(500, 30)
    torch.manual_seed(3)
    first = sample_categorical(logits)
    torch.manual_seed(3)
    assert torch.equal(first, sample_categorical(logits))
    one = sample_categorical(logits, generator=torch.Generator().manual_seed(9))
    two = sample_categorical(logits, generator=torch.Generator().manual_seed(9))
    assert torch.equal(one, two)


def test_inverse_cdf_stays_below_the_total_when_the_uniform_rounds_up() -> None:
    # A uniform of exactly 1 (rand never returns it, but u * total can round up to total)
    # must still land on the last positive weight, never on trailing zeros.
    weights = torch.tensor([[0.2, 0.5, 0.3, 0.0, 0.0], [0.0, 0.0, 0.0, 1e-30, 0.0]])
    index = _inverse_cdf(weights, torch.ones(2, 1))
    assert index.squeeze(1).tolist() == [2, 3]
    index = _inverse_cdf(weights, torch.zeros(2, 1))
    assert index.squeeze(1).tolist() == [0, 3]


def test_block_size_and_parameter_checks() -> None:
    assert [block_size(v) for v in (1, 2, 4, 5, 5000)] == [1, 2, 2, 3, 71]
    with pytest.raises(ValueError, match="temperature"):
        sample_categorical(torch.zeros(2, 3), 0.0)
    with pytest.raises(ValueError, match="inverse_temperature"):
        gumbel_softmax_sample(torch.zeros(2, 3), -1.0)


def test_gumbel_max_tokens_follow_the_softmax_and_relaxations_are_consistent() -> None:
    inf = float("-inf")
    logits = torch.tensor([0.5, inf, 1.5, -0.5, 0.0, 1.0])
    tokens, relaxed, log_prob = gumbel_softmax_sample(logits.expand(DRAWS, -1), 2.0)
    counts = counts_of(tokens, 6)
    assert counts[1] == 0
    probs = exact_probs(logits)
    keep = probs > 0
    assert goodness_of_fit(counts[keep], probs[keep]) > ALPHA
    torch.testing.assert_close(relaxed.sum(-1), torch.ones(DRAWS))
    assert bool((relaxed[:, 1] == 0).all())
    # softmax is monotone, so the relaxation peaks at the hard token for any temperature.
    assert torch.equal(relaxed.argmax(-1), tokens)
    torch.testing.assert_close(log_prob, torch.log_softmax(logits, -1)[tokens])


def test_gumbel_relaxation_sharpens_with_the_inverse_temperature_and_carries_gradients() -> None:
    logits = torch.randn(256, 8).requires_grad_()
    torch.manual_seed(4)
    tokens, soft, _ = gumbel_softmax_sample(logits, 1.0)
    torch.manual_seed(4)
    same_tokens, sharp, _ = gumbel_softmax_sample(logits, 1000.0)
    assert torch.equal(tokens, same_tokens)
    peak_soft = soft.detach().gather(1, tokens[:, None]).mean()
    peak_sharp = sharp.detach().gather(1, tokens[:, None]).mean()
    assert float(peak_soft) < 0.9 < float(peak_sharp)
    (grad,) = torch.autograd.grad(soft[:, 0].sum(), logits)
    assert float(grad.abs().sum()) > 0
