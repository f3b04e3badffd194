"""Reading query and database images for the models, with errors that name the file."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from vprkit.data.standard import MIN_IMAGE_SIDE
from vprkit.errors import DataError

__all__ = ["MIN_IMAGE_SIDE", "iter_batches", "open_image", "open_images"]


def open_image(path: str | Path, min_size: int | None = None):
    """Open an image as RGB (PIL), fully decoded; a bad file is a one-line :class:`DataError` naming it.

    Refused: a missing file, a file PIL cannot identify or decode (a truncated JPEG included:
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` is left as it is, False by default), a decompression bomb
    (more pixels than ``PIL.Image.MAX_IMAGE_PIXELS``; PIL itself only warns up to twice that) and,
    with ``min_size``, an image whose shorter side has fewer pixels (checked on the file's own
    size, before any transform; :data:`MIN_IMAGE_SIDE` is the floor the pipeline uses).
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                if min_size is not None and min(img.size) < min_size:
                    w, h = img.size
                    raise DataError(f"image {str(p)!r} is {w}×{h} pixels; the models need at least {min_size} "
                                    f"pixels on the shorter side (remove it from the split or replace it)")
                return img.convert("RGB")
    except DataError:
        raise
    except FileNotFoundError as exc:
        raise DataError(f"image {str(p)!r} does not exist") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"image {str(p)!r} is refused as a possible decompression bomb: {exc} "
                        "(raise PIL.Image.MAX_IMAGE_PIXELS if the image is genuine)") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"image {str(p)!r} cannot be read: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def open_images(paths: Sequence[str | Path], min_size: int | None = None) -> list:
    """:func:`open_image` for each path, in order."""
    return [open_image(p, min_size=min_size) for p in paths]


def iter_batches(
    paths: Sequence[str | Path], transform: Callable, batch_size: int, min_size: int | None = None
) -> Iterator[tuple[int, object]]:
    """Yield ``(start_row, tensor (B, 3, H, W))`` batches of transformed images, in order
    (each image read with :func:`open_image`, ``min_size`` passed on)."""
    import torch

    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        yield start, torch.stack([transform(open_image(p, min_size=min_size)) for p in chunk])
