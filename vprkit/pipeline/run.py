"""The main job as a library function: dataset → map bundle (cached) → evaluation report.

``vprkit run`` is a thin layer over :func:`run_pipeline`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vprkit.config import apply_inference_settings, inference_settings
from vprkit.errors import ConfigError, VprkitError
from vprkit.fileio import fingerprint

__all__ = ["NONE", "bundle_conflicts", "check_stage_choice", "dataset_root", "prepare_bundle", "resolve_stage_model",
           "run_pipeline"]

DEFAULTS = {"classifier": "dnc", "retriever": "cosplace", "index": "flat", "dataset": "synthcity", "split": "test"}

NONE = "none"


def dataset_root(dataset: str, progress: Callable[[int, int], None] | None = None) -> tuple[Path, bool]:
    """``(root, is_default)``: ``synthcity`` means the embedded default, generated on first use
    (``progress(done, total)`` views)."""
    from vprkit.data.resolve import resolve_dataset

    return resolve_dataset(dataset, progress)


def check_stage_choice(kind: str, choice: str) -> None:
    """Refuse a ``--classifier`` / ``--retriever`` / ``--index`` value that can never work, before
    any data is generated or read: a file (weights, not a model folder) or an unknown name."""
    from vprkit.registry import get_spec

    if choice == NONE and kind != "index":
        return
    path = Path(choice)
    if path.is_file():
        raise ConfigError(f"--{kind} {choice!r} is a file, not a model folder; import released weights with "
                          f"`vprkit models import METHOD {choice} --out DIR` and pass DIR")
    if not path.is_dir():
        get_spec(kind, choice)  # an unknown name is refused with the closest names


def resolve_stage_model(kind: str, choice: str, is_default_dataset: bool) -> Any:
    """The model of one stage: ``none``, a model folder, or the checkpoint a registered method
    ships for synthcity (refused for any other dataset)."""
    from vprkit.pipeline.models import resolve_model

    if choice == NONE:
        return None
    check_stage_choice(kind, choice)
    if not Path(choice).is_dir() and not is_default_dataset:
        raise ConfigError(
            f"the {kind} {choice!r} checkpoint shipped with vprkit is trained on synthcity; for another "
            f"dataset pass the folder of a {kind} trained on it (`vprkit train {kind} {choice} ...`)"
        )
    return resolve_model(kind, choice)


def bundle_conflicts(bundle: Any, *, classifier: str | None, retriever: str | None, index: str | None,
                     index_config: dict[str, Any] | None, dataset: Path | None, split: str | None) -> list[str]:
    """What the options given ask for that the bundle does not hold (``None`` = not given;
    ``none`` for a stage only switches it off)."""
    from vprkit.pipeline.models import load_model

    m = bundle.manifest
    found = []
    for kind, choice in (("classifier", classifier), ("retriever", retriever)):
        if choice is None or choice == NONE:
            continue
        entry = m.get(kind)
        if not entry:
            found.append(f"--{kind} {choice}: the bundle has no {kind}")
        elif Path(choice).is_dir():
            if load_model(choice, kind).fingerprint() != entry["fingerprint"]:
                found.append(f"--{kind} {choice}: not the {kind} the bundle holds ({entry['name']}, "
                             f"fingerprint {entry['fingerprint'][:12]})")
        elif choice != entry["name"]:
            found.append(f"--{kind} {choice}: the bundle holds {kind} {entry['name']!r}")
    held = m.get("index", {})
    if index is not None and index != held.get("name"):
        found.append(f"--index {index}: the bundle was built with index {held.get('name')!r}")
    if index_config and index_config != held.get("config"):
        found.append(f"--set {index_config}: the bundle's index config is {held.get('config')}")
    if split is not None and m.get("split") not in (None, split):
        found.append(f"--split {split}: the bundle's database is the {m['split']!r} split")
    if dataset is not None and m.get("dataset") and Path(m["dataset"]).resolve() != dataset.resolve():
        found.append(f"--dataset {dataset}: the bundle's database is from {m['dataset']}")
    return found


def prepare_bundle(
    root: Path,
    split: str,
    classifier: Any,
    retriever: Any,
    index: str = "flat",
    index_config: dict[str, Any] | None = None,
    bundle_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    sources: Sequence[Path] = (),
    verify_content: bool = False,
) -> Any:
    """Load ``bundle_dir`` when it matches these models and database, else build it there (or in
    the cache, keyed by content) and return it.

    The key covers content: the models' fingerprints, and every database image's name, size and
    modification time (``verify_content``: its bytes), with a listing file checked against its
    folder. Builders of one target are serialised by a lock: a second command waits, then reuses
    the first one's bundle. A bundle that does not load (damaged, stale, from an older vprkit) is
    rebuilt; ``sources`` (the model folders given) may not lie inside the target.
    """
    from vprkit.data.cache import cache_dir
    from vprkit.data.standard import load_split
    from vprkit.pipeline.bundle import (
        MANIFEST,
        MapBundle,
        build_bundle,
        bundle_lock,
        check_not_inside,
    )

    database = load_split(root, f"{split}/database", verify_listing=True) if retriever is not None else None
    key = fingerprint(
        classifier.fingerprint() if classifier is not None else None,
        retriever.fingerprint() if retriever is not None else None,
        database.content_fingerprint(verify_pixels=verify_content) if database is not None else None,
        str(Path(root).resolve()), index, index_config or {},
    )
    target = Path(bundle_dir) if bundle_dir else cache_dir() / "bundles" / key[:20]
    check_not_inside(target, sources)
    with bundle_lock(target):
        if (target / MANIFEST).is_file():
            try:
                bundle = MapBundle.load(target)
                if bundle.manifest.get("key") == key:
                    return bundle
            except (VprkitError, OSError, ValueError, KeyError, RuntimeError):
                pass  # damaged, stale or foreign: rebuilt below (the old one stays until the new one is complete)
        total = len(database) if database is not None else 0
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            if progress:
                progress(done[0], total)

        return build_bundle(target, database, classifier=classifier, retriever=retriever, index=index,
                            index_config=index_config, progress=tick, dataset=str(root),
                            extra_manifest={"key": key, "split": split}, locked=True)


def run_pipeline(
    classifier: str | None = None,
    retriever: str | None = None,
    topn: int = 100,
    index: str | None = None,
    index_config: dict[str, Any] | None = None,
    dataset: str | None = None,
    split: str | None = None,
    bundle: str | Path | None = None,
    k: int = 20,
    batch_size: int = 32,
    progress: Callable[[str, int, int], None] | None = None,
    classifier_settings: dict[str, Any] | None = None,
    queries: Sequence[str] | None = None,
    predictions: str | Path | None = None,
    verify_content: bool = False,
) -> list[dict[str, Any]]:
    """Evaluate one pipeline on the query sets of one dataset split against one bundle.

    Returns one report per query set (the keys of :func:`evaluate`, plus ``query_set``, the
    benchmark ``protocol`` when the folder is a registered dataset, and the resolved ``config``).

    ``queries``: query set names of ``split`` (``["queries_v1", "v2"]``), ``None`` or ``["all"]``
    for every set; unknown names are refused before anything is built. ``classifier_settings``:
    inference-only fields of the classifier's config to set after loading
    (:func:`vprkit.config.apply_inference_settings`), e.g. ``{"score_precision": "auto"}``.
    ``predictions``: write every query's top-K places there (``.csv`` or ``.json``,
    :mod:`vprkit.pipeline.predictions`). ``verify_content``: key the cached bundle by the bytes
    of the database images, not their size and time (:func:`prepare_bundle`).

    ``classifier`` / ``retriever``: a registered name (the checkpoint the plugin ships for
    synthcity), a model folder, or ``"none"``. ``bundle``: an existing map bundle to use, or a
    folder to build one in. ``None`` means "not given": the defaults (``dnc``, ``cosplace``,
    ``flat``, synthcity, ``test``), or with an existing bundle what the bundle holds — an option
    that contradicts the bundle is refused, naming what it holds.
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
    for kind, choice in (("classifier", classifier), ("retriever", retriever), ("index", index)):
        if choice is not None:
            check_stage_choice(kind, choice)  # before synthcity is generated or any data is read
    step = (lambda name: (lambda done, total: progress(name, done, total))) if progress else (lambda name: None)
    existing = bundle is not None and (Path(bundle) / MANIFEST).is_file()
    if existing:
        loaded = MapBundle.load(bundle)
        if dataset is None and not loaded.manifest.get("dataset"):
            raise ConfigError(f"--bundle {bundle}: the bundle does not record its dataset; pass --dataset")
        root, _ = dataset_root(dataset or loaded.manifest["dataset"], step("generating synthcity (first use)"))
        conflicts = bundle_conflicts(loaded, classifier=classifier, retriever=retriever, index=index,
                                     index_config=index_config, dataset=root if dataset else None, split=split)
        if conflicts:
            raise ConfigError(f"--bundle {bundle} holds something else than asked: {'; '.join(conflicts)}; drop these "
                              "options or build another bundle (`vprkit index build`)")
        split = split or loaded.manifest.get("split") or DEFAULTS["split"]
    else:
        root, is_default = dataset_root(dataset or DEFAULTS["dataset"], step("generating synthcity (first use)"))
        split = split or DEFAULTS["split"]
    spec = dataset_spec_of(root)
    query_sets = resolve_query_sets(root, split, queries, spec.query_sets(split) if spec else ())  # before any extraction
    radius = spec.protocol.radius_m if spec is not None else 25.0
    if not existing:
        stages = {kind: choice or DEFAULTS[kind] for kind, choice in (("classifier", classifier), ("retriever", retriever))}
        loaded = prepare_bundle(root, split, resolve_stage_model("classifier", stages["classifier"], is_default),
                                resolve_stage_model("retriever", stages["retriever"], is_default), index or DEFAULTS["index"],
                                index_config, Path(bundle) if bundle else None, step("database descriptors"),
                                sources=[Path(c) for c in stages.values() if Path(c).is_dir()], verify_content=verify_content)
    localizer = Localizer(loaded, topn=topn, k=k, use_classifier=classifier != NONE, use_retriever=retriever != NONE)
    if classifier_settings:
        if localizer.classifier is None:
            raise ConfigError("--classifier-set needs a classifier (this run has --classifier none)")
        apply_inference_settings(localizer.classifier.config, classifier_settings)
    config = _run_config(loaded, localizer, k, root, split)
    reports, records = [], []
    for name in query_sets:
        images = load_split(root, f"{split}/{name}", verify_listing=True)
        tick = step(f"queries {name}" if len(query_sets) > 1 else "queries")
        per_query = _counter(tick, len(images))
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


def _counter(tick: Callable[[int, int], None] | None, total: int) -> Callable[[int], None]:
    """``evaluate``'s per-query callback (``n`` done since the last call) → ``tick(done, total)``."""
    done = [0]

    def per_query(n: int) -> None:
        done[0] += n
        if tick:
            tick(done[0], total)

    return per_query


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
