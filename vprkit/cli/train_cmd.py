"""``vprkit train``: train a classifier or a retriever on a dataset (thin over :mod:`vprkit.training.api`)."""

from __future__ import annotations

from typing import Annotated

import typer

from vprkit.cli.console import err, out, print_json
from vprkit.cli.options import ConfigOpt, DatasetOpt, JsonOpt, OutOpt, SetOpt

app = typer.Typer(help="Train classifiers and retrievers (multi-GPU: launch with torchrun).", no_args_is_help=True)

ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the interrupted run in --out from its last checkpoint.")]
OverwriteOpt = Annotated[bool, typer.Option(
    "--overwrite", help="Replace the run or model in a non-empty --out (removed only once every check passed).")]
AllowNewDataOpt = Annotated[bool, typer.Option(
    "--allow-new-data", help="With --resume: continue on a training set other than the checkpoint's.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Log lines instead of a progress bar.")]


def _run(kind: str, name: str, dataset: str, config, set_, out_dir, resume: bool, overwrite: bool,
         allow_new_data: bool, quiet: bool, json: bool) -> None:
    from vprkit.training.api import train_model
    from vprkit.training.progress import RichReporter
    from vprkit.training.recipe import is_main_process

    if quiet or json:  # plain log lines on stderr (what a nohup log file wants)
        import logging

        from vprkit.training.progress import LogReporter

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        reporter = LogReporter(every=50)
    else:
        reporter = RichReporter(err)
    model = train_model(kind, name, dataset, out_dir, config_file=config, overrides=set_ or [], resume=resume,
                        overwrite=overwrite, allow_new_data=allow_new_data, reporter=reporter)
    if not is_main_process():
        return
    summary = {"kind": kind, "name": name, "out": str(out_dir), "fingerprint": model.fingerprint(),
               "best_epoch": model.training_summary.get("best_epoch"),
               "last": (model.training_summary.get("history") or [{}])[-1]}
    if json:
        print_json(summary)
    else:
        out.print(f"trained {kind} {name!r} → {out_dir} (best epoch {summary['best_epoch']}; last: {summary['last']})")


@app.command("classifier")
def classifier_cmd(name: str, dataset: DatasetOpt, out_dir: OutOpt, config: ConfigOpt = None, set_: SetOpt = None,
                   resume: ResumeOpt = False, overwrite: OverwriteOpt = False, allow_new_data: AllowNewDataOpt = False,
                   quiet: QuietOpt = False, json: JsonOpt = False) -> None:
    """Train classifier NAME (e.g. dnc) on the train split of --dataset; writes a model folder to --out
    (which must be empty or new unless --resume or --overwrite)."""
    _run("classifier", name, dataset, config, set_, out_dir, resume, overwrite, allow_new_data, quiet, json)


@app.command("retriever")
def retriever_cmd(name: str, dataset: DatasetOpt, out_dir: OutOpt, config: ConfigOpt = None, set_: SetOpt = None,
                  resume: ResumeOpt = False, overwrite: OverwriteOpt = False, allow_new_data: AllowNewDataOpt = False,
                  quiet: QuietOpt = False, json: JsonOpt = False) -> None:
    """Train retriever NAME (e.g. cosplace) on the train split of --dataset; writes a model folder to --out
    (which must be empty or new unless --resume or --overwrite)."""
    _run("retriever", name, dataset, config, set_, out_dir, resume, overwrite, allow_new_data, quiet, json)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="train")
