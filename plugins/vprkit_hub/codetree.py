"""The code a hub model needs, copied into its model folder and checksummed.

**What is copied** (from the repository or folder the user named): every ``*.py`` file, and the
small text files code commonly reads or a user needs to see (``.txt .md .rst .json .yaml .yml
.toml .cfg .ini`` and ``LICENSE*``/``COPYING*``/``NOTICE*``/``README*``), at any depth, except in
hidden folders (``.git``...) and ``__pycache__``. Anything else (weights, images, notebooks,
archives, symbolic links) is skipped and listed on the card. A non-Python file over
:data:`MAX_FILE_BYTES` is skipped; a Python file over it, more than :data:`MAX_FILES` files or more
than :data:`MAX_TREE_BYTES` in all is refused: that is a data folder, not code.

**The checksum** of a tree is the SHA-256 of its ``sha256sum`` listing sorted by path: one line
``<sha256 of the file>  <path relative to the tree, with />`` per file, in byte order of the
paths, each line ending in a newline. ``cd DIR/hub && find . -type f -not -path '*/__pycache__/*'
-printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum`` prints the same digest.
``__pycache__`` is never part of it: vprkit never reads bytecode from a model folder (it imports
the sources with a private bytecode cache).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vprkit.errors import DataError

__all__ = [
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_TREE_BYTES",
    "CodeTree",
    "copy_code_tree",
    "hash_tree",
    "selected_tree",
    "top_level_names",
    "tree_sha256",
    "verify_tree",
]

MAX_FILE_BYTES = 1 << 20  # 1 MiB
MAX_TREE_BYTES = 16 << 20  # 16 MiB
MAX_FILES = 2000
TEXT_SUFFIXES = frozenset({".py", ".pyi", ".txt", ".md", ".rst", ".json", ".yaml", ".yml", ".toml", ".cfg", ".ini"})
NOTICE_PREFIXES = ("LICENSE", "LICENCE", "COPYING", "NOTICE", "README")
_SKIPPED_DIRS = frozenset({"__pycache__"})


@dataclass(frozen=True)
class CodeTree:
    """A copied (or re-hashed) code tree: ``files`` maps each relative path to its SHA-256."""

    files: dict[str, str]
    skipped: tuple[str, ...] = field(default=())

    @property
    def sha256(self) -> str:
        return tree_sha256(self.files)


def tree_sha256(files: Mapping[str, str]) -> str:
    """SHA-256 of the sorted ``sha256sum`` listing of ``files`` (see the module docstring)."""
    listing = "".join(f"{files[p]}  {p}\n" for p in sorted(files, key=lambda p: p.encode("utf-8")))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _wanted(name: str) -> bool:
    return Path(name).suffix.lower() in TEXT_SUFFIXES or name.upper().startswith(NOTICE_PREFIXES)


def _walk(root: Path) -> list[tuple[str, Path]]:
    """``(relative posix path, path)`` of every entry under ``root`` that is not in a hidden folder
    or ``__pycache__``, files and symbolic links alike, sorted."""
    found: list[tuple[str, Path]] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        here = Path(folder)
        kept = []
        for d in sorted(dirs):
            path = here / d
            if path.is_symlink():
                names.append(d)  # a linked folder is reported like a linked file
            elif not d.startswith(".") and d not in _SKIPPED_DIRS:
                kept.append(d)
        dirs[:] = kept
        for name in sorted(names):
            path = here / name
            found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def _select(src: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """The code files of ``src`` (see the module docstring) and the entries skipped."""
    if not (src / "hubconf.py").is_file():
        raise DataError(f"{str(src)!r} has no hubconf.py")
    chosen: list[tuple[str, Path]] = []
    skipped: list[str] = []
    total = 0
    for rel, path in _walk(src):
        name = path.name
        if path.is_symlink() or not path.is_file() or not _wanted(name) or name.startswith("."):
            skipped.append(rel)
            continue
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            if path.suffix == ".py":
                raise DataError(
                    f"{str(path)!r} is {size / 2**20:.1f} MiB: hub imports copy source code, and a Python "
                    f"file over {MAX_FILE_BYTES >> 20} MiB is not that"
                )
            skipped.append(rel)
            continue
        total += size
        chosen.append((rel, path))
        if len(chosen) > MAX_FILES or total > MAX_TREE_BYTES:
            raise DataError(
                f"{str(src)!r} holds more than {MAX_FILES} code files or {MAX_TREE_BYTES >> 20} MiB of them: "
                "name the folder of the repository's hubconf.py, not a folder of data"
            )
    return chosen, skipped


def selected_tree(src: Path) -> CodeTree:
    """The code files of ``src`` hashed where they are (what :func:`copy_code_tree` would copy)."""
    chosen, skipped = _select(src)
    return CodeTree({rel: _file_sha256(path) for rel, path in chosen}, tuple(skipped))


def copy_code_tree(src: Path, dst: Path) -> CodeTree:
    """Copy the code files of ``src`` into ``dst`` (created; must not exist) and hash the copies."""
    chosen, skipped = _select(src)
    dst.mkdir(parents=True, exist_ok=False)
    files: dict[str, str] = {}
    for rel, path in chosen:
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        files[rel] = _file_sha256(target)
    return CodeTree(files, tuple(skipped))


def hash_tree(root: Path) -> CodeTree:
    """The files under ``root`` now (every file except ``__pycache__``, hidden ones included)."""
    files: dict[str, str] = {}
    for folder, dirs, names in os.walk(root, followlinks=False):
        here = Path(folder)
        for d in list(dirs):
            if (here / d).is_symlink():
                raise DataError(f"{str(here / d)!r}: a symbolic link in cached hub code (replaced after import?)")
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for name in names:
            path = here / name
            if path.is_symlink():
                raise DataError(f"{str(path)!r}: a symbolic link in cached hub code (replaced after import?)")
            files[path.relative_to(root).as_posix()] = _file_sha256(path)
    return CodeTree(files)


def verify_tree(root: Path, expected_sha256: str, recorded: Mapping[str, str] | None, who: str) -> CodeTree:
    """Refuse ``root`` unless its checksum is ``expected_sha256``; the error names the files that
    differ from ``recorded`` (the per-file listing the card keeps) when it is known."""
    if not root.is_dir():
        raise DataError(f"{who}: {str(root)!r} is missing: the model folder lost the code it runs")
    now = hash_tree(root)
    if now.sha256 == expected_sha256:
        return now
    detail = ""
    if recorded:
        changed = sorted(p for p in now.files if p in recorded and recorded[p] != now.files[p])
        added = sorted(set(now.files) - set(recorded))
        missing = sorted(set(recorded) - set(now.files))
        groups = (("changed", changed), ("added", added), ("missing", missing))
        parts = [f"{what}: {', '.join(names[:5])}" for what, names in groups if names]
        detail = f" ({'; '.join(parts)})" if parts else ""
    raise DataError(
        f"{who}: the code in {str(root)!r} does not match its recorded SHA-256{detail}; it was edited after "
        "the import, and vprkit will not run it: import the model again"
    )


def top_level_names(root: Path) -> set[str]:
    """Names the code under ``root`` can be imported as (``x.py`` → ``x``, a folder ``pkg/`` → ``pkg``)."""
    if not root.is_dir():
        return set()
    names = {p.stem for p in root.glob("*.py")}
    names |= {p.name for p in root.iterdir() if p.is_dir() and p.name.isidentifier()}
    return names
