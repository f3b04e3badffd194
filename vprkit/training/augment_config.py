"""Training augmentation as typed data (import-light: no torch): :class:`AugmentationConfig`,
the named :data:`PRESETS`, and the :data:`Augmentation` field type every method config's
``augmentation`` uses. The pipelines themselves are built by :mod:`vprkit.training.augment`."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    SerializationInfo,
    ValidationError,
    field_validator,
    model_validator,
)

from vprkit.config import VprkitConfig

__all__ = [
    "AUGMENTATIONS",
    "AUGMENTATION_SERIALIZER",
    "PRESETS",
    "Augmentation",
    "AugmentationConfig",
    "augmentation_validator",
    "default_preset",
]

Range = tuple[float, float]


class AugmentationConfig(VprkitConfig):
    """One training augmentation; every step is off at its default.

    Steps run in this order (the order of the papers' pipelines): colour jitter → per-channel
    gain → grayscale → crop (or plain resize) → horizontal flip → blur → JPEG → tensor → noise →
    ImageNet normalisation. Steps left off draw no random numbers.
    """

    preset: str | None = Field(
        None, description="Preset the other fields start from (dnc, cosplace, photometric, none); None: all off."
    )
    crop_scale: Range | None = Field(
        None, description="RandomResizedCrop area fraction (lo, hi), e.g. [0.66, 1]; None: resize the whole image."
    )
    crop_ratio: Range = Field((3 / 4, 4 / 3), description="RandomResizedCrop aspect-ratio range (torchvision's).")
    brightness: float = Field(0.0, ge=0, description="ColorJitter: factor uniform in [max(0, 1 − b), 1 + b].")
    contrast: float = Field(0.0, ge=0, description="ColorJitter: factor uniform in [max(0, 1 − c), 1 + c].")
    saturation: float = Field(0.0, ge=0, description="ColorJitter: factor uniform in [max(0, 1 − s), 1 + s].")
    hue: float = Field(0.0, ge=0, le=0.5, description="ColorJitter: hue shift uniform in [−h, h] (of a full turn).")
    gain: Range = Field((1.0, 1.0), description="Per-channel (R, G, B) gain, each uniform in (lo, hi); [1, 1]: off.")
    grayscale: float = Field(0.0, ge=0, le=1, description="Probability of converting to grayscale (3 channels).")
    hflip: float = Field(
        0.0, ge=0, le=1, description="Probability of a horizontal flip (the label is kept: see the docs on headings)."
    )
    blur: float = Field(0.0, ge=0, le=1, description="Probability of a Gaussian blur.")
    blur_sigma: Range = Field((0.1, 2.0), description="Gaussian blur sigma range in pixels (kernel: 5 px).")
    noise: float = Field(0.0, ge=0, le=1, description="Gaussian noise, std uniform in [0, noise] on the [0, 1] scale.")
    jpeg_quality: tuple[int, int] | None = Field(
        None, description="JPEG re-encoding at a quality uniform in (lo, hi), 1–100; None: off."
    )

    @model_validator(mode="before")
    @classmethod
    def _start_from_preset(cls, data: Any) -> Any:
        # ``{preset: dnc, brightness: 0.4}``: the preset's fields, then the ones given here.
        if isinstance(data, Mapping) and data.get("preset") is not None:
            name = data["preset"]
            if name not in PRESETS:
                raise ValueError(f"unknown augmentation preset {name!r}; choose one of {', '.join(PRESETS)}")
            return {**PRESETS[name], **data}
        return data

    @model_validator(mode="after")
    def _check_ranges(self) -> AugmentationConfig:
        for name in ("crop_scale", "crop_ratio", "gain", "blur_sigma", "jpeg_quality"):
            value = getattr(self, name)
            if value is not None and not (0 < value[0] <= value[1]):
                raise ValueError(f"augmentation {name} must be (lo, hi) with 0 < lo ≤ hi, got {list(value)}")
        if self.crop_scale is not None and self.crop_scale[1] > 1:
            raise ValueError(f"augmentation crop_scale must lie in (0, 1], got {list(self.crop_scale)}")
        if self.jpeg_quality is not None and self.jpeg_quality[1] > 100:
            raise ValueError(f"augmentation jpeg_quality must lie in 1–100, got {list(self.jpeg_quality)}")
        return self


#: Named augmentations. ``dnc``, ``cosplace``: the official code's; ``photometric``: D&C's crop plus
#: the light colour jitter and per-channel gain that keep a classifier working under lighting change
#: (issue 18's measurement); ``none``: resize only.
PRESETS: dict[str, dict[str, Any]] = {
    "dnc": {"crop_scale": (0.66, 1.0)},  # official: RandomResizedCrop(scale=(1 - 0.34, 1))
    "cosplace": {"crop_scale": (0.5, 1.0), "brightness": 0.7, "contrast": 0.7, "saturation": 0.7, "hue": 0.5},
    "photometric": {
        "crop_scale": (0.66, 1.0),
        "brightness": 0.4,
        "contrast": 0.4,
        "saturation": 0.4,
        "gain": (0.9, 1.1),
    },
    "none": {},
}
AUGMENTATIONS = tuple(PRESETS)


def _validate_augmentation(value: Any, extra_presets: tuple[str, ...] = ()) -> str | AugmentationConfig:
    # One plain validator instead of a pydantic union, so a bad value gets one error naming the
    # field, not one per union member.
    if isinstance(value, AugmentationConfig):
        return value
    if isinstance(value, str):
        if value not in PRESETS and value not in extra_presets:
            names = ", ".join((*extra_presets, *PRESETS))
            raise ValueError(f"unknown augmentation {value!r}; choose a preset ({names}) or give a mapping")
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"augmentation must be a preset name or a mapping of fields, got {type(value).__name__}")
    try:
        return AugmentationConfig.model_validate(dict(value))
    except ValidationError as exc:
        fields = list(AugmentationConfig.model_fields)
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                close = difflib.get_close_matches(where, fields, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]}?)" if close else ""
                problems.append(f"unknown field {where!r}{hint}; fields: {', '.join(fields)}")
            else:
                problems.append(f"{where + ': ' if where else ''}{err['msg'].removeprefix('Value error, ')}")
        raise ValueError("; ".join(problems)) from None


def _serialize_augmentation(value: str | AugmentationConfig, info: SerializationInfo) -> Any:
    return value if isinstance(value, str) else value.model_dump(mode=info.mode)


def augmentation_validator(*extra_presets: str) -> PlainValidator:
    """The validator of an ``augmentation`` field; ``extra_presets``: names a method handles
    itself (SALAD's and BoQ's RandAugment pipelines), accepted besides :data:`PRESETS`."""
    return PlainValidator(lambda value: _validate_augmentation(value, extra_presets))


#: Serialises an ``augmentation`` field: the preset name, or the config's fields.
AUGMENTATION_SERIALIZER = PlainSerializer(_serialize_augmentation)

#: The type of a config's ``augmentation`` field: a preset name or an :class:`AugmentationConfig`.
Augmentation = Annotated[str | AugmentationConfig, augmentation_validator(), AUGMENTATION_SERIALIZER]


def default_preset(preset: str | None) -> Any:
    """A field validator for ``augmentation`` under which a mapping that names no ``preset`` starts
    from ``preset`` (the method's recipe), so ``--set training.augmentation.brightness=0.4`` adds
    jitter to the paper's crop instead of silently dropping it. Write ``preset: none`` to start
    from nothing."""

    def start_from_default(cls: type, value: Any) -> Any:
        if preset is not None and isinstance(value, Mapping) and value.get("preset") is None:
            return {**value, "preset": preset}
        return value

    return field_validator("augmentation", mode="before")(start_from_default)
