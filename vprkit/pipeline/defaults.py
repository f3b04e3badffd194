"""The embedded default: synthcity ``small`` generated once into the cache, used by ``vprkit run``."""

from __future__ import annotations

from pathlib import Path

from vprkit.data.cache import cache_dir

__all__ = ["default_dataset", "DEFAULT_SIZE", "DEFAULT_SEED"]

DEFAULT_SIZE = "small"
DEFAULT_SEED = 0


def default_dataset(size: str = DEFAULT_SIZE, seed: int = DEFAULT_SEED, root: Path | None = None) -> Path:
    """Root of synthcity ``size``/``seed`` in the cache, generated on first use (under a minute for
    ``small`` on 2 cores). A half-written folder (no ``complete`` marker) is generated again."""
    from vprkit.data.dataset_protocol import make_dataset
    from vprkit.fileio import atomic_write_text

    root = root or cache_dir() / "datasets" / f"synthcity-{size}-seed{seed}"
    marker = root / ".complete"
    if not marker.is_file():
        make_dataset("synthcity", root, size=size, seed=seed)
        atomic_write_text(marker, "ok\n")
    return root
