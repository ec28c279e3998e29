"""Networks that turn the LSTM machinery into a video model: a frame decoder, a frame encoder,
a MoCoGAN-style generator and discriminators that read clips through the encoder.

- :class:`FrameDecoder`: a vector to one frame, a linear layer to a small feature map
  (or, with ``start="broadcast"``, the vector tiled over that map beside each cell's
  coordinates and a 3x3 convolution: Watters et al. 2019's spatial broadcast decoder, in
  which an object's position is a smooth function of the vector), then ``levels``
  stride-2 transposed convolutions (each doubles the side), a 3x3 convolution to the
  frame's channels and a sigmoid.
- :class:`FrameEncoder`: one frame to a vector, ``levels`` stride-2 convolutions with
  leaky ReLUs (each halves the side), then a linear layer.
- :class:`VideoLSTMGenerator`: MoCoGAN's split of content from motion (Tulyakov et al.
  2018): a content code ``z_c`` drawn once per clip, and an LSTM over per-step motion
  noise ``e_t`` (and ``z_c``) whose state ``h_t`` is the motion code; frame ``t`` is
  ``decoder([h_t, z_c])``. Frames are a differentiable function of the noise
  (``reparam``).
- :class:`VideoDiscriminator`: every frame encoded, then seqtk's own ``gru``, ``lstm``
  or ``cnn`` discriminator (``seqtk.plugins.discriminators``) reads the sequence of
  encodings as continuous data and scores the clip (MoCoGAN's video discriminator); with
  ``scores: frame`` each frame is scored alone (its image discriminator), and ``both``
  adds the two.

Frame sides must be divisible by ``2 ** levels``. The frame shape comes from the domain
(``seqtk.plugins.video.frame``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal, Mapping, Sequence

import torch
from torch import Tensor, nn

from seqtk.core.interfaces import Batch, Discriminator, DomainSpec, Generator
from seqtk.core.params import NonNegativeInt, PositiveInt, checked
from seqtk.plugins.discriminators import CNNDiscriminator, GRUDiscriminator, LSTMDiscriminator
from seqtk.plugins.init import apply_init
from seqtk.plugins.spectral import apply_spectral_norm
from seqtk.plugins.video.frame import resolve_frame_shape

__all__ = ["FrameDecoder", "FrameEncoder", "VideoLSTMGenerator", "VideoDiscriminator"]


def _check_levels(frame_shape: tuple[int, int, int], levels: int, label: str) -> tuple[int, int]:
    _, height, width = frame_shape
    factor = 2**levels
    if height % factor or width % factor:
        raise ValueError(f"{label}: levels={levels} halves the frame {levels} times, so its sides must be divisible by {factor}; got {height}x{width}")
    return height // factor, width // factor


class FrameDecoder(nn.Module):
    """``[N, in_dim]`` vectors to ``[N, C, H, W]`` frames in (0, 1) (module docstring)."""

    def __init__(
        self, in_dim: int, frame_shape: tuple[int, int, int], width: int = 32, levels: int = 2, norm: str = "layer", start: str = "project"
    ) -> None:
        super().__init__()
        if start not in ("project", "broadcast"):
            raise ValueError(f"frame decoder: start must be 'project' or 'broadcast', got {start!r}")
        self.frame_shape = frame_shape
        self.start = _check_levels(frame_shape, levels, "frame decoder")
        self.top = width * 2 ** max(levels - 1, 0)
        self.broadcast = start == "broadcast"
        if self.broadcast:  # the vector tiled over the grid beside each cell's (row, column) in [-1, 1]
            rows, cols = torch.meshgrid(torch.linspace(-1, 1, self.start[0]), torch.linspace(-1, 1, self.start[1]), indexing="ij")
            self.register_buffer("grid", torch.stack([rows, cols]).unsqueeze(0), persistent=False)
            self.project: nn.Module = nn.Conv2d(in_dim + 2, self.top, kernel_size=3, padding=1)
        else:
            self.project = nn.Linear(in_dim, self.top * self.start[0] * self.start[1])

        def normalise(channels: int) -> list[nn.Module]:
            if norm == "batch":
                return [nn.BatchNorm2d(channels)]
            return [nn.GroupNorm(1, channels)] if norm == "layer" else []

        layers: list[nn.Module] = [*normalise(self.top)]
        channels = self.top
        for _ in range(levels):
            out = max(width, channels // 2)
            layers += [nn.ReLU(), nn.ConvTranspose2d(channels, out, kernel_size=4, stride=2, padding=1), *normalise(out)]
            channels = out
        layers += [nn.ReLU(), nn.Conv2d(channels, frame_shape[0], kernel_size=3, padding=1)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.broadcast:
            tiled = x[:, :, None, None].expand(-1, -1, *self.start)
            start = self.project(torch.cat([tiled, self.grid.expand(len(x), -1, -1, -1)], dim=1))
        else:
            start = self.project(x).view(-1, self.top, *self.start)
        return torch.sigmoid(self.body(start))


class FrameEncoder(nn.Module):
    """``[N, C, H, W]`` frames to ``[N, out_dim]`` vectors (module docstring)."""

    def __init__(self, frame_shape: tuple[int, int, int], out_dim: int, width: int = 32, levels: int = 2) -> None:
        super().__init__()
        end = _check_levels(frame_shape, levels, "frame encoder")
        layers: list[nn.Module] = []
        channels = frame_shape[0]
        for level in range(levels):
            out = width * 2**level
            layers += [nn.Conv2d(channels, out, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            channels = out
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.out = nn.Linear(channels * end[0] * end[1], out_dim)

    def forward(self, frames: Tensor) -> Tensor:
        return self.out(self.body(frames))


@checked("video-lstm generator")
class VideoLSTMGenerator(Generator):
    """Clips from a per-clip content code and an LSTM over per-step motion noise, each step decoded to a frame.

    Parameters: ``noise_dim`` motion noise per step; ``latent_dim`` content code per clip
    (0: none, motion noise alone); ``hidden_dim`` LSTM width (the motion code);
    ``num_layers`` stacked LSTM layers; ``width`` channels of the decoder's last
    transposed convolution (doubling towards the start); ``levels`` stride-2 upsamplings;
    ``norm`` normalisation after the projection and each transposed convolution:
    ``layer`` (each frame's feature maps over channels and pixels, ``GroupNorm`` with one
    group: no dependence on the batch, so samples in eval mode are those trained on),
    ``batch`` (DCGAN's; eval mode then uses running statistics) or ``none``;
    ``frame_shape`` ``[C, H, W]`` when the domain does not expose one; ``init`` how the
    parameters are drawn (:mod:`seqtk.plugins.init`; None keeps PyTorch's defaults);
    ``motion_noise`` ``step`` (MoCoGAN's: a fresh draw at every step) or ``clip`` (one draw
    per clip, fed at every step: the motion then comes from the LSTM's own dynamics, as a
    ball's straight flight and bounces follow from where it starts and how fast);
    ``initial_state`` ``zero`` (PyTorch's) or ``codes`` (the LSTM's initial hidden and cell
    states a learnt linear function of the clip's first motion draw and content code, so
    where things start and how they move is set before the first frame);
    ``decoder_start`` ``project`` (a linear layer to the decoder's first feature map) or
    ``broadcast`` (:class:`FrameDecoder`).
    """

    def __init__(
        self,
        spec: DomainSpec,
        domain: Any = None,
        noise_dim: PositiveInt = 8,
        latent_dim: NonNegativeInt = 32,
        hidden_dim: PositiveInt = 64,
        num_layers: PositiveInt = 1,
        width: PositiveInt = 32,
        levels: PositiveInt = 2,
        norm: Literal["layer", "batch", "none"] = "layer",
        frame_shape: list[int] | None = None,
        init: str | Mapping[str, Any] | None = None,
        motion_noise: Literal["step", "clip"] = "step",
        initial_state: Literal["zero", "codes"] = "zero",
        decoder_start: Literal["project", "broadcast"] = "project",
    ) -> None:
        super().__init__()
        self.spec = spec
        self.frame_shape = resolve_frame_shape(spec, domain, frame_shape, "video-lstm generator")
        if spec.length_weights:
            raise ValueError("video-lstm generator: clips have a fixed number of frames; the domain gave length_weights")
        self.noise_dim, self.latent_dim = noise_dim, latent_dim
        self.motion_noise = motion_noise
        self.rnn = nn.LSTM(noise_dim + latent_dim, hidden_dim, num_layers=num_layers, batch_first=True)
        self.initial = nn.Linear(noise_dim + latent_dim, 2 * num_layers * hidden_dim) if initial_state == "codes" else None
        self.decoder = FrameDecoder(hidden_dim + latent_dim, self.frame_shape, width, levels, norm, decoder_start)
        low, high = spec.value_range if spec.value_range is not None else (0.0, 1.0)
        self._low, self._scale = float(low), float(high - low)
        apply_init(self, init, "video-lstm generator")

    def sample(self, n: int) -> Batch:
        steps = self.spec.max_len
        noise = torch.randn(n, steps if self.motion_noise == "step" else 1, self.noise_dim, device=self.device)
        noise = noise.expand(n, steps, self.noise_dim)
        content = torch.randn(n, 1, self.latent_dim, device=self.device).expand(n, steps, self.latent_dim)
        codes = torch.cat([noise, content], dim=-1)
        state = None
        if self.initial is not None:  # [layers, N, hidden] hidden and cell states from the first step's codes
            hidden, cell = self.initial(codes[:, 0]).view(n, 2, self.rnn.num_layers, self.rnn.hidden_size).permute(1, 2, 0, 3)
            state = (torch.tanh(hidden).contiguous(), cell.contiguous())
        motion, _ = self.rnn(codes, state)
        frames = self.decoder(torch.cat([motion, content], dim=-1).reshape(n * steps, -1))
        return Batch.full_length(self._low + self._scale * frames.reshape(n, steps, -1))


@checked(lambda self: f"{self.label} discriminator")
class VideoDiscriminator(Discriminator):
    """Scores clips through a frame encoder; the sequence of encodings goes to a gru, lstm or cnn head.

    Parameters: ``head`` which of seqtk's discriminators reads the encoded frames
    (``gru``, ``lstm``, ``cnn``); ``scores`` ``clip`` (one score per clip, from the head),
    ``frame`` (every frame scored alone by a linear layer on its encoding, ``[B, T]``) or
    ``both`` (each frame's score plus its clip's); ``embed_dim`` encoding width per frame;
    ``width`` channels of the encoder's first convolution (doubling per level); ``levels``
    stride-2 convolutions; ``hidden_dim``, ``bidirectional`` the recurrent head's;
    ``filter_sizes``, ``num_filters`` the cnn head's; ``spectral_norm`` every weight matrix
    and kernel, encoder included; ``minibatch_std`` append the batch's spread of encodings at each
    step as one more feature (Karras et al. 2018), so that a collapsed generator (every clip
    alike) is easy to tell from real data; ``differences`` encode each frame together with its
    change from the previous frame (extra channels), so that motion, or its absence, is
    seen by the encoder itself and not only by comparing encodings; ``frame_shape`` ``[C, H, W]`` when the domain does not expose one;
    ``init`` how the parameters are drawn (:mod:`seqtk.plugins.init`).
    """

    def __init__(
        self,
        spec: DomainSpec,
        domain: Any = None,
        head: Literal["gru", "lstm", "cnn"] = "gru",
        scores: Literal["clip", "frame", "both"] = "clip",
        embed_dim: PositiveInt = 64,
        width: PositiveInt = 32,
        levels: PositiveInt = 2,
        hidden_dim: PositiveInt = 64,
        bidirectional: bool = False,
        filter_sizes: list[int] | tuple[int, ...] = (2, 3, 4),
        num_filters: list[int] | tuple[int, ...] = (32, 32, 32),
        spectral_norm: bool = False,
        minibatch_std: bool = False,
        differences: bool = False,
        frame_shape: list[int] | None = None,
        init: str | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.label = f"video-{head}"
        self.frame_shape = resolve_frame_shape(spec, domain, frame_shape, f"{self.label} discriminator")
        self.scores = scores
        self.per_step = scores != "clip"
        self.differences = differences
        channels, height, frame_width = self.frame_shape
        encoder_shape = (channels * (2 if differences else 1), height, frame_width)
        self.encoder = FrameEncoder(encoder_shape, embed_dim, width, levels)
        self.minibatch_std = minibatch_std
        features = embed_dim + (1 if minibatch_std else 0)
        encoded = replace(spec, features=features, value_range=None)
        self.head: nn.Module | None = None
        if scores != "frame":
            if head == "cnn":
                self.head = CNNDiscriminator(encoded, embed_dim=features, filter_sizes=list(filter_sizes), num_filters=list(num_filters), dropout=0.0)
            else:
                cell = GRUDiscriminator if head == "gru" else LSTMDiscriminator
                self.head = cell(encoded, hidden_dim=hidden_dim, bidirectional=bidirectional)
        self.frame_head = nn.Linear(features, 1) if scores != "clip" else None
        apply_init(self, init, f"{self.label} discriminator")
        apply_spectral_norm(self, spectral_norm, f"{self.label} discriminator")

    def encode(self, batch: Batch) -> Tensor:
        """``[B, T, embed_dim]``: each frame of the batch through the encoder."""
        values = batch.values.float()
        size, steps = values.shape[:2]
        frames = values.reshape(size, steps, *self.frame_shape)
        if self.differences:  # each frame beside its change from the previous one (zero at the first)
            change = torch.cat([torch.zeros_like(frames[:, :1]), frames[:, 1:] - frames[:, :-1]], dim=1)
            frames = torch.cat([frames, change], dim=2)
        encoded = self.encoder(frames.reshape(size * steps, *frames.shape[2:])).view(size, steps, -1)
        if not self.minibatch_std:
            return encoded
        # ProGAN's minibatch standard deviation: how much the batch's encodings differ at each step,
        # one extra feature shared by every row; a generator that draws one clip over and over shows.
        spread = (encoded.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=-1)  # the epsilon keeps the gradient finite at 0
        return torch.cat([encoded, spread.view(1, steps, 1).expand(size, steps, 1)], dim=-1)

    def forward(self, batch: Batch) -> Tensor:
        encoded = self.encode(batch)
        clip = None
        if self.head is not None:
            clip = self.head(Batch(values=encoded, lengths=batch.lengths))
        if self.frame_head is None:
            return clip
        frame = self.frame_head(encoded).squeeze(-1)
        if clip is not None:
            frame = frame + clip.unsqueeze(1)
        return frame * batch.mask.to(frame.device, frame.dtype)
