"""``TrainedModelBase``: the lifecycle every trained classifier and retriever shares.

A method's model class states only what differs: its ``name``, its ``config_cls``, how to build
its network (:meth:`TrainedModelBase.build_net`) and, for a classifier, its heads and how they rank
classes. This base owns the rest:

- ``config`` (validated), ``transform`` (from ``config.test_transform``), ``device``,
  ``training_summary``, ``descriptor_dim`` (``net.dim``) and :meth:`~TrainedModelBase.to`;
- the forward pass at inference (eval mode, no gradients, float32 out): ``encode`` /
  ``descriptor``;
- identity: :meth:`~TrainedModelBase.state` (flat ``net.*`` / ``heads.*`` keys, the layout of
  ``weights.safetensors``) and :meth:`~TrainedModelBase.fingerprint`, whose weights hash is computed
  once (at load, or on first use) and kept until a weight or buffer changes (an in-place update
  moves a tensor's version counter; a new module or a move to another device changes its address);
- :meth:`~TrainedModelBase.save` and :meth:`~TrainedModelBase.load`: a model folder
  (:mod:`vprkit.models.artifact`); ``load`` never downloads pretrained weights (``pretrained`` is
  off while the network is built; the saved weights replace the random ones).

Training lives outside the model classes: a method's spec names a trainer
(``ModelSpec.trainer``, ``train_xxx(model, TrainRequest) -> model``; see
:mod:`vprkit.training.recipe`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pydantic import BaseModel
from torch import nn

from vprkit.errors import DataError
from vprkit.models.artifact import model_fingerprint, read_model_dir, tensors_fingerprint, write_model_dir
from vprkit.models.descriptor import DescriptorNet
from vprkit.models.transforms import build_test_transform

if TYPE_CHECKING:
    from typing_extensions import Self

    from vprkit.partition import Partition

__all__ = ["TrainedModelBase"]


class TrainedModelBase(ABC):
    """Base of every trained model (see the module docstring).

    Subclasses set ``name`` (the registry name) and ``config_cls`` (the spec's config class; its
    instances carry ``test_transform``); :class:`~vprkit.models.interfaces.TrainedClassifier` and
    :class:`~vprkit.models.interfaces.TrainedRetriever` set ``kind``.
    """

    #: the registry name (``"dnc"``, ``"cosplace"``); the manifest's ``method``
    name: ClassVar[str]
    #: ``"classifier"`` or ``"retriever"``; the manifest's ``kind``
    kind: ClassVar[str]
    #: the spec's config class
    config_cls: ClassVar[type[BaseModel]]

    def __init__(self, config: BaseModel | None = None):
        # an instance of the spec's config class (subclasses narrow the type); it has ``test_transform``
        cfg: Any = config if config is not None else self.config_cls()
        self.config: Any = cfg
        #: eval preprocessing: PIL image → ``(3, H, W)`` float32 tensor
        self.transform: Callable[[Any], torch.Tensor] = build_test_transform(cfg.test_transform)
        self.device = torch.device("cpu")
        #: what training recorded (dataset, epochs, history) or where imported weights came from
        self.training_summary: dict[str, Any] = {}
        #: the network: images ``(B, 3, H, W)`` → ``(B, net.dim)`` descriptors (a classifier's: once built)
        self.net: DescriptorNet = None  # type: ignore[assignment]
        #: modules saved beside the network (a classifier's heads), or None
        self.heads: nn.Module | None = None
        self._weights_fp: tuple[tuple[Any, ...], str] | None = None
        self._inference_net: tuple[tuple[Any, ...] | None, nn.Module] | None = None
        self._partition_fp: tuple[int, str] | None = None

    # ------------------------------------------------------------------ what a method states
    @abstractmethod
    def build_net(self) -> DescriptorNet:
        """A fresh network for ``self.config`` (weights from the torch RNG, or ImageNet ones when
        the config asks for them): backbone + aggregation, ``dim`` the descriptor size."""

    @classmethod
    def build_for(cls, config: BaseModel, saved: Mapping[str, Any]) -> Self:
        """A fresh model with the architecture of a saved one, for :meth:`load` to fill in.

        ``config`` is the saved config with ``pretrained`` off; ``saved`` is what
        :func:`~vprkit.models.artifact.read_model_dir` read (``partition``, ``manifest``...).
        Default: ``cls(config)``."""
        return cls(config)

    def saved_partition(self) -> Partition | None:
        """The partition saved with the model (classifiers), or None."""
        return None

    # ------------------------------------------------------------------------------ baselines
    def reset_weights(self, seed: int = 0) -> None:
        """Replace the trained weights by a fresh initialisation of the same architecture, drawn
        from ``torch.manual_seed(seed)`` (:meth:`build_net`; a classifier's heads too, on the same
        partition): the untrained baseline a trained model must beat. The torch RNG is restored."""
        state = torch.get_rng_state()
        try:
            torch.manual_seed(seed)
            self.net = self.build_net().to(self.device)
            heads = self._fresh_heads()
            if heads is not None:
                self.heads = heads.to(self.device)
        finally:
            torch.set_rng_state(state)
        # new modules may reuse the old ones' ids and addresses: forget what was cached about them
        self._weights_fp = None
        self._inference_net = None

    def _fresh_heads(self) -> nn.Module | None:
        """Heads for :meth:`reset_weights` to put beside a fresh :attr:`net` (classifiers); None: none."""
        return None

    # ------------------------------------------------------------------------------ resolution
    def set_resolution(self, scale: float) -> None:
        """Test-time resolution: run on images at ``scale`` × the input size of the model card's
        rule (:attr:`TestTransform.scale <vprkit.models.transform_config.TestTransform.scale>`).
        The scale is part of the config, hence of :meth:`fingerprint`: a bundle built at another
        resolution is another bundle."""
        rule = self.config.test_transform
        self.config.test_transform = type(rule).model_validate({**rule.model_dump(), "scale": scale})
        self.transform = build_test_transform(self.config.test_transform)

    # ------------------------------------------------------------------------------ devices
    @property
    def descriptor_dim(self) -> int:
        """Descriptor dimension d (``net.dim``)."""
        return self.net.dim

    def to(self, device: str | torch.device) -> Self:
        """Move the network (and heads) to ``device``; inference runs there (the weights hash,
        if known, stays: a move changes no value)."""
        known = self._known_weights_fingerprint()
        self.device = torch.device(device)
        self.net.to(self.device)
        if self.heads is not None:
            self.heads.to(self.device)
        if known is not None:
            self._remember_weights(known)
        return self

    def set_inference_net(self, net: nn.Module | None) -> None:
        """An equivalent copy of :attr:`net` for inference (e.g. with batch norms folded into the
        convolutions: :meth:`vprkit.runtime.Runtime.prepare`), used by ``encode`` / ``descriptor``
        for as long as the weights of :attr:`net` do not change (any update drops it); ``None``
        drops it now. Saving, fingerprints and training always use :attr:`net` itself."""
        self._inference_net = (self._weights_key(), net) if net is not None else None

    @torch.no_grad()
    def _describe(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W) -> (B, d)`` float32: the network in eval mode on ``self.device`` (its
        inference copy while that is current: :meth:`set_inference_net`)."""
        self.net.eval()
        net: nn.Module = self.net
        held = getattr(self, "_inference_net", None)
        if held is not None:
            if held[0] is not None and held[0] == self._weights_key():
                net = held[1]
            else:
                self._inference_net = None  # the weights moved on: the copy is stale
        return net(images.to(self.device)).float()

    # ------------------------------------------------------------------------------ identity
    def _modules(self) -> dict[str, nn.Module]:
        return {"net": self.net} if self.heads is None else {"net": self.net, "heads": self.heads}

    def state(self) -> dict[str, torch.Tensor]:
        """Every weight and buffer as one flat dict: ``net.<key>`` (and ``heads.<key>``)."""
        return {
            f"{prefix}.{k}": v for prefix, module in self._modules().items() for k, v in module.state_dict().items()
        }

    def _weights_key(self) -> tuple[Any, ...] | None:
        """What identifies the current weights without reading them: module identities and, per
        tensor, its address and version counter (None when a tensor has no version counter)."""
        try:
            return tuple(
                (
                    prefix,
                    id(module),
                    tuple((k, v.data_ptr(), v._version) for k, v in module.state_dict(keep_vars=True).items()),
                )
                for prefix, module in self._modules().items()
            )
        except RuntimeError:  # an inference-mode tensor tracks no version: hash every time
            return None

    def _known_weights_fingerprint(self) -> str | None:
        """The cached weights hash if the weights have not changed since, else None."""
        if self._weights_fp is None or self.net is None:
            return None
        return self._weights_fp[1] if self._weights_fp[0] == self._weights_key() else None

    def _remember_weights(self, digest: str) -> None:
        key = self._weights_key()
        self._weights_fp = (key, digest) if key is not None else None

    def weights_fingerprint(self) -> str:
        """:func:`~vprkit.models.artifact.tensors_fingerprint` of :meth:`state`, hashed once per
        version of the weights."""
        digest = self._known_weights_fingerprint()
        if digest is None:
            digest = tensors_fingerprint(self.state())
            self._remember_weights(digest)
        return digest

    def _partition_fingerprint(self) -> str | None:
        partition = self.saved_partition()
        if partition is None:
            return None
        if self._partition_fp is None or self._partition_fp[0] != id(partition):
            self._partition_fp = (id(partition), partition.fingerprint())
        return self._partition_fp[1]

    def fingerprint(self) -> str:
        """SHA-256 of weights + config (+ partition): what a bundle's index was built with."""
        return model_fingerprint(self.weights_fingerprint(), self.config, self._partition_fingerprint())

    # ------------------------------------------------------------------------------ folders
    def save(self, directory: str | Path) -> Path:
        """Write the model folder (:mod:`vprkit.models.artifact`) atomically; returns it."""
        return write_model_dir(
            directory,
            kind=self.kind,
            method=self.name,
            state=self.state(),
            config=self.config,
            partition=self.saved_partition(),
            extra={"descriptor_dim": self.descriptor_dim, "training": self.training_summary},
            weights_fingerprint=self.weights_fingerprint(),
        )

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        """Read a folder written by :meth:`save`; refuses one whose fingerprints do not match."""
        saved = read_model_dir(directory, kind=cls.kind, method=cls.name, config_cls=cls.config_cls)
        config = saved["config"]
        # the saved weights replace ImageNet ones: never download at load time
        offline = config.model_copy(update={"pretrained": False}) if getattr(config, "pretrained", False) else config
        model = cls.build_for(offline, saved)
        model.config = config
        model._load_state(saved["state"], directory)
        model.training_summary = saved["manifest"].get("training", {})
        current, read = model.state(), saved["state"]
        if current.keys() == read.keys() and all(
            (v.dtype, v.shape) == (read[k].dtype, read[k].shape) for k, v in current.items()
        ):
            model._remember_weights(saved["weights_fingerprint"])  # the very tensors read_model_dir hashed
        return model

    def _load_state(self, state: Mapping[str, torch.Tensor], directory: str | Path) -> None:
        modules = self._modules()
        parts: dict[str, dict[str, torch.Tensor]] = {prefix: {} for prefix in modules}
        for key, value in state.items():
            prefix, _, rest = key.partition(".")
            if prefix not in parts:
                raise DataError(
                    f"{str(directory)!r}: weight {key!r} belongs to no part of a {self.kind} "
                    f"{self.name!r} ({', '.join(f'{p}.*' for p in parts)})"
                )
            parts[prefix][rest] = value
        for prefix, module in modules.items():
            module.load_state_dict(parts[prefix])
