"""One step of a stacked ``nn.LSTM``, for generators that feed their own samples back.

Why: a generator that samples step by step cannot call ``nn.LSTM`` on the whole sequence
(the next input depends on the step's draw), yet its teacher-forced pretraining should
use ``nn.LSTM`` (cuDNN on a GPU). Stepping with ``torch.lstm_cell`` on the ``nn.LSTM``'s
own weights keeps one set of parameters for both paths.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["lstm_step"]


def lstm_step(rnn: nn.LSTM, x: Tensor, state: list[Tensor], dropout: float = 0.0, training: bool = False) -> tuple[Tensor, list[Tensor]]:
    """The top layer's output and the new ``[h0, c0, h1, c1, ...]`` after one step of every layer.

    ``dropout`` is applied between layers, as ``nn.LSTM(dropout=...)`` does, when ``training``.
    """
    new_state: list[Tensor] = []
    for layer in range(rnn.num_layers):
        if layer > 0 and dropout > 0:
            x = F.dropout(x, dropout, training)
        h, c = torch.lstm_cell(
            x,
            (state[2 * layer], state[2 * layer + 1]),
            getattr(rnn, f"weight_ih_l{layer}"),
            getattr(rnn, f"weight_hh_l{layer}"),
            getattr(rnn, f"bias_ih_l{layer}"),
            getattr(rnn, f"bias_hh_l{layer}"),
        )
        new_state += [h, c]
        x = h
    return x, new_state
