"""``environment.json``: what a run was trained with (versions, device, plugins), for reports.

A run directory's recipe says *what* was trained; this says *with what*: seqtk's and
torch's versions, Python, the device and every plugin with its version. Written when a run
starts (rewritten when it resumes, with ``resumed: true``), so ``seqtk report`` shows
the environment of the session that wrote the newest results.
"""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from typing import Any

__all__ = ["describe_environment", "ENVIRONMENT_FILE"]

ENVIRONMENT_FILE = "environment.json"


def describe_environment(device: Any = None, host: Any = None, *, resumed: bool = False) -> dict[str, Any]:
    """Versions, device and plugins as plain data; ``device`` and ``host`` (a ``PluginHost``) are optional."""
    from seqtk import __version__

    info: dict[str, Any] = {
        "seqtk": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "resumed": resumed,
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
    if device is not None:
        info["device"] = str(device)
        if getattr(device, "type", None) == "cuda" and torch is not None:
            info["device_name"] = torch.cuda.get_device_name(device)
    if host is not None:
        info["plugins"] = [
            {"name": p.name, "package": p.distribution or p.module, "version": p.version, "status": p.status} for p in host.infos
        ]
    return info
