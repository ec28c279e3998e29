"""The GAN objectives against numbers worked out by hand.

Every objective's discriminator loss, generator loss and reward on small explicit
tensors; masked per-step scores; the relativistic pairing; weight clipping; the
direction of every discriminator gradient; WGAN-GP's penalty on token data with real
token discriminators; and the registry entries that recipes use.
"""

from __future__ import annotations

import math

import pytest
import torch

from seqtk.core.interfaces import Batch, DomainSpec, Objective, Scores
from seqtk.plugins import losses
from seqtk.plugins.discriminators import CNNDiscriminator, GRUDiscriminator, LSTMDiscriminator
from seqtk.plugins.objectives import LSGAN, RSGAN, WGANGP, Hinge, Minimax, WGANClip

LOG2 = math.log(2.0)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def s(*values: float) -> Scores:
    return Scores(torch.tensor(values))


def close(value: torch.Tensor, expected: float) -> None:
    assert value.dim() == 0
    assert value.item() == pytest.approx(expected, abs=1e-6)


# --------------------------------------------------------------------------- pure functions


def test_hinge_pure_functions():
    real_term, fake_term = losses.hinge_discriminator_loss(torch.tensor([1.5, 0.25, -0.5]), torch.tensor([-3.0, -0.5, 0.5]))
    torch.testing.assert_close(real_term, torch.tensor([0.0, 0.75, 1.5]))  # relu(1 - r)
    torch.testing.assert_close(fake_term, torch.tensor([0.0, 0.5, 1.5]))  # relu(1 + f)
    torch.testing.assert_close(losses.hinge_generator_loss(torch.tensor([2.0, -1.0])), torch.tensor([-2.0, 1.0]))


def test_least_squares_pure_functions():
    real_term, fake_term = losses.least_squares_discriminator_loss(torch.tensor([1.0, 3.0, -1.0]), torch.tensor([0.0, 2.0, -2.0]))
    torch.testing.assert_close(real_term, torch.tensor([0.0, 2.0, 2.0]))  # 0.5 (r - 1)^2
    torch.testing.assert_close(fake_term, torch.tensor([0.0, 2.0, 2.0]))  # 0.5 f^2
    # 0.5 (f - 1)^2
    torch.testing.assert_close(losses.least_squares_generator_loss(torch.tensor([0.0, 2.0, -2.0])), torch.tensor([0.5, 0.5, 4.5]))


def test_relativistic_pure_functions_and_shape_check():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0])
    # -log sigmoid(r - f) = softplus(f - r)
    torch.testing.assert_close(losses.relativistic_discriminator_loss(real, fake), torch.tensor([softplus(-1.0), softplus(1.0)]))
    torch.testing.assert_close(losses.relativistic_generator_loss(real, fake), torch.tensor([softplus(1.0), softplus(-1.0)]))
    with pytest.raises(ValueError, match="same shape"):
        losses.relativistic_discriminator_loss(torch.zeros(3), torch.zeros(2))


def test_gradient_penalty_names_a_critic_that_ignores_its_input():
    with pytest.raises(ValueError, match="one_hot"):
        losses.gradient_penalty(lambda x: torch.ones(x.shape[0], requires_grad=True), torch.zeros(2, 3, 4), torch.ones(2, 3, 4))


# --------------------------------------------------------------------------- objectives by hand


def test_minimax_by_hand():
    real, fake = s(1.0), s(-1.0)
    close(Minimax().discriminator_loss(real, fake), 2 * softplus(-1.0))  # -log s(1) - log(1 - s(-1)) = 0.626523
    close(Minimax().generator_loss(fake), softplus(1.0))  # -log s(-1) = 1.313262
    close(Minimax(non_saturating=False).generator_loss(fake), -softplus(-1.0))  # log(1 - s(-1)) = -0.313262


def test_wgan_clip_by_hand():
    objective = WGANClip()
    real, fake = s(3.0, 1.0), s(0.5, -0.5)
    close(objective.discriminator_loss(real, fake), -2.0 + 0.0)  # -mean(real) + mean(fake)
    close(objective.generator_loss(fake), 0.0)  # -mean(fake)
    close(objective.generator_loss(s(2.0, 1.0)), -1.5)
    assert (objective.clip, objective.critic_steps) == (0.01, 5)
    assert WGANClip(clip=0.1, critic_steps=2).critic_steps == 2


def test_hinge_by_hand():
    real, fake = s(1.5, 0.25, -0.5), s(-3.0, -0.5, 0.5)
    # relu(1 - r) = [0, 0.75, 1.5] -> 0.75; relu(1 + f) = [0, 0.5, 1.5] -> 2/3
    close(Hinge().discriminator_loss(real, fake), 0.75 + 2.0 / 3.0)
    close(Hinge().generator_loss(fake), 1.0)  # -mean(-3, -0.5, 0.5)
    assert Hinge().critic_steps == 1 and not Hinge().generator_needs_real


def test_lsgan_by_hand():
    real, fake = s(1.0, 3.0, -1.0), s(0.0, 2.0, -2.0)
    # 0.5 (r - 1)^2 = [0, 2, 2] -> 4/3; 0.5 f^2 = [0, 2, 2] -> 4/3
    close(LSGAN().discriminator_loss(real, fake), 8.0 / 3.0)
    close(LSGAN().generator_loss(fake), 5.5 / 3.0)  # 0.5 (f - 1)^2 = [0.5, 0.5, 4.5]


def test_rsgan_by_hand():
    objective = RSGAN()
    assert objective.generator_needs_real
    real, fake = s(2.0, 0.0), s(1.0, 1.0)
    # pairs (2, 1) and (0, 1): softplus(1 - 2), softplus(1 - 0)
    close(objective.discriminator_loss(real, fake), (softplus(-1.0) + softplus(1.0)) / 2)  # 0.813262
    close(objective.generator_loss(fake, real), (softplus(1.0) + softplus(-1.0)) / 2)
    close(objective.discriminator_loss(s(0.0), s(0.0)), LOG2)


def test_rsgan_pairs_row_i_with_row_i():
    real = s(2.0, 0.0)
    # pairs (2, 0), (0, 2): softplus(-2) = 0.126928, softplus(2) = 2.126928
    close(RSGAN().discriminator_loss(real, s(0.0, 2.0)), (softplus(-2.0) + softplus(2.0)) / 2)
    # the same fake scores in the other order: pairs (2, 2), (0, 0) -> log 2 each.
    # An all-pairs average would give the same value for both orders; pairing does not.
    close(RSGAN().discriminator_loss(real, s(2.0, 0.0)), LOG2)


def test_rsgan_refuses_unequal_batches_and_a_missing_real_batch():
    with pytest.raises(ValueError, match="same number of rows; got 3 real and 2 fake"):
        RSGAN().discriminator_loss(s(1.0, 2.0, 3.0), s(0.0, 0.0))
    with pytest.raises(ValueError, match="real=None"):
        RSGAN().generator_loss(s(0.0))
    with pytest.raises(ValueError, match="real_scores"):
        RSGAN().reward(torch.zeros(2))


def test_rsgan_reduces_per_step_scores_by_their_masks_before_pairing():
    # real rows: mean of [1, 3] = 2 and of [2] = 2 (the 99s are padding)
    real = Scores(torch.tensor([[1.0, 3.0, 99.0], [2.0, -99.0, 99.0]]), torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    # fake rows: mean of [0, 0] = 0 and of [1, 1, 1] = 1
    fake = Scores(torch.tensor([[0.0, 0.0, -50.0], [1.0, 1.0, 1.0]]), torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]))
    close(RSGAN().discriminator_loss(real, fake), (softplus(0.0 - 2.0) + softplus(1.0 - 2.0)) / 2)  # 0.220095
    close(RSGAN().generator_loss(fake, real), (softplus(2.0) + softplus(1.0)) / 2)


# --------------------------------------------------------------------------- rewards


FAKE = (-1.0, 0.0, 2.0)

REWARDS = [
    (Minimax(), [sigmoid(-1.0), 0.5, sigmoid(2.0)]),  # [0.268941, 0.5, 0.880797]
    (WGANClip(), [-1.0, 0.0, 2.0]),
    (WGANGP(), [-1.0, 0.0, 2.0]),
    (Hinge(), [-1.0, 0.0, 2.0]),
    (LSGAN(), [-4.0, -1.0, -1.0]),  # -(f - 1)^2
]


@pytest.mark.parametrize("objective, expected", REWARDS, ids=lambda o: type(o).__name__)
def test_rewards_by_hand(objective: Objective, expected: list[float]):
    scores = torch.tensor(FAKE, requires_grad=True)
    reward = objective.reward(scores)
    torch.testing.assert_close(reward, torch.tensor(expected))
    assert not reward.requires_grad


def test_rsgan_reward_compares_with_the_mean_real_score():
    scores = torch.tensor(FAKE, requires_grad=True)
    real = torch.tensor([0.5, 1.5])  # mean 1
    reward = RSGAN().reward(scores, real)
    torch.testing.assert_close(reward, torch.tensor([sigmoid(-2.0), sigmoid(-1.0), sigmoid(1.0)]))  # [0.119203, 0.268941, 0.731059]
    assert not reward.requires_grad
    # per-step real scores as Scores: padding stays out of the mean (mean of [0.5, 1.5] = 1)
    masked = Scores(torch.tensor([[0.5, 1.5, 100.0]]), torch.tensor([[1.0, 1.0, 0.0]]))
    torch.testing.assert_close(RSGAN().reward(scores, masked), reward)


# --------------------------------------------------------------------------- masks


def test_per_step_losses_by_hand_ignore_padding():
    weight = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    fake = Scores(torch.tensor([[0.5, -1.5, 100.0], [2.0, -100.0, 7.0]]), weight)
    close(Hinge().generator_loss(fake), -(0.5 - 1.5 + 2.0) / 3)  # -mean over 3 real steps
    # 0.5 (f - 1)^2 = [0.125, 3.125, 0.5] -> 3.75 / 3
    close(LSGAN().generator_loss(fake), 3.75 / 3)
    real = Scores(torch.tensor([[1.0, 3.0, 50.0], [-1.0, 8.0, 9.0]]), weight)
    # real: 0.5 (r - 1)^2 = [0, 2, 2] -> 4/3; fake: 0.5 f^2 = [0.125, 1.125, 2] -> 3.25 / 3
    close(LSGAN().discriminator_loss(real, fake), 4.0 / 3 + 3.25 / 3)
    close(WGANClip().discriminator_loss(real, fake), -(1.0 + 3.0 - 1.0) / 3 + (0.5 - 1.5 + 2.0) / 3)


ALL = [Minimax(), Minimax(non_saturating=False), WGANClip(), WGANGP(), Hinge(), LSGAN(), RSGAN()]


@pytest.mark.parametrize("objective", ALL, ids=repr)
def test_padding_never_changes_a_loss(objective: Objective):
    weight = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    real = torch.tensor([[0.3, -0.7, 0.0, 0.0], [1.2, 0.1, -0.4, 0.0]])
    fake = torch.tensor([[-0.2, 0.9, 0.0, 0.0], [0.5, -1.1, 0.6, 0.0]])
    garbage = torch.tensor([[0.0, 0.0, 80.0, -40.0], [0.0, 0.0, 0.0, 1e3]])
    clean = (objective.discriminator_loss(Scores(real, weight), Scores(fake, weight)),
             objective.generator_loss(Scores(fake, weight), Scores(real, weight)))
    dirty = (objective.discriminator_loss(Scores(real + garbage, weight), Scores(fake - garbage, weight)),
             objective.generator_loss(Scores(fake + garbage, weight), Scores(real - garbage, weight)))
    torch.testing.assert_close(dirty, clean)
    assert all(torch.isfinite(v) for v in clean)


# --------------------------------------------------------------------------- gradient directions


@pytest.mark.parametrize("objective", ALL, ids=repr)
def test_discriminator_loss_pushes_real_up_and_fake_down(objective: Objective):
    # inside every margin: hinge needs r < 1 and f > -1, least squares r < 1 and f > 0
    real = torch.tensor([0.3, -0.2], requires_grad=True)
    fake = torch.tensor([0.1, 0.4], requires_grad=True)
    objective.discriminator_loss(Scores(real), Scores(fake)).backward()
    assert (real.grad < 0).all(), f"gradient descent must raise real scores, got grad {real.grad}"
    assert (fake.grad > 0).all(), f"gradient descent must lower fake scores, got grad {fake.grad}"


@pytest.mark.parametrize("objective", ALL, ids=repr)
def test_generator_loss_pushes_fake_up(objective: Objective):
    real = torch.tensor([0.3, -0.2])
    fake = torch.tensor([0.1, 0.4], requires_grad=True)
    objective.generator_loss(Scores(fake), Scores(real)).backward()
    assert (fake.grad < 0).all(), f"gradient descent must raise fake scores, got grad {fake.grad}"


# --------------------------------------------------------------------------- weight clipping


def test_weight_clipping_clamps_every_parameter():
    linear = torch.nn.Linear(3, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.5, -0.002, -3.0]]))
        linear.bias.fill_(0.02)
    WGANClip(clip=0.01).after_discriminator_step(linear)  # type: ignore[arg-type]
    torch.testing.assert_close(linear.weight, torch.tensor([[0.01, -0.002, -0.01]]))
    torch.testing.assert_close(linear.bias, torch.tensor([0.01]))


def test_weight_clipping_on_a_real_critic():
    critic = GRUDiscriminator(DomainSpec(kind="discrete", max_len=6, vocab_size=5), hidden_dim=8, embed_dim=4)
    before = max(p.abs().max().item() for p in critic.parameters())
    assert before > 0.05
    WGANClip(clip=0.05).after_discriminator_step(critic)
    after = torch.cat([p.detach().flatten() for p in critic.parameters()])
    assert after.abs().max().item() == pytest.approx(0.05)
    assert not any(p.grad is not None for p in critic.parameters())  # no graph, no gradients


@pytest.mark.parametrize(
    "kwargs, message",
    [({"clip": 0.0}, "clip"), ({"clip": -0.1}, "clip"), ({"clip": float("inf")}, "clip"), ({"clip": True}, "clip"),
     ({"critic_steps": 0}, "critic_steps"), ({"critic_steps": 2.5}, "critic_steps")],
)
def test_wgan_clip_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WGANClip(**kwargs)


# --------------------------------------------------------------------------- WGAN-GP on tokens

V = 6


def _token_batches() -> tuple[Batch, Batch]:
    """Real tokens with lengths [5, 3, 2]; fake relaxed one-hots, fewer steps, lengths [4, 4, 1]."""
    gen = torch.Generator().manual_seed(1)
    real = Batch(values=torch.randint(0, V, (3, 5), generator=gen), lengths=torch.tensor([5, 3, 2]))
    relaxed = torch.softmax(torch.randn(3, 4, V, generator=gen), dim=-1)
    fake = Batch(values=relaxed.argmax(-1), lengths=torch.tensor([4, 4, 1]), relaxed=relaxed)
    return real, fake


def _reference_penalty(critic: torch.nn.Module, real: Batch, fake: Batch, eps: torch.Tensor) -> torch.Tensor:
    """The penalty written out directly: one-hots, padding in time, the longer length, the masked norm."""
    device = real.values.device
    real_x = torch.nn.functional.one_hot(real.values, V).float()
    fake_x = fake.relaxed if fake.relaxed is not None else torch.nn.functional.one_hot(fake.values, V).float()
    fake_x = torch.cat([fake_x, torch.zeros(3, real_x.shape[1] - fake_x.shape[1], V, device=device)], dim=1)
    lengths = torch.maximum(real.lengths, fake.lengths)
    mask = (torch.arange(real_x.shape[1], device=device).unsqueeze(0) < lengths.unsqueeze(1)).float()
    x_hat = (eps * real_x + (1 - eps) * fake_x).requires_grad_(True)
    scores = critic(Batch(values=x_hat.argmax(-1), lengths=lengths, relaxed=x_hat))
    if scores.dim() == 2:
        scores = (scores * mask).sum(1) / mask.sum(1)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat)
    norms = (grad * mask.unsqueeze(-1)).flatten(1).norm(dim=1)
    return ((norms - 1) ** 2).mean()


TOKEN_SPEC = DomainSpec(kind="discrete", max_len=5, vocab_size=V)
TOKEN_CRITICS = [
    lambda: CNNDiscriminator(TOKEN_SPEC, embed_dim=4, filter_sizes=[2, 3], num_filters=[3, 3], dropout=0.0),
    lambda: GRUDiscriminator(TOKEN_SPEC, hidden_dim=6, embed_dim=4, per_step=True),
    lambda: LSTMDiscriminator(TOKEN_SPEC, hidden_dim=6, embed_dim=4),
]


@pytest.mark.parametrize("make", TOKEN_CRITICS, ids=["cnn", "gru-per-step", "lstm"])
def test_wgangp_penalty_on_tokens_matches_a_direct_computation(make):
    torch.manual_seed(0)
    critic = make()
    real, fake = _token_batches()
    torch.manual_seed(7)
    penalty = WGANGP(penalty_weight=1.0).penalty(critic, real, fake)
    torch.manual_seed(7)
    eps = torch.rand(3, 1, 1)  # the draw gradient_penalty makes
    expected = _reference_penalty(critic, real, fake, eps)
    torch.testing.assert_close(penalty, expected)
    assert penalty.item() > 0
    # the penalty trains the critic: gradients reach its embedding matrix
    (10.0 * penalty).backward()
    assert critic.embed.weight.grad is not None and critic.embed.weight.grad.abs().sum() > 0


def test_wgangp_penalty_on_exact_one_hots_and_garbage_past_the_lengths():
    """A REINFORCE generator's batch carries no relaxed one-hots: exact one-hots, V from the spec."""
    torch.manual_seed(0)
    critic = CNNDiscriminator(TOKEN_SPEC, embed_dim=4, filter_sizes=[2], num_filters=[4], dropout=0.0)
    real, fake = _token_batches()
    tokens = Batch(values=fake.values, lengths=fake.lengths)
    torch.manual_seed(3)
    penalty = WGANGP(penalty_weight=1.0).penalty(critic, real, tokens)
    torch.manual_seed(3)
    torch.testing.assert_close(penalty, _reference_penalty(critic, real, tokens, torch.rand(3, 1, 1)))
    # tokens past both lengths of a pair change nothing
    real_values = real.values.clone()
    real_values[2, 2:] = (real_values[2, 2:] + 1) % V  # row 2: real length 2, fake length 1
    torch.manual_seed(3)
    again = WGANGP(penalty_weight=1.0).penalty(critic, Batch(values=real_values, lengths=real.lengths), tokens)
    torch.testing.assert_close(again, penalty)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("make", TOKEN_CRITICS, ids=["cnn", "gru-per-step", "lstm"])
def test_wgangp_penalty_on_tokens_on_cuda(make):
    """On CUDA too (cuDNN's RNNs have no double backward: the penalty switches cuDNN off)."""
    torch.manual_seed(0)
    critic = make().to("cuda")
    real, fake = (b.to("cuda") for b in _token_batches())
    torch.cuda.manual_seed(7)
    penalty = WGANGP(penalty_weight=1.0).penalty(critic, real, fake)
    torch.cuda.manual_seed(7)
    eps = torch.rand(3, 1, 1, device="cuda")
    with torch.backends.cudnn.flags(enabled=False):
        expected = _reference_penalty(critic, real, fake, eps)
    torch.testing.assert_close(penalty, expected, rtol=1e-4, atol=1e-5)
    penalty.backward()
    assert critic.embed.weight.grad is not None and torch.isfinite(critic.embed.weight.grad).all()
    WGANClip(clip=0.01).after_discriminator_step(critic)
    assert max(p.abs().max().item() for p in critic.parameters()) <= 0.01
    reward = RSGAN().reward(torch.zeros(2, device="cuda"), torch.tensor([1.0, -1.0]))
    assert reward.device.type == "cuda"


def test_wgangp_penalty_refuses_unequal_batches():
    critic = CNNDiscriminator(TOKEN_SPEC, embed_dim=4, filter_sizes=[2], num_filters=[2])
    real, fake = _token_batches()
    with pytest.raises(ValueError, match="same number of rows"):
        WGANGP().penalty(critic, real, fake.index(torch.tensor([0, 1])))


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    "name, params, expected",
    [
        ("wgan", {"clip": 0.05}, "WGANClip(clip=0.05, critic_steps=5)"),
        ("hinge", {}, "Hinge()"),
        ("rsgan", {}, "RSGAN()"),
        ("lsgan", {}, "LSGAN()"),
        ("wgan-gp", {"critic_steps": 3}, "WGANGP(penalty_weight=10.0, critic_steps=3)"),
    ],
)
def test_registry_builds_each_objective(host, name, params, expected):
    entry = host.registry.get("objectives", name)
    assert entry.check_params(params) == []
    assert repr(entry.build({}, params)) == expected


def test_registry_checks_objective_params(host):
    problems = dict(host.registry.get("objectives", "wgan").check_params({"clip": "small", "critic_step": 2}))
    assert "expected a number" in problems["clip"]
    assert "unknown parameter" in problems["critic_step"]
