"""How long `seqtk list` takes beside `python -c "import torch"`, measured in the same run.

`seqtk list` must not import torch (the registry is read without importing any target),
so it should cost a fraction of torch's import. Prints JSON; run with:

    python bench/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def wall_time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    commands = {
        "python_import_torch": [sys.executable, "-c", "import torch"],
        "seqtk_list": [sys.executable, "-m", "seqtk", "list"],
        "python_empty": [sys.executable, "-c", "pass"],
    }
    for command in commands.values():  # warm the file-system cache once
        wall_time(command)
    medians = {name: statistics.median(wall_time(cmd) for _ in range(args.repeats)) for name, cmd in commands.items()}
    print(
        json.dumps(
            {
                "protocol": {"repeats": args.repeats, "statistic": "median wall seconds, subprocess start included", "python": sys.version.split()[0]},
                "seconds": {k: round(v, 3) for k, v in medians.items()},
                "seqtk_list_over_import_torch": round(medians["seqtk_list"] / medians["python_import_torch"], 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
