"""TimeGAN (Yoon, Jarrett and van der Schaar, NeurIPS 2019) as a seqtk model plugin.

TimeGAN does not fit the five-part GAN contract: it owns five networks, trains real
data through its own encoder, and has three phases. It is therefore a
:class:`~seqtk.core.interfaces.Model`, which says what it trains and how while the
trainer keeps data order, optimiser steps (under DDP too), checkpoints, resume and
evaluation. It follows the authors' code (``timegan.py`` of the paper's repository):

- five GRU stacks (``num_layers`` layers of ``hidden_dim`` units, 3 and 24 in the
  code), each followed by a linear layer: the embedder ``X -> H`` and recovery
  ``H -> X`` (an autoencoder into a latent space of ``hidden_dim`` features), the
  generator ``Z -> E`` (noise to latents), the supervisor ``H_t -> H_{t+1}`` (one layer
  fewer) and the discriminator ``H -> logits`` per step; all but the discriminator end
  in a sigmoid;
- phase ``autoencoder``: the embedder and recovery minimise ``10 sqrt(MSE(X, X~))``;
- phase ``supervisor``: the generator and supervisor minimise the supervised loss
  ``MSE(H_{2:T}, S(H)_{1:T-1})`` on real latents (only the supervisor receives a
  gradient, as in the code);
- phase ``joint``: ``generator_updates`` (2) times, the generator and supervisor minimise
  ``BCE(D(S(E)) real) + gamma BCE(D(E) real) + eta sqrt(L_S) + moment_weight (L_std + L_mean)``,
  then the embedder and recovery minimise ``10 sqrt(MSE) + 0.1 L_S``; then the
  discriminator's loss ``BCE(D(H), 1) + BCE(D(S(E)), 0) + gamma BCE(D(E), 0)`` is
  computed on a fresh batch and the discriminator updated only if it exceeds
  ``discriminator_threshold`` (0.15).

Noise is uniform on [0, 1) with as many features as the data (``z_dim = dim`` in the
code). Data enter the embedder scaled to [0, 1] from the domain's ``value_range`` (the
code min-max scales the data itself), and recovery's sigmoid maps back to it. Variable
lengths are honoured by masking every loss; generated lengths are drawn from the
domain's length frequencies, as the code draws them from the training lengths.

Deviations, each because the contract asks for it: the generator's two updates per
joint step draw their real batches from the run's one data stream (the code draws
them the same way, independently); evaluation samples with the sampling view
(``generator``: G, then S, then R), which is also what ``seqtk sample`` restores.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Mapping

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqtk.core.interfaces import Batch, Discriminator, DomainSpec, Generator, Model, ModelPhase, ModelUpdates
from seqtk.core.params import NonNegativeFloat, NonNegativeInt, PositiveInt, Range, checked
from seqtk.plugins.init import apply_init

__all__ = ["TimeGAN"]

#: Added under the square roots of the moment loss, as the code does.
_MOMENT_EPS = 1e-6


class _RecurrentStack(nn.Module):
    """A stack of GRU layers and a linear read-out (TimeGAN's ``rnn_cell`` + ``dense``), optionally sigmoid-squashed."""

    def __init__(self, inputs: int, hidden: int, outputs: int, layers: int, squash: bool) -> None:
        super().__init__()
        self.rnn = nn.GRU(inputs, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, outputs)
        self.squash = squash

    def forward(self, x: Tensor) -> Tensor:
        hidden, _ = self.rnn(x)
        out = self.head(hidden)
        return torch.sigmoid(out) if self.squash else out


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` ``[B, T, ...]`` over the steps ``mask`` ``[B, T]`` marks as real."""
    weights = mask.to(values.dtype)
    while weights.dim() < values.dim():
        weights = weights.unsqueeze(-1)
    weights = weights.expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


class TimeGANSampler(Generator):
    """TimeGAN's sampling path as a Generator: noise -> generator -> supervisor -> recovery.

    It shares its networks with the model, so evaluation, ``seqtk sample`` and the
    checkpoint's ``generator`` entry see exactly what the model trained.
    """


    def __init__(self, owner: "TimeGAN") -> None:
        super().__init__()
        self.generator = owner.generator_net
        self.supervisor = owner.supervisor
        self.recovery = owner.recovery
        # A plain reference: registering the owner would put every network twice in state_dict.
        self.__dict__["_owner"] = owner

    def sample(self, n: int) -> Batch:
        owner: TimeGAN = self.__dict__["_owner"]
        lengths = owner.draw_lengths(n)
        latent = self.supervisor(self.generator(owner.noise(n, lengths)))
        return owner.to_batch(owner.from_unit(self.recovery(latent)), lengths)

    def pretraining_problem(self) -> str | None:
        return "TimeGAN's generator trains inside its model (its own phases), not with the trainer's pretraining"


class TimeGANCritic(Discriminator):
    """The discriminator's view of data-space batches (real data embedded first), for the logged ``d_auc``.

    Scores are per step, as TimeGAN's discriminator emits them; positions past a row's
    length are ignored by the trainer through ``Batch.mask``.
    """

    per_step = True

    def __init__(self, owner: "TimeGAN") -> None:
        super().__init__()
        self.embedder = owner.embedder
        self.discriminator = owner.discriminator_net
        self.__dict__["_owner"] = owner

    def forward(self, batch: Batch) -> Tensor:
        owner: TimeGAN = self.__dict__["_owner"]
        return self.discriminator(self.embedder(owner.to_unit(batch.values))).squeeze(-1)


@checked("timegan")
class TimeGAN(Model):
    """TimeGAN: an autoencoder's latent space, a supervisor for step-ahead dynamics, an adversarial game on latents.

    Parameters (defaults are the authors' code, except the step counts, which are
    10,000 there for each phase; ``recipes/sines-timegan.yaml`` says what seqtk uses):
    ``hidden_dim`` latent and GRU width; ``num_layers`` GRU layers per network (the
    supervisor has one fewer); ``autoencoder_steps``, ``supervisor_steps``,
    ``joint_steps`` the three phases' lengths; ``gamma`` weight of the losses on the
    unsupervised latents ``E``; ``eta`` weight of ``sqrt(L_S)`` in the generator's loss
    (100 in the code); ``moment_weight`` weight of the mean/std matching (100);
    ``reconstruction_weight`` (10) and ``embedder_supervised_weight`` (0.1) the
    embedder's joint loss; ``discriminator_threshold`` the discriminator updates only
    when its loss exceeds it (0.15); ``generator_updates`` generator and embedder
    updates per joint step (2); ``init`` how parameters are drawn
    (:mod:`seqtk.plugins.init`; the code used TensorFlow's defaults).
    """


    def __init__(
        self,
        spec: DomainSpec,
        hidden_dim: PositiveInt = 24,
        num_layers: Annotated[int, Range(2, note="the supervisor has one layer fewer")] = 3,
        autoencoder_steps: NonNegativeInt = 10000,
        supervisor_steps: NonNegativeInt = 10000,
        joint_steps: NonNegativeInt = 10000,
        gamma: NonNegativeFloat = 1.0,
        eta: NonNegativeFloat = 100.0,
        moment_weight: NonNegativeFloat = 100.0,
        reconstruction_weight: NonNegativeFloat = 10.0,
        embedder_supervised_weight: NonNegativeFloat = 0.1,
        discriminator_threshold: NonNegativeFloat = 0.15,
        generator_updates: PositiveInt = 2,
        init: str | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if spec.kind != "continuous" or spec.features < 1:
            raise ValueError(f"timegan: it models real-valued series, but the domain is {spec.kind!r} with {spec.features} features")
        if spec.length_weights and len(spec.length_weights) != spec.max_len:
            raise ValueError(f"timegan: spec.length_weights must hold {spec.max_len} weights (lengths 1..max_len), got {len(spec.length_weights)}")
        self.spec = spec
        features = spec.features
        self.embedder = _RecurrentStack(features, hidden_dim, hidden_dim, num_layers, squash=True)
        self.recovery = _RecurrentStack(hidden_dim, hidden_dim, features, num_layers, squash=spec.value_range is not None)
        self.generator_net = _RecurrentStack(features, hidden_dim, hidden_dim, num_layers, squash=True)
        self.supervisor = _RecurrentStack(hidden_dim, hidden_dim, hidden_dim, num_layers - 1, squash=True)
        self.discriminator_net = _RecurrentStack(hidden_dim, hidden_dim, 1, num_layers, squash=False)
        # Optimiser groups (what each of the code's solvers updates), kept out of the module
        # tree like the views below, so that state_dict holds each network once.
        self.__dict__["_autoencoder"] = nn.ModuleList([self.embedder, self.recovery])
        self.__dict__["_sampler"] = nn.ModuleList([self.generator_net, self.supervisor])
        self.steps = {"autoencoder": autoencoder_steps, "supervisor": supervisor_steps, "joint": joint_steps}
        self.gamma, self.eta, self.moment_weight = float(gamma), float(eta), float(moment_weight)
        self.reconstruction_weight, self.embedder_supervised_weight = float(reconstruction_weight), float(embedder_supervised_weight)
        self.discriminator_threshold = float(discriminator_threshold)
        self.generator_updates = generator_updates
        low, high = spec.value_range if spec.value_range is not None else (0.0, 1.0)
        if high <= low:
            raise ValueError(f"timegan: value_range must be (low, high) with low < high, got {spec.value_range}")
        self._low, self._scale = float(low), float(high - low)
        apply_init(self, init, "timegan")
        self.discriminator_updates = 0
        # Views sharing the networks; kept out of the module tree so state_dict holds each network once.
        self.__dict__["_views"] = (TimeGANSampler(self), TimeGANCritic(self))

    # ----------------------------------------------------------- Model

    @property
    def generator(self) -> Generator:
        return self.__dict__["_views"][0]

    @property
    def discriminator(self) -> Discriminator:
        return self.__dict__["_views"][1]

    def phases(self) -> list[ModelPhase]:
        return [ModelPhase(name, steps) for name, steps in self.steps.items()]

    def optimizers(self) -> dict[str, tuple[nn.Module, Literal["generator", "discriminator"]]]:
        # The code's E0, GS, G, E and D solvers: five Adams, each starting afresh.
        return {
            "autoencoder": (self._autoencoder, "generator"),
            "supervisor": (self._sampler, "generator"),
            "generator": (self._sampler, "generator"),
            "embedder": (self._autoencoder, "generator"),
            "discriminator": (self.discriminator_net, "discriminator"),
        }

    def training_step(self, phase: str, step: int, updates: ModelUpdates) -> dict[str, float]:
        if phase == "autoencoder":
            real = updates.next_batch()
            return updates.update("autoencoder", lambda: self._autoencoder_loss(real))
        if phase == "supervisor":
            real = updates.next_batch()
            return updates.update("supervisor", lambda: self._supervisor_loss(real))
        if phase == "joint":
            return self._joint_step(updates)
        raise ValueError(f"timegan: no phase {phase!r}; its phases are {', '.join(self.steps)}")

    def training_state(self) -> dict[str, Any]:
        return {"discriminator_updates": self.discriminator_updates}

    def load_training_state(self, state: Mapping[str, Any]) -> None:
        self.discriminator_updates = int(state.get("discriminator_updates", 0))

    # ----------------------------------------------------------- pieces

    def to_unit(self, values: Tensor) -> Tensor:
        return (values - self._low) / self._scale

    def from_unit(self, values: Tensor) -> Tensor:
        return self._low + self._scale * values

    def draw_lengths(self, n: int) -> Tensor:
        device = self.embedder.head.weight.device
        if not self.spec.length_weights:
            return torch.full((n,), self.spec.max_len, dtype=torch.long, device=device)
        weights = torch.tensor(self.spec.length_weights, dtype=torch.float, device=device)
        return torch.multinomial(weights, n, replacement=True) + 1

    def noise(self, n: int, lengths: Tensor) -> Tensor:
        """Uniform noise on [0, 1) per step, zero past each row's length (the code's ``random_generator``)."""
        z = torch.rand(n, self.spec.max_len, self.spec.features, device=lengths.device)
        return z * (torch.arange(self.spec.max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)

    @staticmethod
    def to_batch(values: Tensor, lengths: Tensor) -> Batch:
        mask = torch.arange(values.shape[1], device=values.device).unsqueeze(0) < lengths.unsqueeze(1)
        return Batch(values=values * mask.unsqueeze(-1).to(values.dtype), lengths=lengths)

    def _reconstruction(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The embedding of ``x`` and the reconstruction MSE (TimeGAN's ``E_loss_T0``)."""
        h = self.embedder(x)
        return h, _masked_mean((self.recovery(h) - x) ** 2, mask)

    def _supervised(self, h: Tensor, mask: Tensor) -> Tensor:
        """MSE between the next real latent and the supervisor's prediction of it (``G_loss_S``)."""
        predicted = self.supervisor(h)
        return _masked_mean((h[:, 1:] - predicted[:, :-1]) ** 2, mask[:, 1:])

    def _autoencoder_loss(self, real: Batch) -> tuple[Tensor, dict[str, float]]:
        _, mse = self._reconstruction(self.to_unit(real.values), real.mask)
        return self.reconstruction_weight * torch.sqrt(mse), {"ae_reconstruction": mse.item()}

    def _supervisor_loss(self, real: Batch) -> tuple[Tensor, dict[str, float]]:
        with torch.no_grad():
            h = self.embedder(self.to_unit(real.values))
        supervised = self._supervised(h, real.mask)
        return supervised, {"s_supervised": supervised.item()}

    def _bce(self, logits: Tensor, target: float, mask: Tensor) -> Tensor:
        return _masked_mean(F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction="none"), mask)

    def _joint_step(self, updates: ModelUpdates) -> dict[str, float]:
        logs: dict[str, float] = {}
        for _ in range(self.generator_updates):
            real = updates.next_batch()
            x, mask = self.to_unit(real.values), real.mask
            z = self.noise(real.size, real.lengths)

            def generator_loss() -> tuple[Tensor, dict[str, float]]:
                h = self.embedder(x)
                e_hat = self.generator_net(z)
                h_hat = self.supervisor(e_hat)
                x_hat = self.recovery(h_hat)
                adversarial = self._bce(self.discriminator_net(h_hat), 1.0, mask)
                adversarial_e = self._bce(self.discriminator_net(e_hat), 1.0, mask)
                supervised = self._supervised(h, mask)
                moments = self._moment_loss(x_hat, x, mask)
                loss = adversarial + self.gamma * adversarial_e + self.eta * torch.sqrt(supervised) + self.moment_weight * moments
                return loss, {"g_adversarial": adversarial.item(), "g_supervised": supervised.item(), "g_moments": moments.item()}

            logs.update(updates.update("generator", generator_loss))

            def embedder_loss() -> tuple[Tensor, dict[str, float]]:
                h, mse = self._reconstruction(x, mask)
                supervised = self._supervised(h, mask)
                loss = self.reconstruction_weight * torch.sqrt(mse) + self.embedder_supervised_weight * supervised
                return loss, {"e_reconstruction": mse.item()}

            logs.update(updates.update("embedder", embedder_loss))
        real = updates.next_batch()
        x, mask = self.to_unit(real.values), real.mask
        z = self.noise(real.size, real.lengths)

        def discriminator_loss() -> tuple[Tensor, dict[str, float]]:
            with torch.no_grad():
                h = self.embedder(x)
                e_hat = self.generator_net(z)
                h_hat = self.supervisor(e_hat)
            loss = (
                self._bce(self.discriminator_net(h), 1.0, mask)
                + self._bce(self.discriminator_net(h_hat), 0.0, mask)
                + self.gamma * self._bce(self.discriminator_net(e_hat), 0.0, mask)
            )
            return loss, {"d_loss": loss.item()}

        with torch.no_grad():
            check, _ = discriminator_loss()
        # The code updates the discriminator only while it is not already winning.
        if check.item() > self.discriminator_threshold:
            logs.update(updates.update("discriminator", discriminator_loss))
            self.discriminator_updates += 1
            logs["d_updated"] = 1.0
        else:
            logs["d_loss"] = check.item()
            logs["d_updated"] = 0.0
        return logs

    @staticmethod
    def _moment_loss(x_hat: Tensor, x: Tensor, mask: Tensor) -> Tensor:
        """Mean absolute difference of per-(step, feature) standard deviations and means over the batch (``G_loss_V``)."""
        weights = mask.to(x.dtype).unsqueeze(-1)
        present = weights.sum(0)
        count = present.clamp_min(1.0)

        def moments(values: Tensor) -> tuple[Tensor, Tensor]:
            mean = (values * weights).sum(0) / count
            variance = (((values - mean) ** 2) * weights).sum(0) / count
            return mean, variance

        mean_hat, var_hat = moments(x_hat)
        mean, var = moments(x)
        valid = (present > 0).to(x.dtype).expand_as(mean)
        std_term = (torch.abs(torch.sqrt(var_hat + _MOMENT_EPS) - torch.sqrt(var + _MOMENT_EPS)) * valid).mean()
        mean_term = (torch.abs(mean_hat - mean) * valid).mean()
        return std_term + mean_term
