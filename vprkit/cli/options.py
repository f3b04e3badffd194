"""Option aliases shared by every command, so a flag means the same thing everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of a table.")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a config value: key=value (repeatable; dotted keys for nested).", metavar="KEY=VALUE"),
]
ConfigOpt = Annotated[
    Optional[Path], typer.Option("--config", "-c", help="YAML file with config values (before --set).", exists=False)
]
DatasetOpt = Annotated[
    str, typer.Option("--dataset", "-d", help="Dataset root folder, or a registered dataset name such as 'synthcity'.")
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (results are deterministic for a seed).")]
PngOpt = Annotated[Optional[Path], typer.Option("--png", help="Also write a picture to this PNG file.")]
