"""Query counts per condition of an embedded city and the binomial noise of a recall measured on them."""

from __future__ import annotations

import json
import math


def query_counts(dataset: str) -> dict[str, int]:
    """Test queries per condition of an embedded city (its ``synthcity.json``)."""
    from vprkit.data.resolve import resolve_dataset

    root, _ = resolve_dataset(dataset)
    summary = json.loads((root / "synthcity.json").read_text(encoding="utf-8"))
    return summary["queries_per_condition"]["test/queries"]


def noise_points(p_percent: float, n: int) -> float:
    """One binomial standard error of a recall of ``p_percent`` on ``n`` queries, in points."""
    p = min(max(p_percent / 100, 0.05), 0.95)  # a floor, so 0 % does not claim zero noise
    return 100 * math.sqrt(p * (1 - p) / max(n, 1))
