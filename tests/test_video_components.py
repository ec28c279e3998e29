"""Video networks (frame encoder/decoder, generator, discriminators) and video metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from seqtk.core.interfaces import Batch, DomainSpec
from seqtk.plugins.video.domain import VideoDomain
from seqtk.plugins.video.metrics import (
    MotionDistance, ObjectCountDistance, PixelDistance, TemporalDistance, VideoDiscriminativeScore,
    blob_counts, clip_speeds, frame_blobs, histogram_distance, wasserstein_1d,
)
from seqtk.plugins.video.networks import FrameDecoder, FrameEncoder, VideoDiscriminator, VideoLSTMGenerator

SPEC = DomainSpec(kind="continuous", max_len=3, features=2 * 8 * 8, value_range=(0.0, 1.0))


def test_encoder_and_decoder_map_frames_to_vectors_and_back() -> None:
    torch.manual_seed(0)
    decoder = FrameDecoder(10, (3, 16, 16), width=4, levels=2)
    frames = decoder(torch.randn(5, 10)).detach()
    assert frames.shape == (5, 3, 16, 16) and float(frames.min()) > 0 and float(frames.max()) < 1
    assert FrameEncoder((3, 16, 16), 7, width=4, levels=3)(frames).shape == (5, 7)
    with pytest.raises(ValueError, match="divisible by 8"):
        FrameEncoder((1, 12, 12), 7, levels=3)


def test_the_generator_makes_clips_the_discriminators_score_and_gradients_reach_it() -> None:
    torch.manual_seed(0)
    generator = VideoLSTMGenerator(SPEC, frame_shape=[2, 8, 8], noise_dim=2, latent_dim=3, hidden_dim=8, width=4)
    fake = generator.sample(4)
    assert fake.values.shape == (4, 3, 128) and fake.values.requires_grad
    for head in ("gru", "lstm", "cnn"):
        for scores, shape in (("clip", (4,)), ("frame", (4, 3)), ("both", (4, 3))):
            critic = VideoDiscriminator(SPEC, frame_shape=[2, 8, 8], head=head, scores=scores, embed_dim=6, width=4, hidden_dim=5, num_filters=[3, 3, 3])
            out = critic(fake)
            assert out.shape == shape, (head, scores)
    out.sum().backward()
    assert generator.decoder.project.weight.grad is not None and generator.rnn.weight_ih_l0.grad.abs().sum() > 0


def _rnn_inputs(generator: VideoLSTMGenerator, n: int) -> tuple[torch.Tensor, object]:
    """The inputs and initial state the generator's LSTM received for one ``sample(n)``."""
    seen: list[tuple] = []
    handle = generator.rnn.register_forward_hook(lambda module, args, out: seen.append(args))
    generator.sample(n)
    handle.remove()
    return seen[0][0], seen[0][1] if len(seen[0]) > 1 else None


def test_motion_noise_per_clip_feeds_the_same_codes_at_every_step() -> None:
    torch.manual_seed(0)
    per_step = VideoLSTMGenerator(SPEC, frame_shape=[2, 8, 8], noise_dim=2, latent_dim=3, hidden_dim=8, width=4)
    inputs, state = _rnn_inputs(per_step, 4)
    assert state is None and not torch.equal(inputs[:, 0], inputs[:, 1])
    assert torch.equal(inputs[:, 0, 2:], inputs[:, 2, 2:])  # the content code is drawn once per clip either way
    per_clip = VideoLSTMGenerator(SPEC, frame_shape=[2, 8, 8], noise_dim=2, latent_dim=3, hidden_dim=8, width=4, motion_noise="clip")
    inputs, _ = _rnn_inputs(per_clip, 4)
    assert all(torch.equal(inputs[:, 0], inputs[:, t]) for t in range(3)) and not torch.equal(inputs[0, 0], inputs[1, 0])


def test_the_initial_state_from_the_codes_is_a_linear_map_of_the_first_step() -> None:
    torch.manual_seed(0)
    generator = VideoLSTMGenerator(
        SPEC, frame_shape=[2, 8, 8], noise_dim=2, latent_dim=3, hidden_dim=8, num_layers=2, width=4, initial_state="codes"
    )
    inputs, (hidden, cell) = _rnn_inputs(generator, 4)
    assert hidden.shape == cell.shape == (2, 4, 8)
    # by hand: the first step's codes [noise, content] through the linear layer, split into
    # (hidden, cell) x (layer 0, layer 1), the hidden part squashed by tanh
    flat = inputs[:, 0] @ generator.initial.weight.T + generator.initial.bias
    assert torch.allclose(hidden[1, 2], torch.tanh(flat[2, 8:16]))
    assert torch.allclose(cell[0, 3], flat[3, 16:24])
    generator.sample(3).values.sum().backward()
    assert generator.initial.weight.grad.abs().sum() > 0


def test_the_broadcast_decoder_tiles_the_vector_beside_the_pixel_coordinates() -> None:
    torch.manual_seed(0)
    decoder = FrameDecoder(5, (1, 8, 8), width=4, levels=1, start="broadcast")
    seen: list[torch.Tensor] = []
    decoder.project.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    x = torch.randn(3, 5)
    frames = decoder(x).detach()
    assert frames.shape == (3, 1, 8, 8) and float(frames.min()) > 0 and float(frames.max()) < 1
    grid = seen[0]
    assert grid.shape == (3, 7, 4, 4)
    assert torch.equal(grid[1, :5, 2, 3], x[1])  # the same vector in every cell
    assert grid[0, 5, :, 0].tolist() == pytest.approx([-1, -1 / 3, 1 / 3, 1])  # row coordinate, top to bottom
    assert grid[2, 6, 1].tolist() == pytest.approx([-1, -1 / 3, 1 / 3, 1])  # column coordinate, left to right
    with pytest.raises(ValueError, match="'project' or 'broadcast', got 'tile'"):
        FrameDecoder(5, (1, 8, 8), start="tile")


def test_both_is_each_frames_score_plus_its_clips() -> None:
    torch.manual_seed(1)
    both = VideoDiscriminator(SPEC, frame_shape=[2, 8, 8], scores="both", embed_dim=6, width=4, hidden_dim=5)
    batch = Batch.full_length(torch.rand(2, 3, 128))
    encoded = both.encode(batch)
    expected = both.frame_head(encoded).squeeze(-1) + both.head(Batch.full_length(encoded)).unsqueeze(1)
    assert torch.allclose(both(batch), expected)


def test_the_frame_shape_comes_from_the_domain_or_a_parameter_and_must_fit() -> None:
    domain = VideoDomain(size=8, channels=1, frames=3)
    assert VideoLSTMGenerator(domain.spec, domain, width=4).frame_shape == (1, 8, 8)
    with pytest.raises(ValueError, match="frame shape is unknown"):
        VideoLSTMGenerator(SPEC)
    with pytest.raises(ValueError, match=r"\[1, 8, 8\] holds 64 values per frame, but the domain is continuous with 128"):
        VideoDiscriminator(SPEC, frame_shape=[1, 8, 8])


# --------------------------------------------------------------------------- metrics


def test_distances_by_hand() -> None:
    # bins [0, .5) and [.5, 1]: p = (3/4, 1/4), q = (1/2, 1/2) -> overlap 3/4
    assert histogram_distance(np.array([0.1, 0.2, 0.3, 0.9]), np.array([0.1, 0.9]), bins=2) == pytest.approx(0.25)
    # {0, 1} against {0.5}: the CDFs differ by 1/2 over a length of 1
    assert wasserstein_1d(np.array([0.0, 1.0]), np.array([0.5])) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=37), rng.normal(1, 2, size=11)
    assert wasserstein_1d(a, b) == pytest.approx(wasserstein_distance(a, b))


def _clip_batch(frames: list[np.ndarray]) -> Batch:
    """One clip of ``[H, W]`` grayscale frames as a batch of shape ``[1, T, H*W]``."""
    return Batch.full_length(torch.tensor(np.stack([f.ravel() for f in frames])[None], dtype=torch.float32))


def _frame(points: list[tuple[int, int]], size: int = 8) -> np.ndarray:
    frame = np.zeros((size, size))
    for r, c in points:
        frame[r : r + 2, c : c + 2] = 1.0  # a 2x2 blob with its top-left corner at (r, c)
    return frame


def test_blobs_are_counted_and_tracked_by_hand() -> None:
    clip = np.stack([_frame([(0, 0), (5, 5)]), _frame([(0, 3), (5, 5)]), _frame([])])[:, None]  # [T, 1, H, W]
    found = frame_blobs(clip)
    assert [len(f) for f in found] == [2, 2, 0]
    assert np.allclose(sorted(map(tuple, found[0])), [(0.5, 0.5), (5.5, 5.5)])
    assert blob_counts([clip]).tolist() == [2, 2, 0]
    # frame 0 -> 1: the first blob moved 3 columns, the second stayed; frame 1 -> 2: nothing to match
    assert clip_speeds([clip]).tolist() == [pytest.approx(1.5)]
    diagonal = np.stack([_frame([(0, 0)]), _frame([(3, 4)])])[:, None]
    assert clip_speeds([diagonal, clip[2:]]).tolist() == [pytest.approx(5.0), 0.0]  # no blob: speed 0


def test_video_metrics_by_hand() -> None:
    spec = DomainSpec(kind="continuous", max_len=2, features=64, value_range=(0.0, 1.0))
    shape = [1, 8, 8]
    still = _clip_batch([_frame([(0, 0)]), _frame([(0, 0)])])        # one blob, not moving
    moving = _clip_batch([_frame([(0, 0), (4, 4)]), _frame([(0, 2), (4, 4)])])  # two blobs, one moving 2 pixels
    domain = type("D", (), {"frame_shape": tuple(shape)})()
    # pixels: still has 4 of 64 lit, moving 8 of 64, in both frames; 2 bins: overlap 56/64 + 4/64
    assert PixelDistance(spec, domain, bins=2)(still, moving) == pytest.approx(1 - 60 / 64)
    # temporal: still changes 0; in moving the 2x2 blob leaves columns 0-1 for 2-3: 8 of 64 pixels change by 1
    assert TemporalDistance(spec, domain)(still, moving) == pytest.approx(8 / 64)
    # objects: 1 blob per frame against 2: no overlap
    assert ObjectCountDistance(spec, domain)(still, moving) == pytest.approx(1.0)
    assert ObjectCountDistance(spec, domain)(still, still) == 0.0
    # motion: speed 0 against the mean of (2, 0) = 1 pixel per frame
    assert MotionDistance(spec, domain)(still, moving) == pytest.approx(1.0)


def test_the_discriminative_score_tells_negatives_from_clips_and_not_real_from_real() -> None:
    domain = VideoDomain(size=8, frames=4, clips=120, radius=[0.2, 0.25], speed=[0.1, 0.15], seed=0)
    real = domain.load("train").batch
    metric = VideoDiscriminativeScore(domain.spec, domain, pool=4, steps=100, batch_size=32)
    negative = Batch.full_length(1.0 - real.values)
    same = metric(real.index(torch.arange(48)), real.index(torch.arange(48, 96)))
    inverted = metric(real.index(torch.arange(48)), negative.index(torch.arange(48, 96)))
    assert inverted > 0.4 and same < 0.2, (inverted, same)


def test_minibatch_std_adds_the_batchs_spread_as_a_feature() -> None:
    torch.manual_seed(2)
    critic = VideoDiscriminator(SPEC, frame_shape=[2, 8, 8], minibatch_std=True, embed_dim=6, width=4, hidden_dim=5)
    batch = Batch.full_length(torch.rand(4, 3, 128))
    encoded = critic.encode(batch)
    plain = critic.encoder(batch.values.reshape(12, 2, 8, 8)).view(4, 3, 6)
    assert encoded.shape == (4, 3, 7) and torch.allclose(encoded[..., :6], plain)
    assert torch.allclose(encoded[0, :, 6], plain.std(dim=0, unbiased=False).mean(dim=-1), atol=1e-6)
    same = Batch.full_length(batch.values[:1].expand(4, 3, 128).contiguous())
    assert torch.allclose(critic.encode(same)[..., 6], torch.full((4, 3), 1e-4), atol=1e-6)  # sqrt(0 + 1e-8): a collapsed batch
    critic(same).sum().backward()  # and the gradient stays finite there
    assert all(torch.isfinite(p.grad).all() for p in critic.parameters() if p.grad is not None)


def test_differences_show_the_encoder_each_frames_change() -> None:
    torch.manual_seed(3)
    critic = VideoDiscriminator(SPEC, frame_shape=[2, 8, 8], differences=True, embed_dim=6, width=4, hidden_dim=5)
    values = torch.rand(2, 3, 128)
    frames = values.view(2, 3, 2, 8, 8)
    change = torch.cat([torch.zeros_like(frames[:, :1]), frames[:, 1:] - frames[:, :-1]], dim=1)
    expected = critic.encoder(torch.cat([frames, change], dim=2).view(6, 4, 8, 8)).view(2, 3, 6)
    assert torch.allclose(critic.encode(Batch.full_length(values)), expected)
    assert critic.encoder.body[0].in_channels == 4  # two channels of frame, two of change
