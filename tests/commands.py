"""Argument lists of the ``vprkit`` commands the CLI tests run most (``import commands``: tests/ is
on ``sys.path`` through tests/conftest.py). Models are model folders or ``"none"``."""

from __future__ import annotations

from pathlib import Path


def models_args(classifier: str | Path, retriever: str | Path, dataset: str | Path) -> list[str]:
    """``--classifier C --retriever R --dataset D``: the pipeline of ``run`` and ``index build``."""
    return ["--classifier", str(classifier), "--retriever", str(retriever), "--dataset", str(dataset)]


def run_args(classifier: str | Path, retriever: str | Path, dataset: str | Path, *extra: str) -> list[str]:
    """``vprkit run`` over ``dataset`` with two stages (or one, the other ``"none"``)."""
    return ["run", *models_args(classifier, retriever, dataset), *extra]


def index_build_args(out: str | Path, classifier: str | Path, retriever: str | Path, dataset: str | Path) -> list[str]:
    """``vprkit index build --out OUT`` of ``dataset``'s database."""
    return ["index", "build", "--out", str(out), *models_args(classifier, retriever, dataset)]
