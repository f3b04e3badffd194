"""Reading query and database images for the models, with errors that name the file."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from vprkit.errors import DataError

__all__ = ["iter_batches", "open_image", "open_images"]


def open_image(path: str | Path):
    """Open an image as RGB (PIL); an unreadable file is a :class:`DataError` naming it."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with Image.open(p) as img:
            return img.convert("RGB")
    except FileNotFoundError as exc:
        raise DataError(f"image {str(p)!r} does not exist") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"image {str(p)!r} cannot be read: {exc}") from exc


def open_images(paths: Sequence[str | Path]) -> list:
    return [open_image(p) for p in paths]


def iter_batches(
    paths: Sequence[str | Path], transform: Callable, batch_size: int
) -> Iterator[tuple[int, object]]:
    """Yield ``(start_row, tensor (B, 3, H, W))`` batches of transformed images, in order."""
    import torch

    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        yield start, torch.stack([transform(open_image(p)) for p in chunk])
