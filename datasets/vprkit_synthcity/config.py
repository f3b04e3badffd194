"""Configuration of the synthcity generator (import-light: pydantic only).

A config names a *size* preset (``tiny``, ``small``, ``city``) and a seed; every other field
left at ``None`` takes the preset's value (:data:`PRESETS`), so ``SynthCityConfig(size="small")``
is the demo city and ``SynthCityConfig(size="small", image_size=96)`` the same city with bigger
views. :meth:`SynthCityConfig.resolved` returns the config with every field filled in.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from vprkit.config import VprkitConfig

__all__ = ["PRESETS", "SIZES", "ResolvedSynthCityConfig", "SynthCityConfig"]

SIZES = ("tiny", "small", "city")

#: Per-size defaults of the fields that are ``None`` in a fresh config.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        extent_m=260.0,
        block_min_m=55.0,
        block_max_m=85.0,
        train_spacing_m=6.0,
        train_headings=4,
        db_spacing_m=16.0,
        db_headings=4,
        val_db_spacing_m=30.0,
        val_db_headings=4,
        n_test_queries=40,
        n_val_queries=20,
        n_landmarks=2,
        workers=1,
    ),
    "small": dict(
        extent_m=720.0,
        block_min_m=60.0,
        block_max_m=120.0,
        train_spacing_m=2.0,
        train_headings=4,
        db_spacing_m=8.0,
        db_headings=6,
        val_db_spacing_m=24.0,
        val_db_headings=6,
        n_test_queries=400,
        n_val_queries=200,
        n_landmarks=3,
        workers=0,
    ),
    "city": dict(
        extent_m=3600.0,
        block_min_m=60.0,
        block_max_m=120.0,
        train_spacing_m=1.0,
        train_headings=4,
        db_spacing_m=8.0,
        db_headings=6,
        val_db_spacing_m=24.0,
        val_db_headings=6,
        n_test_queries=1000,
        n_val_queries=500,
        n_landmarks=40,
        workers=0,
    ),
}


class SynthCityConfig(VprkitConfig):
    """Parameters of one synthcity. Lengths in metres, angles in degrees, images in pixels.

    Fields left ``None`` take the value of the ``size`` preset (see :data:`PRESETS`).
    """

    size: Literal["tiny", "small", "city"] = Field("small", description="size preset")
    seed: int = Field(0, description="everything (layout, poses, shifts) derives from it")

    # --- where the city lies (a real-looking UTM origin: zone 10S, San Francisco) ---
    zone_number: int = Field(10, ge=1, le=60)
    zone_letter: str = Field("S", min_length=1, max_length=1)
    origin_east: float = Field(549_000.0, description="UTM easting of the city's south-west corner")
    origin_north: float = Field(4_178_000.0, description="UTM northing of the city's south-west corner")

    # --- the city ---
    extent_m: Optional[float] = Field(None, gt=100, description="side of the square city")
    block_min_m: Optional[float] = Field(None, gt=20)
    block_max_m: Optional[float] = Field(None, gt=20)
    n_styles: int = Field(8, ge=2, le=32, description="facade palette size, reused city-wide")
    park_fraction: float = Field(0.08, ge=0, le=0.5, description="share of blocks that are parks")
    square_fraction: float = Field(0.05, ge=0, le=0.5, description="share of blocks that are squares")
    drop_street_fraction: float = Field(0.12, ge=0, le=0.5, description="interior street segments removed")
    n_landmarks: Optional[int] = Field(None, ge=0)

    # --- cameras and images ---
    image_size: int = Field(64, ge=16, le=512, description="square views, pixels per side")
    fov_deg: float = Field(90.0, gt=10, lt=170, description="horizontal field of view")
    camera_height_m: float = Field(2.5, gt=0.3, description="database/training camera height")
    max_view_distance_m: float = Field(250.0, gt=10)
    image_format: Literal["png", "jpg"] = Field("png", description="png is byte-deterministic")

    # --- splits ---
    train_spacing_m: Optional[float] = Field(None, gt=0, description="distance between training positions")
    train_headings: Optional[int] = Field(None, ge=1, le=24, description="street-aligned views per position")
    db_spacing_m: Optional[float] = Field(None, gt=0, description="test database position spacing")
    db_headings: Optional[int] = Field(None, ge=1, le=24)
    val_db_spacing_m: Optional[float] = Field(None, gt=0)
    val_db_headings: Optional[int] = Field(None, ge=1, le=24)
    n_test_queries: Optional[int] = Field(None, ge=1)
    n_val_queries: Optional[int] = Field(None, ge=1)
    query_mix: Literal["balanced", "lighting"] = Field(
        "balanced",
        description="test-query conditions: 'balanced' (each equally often) or 'lighting' (10 % clean, "
        "30 % each dusk, night, colour cast); validation queries stay balanced",
    )

    # --- execution ---
    workers: Optional[int] = Field(None, ge=0, description="render processes; 0 = one per CPU core")
    chunk_views: int = Field(256, ge=1, description="views rendered per vectorised batch")

    def resolved(self) -> ResolvedSynthCityConfig:
        """A copy with every ``None`` field replaced by the ``size`` preset's value."""
        data = self.model_dump()
        for key, value in PRESETS[self.size].items():
            if data.get(key) is None:
                data[key] = value
        out = ResolvedSynthCityConfig.model_validate(data)
        if out.block_max_m < out.block_min_m:
            from vprkit.errors import ConfigError

            raise ConfigError(f"synthcity: block_max_m={out.block_max_m} is smaller than block_min_m={out.block_min_m}")
        return out


class ResolvedSynthCityConfig(SynthCityConfig):
    """A :class:`SynthCityConfig` with every preset field filled in (what :meth:`~SynthCityConfig.resolved`
    returns, and what the generator works from): the same fields, none of them ``None``."""

    extent_m: float = Field(gt=100, description="side of the square city")
    block_min_m: float = Field(gt=20)
    block_max_m: float = Field(gt=20)
    n_landmarks: int = Field(ge=0)
    train_spacing_m: float = Field(gt=0, description="distance between training positions")
    train_headings: int = Field(ge=1, le=24, description="street-aligned views per position")
    db_spacing_m: float = Field(gt=0, description="test database position spacing")
    db_headings: int = Field(ge=1, le=24)
    val_db_spacing_m: float = Field(gt=0)
    val_db_headings: int = Field(ge=1, le=24)
    n_test_queries: int = Field(ge=1)
    n_val_queries: int = Field(ge=1)
    workers: int = Field(ge=0, description="render processes; 0 = one per CPU core")
