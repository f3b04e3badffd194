"""Evaluation of classifiers, retrievers and pipelines on one metric (docs/pipelines.md)."""

from vprkit.evaluation.metrics import DEFAULT_NS, localization_recall, recall_at_n
from vprkit.evaluation.timing import StageTimer

__all__ = ["DEFAULT_NS", "StageTimer", "localization_recall", "recall_at_n"]
