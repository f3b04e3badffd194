"""Per-stage wall-clock timing of a pipeline (extraction, classification, gathering, kNN)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class StageTimer:
    """Accumulates seconds per named stage; ``per_query_ms`` divides by the number of queries."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def per_query_ms(self, queries: int, stages: tuple[str, ...] | None = None) -> dict[str, float]:
        names = stages or tuple(self.seconds)
        out = {name: 1000.0 * self.seconds.get(name, 0.0) / max(queries, 1) for name in names}
        out["total"] = sum(out.values())
        return out
