"""Pipelines: map bundles, the classify → retrieve localizer, and their evaluation."""

from vprkit.pipeline.bundle import BundleError, MapBundle, build_bundle
from vprkit.pipeline.evaluate import evaluate
from vprkit.pipeline.localizer import Localization, Localizer

__all__ = ["BundleError", "Localization", "Localizer", "MapBundle", "build_bundle", "evaluate"]
