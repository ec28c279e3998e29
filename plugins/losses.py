"""GAN losses as pure functions on score tensors.

Every function returns an *elementwise* tensor with the shape of the scores it was given
(``[B]`` for per-sequence discriminators, ``[B, T]`` for per-step ones). Reduction is left
to :meth:`seqtk.core.interfaces.Scores.mean`, which knows which elements are padding; that
is why losses over real and fake scores return two tensors instead of one sum: the two
batches have different masks.

Scores are logits (the discriminator's raw output, "higher means more real"). The
logistic losses use ``softplus``/``logsigmoid`` so that large scores never overflow or
take ``log(0)``: ``-log sigmoid(x) = softplus(-x)`` and ``-log(1 - sigmoid(x)) = softplus(x)``.

The classes in :mod:`seqtk.plugins.objectives` are thin adapters over these functions.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "minimax_discriminator_loss",
    "minimax_generator_loss_saturating",
    "minimax_generator_loss_nonsaturating",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
    "gradient_penalty",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "least_squares_discriminator_loss",
    "least_squares_generator_loss",
    "relativistic_discriminator_loss",
    "relativistic_generator_loss",
]


# --------------------------------------------------------------------------- minimax


def minimax_discriminator_loss(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """The discriminator's loss of the original GAN, as its real and fake terms.

    .. math::  L_D = -\\log \\sigma(D(x)) - \\log(1 - \\sigma(D(G(z))))

    which is binary cross-entropy with label 1 for real and 0 for fake scores. Returned
    as ``(softplus(-real), softplus(fake))``, elementwise, so the caller averages each
    term under its own batch's mask and adds them.

    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, eq. 1.
    """
    return F.softplus(-real), F.softplus(fake)


def minimax_generator_loss_saturating(fake: Tensor) -> Tensor:
    """The generator's loss as the minimax game defines it (minimise it).

    .. math::  L_G = \\log(1 - \\sigma(D(G(z))))  = -\\mathrm{softplus}(D(G(z)))

    Its gradient vanishes when the discriminator confidently rejects the samples (early
    in training), which is why the non-saturating form is the usual choice.

    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, eq. 1.
    """
    return -F.softplus(fake)


def minimax_generator_loss_nonsaturating(fake: Tensor) -> Tensor:
    """The non-saturating generator loss: maximise ``log D(G(z))`` instead.

    .. math::  L_G = -\\log \\sigma(D(G(z))) = \\mathrm{softplus}(-D(G(z)))

    Same fixed point as the saturating loss, strong gradients when the discriminator wins.

    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, section 3.
    """
    return F.softplus(-fake)


# --------------------------------------------------------------------------- wasserstein


def wasserstein_critic_loss(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """The critic's loss of the Wasserstein GAN, as its real and fake terms.

    .. math::  L_D = D(G(z)) - D(x)

    Minimising it maximises ``E[D(x)] - E[D(G(z))]``, the Kantorovich-Rubinstein estimate
    of the Wasserstein-1 distance when ``D`` is 1-Lipschitz. Returned as ``(-real, fake)``
    so that each term is averaged under its own mask.

    Arjovsky et al., "Wasserstein GAN", ICML 2017, eq. 3.
    """
    return -real, fake


def wasserstein_generator_loss(fake: Tensor) -> Tensor:
    """The generator's Wasserstein loss: ``L_G = -D(G(z))``.

    Arjovsky et al., "Wasserstein GAN", ICML 2017, algorithm 1.
    """
    return -fake


def gradient_penalty(
    critic_fn: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    weight_mask: Tensor | None = None,
) -> Tensor:
    """Per-sample gradient penalty on random interpolates of real and fake inputs.

    .. math::
        \\hat x = \\epsilon x + (1 - \\epsilon) \\tilde x,\\quad \\epsilon \\sim U(0, 1)
        \\text{ per sample};\\qquad
        GP = (\\lVert \\nabla_{\\hat x} D(\\hat x) \\rVert_2 - 1)^2

    The norm is taken over every non-batch dimension of the input. The result is ``[B]``
    (multiply by the penalty weight and average to get the loss term). The graph is kept
    (``create_graph=True``) so the penalty can be backpropagated into the critic; the
    inputs are detached first, so it never trains whatever produced ``fake``.

    ``critic_fn`` maps a ``[B, ...]`` input to ``[B]`` scores (reduce per-step scores
    before). ``weight_mask``, if given, broadcasts against the input (for example ``[B, T]``
    or ``[B, T, 1]`` for sequences) and selects the positions whose gradient counts, so
    padding never enters the norm.

    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017, eq. 3.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty: real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(eps_shape, device=real.device, dtype=real.dtype)
    interpolates = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic_fn(interpolates)
    if scores.shape != (real.shape[0],):
        raise ValueError(
            f"gradient_penalty: critic_fn must return one score per sample ([{real.shape[0]}]), "
            f"got {tuple(scores.shape)}"
        )
    (grad,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True, allow_unused=True)
    if grad is None:
        raise ValueError(
            "gradient_penalty: the critic's scores do not depend on its input, so they have no gradient; "
            "a discrete discriminator must read Batch.one_hot(V) (relaxed one-hots), not the token ids"
        )
    if weight_mask is not None:
        mask = weight_mask.to(grad.dtype)
        while mask.dim() < grad.dim():
            mask = mask.unsqueeze(-1)
        grad = grad * mask
    norm = grad.flatten(1).norm(2, dim=1)
    return (norm - 1) ** 2


# --------------------------------------------------------------------------- hinge


def hinge_discriminator_loss(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """The discriminator's hinge loss, as its real and fake terms.

    .. math::  L_D = \\max(0, 1 - D(x)) + \\max(0, 1 + D(G(z)))

    A score beyond the margin (above 1 for real data, below -1 for generated data) costs
    nothing and has no gradient, so the discriminator stops pushing samples it already
    separates and spends its capacity on the others. Returned as
    ``(relu(1 - real), relu(1 + fake))``, elementwise.

    Lim and Ye, "Geometric GAN", arXiv 2017; Miyato et al., "Spectral Normalization for
    Generative Adversarial Networks", ICLR 2018, section 4 (the hinge loss they train with).
    """
    return F.relu(1.0 - real), F.relu(1.0 + fake)


def hinge_generator_loss(fake: Tensor) -> Tensor:
    """The generator's hinge loss: ``L_G = -D(G(z))`` (unbounded, like the Wasserstein one).

    Lim and Ye 2017; Miyato et al., ICLR 2018.
    """
    return -fake


# --------------------------------------------------------------------------- least squares


def least_squares_discriminator_loss(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """The discriminator's least-squares loss with the 0-1 coding, as its real and fake terms.

    .. math::  L_D = \\tfrac12 (D(x) - 1)^2 + \\tfrac12 D(G(z))^2

    Scores are regressed onto 1 (real) and 0 (fake); unlike the logistic loss, samples on
    the right side of the boundary but far from the real data still get a gradient.
    Returned as ``(0.5 * (real - 1)**2, 0.5 * fake**2)``, elementwise.

    Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017, eq. 2 with
    a = 0, b = c = 1 (the 0-1 coding discussed in section 3.2.2).
    """
    return 0.5 * (real - 1.0) ** 2, 0.5 * fake**2


def least_squares_generator_loss(fake: Tensor) -> Tensor:
    """The generator's least-squares loss: ``L_G = 0.5 (D(G(z)) - 1)^2``.

    Mao et al., ICCV 2017, eq. 2 with c = 1.
    """
    return 0.5 * (fake - 1.0) ** 2


# --------------------------------------------------------------------------- relativistic


def _check_pairs(real: Tensor, fake: Tensor, where: str) -> None:
    if real.shape != fake.shape:
        raise ValueError(
            f"{where}: relativistic losses pair row i of the real scores with row i of the fake ones, "
            f"so both must have the same shape; got real {tuple(real.shape)} and fake {tuple(fake.shape)}"
        )


def relativistic_discriminator_loss(real: Tensor, fake: Tensor) -> Tensor:
    """The relativistic standard GAN's discriminator loss, one value per (real, fake) pair.

    .. math::  L_D = -\\log \\sigma(C(x_r) - C(x_f))  = \\mathrm{softplus}(C(x_f) - C(x_r))

    The discriminator estimates how much more real a real sample is than a paired fake
    one, rather than how real each is on its own. Elementwise over pairs: ``real[i]`` is
    compared with ``fake[i]``, so the two tensors must have the same shape.

    Jolicoeur-Martineau, "The relativistic discriminator: a key element missing from
    standard GAN", ICLR 2019 (arXiv 2018), section 4 (RSGAN); the loss of RelGAN (Nie et al. 2019).
    """
    _check_pairs(real, fake, "relativistic_discriminator_loss")
    return F.softplus(fake - real)


def relativistic_generator_loss(real: Tensor, fake: Tensor) -> Tensor:
    """The relativistic standard GAN's generator loss, one value per (real, fake) pair.

    .. math::  L_G = -\\log \\sigma(C(x_f) - C(x_r)) = \\mathrm{softplus}(C(x_r) - C(x_f))

    The mirror image of the discriminator's loss: the generator also lowers the real
    scores relative to its own, which is why it needs the real batch.

    Jolicoeur-Martineau, ICLR 2019, section 4.
    """
    _check_pairs(real, fake, "relativistic_generator_loss")
    return F.softplus(real - fake)
