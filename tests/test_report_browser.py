"""The report in a real browser: headless Chromium loads it and must see no error, every picture decoded, every clip playable.

Chromium's ``--dump-dom`` prints the page after it has run; the page's own check script
(``seqtk.core.report_html.CHECK_SCRIPT``) has by then written what it saw into
``<html data-seqtk-check="...">``: script errors, failed resources, policy violations
(anything the page tried to fetch), ``console.error``/``console.warn``, images and how
many decoded, and each ``<audio>`` element's duration. Chromium's own console log
(``--enable-logging=stderr``) is a second witness: the page logs nothing, so any console
line fails the test. The broken pages below prove both witnesses catch what they must.
"""

from __future__ import annotations

import html
import io
import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from report_runs import shared_runs  # noqa: E402

from seqtk.core.report import write_report  # noqa: E402
from seqtk.core.report_html import page  # noqa: E402
from seqtk.plugins.music.notes import Note, Piece  # noqa: E402
from seqtk.plugins.music.synth import piece_to_wav  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::seqtk.core.interfaces.MetricWarning")

#: SEQTK_CHROMIUM names another Chromium-based browser binary.
BROWSER = os.environ.get("SEQTK_CHROMIUM") or next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None
)
if BROWSER is None:
    pytest.skip(
        "no Chromium found to open the report in: install Debian's `chromium` package (apt-get install chromium) "
        "or set SEQTK_CHROMIUM to a Chromium-based browser",
        allow_module_level=True,
    )

#: Root, no network, no GPU, and no background traffic: the page alone is what is tested.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--mute-audio", "--enable-logging=stderr", "--v=0",
)
_profiles = itertools.count()


def open_page(path: Path, scratch: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """What the page's check script recorded, and Chromium's console lines."""
    profile = scratch / f"profile-{next(_profiles)}"  # a fresh profile each time: no state carried between pages
    command = [BROWSER, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", path.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    found = re.search(r'<html[^>]*\sdata-seqtk-check="([^"]*)"', done.stdout)
    state = json.loads(html.unescape(found.group(1))) if found else None
    return state, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


def problems(state: dict[str, Any] | None, console: list[str]) -> list[str]:
    """Everything wrong with a page, as sentences; empty for a page that rendered completely."""
    if state is None:
        return ["the page's check script left no record (it did not run)"]
    found = [*state["errors"], *(f"console: {line}" for line in console)]
    if not state["done"]:
        found.append("the audio elements never finished loading their metadata")
    if state["decoded"] != state["images"]:
        found.append(f"{state['images'] - state['decoded']} of {state['images']} images did not decode")
    for index, seconds in enumerate(state["audio"]):
        if not isinstance(seconds, (int, float)) or not seconds > 0:
            found.append(f"audio {index} has no finite positive duration ({seconds})")
    return found


def tiny_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(mime: str, data: bytes) -> str:
    import base64

    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


GOOD_BODY = '<img alt="ok" src="{png}"><audio controls src="{wav}"></audio>'
BROKEN = {
    "an image whose data does not decode": '<img alt="bad" src="data:image/png;base64,AAAA">',
    "a script that throws": "<script>throw new Error('deliberate failure')</script>",
    "a console error": "<script>console.error('deliberate console error')</script>",
    "a resource fetched from the network": '<img alt="remote" src="http://127.0.0.1:9/picture.png">',
    "an audio clip that does not decode": '<audio controls src="data:audio/wav;base64,AAAA"></audio>',
}


def test_a_good_page_passes_and_its_clip_has_its_duration(tmp_path: Path) -> None:
    wav = piece_to_wav(Piece([Note(0.0, 3.0, 69)], tempo_bpm=120.0))  # 3 beats at 120 bpm: 1.5 s
    path = tmp_path / "good.html"
    path.write_text(page("good", GOOD_BODY.format(png=data_uri("image/png", tiny_png()), wav=data_uri("audio/wav", wav))))
    state, console = open_page(path, tmp_path)
    assert problems(state, console) == []
    assert state is not None and state["images"] == state["decoded"] == 1
    assert state["audio"] == [pytest.approx(1.5, abs=1e-3)]


@pytest.mark.parametrize("what", list(BROKEN))
def test_a_broken_page_is_caught(tmp_path: Path, what: str) -> None:
    path = tmp_path / "broken.html"
    good = GOOD_BODY.format(png=data_uri("image/png", tiny_png()), wav=data_uri("audio/wav", piece_to_wav(Piece([Note(0.0, 1.0, 60)]))))
    path.write_text(page("broken", good + BROKEN[what]))
    state, console = open_page(path, tmp_path)
    assert state is not None, "the check script must run even on a broken page"
    assert problems(state, console), f"{what} went unnoticed"
    assert state["errors"], f"the page's own record missed {what}"


@pytest.fixture(scope="module")
def runs() -> dict[str, Path]:
    return shared_runs()


def test_the_time_series_report_renders_every_curve_and_picture(runs: dict[str, Path], tmp_path: Path) -> None:
    path = write_report([runs["sines"]], tmp_path / "sines.html")
    state, console = open_page(path, tmp_path)
    assert problems(state, console) == []
    assert state is not None and state["images"] == state["decoded"] == 4  # losses, metrics, grid, PCA
    assert state["audio"] == []


def test_the_music_report_renders_and_every_clip_plays(runs: dict[str, Path], tmp_path: Path) -> None:
    path = write_report([runs["music"], runs["sines"]], tmp_path / "music.html")
    state, console = open_page(path, tmp_path)
    assert problems(state, console) == []
    text = path.read_text()
    assert state is not None and state["images"] == state["decoded"] == text.count("<img ") >= 5  # 2 curves, piano roll, grid, PCA
    assert len(state["audio"]) == text.count("<audio ") >= 4  # 3 samples and the held-out excerpts
    assert all(0 < seconds <= 8.0 for seconds in state["audio"])
