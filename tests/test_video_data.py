"""The video domain's data: seeded moving shapes that bounce, and the GIF / PNG-folder reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seqtk.core.errors import DataError
from seqtk.plugins.video.clips import read_clips, split_clips
from seqtk.plugins.video.domain import VideoDomain
from seqtk.plugins.video.shapes import ShapesConfig, moving_shapes, trajectories


def test_moving_shapes_are_seeded_in_range_and_shaped_as_the_spec_says() -> None:
    domain = VideoDomain(size=16, channels=3, frames=6, clips=20, seed=3)
    train, test = domain.load("train").batch, domain.load("test").batch
    assert train.values.shape == (16, 6, 3 * 16 * 16) and test.values.shape == (4, 6, 3 * 16 * 16)
    assert domain.spec.features == 3 * 16 * 16 and domain.spec.max_len == 6 and domain.spec.value_range == (0.0, 1.0)
    assert domain.frame_shape == (3, 16, 16)
    assert float(train.values.min()) == 0.0 and float(train.values.max()) == 1.0
    again = VideoDomain(size=16, channels=3, frames=6, clips=20, seed=3).load("train").batch.values
    assert torch.equal(train.values, again)
    assert not torch.equal(train.values, VideoDomain(size=16, channels=3, frames=6, clips=20, seed=4).load("train").batch.values)


def test_objects_bounce_off_the_walls_and_keep_their_speed() -> None:
    config = ShapesConfig(size=16, frames=60, objects=1, min_objects=1, radius=(0.1, 0.1), speed=(0.1, 0.1))
    centres, radii = trajectories(config, np.random.default_rng(0))
    r = radii[0]
    assert np.all(centres >= r - 1e-9) and np.all(centres <= 16 - r + 1e-9)  # always wholly inside
    steps = np.linalg.norm(np.diff(centres[:, 0], axis=0), axis=1)
    velocity_x = np.sign(np.diff(centres[:, 0, 0]))
    assert (velocity_x[1:] != velocity_x[:-1]).any()  # it turned: it bounced
    straight = steps[np.isclose(steps, 1.6)]  # 0.1 of 16 pixels per frame, away from walls
    assert len(straight) > 30


def test_a_disc_is_drawn_where_its_centre_is() -> None:
    config = ShapesConfig(size=16, frames=2, objects=1, min_objects=1, radius=(0.2, 0.2), speed=(0.05, 0.05))
    clip = moving_shapes(1, config, np.random.default_rng(1))[0, 0].reshape(16, 16)
    centres, radii = trajectories(config, np.random.default_rng(1))
    x, y = centres[0, 0]
    assert clip[int(y), int(x)] == 1.0 and clip.sum() == pytest.approx(np.pi * radii[0] ** 2, rel=0.25)


def _gif(path: Path, frames: int, size: int = 20, colour: bool = False) -> None:
    mode = "RGB" if colour else "L"
    images = []
    for t in range(frames):
        image = Image.new(mode, (size + 4, size), 0)  # wider than tall: centre-cropped
        image.paste((255, 0, 0) if colour else 255, (2 + t, 4, 8 + t, 10))
        images.append(image)
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)


def test_gifs_and_png_folders_are_read_resized_cut_and_split_by_clip(tmp_path: Path) -> None:
    for i in range(4):
        _gif(tmp_path / f"clip{i}.gif", frames=9)
    frames_dir = tmp_path / "pngs"
    frames_dir.mkdir()
    for t in (10, 2, 1, 3, 4, 5, 6, 7, 8, 9):  # numbered frames sort as numbers: 2 before 10
        Image.new("L", (20, 20), 25 * t if t != 10 else 250).save(frames_dir / f"f{t}.png")
    clips = read_clips(tmp_path, size=10, channels=1)
    assert [c.name for c in clips] == ["clip0.gif", "clip1.gif", "clip2.gif", "clip3.gif", "pngs"]
    pngs = clips[-1].values
    assert pngs.shape == (10, 100) and np.allclose(pngs[:, 0], [25 * t / 255 for t in range(1, 10)] + [250 / 255], atol=1 / 255)
    assert clips[0].values.shape == (9, 100) and 0.0 <= clips[0].values.min() and clips[0].values.max() <= 1.0
    train, test = split_clips(clips, test_fraction=0.4, seed=0, frames=4, stride=2, source=str(tmp_path))
    # stride 2 keeps 5 of a GIF's 9 frames (one window of 4) and 5 of the PNG clip's 10 (one window)
    assert train.shape[1:] == (4, 100) and len(train) + len(test) == 5 and len(test) == 2
    assert np.allclose(pngs[::2][:4], np.concatenate([train, test])[[i for i, w in enumerate(np.concatenate([train, test])) if np.allclose(w, pngs[::2][:4])][0]])


def test_corrupt_files_are_skipped_with_a_warning_naming_them(tmp_path: Path) -> None:
    _gif(tmp_path / "good.gif", frames=4)
    _gif(tmp_path / "also-good.gif", frames=4)
    (tmp_path / "broken.gif").write_bytes(b"GIF89a this is not a gif")
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.new("L", (8, 8)).save(folder / "0.png")
    (folder / "1.png").write_bytes(b"\x89PNG broken")
    with pytest.warns(UserWarning) as caught:
        clips = read_clips(tmp_path, size=8, channels=1)
    messages = " ".join(str(w.message) for w in caught)
    assert "broken.gif" in messages and "frames" in messages and "1.png" in messages
    assert sorted(c.name for c in clips) == ["also-good.gif", "good.gif"]


def test_a_folder_with_no_readable_clip_is_a_data_error_naming_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty: no readable clip"):
        read_clips(empty, size=8, channels=1)
    (empty / "bad.gif").write_bytes(b"nope")
    with pytest.warns(UserWarning, match="bad.gif"), pytest.raises(DataError, match=r"empty: no readable clip \(skipped as unreadable: bad.gif\)"):
        VideoDomain(source="folder", path=str(empty), size=8).load("train")


def test_the_domain_reads_a_folder_of_gifs_in_colour(tmp_path: Path) -> None:
    for i in range(5):
        _gif(tmp_path / f"c{i}.gif", frames=8, colour=True)
    domain = VideoDomain(source="folder", path=str(tmp_path), size=8, channels=3, frames=4, test_fraction=0.2)
    train = domain.load("train").batch.values.reshape(-1, 4, 3, 8, 8)
    assert train.shape[0] == 8 and domain.load("test").batch.size == 2  # 2 windows per clip, 4 clips train, 1 test
    red, green = train[:, :, 0], train[:, :, 1]
    assert float(red.max()) > 0.9 and float(green.max()) < 0.1


def test_bad_parameters_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match="source 'folder' needs path"):
        VideoDomain(source="folder")
    with pytest.raises(ValueError, match="min_objects"):
        VideoDomain(objects=1, min_objects=2)
    with pytest.raises(ValueError, match="radius"):
        VideoDomain(radius=[0.3, 0.1])


def test_clips_too_short_for_one_window_are_skipped_and_two_are_needed(tmp_path: Path) -> None:
    _gif(tmp_path / "long.gif", frames=8)
    _gif(tmp_path / "short.gif", frames=3)
    clips = read_clips(tmp_path, size=8, channels=1)
    with pytest.warns(UserWarning, match=r"short.gif: skipped, 3 frames give fewer than frames=4"), pytest.raises(DataError, match="1 clip"):
        split_clips(clips, test_fraction=0.5, seed=0, frames=4, stride=1, source=str(tmp_path))
