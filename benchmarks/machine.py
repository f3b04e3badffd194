"""The machine a benchmark ran on and its load: the one ``"machine"`` block of every results JSON.

    from machine import load_1min, machine_block

    result = {..., "machine": machine_block(threads=args.threads)}

The block holds the CPU count, the platform and architecture, the Python version, the version of
each measured library already imported (NumPy, torch, faiss, hnswlib) and the load average
(1, 5 and 15 minutes, ``loadavg``) when it is made: the development box is shared, so a number
means little without the load it was measured under. Make the block when measuring is done (the
load at the end is what the docs quote); a script that measures in stages records
:func:`load_1min` beside each stage as well. Keyword arguments add the script's own settings
(threads, measured bandwidths).
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

#: libraries whose version is recorded when the benchmark imported them
LIBRARIES = ("numpy", "torch", "faiss", "hnswlib")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded to 0.01."""
    return [round(x, 2) for x in os.getloadavg()]


def load_1min() -> float:
    """The 1-minute load average, rounded to 0.01."""
    return load_average()[0]


def machine_block(**extra: Any) -> dict[str, Any]:
    """``{"cpus", "platform", "arch", "python", <library>: version..., "loadavg": [1, 5, 15 min], **extra}``."""
    block: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }
    for name in LIBRARIES:
        version = getattr(sys.modules.get(name), "__version__", None)
        if version is not None:
            block[name] = str(version)
    block["loadavg"] = load_average()
    block.update(extra)
    return block
