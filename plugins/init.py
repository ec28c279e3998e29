"""Parameter initialisation as a recipe setting: one function every generator and discriminator calls.

Initialisation is part of what a paper's code did, and it moves results: on SeqGAN's
oracle, MLE from PyTorch's default initialisation plateaus at NLL-oracle 9.29, while the
same loop from SeqGAN's N(0, 0.1) reaches 8.99 (docs/components.md). So every built-in
generator and discriminator takes ``init`` and ends its constructor with::

    apply_init(self, init, component="token-lstm generator")

``init`` is a scheme name (``"normal"``) or a mapping ``{scheme: normal, std: 0.05}``;
``None`` or ``"torch"`` keeps PyTorch's per-layer defaults (nothing is drawn, so results
are bit-identical to not calling it). Only parameters that require gradients are drawn
(a frozen, pretrained embedding stays as it is); buffers are never touched. An embedding's
``padding_idx`` row is zeroed again afterwards, as PyTorch initialises it. Every draw
comes from the global torch RNG, so a seeded run reproduces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, Callable, Mapping

import torch
from torch import nn

__all__ = ["InitSpec", "SCHEMES", "apply_init", "check_init"]

#: What a component's ``init`` parameter accepts.
InitSpec = str | Mapping[str, Any] | None

#: Draws one parameter tensor in place: (qualified name, tensor, scale keys).
Rule = Callable[[str, torch.Tensor, Mapping[str, float]], None]


@dataclass(frozen=True)
class Scheme:
    """A named initialisation: the rule that draws a tensor and its scale keys with defaults."""

    rule: Rule
    scales: Mapping[str, float]
    summary: str


# --------------------------------------------------------------------------- rules


def _normal(name: str, p: torch.Tensor, s: Mapping[str, float]) -> None:
    """SeqGAN's (LantaoYu/SeqGAN, generator.py ``init_matrix``): every variable, biases
    included, ``N(0, std)`` with std 0.1. PyTorch's LSTM keeps two bias vectors (``b_ih``,
    ``b_hh``) where SeqGAN keeps one, so the effective gate bias has std ``sqrt(2) * std``."""
    nn.init.normal_(p, 0.0, s["std"])


def _uniform(name: str, p: torch.Tensor, s: Mapping[str, float]) -> None:
    """TextGAN-PyTorch's ``uniform`` (models/generators/generator.py, ``init_params``):
    every parameter ``U(-bound, bound)``, bound 0.05."""
    nn.init.uniform_(p, -s["bound"], s["bound"])


def _fan_normal(name: str, p: torch.Tensor, s: Mapping[str, float]) -> None:
    """TextGAN-PyTorch's ``normal`` (williamSYSU/TextGAN-PyTorch,
    models/generators/generator.py, ``init_params``): each parameter tensor ``N(0, std)``
    with ``std = 1 / sqrt(shape[0])``, biases included. In PyTorch's layout ``shape[0]`` is
    the output width (``4 * hidden`` for an LSTM's weights and biases, the vocabulary for an
    embedding), so this is a fan-out rule, not Glorot's."""
    nn.init.normal_(p, 0.0, s["gain"] / math.sqrt(p.shape[0]))


def _truncated_normal(name: str, p: torch.Tensor, s: Mapping[str, float]) -> None:
    """TensorFlow's ``tf.truncated_normal`` as SeqGAN's CNN discriminator uses it
    (LantaoYu/SeqGAN, discriminator.py: conv and output weights, stddev 0.1): ``N(0, std)``
    redrawn outside two standard deviations, which leaves an actual std of about
    ``0.88 * std``. Applied to every parameter."""
    nn.init.trunc_normal_(p, 0.0, s["std"], -2.0 * s["std"], 2.0 * s["std"])


def _is_bias(name: str) -> bool:
    return name.rsplit(".", 1)[-1].startswith("bias")


def _glorot(uniform: bool) -> Rule:
    def rule(name: str, p: torch.Tensor, s: Mapping[str, float]) -> None:
        if p.dim() >= 2:
            (nn.init.xavier_uniform_ if uniform else nn.init.xavier_normal_)(p, gain=s["gain"])
        elif _is_bias(name):
            nn.init.zeros_(p)
        # Other vectors (a layer norm's scale) keep PyTorch's default: zeroing them would
        # switch the layer off, and Glorot's rule says nothing about them.

    rule.__doc__ = (
        f"Glorot and Bengio (2010), {'uniform' if uniform else 'normal'} (Keras' and TensorFlow's "
        f"glorot_{'uniform' if uniform else 'normal'}): matrices and convolution kernels from fan-in "
        "and fan-out; biases zero; other vectors keep PyTorch's default."
    )
    return rule


_xavier_uniform = _glorot(uniform=True)


def _orthogonal(name: str, p: torch.Tensor, s: Mapping[str, float]) -> None:
    """Keras' recurrent-layer defaults (Saxe et al. 2014 for the recurrence): each gate's
    square block of a recurrent matrix (``weight_hh*``) orthogonal, so the recurrence
    neither shrinks nor blows up the state at the start; other matrices Glorot-uniform;
    biases zero. Keras also adds 1 to the LSTM forget bias; this scheme does not."""
    if p.dim() == 2 and name.rsplit(".", 1)[-1].startswith("weight_hh"):
        hidden = p.shape[1]
        with torch.no_grad():
            for block in p.split(hidden, dim=0):
                nn.init.orthogonal_(block, gain=s["gain"])
    else:
        _xavier_uniform(name, p, {"gain": 1.0})


SCHEMES: dict[str, Scheme] = {
    "torch": Scheme(lambda name, p, s: None, {}, "PyTorch's per-layer defaults (nothing is drawn)"),
    "normal": Scheme(_normal, {"std": 0.1}, "every parameter N(0, std): SeqGAN's generator"),
    "uniform": Scheme(_uniform, {"bound": 0.05}, "every parameter U(-bound, bound): TextGAN-PyTorch's uniform"),
    "fan-normal": Scheme(_fan_normal, {"gain": 1.0}, "N(0, gain / sqrt(shape[0])) per tensor: TextGAN-PyTorch's normal"),
    "truncated-normal": Scheme(_truncated_normal, {"std": 0.1}, "N(0, std) cut at 2 std: SeqGAN's CNN weights"),
    "xavier-uniform": Scheme(_xavier_uniform, {"gain": 1.0}, "Glorot uniform matrices, zero biases"),
    "xavier-normal": Scheme(_glorot(uniform=False), {"gain": 1.0}, "Glorot normal matrices, zero biases"),
    "orthogonal": Scheme(_orthogonal, {"gain": 1.0}, "orthogonal recurrent blocks, Glorot-uniform matrices, zero biases"),
}


# --------------------------------------------------------------------------- API


def check_init(init: str | Mapping[str, Any] | None, component: str) -> tuple[str, dict[str, float]]:
    """The scheme name and its complete scale keys, or a ``ValueError`` that says what to write.

    Call it first thing in a constructor (``apply_init`` calls it too) so that a typo fails
    before any layer is built. Errors start with ``<component>: init:``, suggest the closest
    valid name and list the valid ones. A mapping needs ``scheme``; scale keys it leaves out
    take the scheme's defaults; unknown keys and values that are not finite positive
    numbers are errors.
    """
    where = f"{component}: init"
    valid = ", ".join(SCHEMES)
    if init is None:
        return "torch", {}
    if isinstance(init, str):
        name, given = init, {}
    elif isinstance(init, Mapping):
        if "scheme" not in init:
            raise ValueError(f"{where}: a mapping needs 'scheme' (one of {valid}), got keys {sorted(map(str, init))}")
        name, given = init["scheme"], {k: v for k, v in init.items() if k != "scheme"}
        if not isinstance(name, str):
            raise ValueError(f"{where}: scheme must be a string (one of {valid}), got {name!r}")
    else:
        raise ValueError(f"{where}: expected a scheme name or a mapping with 'scheme' (one of {valid}), got {init!r}")
    if name not in SCHEMES:
        close = get_close_matches(name, list(SCHEMES), n=1)
        hint = f"did you mean {close[0]!r}?; " if close else ""
        raise ValueError(f"{where}: unknown scheme {name!r} ({hint}valid: {valid})")
    scheme = SCHEMES[name]
    scales = dict(scheme.scales)
    for key, value in given.items():
        if key not in scheme.scales:
            keys = ", ".join(scheme.scales) or "none"
            close = get_close_matches(str(key), list(scheme.scales), n=1)
            hint = f"did you mean {close[0]!r}?; " if close else ""
            raise ValueError(f"{where}: unknown key {key!r} for scheme {name!r} ({hint}valid: {keys})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{where}: {key} must be a finite number > 0, got {value!r}")
        scales[key] = float(value)
    return name, scales


def apply_init(module: nn.Module, init: str | Mapping[str, Any] | None, component: str) -> None:
    """Draw ``module``'s trainable parameters afresh by the scheme ``init`` names, in place.

    ``None`` and ``"torch"`` return at once (PyTorch's defaults stand). Call it at the end
    of a constructor, after every layer exists. ``component`` names the caller in errors
    (``"cnn discriminator"``).
    """
    name, scales = check_init(init, component)
    if name == "torch":
        return
    rule = SCHEMES[name].rule
    with torch.no_grad():
        for qualified, parameter in module.named_parameters():
            if parameter.requires_grad:
                rule(qualified, parameter, scales)
        for layer in module.modules():
            if isinstance(layer, nn.Embedding) and layer.padding_idx is not None and layer.weight.requires_grad:
                layer.weight[layer.padding_idx].zero_()
