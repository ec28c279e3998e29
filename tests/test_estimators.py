"""REINFORCE with batched rollouts and RelGAN's Gumbel-softmax estimator.

Action values are checked two ways: against an explicit loop that scores the very same
rollouts one at a time, and against exact expectations computed by enumerating every
completion of every prefix under the generator's own probabilities. Training checks show
the generator learning what a fixed discriminator rewards.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from seqtk.core.interfaces import Batch, Discriminator, DomainSpec, Scores
from seqtk.plugins.estimators import GumbelSoftmax, Reinforce
from seqtk.plugins.objectives import Minimax
from seqtk.plugins.tokens.generator import TokenLSTMGenerator

PAD, BOS, EOS, TARGET = 0, 1, 2, 3
TEXT = DomainSpec(
    kind="discrete", max_len=4, vocab_size=5, pad_id=PAD, bos_id=BOS, eos_id=EOS, unsampled_ids=(PAD, BOS)
)
ORACLE = DomainSpec(kind="discrete", max_len=5, vocab_size=6)


def make(spec: DomainSpec = ORACLE, seed: int = 11) -> TokenLSTMGenerator:
    torch.manual_seed(seed)
    return TokenLSTMGenerator(spec, embed_dim=8, hidden_dim=12)


class CountingCritic(Discriminator):
    """Scores ``4 * (share of TARGET among the real steps) - 2``; per step: 4 * [token == TARGET] - 2.

    Reads one-hots (``Batch.one_hot``), so relaxed samples get gradients. Records the mode
    it was called in.
    """

    def __init__(self, vocab_size: int, per_step: bool = False) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.per_step = per_step
        self.unused = nn.Parameter(torch.zeros(()))
        self.modes: list[bool] = []

    def forward(self, batch: Batch) -> Tensor:
        self.modes.append(self.training)
        hits = batch.one_hot(self.vocab_size)[..., TARGET] * batch.mask.to(torch.float32)
        if self.per_step:
            return (4 * hits - 2) * batch.mask.to(torch.float32)
        return 4 * hits.sum(1) / batch.lengths.clamp_min(1).to(torch.float32) - 2


class RelativeObjective(Minimax):
    """Minimax with a relativistic reward, to check that real scores reach ``reward``."""

    generator_needs_real = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Tensor | None] = []

    def reward(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        self.seen.append(real_scores)
        assert real_scores is not None
        return torch.sigmoid(fake_scores - real_scores.mean())

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        self.seen.append(None if real is None else real.values)
        return super().generator_loss(fake, real)


@torch.no_grad()
def exact_value(generator: TokenLSTMGenerator, prefix: list[int], score: Any) -> float:
    """E[score(completion) | prefix] by enumerating every completion (tiny V and T only)."""
    spec = generator.spec
    if len(prefix) == spec.max_len or (spec.eos_id is not None and prefix[-1] == spec.eos_id):
        return score(prefix)
    padded = torch.tensor([prefix + [PAD] * (spec.max_len - len(prefix))])
    probs = torch.softmax(generator.next_token_logits(padded)[0, len(prefix)].double(), -1)
    return sum(float(p) * exact_value(generator, prefix + [v], score) for v, p in enumerate(probs) if p > 0)


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"rollouts": 0}, "rollouts"),
        ({"update_rate": 1.5}, "update_rate"),
        ({"baseline": "median"}, "baseline"),
        ({"chunk_size": 0}, "chunk_size"),
    ],
)
def test_reinforce_rejects_bad_parameters(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Reinforce(**params)


@pytest.mark.parametrize(
    ("params", "match"),
    [({"max_inverse_temperature": 0.5}, "max_inverse_temperature"), ({"schedule": "cosine"}, "schedule")],
)
def test_gumbel_rejects_bad_parameters(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GumbelSoftmax(**params)


# --------------------------------------------------------------------------- action values


@pytest.mark.parametrize("spec", [ORACLE, TEXT], ids=["fixed-length", "eos"])
def test_action_values_equal_an_explicit_loop_over_the_same_rollouts(spec: DomainSpec) -> None:
    generator = make(spec)
    critic = CountingCritic(spec.vocab_size)
    objective = Minimax()
    fake = generator.sample(6).detach()
    torch.manual_seed(2)
    fixed = generator.rollouts(fake, 3)
    roller = copy.deepcopy(generator)
    roller.rollouts = lambda batch, n, chunk_size=None: fixed  # type: ignore[method-assign]
    estimator = Reinforce(rollouts=3, chunk_size=5)
    values, rewards = estimator.action_values(fake, critic, objective, rollout_generator=roller)

    def reward(values_row: Tensor, length: Tensor) -> float:
        batch = Batch(values=values_row.unsqueeze(0), lengths=length.view(1))
        return float(objective.reward(critic(batch)))

    steps = spec.max_len
    assert values.shape == (6, steps) and rewards.shape == (6,)
    for b in range(6):
        full = reward(fake.values[b], fake.lengths[b])
        assert float(rewards[b]) == pytest.approx(full, abs=1e-6)
        assert float(values[b, steps - 1]) == pytest.approx(full, abs=1e-6)
        for t in range(1, steps):
            explicit = sum(reward(fixed.values[t - 1, i, b], fixed.lengths[t - 1, i, b]) for i in range(3)) / 3
            assert float(values[b, t - 1]) == pytest.approx(explicit, abs=1e-6), (b, t)
            if t >= int(fake.lengths[b]):  # the prefix is the whole sequence
                assert float(values[b, t - 1]) == pytest.approx(full, abs=1e-6)


@pytest.mark.parametrize("spec", [ORACLE, TEXT], ids=["fixed-length", "eos"])
def test_action_values_estimate_the_exact_expected_reward(spec: DomainSpec) -> None:
    generator = make(spec)
    critic = CountingCritic(spec.vocab_size)
    objective = Minimax()
    fake = Batch(
        values=torch.tensor([[3, 4, 3, 4, 3, 5][: spec.max_len], [4, 2, 0, 0, 0, 0][: spec.max_len] if spec.eos_id else [5, 5, 4, 4, 3]]),
        lengths=torch.tensor([spec.max_len, 2 if spec.eos_id else spec.max_len]),
    )
    n = 4000
    values, _ = Reinforce(rollouts=n, chunk_size=10_000).action_values(fake, critic, objective, rollout_generator=generator)

    def score(sequence: list[int]) -> float:
        batch = Batch(values=torch.tensor([sequence + [PAD] * (spec.max_len - len(sequence))]), lengths=torch.tensor([len(sequence)]))
        return float(objective.reward(critic(batch)))

    for b in range(2):
        length = int(fake.lengths[b])
        for t in range(length):
            prefix = fake.values[b, : t + 1].tolist()
            exact = exact_value(generator, prefix, score)
            # Rewards lie in (0, 1): standard error <= 0.5 / sqrt(n); allow five of them.
            assert float(values[b, t]) == pytest.approx(exact, abs=5 * 0.5 / math.sqrt(n)), (b, t)


def test_per_step_scores_are_averaged_over_each_sequence() -> None:
    critic = CountingCritic(ORACLE.vocab_size, per_step=True)
    fake = Batch(values=torch.tensor([[3, 3, 4, 5, 0], [3, 4, 4, 4, 4]]), lengths=torch.tensor([4, 5]))
    _, rewards = Reinforce(rollouts=2).action_values(fake, critic, Minimax(), rollout_generator=make())
    expected = torch.sigmoid(torch.tensor([4 * 2 / 4 - 2, 4 * 1 / 5 - 2]))
    torch.testing.assert_close(rewards, expected)


def test_discriminator_scores_in_eval_mode_and_gets_its_mode_back() -> None:
    generator = make()
    critic = CountingCritic(ORACLE.vocab_size)
    estimator = Reinforce(rollouts=2)
    estimator.setup(generator, critic, Minimax())
    critic.train()
    real = make().sample(4).detach()
    estimator.generator_step(generator, critic, Minimax(), real, step=0, total_steps=1)
    assert critic.modes and not any(critic.modes)
    assert critic.training


def test_real_scores_reach_a_relativistic_reward() -> None:
    generator = make()
    critic = CountingCritic(ORACLE.vocab_size)
    objective = RelativeObjective()
    real = Batch.full_length(torch.tensor([[3, 3, 3, 3, 3], [4, 4, 4, 4, 4]]))
    estimator = Reinforce(rollouts=2)
    estimator.setup(generator, critic, objective)
    estimator.generator_step(generator, critic, objective, real, step=0, total_steps=1)
    assert objective.seen
    for seen in objective.seen:
        torch.testing.assert_close(seen, torch.tensor([2.0, -2.0]))


# --------------------------------------------------------------------------- the loss


@pytest.mark.parametrize("baseline", ["none", "mean"])
def test_loss_is_the_masked_policy_gradient(baseline: str) -> None:
    generator = make(TEXT)
    critic = CountingCritic(TEXT.vocab_size)
    estimator = Reinforce(rollouts=3, baseline=baseline)
    estimator.setup(generator, critic, Minimax())
    captured: dict[str, Any] = {}
    original_sample = generator.sample
    original_values = estimator.action_values

    def sample(n: int) -> Batch:
        captured["fake"] = original_sample(n)
        return captured["fake"]

    def action_values(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
        captured["values"] = original_values(*args, **kwargs)
        return captured["values"]

    generator.sample = sample  # type: ignore[method-assign]
    estimator.action_values = action_values  # type: ignore[method-assign]
    real = make(TEXT).sample(8).detach()
    result = estimator.generator_step(generator, critic, Minimax(), real, step=0, total_steps=1)
    fake, (values, rewards) = captured["fake"], captured["values"]
    mask = fake.mask.float()
    if baseline == "mean":
        per_step = [(values[:, t] * mask[:, t]).sum() / mask[:, t].sum().clamp_min(1) for t in range(TEXT.max_len)]
        values = values - torch.stack(per_step)
    expected = -(fake.log_probs * values * mask).sum() / mask.sum()
    torch.testing.assert_close(result.loss, expected)
    assert result.logs["reward"] == pytest.approx(float(rewards.mean()))
    result.loss.backward()
    assert float(generator.out.weight.grad.abs().sum()) > 0


# --------------------------------------------------------------------------- delayed copy


def test_delayed_copy_starts_at_the_first_step_and_follows_the_update_rule() -> None:
    generator = make()
    critic = CountingCritic(ORACLE.vocab_size)
    estimator = Reinforce(rollouts=2, update_rate=0.8)
    estimator.setup(generator, critic, Minimax())
    with torch.no_grad():  # "pretraining" after setup: the copy must not keep the old weights
        for parameter in generator.parameters():
            parameter.add_(1.0)
    estimator.after_generator_step(generator, step=0)  # before any generator step: no effect
    real = make().sample(4).detach()
    estimator.generator_step(generator, critic, Minimax(), real, step=0, total_steps=1)
    delayed = estimator.delayed
    assert delayed is not None
    for (name, ours), theirs in zip(generator.named_parameters(), delayed.parameters()):
        assert torch.equal(ours, theirs), name
        assert not theirs.requires_grad
    before = {name: p.detach().clone() for name, p in delayed.named_parameters()}
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.mul_(-0.5).add_(0.25)
    estimator.after_generator_step(generator, step=0)
    for name, parameter in delayed.named_parameters():
        expected = 0.8 * before[name] + 0.2 * dict(generator.named_parameters())[name].detach()
        torch.testing.assert_close(parameter, expected, rtol=0, atol=1e-6)


def test_state_dict_round_trip_gives_an_identical_next_step() -> None:
    critic, objective = CountingCritic(ORACLE.vocab_size), Minimax()
    real = make().sample(8).detach()

    def trained() -> tuple[TokenLSTMGenerator, Reinforce]:
        generator = make()
        estimator = Reinforce(rollouts=3, chunk_size=7)
        estimator.setup(generator, critic, objective)
        optimiser = torch.optim.SGD(generator.parameters(), lr=0.5)
        for step in range(2):
            optimiser.zero_grad()
            estimator.generator_step(generator, critic, objective, real, step=step, total_steps=9).loss.backward()
            optimiser.step()
            estimator.after_generator_step(generator, step=step)
        return generator, estimator

    generator, estimator = trained()
    state = copy.deepcopy(estimator.state_dict())
    assert state["synced"] and set(state["delayed"]) == set(generator.state_dict())

    def next_loss(g: TokenLSTMGenerator, e: Reinforce) -> Tensor:
        torch.manual_seed(123)
        return e.generator_step(g, critic, objective, real, step=2, total_steps=9).loss.detach()

    restored_generator = make(seed=99)
    restored_generator.load_state_dict(generator.state_dict())
    restored = Reinforce(rollouts=3, chunk_size=7)
    restored.setup(restored_generator, critic, objective)
    restored.load_state_dict(state)
    early = Reinforce(rollouts=3, chunk_size=7)  # state loaded before setup (as on resume)
    early.load_state_dict(state)
    early_generator = copy.deepcopy(restored_generator)
    early.setup(early_generator, critic, objective)
    fresh = Reinforce(rollouts=3, chunk_size=7)
    fresh_generator = copy.deepcopy(restored_generator)
    fresh.setup(fresh_generator, critic, objective)

    reference = next_loss(generator, estimator)
    assert torch.equal(next_loss(restored_generator, restored), reference)
    assert torch.equal(next_loss(early_generator, early), reference)
    # The copy really is behind the generator, so only the saved state reproduces it.
    next_loss(fresh_generator, fresh)
    saved = dict(estimator.delayed.named_parameters())
    for copies in (restored, early):
        for name, parameter in copies.delayed.named_parameters():
            assert torch.equal(parameter, saved[name]), name
    assert any(not torch.equal(p, saved[name]) for name, p in fresh.delayed.named_parameters())


# --------------------------------------------------------------------------- training


def share_of_target(generator: TokenLSTMGenerator, n: int = 4000) -> float:
    with torch.no_grad():
        batch = generator.sample(n)
    return float(((batch.values == TARGET) & batch.mask).sum() / batch.mask.sum())


@pytest.mark.parametrize("spec", [ORACLE, TEXT], ids=["fixed-length", "eos"])
def test_reinforce_learns_what_a_fixed_discriminator_rewards(spec: DomainSpec) -> None:
    generator = make(spec)
    critic, objective = CountingCritic(spec.vocab_size), Minimax()
    estimator = Reinforce(rollouts=4, baseline="mean")
    estimator.setup(generator, critic, objective)
    optimiser = torch.optim.Adam(generator.parameters(), lr=0.05)
    real = make(spec).sample(32).detach()
    before = share_of_target(generator)
    for step in range(25):
        optimiser.zero_grad()
        result = estimator.generator_step(generator, critic, objective, real, step=step, total_steps=25)
        result.loss.backward()
        optimiser.step()
        estimator.after_generator_step(generator, step=step)
    after = share_of_target(generator)
    assert before < 0.4 and after > before + 0.3, (before, after)


def test_gumbel_learns_through_a_differentiable_discriminator() -> None:
    generator = make(TEXT)
    critic, objective = CountingCritic(TEXT.vocab_size), Minimax()
    estimator = GumbelSoftmax(max_inverse_temperature=5.0, schedule="linear")
    optimiser = torch.optim.Adam(generator.parameters(), lr=0.05)
    real = make(TEXT).sample(32).detach()
    before = share_of_target(generator)
    for step in range(25):
        optimiser.zero_grad()
        result = estimator.generator_step(generator, critic, objective, real, step=step, total_steps=25)
        result.loss.backward()
        optimiser.step()
    after = share_of_target(generator)
    assert before < 0.4 and after > before + 0.3, (before, after)


# --------------------------------------------------------------------------- Gumbel schedule


def test_schedules_by_hand() -> None:
    constant = GumbelSoftmax(100.0, "constant")
    linear = GumbelSoftmax(100.0, "linear")
    exponential = GumbelSoftmax(100.0, "exponential")
    assert [constant.inverse_temperature(i, 10) for i in (0, 5, 9)] == [100.0, 100.0, 100.0]
    # RelGAN 'lin': 1 + i / (N - 1) * (beta_max - 1); i = 3 of 10: 1 + 99 / 3 = 34.
    assert [linear.inverse_temperature(i, 10) for i in (0, 3, 9)] == pytest.approx([1.0, 34.0, 100.0])
    # RelGAN 'exp': beta_max ** (i / N); i = 5 of 10: 100 ** 0.5 = 10.
    assert [exponential.inverse_temperature(i, 10) for i in (0, 5, 9)] == pytest.approx([1.0, 10.0, 100**0.9])
    assert linear.inverse_temperature(0, 1) == 100.0


def test_schedule_runs_over_the_adversarial_steps_or_anneal_steps() -> None:
    """The trainer passes adversarial steps (0 at the first); anneal_steps pins N."""
    generator = make(TEXT)
    critic, objective = CountingCritic(TEXT.vocab_size), Minimax()
    real = make(TEXT).sample(4).detach()
    estimator = GumbelSoftmax(100.0, "exponential")
    first = estimator.generator_step(generator, critic, objective, real, step=0, total_steps=10)
    assert first.logs["inverse_temperature"] == pytest.approx(1.0)
    assert first.logs["temperature"] == pytest.approx(1.0)
    later = estimator.generator_step(generator, critic, objective, real, step=5, total_steps=10)
    assert later.logs["inverse_temperature"] == pytest.approx(10.0)  # 100 ** (5 / 10)
    assert later.logs["temperature"] == pytest.approx(0.1)
    pinned = GumbelSoftmax(100.0, "exponential", anneal_steps=10)
    # a run extended to 40 steps keeps the schedule it started with
    assert pinned.generator_step(generator, critic, objective, real, step=5, total_steps=40).logs["inverse_temperature"] == pytest.approx(10.0)
    assert pinned.generator_step(generator, critic, objective, real, step=30, total_steps=40).logs["inverse_temperature"] == pytest.approx(100.0)


def test_gumbel_passes_real_scores_only_when_the_objective_needs_them() -> None:
    generator = make(TEXT)
    critic = CountingCritic(TEXT.vocab_size)
    real = Batch(values=torch.tensor([[3, 2, 0, 0], [4, 4, 2, 0]]), lengths=torch.tensor([2, 3]))
    relative = RelativeObjective()
    loss = GumbelSoftmax(10.0).generator_step(generator, critic, relative, real, step=0, total_steps=4).loss
    torch.testing.assert_close(relative.seen[-1], torch.tensor([0.0, -2.0]))
    loss.backward()
    assert float(generator.out.weight.grad.abs().sum()) > 0
    calls = len(critic.modes)
    GumbelSoftmax(10.0).generator_step(generator, critic, Minimax(), real, step=0, total_steps=4)
    assert len(critic.modes) == calls + 1  # the fake batch only


def test_discriminator_trains_on_what_the_generator_step_shows_it() -> None:
    """Gumbel: relaxed one-hots at the current temperature (RelGAN); others: hard samples."""
    generator = make(TEXT)
    torch.manual_seed(0)
    with torch.no_grad():  # as the trainer calls it
        relaxed = GumbelSoftmax(100.0, "exponential").discriminator_samples(generator, 5, step=5, total_steps=10)
    assert relaxed.relaxed is not None and relaxed.relaxed.shape == (5, TEXT.max_len, TEXT.vocab_size)
    # beta = 100 ** 0.5 = 10: the relaxation is soft, not one-hot, yet each row sums to 1 on real steps
    rows = relaxed.relaxed[relaxed.mask]
    torch.testing.assert_close(rows.sum(-1), torch.ones(rows.shape[0]))
    assert float(rows.max(-1).values.min()) < 1.0
    hard = Reinforce(rollouts=2).discriminator_samples(generator, 5, step=5, total_steps=10)
    assert hard.relaxed is None and hard.values.shape[0] == 5


def test_straight_through_shows_exact_one_hots_and_still_learns() -> None:
    """straight_through: the generator step's one-hots are exactly the drawn tokens' (padding 0), gradients still flow."""
    generator = make(TEXT)
    critic, objective = CountingCritic(TEXT.vocab_size), Minimax()
    estimator = GumbelSoftmax(max_inverse_temperature=5.0, schedule="linear", straight_through=True)
    real = make(TEXT).sample(32).detach()
    shown: list[Batch] = []
    recording = critic.forward

    def record(batch: Batch) -> Tensor:
        shown.append(batch)
        return recording(batch)

    critic.forward = record  # type: ignore[method-assign]
    estimator.generator_step(generator, critic, objective, real, step=0, total_steps=25).loss.backward()
    fake = shown[0]
    expected = torch.nn.functional.one_hot(fake.values, TEXT.vocab_size).float() * fake.mask.unsqueeze(-1)
    assert torch.equal(fake.relaxed.detach(), expected)  # beta = 1, yet no softness to tell it apart by
    assert float(generator.out.weight.grad.abs().sum()) > 0
    with torch.no_grad():
        negatives = estimator.discriminator_samples(generator, 5, step=3, total_steps=10)
    assert negatives.relaxed is None  # the discriminator trains on tokens too
    critic.forward = recording  # type: ignore[method-assign]
    optimiser = torch.optim.Adam(generator.parameters(), lr=0.05)
    before = share_of_target(generator)
    for step in range(25):
        optimiser.zero_grad()
        estimator.generator_step(generator, critic, objective, real, step=step, total_steps=25).loss.backward()
        optimiser.step()
    after = share_of_target(generator)
    assert before < 0.4 and after > before + 0.3, (before, after)
    with pytest.raises(ValueError, match="straight_through"):
        GumbelSoftmax(straight_through="yes")  # type: ignore[arg-type]
