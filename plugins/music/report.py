"""What ``seqtk report`` shows of a music run: the piano roll and every sample as audio beside real excerpts.

Browsers do not play MIDI, so each ``.mid`` file of the newest evaluation is rendered by
seqtk's own synthesiser (``seqtk.plugins.music.synth``) to a short 16 kHz WAV clip; a few
held-out excerpts are rendered the same way, so the ear compares like with like.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from seqtk.core.report_items import Audio, Note, newest_samples, sample_pictures
from seqtk.plugins.music.midi import read_midi
from seqtk.plugins.music.synth import piece_to_wav

__all__ = ["report_samples", "CLIP_SECONDS"]

#: Each clip's length at most: enough to hear a phrase, small enough that a page of 16 stays a few MB.
CLIP_SECONDS = 8.0
#: How many held-out excerpts are played beside the samples.
HELD_OUT = 3


def report_samples(domain: Any, run_dir: Path, count: int = 8) -> list[Any]:
    """Piano roll, held-out excerpts and every generated ``.mid`` of the newest evaluation as audio."""
    items: list[Any] = sample_pictures(run_dir, {"pianoroll": "Piano roll: held-out excerpts beside generated ones"})
    found = newest_samples(run_dir)
    if found is None:
        return items
    step, paths = found
    try:
        test = domain.load("test").batch
        real = domain.to_pieces(test.index(torch.arange(min(HELD_OUT, test.size))), prefix="held-out")
    except Exception as exc:  # noqa: BLE001 - real data out of reach (a moved folder) must not stop the report
        real = []
        items.append(Note(f"Held-out excerpts cannot be played: {exc}"))
    for i, piece in enumerate(real, start=1):
        if piece.notes:
            items.append(Audio(f"held-out excerpt {i}", piece_to_wav(piece, max_seconds=CLIP_SECONDS)))
    folders = [p for p in paths if p.is_dir()]
    files = sorted(folders[0].glob("*.mid")) if folders else []
    if not files:
        items.append(Note(f"The evaluation of step {step} wrote no MIDI files."))
    for path in files:
        piece = read_midi(path, allow_empty=True)
        if not piece.notes:
            items.append(Note(f"generated {path.name}: an empty piece (no notes), nothing to play"))
            continue
        items.append(Audio(f"generated {path.parent.name}/{path.name}", piece_to_wav(piece, max_seconds=CLIP_SECONDS)))
    return items
