"""The GAN objectives: thin adapters from the pure losses in ``losses.py`` to the trainer.

An objective turns :class:`~seqtk.core.interfaces.Scores` into scalar losses (each
elementwise loss is reduced under its own batch's mask), says how policy-gradient
estimators should read a score as a reward, and may add a penalty to the
discriminator's loss.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from seqtk.core.capabilities import Classifies
from seqtk.core.interfaces import Batch, Discriminator, Objective, Scores
from seqtk.core.params import NonNegativeFloat, PositiveFloat, PositiveInt, checked
from seqtk.plugins import losses

__all__ = ["Minimax", "AuxiliaryClassifierGAN", "WGANGP", "WGANClip", "Hinge", "LSGAN", "RSGAN"]


@checked("minimax")
class Minimax(Objective):
    """The original GAN loss (Goodfellow et al. 2014).

    ``non_saturating`` (default) trains the generator to maximise ``log D(G(z))``, the
    variant the paper recommends in practice; ``False`` uses the saturating
    ``log(1 - D(G(z)))`` of the minimax game itself.
    """

    def __init__(self, non_saturating: bool = True) -> None:
        self.non_saturating = non_saturating

    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor:
        real_term, fake_term = losses.minimax_discriminator_loss(real.values, fake.values)
        return real.mean(real_term) + fake.mean(fake_term)

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        if self.non_saturating:
            return fake.mean(losses.minimax_generator_loss_nonsaturating(fake.values))
        return fake.mean(losses.minimax_generator_loss_saturating(fake.values))

    def reward(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        """The discriminator's probability that the sample is real, ``sigmoid(score)`` (SeqGAN's reward).

        Detached: a reward scales the policy gradient, it is not differentiated itself.
        """
        return torch.sigmoid(fake_scores.detach())

    def __repr__(self) -> str:
        return f"Minimax(non_saturating={self.non_saturating})"


@checked("acgan")
class AuxiliaryClassifierGAN(Minimax):
    """AC-GAN (Odena et al. 2017): the minimax loss plus the class cross-entropy of the discriminator's auxiliary classifier.

    The discriminator (``auxiliary_classifier: true``: the ``classifies`` capability) has a
    second head, ``classify(batch)``, predicting each row's label. Its loss adds
    ``ac_weight * (CE(classify(real), y_real) + CE(classify(fake), y_fake))`` (the fake term
    only with ``classify_fakes``, as in the paper; off, the classifier learns from real data
    alone); the generator raises ``ac_weight * log p(asked label | sample)``, through
    :meth:`auxiliary_reward`: subtracted from the loss by ``reparam`` and ``gumbel``, added
    to every reward by ``reinforce``. The adversarial part is :class:`Minimax`
    (``non_saturating``). The labels are the batches' own (``Batch.condition.labels``).
    """

    def __init__(self, non_saturating: bool = True, ac_weight: NonNegativeFloat = 1.0, classify_fakes: bool = True) -> None:
        super().__init__(non_saturating)
        self.ac_weight = float(ac_weight)
        self.classify_fakes = classify_fakes

    def penalty(self, discriminator: Discriminator, real: Batch, fake: Batch) -> Tensor | None:
        """The auxiliary classifier's weighted cross-entropy on the real batch (and the fake one): its training signal."""
        if not self.ac_weight:
            return None
        loss = _class_log_likelihood(discriminator, real).mean().neg()
        if self.classify_fakes:
            loss = loss - _class_log_likelihood(discriminator, fake).mean()
        return self.ac_weight * loss

    def auxiliary_reward(self, discriminator: Discriminator, fake: Batch) -> Tensor | None:
        """``ac_weight * log p(asked label | sample)`` per row, differentiable through the sample."""
        if not self.ac_weight:
            return None
        return self.ac_weight * _class_log_likelihood(discriminator, fake)

    def __repr__(self) -> str:
        return f"AuxiliaryClassifierGAN(non_saturating={self.non_saturating}, ac_weight={self.ac_weight}, classify_fakes={self.classify_fakes})"


def _class_log_likelihood(discriminator: Discriminator, batch: Batch) -> Tensor:
    """``[B]``: the auxiliary classifier's log-probability of each row's own label."""
    if not isinstance(discriminator, Classifies):
        raise ValueError(
            f"acgan: the discriminator {type(discriminator).__name__} has no classify(batch) method; "
            "give it auxiliary_classifier: true (the 'classifies' capability)"
        )
    if batch.condition is None or batch.condition.labels is None:
        raise ValueError("acgan: the batch carries no labels; AC-GAN needs a domain whose sequences have class labels")
    logits = discriminator.classify(batch)
    labels = batch.condition.labels.to(logits.device)
    return torch.log_softmax(logits, dim=-1).gather(1, labels.unsqueeze(1)).squeeze(1)


class _Wasserstein(Objective):
    """The Wasserstein critic and generator losses shared by ``wgan`` and ``wgan-gp``.

    The two differ only in how they keep the critic (roughly) 1-Lipschitz: weight
    clipping after each step, or a gradient penalty.
    """

    critic_steps: int = 5

    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor:
        real_term, fake_term = losses.wasserstein_critic_loss(real.values, fake.values)
        return real.mean(real_term) + fake.mean(fake_term)

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        return fake.mean(losses.wasserstein_generator_loss(fake.values))

    def reward(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        """The critic's raw score (detached): an unbounded "realness" that the generator should raise.

        The generator's loss is ``-score``, so the score is exactly the negative loss; no
        squashing is applied because a Wasserstein critic's scale carries no probability.
        """
        return fake_scores.detach()


@checked("wgan-gp")
class WGANGP(_Wasserstein):
    """Wasserstein loss with a gradient penalty on interpolates (Gulrajani et al. 2017).

    ``penalty_weight`` is the paper's lambda (10); ``critic_steps`` its n_critic (5), the
    number of critic updates per generator update. A weight of 0 disables the penalty
    (``penalty`` then returns None and costs nothing).

    For discrete data the penalty interpolates the real tokens' one-hots with the fake
    batch's relaxed one-hots (exact one-hots when it carries none), in ``[B, T, V]``: the
    input space the critic's embedding matrix reads. Reward: the raw critic score.
    """

    def __init__(self, penalty_weight: NonNegativeFloat = 10.0, critic_steps: PositiveInt = 5) -> None:
        self.penalty_weight = float(penalty_weight)
        self.critic_steps = critic_steps

    def penalty(self, discriminator: Discriminator, real: Batch, fake: Batch) -> Tensor | None:
        """``penalty_weight * mean((||grad D(x_hat)|| - 1)^2)`` over interpolates of the two batches.

        Row i of ``real`` is paired with row i of ``fake`` (the trainer draws batches of
        equal size). Interpolates use the longer of each pair's lengths, so no real step
        of either sequence is cut off, and only those steps enter the gradient norm.
        Per-step scores are reduced to one per sample by a masked mean before
        differentiating. cuDNN is switched off for the critic's forward pass here because
        cuDNN's RNN kernels have no double backward.
        """
        if self.penalty_weight == 0:
            return None
        if real.size != fake.size:
            raise ValueError(
                f"wgan-gp: the gradient penalty pairs row i of the real batch with row i of the fake one, "
                f"so both need the same number of rows; got {real.size} real and {fake.size} fake"
            )
        real_x, fake_x, wrap = _penalty_inputs(discriminator, real, fake)
        steps = max(real_x.shape[1], fake_x.shape[1])
        real_x, fake_x = _pad_steps(real_x, steps), _pad_steps(fake_x, steps)
        lengths = torch.maximum(real.lengths, fake.lengths.to(real.lengths.device)).to(real_x.device)
        mask = torch.arange(steps, device=real_x.device).unsqueeze(0) < lengths.unsqueeze(1)

        def critic(x: Tensor) -> Tensor:
            return Scores(discriminator(wrap(x, lengths)), mask).per_sequence()

        with torch.backends.cudnn.flags(enabled=False):
            per_sample = losses.gradient_penalty(critic, real_x, fake_x, weight_mask=mask)
        return self.penalty_weight * per_sample.mean()

    def __repr__(self) -> str:
        return f"WGANGP(penalty_weight={self.penalty_weight}, critic_steps={self.critic_steps})"


@checked("wgan")
class WGANClip(_Wasserstein):
    """The original Wasserstein GAN: critic weights clipped after every step (Arjovsky et al. 2017).

    ``clip`` is the paper's c (0.01): after each critic optimiser step every parameter of
    the discriminator is clamped to ``[-clip, clip]``, a crude way to keep the critic
    Lipschitz (WGAN-GP replaced it with a penalty). ``critic_steps`` is n_critic (5).
    The paper trains with RMSProp at a small learning rate (5e-5); momentum-based
    optimisers such as Adam are known to make clipped critics unstable. Reward: the raw
    critic score.
    """

    def __init__(self, clip: PositiveFloat = 0.01, critic_steps: PositiveInt = 5) -> None:
        self.clip = float(clip)
        self.critic_steps = critic_steps

    def after_discriminator_step(self, discriminator: Discriminator) -> None:
        """Clamp every parameter of the critic to ``[-clip, clip]``, in place."""
        with torch.no_grad():
            for parameter in discriminator.parameters():
                parameter.clamp_(-self.clip, self.clip)

    def __repr__(self) -> str:
        return f"WGANClip(clip={self.clip}, critic_steps={self.critic_steps})"


class Hinge(Objective):
    """The hinge loss (Lim and Ye 2017; Miyato et al. 2018), as in SAGAN and BigGAN.

    Discriminator: ``relu(1 - D(x)) + relu(1 + D(G(z)))``; generator: ``-D(G(z))``.
    Reward: the raw score, which is exactly the negative generator loss (unbounded, like
    a Wasserstein critic's).
    """

    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor:
        real_term, fake_term = losses.hinge_discriminator_loss(real.values, fake.values)
        return real.mean(real_term) + fake.mean(fake_term)

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        return fake.mean(losses.hinge_generator_loss(fake.values))

    def reward(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        """The raw score (detached): the generator's hinge loss is ``-score``."""
        return fake_scores.detach()

    def __repr__(self) -> str:
        return "Hinge()"


class LSGAN(Objective):
    """Least-squares GAN with the 0-1 coding (Mao et al. 2017).

    Discriminator: ``0.5 (D(x) - 1)^2 + 0.5 D(G(z))^2``; generator:
    ``0.5 (D(G(z)) - 1)^2``. Reward: ``-(score - 1)^2``, the negative generator loss up to
    its factor 0.5: highest (0) when the discriminator gives the sample the real target.
    Unlike the raw score it does not reward overshooting the target, which the
    generator's own loss penalises too.
    """

    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor:
        real_term, fake_term = losses.least_squares_discriminator_loss(real.values, fake.values)
        return real.mean(real_term) + fake.mean(fake_term)

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        return fake.mean(losses.least_squares_generator_loss(fake.values))

    def reward(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        """``-(score - 1)^2`` (detached): the negative generator loss, without its 0.5."""
        return -((fake_scores.detach() - 1.0) ** 2)

    def __repr__(self) -> str:
        return "LSGAN()"


class RSGAN(Objective):
    """The relativistic standard GAN (Jolicoeur-Martineau 2018), RelGAN's loss.

    Discriminator: ``BCEWithLogits(D(x_r) - D(x_f), 1)``; generator:
    ``BCEWithLogits(D(x_f) - D(x_r), 1)``, averaged over pairs. The generator's loss needs
    the real scores (``generator_needs_real``).

    Pairing: row i of the real batch is compared with row i of the fake batch, so both
    must hold the same number of rows (the trainer draws them so; otherwise a ValueError).
    Per-step scores ``[B, T]`` are first reduced to one score per sequence by the mean
    over that sequence's real steps (``Scores.weight``), then paired: the relativistic
    comparison is between sequences, and two batches' padding never lines up step by step.

    Reward for policy-gradient estimators: ``sigmoid(score - mean(real_scores))``, the
    probability under the relativistic discriminator that the sample is more real than
    an average real sequence. It needs ``real_scores`` (per-sequence scores of a real
    batch, or a ``Scores`` so that per-step padding is left out of the mean).
    """

    generator_needs_real = True

    def discriminator_loss(self, real: Scores, fake: Scores) -> Tensor:
        real_seq, fake_seq = _pairs(real, fake)
        return losses.relativistic_discriminator_loss(real_seq, fake_seq).mean()

    def generator_loss(self, fake: Scores, real: Scores | None = None) -> Tensor:
        if real is None:
            raise ValueError(
                "rsgan: generator_loss needs the real batch's scores (generator_needs_real is true); got real=None"
            )
        real_seq, fake_seq = _pairs(real, fake)
        return losses.relativistic_generator_loss(real_seq, fake_seq).mean()

    def reward(self, fake_scores: Tensor, real_scores: Tensor | Scores | None = None) -> Tensor:
        """``sigmoid(score - mean(real_scores))`` (detached); ``real_scores`` is required."""
        if real_scores is None:
            raise ValueError(
                "rsgan: reward needs the scores of a real batch (real_scores) to compare the samples "
                "with; the estimator must pass them when objective.generator_needs_real is true"
            )
        if isinstance(real_scores, Scores):
            baseline = real_scores.mean(real_scores.values.detach())
        else:
            baseline = real_scores.detach().mean()
        return torch.sigmoid(fake_scores.detach() - baseline.to(fake_scores.device))

    def __repr__(self) -> str:
        return "RSGAN()"


# --------------------------------------------------------------------------- helpers

Wrap = Callable[[Tensor, Tensor], Batch]


def _penalty_inputs(discriminator: Discriminator, real: Batch, fake: Batch) -> tuple[Tensor, Tensor, Wrap]:
    """The tensors to interpolate, and how to turn an interpolate back into a Batch.

    Continuous batches interpolate ``values``. Discrete ones interpolate ``[B, T, V]``
    one-hots, passed to the discriminator as ``relaxed`` (which ``Batch.one_hot`` returns).
    """
    if real.values.is_floating_point():
        return real.values, fake.values.to(real.values.device, real.values.dtype), _continuous_batch
    vocab = _vocab_size(discriminator, real, fake)
    real_x = real.one_hot(vocab)
    return real_x, fake.one_hot(vocab).to(real_x.device, real_x.dtype), _relaxed_batch


def _continuous_batch(x: Tensor, lengths: Tensor) -> Batch:
    return Batch(values=x, lengths=lengths)


def _relaxed_batch(x: Tensor, lengths: Tensor) -> Batch:
    return Batch(values=x.detach().argmax(-1), lengths=lengths, relaxed=x)


def _vocab_size(discriminator: Discriminator, real: Batch, fake: Batch) -> int:
    for batch in (fake, real):
        if batch.relaxed is not None:
            return int(batch.relaxed.shape[-1])
    spec = getattr(discriminator, "spec", None)
    vocab = getattr(spec, "vocab_size", 0)
    if vocab:
        return int(vocab)
    raise ValueError(
        "wgan-gp: cannot find the vocabulary size for the gradient penalty on token batches: "
        "neither batch carries relaxed one-hots and the discriminator has no spec.vocab_size"
    )


def _pad_steps(x: Tensor, steps: int) -> Tensor:
    if x.shape[1] == steps:
        return x
    pad = x.new_zeros((x.shape[0], steps - x.shape[1], *x.shape[2:]))
    return torch.cat([x, pad], dim=1)


def _pairs(real: Scores, fake: Scores) -> tuple[Tensor, Tensor]:
    """Per-sequence real and fake scores, row i of one paired with row i of the other."""
    real_seq, fake_seq = real.per_sequence(), fake.per_sequence()
    if real_seq.shape[0] != fake_seq.shape[0]:
        raise ValueError(
            f"rsgan: relativistic losses pair row i of the real batch with row i of the fake one, "
            f"so both need the same number of rows; got {real_seq.shape[0]} real and {fake_seq.shape[0]} fake"
        )
    return real_seq, fake_seq
