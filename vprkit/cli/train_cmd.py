"""``vprkit train``: train a classifier or a retriever on a dataset (thin over :mod:`vprkit.training.api`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from vprkit.cli.console import err, out, print_json
from vprkit.cli.options import ConfigOpt, DatasetOpt, JsonOpt, OutOpt, SetOpt
from vprkit.cli.progress import RichProgress

if TYPE_CHECKING:
    from vprkit.contracts import Progress

app = typer.Typer(help="Train classifiers and retrievers (multi-GPU: launch with torchrun).", no_args_is_help=True)

ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Continue the interrupted run in --out from its last checkpoint.")
]
OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite", help="Replace the run or model in a non-empty --out (removed only once every check passed)."
    ),
]
AllowNewDataOpt = Annotated[
    bool,
    typer.Option("--allow-new-data", help="With --resume: continue on a training set other than the checkpoint's."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Log lines instead of a progress bar.")]


@contextmanager
def _progress(logged: bool) -> Iterator[Progress]:
    """Bars with loss and images/s on stderr, or (``logged``) plain log lines on stderr (what a
    nohup log file wants)."""
    if not logged:
        with RichProgress(err) as bars:
            yield bars
        return
    import logging

    from vprkit.contracts import LogProgress

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    yield LogProgress("vprkit.training", every=50)


def _train_command(kind: str, example: str) -> Callable[..., None]:
    """``vprkit train KIND``: both kinds take the same options."""

    def command(
        name: str,
        dataset: DatasetOpt,
        out_dir: OutOpt,
        config: ConfigOpt = None,
        set_: SetOpt = None,
        resume: ResumeOpt = False,
        overwrite: OverwriteOpt = False,
        allow_new_data: AllowNewDataOpt = False,
        quiet: QuietOpt = False,
        json: JsonOpt = False,
    ) -> None:
        from vprkit.training.api import train_model
        from vprkit.training.recipe import is_main_process

        with _progress(logged=quiet or json) as progress:
            model = train_model(
                kind,
                name,
                dataset,
                out_dir,
                config_file=config,
                overrides=set_ or [],
                resume=resume,
                overwrite=overwrite,
                allow_new_data=allow_new_data,
                progress=progress,
            )
        if not is_main_process():
            return
        summary = {
            "kind": kind,
            "name": name,
            "out": str(out_dir),
            "fingerprint": model.fingerprint(),
            "best_epoch": model.training_summary.get("best_epoch"),
            "last": (model.training_summary.get("history") or [{}])[-1],
        }
        if json:
            print_json(summary)
        else:
            out.print(
                f"trained {kind} {name!r} → {out_dir} (best epoch {summary['best_epoch']}; last: {summary['last']})"
            )

    command.__name__ = command.__qualname__ = f"{kind}_cmd"
    command.__doc__ = (
        f"Train {kind} NAME (e.g. {example}) on the train split of --dataset; writes a model folder to "
        "--out\n    (which must be empty or new unless --resume or --overwrite)."
    )
    return command


app.command("classifier")(_train_command("classifier", "dnc"))
app.command("retriever")(_train_command("retriever", "cosplace"))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="train")
