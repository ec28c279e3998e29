"""Shared test settings: one torch thread, a seeded RNG and no SEQTK_* plugin settings.

Tiny recurrent nets run faster on one thread than on two, and a single thread keeps CPU
results reproducible however busy the machine is. The developer's own plugin controls
must not change what the tests see; a test that wants one sets it itself.
"""

from __future__ import annotations

from typing import Iterator

import pytest
import torch

from seqtk.core.plugins import BLOCK_ENV, DISABLE_AUTOLOAD_ENV, PLUGINS_ENV, PluginHost

PLUGIN_ENV = (DISABLE_AUTOLOAD_ENV, PLUGINS_ENV, BLOCK_ENV)


@pytest.fixture(autouse=True)
def _one_thread_and_seed():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _no_plugin_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PLUGIN_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def host() -> Iterator[PluginHost]:
    """The installed plugins, shared by a module: a host holds no per-recipe state."""
    with pytest.MonkeyPatch.context() as patch:
        for name in PLUGIN_ENV:
            patch.delenv(name, raising=False)
        yield PluginHost()
