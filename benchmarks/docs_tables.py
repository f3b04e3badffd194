"""Writing measured tables into docs pages, between ``<!-- NAME:start -->`` / ``<!-- NAME:end -->`` markers."""

from __future__ import annotations

from pathlib import Path


def table_head(header: str) -> list[str]:
    """The first two lines of a Markdown table: ``header`` (``"| a | b |"``) and the rule under it."""
    return [header, "|---" * (header.count(" | ") + 1) + "|"]


def write_between_markers(page: Path, blocks: dict[str, list[str]]) -> None:
    """Replace what stands between each ``NAME``'s markers in ``page`` with its lines."""
    text = page.read_text(encoding="utf-8")
    for name, lines in blocks.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start not in text or end not in text:
            raise SystemExit(f"{page} has no {start} … {end} markers")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + start + "\n" + "\n".join(lines) + "\n" + end + tail
    page.write_text(text, encoding="utf-8")
