"""Numeric tests of the GAN losses and of the objectives built on them."""

from __future__ import annotations

import math

import pytest
import torch

from seqtk.core.interfaces import Batch, DomainSpec, Scores
from seqtk.plugins import losses
from seqtk.plugins.discriminators import GRUDiscriminator
from seqtk.plugins.objectives import WGANGP, Minimax

LOG2 = math.log(2.0)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# --------------------------------------------------------------------------- pure losses


def test_minimax_discriminator_loss_at_zero_is_log2_per_term():
    real_term, fake_term = losses.minimax_discriminator_loss(t(0.0, 0.0), t(0.0))
    torch.testing.assert_close(real_term, t(LOG2, LOG2))
    torch.testing.assert_close(fake_term, t(LOG2))


def test_minimax_discriminator_loss_matches_the_formula():
    real, fake = t(2.0, -1.0), t(0.5, -3.0)
    real_term, fake_term = losses.minimax_discriminator_loss(real, fake)
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    torch.testing.assert_close(real_term, t(-math.log(sigmoid(2.0)), -math.log(sigmoid(-1.0))))
    torch.testing.assert_close(fake_term, t(-math.log(1 - sigmoid(0.5)), -math.log(1 - sigmoid(-3.0))))


def test_minimax_losses_are_finite_for_huge_scores():
    real_term, fake_term = losses.minimax_discriminator_loss(t(-1000.0), t(1000.0))
    torch.testing.assert_close(real_term, t(1000.0))
    torch.testing.assert_close(fake_term, t(1000.0))
    assert torch.isfinite(losses.minimax_generator_loss_saturating(t(1000.0, -1000.0))).all()
    assert torch.isfinite(losses.minimax_generator_loss_nonsaturating(t(1000.0, -1000.0))).all()


def test_generator_losses_by_hand():
    torch.testing.assert_close(losses.minimax_generator_loss_saturating(t(0.0)), t(-LOG2))
    torch.testing.assert_close(losses.minimax_generator_loss_nonsaturating(t(0.0)), t(LOG2))
    # log(1 - sigmoid(1)) = -log(1 + e); -log sigmoid(1) = log(1 + e^-1)
    torch.testing.assert_close(losses.minimax_generator_loss_saturating(t(1.0)), t(-math.log(1 + math.e)))
    torch.testing.assert_close(losses.minimax_generator_loss_nonsaturating(t(1.0)), t(math.log(1 + math.exp(-1))))


def test_wasserstein_losses_by_hand():
    real_term, fake_term = losses.wasserstein_critic_loss(t(3.0, 1.0), t(0.5, -0.5))
    torch.testing.assert_close(real_term, t(-3.0, -1.0))
    torch.testing.assert_close(fake_term, t(0.5, -0.5))
    torch.testing.assert_close(losses.wasserstein_generator_loss(t(2.0, -1.0)), t(-2.0, 1.0))


def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared():
    torch.manual_seed(0)
    w = torch.tensor([[3.0, 0.0], [0.0, 4.0], [0.0, 0.0]])  # ||w|| = 5 over the [T=3, F=2] input
    critic = lambda x: (x * w).sum(dim=(1, 2))  # noqa: E731
    real, fake = torch.randn(4, 3, 2), torch.randn(4, 3, 2)
    penalty = losses.gradient_penalty(critic, real, fake)
    assert penalty.shape == (4,)
    torch.testing.assert_close(penalty, torch.full((4,), 16.0))


def test_gradient_penalty_mask_drops_padding_and_keeps_the_graph():
    w = torch.nn.Parameter(torch.tensor([[3.0], [4.0], [12.0]]))  # full norm 13; first two steps: 5
    critic = lambda x: (x * w).sum(dim=(1, 2))  # noqa: E731
    mask = torch.tensor([[True, True, False]])
    penalty = losses.gradient_penalty(critic, torch.zeros(1, 3, 1), torch.ones(1, 3, 1), weight_mask=mask)
    torch.testing.assert_close(penalty, torch.tensor([16.0]))
    penalty.sum().backward()  # d/dw (||w[:2]|| - 1)^2 = 2 (5 - 1) w / 5
    torch.testing.assert_close(w.grad, torch.tensor([[4.8], [6.4], [0.0]]))


def test_gradient_penalty_rejects_per_step_scores():
    with pytest.raises(ValueError, match="one score per sample"):
        losses.gradient_penalty(lambda x: x.sum(-1), torch.zeros(2, 3, 1), torch.ones(2, 3, 1))


# --------------------------------------------------------------------------- objectives


def test_scores_weights_ignore_padding():
    batch = Batch(values=torch.zeros(2, 3, 1), lengths=torch.tensor([3, 1]))
    per_step = torch.tensor([[0.0, 0.0, 0.0], [0.0, 100.0, -100.0]])  # padding holds extreme scores
    scores = Scores.of(per_step, batch)
    objective = Minimax()
    torch.testing.assert_close(objective.generator_loss(scores), torch.tensor(LOG2))
    torch.testing.assert_close(objective.discriminator_loss(scores, scores), torch.tensor(2 * LOG2))


def test_minimax_objective_values_and_reward():
    real, fake = Scores(torch.tensor([0.0, 0.0])), Scores(torch.tensor([0.0]))
    assert Minimax().discriminator_loss(real, fake).item() == pytest.approx(2 * LOG2)
    assert Minimax(non_saturating=True).generator_loss(fake).item() == pytest.approx(LOG2)
    assert Minimax(non_saturating=False).generator_loss(fake).item() == pytest.approx(-LOG2)
    scores = torch.tensor([0.0, 100.0], requires_grad=True)
    reward = Minimax().reward(scores)
    torch.testing.assert_close(reward, torch.tensor([0.5, 1.0]))
    assert not reward.requires_grad  # a reward scales a gradient; it is never differentiated
    assert Minimax().critic_steps == 1
    assert Minimax().penalty(None, None, None) is None  # type: ignore[arg-type]


def test_wgangp_objective_values_reward_and_settings():
    objective = WGANGP(penalty_weight=2.5, critic_steps=3)
    assert objective.critic_steps == 3 and objective.penalty_weight == 2.5
    real, fake = Scores(torch.tensor([3.0, 1.0])), Scores(torch.tensor([0.5, -0.5]))
    assert objective.discriminator_loss(real, fake).item() == pytest.approx(0.0 - 2.0)
    assert objective.generator_loss(fake).item() == pytest.approx(0.0)
    reward = objective.reward(torch.tensor([-2.0, 7.0], requires_grad=True))
    torch.testing.assert_close(reward, torch.tensor([-2.0, 7.0]))
    assert not reward.requires_grad
    assert WGANGP().critic_steps == 5 and WGANGP().penalty_weight == 10.0


@pytest.mark.parametrize(
    "kwargs, message",
    [({"penalty_weight": -1.0}, "penalty_weight"), ({"critic_steps": 0}, "critic_steps")],
)
def test_wgangp_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WGANGP(**kwargs)


class _LinearCritic(torch.nn.Module):
    """D(batch) = sum of w * values over real steps: gradient norm ||w restricted to them||."""

    per_step = False

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, batch: Batch) -> torch.Tensor:
        x = batch.one_hot(self.w.shape[-1]) if batch.relaxed is not None else batch.values
        return (x * self.w * batch.mask.unsqueeze(-1)).sum(dim=(1, 2))


def test_wgangp_penalty_continuous_linear_critic():
    w = torch.tensor([[3.0, 4.0], [0.0, 0.0]])  # norm 5
    real = Batch.full_length(torch.randn(6, 2, 2))
    fake = Batch.full_length(torch.randn(6, 2, 2))
    penalty = WGANGP(penalty_weight=10.0).penalty(_LinearCritic(w), real, fake)
    assert penalty.item() == pytest.approx(10.0 * 16.0)
    assert WGANGP(penalty_weight=0.0).penalty(_LinearCritic(w), real, fake) is None


def test_wgangp_penalty_discrete_interpolates_one_hots():
    w = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 2.0]])  # [T=2, V=3], norm 3
    real = Batch.full_length(torch.tensor([[0, 1], [2, 2]]))
    fake = Batch.full_length(torch.tensor([[1, 1], [0, 2]]), relaxed=torch.softmax(torch.randn(2, 2, 3), -1))
    penalty = WGANGP(penalty_weight=1.0).penalty(_LinearCritic(w), real, fake)
    assert penalty.item() == pytest.approx(4.0)


def test_wgangp_penalty_reduces_per_step_scores_and_backpropagates():
    torch.manual_seed(0)
    spec = DomainSpec(kind="continuous", max_len=5, features=2)
    critic = GRUDiscriminator(spec, hidden_dim=8, per_step=True)
    real = Batch(values=torch.rand(4, 5, 2), lengths=torch.tensor([5, 3, 5, 2]))
    fake = Batch.full_length(torch.rand(4, 5, 2))
    penalty = WGANGP().penalty(critic, real, fake)
    assert penalty.dim() == 0 and penalty.item() > 0
    penalty.backward()
    grads = {name: p.grad for name, p in critic.named_parameters()}
    assert grads["head.bias"] is None  # a constant shift never changes the input gradient
    for name, grad in grads.items():
        if name != "head.bias":
            assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
