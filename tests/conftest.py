"""Shared test settings: one torch thread and a seeded RNG per test.

Tiny recurrent nets run faster on one thread than on two, and a single thread keeps CPU
results reproducible however busy the machine is.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_and_seed():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
