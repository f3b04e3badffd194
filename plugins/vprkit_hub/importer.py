"""``vprkit models import hub REPO:ENTRY --out DIR``: a ``torch.hub`` entry point → a model folder.

Steps (docs/methods/hub.md, "What the import does"):

1. parse ``REPO:ENTRY`` and refuse an unpinned GitHub ref unless ``trust_latest`` — before any
   download, import or code runs;
2. validate the input contract and the options into a :class:`~vprkit_hub.config.HubRetrieverConfig`;
3. fetch the code (GitHub: ``torch.hub``'s download of that commit; a folder: itself) and copy its
   code files into the new folder's ``hub/`` (:mod:`vprkit_hub.codetree`), read the licence;
4. call the entry *from that copy* with ``kwargs``, network allowed: the authors' weights download
   now, each recorded with its SHA-256; nested repositories are fetched into ``hub-deps/``;
5. optionally load ``weights`` (a Hugging Face style safetensors file) strictly into the module;
6. measure the descriptor dimension on one probe batch, save the folder (weights through vprkit's
   normal save path, the card), then load it back *offline* and check it gives the same
   descriptors: a folder that could not be rebuilt offline is never written;
7. rename the folder into place (it was built in a uniquely named sibling of ``out``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from vprkit.config import build_config
from vprkit.errors import ConfigError, DataError
from vprkit.models.official import read_state_file, strip_module_prefix
from vprkit.models.transform_config import IMAGENET_MEAN, IMAGENET_STD
from vprkit_hub.codetree import copy_code_tree
from vprkit_hub.config import HubRetrieverConfig
from vprkit_hub.retriever import HubCode, HubRetriever
from vprkit_hub.sandbox import EntryRun, run_entry
from vprkit_hub.source import (
    HubSource,
    fetch_github,
    is_commit,
    local_git_commit,
    read_license,
    require_pinned,
    split_github,
)

__all__ = ["import_hub", "parse_pins", "parse_resize", "trust_notice"]

log = logging.getLogger(__name__)

#: descriptors of the imported module and of the folder loaded back offline may differ by this much
REPRODUCE_ATOL = 1e-5


def parse_resize(text: str | None) -> dict[str, Any]:
    """``"none"``, ``"shorter_side:256"`` or ``"square:322"`` → a ``test_transform`` resize rule."""
    if text is None or text.strip() == "none":
        return {"resize": "none"}
    rule, sep, size = text.strip().partition(":")
    if rule not in ("shorter_side", "square") or not sep or not size.isdigit():
        raise ConfigError(f"--resize {text!r}: expected none, shorter_side:N or square:N (N pixels)")
    return {"resize": rule, "size": int(size)}


def parse_pins(pins: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    """``["owner/name=COMMIT", ...]`` (or a mapping) → ``{"owner/name" (lower case): commit}``."""
    items = list(pins.items()) if isinstance(pins, Mapping) else [p.partition("=")[::2] for p in pins or ()]
    out: dict[str, str] = {}
    for repo, commit in items:
        name, ref = split_github(repo.strip())
        if ref is not None or not is_commit(commit.strip()):
            raise ConfigError(f"--pin {repo}={commit}: expected owner/name=<full 40-hex commit SHA>")
        out[name.lower()] = commit.strip().lower()
    return out


def trust_notice(source: HubSource) -> str:
    """The warning shown before the code of ``source`` runs."""
    pin = "pinned" if source.kind == "github" and source.pinned else "NOT pinned"
    where = f"GitHub {source.label} ({pin})" if source.kind == "github" else f"the folder {source.location}"
    return (
        f"trusted code: importing runs the Python code of {where} with your rights, now and at every load "
        "of the model folder; vprkit caches it in the folder, checks its SHA-256 before each load and keeps the "
        "network off then, but does not sandbox it. Import only repositories you trust."
    )


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {str(out)!r} already exists and is not empty; choose a new folder")


def import_hub(
    source: str,
    out: str | Path,
    *,
    kwargs: Mapping[str, Any] | None = None,
    load_kwargs: Mapping[str, Any] | None = None,
    trust_latest: bool = False,
    pins: Sequence[str] | Mapping[str, str] | None = None,
    input_size: tuple[int, int] | None = None,
    resize: str | None = None,
    size_multiple: int = 1,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
    license: str | None = None,
    weights: str | Path | None = None,
    output: int | str | None = None,
    notify: Callable[[str], None] | None = None,
) -> tuple[HubRetriever, dict[str, Any]]:
    """Import ``source`` (``REPO:ENTRY``) into the model folder ``out``; returns ``(model, card)``.

    Args:
        source: ``owner/name:<commit>:entry`` or ``FOLDER:entry`` (module :mod:`vprkit_hub.source`).
        out: the new model folder (must not exist, or be empty).
        kwargs: the entry's keyword arguments; load_kwargs: put over them when loading offline.
        trust_latest: accept an unpinned GitHub ref (and unpinned nested repositories).
        pins: commits of the nested repositories the entry loads (``owner/name=COMMIT``).
        input_size: ``(H, W)`` every image is resized to; resize: ``none``, ``shorter_side:N``, ``square:N``.
        size_multiple: image sides rounded to a multiple of this (DINOv2: 14).
        mean, std: normalisation (default ImageNet's).
        license: the licence to record (default: read from the code's LICENSE file).
        weights: a safetensors (or weights-only torch) file loaded strictly into the entry's module.
        output: which output is the descriptor (an index or dict key; default: the tensor or first item).
        notify: receives the trusted-code notice and nested repositories (default: the log).
    """
    tell = notify or log.warning
    hub = HubSource.parse(source)
    require_pinned(hub, trust_latest)  # before anything is fetched or run
    pinned_deps = parse_pins(pins)
    out = Path(out)
    _check_out(out)
    transform = {**parse_resize(resize), "mean": tuple(mean or IMAGENET_MEAN), "std": tuple(std or IMAGENET_STD)}
    base = build_config(
        HubRetrieverConfig,
        {
            "source": hub.location,
            "ref": hub.ref,
            "entry": hub.entry,
            "kwargs": dict(kwargs or {}),
            "load_kwargs": dict(load_kwargs or {}),
            "output": output,
            "input_size": input_size,
            "size_multiple": size_multiple,
            "test_transform": transform,
        },
        owner="retriever 'hub' (import)",
    )
    weights_path = Path(weights) if weights else None
    if weights_path is not None and not weights_path.is_file():
        raise DataError(f"--weights {str(weights_path)!r} does not exist")
    tell(trust_notice(hub))

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.import-", dir=out.parent))
    try:
        folder = staging / "model"
        folder.mkdir()
        if hub.kind == "github":
            code_src = fetch_github(hub.location, hub.ref, refresh=not hub.pinned)
            commit, dirty = (hub.ref if hub.pinned else None), None
        else:
            code_src = Path(hub.location)
            commit, dirty = local_git_commit(code_src)
        tree = copy_code_tree(code_src, folder / "hub")
        found_license, license_file = read_license(folder / "hub")
        code = HubCode.of_folder(folder)
        who = f"retriever 'hub' ({hub.label}:{hub.entry})"
        run = EntryRun(
            code.root,
            code.deps_root,
            hub.entry,
            dict(base.kwargs),
            who,
            online=True,
            pins=pinned_deps,
            trust_latest=trust_latest,
            notify=tell,
        )
        module = run_entry(run)
        weights_record: dict[str, Any] = {"from": "entry", "downloads": run.downloads}
        if weights_path is not None:
            weights_record = {
                "from": "file",
                "downloads": run.downloads,
                **_load_weights_file(module, weights_path, who),
            }
        config = build_config(
            HubRetrieverConfig,
            base.model_dump(),
            {
                "commit": commit,
                "code_sha256": tree.sha256,
                "dependencies": {k: d.model_dump() for k, d in run.dependencies.items()},
            },
            owner="retriever 'hub' (import)",
        )
        model = HubRetriever(config, code=HubCode.of_folder(folder), module=module)
        chosen_license = license if license is not None else found_license
        model.training_summary = {
            "release": {
                "type": "hub",
                "host": hub.kind,
                "repo": hub.location,
                "ref": hub.ref,
                "commit": commit,
                "pinned": hub.pinned,
                "trust_latest": trust_latest,
                "uncommitted_changes": dirty,
                "entry": hub.entry,
                "kwargs": dict(base.kwargs),
                "load_kwargs": dict(base.load_kwargs),
                "code_sha256": tree.sha256,
                "sha256": tree.sha256,
                "code_files": tree.files,
                "skipped_files": list(tree.skipped[:50]),
                "skipped_count": len(tree.skipped),
                "dependencies": {k: d.model_dump() for k, d in run.dependencies.items()},
                "weights": weights_record,
                "license": chosen_license,
                "license_file": license_file,
                "input": config.describe_input(),
                "descriptor_dim": model.descriptor_dim,
                "entry_output_norm": model.entry_output_norm,
                "trusted_code": trust_notice(hub),
            }
        }
        model.save(folder)
        loaded = HubRetriever.load(folder)
        _check_reproduced(model, loaded, who)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(folder, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    loaded.relocate(out)
    from vprkit.models.artifact import read_manifest

    return loaded, read_manifest(out).get("card", {})


def _load_weights_file(module: torch.nn.Module, path: Path, who: str) -> dict[str, Any]:
    """Load a state-dict file strictly into the entry's module; returns its provenance."""
    from vprkit.models.release import sha256_file

    state = read_state_file(path)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"--weights {str(path)!r} is not a flat state dict of tensors")
    state = strip_module_prefix(state)
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of another shape
        raise DataError(f"{who}: --weights {str(path)!r} does not fit the entry's module: {exc}") from None
    if missing or unexpected:
        raise DataError(
            f"{who}: --weights {str(path)!r} does not fit the entry's module: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    return {"file": str(path), "sha256": sha256_file(path), "file_size": path.stat().st_size}


def _check_reproduced(model: HubRetriever, loaded: HubRetriever, who: str) -> None:
    probe = model.probe_images()
    a, b = model.encode(probe), loaded.encode(probe)
    gap = float((a - b).abs().max())
    if not gap <= REPRODUCE_ATOL:
        raise DataError(
            f"{who}: the folder loaded offline gives other descriptors than the imported model (max difference "
            f"{gap:.2e}); the entry builds something else without the network: pass --load-kwargs"
        )
