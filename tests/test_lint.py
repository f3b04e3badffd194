"""The tree stays clean under ruff (lint and format) and mypy, as configured in pyproject.toml.

Run as subprocesses from the repository root, with their caches in a temporary folder so the
checkout is never written (the suite runs from a read-only checkout).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "RUFF_CACHE_DIR": str(tmp_path / "ruff")},
    )


@pytest.mark.parametrize(
    "command",
    [("ruff", "check", "--no-cache", "."), ("ruff", "format", "--check", "--no-cache", ".")],
    ids=["ruff-check", "ruff-format"],
)
def test_ruff_is_clean(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = _run(tmp_path, *command)
    assert result.returncode == 0, (
        f"`{' '.join(command)}` found problems:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"
    )


def test_mypy_is_clean(tmp_path: Path) -> None:
    result = _run(tmp_path, "mypy", "--cache-dir", str(tmp_path / "mypy"))
    assert result.returncode == 0, f"mypy found problems:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"
