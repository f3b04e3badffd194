"""Config of the ``hub`` retriever: a ``torch.hub`` entry point wrapped as a vprkit retriever
(docs/methods/hub.md). Import-light: pydantic and vprkit's config classes only.

The config is the model card's technical half: where the code came from (``source``, ``ref``,
``commit``), its checksum (``code_sha256``, and one per nested repository the entry loads), how
the network is built (``entry``, ``kwargs``, ``load_kwargs``, ``output``) and the input contract
(``input_size`` or ``test_transform``'s resize rule, ``size_multiple``, mean/std). All of it is in
the model fingerprint, so changing any of it changes what a bundle was built with.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, field_validator, model_validator

from vprkit.config import VprkitConfig
from vprkit.models.transform_config import TestTransform

__all__ = ["DEFAULT_PROBE_SIDE", "HubDependency", "HubRetrieverConfig", "nearest_multiple"]

#: Side (pixels) of the probe image when the input contract sets no size: the ImageNet crop.
DEFAULT_PROBE_SIDE = 224


class HubDependency(VprkitConfig):
    """A GitHub repository whose code the entry loads itself (a nested ``torch.hub.load``, e.g.
    ``facebookresearch/dinov2``), cached in the model folder under ``hub-deps/``."""

    repo: str = Field(description="GitHub 'owner/name' as the entry names it.")
    ref: str | None = Field(
        None, description="The ref used: the pinned commit, or the branch/tag under --trust-latest."
    )
    commit: str | None = Field(None, description="40-hex commit when pinned, else None.")
    code_sha256: str = Field(description="SHA-256 of its cached code tree.")


class HubRetrieverConfig(VprkitConfig):
    """A ``hubconf.py`` entry point → descriptors ``(B, D)``, L2-normalised by vprkit."""

    source: str = Field(
        "",
        description="GitHub 'owner/name', or the local folder holding hubconf.py (create_retriever builds from it).",
    )
    ref: str | None = Field(None, description="GitHub: the ref as given (a full 40-hex commit when pinned).")
    commit: str | None = Field(
        None, description="The code's git commit (40 hex): GitHub's pinned ref, or a local git folder's HEAD."
    )
    entry: str = Field("", description="The hubconf.py entry point (a function returning a torch module).")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the entry (JSON values).")
    load_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Put over kwargs when vprkit builds the network offline (pretrained=False is added "
        "when the entry takes 'pretrained'), e.g. weights=null.",
    )
    code_sha256: str = Field("", description="SHA-256 of the code tree (docs/methods/hub.md); '' = computed.")
    dependencies: dict[str, HubDependency] = Field(
        default_factory=dict, description="Nested GitHub repositories the entry loads, by lower-case 'owner/name'."
    )
    output: int | str | None = Field(
        None,
        description="Which output is the descriptor: None = the tensor (or the first of a tuple/list), "
        "an index into a tuple/list, or a dict key.",
    )
    descriptor_dim: int = Field(0, ge=0, description="Descriptor dimension D; 0 = measured by one forward pass.")
    input_size: tuple[int, int] | None = Field(
        None, description="(H, W): every image resized to exactly this size (needs test_transform.resize 'none')."
    )
    size_multiple: int = Field(
        1, ge=1, description="Each image side resized to the nearest multiple of this (DINOv2: 14), after the resize."
    )
    test_transform: TestTransform = Field(
        default_factory=TestTransform,
        description="Resize rule and normalisation (default: no resize, ImageNet mean/std).",
    )

    @field_validator("kwargs", "load_kwargs")
    @classmethod
    def _json_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        # the kwargs are saved in config.yaml and hashed into the fingerprint: plain data only
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"entry arguments must be JSON values (numbers, strings, lists...): {exc}") from None
        bad = [k for k in value if not k.isidentifier()]
        if bad:
            raise ValueError(f"entry argument names must be Python identifiers, not {bad}")
        return value

    @field_validator("commit")
    @classmethod
    def _full_commit(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 40 or any(c not in "0123456789abcdef" for c in value)):
            raise ValueError(f"commit {value!r} is not a full 40-hex git commit SHA (lower case)")
        return value

    @model_validator(mode="after")
    def _one_size_rule(self) -> HubRetrieverConfig:
        if self.input_size is not None:
            h, w = self.input_size
            if min(h, w) < 8:
                raise ValueError(f"input_size {h}×{w}: each side must be at least 8 pixels")
            if self.test_transform.resize != "none":
                raise ValueError("input_size fixes the size: test_transform.resize must be 'none'")
            if h % self.size_multiple or w % self.size_multiple:
                raise ValueError(f"input_size {h}×{w} is not a multiple of size_multiple={self.size_multiple}")
        return self

    def probe_size(self) -> tuple[int, int]:
        """``(H, W)`` of the image the descriptor dimension is measured on: ``input_size``, else
        the resize rule's side (or :data:`DEFAULT_PROBE_SIDE`), rounded to ``size_multiple``."""
        if self.input_size is not None:
            return self.input_size
        side = self.test_transform.size if self.test_transform.resize != "none" else DEFAULT_PROBE_SIDE
        assert side is not None  # TestTransform requires a size with a resize rule
        return (nearest_multiple(side, self.size_multiple),) * 2

    def describe_input(self) -> str:
        """One line for cards: ``"322×322, ImageNet normalisation"``, ``"no resize, sides to multiples of 14, ..."``."""
        rule = self.test_transform.describe()
        if self.input_size is not None:
            rule = f"{self.input_size[0]}×{self.input_size[1]} (H×W)," + rule.split(",", 1)[1]
        if self.size_multiple > 1 and self.input_size is None:
            head, _, tail = rule.partition(",")
            rule = f"{head}, sides to the nearest multiple of {self.size_multiple},{tail}"
        return rule


def nearest_multiple(side: int, multiple: int) -> int:
    """``side`` rounded to the nearest multiple of ``multiple`` (at least one multiple)."""
    return max(multiple, round(side / multiple) * multiple)
