"""Conditional generation: conditions in the contract, checked recipes, networks that honour their labels.

The class-conditional oracle gives exact yardsticks: the Bayes-optimal label accuracy
(``argmax_k log p_k(x)``) and each sample's NLL under its own class's oracle.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from seqtk.core.api import run, sample
from seqtk.core.capabilities import Rollouts
from seqtk.core.errors import RecipeError, SeqtkError
from seqtk.core.interfaces import Batch, Condition, ConditionSpec, DomainSpec
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import load_recipe
from seqtk.core.registry import RegistryError, parse_fragment
from seqtk.plugins.discriminators import CNNDiscriminator, GRUDiscriminator
from seqtk.plugins.text.cond_oracle import ConditionalOracleDomain, ConditionalOracleNLL, OracleLabelAccuracy
from seqtk.plugins.tokens.generator import TokenLSTMGenerator
from seqtk.plugins.tokens.relgan_discriminator import RelGANDiscriminator

torch.set_num_threads(1)

SPEC = DomainSpec(kind="discrete", max_len=6, vocab_size=9, conditions=ConditionSpec(num_classes=3))


def cond_recipe(tmp_path: Path, name: str = "cond", **changes: Any) -> dict[str, Any]:
    recipe: dict[str, Any] = {
        "seqtk": 1,
        "name": name,
        "seed": 0,
        "domain": {"name": "cond-oracle", "params": {"classes": 2, "vocab_size": 50, "max_len": 10, "train_samples": 1024, "test_samples": 512, "embed_dim": 16, "hidden_dim": 16}},
        "generator": {"name": "token-lstm", "params": {"embed_dim": 16, "hidden_dim": 32}},
        "discriminator": {"name": "cnn", "params": {"embed_dim": 8, "filter_sizes": [2, 3], "num_filters": [8, 8]}},
        "objective": "minimax",
        "estimator": {"name": "reinforce", "params": {"rollouts": 2}},
        "train": {"batch_size": 64, "device": "cpu", "pretrain": {"generator_steps": 150}, "adversarial": {"steps": 0}, "optimizer": {"generator": {"lr": 0.01}}},
        "eval": {"every": 150, "samples": 512},
        "output": {"dir": str(tmp_path / name), "checkpoint_every": 150, "samples": 6},
    }
    for key, value in changes.items():
        recipe[key] = value
    return recipe


# ------------------------------------------------------------------ the contract


def test_a_batch_keeps_its_condition_row_for_row_through_index_concat_and_to() -> None:
    labels = torch.tensor([2, 0, 1, 1])
    batch = Batch.full_length(torch.arange(12).view(4, 3), condition=Condition(labels=labels, static=labels.float().unsqueeze(1)))
    picked = batch.index(torch.tensor([3, 0]))
    assert picked.condition.labels.tolist() == [1, 2] and picked.condition.static.squeeze(1).tolist() == [1.0, 2.0]
    joined = Batch.concat([picked, batch.index(torch.tensor([1]))])
    assert joined.condition.labels.tolist() == [1, 2, 0]
    assert batch.to("cpu").detach().condition.labels.tolist() == [2, 0, 1, 1]
    assert Condition(labels=labels).repeat(2).labels.tolist() == [2, 2, 0, 0, 1, 1, 1, 1]
    # An unconditional batch joined with a conditional one has no condition: no row may claim a label it lacks.
    assert Batch.concat([batch, Batch.full_length(torch.zeros(1, 3, dtype=torch.long))]).condition is None


def test_rollout_completions_carry_the_condition_of_the_row_they_complete() -> None:
    values = torch.zeros(3, 2, 4, 4, dtype=torch.long)  # [T - 1, n, B, T] for B = 4 rows
    rollouts = Rollouts(values=values, lengths=torch.full((3, 2, 4), 4), sampled=torch.ones(3, 2, 4, dtype=torch.bool), condition=Condition(labels=torch.tensor([5, 6, 7, 8])))
    flat = rollouts.batch()
    assert flat.condition.labels.tolist() == [5, 6, 7, 8] * 6
    assert rollouts.batch(torch.tensor([1, 6, 23])).condition.labels.tolist() == [6, 7, 8]


def test_accepts_names_only_condition_words() -> None:
    with pytest.raises(RegistryError, match=r"accepts: unknown condition\(s\) colour; valid: context, label, static"):
        parse_fragment({"seqtk-registry": 1, "generators": {"g": {"target": "m:G", "accepts": ["label", "colour"]}}}, plugin="p", where="frag.yaml")


def test_a_conditional_domain_with_a_generator_that_ignores_conditions_is_a_recipe_error(tmp_path: Path) -> None:
    host = PluginHost()
    # A third party's token generator written before conditioning: it declares no accepts.
    host.registry.add("generators", "plain-tokens", "seqtk.plugins.tokens.generator:TokenLSTMGenerator", plugin="old", requires=["discrete"], provides=["tokens", "log_probs", "rollouts"])
    host.registry.add("discriminators", "plain-cnn", "seqtk.plugins.discriminators:CNNDiscriminator", plugin="old")
    recipe = cond_recipe(tmp_path, generator={"name": "plain-tokens"}, discriminator={"name": "plain-cnn"})
    with pytest.raises(RecipeError) as error:
        load_recipe(recipe, host=host)
    message = str(error.value)
    generators = re.search(r"generator\.name: generator 'plain-tokens' cannot use the domain's label condition \(it accepts none\); generators that can: ([^;\n]*)", message)
    assert generators and {"rmc", "token-lstm"} <= set(generators.group(1).split(", "))
    discriminators = re.search(r"discriminator\.name: discriminator 'plain-cnn' cannot use the domain's label condition \(it accepts none\); discriminators that can: ([^;\n]*)", message)
    assert discriminators and {"cnn", "gru", "lstm"} <= set(discriminators.group(1).split(", "))
    load_recipe(cond_recipe(tmp_path), host=host)  # token-lstm and cnn accept labels


# ------------------------------------------------------------------ networks


def test_the_generator_attaches_the_condition_and_samples_differ_by_label() -> None:
    torch.manual_seed(0)
    generator = TokenLSTMGenerator(SPEC, embed_dim=8, hidden_dim=8)
    labels = torch.tensor([0, 1, 2, 2])
    batch = generator.sample(4, condition=Condition(labels=labels))
    assert batch.condition.labels.tolist() == labels.tolist()
    # Teacher forcing reads the label: the same tokens have another likelihood under another label.
    values = batch.values
    nll = [float(generator.pretrain_loss(Batch(values=values, lengths=batch.lengths, condition=Condition(labels=torch.full((4,), k))))) for k in range(3)]
    assert len({round(v, 6) for v in nll}) == 3
    with pytest.raises(ValueError, match="the domain is conditional; sample\\(n, condition=...\\) needs a condition per row"):
        generator.sample(2)


def test_an_unconditional_generator_has_no_condition_parameters() -> None:
    plain = TokenLSTMGenerator(DomainSpec(kind="discrete", max_len=6, vocab_size=9), embed_dim=8, hidden_dim=8)
    assert not any("condition" in name for name in plain.state_dict())


def test_sampling_and_teacher_forcing_agree_under_a_condition() -> None:
    """The log-prob a sample carries is the one teacher forcing gives it, for the same label."""
    torch.manual_seed(1)
    generator = TokenLSTMGenerator(SPEC, embed_dim=8, hidden_dim=8).eval()
    condition = Condition(labels=torch.tensor([0, 1, 2]))
    batch = generator.sample(3, condition=condition)
    logits = generator.next_token_logits(batch.values, condition)
    taken = torch.log_softmax(logits, -1).gather(2, batch.values.unsqueeze(2)).squeeze(2)
    torch.testing.assert_close(taken * batch.mask, batch.log_probs.detach() * batch.mask)


@pytest.mark.parametrize(
    "make",
    [
        lambda: GRUDiscriminator(SPEC, hidden_dim=8, embed_dim=4),
        lambda: CNNDiscriminator(SPEC, embed_dim=4, filter_sizes=(2,), num_filters=(4,)),
        lambda: RelGANDiscriminator(SPEC, embed_dim=8, num_rep=4, filter_sizes=(2,), num_filters=(4,), hidden_dim=6),
    ],
    ids=["gru", "cnn", "relgan-cnn"],
)
def test_a_projection_discriminator_scores_the_same_sequence_differently_per_label(make: Any) -> None:
    torch.manual_seed(2)
    discriminator = make().eval()
    values = torch.randint(0, 9, (1, 6)).expand(3, 6)
    scores = discriminator(Batch.full_length(values, condition=Condition(labels=torch.tensor([0, 1, 2]))))
    assert len({round(float(s), 6) for s in scores}) == 3
    with pytest.raises(ValueError, match="without its condition"):
        discriminator(Batch.full_length(values))


# ------------------------------------------------------------------ the conditional oracle and its metrics


def test_the_cond_oracle_splits_hold_each_class_equally_and_real_data_is_recognised() -> None:
    domain = ConditionalOracleDomain(classes=3, vocab_size=30, max_len=8, train_samples=61, test_samples=300, embed_dim=8, hidden_dim=8)
    train = domain.load("train").batch
    assert torch.bincount(train.condition.labels).tolist() == [21, 20, 20]
    test = domain.load("test").batch
    by_class = domain.nll_by_class(test.values, test.lengths)
    # By hand: the accuracy is the share of rows whose own oracle's NLL is the smallest.
    expected = sum(int(by_class[i].argmin()) == int(test.condition.labels[i]) for i in range(test.size)) / test.size
    assert OracleLabelAccuracy(domain)(test, test) == pytest.approx(expected) and expected > 0.9
    own = sum(float(by_class[i, test.condition.labels[i]]) for i in range(test.size)) / test.size  # full-length rows: equal weights
    assert ConditionalOracleNLL(domain)(test, test) == pytest.approx(own, rel=1e-6)
    # Samples that claim the wrong label are recognised as such.
    wrong = Batch(values=test.values, lengths=test.lengths, condition=Condition(labels=(test.condition.labels + 1) % 3))
    assert OracleLabelAccuracy(domain)(test, wrong) < 0.1
    assert ConditionalOracleNLL(domain)(test, wrong) > ConditionalOracleNLL(domain)(test, test) + 0.1


def test_label_metrics_refuse_samples_without_labels() -> None:
    domain = ConditionalOracleDomain(classes=2, vocab_size=10, max_len=4, train_samples=4, test_samples=4, embed_dim=4, hidden_dim=4)
    with pytest.raises(ValueError, match="carries no labels"):
        OracleLabelAccuracy(domain)(domain.load("test").batch, Batch.full_length(torch.zeros(2, 4, dtype=torch.long)))


def test_conditional_mle_learns_to_honour_its_labels(tmp_path: Path) -> None:
    result = run(cond_recipe(tmp_path))
    start, end = result.initial_metrics, result.metrics
    assert abs(start["oracle-label-accuracy"] - 0.5) < 0.1  # untrained: the label changes little
    assert end["oracle-label-accuracy"] > 0.8
    assert end["nll-oracle-cond"] < start["nll-oracle-cond"] - 0.5
    lines = sorted((result.run_dir / "samples").glob("step-*.txt"))[-1].read_text().splitlines()
    assert len(lines) == 6 and all(line.split("\t")[0] in {"0", "1"} for line in lines)
    # seqtk sample --label: every sample of that class, and recognisably so.
    domain = ConditionalOracleDomain(classes=2, vocab_size=50, max_len=10, train_samples=1024, test_samples=512, embed_dim=16, hidden_dim=16)
    for label, index in (("class-1", 1), ("0", 0)):
        (path,) = sample(result.run_dir, 200, out_dir=tmp_path / f"gen-{index}", label=label)
        rows = [line.split("\t") for line in path.read_text().splitlines()]
        assert len(rows) == 200 and {r[0] for r in rows} == {str(index)}
        values = torch.tensor([[int(t) for t in r[1].split()] for r in rows])
        batch = Batch.full_length(values, condition=Condition(labels=torch.full((200,), index)))
        assert OracleLabelAccuracy(domain)(batch, batch) > 0.8
    with pytest.raises(SeqtkError, match=r"--label: unknown class 'clas-1' \(did you mean 'class-1', 'class-0'\?\); valid: class-0, class-1 or an index 0..1"):
        sample(result.run_dir, 2, out_dir=tmp_path / "never", label="clas-1")


def test_a_conditional_adversarial_run_resumes_bit_identically(tmp_path: Path) -> None:
    from test_trainer import CrashAt, assert_same_run

    train = {"batch_size": 32, "device": "cpu", "pretrain": {"generator_steps": 20, "discriminator_steps": 4}, "adversarial": {"steps": 6}}
    straight = run(cond_recipe(tmp_path, "straight", train=train, output={"dir": str(tmp_path / "straight"), "checkpoint_every": 13, "samples": 4}, eval={"every": 13, "samples": 64}))
    assert math.isfinite(straight.metrics["nll-oracle-cond"])
    interrupted = cond_recipe(tmp_path, "cut", train={**train, "adversarial": {"steps": 6}}, output={"dir": str(tmp_path / "cut"), "checkpoint_every": 13, "samples": 4}, eval={"every": 13, "samples": 64})
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(interrupted, callbacks=[CrashAt(28)])
    run(interrupted, resume=True)
    assert_same_run(tmp_path / "straight", tmp_path / "cut")


def test_a_context_sequence_conditions_generator_and_discriminator_through_its_encoder() -> None:
    torch.manual_seed(3)
    context_spec = DomainSpec(kind="continuous", max_len=4, features=2, value_range=(0.0, 1.0))
    spec = DomainSpec(kind="discrete", max_len=5, vocab_size=7, conditions=ConditionSpec(context=context_spec))
    contexts = Batch(values=torch.rand(3, 4, 2), lengths=torch.tensor([4, 2, 1]))
    condition = Condition(context=contexts)
    generator = TokenLSTMGenerator(spec, embed_dim=8, hidden_dim=8).eval()
    tokens = generator.sample(1, condition=Condition(context=contexts.index(torch.tensor([0])))).values.expand(3, 5)
    nll = [float(generator.pretrain_loss(Batch.full_length(tokens[:1], condition=condition.index(torch.tensor([i]))))) for i in range(3)]
    assert len({round(v, 6) for v in nll}) == 3
    # Padding past a context's length is never read: changing it changes nothing.
    padded = Batch(values=contexts.values.clone(), lengths=contexts.lengths)
    padded.values[1, 2:] = 9.0
    same = float(generator.pretrain_loss(Batch.full_length(tokens[:1], condition=Condition(context=padded.index(torch.tensor([1]))))))
    assert same == pytest.approx(nll[1], abs=1e-6)
    discriminator = GRUDiscriminator(spec, hidden_dim=8, embed_dim=4).eval()
    scores = discriminator(Batch.full_length(tokens, condition=condition))
    assert len({round(float(s), 6) for s in scores}) == 3
    with pytest.raises(ValueError, match="conditions on a context sequence, but this batch's condition has none"):
        generator.sample(2, condition=Condition(labels=torch.tensor([0, 1])))


def check_one_distribution(generator: Any, condition: Condition, steps: int) -> tuple[Batch, Rollouts]:
    """Three samples whose log-probs teacher forcing reproduces, and 2 rollouts of each that keep every prefix."""
    batch = generator.sample(3, condition=condition)
    taken = torch.log_softmax(generator.next_token_logits(batch.values, condition), -1).gather(2, batch.values.unsqueeze(2)).squeeze(2)
    torch.testing.assert_close(taken * batch.mask, batch.log_probs.detach() * batch.mask)
    rollouts = generator.rollouts(batch, 2)
    # Every completion keeps its prefix and is as long as the sequence (fixed-length data).
    for t in range(1, steps):
        assert torch.equal(rollouts.values[t - 1, :, :, :t], batch.values[:, :t].unsqueeze(0).expand(2, 3, t))
    return batch, rollouts


@pytest.mark.parametrize("every_step", [False, True])
def test_every_step_conditioning_keeps_sampling_teacher_forcing_and_rollouts_consistent(every_step: bool) -> None:
    """With the vector at every input, samples, teacher forcing and rollouts still describe one distribution."""
    from seqtk.plugins.tokens.rmc import RelationalMemoryGenerator

    for make in (
        lambda: TokenLSTMGenerator(SPEC, embed_dim=8, hidden_dim=8, condition_every_step=every_step),
        lambda: RelationalMemoryGenerator(SPEC, embed_dim=8, head_size=4, num_heads=2, condition_every_step=every_step),
    ):
        torch.manual_seed(4)
        generator = make().eval()
        condition = Condition(labels=torch.tensor([0, 1, 2]))
        batch, rollouts = check_one_distribution(generator, condition, SPEC.max_len)
        assert rollouts.batch().condition.labels.tolist() == [0, 1, 2] * 2 * (SPEC.max_len - 1)


CONTEXT_SPEC = DomainSpec(
    kind="discrete", max_len=8, vocab_size=12, eos_id=2,
    conditions=ConditionSpec(context=DomainSpec(kind="discrete", max_len=8, vocab_size=12, eos_id=2)),
)


def copy_task(rows: int, seed: int) -> Batch:
    """Seven random tokens and EOS, to be written again under themselves as context: a context followed position by position."""
    tokens = torch.randint(3, 12, (rows, 7), generator=torch.Generator().manual_seed(seed))
    values = torch.cat([tokens, torch.full((rows, 1), 2)], dim=1)
    return Batch.full_length(values, condition=Condition(context=Batch.full_length(values.clone())))


@pytest.mark.parametrize("every_step", [False, True])
def test_context_attention_keeps_sampling_teacher_forcing_and_rollouts_consistent(every_step: bool) -> None:
    torch.manual_seed(7)
    generator = TokenLSTMGenerator(CONTEXT_SPEC, embed_dim=8, hidden_dim=8, context_attention=True, condition_every_step=every_step).eval()
    context = Batch(values=torch.randint(3, 12, (3, 8)), lengths=torch.tensor([8, 2, 1]))
    condition = Condition(context=context)
    batch, _ = check_one_distribution(generator, condition, CONTEXT_SPEC.max_len)
    # Padding past a context's length is never read: changing it changes nothing.
    padded = Condition(context=Batch(values=torch.where(torch.arange(8) < context.lengths.unsqueeze(1), context.values, 5), lengths=context.lengths))
    torch.testing.assert_close(generator.next_token_logits(batch.values, condition), generator.next_token_logits(batch.values, padded))


def test_context_attention_learns_a_position_by_position_context_that_one_vector_does_not() -> None:
    """150 MLE steps on copying the context: with attention the held-out NLL is near 0; through one GRU state it stays near chance (ln 9 = 2.2)."""
    nll = {}
    for attention in (False, True):
        torch.manual_seed(0)
        generator = TokenLSTMGenerator(CONTEXT_SPEC, embed_dim=16, hidden_dim=32, context_attention=attention)
        optimizer = torch.optim.Adam(generator.parameters(), lr=0.01)
        for step in range(150):
            loss = generator.pretrain_loss(copy_task(32, seed=step))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            nll[attention] = float(generator.pretrain_loss(copy_task(256, seed=10_000)))
    assert nll[True] < 0.3 and nll[False] > 1.0, nll


def test_context_attention_needs_a_context_condition() -> None:
    with pytest.raises(ValueError, match="context_attention needs a domain whose condition is a context sequence"):
        TokenLSTMGenerator(SPEC, embed_dim=8, hidden_dim=8, context_attention=True)


def test_every_step_conditioning_changes_each_steps_distribution_not_only_the_first() -> None:
    torch.manual_seed(5)
    start_only = TokenLSTMGenerator(SPEC, embed_dim=8, hidden_dim=8)
    every = TokenLSTMGenerator(SPEC, embed_dim=8, hidden_dim=8, condition_every_step=True)
    every.load_state_dict(start_only.state_dict())  # the same parameters: only where the vector enters differs
    values = torch.randint(0, 9, (1, 6))
    condition = Condition(labels=torch.tensor([1]))
    assert not torch.allclose(start_only.next_token_logits(values, condition)[:, 1:], every.next_token_logits(values, condition)[:, 1:])
    # Without a condition module (unconditional data) the option adds nothing and changes nothing.
    plain = DomainSpec(kind="discrete", max_len=6, vocab_size=9)
    torch.manual_seed(6)
    a = TokenLSTMGenerator(plain, embed_dim=8, hidden_dim=8)
    torch.manual_seed(6)
    b = TokenLSTMGenerator(plain, embed_dim=8, hidden_dim=8, condition_every_step=True)
    torch.testing.assert_close(a.next_token_logits(values), b.next_token_logits(values))
