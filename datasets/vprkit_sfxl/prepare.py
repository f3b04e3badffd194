"""SF-XL as distributed → standard layout: it already uses standard names, so link and verify.

``src`` is the folder holding ``train``, ``val`` and ``test`` — ``sf_xl/small`` or
``sf_xl/processed`` — or ``sf_xl`` itself (then ``processed`` is used if present, else ``small``).
With ``link="symlink"`` each split *folder* is linked (one link per split, instant even for 41M
images); ``hardlink``/``copy`` place every file. Sibling ``<split>_images_paths.txt`` listings are
placed too. Each split's names are verified on the first 1,000 listed images (malformed names
raise, naming them); ``vprkit datasets check`` verifies all of them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vprkit.data.filenames import parse_filenames
from vprkit.data.placing import place_file
from vprkit.data.standard import IMAGE_EXTENSIONS, PATHS_FILE_SUFFIX
from vprkit.errors import DataError
from vprkit_sfxl import SPLITS

VERIFY_FIRST = 1_000


def _base(src: Path) -> Path:
    if (src / "train").is_dir() or (src / "test").is_dir():
        return src
    for variant in ("processed", "small"):
        if (src / variant / "test").is_dir() or (src / variant / "train").is_dir():
            return src / variant
    raise DataError(f"{src}: no train/ or test/ folder (point --src at sf_xl/small or sf_xl/processed)")


def _first_images(folder: Path, n: int) -> list[str]:
    found: list[str] = []
    for _dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        found.extend(f for f in sorted(filenames) if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS)
        if len(found) >= n:
            break
    return found[:n]


def _count(folder: Path) -> int:
    listing = folder.parent / (folder.name + PATHS_FILE_SUFFIX)
    if listing.is_file():
        return sum(1 for line in listing.read_text(encoding="utf-8").splitlines() if line.strip())
    return sum(
        sum(1 for f in files if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS) for _, _, files in os.walk(folder)
    )


def prepare(src: Path, out: Path, *, link: str = "symlink") -> dict[str, int]:
    """Place every split found under ``src`` into ``out/images``; returns the count per split."""
    base = _base(Path(src))
    found = [s for s in SPLITS if (base / s).is_dir()]
    if not found:
        raise DataError(f"{base}: none of the SF-XL split folders {', '.join(SPLITS)} exist")
    for split in found:  # verify before placing anything
        sample = _first_images(base / split, VERIFY_FIRST)
        if not sample:
            raise DataError(f"{base / split} holds no images")
        parse_filenames(sample)  # raises, naming malformed files
    counts = {}
    for split in found:
        source, target = base / split, Path(out) / "images" / split
        target.parent.mkdir(parents=True, exist_ok=True)
        if link == "symlink":
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.exists():
                raise DataError(f"{target} already exists as a folder; remove it or prepare into another --out")
            os.symlink(source.resolve(), target, target_is_directory=True)
        else:
            copy = os.link if link == "hardlink" else shutil.copy2
            shutil.copytree(source, target, copy_function=copy, dirs_exist_ok=True)
        listing = source.parent / (source.name + PATHS_FILE_SUFFIX)
        if listing.is_file():
            place_file(listing, target.parent / listing.name, "copy")
        counts[split] = _count(target)
    return counts
