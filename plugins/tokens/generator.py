"""An LSTM language model over tokens: the generator of SeqGAN, RankGAN and RelGAN's LSTM variant.

One network serves every discrete estimator: sampling with log-probabilities
(REINFORCE), Gumbel-softmax relaxations (RelGAN), batched rollouts (SeqGAN's Monte-Carlo
search) and the teacher-forced NLL all come from
:class:`~seqtk.plugins.tokens.recurrent.RecurrentTokenGenerator`, shared with RelGAN's
relational-memory generator; this module holds only the LSTM cell.

Sampling steps the LSTM by hand (``torch.lstm_cell``, the fused cell ``nn.LSTMCell``
uses, on the weights of the ``nn.LSTM`` that teacher forcing calls once per sequence):
per step it is about twice as fast as calling ``nn.LSTM`` on a length-1 sequence for small
batches. Tokens are drawn with :func:`~seqtk.plugins.tokens.sampling.sample_categorical`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

from torch import Tensor, nn

from seqtk.core.interfaces import DomainSpec
from seqtk.core.params import Dropout, PositiveFloat, PositiveInt, checked
from seqtk.plugins.init import apply_init
from seqtk.plugins.lstm_cells import lstm_step
from seqtk.plugins.tokens.recurrent import RecurrentTokenGenerator, Rollouts, State, check_token_spec

__all__ = ["TokenLSTMGenerator", "Rollouts"]


@checked("token-lstm generator")
class TokenLSTMGenerator(RecurrentTokenGenerator):
    """An LSTM language model that writes token sequences (SeqGAN's generator).

    Step ``t`` embeds the previous token (a learned start embedding at ``t = 0``; the
    domain's own BOS id is never used as input or output), runs ``num_layers`` LSTM
    layers and maps the top state to logits over the vocabulary. Token ids in
    ``spec.unsampled_ids`` (padding, the start token) get logit ``-inf``: probability
    exactly 0. Sampling stops a row at ``spec.eos_id`` (inclusive); without an EOS every
    row has ``max_len`` tokens.

    The model's distribution is ``softmax(logits / temperature)`` everywhere: sampling,
    log-probs, rollouts and the pretraining NLL, so NLL-test measures the distribution
    that is sampled.

    Parameters: ``embed_dim`` token embedding width; ``hidden_dim`` LSTM width;
    ``num_layers`` stacked LSTM layers; ``dropout`` between layers and on the top
    layer's output (active in training mode only); ``temperature`` (> 0) divides the
    logits; ``init`` how the parameters are drawn (:mod:`seqtk.plugins.init`; None keeps
    PyTorch's defaults, ``normal`` is SeqGAN's N(0, 0.1)); ``condition_every_step``
    (conditional domains) add the condition's vector to every input, not only the start
    input; ``context_attention`` (a context condition) let every step attend over the
    context's steps (:mod:`seqtk.plugins.context_attention`), for a context followed
    position by position.
    """

    _name: ClassVar[str] = "token-lstm"

    def __init__(
        self,
        spec: DomainSpec,
        embed_dim: PositiveInt = 32,
        hidden_dim: PositiveInt = 32,
        num_layers: PositiveInt = 1,
        dropout: Dropout = 0.0,
        temperature: PositiveFloat = 1.0,
        init: str | Mapping[str, Any] | None = None,
        condition_every_step: bool = False,
        context_attention: bool = False,
    ) -> None:
        super().__init__()
        check_token_spec(spec, "token-lstm")
        self.spec = spec
        self.vocab_size = spec.vocab_size
        self.num_layers = num_layers
        self.dropout_p = float(dropout)
        self.temperature = float(temperature)
        #: Row ``vocab_size`` of the embedding is the learned start input.
        self.start_id = spec.vocab_size
        self.embed = nn.Embedding(spec.vocab_size + 1, embed_dim)
        self.rnn = nn.LSTM(
            embed_dim, hidden_dim, num_layers=num_layers, batch_first=True, dropout=self.dropout_p if num_layers > 1 else 0.0
        )
        self.dropout = nn.Dropout(self.dropout_p)
        self.out = nn.Linear(hidden_dim, spec.vocab_size)
        self._register_logit_mask()
        self._register_condition(embed_dim, condition_every_step, context_attention, hidden_dim)
        apply_init(self, init, "token-lstm generator")

    # ----------------------------------------------------------- the LSTM cell

    def _zero_state(self, n: int) -> State:
        """``[h_0, c_0, h_1, c_1, ...]``: every layer's hidden and cell state, zeros ``[n, hidden_dim]``."""
        zeros = self.out.weight.new_zeros(n, self.rnn.hidden_size)
        return [zeros] * (2 * self.num_layers)

    def _cell(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One step of every LSTM layer (``torch.lstm_cell``), dropout between layers."""
        return lstm_step(self.rnn, x, state, self.dropout_p, self.training)

    def _teacher_forced(self, inputs: Tensor) -> Tensor:
        """One ``nn.LSTM`` call over the whole sequence (cuDNN on a GPU)."""
        hidden, _ = self.rnn(inputs)
        return hidden
