"""MaliGAN's estimator: weights checked by hand, the gradient against its closed form, training.

The weights are compared with ``D/(1-D)`` normalised by explicit division (not the
softmax the estimator uses). The gradient is checked on an i.i.d. categorical generator,
whose ``grad log p(x)`` is known in closed form. Training checks show the generator
learning what a fixed discriminator prefers, with and without rollouts.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from seqtk.core.errors import RecipeError
from seqtk.core.interfaces import Batch, DomainSpec, Generator
from seqtk.core.recipe import load_recipe
from seqtk.plugins.maligan import MaliGAN, maligan_loss, normalised_weights
from seqtk.plugins.objectives import Minimax
from test_estimators import ORACLE, TARGET, TEXT, CountingCritic, make, share_of_target  # the same toy critic and generators


class IIDGenerator(Generator):
    """Every token drawn independently from ``softmax(theta)``: ``d log p(x) / d theta = sum_t (onehot(x_t) - pi)``."""

    def __init__(self, vocab_size: int, steps: int) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.linspace(-1.0, 1.0, vocab_size))
        self.steps = steps

    def sample(self, n: int) -> Batch:
        log_pi = torch.log_softmax(self.theta, 0)
        tokens = torch.multinomial(log_pi.exp().detach(), n * self.steps, replacement=True).view(n, self.steps)
        return Batch.full_length(tokens, log_probs=log_pi[tokens])


# --------------------------------------------------------------------------- the weights


def test_weights_are_d_over_one_minus_d_normalised_by_hand() -> None:
    logits = torch.tensor([0.0, math.log(3.0), -math.log(4.0), 2.5])
    d = torch.sigmoid(logits)
    ratio = d / (1 - d)  # 1, 3, 1/4, e^2.5
    torch.testing.assert_close(normalised_weights(logits), ratio / ratio.sum())
    assert float(normalised_weights(logits).sum()) == pytest.approx(1.0)
    # temperature 2: r^(1/2) normalised
    torch.testing.assert_close(normalised_weights(logits, temperature=2.0), ratio.sqrt() / ratio.sqrt().sum())


def test_weights_do_not_overflow_for_a_confident_discriminator() -> None:
    weights = normalised_weights(torch.tensor([200.0, 199.0, -300.0]))  # D/(1-D) = e^200 overflows float32
    torch.testing.assert_close(weights, torch.tensor([1 / (1 + math.exp(-1)), 1 / (1 + math.e), 0.0]))


def test_per_step_weights_normalise_over_the_rows_still_running() -> None:
    scores = torch.tensor([[0.0, 1.0], [math.log(3.0), 5.0], [7.0, 7.0]])
    mask = torch.tensor([[True, True], [True, False], [False, False]])
    weights = normalised_weights(scores, mask)
    torch.testing.assert_close(weights, torch.tensor([[0.25, 1.0], [0.75, 0.0], [0.0, 0.0]]))


def test_loss_by_hand_with_the_uniform_baseline() -> None:
    log_probs = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, 0.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    weights = torch.tensor([0.8, 0.2])
    # (0.8 - 0.5) * -6 + (0.2 - 0.5) * -1 = -1.8 + 0.3, negated
    assert float(maligan_loss(log_probs, weights, mask, "uniform")) == pytest.approx(1.5)
    assert float(maligan_loss(log_probs, weights, mask, "none")) == pytest.approx(0.8 * 6 + 0.2 * 1)


# --------------------------------------------------------------------------- the gradient


@pytest.mark.parametrize("baseline", ["uniform", "none"])
def test_gradient_equals_the_closed_form_on_an_iid_generator(baseline: str) -> None:
    torch.manual_seed(0)
    vocab, steps, m = 6, 5, 16
    generator = IIDGenerator(vocab, steps)
    critic = CountingCritic(vocab)
    estimator = MaliGAN(baseline=baseline, temperature=1.5)
    captured: dict[str, Batch] = {}
    original = generator.sample

    def sample(n: int) -> Batch:
        captured["fake"] = original(n)
        return captured["fake"]

    generator.sample = sample  # type: ignore[method-assign]
    result = estimator.generator_step(generator, critic, Minimax(), Batch.full_length(torch.zeros(m, steps, dtype=torch.long)), step=0, total_steps=1)
    result.loss.backward()
    tokens = captured["fake"].values
    d = torch.sigmoid(4 * (tokens == TARGET).float().mean(1) - 2)
    ratio = (d / (1 - d)) ** (1 / 1.5)
    coefficient = ratio / ratio.sum() - (1.0 / m if baseline == "uniform" else 0.0)
    pi = torch.softmax(generator.theta.detach(), 0)
    grad_log_p = nn.functional.one_hot(tokens, vocab).float().sum(1) - steps * pi  # [m, V]
    expected = -(coefficient.unsqueeze(1) * grad_log_p).sum(0)
    torch.testing.assert_close(generator.theta.grad, expected)
    assert result.logs["weight_max"] == pytest.approx(float((ratio / ratio.sum()).max()), rel=1e-5)
    assert result.logs["reward"] == pytest.approx(float(d.mean()), rel=1e-5)


def test_discriminator_scores_in_eval_mode_and_gets_its_mode_back() -> None:
    generator, critic = make(), CountingCritic(ORACLE.vocab_size)
    critic.train()
    MaliGAN().generator_step(generator, critic, Minimax(), make().sample(4), step=0, total_steps=1)
    assert critic.modes == [False] and critic.training


def test_rollout_weights_end_with_the_sequence_weight_and_average_ratios() -> None:
    torch.manual_seed(3)
    generator, critic = make(TEXT), CountingCritic(TEXT.vocab_size)
    estimator = MaliGAN(rollouts=3)
    fake = generator.sample(6).detach()
    captured: dict[str, Any] = {}
    original = generator.rollouts

    def rollouts(*args: Any, **kwargs: Any) -> Any:
        captured["r"] = original(*args, **kwargs)
        return captured["r"]

    generator.rollouts = rollouts  # type: ignore[method-assign]
    scores, prefix = estimator.scores(fake, critic, generator)
    assert prefix is not None
    torch.testing.assert_close(prefix[:, -1], scores)
    completions = captured["r"]
    for t in range(TEXT.max_len - 1):
        for b in range(6):
            logits = []
            for k in range(3):
                row = Batch(values=completions.values[t, k, b : b + 1], lengths=completions.lengths[t, k, b : b + 1])
                logits.append(float(critic(row)) if completions.sampled[t, k, b] else float(scores[b]))
            expected = math.log(sum(math.exp(s) for s in logits) / 3)
            assert float(prefix[b, t]) == pytest.approx(expected, abs=1e-5)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"baseline": "mean"}, "baseline must be one of 'uniform', 'none'"),
        ({"temperature": 0.0}, "temperature must be a finite number > 0"),
        ({"temperature": float("nan")}, "temperature must be a finite number > 0"),
        ({"temperature": True}, "temperature must be a finite number > 0"),
        ({"rollouts": -1}, "rollouts must be an integer >= 0"),
        ({"chunk_size": 0}, "chunk_size must be an integer >= 1"),
    ],
)
def test_rejects_bad_parameters(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MaliGAN(**params)


def test_rollouts_need_a_generator_that_rolls_out() -> None:
    with pytest.raises(ValueError, match="IIDGenerator has none"):
        MaliGAN(rollouts=2).setup(IIDGenerator(4, 3), CountingCritic(4), Minimax())


@pytest.mark.parametrize("objective", ["wgan-gp", "hinge", "lsgan", "rsgan"])
def test_a_recipe_pairing_it_with_a_critic_loss_is_refused(objective: str) -> None:
    recipe = {
        "seqtk": 1,
        "name": "m",
        "domain": {"name": "oracle", "params": {"vocab_size": 20, "max_len": 4, "train_samples": 8, "test_samples": 8}},
        "preset": "maligan",
        "objective": {"name": objective},
        "train": {"adversarial": {"steps": 1}},
    }
    with pytest.raises(RecipeError, match="estimator 'maligan' requires probability.*provided by: objective 'acgan', objective 'minimax'"):
        load_recipe(recipe)
    recipe["objective"] = {"name": "minimax"}
    load_recipe(recipe)


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize(("spec", "rollouts"), [(ORACLE, 0), (TEXT, 0), (TEXT, 2)], ids=["fixed-length", "eos", "eos-rollouts"])
def test_maligan_learns_what_a_fixed_discriminator_prefers(spec: DomainSpec, rollouts: int) -> None:
    generator = make(spec)
    critic, objective = CountingCritic(spec.vocab_size), Minimax()
    estimator = MaliGAN(rollouts=rollouts)
    estimator.setup(generator, critic, objective)
    optimiser = torch.optim.Adam(generator.parameters(), lr=0.05)
    real = make(spec).sample(32).detach()
    before = share_of_target(generator)
    for step in range(25):
        optimiser.zero_grad()
        result = estimator.generator_step(generator, critic, objective, real, step=step, total_steps=25)
        result.loss.backward()
        optimiser.step()
    after = share_of_target(generator)
    assert before < 0.4 and after > before + 0.3, (before, after)
