"""Calling a ``hubconf.py`` entry point the way vprkit needs it (docs/methods/hub.md, "What runs").

This is *not* a security sandbox: the entry is trusted Python code from a repository the user
named, and it runs with the user's rights. What this module controls is what the call can reach:

- **the code**: ``hubconf.py`` is imported under a unique module name with the code folder first
  on ``sys.path`` only during the call; modules the code defines are imported from source (never
  from a ``__pycache__`` in the model folder, and no bytecode is written there), modules of the
  same name imported before the call are hidden during it, and everything the call imported
  from the code is dropped from ``sys.modules`` afterwards, so two hub models with a ``utils.py``
  each do not see each other's;
- **nested repositories**: a ``torch.hub.load("owner/name", ...)`` inside the entry (MegaLoc and
  BoQ load DINOv2 that way) is served from the model folder's ``hub-deps/owner__name/``; at
  import the repository is fetched first (pinned with ``--pin owner/name=COMMIT``, or under
  ``--trust-latest``) and copied there;
- **the network**: at import it is allowed and every file the entry downloads through
  ``torch.hub`` is recorded with its SHA-256; when vprkit builds the model offline (loading a
  folder, or creating an untrained model from a config) every connection, ``urlopen`` and
  ``download_url_to_file`` raises :class:`OfflineError`, ``pretrained=False`` is passed when the
  entry takes it, and ``torch.hub.load_state_dict_from_url`` returns an empty
  :class:`DeferredWeights` that ``load_state_dict`` skips: the weights saved in the folder are
  loaded strictly right after.

The patches are process-wide for the duration of the call (threads running meanwhile see them).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import importlib.util
import inspect
import itertools
import socket
import sys
import tempfile
import types
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.hub
from torch import nn
from torch.nn.modules.module import _IncompatibleKeys

from vprkit.errors import ConfigError, DataError, VprkitError
from vprkit_hub.codetree import copy_code_tree, top_level_names
from vprkit_hub.config import HubDependency
from vprkit_hub.source import fetch_github, is_commit, split_github

__all__ = ["DeferredWeights", "EntryRun", "OfflineError", "accepts_argument", "dependency_folder", "run_entry"]

_MODULE_PREFIX = "_vprkit_hub_code_"
_counter = itertools.count()


class OfflineError(DataError):
    """The hub code tried to reach the network while vprkit built the model offline."""


class DeferredWeights(dict):
    """What ``torch.hub.load_state_dict_from_url`` returns during an offline build: an empty state
    dict that ``nn.Module.load_state_dict`` skips (the folder's weights are loaded after the call).
    Looking a key up gives the same object, so ``sd["state_dict"]`` or ``sd.get("model", sd)``
    work as they do on the authors' checkpoint."""

    def __init__(self, url: str):
        super().__init__()
        self.url = url

    def __missing__(self, key: Any) -> DeferredWeights:
        return self

    def get(self, key: Any, default: Any = None) -> DeferredWeights:
        return self

    def pop(self, key: Any, default: Any = None) -> DeferredWeights:
        return self


def dependency_folder(deps_root: Path, repo: str) -> Path:
    """The cached copy of GitHub ``repo`` (``owner/name``) under ``deps_root``."""
    return deps_root / repo.lower().replace("/", "__")


def accepts_argument(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` has a parameter called ``name`` (not merely ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    param = params.get(name)
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)


@dataclass
class EntryRun:
    """One call of an entry point.

    Attributes:
        code_root: the folder of ``hubconf.py`` (the model folder's ``hub/`` once imported).
        deps_root: where nested repositories are (``hub-deps/``).
        entry, kwargs: what to call.
        who: names the model in messages.
        online: import (network allowed, downloads recorded) or offline build.
        load_kwargs: put over ``kwargs`` in an offline build.
        pins: ``owner/name`` (lower case) → commit for nested repositories (import).
        trust_latest: allow unpinned nested repositories (import).
        notify: told about each nested repository fetched (import).
        dependencies: nested repositories known (load) or fetched (import), by lower-case name.
        downloads: ``{"url", "sha256"}`` of the files the entry downloaded (import).
        deferred: URLs whose weights were deferred (offline build).
        called_with: the keyword arguments the entry was finally called with.
    """

    code_root: Path
    deps_root: Path
    entry: str
    kwargs: dict[str, Any]
    who: str
    online: bool = False
    load_kwargs: dict[str, Any] = field(default_factory=dict)
    pins: Mapping[str, str] = field(default_factory=dict)
    trust_latest: bool = False
    notify: Callable[[str], None] | None = None
    dependencies: dict[str, HubDependency] = field(default_factory=dict)
    downloads: list[dict[str, Any]] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    called_with: dict[str, Any] = field(default_factory=dict)


def run_entry(run: EntryRun) -> nn.Module:
    """Import ``run.code_root/hubconf.py``, call ``run.entry`` as described in the module
    docstring, return the module it builds."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(_code_importable([run.code_root, run.deps_root]))
        stack.enter_context(contextlib.redirect_stdout(sys.stderr))  # stdout carries vprkit's data
        hubconf = _import_hubconf(run)
        entry = getattr(hubconf, run.entry, None)
        if not callable(entry):
            names = sorted(
                n
                for n, v in vars(hubconf).items()
                if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == hubconf.__name__
            )
            raise ConfigError(
                f"{run.who}: hubconf.py has no entry point {run.entry!r} (it defines: {', '.join(names) or 'none'})"
            )
        kwargs = dict(run.kwargs)
        if not run.online:
            if accepts_argument(entry, "pretrained"):
                kwargs["pretrained"] = False
            kwargs.update(run.load_kwargs)
        run.called_with = kwargs
        stack.enter_context(_replaced_everywhere({torch.hub.load: _nested_hub_load(run)}))
        stack.enter_context(_recording_downloads(run) if run.online else _network_blocked(run))
        try:
            model = entry(**kwargs)
        except OfflineError as exc:
            raise OfflineError(f"{exc}; {_OFFLINE_ADVICE}") from exc
        except VprkitError:
            raise
        except Exception as exc:
            cause = _offline_cause(exc)
            if cause is not None:
                raise OfflineError(f"{cause}; {_OFFLINE_ADVICE}") from exc
            raise DataError(f"{run.who}: {run.entry}(**{kwargs}) failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise DataError(f"{run.who}: {run.entry}() returned a {type(model).__name__}, not a torch.nn.Module")
    return model


_OFFLINE_ADVICE = (
    "a hub model folder is built offline from its cached code; give the entry arguments that turn the "
    "download off with --load-kwargs (e.g. --load-kwargs pretrained=false or weights=null) and import again"
)


def _offline_cause(exc: BaseException) -> OfflineError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OfflineError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


# ----------------------------------------------------------------------------------- the code
class _SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compiles the source every time: bytecode in a model folder is never read."""

    def get_code(self, fullname: str) -> types.CodeType:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _module_paths(module: Any) -> list[Path]:
    paths = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
    out = []
    for p in paths:
        if isinstance(p, str):
            with contextlib.suppress(OSError, ValueError):
                out.append(Path(p).resolve())
    return out


@contextlib.contextmanager
def _code_importable(roots: list[Path]) -> Iterator[None]:
    resolved = [r.resolve() for r in roots]
    names = top_level_names(roots[0])
    if roots[1].is_dir():
        for dep in roots[1].iterdir():
            names |= top_level_names(dep)

    def hook(entry: str) -> importlib.machinery.FileFinder:
        try:
            path = Path(entry).resolve()
        except (OSError, ValueError):
            raise ImportError(entry) from None
        if not _under(path, resolved):
            raise ImportError(entry)  # not hub code: the next hook finds it
        return importlib.machinery.FileFinder(entry, (_SourceOnlyLoader, importlib.machinery.SOURCE_SUFFIXES))

    def forget_finders() -> None:
        for key in list(sys.path_importer_cache):
            with contextlib.suppress(OSError, ValueError):
                if _under(Path(key).resolve(), resolved):
                    del sys.path_importer_cache[key]

    hidden = {k: sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] in names}
    before = set(sys.modules)
    saved_path, saved_bytecode = list(sys.path), sys.dont_write_bytecode
    sys.path_hooks.insert(0, hook)
    forget_finders()
    sys.path.insert(0, str(roots[0]))
    sys.dont_write_bytecode = True
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for key in set(sys.modules) - before:
            if key.startswith(_MODULE_PREFIX) or any(_under(p, resolved) for p in _module_paths(sys.modules[key])):
                del sys.modules[key]
        sys.modules.update(hidden)
        sys.path[:] = saved_path  # also undoes what the code itself inserted (BoQ adds its folder)
        sys.dont_write_bytecode = saved_bytecode
        with contextlib.suppress(ValueError):
            sys.path_hooks.remove(hook)
        forget_finders()


def _import_hubconf(run: EntryRun) -> types.ModuleType:
    path = run.code_root / "hubconf.py"
    if not path.is_file():
        raise DataError(f"{run.who}: {str(path)!r} is missing")
    name = f"{_MODULE_PREFIX}{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path, loader=_SourceOnlyLoader(name, str(path)))
    assert spec is not None and spec.loader is not None  # a file path with a loader always gives one
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up while it runs
    try:
        spec.loader.exec_module(module)
    except OfflineError as exc:
        raise OfflineError(f"{exc}; {_OFFLINE_ADVICE}") from exc
    except VprkitError:
        raise
    except Exception as exc:
        cause = _offline_cause(exc)
        if cause is not None:
            raise OfflineError(f"{cause}; {_OFFLINE_ADVICE}") from exc
        raise DataError(f"{run.who}: importing hubconf.py failed: {type(exc).__name__}: {exc}") from exc
    needed = getattr(module, "dependencies", None) or []
    missing = [str(p) for p in needed if importlib.util.find_spec(str(p)) is None]
    if missing:
        raise DataError(f"{run.who}: hubconf.py needs the packages {', '.join(missing)}; install them")
    return module


# ----------------------------------------------------------------------------------- patches
@contextlib.contextmanager
def _replaced_everywhere(replacements: Mapping[Any, Any]) -> Iterator[None]:
    """Point every module attribute that *is* a key of ``replacements`` at its value, then back
    (also in modules imported meanwhile, which bound the replacement by ``from x import f``)."""
    table = {id(k): (k, v) for k, v in replacements.items()}
    restore = {id(v): k for k, v in replacements.items()}

    def swap(lookup: Mapping[int, Any], pick: Callable[[Any], Any]) -> None:
        for module in list(sys.modules.values()):
            if not isinstance(module, types.ModuleType):
                continue
            try:
                namespace = object.__getattribute__(module, "__dict__")  # never triggers a lazy module
            except AttributeError:
                continue
            for key, value in list(namespace.items()):
                hit = lookup.get(id(value))
                if hit is not None:
                    namespace[key] = pick(hit)

    swap(table, lambda pair: pair[1])
    try:
        yield
    finally:
        swap(restore, lambda original: original)


@contextlib.contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _sha256(path: str | Path) -> str | None:
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        return digest.hexdigest()
    except OSError:
        return None


@contextlib.contextmanager
def _recording_downloads(run: EntryRun) -> Iterator[None]:
    """Import: downloads go ahead; each file ``torch.hub`` fetched is recorded with its SHA-256."""
    from urllib.parse import urlparse

    load_from_url, download = torch.hub.load_state_dict_from_url, torch.hub.download_url_to_file
    signature = inspect.signature(load_from_url)

    def record(url: str, path: str | Path) -> None:
        if all(d["url"] != url for d in run.downloads):
            run.downloads.append({"url": url, "sha256": _sha256(path)})

    def recording_load(*args: Any, **kwargs: Any) -> Any:
        result = load_from_url(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        url = bound.arguments["url"]
        folder = bound.arguments.get("model_dir") or str(Path(torch.hub.get_dir()) / "checkpoints")
        name = bound.arguments.get("file_name") or Path(urlparse(url).path).name
        record(url, Path(folder) / name)
        return result

    def recording_download(url: str, dst: str, *args: Any, **kwargs: Any) -> None:
        download(url, dst, *args, **kwargs)
        record(url, dst)

    replacements: dict[Any, Any] = {load_from_url: recording_load, download: recording_download}
    hf_download = _hf_hub_download()
    if hf_download is not None:
        hf_signature = inspect.signature(hf_download)

        def recording_hf_download(*args: Any, **kwargs: Any) -> Any:
            path = hf_download(*args, **kwargs)
            bound = hf_signature.bind_partial(*args, **kwargs).arguments
            snapshot = Path(str(path)).parts
            # the cache path is .../snapshots/<commit>/<filename>: the revision actually served
            commit = next((snapshot[i + 1] for i, p in enumerate(snapshot[:-1]) if p == "snapshots"), None)
            at = commit or bound.get("revision") or "main"
            name = "/".join(p for p in (bound.get("subfolder"), bound.get("filename")) if p)
            record(f"https://huggingface.co/{bound.get('repo_id')}/resolve/{at}/{name}", path)
            return path

        replacements[hf_download] = recording_hf_download
    with _replaced_everywhere(replacements), _hf_top_level(replacements):
        yield


def _hf_hub_download() -> Callable[..., Any] | None:
    """``huggingface_hub.hf_hub_download`` when installed (entries fetch weights with it too)."""
    if importlib.util.find_spec("huggingface_hub") is None:
        return None
    from huggingface_hub import file_download

    return file_download.hf_hub_download


@contextlib.contextmanager
def _hf_top_level(replacements: Mapping[Any, Any]) -> Iterator[None]:
    """``huggingface_hub`` resolves its top-level names lazily: set the replacement there too."""
    hub_module = sys.modules.get("huggingface_hub")
    original = _hf_hub_download() if hub_module is not None else None
    if hub_module is None or original not in replacements:
        yield
        return
    setattr(hub_module, "hf_hub_download", replacements[original])  # noqa: B010
    try:
        yield
    finally:
        setattr(hub_module, "hf_hub_download", original)  # noqa: B010


@contextlib.contextmanager
def _network_blocked(run: EntryRun) -> Iterator[None]:
    """Offline build: the network raises :class:`OfflineError`; torch.hub weights are deferred."""

    def refuse(what: str) -> OfflineError:
        return OfflineError(
            f"{run.who}: the hub code tried to reach the network ({what}) while vprkit builds it offline"
        )

    def deferred_weights(url: str, *args: Any, **kwargs: Any) -> DeferredWeights:
        run.deferred.append(url)
        return DeferredWeights(url)

    def no_download(url: str, *args: Any, **kwargs: Any) -> None:
        raise refuse(f"download_url_to_file {url}")

    def no_urlopen(url: Any, *args: Any, **kwargs: Any) -> Any:
        raise refuse(f"urlopen {getattr(url, 'full_url', url)}")

    def no_open(self: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        raise refuse(f"urllib {getattr(url, 'full_url', url)}")

    def no_connect(self: socket.socket, address: Any, *args: Any, **kwargs: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise refuse(f"connect to {address}")
        return real_connect(self, address)

    def no_connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise refuse(f"connect to {address}")
        return real_connect_ex(self, address)

    def no_create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        raise refuse(f"connection to {address}")

    def no_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        raise refuse(f"name lookup of {host}")

    load_state_dict = nn.Module.load_state_dict

    def skip_deferred(self: nn.Module, state_dict: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        # the deferred download, or what the code made of it (a re-keyed copy is an empty dict)
        if isinstance(state_dict, DeferredWeights) or (isinstance(state_dict, Mapping) and not state_dict):
            return _IncompatibleKeys([], [])
        return load_state_dict(self, state_dict, *args, **kwargs)

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    replacements: dict[Any, Any] = {
        torch.hub.load_state_dict_from_url: deferred_weights,
        torch.hub.download_url_to_file: no_download,
        urllib.request.urlopen: no_urlopen,
        socket.create_connection: no_create_connection,
        socket.getaddrinfo: no_getaddrinfo,
    }
    with contextlib.ExitStack() as stack:
        hf_download = _hf_hub_download()
        if hf_download is not None:
            empty = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vprkit-hub-deferred-")))
            hf_signature = inspect.signature(hf_download)

            def deferred_hf_download(*args: Any, **kwargs: Any) -> str:
                # an empty weights file of the asked format: what the code reads from it is an
                # empty state dict, which load_state_dict skips like DeferredWeights
                bound = hf_signature.bind_partial(*args, **kwargs).arguments
                filename = str(bound.get("filename") or "weights.bin")
                run.deferred.append(f"hf://{bound.get('repo_id')}/{filename}")
                target = empty / f"{len(run.deferred)}-{Path(filename).name}"
                if target.suffix == ".safetensors":
                    from safetensors.torch import save_file

                    save_file({}, str(target))
                else:
                    torch.save({}, target)
                return str(target)

            replacements[hf_download] = deferred_hf_download
        stack.enter_context(_replaced_everywhere(replacements))
        stack.enter_context(_hf_top_level(replacements))
        stack.enter_context(_patched(urllib.request.OpenerDirector, "open", no_open))
        stack.enter_context(_patched(socket.socket, "connect", no_connect))
        stack.enter_context(_patched(socket.socket, "connect_ex", no_connect_ex))
        stack.enter_context(_patched(nn.Module, "load_state_dict", skip_deferred))
        yield


def _nested_hub_load(run: EntryRun) -> Callable[..., Any]:
    """``torch.hub.load`` inside the entry: served from ``hub-deps/`` (fetched there at import)."""
    original = torch.hub.load

    def hub_load(repo_or_dir: str, model: str, *args: Any, source: str = "github", **kwargs: Any) -> Any:
        for ignored in ("trust_repo", "force_reload", "skip_validation"):
            kwargs.pop(ignored, None)  # a local load asks none of these
        kwargs["verbose"] = False
        if source == "local":
            folder = Path(repo_or_dir).resolve()
            if not _under(folder, [run.code_root.resolve(), run.deps_root.resolve()]):
                raise DataError(
                    f"{run.who}: the entry loads code from {str(folder)!r}, outside the code vprkit caches; "
                    "such a model cannot be imported"
                )
            return original(str(folder), model, *args, source="local", **kwargs)
        repo, ref = split_github(repo_or_dir)
        key = repo.lower()
        folder = dependency_folder(run.deps_root, repo)
        if key not in run.dependencies or not folder.is_dir():
            if not run.online:
                raise OfflineError(
                    f"{run.who}: the entry calls torch.hub.load({repo_or_dir!r}) but the model folder holds no copy of {repo}"
                )
            commit = run.pins.get(key) or (ref.lower() if ref and is_commit(ref) else None)
            if commit is None and not run.trust_latest:
                raise ConfigError(
                    f"{run.who}: the entry loads code from GitHub {repo} at {ref or 'its default branch'}, which is not "
                    f"pinned; pass --pin {repo}=<40-hex commit> (or --trust-latest)"
                )
            fetched = fetch_github(repo, commit or ref, refresh=commit is None)
            tree = copy_code_tree(fetched, folder)
            run.dependencies[key] = HubDependency(repo=repo, ref=commit or ref, commit=commit, code_sha256=tree.sha256)
            if run.notify is not None:
                run.notify(f"nested repository {repo} @ {commit or ref or 'default branch'} (trusted code, cached)")
        return original(str(folder), model, *args, source="local", **kwargs)

    return hub_load
