"""Spectral normalisation as a discriminator setting: one function every built-in discriminator calls.

Spectral normalisation (Miyato et al. 2018, "Spectral normalization for generative
adversarial networks") divides each weight matrix by an estimate of its largest singular
value, so that no layer can stretch its input by more than a factor of one. The
discriminator is then (nearly) 1-Lipschitz in each layer, cannot grow arbitrarily sharp,
and its gradients stay informative: a stabiliser that works with every GAN loss and costs
one matrix-vector power iteration per layer and update.

Every built-in discriminator takes ``spectral_norm: bool`` and ends its constructor with::

    apply_spectral_norm(self, spectral_norm, component="cnn discriminator")

What is normalised, in every submodule:

- ``nn.Linear``: its weight (input projections, a token embedding matrix, highway layers,
  the scoring head);
- ``nn.Conv1d``: its kernel, reshaped to ``[out_channels, in_channels * width]``;
- ``nn.GRU`` / ``nn.LSTM``: each layer's and direction's input and recurrent matrices
  (``weight_ih_l*``, ``weight_hh_l*``), each as the stacked matrix of its gates, which
  bounds every gate's block as well. Biases are left alone (they shift, never stretch).

It uses PyTorch's parametrisation (``torch.nn.utils.parametrizations.spectral_norm``, one
power iteration per forward pass in training mode, none in eval mode): the stored
parameter becomes ``<layer>.parametrizations.weight.original`` and the power-iteration
vectors are buffers, so they travel in ``state_dict`` and checkpoints, and a resumed run
continues bit for bit. Call it after ``apply_init``, which draws the raw weights by name.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrizations

__all__ = ["apply_spectral_norm", "normalised_weights"]


def apply_spectral_norm(module: nn.Module, enabled: bool, component: str) -> None:
    """Spectrally normalise every linear, convolution and recurrent weight matrix of ``module`` when ``enabled``.

    ``component`` names the caller in errors (``"gru discriminator"``). ``False`` leaves
    the module untouched (its state dict keys and results are as without this call).
    """
    if not isinstance(enabled, bool):
        raise ValueError(f"{component}: spectral_norm must be true or false, got {enabled!r}")
    if not enabled:
        return
    for name, layer in normalised_weights(module):
        parametrizations.spectral_norm(layer, name=name)


def normalised_weights(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(parameter name, layer)`` for every weight matrix ``apply_spectral_norm`` normalises, in module order."""
    found: list[tuple[str, nn.Module]] = []
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d)):
            found.append(("weight", layer))
        elif isinstance(layer, (nn.GRU, nn.LSTM)):
            # Once normalised, a weight lives in layer.parametrizations rather than among the layer's own parameters.
            names = [name for name, _ in layer.named_parameters(recurse=False)] + list(getattr(layer, "parametrizations", {}))
            found.extend((name, layer) for name in names if name.startswith(("weight_ih_l", "weight_hh_l")))
    return found
