"""The main job as a library function: dataset → map bundle (cached) → evaluation report.

``vprkit run`` is a thin layer over :func:`run_pipeline`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vprkit.config import apply_inference_settings, inference_settings
from vprkit.errors import ConfigError
from vprkit.fileio import fingerprint

__all__ = ["NONE", "dataset_root", "prepare_bundle", "resolve_stage_model", "run_pipeline"]

NONE = "none"


def dataset_root(dataset: str) -> tuple[Path, bool]:
    """``(root, is_default)``: ``synthcity`` means the embedded default, generated on first use."""
    from vprkit.data.resolve import resolve_dataset

    return resolve_dataset(dataset)


def resolve_stage_model(kind: str, choice: str, is_default_dataset: bool) -> Any:
    from vprkit.pipeline.models import resolve_model

    if choice == NONE:
        return None
    if not Path(choice).is_dir() and not is_default_dataset:
        raise ConfigError(
            f"the {kind} {choice!r} checkpoint shipped with vprkit is trained on synthcity; for another "
            f"dataset pass the folder of a {kind} trained on it (`vprkit train {kind} {choice} ...`)"
        )
    return resolve_model(kind, choice)


def prepare_bundle(
    root: Path,
    split: str,
    classifier: Any,
    retriever: Any,
    index: str = "flat",
    index_config: dict[str, Any] | None = None,
    bundle_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Load ``bundle_dir`` when it matches these models and database, else build it there (or in
    the cache, keyed by content) and return it."""
    from vprkit.data.cache import cache_dir
    from vprkit.data.standard import load_split
    from vprkit.pipeline.bundle import MANIFEST, BundleError, MapBundle, build_bundle

    database = load_split(root, f"{split}/database") if retriever is not None else None
    key = fingerprint(
        classifier.fingerprint() if classifier is not None else None,
        retriever.fingerprint() if retriever is not None else None,
        database.fingerprint() if database is not None else None,
        str(Path(root).resolve()), index, index_config or {},
    )
    target = Path(bundle_dir) if bundle_dir else cache_dir() / "bundles" / key[:20]
    if (target / MANIFEST).is_file():
        try:
            bundle = MapBundle.load(target)
            if bundle.manifest.get("key") == key:
                return bundle
        except BundleError:
            pass  # stale or damaged: rebuilt below
    total = len(database) if database is not None else 0
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress:
            progress(done[0], total)

    bundle = build_bundle(target, database, classifier=classifier, retriever=retriever, index=index,
                          index_config=index_config, progress=tick, dataset=str(root), extra_manifest={"key": key})
    return bundle


def run_pipeline(
    classifier: str = "dnc",
    retriever: str = "cosplace",
    topn: int = 100,
    index: str = "flat",
    index_config: dict[str, Any] | None = None,
    dataset: str = "synthcity",
    split: str = "test",
    bundle: str | Path | None = None,
    k: int = 20,
    batch_size: int = 32,
    progress: Callable[[str, int, int], None] | None = None,
    classifier_settings: dict[str, Any] | None = None,
    queries: Sequence[str] | None = None,
    predictions: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Evaluate one pipeline on the query sets of one dataset split against one bundle.

    Returns one report per query set (the keys of :func:`evaluate`, plus ``query_set``, the
    benchmark ``protocol`` when the folder is a registered dataset, and the resolved ``config``).

    ``queries``: query set names of ``split`` (``["queries_v1", "v2"]``), ``None`` or ``["all"]``
    for every set; unknown names are refused before anything is built. ``classifier_settings``:
    inference-only fields of the classifier's config to set after loading
    (:func:`vprkit.config.apply_inference_settings`), e.g. ``{"score_precision": "auto"}``.
    ``predictions``: write every query's top-K places there (``.csv`` or ``.json``,
    :mod:`vprkit.pipeline.predictions`).

    ``classifier`` / ``retriever``: a registered name (the checkpoint the plugin ships for
    synthcity), a model folder, or ``"none"``. ``bundle``: an existing map bundle to use (its
    models win), or a folder to build one in.
    """
    from vprkit.data.dataset_protocol import dataset_spec_of
    from vprkit.data.standard import load_split, resolve_query_sets
    from vprkit.pipeline.bundle import MANIFEST, MapBundle
    from vprkit.pipeline.evaluate import evaluate
    from vprkit.pipeline.localizer import Localizer
    from vprkit.pipeline.predictions import prediction_records, write_predictions

    if classifier == NONE and retriever == NONE:
        raise ConfigError("--classifier none and --retriever none leave nothing to run")
    if predictions is not None and Path(predictions).suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"--predictions {str(predictions)!r}: give a .csv or .json file name")
    root, is_default = dataset_root(dataset)
    spec = dataset_spec_of(root)
    query_sets = resolve_query_sets(root, split, queries, spec.query_sets(split) if spec else ())  # before any extraction
    radius = spec.protocol.radius_m if spec is not None else 25.0
    step = (lambda name: (lambda done, total: progress(name, done, total))) if progress else (lambda name: None)
    if bundle is not None and (Path(bundle) / MANIFEST).is_file():
        loaded = MapBundle.load(bundle)
    else:
        loaded = prepare_bundle(root, split, resolve_stage_model("classifier", classifier, is_default),
                                resolve_stage_model("retriever", retriever, is_default), index, index_config,
                                Path(bundle) if bundle else None, step("database descriptors"))
    localizer = Localizer(loaded, topn=topn, k=k, use_classifier=classifier != NONE, use_retriever=retriever != NONE)
    if classifier_settings:
        if localizer.classifier is None:
            raise ConfigError("--classifier-set needs a classifier (this run has --classifier none)")
        apply_inference_settings(localizer.classifier.config, classifier_settings)
    config = _run_config(loaded, localizer, k, root, split)
    reports, records = [], []
    for name in query_sets:
        images = load_split(root, f"{split}/{name}")
        tick = step(f"queries {name}" if len(query_sets) > 1 else "queries")
        counter = [0]

        def per_query(n: int, total: int = len(images)) -> None:
            counter[0] += n
            if tick:
                tick(counter[0], total)

        report = evaluate(localizer, images, batch_size=batch_size, radius=radius, progress=per_query)
        localization = report.pop("_localization")
        if predictions is not None:
            records += prediction_records(localization, images, loaded, radius=radius, query_set=name)
        published = spec.expected_counts.get(f"{split}/{name}") if spec is not None else None
        reports.append({"query_set": name, **report, "config": config,
                        "protocol": {"dataset": spec.name if spec is not None else None, "radius_m": radius,
                                     "published_queries": published}})
    if predictions is not None:
        write_predictions(predictions, records)
    return reports


def _run_config(loaded: Any, localizer: Any, k: int, root: Path, split: str) -> dict[str, Any]:
    """The resolved pipeline of a run, as the report records it."""
    return {
        "classifier": loaded.manifest.get("classifier", {}).get("name") if localizer.classifier is not None else NONE,
        "retriever": loaded.manifest.get("retriever", {}).get("name") if localizer.retriever is not None else NONE,
        "topn": localizer.topn if localizer.mixed else None,
        "k": k,
        "index": loaded.index_name if localizer.retriever is not None else None,
        "index_config": loaded.manifest.get("index", {}).get("config"),
        "dataset": str(root),
        "split": split,
        "bundle": str(loaded.root),
        "coord_mode": getattr(getattr(localizer.classifier, "partition", None), "coord_mode", None),
        "classifier_settings": ({name: getattr(localizer.classifier.config, name)
                                 for name in inference_settings(localizer.classifier.config)}
                                if localizer.classifier is not None else None),
    }
