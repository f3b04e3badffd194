"""``vprkit run``: evaluate a classify → retrieve pipeline (the main job)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from vprkit.cli.console import err, out, print_json
from vprkit.cli.options import (
    BundleOpt,
    ClassifierOpt,
    ClassifierSetOpt,
    DatasetOpt,
    IndexOpt,
    JsonOpt,
    RetrieverOpt,
    SetOpt,
    SplitOpt,
    TopnOpt,
)
from vprkit.cli.progress import step_progress


def run(
    classifier: ClassifierOpt = "dnc",
    retriever: RetrieverOpt = "cosplace",
    topn: TopnOpt = 100,
    index: IndexOpt = "flat",
    index_set: SetOpt = None,
    classifier_set: ClassifierSetOpt = None,
    dataset: DatasetOpt = "synthcity",
    split: SplitOpt = "test",
    bundle: BundleOpt = None,
    k: int = typer.Option(20, "--k", help="Places returned per query (LR@N needs N ≤ k)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Batch size of the throughput run."),
    json: JsonOpt = False,
) -> None:
    """Evaluate a pipeline: LR@1/5/10/20 and per-stage latency (synthcity + shipped checkpoints by default)."""
    from vprkit.config import parse_overrides
    from vprkit.pipeline.run import run_pipeline

    with step_progress(enabled=not json) as progress:
        report = run_pipeline(classifier, retriever, topn, index, parse_overrides(index_set or []), dataset,
                              split, bundle, k, batch_size, progress,
                              classifier_settings=parse_overrides(classifier_set or []))
    report.pop("_localization", None)
    if json:
        print_json(report)
    else:
        out.print(results_table(report))
        err.print(f"[dim]bundle: {report['config']['bundle']}[/]")


def results_table(report: dict[str, Any]) -> Table:
    """The report as a rich table: accuracy, latency per stage, cost."""
    cfg = report["config"]
    name = " + ".join(x for x in (cfg["classifier"], cfg["retriever"]) if x != "none")
    if cfg.get("topn"):
        name += f" (top-{cfg['topn']})"
    table = Table(title=f"{name} on {cfg['dataset']} [{cfg['split']}]", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for n, v in report["lr"].items():
        table.add_row(f"LR@{n}", f"{v:.1f} %")
    for stage, ms in report["latency_ms"].items():
        table.add_row(f"latency {stage}", f"{ms:.3f} ms")
    table.add_row("throughput (batched)", f"{report['throughput_qps']:.0f} queries/s")
    table.add_row("candidates per query", f"{report['candidates']:.0f} of {report['database_size']}")
    if "positives" in report:
        table.add_row("queries with a positive among candidates",
                      f"{report['positives']['positives_in_candidates_pct']:.1f} % "
                      f"(in the database: {report['positives']['queries_with_positives_pct']:.1f} %)")
    table.add_row("queries", str(report["queries"]))
    for part, nbytes in report["memory_bytes"].items():
        table.add_row(f"memory {part}", f"{nbytes / 2**20:.1f} MiB")
    if "confidence" in report:
        c = report["confidence"]
        table.add_row("confidence std (median)", f"{c['median_std_m']:.1f} m")
    return table


def register(app: typer.Typer) -> None:
    app.command("run")(run)
