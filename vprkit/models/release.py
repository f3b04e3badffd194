"""``vprkit models import``: an author's released weights → an ordinary vprkit model folder.

A method plugin declares an ``importer`` (``"module:callable"``) and, as data, the files its
authors published (:class:`~vprkit.specs.Release`). :func:`import_model` resolves the weights
(a file on disk, or a release name: downloaded once into ``<cache>/releases/``), computes their
SHA-256, calls the importer with an :class:`ImportRequest` and writes the model folder whole: in a
uniquely named sibling of ``--out``, renamed into place only when complete.

The importer returns an :class:`ImportedModel`: the model object, whose
``training_summary["release"]`` records where the weights came from (file, URL, checksum,
licence, the options used; the folder's manifest carries it in its model card,
:func:`vprkit.models.artifact.model_card`), and optionally a training checkpoint
(the method's trainer makes it, e.g. ``start_checkpoint`` of the group trainer) written as ``training/last.pt`` with
``training/config.yaml``, so that ``vprkit train ... --out DIR --resume`` continues from the
release like from any interrupted vprkit run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vprkit.errors import ConfigError, DataError, UnknownNameError
from vprkit.fileio import file_checksum
from vprkit.specs import MethodSpec, ModelSpec, Release

if TYPE_CHECKING:
    from vprkit.contracts import TrainedModel

__all__ = ["ImportRequest", "ImportedModel", "download_release", "find_importable", "import_model", "sha256_file"]


@dataclass(frozen=True)
class ImportRequest:
    """What an importer gets.

    Attributes:
        weights: the release file on disk.
        sha256: its SHA-256 (hex).
        overrides: config values given by the user (``--set``) and by the release's spec.
        train_names: a file listing the training images the release was trained on (D&C needs it
            to rebuild the official class order), or ``None``.
        train_dataset: a dataset root or training folder whose file list to use instead.
        class_table: a saved class table in the authors' format (D&C's ``cache/*.torch``), or ``None``.
        release: the named release, when the weights came from one.
    """

    weights: Path
    sha256: str
    overrides: dict[str, Any] = field(default_factory=dict)
    train_names: Path | None = None
    train_dataset: Path | None = None
    class_table: Path | None = None
    release: Release | None = None

    def provenance(self, **more: Any) -> dict[str, Any]:
        """The card's ``release`` record: file, checksum, release facts, user options, ``more``."""
        rel = self.release
        record: dict[str, Any] = {
            "file": str(self.weights),
            "sha256": self.sha256,
            "file_size": self.weights.stat().st_size,
            "release": rel.name if rel else None,
            "url": rel.url if rel else None,
            "license": rel.license if rel else None,
            "source": rel.source if rel else None,
            "overrides": self.overrides,
        }
        record.update(more)
        return record


@dataclass
class ImportedModel:
    """What an importer returns: the model, and the training state a resume starts from (or None)."""

    model: TrainedModel
    training_checkpoint: dict[str, Any] | None = None


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file (the checksum releases and model cards use)."""
    return file_checksum(path, algorithm="sha256")


def find_importable(name: str) -> ModelSpec:
    """The classifier or retriever spec ``name`` that has an importer (classifiers first)."""
    from vprkit.registry import get_spec, list_classifiers, list_retrievers

    candidates = [("classifier", n) for n in list_classifiers()] + [("retriever", n) for n in list_retrievers()]
    specs = [get_spec(kind, n) for kind, n in candidates if n == name]
    with_importer = [s for s in specs if isinstance(s, ModelSpec) and s.importer]
    if with_importer:
        return with_importer[0]
    importable = sorted({n for kind, n in candidates if getattr(get_spec(kind, n), "importer", None)})
    if specs:
        raise ConfigError(
            f"{specs[0].kind} {name!r} has no importer of released weights; "
            f"methods that do: {', '.join(importable) or 'none'}"
        )
    raise UnknownNameError(
        f"no classifier or retriever {name!r}; methods with released weights: {', '.join(importable) or 'none'}"
    )


def _release_cache(spec: MethodSpec) -> Path:
    from vprkit.data.cache import cache_dir

    return cache_dir() / "releases" / f"{spec.kind}-{spec.name}"


def download_release(spec: MethodSpec, release: Release, progress: bool = True) -> tuple[Path, str]:
    """The release file in the cache (downloaded on first use) and its SHA-256.

    The checksum is checked against the one the spec publishes; when the spec has none, the
    first download's checksum is recorded beside the file and every later use is checked
    against it. Offline, the error names the URL and what to do with a file fetched by hand
    (``vprkit models import`` for a model; for another kind, e.g. a re-ranker, where to put it).
    """
    import torch.hub

    folder = _release_cache(spec)
    target = folder / release.filename
    recorded = target.with_name(target.name + ".sha256")
    expected = release.sha256 or (recorded.read_text().strip() if recorded.is_file() else "")
    if target.is_file():
        digest = sha256_file(target)
        if expected and digest != expected:
            raise DataError(
                f"cached release {str(target)!r} has SHA-256 {digest[:16]}…, expected {expected[:16]}…; "
                f"delete it to download it again"
            )
        if not expected:  # a file put there by hand: its first use records the checksum, as a download's
            recorded.write_text(digest + "\n")
        return target, digest
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            torch.hub.download_url_to_file(release.url, str(tmp), progress=progress)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            # a model's release is imported into a model folder; any other kind's is read from the cache
            then = (
                f"run `vprkit models import {spec.name} FILE --out DIR`"
                if isinstance(spec, ModelSpec)
                else f"put it at {str(target)!r}"
            )
            raise DataError(
                f"cannot download {spec.name} release {release.name!r} from {release.url} ({reason}); "
                f"download that file by hand and {then}"
            ) from exc
        digest = sha256_file(tmp)
        if expected and digest != expected:
            raise DataError(
                f"downloaded {release.url} has SHA-256 {digest[:16]}…, expected {expected[:16]}…; "
                "the file on the server changed or the download was corrupted"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    if not release.sha256:
        recorded.write_text(digest + "\n")
    return target, digest


def import_model(
    name: str,
    weights: str | Path,
    out: str | Path,
    *,
    overrides: dict[str, Any] | None = None,
    train_names: str | Path | None = None,
    train_dataset: str | Path | None = None,
    class_table: str | Path | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> tuple[TrainedModel, dict[str, Any]]:
    """Import the weights ``weights`` (a file, or the name of one of ``name``'s releases) of
    method ``name`` into a model folder ``out``; returns ``(model, manifest card)``.

    ``sha256``: refuse the file unless it has this checksum. ``out`` must not exist or be empty.
    """
    spec = find_importable(name)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {str(out)!r} already exists and is not empty; choose a new folder")
    path = Path(weights)
    release = None
    if path.is_file():
        digest = sha256_file(path)
        # a file fetched by hand under its release name: record what the release is
        release = next((r for r in spec.releases if r.filename == path.name), None)
    else:
        release = spec.release(str(weights))
        if release is None:
            names = ", ".join(r.name for r in spec.releases) or "none"
            raise DataError(f"{str(weights)!r} is neither a file nor a {spec.name} release (releases: {names})")
        path, digest = download_release(spec, release, progress=progress)
    if sha256 and digest != sha256.lower():
        raise DataError(f"{str(path)!r} has SHA-256 {digest}, not the expected {sha256}")
    request = ImportRequest(
        weights=path,
        sha256=digest,
        overrides={**dict(release.config if release else {}), **dict(overrides or {})},
        train_names=Path(train_names) if train_names else None,
        train_dataset=Path(train_dataset) if train_dataset else None,
        class_table=Path(class_table) if class_table else None,
        release=release,
    )
    imported = spec.load_importer()(request)
    model = imported.model
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.import-", dir=out.parent))
    try:
        model.save(staging / "model")
        if imported.training_checkpoint is not None:
            from vprkit.config import save_config
            from vprkit.models.artifact import atomic_torch_save

            save_config(model.config, staging / "model" / "training" / "config.yaml")
            atomic_torch_save(staging / "model" / "training" / "last.pt", imported.training_checkpoint)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(staging / "model", out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    from vprkit.models.artifact import read_manifest

    return model, read_manifest(out).get("card", {})
