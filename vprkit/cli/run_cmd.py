"""``vprkit run``: evaluate a classify → retrieve pipeline (the main job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from vprkit.cli.console import err, out, print_json
from vprkit.cli.options import (
    CLASSIFIER_HELP,
    DATASET_HELP,
    INDEX_HELP,
    RETRIEVER_HELP,
    SPLIT_HELP,
    BundleOpt,
    ClassifierSetOpt,
    DeviceOpt,
    JsonOpt,
    MmapOpt,
    PrecisionOpt,
    QueriesOpt,
    RerankerOpt,
    RerankerSetOpt,
    RerankKOpt,
    ResolutionOpt,
    SetOpt,
    ThreadsOpt,
    TopnOpt,
    VerifyContentOpt,
    WorkersOpt,
    flags_for_fields,
)
from vprkit.cli.progress import step_progress


def run(
    classifier: Optional[str] = typer.Option(None, "--classifier", help=CLASSIFIER_HELP + " Default: dnc."),
    retriever: Optional[str] = typer.Option(None, "--retriever", help=RETRIEVER_HELP + " Default: cosplace."),
    topn: TopnOpt = 100,
    index: Optional[str] = typer.Option(None, "--index", help=INDEX_HELP + " Default: flat."),
    index_set: SetOpt = None,
    classifier_set: ClassifierSetOpt = None,
    reranker: RerankerOpt = None,
    rerank_k: RerankKOpt = 20,
    reranker_set: RerankerSetOpt = None,
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help=DATASET_HELP + " Default: synthcity."),
    split: Optional[str] = typer.Option(None, "--split", help=SPLIT_HELP + " Default: test."),
    queries: QueriesOpt = None,
    bundle: BundleOpt = None,
    k: int = typer.Option(20, "--k", help="Places returned per query (LR@N needs N ≤ k)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Batch size of the throughput run."),
    predictions: Optional[Path] = typer.Option(
        None, "--predictions", help="Write every query's top-K places, top-N cells and hits to this .csv or .json file."
    ),
    verify_content: VerifyContentOpt = False,
    mmap: MmapOpt = False,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    workers: WorkersOpt = 0,
    resolution: ResolutionOpt = None,
    untrained: bool = typer.Option(
        False,
        "--untrained",
        help="Baseline: the same models with a seeded random initialisation instead of their trained weights.",
    ),
    json: JsonOpt = False,
) -> None:
    """Evaluate a pipeline on each query set: LR@1/5/10/20 and per-stage latency (synthcity + shipped checkpoints by default).

    Three stages, any of them `none`: --classifier (top-N cells) → --retriever (k-NN among them) →
    --reranker (geometric verification of the first --rerank-k places)."""
    from vprkit.config import parse_overrides
    from vprkit.pipeline.run import RunConfig, run_pipeline

    config = RunConfig(
        classifier=classifier,
        retriever=retriever,
        topn=topn,
        index=index,
        index_config=parse_overrides(index_set or []),
        dataset=dataset,
        split=split,
        queries=queries,
        bundle=bundle,
        k=k,
        batch_size=batch_size,
        classifier_settings=parse_overrides(classifier_set or []),
        predictions=predictions,
        verify_content=verify_content,
        mmap=mmap,
        device=device,
        precision=precision,
        threads=threads,
        workers=workers,
        resolution=resolution,
        untrained=untrained,
        reranker=reranker,
        rerank_k=rerank_k,
        reranker_config=parse_overrides(reranker_set or []),
    )
    with flags_for_fields(), step_progress(enabled=not json) as progress:
        reports = [report.to_dict() for report in run_pipeline(config, progress)]
    if json:
        print_json(reports)
        return
    out.print(accuracy_table(reports))
    out.print(cost_table(reports))
    for report in reports:
        for line in _notes(report, several=len(reports) > 1):
            err.print(f"[dim]{line}[/]", highlight=False)
    err.print(f"[dim]bundle: {reports[0]['config']['bundle']}[/]")
    err.print(f"[dim]ran on: {runtime_line(reports[0]['runtime'])}[/]", highlight=False)
    if predictions is not None:
        err.print(f"[dim]predictions: {predictions}[/]")


def runtime_line(rt: dict[str, Any]) -> str:
    """``cpu (AMD EPYC), bfloat16, 2 threads + 0 workers of 2 cores, load 0.3``."""
    load = rt.get("load_average_1m")
    return (
        f"{rt['device']} ({rt['device_name']}), {rt['precision']}, {rt['threads']} threads + "
        f"{rt['workers']} workers of {rt['cores']} cores" + (f", load {load:.1f}" if load is not None else "")
    )


def _title(cfg: dict[str, Any]) -> str:
    name = " + ".join(x for x in (cfg["classifier"], cfg["retriever"]) if x != "none")
    if cfg.get("topn"):
        name += f" (top-{cfg['topn']})"
    if cfg.get("reranker"):
        name += f" → {cfg['reranker']} (re-rank {cfg['rerank_k']})"
    return escape(f"{name} on {cfg['dataset']} [{cfg['split']}]")


def _short(query_set: str) -> str:
    """``queries_v1`` → ``v1`` in tables (``queries`` stays)."""
    return query_set.removeprefix("queries_") or query_set


def accuracy_table(reports: list[dict[str, Any]]) -> Table:
    """One row per query set: queries, LR@N, and (mixed pipelines) the share of queries with a
    positive among the candidates of their top-N cells."""
    table = Table(title=_title(reports[0]["config"]), show_header=True)
    table.add_column("queries of")
    table.add_column("queries", justify="right")
    for n in reports[0]["lr"]:
        table.add_column(f"LR@{n}", justify="right")
    mixed = any("positives" in r for r in reports)
    if mixed:
        table.add_column("pos. in cand.", justify="right")
    for r in reports:
        published = r.get("protocol", {}).get("published_queries")
        count = f"{r['queries']}" + (f"/{published}" if published and published != r["queries"] else "")
        row = [_short(r["query_set"]), count, *(f"{v:.1f}" for v in r["lr"].values())]
        if mixed:
            row.append(f"{r['positives']['positives_in_candidates_pct']:.1f} %" if "positives" in r else "-")
        table.add_row(*row)
    return table


def cost_table(reports: list[dict[str, Any]]) -> Table:
    """One row per query set: per-stage latency at batch 1 (ms/query), batched throughput, candidates."""
    table = Table(title="latency per query (ms, batch 1)", show_header=True)
    table.add_column("queries of")
    stages = list(reports[0]["latency_ms"])
    for stage in stages:
        table.add_column(stage, justify="right")
    table.add_column("q/s", justify="right")
    retrieval = reports[0]["database_size"] > 0
    if retrieval:
        table.add_column("searched", justify="right")
    for r in reports:
        row = [_short(r["query_set"]), *(f"{r['latency_ms'][s]:.3f}" for s in stages), f"{r['throughput_qps']:.0f}"]
        if retrieval:
            row.append(f"{r['candidates']:.0f}/{r['database_size']}")
        table.add_row(*row)
    return table


def _notes(report: dict[str, Any], several: bool) -> list[str]:
    where = f"{report['query_set']}: " if several else ""
    lines = []
    memory = ", ".join(f"{part} {nbytes / 2**20:.1f} MiB" for part, nbytes in report["memory_bytes"].items())
    if memory and not several:
        lines.append(f"memory: {memory}")
    if "positives" in report:
        lines.append(
            f"{where}queries with a positive in the database: {report['positives']['queries_with_positives_pct']:.1f} %"
        )
    if "chance_lr" in report:
        chance = report["chance_lr"]
        lines.append(
            f"{where}chance (N random database images): LR@1 {chance['1']:.2f} %, LR@20 {chance.get('20', float('nan')):.2f} %"
        )
    if "rerank" in report:
        rr = report["rerank"]
        lines.append(
            f"{where}re-ranking: median {rr['median_query_keypoints']} keypoints per query, "
            f"{rr.get('median_database_keypoints')} per database image; median top-1 inliers "
            f"{rr['median_top1_inliers']}; top-1 changed for {rr['top1_changed_pct']} % of queries"
        )
    if report.get("config", {}).get("untrained"):
        lines.append(f"{where}untrained baseline: the models' weights are a seeded random initialisation")
    if "confidence" in report:
        lines.append(f"{where}confidence std (median): {report['confidence']['median_std_m']:.1f} m")
    published = report.get("protocol", {}).get("published_queries")
    if published and published != report["queries"]:
        lines.append(f"{where}{report['queries']} queries, the benchmark publishes {published}: check the dataset")
    return lines


def register(app: typer.Typer) -> None:
    app.command("run")(run)
