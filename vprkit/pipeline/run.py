"""The main job as a library function: dataset → map bundle (cached) → evaluation report.

``vprkit run`` is a thin layer over :func:`run_pipeline`: the options become a :class:`RunConfig`,
the result is one :class:`RunReport` per query set.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from vprkit.config import inference_settings
from vprkit.errors import ConfigError, VprkitError
from vprkit.fileio import fingerprint
from vprkit.pipeline.descriptor_store import DEFAULT_SHARD_ROWS

if TYPE_CHECKING:
    from vprkit.contracts import Classifier, Progress, Reranker, Retriever, TrainedModel
    from vprkit.pipeline.bundle import MapBundle
    from vprkit.pipeline.evaluate import Evaluation
    from vprkit.pipeline.localizer import Localizer
    from vprkit.rerank.store import FeatureStore
    from vprkit.runtime import Runtime

__all__ = [
    "NONE",
    "RunConfig",
    "RunReport",
    "build_dataset_bundle",
    "bundle_conflicts",
    "check_reranker_choice",
    "check_stage_choice",
    "dataset_root",
    "prepare_bundle",
    "resolve_stage_model",
    "run_pipeline",
]

DEFAULTS = {"classifier": "dnc", "retriever": "cosplace", "index": "flat", "dataset": "synthcity", "split": "test"}

NONE = "none"


class RunConfig(BaseModel):
    """What one run evaluates, on which data, and what it writes (the options of ``vprkit run``).

    ``classifier`` / ``retriever``: a registered name (the checkpoint the plugin ships for
    synthcity), a model folder, or ``"none"``. ``bundle``: an existing map bundle to use, or a
    folder to build one in. ``None`` means "not given": the defaults (``dnc``, ``cosplace``,
    ``flat``, synthcity, ``test``), or with an existing bundle what the bundle holds — an option
    that contradicts the bundle is refused, naming what it holds.

    ``queries``: query set names of ``split`` (``["queries_v1", "v2"]``), ``None`` or ``["all"]``
    for every set; unknown names are refused before anything is built. ``classifier_settings``:
    inference-only fields of the classifier's config to set after loading
    (:func:`vprkit.config.apply_inference_settings`), e.g. ``{"score_precision": "auto"}``.
    ``predictions``: write every query's top-K places there (``.csv`` or ``.json``,
    :mod:`vprkit.pipeline.predictions`). ``verify_content``: key the cached bundle by the bytes
    of the database images, not their size and time (:func:`prepare_bundle`). ``mmap``: map an
    existing bundle instead of reading it (:meth:`MapBundle.load`). ``topn``: classes
    whose cells the retriever searches; ``k``: places per query; ``batch_size``: of the
    throughput run. ``device`` / ``precision`` / ``threads`` / ``workers``: where and how the
    models run (:class:`vprkit.runtime.Runtime`; ``threads=None``: a default that never
    oversubscribes the cores). ``resolution``: test-time resolution, a factor on the models' input
    size applied to queries and database alike (``None``: the models' own, or the bundle's).
    ``untrained``: the same architectures with a seeded random initialisation instead of their
    trained weights (:meth:`~vprkit.models.trained.TrainedModelBase.reset_weights`), the floor a
    trained model must beat; the report's ``chance_lr`` is the other floor.

    ``reranker``: a registered re-ranker that verifies the first ``rerank_k`` retrieved places of
    each query with local features and re-orders them (``None`` or ``"none"``: no re-ranking, the
    default); ``reranker_config``: its config fields. The database's local features are extracted
    once into the cache (:func:`vprkit.rerank.database_features`) and reused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    classifier: str | None = None
    retriever: str | None = None
    topn: int = 100
    index: str | None = None
    index_config: dict[str, Any] = Field(default_factory=dict)
    dataset: str | Path | None = None
    split: str | None = None
    queries: list[str] | None = None
    bundle: Path | None = None
    k: int = 20
    batch_size: int = 32
    classifier_settings: dict[str, Any] = Field(default_factory=dict)
    predictions: Path | None = None
    verify_content: bool = False
    mmap: bool = False
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    workers: int = 0
    resolution: float | None = None
    untrained: bool = False
    reranker: str | None = None
    rerank_k: int = 20
    reranker_config: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class RunReport:
    """The evaluation of one query set by :func:`run_pipeline`.

    Attributes:
        query_set: its name (``queries``, ``queries_v1``...).
        evaluation: the report and the localization of :func:`~vprkit.pipeline.evaluate.evaluate`.
        config: the resolved pipeline (models, ``topn``, ``k``, index, dataset, split, bundle,
            classifier settings).
        protocol: the benchmark's (``dataset`` when the folder is a registered one, ``radius_m``,
            ``published_queries``).
        runtime: where it ran (:meth:`vprkit.runtime.Runtime.describe`: device, precision,
            threads, workers, cores, the 1-minute load average at the start).
    """

    query_set: str
    evaluation: Evaluation
    config: dict[str, Any]
    protocol: dict[str, Any]
    runtime: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``vprkit run --json``: ``query_set``, the report's keys, ``config``,
        ``protocol``, ``runtime``."""
        return {
            "query_set": self.query_set,
            **self.evaluation.report,
            "config": self.config,
            "protocol": self.protocol,
            "runtime": self.runtime,
        }


def dataset_root(dataset: str | Path, progress: Progress | None = None) -> tuple[Path, bool]:
    """``(root, is_default)``: ``synthcity`` means the embedded default, generated on first use
    (reported to ``progress``)."""
    from vprkit.data.resolve import resolve_dataset

    return resolve_dataset(dataset, progress)


def check_stage_choice(kind: str, choice: str) -> None:
    """Refuse a ``--classifier`` / ``--retriever`` / ``--index`` value that can never work, before
    any data is generated or read: a file (weights, not a model folder) or an unknown name."""
    from vprkit.registry import get_spec

    if choice == NONE and kind != "index":
        return
    if kind == "reranker":  # a re-ranker has no model folder: a registered name only
        get_spec(kind, choice)
        return
    path = Path(choice)
    if path.is_file():
        raise ConfigError(
            f"--{kind} {choice!r} is a file, not a model folder; import released weights with "
            f"`vprkit models import METHOD {choice} --out DIR` and pass DIR"
        )
    if not path.is_dir():
        get_spec(kind, choice)  # an unknown name is refused with the closest names


def resolve_stage_model(kind: str, choice: str, is_default_dataset: bool) -> TrainedModel | None:
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


def stage_models(
    classifier: str,
    retriever: str,
    is_default_dataset: bool,
    resolution: float | None = None,
    untrained: bool = False,
) -> tuple[Classifier | None, Retriever | None]:
    """The classifier and retriever of a pipeline (:func:`resolve_stage_model`), each checked
    against its contract (:mod:`vprkit.contracts`), so a plugin model that lacks a part is named
    here; both set to test-time ``resolution`` when given (:func:`~vprkit.pipeline.models.set_resolution`)
    and, with ``untrained``, to a seeded random initialisation of their architecture."""
    from vprkit.contracts import Classifier, Retriever
    from vprkit.pipeline.models import set_resolution

    models = []
    for kind, choice, contract in (("classifier", classifier, Classifier), ("retriever", retriever, Retriever)):
        model = resolve_stage_model(kind, choice, is_default_dataset)
        if model is not None and not isinstance(model, contract):
            raise ConfigError(
                f"--{kind} {choice!r}: {type(model).__name__} is not a {kind} "
                f"(it lacks part of vprkit.contracts.{contract.__name__})"
            )
        if untrained and model is not None:
            reset = getattr(model, "reset_weights", None)
            if reset is None:
                raise ConfigError(
                    f"--untrained: the {kind} {choice!r} cannot re-initialise its weights (no reset_weights)"
                )
            reset(0)
        models.append(model)
    set_resolution(models, resolution)
    return models[0], models[1]  # type: ignore[return-value]  # checked against the protocols above


def bundle_conflicts(
    bundle: MapBundle,
    *,
    classifier: str | None,
    retriever: str | None,
    index: str | None,
    index_config: dict[str, Any] | None,
    dataset: Path | None,
    split: str | None,
    resolution: float | None = None,
) -> list[str]:
    """What the options given ask for that the bundle does not hold (``None`` = not given;
    ``none`` for a stage only switches it off)."""
    from vprkit.pipeline.models import load_model, set_resolution

    m = bundle.manifest
    found = []
    for kind, choice in (("classifier", classifier), ("retriever", retriever)):
        if choice is None or choice == NONE:
            continue
        entry = m.get(kind)
        if not entry:
            found.append(f"--{kind} {choice}: the bundle has no {kind}")
        elif Path(choice).is_dir():
            model = load_model(choice, kind)
            set_resolution([model], bundle_resolution(bundle))  # compared at the bundle's resolution
            if model.fingerprint() != entry["fingerprint"]:
                found.append(
                    f"--{kind} {choice}: not the {kind} the bundle holds ({entry['name']}, "
                    f"fingerprint {entry['fingerprint'][:12]})"
                )
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
    held_resolution = bundle_resolution(bundle)
    if resolution is not None and held_resolution is not None and resolution != held_resolution:
        found.append(f"--resolution {resolution:g}: the bundle was built at resolution {held_resolution:g}")
    return found


def check_resolution(resolution: float | None) -> None:
    """Refuse a ``--resolution`` out of range before any data is read."""
    if resolution is not None and not 0.05 < resolution <= 4:
        raise ConfigError(
            f"--resolution must lie in (0.05, 4] (a factor on the models' input size), got {resolution:g}"
        )


def bundle_resolution(bundle: MapBundle) -> float | None:
    """The test-time resolution a bundle's models run at (the retriever's, else the classifier's)."""
    from vprkit.pipeline.models import model_resolution

    return model_resolution(bundle.retriever) or model_resolution(bundle.classifier)


def prepare_bundle(
    root: Path,
    split: str,
    classifier: Classifier | None,
    retriever: Retriever | None,
    index: str = "flat",
    index_config: dict[str, Any] | None = None,
    bundle_dir: Path | None = None,
    progress: Progress | None = None,
    sources: Sequence[Path] = (),
    verify_content: bool = False,
    runtime: Runtime | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    mmap: bool = False,
) -> MapBundle:
    """Load ``bundle_dir`` when it matches these models and database, else build it there (or in
    the cache, keyed by content) and return it.

    The database descriptors come from the :mod:`~vprkit.pipeline.descriptor_store` of (retriever,
    database content, precision): extracted once in ``runtime`` (default: :meth:`Runtime.resolve`
    with its defaults), reported to ``progress``, and reused by every bundle over that database
    with that retriever, whatever its classifier or index. The bundle key covers content: the
    models' fingerprints, the precision, and every database image's name, size and modification
    time (``verify_content``: its bytes), with a listing file checked against its folder. Builders
    of one target are serialised by a lock: a second command waits, then reuses the first one's
    bundle. A bundle that does not load (damaged, stale, from an older vprkit) is rebuilt;
    ``sources`` (the model folders given) may not lie inside the target. The index and its
    options are checked before anything is extracted. ``shard_rows``: rows per store shard (the
    unit of resumption and of a distributed extraction's work split). ``mmap``: an existing
    bundle is memory-mapped (:meth:`MapBundle.load`), not read and checksummed.
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
    from vprkit.pipeline.descriptor_store import database_store
    from vprkit.registry import create_index
    from vprkit.runtime import Runtime

    runtime = runtime or Runtime.resolve()
    if retriever is not None:
        create_index(index, index_config or {})  # unknown index or option: refused before extraction
    database = load_split(root, f"{split}/database", verify_listing=True) if retriever is not None else None
    content = database.content_fingerprint(verify_pixels=verify_content) if database is not None else None
    key = fingerprint(
        classifier.fingerprint() if classifier is not None else None,
        retriever.fingerprint() if retriever is not None else None,
        content,
        str(Path(root).resolve()),
        index,
        index_config or {},
        runtime.precision if retriever is not None else None,
    )
    target = Path(bundle_dir) if bundle_dir else cache_dir() / "bundles" / key[:20]
    check_not_inside(target, sources)
    with bundle_lock(target):
        if (target / MANIFEST).is_file():
            try:
                bundle = MapBundle.load(target, mmap=mmap)
                if bundle.manifest.get("key") == key:
                    with contextlib.suppress(OSError):
                        os.utime(target / MANIFEST)  # last use, for `vprkit cache clean --older-than`
                    return bundle
            except (VprkitError, OSError, ValueError, KeyError, RuntimeError):
                pass  # damaged, stale or foreign: rebuilt below (the old one stays until the new one is complete)
        extra: dict[str, Any] = {"key": key, "split": split}
        descriptors = None
        if retriever is not None and database is not None:
            runtime.prepare(retriever)
            store = database_store(
                retriever, database, runtime, content=content, progress=progress, shard_rows=shard_rows
            )
            descriptors = store.descriptors(mmap=True)
            extra["descriptors"] = {"store": str(store.root), "key": store.key, "precision": runtime.precision}
        return build_bundle(
            target,
            database,
            classifier=classifier,
            retriever=retriever,
            index=index,
            index_config=index_config,
            progress=progress,
            dataset=str(root),
            extra_manifest=extra,
            locked=True,
            descriptors=descriptors,
            runtime=runtime,
        )


def build_dataset_bundle(
    out: str | Path,
    *,
    classifier: str = "dnc",
    retriever: str = "cosplace",
    dataset: str | Path = "synthcity",
    split: str = "test",
    index: str = "flat",
    index_config: dict[str, Any] | None = None,
    verify_content: bool = False,
    progress: Progress | None = None,
    runtime: Runtime | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    resolution: float | None = None,
    reranker: str | None = None,
    reranker_config: dict[str, Any] | None = None,
) -> MapBundle | None:
    """``vprkit index build`` as one call: the map bundle of a dataset split's database at ``out``,
    for these models and this index (reused when ``out`` already holds it: :func:`prepare_bundle`).

    ``classifier`` / ``retriever``: a registered name (the checkpoint it ships for synthcity), a
    model folder, or ``none``. Every choice, and ``out`` against the model folders it would
    replace, is checked before synthcity is generated or any data is read. ``runtime``: where the
    retriever extracts (default :meth:`Runtime.resolve`). ``resolution``: test-time resolution of
    both models (a factor on their input size), recorded in the bundle's model folders.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every rank extracts its share of the database into one
    descriptor store (:func:`~vprkit.pipeline.descriptor_store.database_store`); rank 0 then
    builds the bundle and returns it, the other ranks return None.

    ``reranker`` (with its ``reranker_config``): a registered re-ranker whose local features of the
    database are precomputed into the bundle (``local_features/`` in ``out``), where ``vprkit run``
    and ``localize`` with the same re-ranker find them.
    """
    from vprkit.pipeline.bundle import check_not_inside
    from vprkit.pipeline.descriptor_store import database_store, distributed_group
    from vprkit.registry import create_index
    from vprkit.runtime import Runtime

    for kind, choice in (("classifier", classifier), ("retriever", retriever), ("index", index)):
        check_stage_choice(kind, choice)
    check_resolution(resolution)
    check_reranker_choice(reranker, dict(reranker_config or {}), retriever)
    if retriever != NONE:
        create_index(index, index_config or {})  # its options too, before any data is read
    sources = [Path(c) for c in (classifier, retriever) if Path(c).is_dir()]
    check_not_inside(out, sources)
    runtime = runtime or Runtime.resolve()
    with distributed_group() as (rank, world):
        root, is_default = _dataset_root_once(dataset, progress if rank == 0 else None, world)
        models = stage_models(classifier, retriever, is_default, resolution)
        if world > 1 and models[1] is not None:
            from vprkit.data.standard import load_split

            database = load_split(root, f"{split}/database", verify_listing=True)
            runtime.prepare(models[1])
            database_store(
                models[1],
                database,
                runtime,
                content=database.content_fingerprint(verify_pixels=verify_content),
                progress=progress if rank == 0 else None,
                shard_rows=shard_rows,
            )
    if rank != 0:
        return None
    bundle = prepare_bundle(
        root,
        split,
        *models,
        index=index,
        index_config=index_config,
        bundle_dir=Path(out),
        progress=progress,
        sources=sources,
        verify_content=verify_content,
        runtime=runtime,
        shard_rows=shard_rows,
    )
    if reranker not in (None, NONE) and bundle.database is not None:
        from vprkit.registry import create_reranker
        from vprkit.rerank.store import database_features

        made = create_reranker(reranker, dict(reranker_config or {}))
        database_features(made, bundle.database, threads=runtime.threads, progress=progress, cache=bundle.root)
    return bundle


def check_reranker_choice(
    reranker: str | None, reranker_config: dict[str, Any], retriever: str | None, rerank_k: int = 1
) -> None:
    """Refuse, before any data is read, an unknown re-ranker, a bad value of its config, a
    ``rerank_k`` below 1 and a re-ranker without a retriever (``None`` / ``"none"``: nothing to check)."""
    if reranker in (None, NONE):
        return
    from vprkit.config import build_config
    from vprkit.registry import get_spec

    check_stage_choice("reranker", reranker)
    build_config(get_spec("reranker", reranker).config, reranker_config, {}, owner=f"--reranker {reranker}")
    if rerank_k < 1:
        raise ConfigError(f"--rerank-k must be at least 1, got {rerank_k}")
    if retriever == NONE:
        raise ConfigError(
            f"--reranker {reranker} verifies retrieved database images: it needs a retriever, not --retriever none"
        )


def _dataset_root_once(dataset: str | Path, progress: Progress | None, world: int) -> tuple[Path, bool]:
    """:func:`dataset_root` with rank 0 first under ``torch.distributed`` (synthcity is generated
    once; the other ranks wait for it and find it)."""
    if world == 1:
        return dataset_root(dataset, progress)
    import torch.distributed as dist

    if dist.get_rank() == 0:
        found = dataset_root(dataset, progress)
        dist.barrier()
        return found
    dist.barrier()
    return dataset_root(dataset, None)


def run_pipeline(config: RunConfig, progress: Progress | None = None) -> list[RunReport]:
    """Evaluate one pipeline (:class:`RunConfig`) on the query sets of one dataset split against
    one bundle; one :class:`RunReport` per query set, in the order of the sets.

    ``progress`` gets the generation of synthcity on first use, the extraction of the database
    when the bundle is built, and the queries of each set (step ``queries``, or ``queries NAME``
    when there are several sets). The models run in ``config``'s runtime (device, precision,
    threads), recorded in each report.
    """
    from vprkit.runtime import Runtime

    c = config
    if c.classifier == NONE and c.retriever == NONE:
        raise ConfigError("--classifier none and --retriever none leave nothing to run")
    if c.predictions is not None and c.predictions.suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"--predictions {str(c.predictions)!r}: give a .csv or .json file name")
    for kind, choice in (("classifier", c.classifier), ("retriever", c.retriever), ("index", c.index)):
        if choice is not None:
            check_stage_choice(kind, choice)  # before synthcity is generated or any data is read
    check_resolution(c.resolution)
    check_reranker_choice(c.reranker, c.reranker_config, c.retriever, c.rerank_k)
    runtime = Runtime.resolve(c.device, c.precision, c.threads, c.workers)
    with runtime.active():
        return _run_pipeline(c, runtime, progress)


def _run_pipeline(c: RunConfig, runtime: Runtime, progress: Progress | None) -> list[RunReport]:
    from vprkit.data.dataset_protocol import dataset_spec_of
    from vprkit.data.standard import load_split, resolve_query_sets
    from vprkit.pipeline.bundle import MANIFEST, MapBundle
    from vprkit.pipeline.evaluate import evaluate
    from vprkit.pipeline.localizer import Localizer
    from vprkit.pipeline.models import apply_classifier_settings
    from vprkit.pipeline.predictions import prediction_records, write_predictions

    started = runtime.describe()  # the load average before this command's own work
    loaded = None
    if c.bundle is not None and (c.bundle / MANIFEST).is_file():
        loaded = MapBundle.load(c.bundle, mmap=c.mmap)
    if loaded is not None and c.untrained:
        raise ConfigError(f"--untrained builds a map of untrained models; --bundle {c.bundle} holds trained ones")
    if loaded is not None:  # an existing bundle: what it holds is the default
        if c.dataset is None and not loaded.manifest.get("dataset"):
            raise ConfigError(f"--bundle {c.bundle}: the bundle does not record its dataset; pass --dataset")
        root, _ = dataset_root(c.dataset or loaded.manifest["dataset"], progress)
        conflicts = bundle_conflicts(
            loaded,
            classifier=c.classifier,
            retriever=c.retriever,
            index=c.index,
            index_config=c.index_config,
            dataset=root if c.dataset else None,
            split=c.split,
            resolution=c.resolution,
        )
        if conflicts:
            raise ConfigError(
                f"--bundle {c.bundle} holds something else than asked: {'; '.join(conflicts)}; drop "
                "these options or build another bundle (`vprkit index build`)"
            )
        split = c.split or loaded.manifest.get("split") or DEFAULTS["split"]
    else:
        root, is_default = dataset_root(c.dataset or DEFAULTS["dataset"], progress)
        split = c.split or DEFAULTS["split"]
    spec = dataset_spec_of(root)
    query_sets = resolve_query_sets(
        root, split, c.queries, spec.query_sets(split) if spec else ()
    )  # before any extraction
    radius = spec.protocol.radius_m if spec is not None else 25.0
    if loaded is None:
        stages = {
            kind: choice or DEFAULTS[kind]
            for kind, choice in (("classifier", c.classifier), ("retriever", c.retriever))
        }
        loaded = prepare_bundle(
            root,
            split,
            *stage_models(stages["classifier"], stages["retriever"], is_default, c.resolution, c.untrained),
            index=c.index or DEFAULTS["index"],
            index_config=c.index_config,
            bundle_dir=c.bundle,
            progress=progress,
            sources=[Path(s) for s in stages.values() if Path(s).is_dir()],
            verify_content=c.verify_content,
            runtime=runtime,
            mmap=c.mmap,
        )
    reranker, features = _rerank_stage(c, loaded, runtime, progress)
    localizer = Localizer(
        loaded,
        topn=c.topn,
        k=c.k,
        use_classifier=c.classifier != NONE,
        use_retriever=c.retriever != NONE,
        runtime=runtime,
        reranker=reranker,
        rerank_k=c.rerank_k,
        features=features,
    )
    apply_classifier_settings(localizer.classifier, c.classifier_settings)
    # mmap: whether an existing bundle was memory-mapped (payload checksums then not read)
    resolved = {**_run_config(loaded, localizer, c.k, root, split), "untrained": c.untrained, "mmap": c.mmap}
    if reranker is not None:
        resolved |= {
            "reranker": reranker.name,
            "rerank_k": c.rerank_k,
            "reranker_config": reranker.config.model_dump(mode="json"),
            "local_features": str(features.root) if features is not None else None,
        }
    reports: list[RunReport] = []
    records: list[dict[str, Any]] = []
    for name in query_sets:
        images = load_split(root, f"{split}/{name}", verify_listing=True)
        evaluation = evaluate(
            localizer,
            images,
            batch_size=c.batch_size,
            radius=radius,
            progress=progress,
            step=f"queries {name}" if len(query_sets) > 1 else "queries",
        )
        if c.predictions is not None:
            records += prediction_records(evaluation.localization, images, loaded, radius=radius, query_set=name)
        published = spec.expected_counts.get(f"{split}/{name}") if spec is not None else None
        reports.append(
            RunReport(
                name,
                evaluation,
                resolved,
                {
                    "dataset": spec.name if spec is not None else None,
                    "radius_m": radius,
                    "published_queries": published,
                },
                {**started, "index_device": localizer.index_device},
            )
        )
    if c.predictions is not None:
        write_predictions(c.predictions, records)
    return reports


def _rerank_stage(
    c: RunConfig, loaded: MapBundle, runtime: Runtime, progress: Progress | None
) -> tuple[Reranker | None, FeatureStore | None]:
    """The run's re-ranker and the cached local features of the bundle's database (extracted on
    first use, ``runtime.threads`` images at a time)."""
    if c.reranker in (None, NONE):
        return None, None
    from vprkit.registry import create_reranker
    from vprkit.rerank.store import database_features

    reranker = create_reranker(c.reranker, c.reranker_config)
    if loaded.retriever is None or loaded.database is None:
        raise ConfigError(f"--reranker {c.reranker}: the bundle {str(loaded.root)!r} has no retriever and database")
    features = database_features(
        reranker, loaded.database, threads=runtime.threads, progress=progress, bundle=loaded.root
    )
    return reranker, features


def _run_config(loaded: MapBundle, localizer: Localizer, k: int, root: Path, split: str) -> dict[str, Any]:
    """The resolved pipeline of a run, as the report records it."""
    return {
        "classifier": loaded.manifest.get("classifier", {}).get("name") if localizer.classifier is not None else NONE,
        "retriever": loaded.manifest.get("retriever", {}).get("name") if localizer.retriever is not None else NONE,
        "topn": localizer.topn if localizer.mixed else None,
        "k": k,
        "index": loaded.index_name if localizer.retriever is not None else None,
        "index_config": loaded.manifest.get("index", {}).get("config"),
        # every setting the index ran with, defaults and data-derived values included (bundles
        # written before this field have none)
        "index_settings": loaded.manifest.get("index", {}).get("settings"),
        "dataset": str(root),
        "split": split,
        "bundle": str(loaded.root),
        "coord_mode": getattr(getattr(localizer.classifier, "partition", None), "coord_mode", None),
        # test-time resolution: the factor on the models' input size (1: as trained)
        "resolution": bundle_resolution(loaded),
        "classifier_settings": (
            {
                name: getattr(localizer.classifier.config, name)
                for name in inference_settings(localizer.classifier.config)
            }
            if localizer.classifier is not None
            else None
        ),
    }
