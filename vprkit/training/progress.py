"""Progress reporting of the training engine: logging by default, a rich bar for the CLI."""

from __future__ import annotations

import logging
from typing import Any, Protocol

__all__ = ["LogReporter", "Reporter", "RichReporter"]

log = logging.getLogger("vprkit.training")


class Reporter(Protocol):
    def epoch_start(self, epoch: int, group: int, total: int, done: int) -> None: ...
    def step(self, iteration: int, loss: float, images_per_s: float) -> None: ...
    def epoch_end(self, record: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class LogReporter:
    """Log every ``every`` iterations and each epoch summary (the library default: no printing)."""

    def __init__(self, every: int = 100):
        self.every = every

    def epoch_start(self, epoch: int, group: int, total: int, done: int) -> None:
        log.info("epoch %d (group %d): iterations %d..%d", epoch, group, done, total)

    def step(self, iteration: int, loss: float, images_per_s: float) -> None:
        if (iteration + 1) % self.every == 0:
            log.info("  it %d loss %.4f %.0f img/s", iteration + 1, loss, images_per_s)

    def epoch_end(self, record: dict[str, Any]) -> None:
        log.info("epoch %s done: %s", record.get("epoch"), record)

    def close(self) -> None:
        pass


class RichReporter:
    """A rich progress bar (loss, images/s) per epoch on the given console (stderr in the CLI)."""

    def __init__(self, console):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[ips]:.0f} img/s"),
            TimeRemainingColumn(), console=console, transient=False,
        )
        self.task = None
        self.progress.start()

    def epoch_start(self, epoch: int, group: int, total: int, done: int) -> None:
        self.task = self.progress.add_task(f"epoch {epoch} g{group}", total=total, completed=done, loss=float("nan"), ips=0.0)

    def step(self, iteration: int, loss: float, images_per_s: float) -> None:
        self.progress.update(self.task, completed=iteration + 1, loss=loss, ips=images_per_s)

    def epoch_end(self, record: dict[str, Any]) -> None:
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items() if k != "epoch"}
        self.console.print(f"epoch {record['epoch']}: {shown}", highlight=False)

    def close(self) -> None:
        self.progress.stop()
