"""Opening one image file: the reader every part of vprkit uses (pipeline, training, previews),
with one-line errors that name the file."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from vprkit.errors import DataError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = ["open_image"]


def open_image(path: str | Path, min_size: int | None = None) -> PILImage:
    """Open an image as RGB (PIL), fully decoded; a bad file is a one-line :class:`DataError` naming it.

    Refused: a missing file, a file PIL cannot identify or decode (a truncated JPEG included:
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` is left as it is, False by default), a decompression bomb
    (more pixels than ``PIL.Image.MAX_IMAGE_PIXELS``; PIL itself only warns up to twice that) and,
    with ``min_size``, an image whose shorter side has fewer pixels (checked on the file's own
    size, before any transform; :data:`vprkit.data.standard.MIN_IMAGE_SIDE` is the floor the
    pipeline uses).
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                if min_size is not None and min(img.size) < min_size:
                    w, h = img.size
                    raise DataError(
                        f"image {str(p)!r} is {w}×{h} pixels; the models need at least {min_size} "
                        f"pixels on the shorter side (remove it from the split or replace it)"
                    )
                return img.convert("RGB")
    except DataError:
        raise
    except FileNotFoundError as exc:
        raise DataError(f"image {str(p)!r} does not exist") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(
            f"image {str(p)!r} is refused as a possible decompression bomb: {exc} "
            "(raise PIL.Image.MAX_IMAGE_PIXELS if the image is genuine)"
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"image {str(p)!r} cannot be read: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
