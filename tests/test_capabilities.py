"""Capabilities: written once in the registry, stated as Protocols, checked against the code at build time.

- A component whose entry claims a word whose method its class lacks is refused when
  the run is assembled, naming the plugin that registered it, the component and the method.
- Every built-in entry keeps the promises its words make (the registry is iterated, so a
  new entry is covered without editing this file), and no class carries a second copy.
- The estimators reach the generator through the Protocols only: a generator that
  implements just the Protocol methods, inheriting no built-in generator, trains with
  ``reinforce`` and ``gumbel``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from seqtk.core.assemble import assemble
from seqtk.core.capabilities import (
    CAPABILITIES,
    Rollouts,
    RollsOut,
    SamplesLogProbs,
    SamplesRelaxed,
    unkept_promises,
)
from seqtk.core.errors import SeqtkError
from seqtk.core.interfaces import Batch, Discriminator, Generator
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import load_recipe
from seqtk.core.registry import KINDS, Origin
from seqtk.plugins.estimators import GumbelSoftmax, Reinforce
from seqtk.plugins.objectives import Minimax

VOCAB, STEPS, TARGET = 6, 5, 3


# --------------------------------------------------------------------------- refused at build


LIAR = '''
from seqtk.core.interfaces import Batch, Generator
import torch


class Liar(Generator):
    """Claims ``relaxed`` and ``rollouts`` in its registry entry, implements neither."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        self.w = torch.nn.Parameter(torch.zeros(1))

    def sample(self, n):
        values = torch.zeros(n, self.spec.max_len, dtype=torch.long)
        return Batch(values=values, lengths=torch.full((n,), self.spec.max_len))
'''


def test_a_component_claiming_a_capability_it_lacks_is_refused_at_build_naming_the_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "liar_plugin.py").write_text(textwrap.dedent(LIAR), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    host = PluginHost()
    with host.registry.registering(Origin("liar-plugin", distribution="seqtk-liar", version="0.1")):
        host.registry.add(
            "generators", "liar", "liar_plugin:Liar", plugin="liar",
            requires=["discrete"], provides=["tokens", "log_probs", "relaxed", "rollouts"],
        )
    recipe = load_recipe(
        {
            "seqtk": 1,
            "name": "liar",
            "domain": {"name": "oracle", "params": {"vocab_size": 8, "max_len": 4, "train_samples": 8, "test_samples": 8}},
            "preset": "relgan",  # gumbel requires relaxed: the recipe check trusts the entry, as it must
            "generator": {"name": "liar"},
            "train": {"adversarial": {"steps": 1}, "cpu_threads": 1},
        },
        host=host,
    )
    with pytest.raises(SeqtkError) as error:
        assemble(recipe, host.registry, torch.device("cpu"))
    message = str(error.value)
    assert "generator 'liar'" in message
    assert "plugin 'liar-plugin' (package seqtk-liar 0.1)" in message
    assert "liar_plugin:Liar" in message
    assert "'relaxed' promises sample_relaxed(n, inverse_temperature)" in message
    assert "'rollouts' promises rollouts(batch, n, chunk_size=None)" in message


def test_words_without_methods_and_unknown_words_promise_nothing_checkable() -> None:
    class OnlySamples:
        def sample(self, n: int) -> Batch: ...

    assert unkept_promises(OnlySamples(), {"tokens", "log_probs", "reparam", "values", "probability", "my-own-word"}) == []
    assert unkept_promises(OnlySamples, {"relaxed"}) == [("relaxed", "sample_relaxed(n, inverse_temperature) -> Batch")]


# --------------------------------------------------------------------------- the built-ins keep their promises


def test_every_built_in_entry_implements_the_capabilities_it_claims(host: PluginHost) -> None:
    checked = 0
    for kind in KINDS:
        for name in host.registry.names(kind):
            entry = host.registry.get(kind, name)
            if entry.origin is not None and not entry.origin.own:
                continue  # another installed package's entry: not ours to vouch for
            words = entry.all_provides()
            target = entry.load()
            if kind == "models":
                # A model's words are its generator's, which exists only once built; none of them may promise a method
                # unless this test builds the model.
                assert not [w for w in words if w in CAPABILITIES and CAPABILITIES[w].methods], entry.label
                continue
            assert unkept_promises(target, words) == [], entry.label
            checked += 1
    assert checked > 20


def test_classes_carry_no_second_copy_of_the_words(host: PluginHost) -> None:
    for kind in KINDS:
        for name in host.registry.names(kind):
            entry = host.registry.get(kind, name)
            if entry.origin is not None and not entry.origin.own:
                continue
            target = entry.load()
            if isinstance(target, type):
                assert not hasattr(target, "provides") and not hasattr(target, "requires"), entry.label


def test_the_token_generators_satisfy_the_protocols(host: PluginHost) -> None:
    for name in ("token-lstm", "rmc"):
        cls = host.registry.get("generators", name).load()
        assert issubclass(cls, RollsOut) and issubclass(cls, SamplesRelaxed) and issubclass(cls, SamplesLogProbs)


# --------------------------------------------------------------------------- estimators use the Protocols


class PositionPolicy(Generator):
    """Independent tokens, one categorical per position: implements the Protocol methods and nothing of a built-in."""

    def __init__(self) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(STEPS, VOCAB))

    def _draw(self, n: int, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        log_p = torch.log_softmax(self.logits, -1)
        scores = log_p.expand(n, STEPS, VOCAB) + (noise if noise is not None else 0)
        tokens = scores.argmax(-1) if noise is not None else torch.multinomial(log_p.exp(), n, replacement=True).T
        return tokens, log_p.expand(n, STEPS, VOCAB).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)

    def sample(self, n: int) -> Batch:
        tokens, log_probs = self._draw(n)
        return Batch(values=tokens, lengths=torch.full((n,), STEPS), log_probs=log_probs)

    def sample_relaxed(self, n: int, inverse_temperature: float) -> Batch:
        noise = -torch.log(-torch.log(torch.rand(n, STEPS, VOCAB).clamp_min(1e-20)))
        tokens, log_probs = self._draw(n, noise)
        relaxed = torch.softmax((torch.log_softmax(self.logits, -1) + noise) * inverse_temperature, -1)
        return Batch(values=tokens, lengths=torch.full((n,), STEPS), log_probs=log_probs, relaxed=relaxed)

    @torch.no_grad()
    def rollouts(self, batch: Batch, n: int, chunk_size: int | None = None) -> Rollouts:
        rows = batch.values.shape[0]
        fresh = self.sample((STEPS - 1) * n * rows).values.view(STEPS - 1, n, rows, STEPS)
        prefix = torch.arange(1, STEPS).view(-1, 1, 1, 1) > torch.arange(STEPS).view(1, 1, 1, -1)
        values = torch.where(prefix, batch.values.view(1, 1, rows, STEPS), fresh)
        lengths = torch.full((STEPS - 1, n, rows), STEPS)
        return Rollouts(values=values, lengths=lengths, sampled=torch.ones(STEPS - 1, n, rows, dtype=torch.bool))


class TargetCritic(Discriminator):
    """Scores ``4 * (share of TARGET tokens) - 2`` from one-hots, so relaxed samples get its gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, batch: Batch) -> Tensor:
        return 4 * batch.one_hot(VOCAB)[..., TARGET].mean(1) - 2


def _share(generator: PositionPolicy) -> float:
    return float(torch.softmax(generator.logits.detach(), -1)[:, TARGET].mean())


@pytest.mark.parametrize("estimator", [Reinforce(rollouts=2, update_rate=0.0), GumbelSoftmax(max_inverse_temperature=5.0)], ids=["reinforce", "gumbel"])
def test_a_generator_with_only_the_protocol_methods_trains(estimator: Reinforce | GumbelSoftmax) -> None:
    torch.manual_seed(0)
    generator, critic, objective = PositionPolicy(), TargetCritic(), Minimax()
    assert isinstance(generator, RollsOut) and isinstance(generator, SamplesRelaxed)
    estimator.setup(generator, critic, objective)
    optimiser = torch.optim.Adam(generator.parameters(), lr=0.1)
    real = generator.sample(32).detach()
    before = _share(generator)
    for step in range(20):
        optimiser.zero_grad()
        estimator.generator_step(generator, critic, objective, real, step=step, total_steps=20).loss.backward()
        optimiser.step()
        estimator.after_generator_step(generator, step=step)
    after = _share(generator)
    print(f"{type(estimator).__name__}: share of the target token {before:.3f} -> {after:.3f}")
    assert before == pytest.approx(1 / VOCAB) and after > before + 0.3, (before, after)


def test_an_estimator_names_the_protocol_a_generator_lacks() -> None:
    class NoExtras(Generator):
        def sample(self, n: int) -> Batch:
            return Batch(values=torch.zeros(n, STEPS, dtype=torch.long), lengths=torch.full((n,), STEPS))

    generator, critic, objective = NoExtras(), TargetCritic(), Minimax()
    with pytest.raises(ValueError, match=r"reinforce: .*NoExtras has no rollouts\(batch, n, chunk_size=None\).*RollsOut"):
        Reinforce().setup(generator, critic, objective)
    real = generator.sample(4)
    with pytest.raises(ValueError, match=r"gumbel: .*NoExtras has no sample_relaxed.*SamplesRelaxed"):
        GumbelSoftmax().generator_step(generator, critic, objective, real, step=0, total_steps=1)
