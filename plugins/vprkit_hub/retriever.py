"""The ``hub`` retriever: a ``torch.hub`` entry point as a vprkit retriever (docs/methods/hub.md).

A model folder of it is an ordinary vprkit model folder plus the code it runs::

    weights.safetensors   net.backbone.* = the entry's module (its own state-dict keys)
    config.yaml           source, commit, entry, kwargs, code SHA-256, input contract
    manifest.json         fingerprints and the card (source, checksums, licence, downloads)
    hub/                  the repository's code (hubconf.py and what it imports)
    hub-deps/owner__name/ code of the nested repositories the entry loads, if any

Loading checks the weights and config against the manifest, then the code against the SHA-256
in the config, and only then runs it, offline (:mod:`vprkit_hub.sandbox`), and loads the weights
strictly. The descriptor is the entry's output (or the part ``output`` names), L2-normalised in
float32: vprkit's retriever contract, whether or not the entry normalises.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel
from torch import nn
from torchvision import transforms as T
from torchvision.transforms import functional as TF

from vprkit.errors import ConfigError, DataError
from vprkit.fileio import atomic_write_json
from vprkit.models.descriptor import DescriptorNet
from vprkit.models.interfaces import TrainedRetriever
from vprkit.models.transforms import build_test_transform
from vprkit_hub.codetree import copy_code_tree, selected_tree, verify_tree
from vprkit_hub.config import HubRetrieverConfig, nearest_multiple
from vprkit_hub.sandbox import EntryRun, dependency_folder, run_entry

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["HubCode", "HubNet", "HubRetriever", "ResizeToMultiple", "hub_transform", "select_output"]

# the folder HubRetriever.load is reading (build_for needs it; the base class does not pass it)
_LOADING: ContextVar[Path | None] = ContextVar("vprkit_hub_loading", default=None)


@dataclass(frozen=True)
class HubCode:
    """Where a hub model's code is: ``root`` holds ``hubconf.py``, ``deps_root`` the nested
    repositories; ``verified``: already checked against the config's SHA-256."""

    root: Path
    deps_root: Path
    verified: bool = False

    @classmethod
    def of_folder(cls, folder: Path, verified: bool = True) -> HubCode:
        """The code cached in model folder ``folder`` (``hub/``, ``hub-deps/``)."""
        return cls(folder / "hub", folder / "hub-deps", verified)


def select_output(raw: Any, output: int | str | None) -> torch.Tensor:
    """The descriptor part of an entry's output: the tensor itself, the first (or ``output``-th)
    item of a tuple/list, or the ``output`` item of a dict."""
    if isinstance(raw, Mapping):
        if output is None or output not in raw:
            keys = sorted(map(str, raw))
            raise DataError(f"the hub model returns a dict with keys {keys}: name the descriptor (--output KEY)")
        raw = raw[output]
    elif isinstance(raw, (tuple, list)):
        index = 0 if output is None else output
        if not isinstance(index, int) or not -len(raw) <= index < len(raw):
            raise DataError(f"the hub model returns {len(raw)} outputs: --output must be an index below {len(raw)}")
        raw = raw[index]
    elif output is not None:
        raise DataError(f"the hub model returns one {type(raw).__name__}: --output {output!r} selects nothing")
    if not isinstance(raw, torch.Tensor) or raw.ndim != 2:
        shape = tuple(raw.shape) if isinstance(raw, torch.Tensor) else type(raw).__name__
        raise DataError(f"the hub model's descriptor is {shape}, not a (batch, dimension) tensor")
    return raw


class HubOutput(nn.Module):
    """The entry's output → ``(B, D)`` float32 unit rows (no parameters)."""

    def __init__(self, output: int | str | None):
        super().__init__()
        self.output = output

    def forward(self, raw: Any) -> torch.Tensor:
        return F.normalize(select_output(raw, self.output).float(), p=2.0, dim=1)


class HubNet(DescriptorNet):
    """``images (B, 3, H, W)`` → the entry's module (``backbone``) → :class:`HubOutput`."""

    def __init__(self, module: nn.Module, output: int | str | None, dim: int):
        super().__init__(module, HubOutput(output), dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.aggregation(self.backbone(images))


class ResizeToMultiple:
    """PIL image → the same image with each side resized to the nearest multiple of ``multiple``
    (bilinear, antialiased), as DINOv2-based models need (patches of 14 pixels)."""

    def __init__(self, multiple: int):
        self.multiple = multiple

    def __call__(self, image: Any) -> Any:
        width, height = image.size
        size = [nearest_multiple(height, self.multiple), nearest_multiple(width, self.multiple)]
        return image if size == [height, width] else TF.resize(image, size, antialias=True)

    def __repr__(self) -> str:
        return f"ResizeToMultiple({self.multiple})"


def hub_transform(config: HubRetrieverConfig) -> T.Compose:
    """PIL image → ``(3, H, W)`` float32: ``input_size`` or the resize rule, then sides to
    ``size_multiple``, then ``[0, 1]`` and the mean/std of ``test_transform``."""
    base = list(build_test_transform(config.test_transform).transforms)
    resize, to_tensor = base[:-2], base[-2:]  # the rule's resize steps; ToTensor + Normalize
    if config.input_size is not None:
        resize = [T.Resize(tuple(config.input_size), antialias=True)]
    elif config.size_multiple > 1:
        resize.append(ResizeToMultiple(config.size_multiple))
    return T.Compose([*resize, *to_tensor])


class HubRetriever(TrainedRetriever):
    """A retriever whose network is a ``hubconf.py`` entry point.

    ``HubRetriever(config)`` (``create_retriever("hub", source=FOLDER, entry=...)``) builds an
    untrained one from a local folder, offline (the entry's downloads are skipped:
    ``pretrained=False`` where it takes it); :meth:`import_from_hub` runs the entry with its own
    weights and writes a model folder (``vprkit models import hub``); :meth:`load` reads one. It
    has no trainer.
    """

    name = "hub"
    config_cls = HubRetrieverConfig
    config: HubRetrieverConfig

    def __init__(
        self, config: BaseModel | None = None, *, code: HubCode | None = None, module: nn.Module | None = None
    ):
        self._code = code
        self._module = module  # a module built already (the import); else build_net runs the entry
        #: mean L2 norm of the entry's raw descriptors on the probe (1.0: it normalises itself)
        self.entry_output_norm: float | None = None
        super().__init__(config)
        self._module = None
        self.transform = hub_transform(self.config)

    # ------------------------------------------------------------------------------ building
    @property
    def who(self) -> str:
        cfg = self.config
        return f"retriever 'hub' ({cfg.source or '?'}:{cfg.entry or '?'})"

    def _local_code(self) -> HubCode:
        cfg = self.config
        folder = Path(cfg.source).expanduser() if cfg.source else None
        if folder is None or not (folder / "hubconf.py").is_file():
            raise ConfigError(
                f"{self.who}: source must be a local folder with a hubconf.py to build a hub retriever from a "
                "config; a GitHub model is made with `vprkit models import hub REPO:ENTRY --out DIR`, then loaded"
            )
        if not cfg.entry:
            raise ConfigError(f"{self.who}: entry (the hubconf.py function to call) is not set")
        # nested repositories are never fetched here: a folder without hub-deps/ has none
        return HubCode(folder.resolve(), folder.resolve() / "hub-deps")

    def build_net(self) -> DescriptorNet:
        """The entry's module (built now, offline, unless given) wrapped as a :class:`HubNet`;
        ``descriptor_dim`` measured on one probe batch when the config does not state it."""
        cfg = self.config
        module = self._module
        if module is None:
            code = self._code or self._local_code()
            if not code.verified:
                tree = selected_tree(code.root)
                if cfg.code_sha256 and tree.sha256 != cfg.code_sha256:
                    raise DataError(
                        f"{self.who}: the code in {str(code.root)!r} changed since the config was written "
                        f"(SHA-256 {tree.sha256[:12]}…, config {cfg.code_sha256[:12]}…)"
                    )
                cfg = cfg.model_copy(update={"code_sha256": tree.sha256})
                code = HubCode(code.root, code.deps_root, verified=True)
            self._code = code
            run = EntryRun(
                code.root,
                code.deps_root,
                cfg.entry,
                dict(cfg.kwargs),
                self.who,
                online=False,
                load_kwargs=dict(cfg.load_kwargs),
                dependencies=dict(cfg.dependencies),
            )
            module = run_entry(run)
        dim = cfg.descriptor_dim or self._measure_dim(module, cfg)
        self.config = cfg.model_copy(update={"descriptor_dim": dim})
        return HubNet(module, cfg.output, dim)

    def _measure_dim(self, module: nn.Module, cfg: HubRetrieverConfig) -> int:
        h, w = cfg.probe_size()
        probe = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(0))
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                raw = select_output(module(probe), cfg.output)
        except DataError as exc:
            raise DataError(f"{self.who}: {exc}") from None
        except Exception as exc:
            raise DataError(
                f"{self.who}: the model fails on a {h}×{w} probe ({type(exc).__name__}: {exc}); "
                "state its input contract (--input-size H W, --resize, --size-multiple N)"
            ) from exc
        finally:
            module.train(was_training)
        self.entry_output_norm = float(raw.float().norm(dim=1).mean())
        return int(raw.shape[1])

    def probe_images(self) -> torch.Tensor:
        """``(2, 3, H, W)`` float32 at the contract's probe size (seeded): what imports compare."""
        h, w = self.config.probe_size()
        return torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(1))

    # ------------------------------------------------------------------------------ folders
    def save(self, directory: str | Path) -> Path:
        """The model folder (:mod:`vprkit.models.artifact`) with the code in ``hub/`` (and
        ``hub-deps/``), checked against the config's SHA-256; the card states the input contract."""
        folder = Path(directory)
        self._store_code(folder)
        out = super().save(folder)
        from vprkit.models.artifact import read_manifest

        manifest = read_manifest(out)
        card = manifest.get("card", {})
        card["test_transform"] = {
            **card.get("test_transform", {}),
            "input_size": list(self.config.input_size) if self.config.input_size else None,
            "size_multiple": self.config.size_multiple,
            "summary": self.config.describe_input(),
        }
        atomic_write_json(out / "manifest.json", manifest)
        return out

    def _store_code(self, folder: Path) -> None:
        cfg = self.config
        code = self._code
        if code is None:  # build_net always sets it
            raise DataError(f"{self.who}: the model has no code to save")
        pairs = [(code.root, folder / "hub", cfg.code_sha256)]
        pairs += [
            (dependency_folder(code.deps_root, d.repo), dependency_folder(folder / "hub-deps", d.repo), d.code_sha256)
            for d in cfg.dependencies.values()
        ]
        for src, dst, expected in pairs:
            if dst.exists() and dst.resolve() == src.resolve():
                verify_tree(dst, expected, None, self.who)
                continue
            if dst.exists():
                shutil.rmtree(dst)
            dst.parent.mkdir(parents=True, exist_ok=True)
            tree = copy_code_tree(src, dst)
            if tree.sha256 != expected:
                raise DataError(f"{self.who}: the code in {str(src)!r} changed since the model was built; not saved")

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        """Read a hub model folder: manifest, weights and config checked, then the code's SHA-256,
        then the entry run offline and the weights loaded strictly. Never reaches the network."""
        token = _LOADING.set(Path(directory))
        try:
            return super().load(directory)
        finally:
            _LOADING.reset(token)

    @classmethod
    def build_for(cls, config: BaseModel, saved: Mapping[str, Any]) -> Self:
        folder = _LOADING.get()
        if folder is None:
            raise ConfigError("HubRetriever.build_for is called by HubRetriever.load (it needs the folder)")
        cfg = HubRetrieverConfig.model_validate(config.model_dump())
        who = f"retriever 'hub' ({folder})"
        record = (saved["manifest"].get("training") or {}).get("release") or {}
        verify_tree(folder / "hub", cfg.code_sha256, record.get("code_files"), who)
        for dep in cfg.dependencies.values():
            verify_tree(dependency_folder(folder / "hub-deps", dep.repo), dep.code_sha256, None, who)
        return cls(config, code=HubCode.of_folder(folder))

    def _load_state(self, state: Mapping[str, torch.Tensor], directory: str | Path) -> None:
        try:
            super()._load_state(state, directory)
        except RuntimeError as exc:  # torch's strict load_state_dict
            first = str(exc).strip().splitlines()
            raise DataError(
                f"{self.who}: the saved weights do not fit the module the entry builds offline "
                f"({first[0] if first else exc}...); if the entry changes architecture without its download, "
                "import again with --load-kwargs"
            ) from exc

    def relocate(self, folder: str | Path) -> None:
        """The code now lives in model folder ``folder`` (after an import renamed it into place)."""
        self._code = HubCode.of_folder(Path(folder))

    # ------------------------------------------------------------------------------ import
    @classmethod
    def import_from_hub(cls, source: str, out: str | Path, **options: Any) -> tuple[HubRetriever, dict[str, Any]]:
        """``vprkit models import hub SOURCE --out OUT``: :func:`vprkit_hub.importer.import_hub`."""
        from vprkit_hub.importer import import_hub

        return import_hub(source, out, **options)
