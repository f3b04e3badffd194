"""``vprkit cache``: what the cache holds (descriptor stores, bundles, datasets, parsed names), and
cleaning it."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from vprkit.cli.console import err, out, print_json
from vprkit.cli.options import JsonOpt

app = typer.Typer(
    help="The cache: descriptor stores, local features, map bundles, synthcity, parsed names ($VPRKIT_CACHE_DIR).",
    no_args_is_help=True,
)

KindOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--kind", help="Only these kinds: descriptors, local_features, bundles, datasets, image_lists (repeatable)."
    ),
]


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


@app.command("list")
def list_(kind: KindOpt = None, json: JsonOpt = False) -> None:
    """Every cache entry with its size, last use and what it holds."""
    import time

    from vprkit.data.cache import cache_dir
    from vprkit.pipeline.cache_admin import KINDS, list_cache

    kinds = kind or list(KINDS)
    entries = [e for e in list_cache() if e.kind in kinds]
    if json:
        print_json([e.to_dict() for e in entries])
        return
    table = Table(title=f"cache {cache_dir()}", show_header=True)
    for col in ("kind", "entry", "size", "last used", "holds"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for e in entries:
        table.add_row(
            e.kind,
            e.path.name,
            _mib(e.size_bytes),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used)),
            e.what,
        )
    out.print(table)
    err.print(f"[dim]{len(entries)} entries, {_mib(sum(e.size_bytes for e in entries))}[/]")


@app.command("clean")
def clean(
    older_than: Optional[str] = typer.Option(
        None, "--older-than", help="Remove entries unused for this long: 30d, 12h, 90m, 2w."
    ),
    all_: bool = typer.Option(False, "--all", help="Remove every entry of the kinds chosen."),
    kind: KindOpt = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be removed."),
    json: JsonOpt = False,
) -> None:
    """Remove unused cache entries (entries another command is using are skipped)."""
    from vprkit.errors import ConfigError
    from vprkit.pipeline.cache_admin import KINDS, clean_cache, parse_age

    if (older_than is None) == (not all_):
        raise ConfigError("give --older-than AGE (e.g. 30d) or --all")
    removed, skipped = clean_cache(
        older_than=parse_age(older_than) if older_than is not None else None, kinds=kind or list(KINDS), dry_run=dry_run
    )
    if json:
        print_json({"removed": [e.to_dict() for e in removed], "skipped": [e.to_dict() for e in skipped]})
        return
    verb = "would remove" if dry_run else "removed"
    for e in removed:
        err.print(f"{verb} {e.kind}/{e.path.name} ({_mib(e.size_bytes)}): {e.what}", highlight=False)
    for e in skipped:
        err.print(f"[yellow]skipped[/] {e.kind}/{e.path.name}: in use by another command", highlight=False)
    err.print(f"{verb} {len(removed)} entries, {_mib(sum(e.size_bytes for e in removed))}", highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="cache")
