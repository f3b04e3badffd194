"""Helpers of the ``prepare`` steps: put the authors' images into the standard layout.

Images are placed by symlink (default: no copy of a terabyte dataset), hard link (same file
system, survives deleting the source tree) or copy. Before anything is written, every source is
checked to exist and every target name to be unique, so a failed prepare names the files and
leaves no half-written split behind it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from vprkit.errors import DataError

__all__ = ["first_missing", "place_file", "write_split"]


def place_file(src: Path, dst: Path, link: str) -> None:
    """Make ``dst`` refer to ``src`` by ``link`` (``symlink``, ``hardlink`` or ``copy``); replaces ``dst``."""
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    if link == "symlink":
        os.symlink(src.resolve(), dst)
    elif link == "hardlink":
        os.link(src, dst)
    elif link == "copy":
        shutil.copy2(src, dst)
    else:
        raise DataError(f"link must be symlink, hardlink or copy, not {link!r}")


def first_missing(paths: Sequence[Path], limit: int = 10) -> list[Path]:
    """Up to ``limit`` of ``paths`` that are not files."""
    missing = []
    for p in paths:
        if not p.is_file():
            missing.append(p)
            if len(missing) >= limit:
                break
    return missing


def write_split(out: Path, split: str, sources: Sequence[Path], names: Sequence[str], link: str) -> int:
    """Place ``sources[i]`` as ``out/images/<split>/<names[i]>``; returns the number placed.

    Raises DataError naming missing sources or duplicate target names (before writing anything).
    """
    if len(sources) != len(names):
        raise DataError(f"{split}: {len(sources)} sources but {len(names)} names")
    if not sources:
        raise DataError(f"{split}: no images to place")
    missing = first_missing(sources)
    if missing:
        shown = "\n".join(f"  {m}" for m in missing)
        raise DataError(f"{split}: source images are missing (first {len(missing)} shown):\n{shown}")
    seen: dict[str, Path] = {}
    for src, name in zip(sources, names):
        if name in seen:
            raise DataError(f"{split}: {seen[name]} and {src} would both become {name!r}")
        seen[name] = src
    folder = out / "images" / split
    folder.mkdir(parents=True, exist_ok=True)
    for src, name in zip(sources, names):
        place_file(src, folder / name, link)
    return len(names)
