"""The `lightglue` re-ranker: kornia's DISK and LightGlue, then OpenCV's RANSAC inlier count.

kornia is an optional dependency (``pip install 'vprkit[rerank]'``); without it, creating the
re-ranker fails with one line naming the extra. Weights are downloaded only with
``pretrained=True``, through vprkit's release cache (checksum recorded on first download).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from vprkit.contracts import LocalFeatures, Verification
from vprkit.errors import ConfigError
from vprkit.fileio import fingerprint
from vprkit.rerank.base import RerankerBase, as_rgb, empty_features, image_size_of, ransac_verify
from vprkit_lightglue.config import LightGlueConfig

EXTRA_HINT = "the lightglue re-ranker needs kornia: pip install 'vprkit[rerank]'"


def _kornia() -> Any:
    try:
        import kornia.feature as kf
    except ImportError as exc:
        raise ConfigError(f"{EXTRA_HINT} ({exc})") from exc
    return kf


def _lightglue_state(raw: dict[str, Any], n_layers: int) -> dict[str, Any]:
    """The authors' LightGlue file names its attention layers ``self_attn.i`` / ``cross_attn.i``;
    kornia's module holds them under ``transformers.i``."""
    out = dict(raw)
    for i in range(n_layers):
        for part in ("self_attn", "cross_attn"):
            old, new = f"{part}.{i}.", f"transformers.{i}.{part}."
            out = {(new + k[len(old) :] if k.startswith(old) else k): v for k, v in out.items()}
    return out


def _load_exactly(module: Any, state: dict[str, Any], source: Any) -> None:
    """Load ``state`` into ``module``, refusing in one line a file that leaves a weight unset or
    holds one the module does not have (the authors' loader is lenient; a wrong layout would then
    run with random weights unnoticed)."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        first = (missing or unexpected or wrong)[0]
        what = "lacks" if missing else "has an unknown" if unexpected else "has a wrong shape for"
        raise ConfigError(
            f"{source}: {what} weight {first!r} ({len(missing)} missing, {len(unexpected)} unknown, "
            f"{len(wrong)} of another shape); is it the release this re-ranker names?"
        )
    module.load_state_dict(state)


class LightGlueReranker(RerankerBase):
    """DISK (128-D float32 descriptors) + LightGlue (for DISK, 9 layers) on the CPU or the
    runtime's device; the new score is the RANSAC inlier count of LightGlue's matches."""

    name: ClassVar[str] = "lightglue"
    descriptor_dim: ClassVar[int] = 128
    descriptor_dtype: ClassVar[str] = "float32"

    def __init__(self, config: LightGlueConfig | None = None) -> None:
        super().__init__(config or LightGlueConfig())
        kf = _kornia()
        import torch

        c = self.cfg
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            self.disk = kf.DISK(desc_dim=128)
            # features=None: kornia downloads nothing; the DISK configuration is given by hand
            self.glue = kf.LightGlue(
                None, input_dim=128, descriptor_dim=256, filter_threshold=c.filter_threshold, flash=False
            )
        self._weights = f"random-init seed {c.seed}"
        if c.pretrained:
            self._load_releases()
        self.disk.eval()
        self.glue.eval()

    @property
    def cfg(self) -> LightGlueConfig:
        assert isinstance(self.config, LightGlueConfig)
        return self.config

    def _load_releases(self) -> None:
        import torch

        from vprkit.models.release import download_release
        from vprkit.registry import get_spec

        spec = get_spec("reranker", self.name)
        releases = {r.name: r for r in getattr(spec, "releases", ())}
        disk_file, disk_sha = download_release(spec, releases["disk-depth"])
        glue_file, glue_sha = download_release(spec, releases["lightglue-disk"])
        disk_state = torch.load(disk_file, map_location="cpu", weights_only=True)
        _load_exactly(self.disk, disk_state.get("extractor", disk_state), disk_file)
        glue_state = torch.load(glue_file, map_location="cpu", weights_only=True)
        _load_exactly(self.glue, _lightglue_state(glue_state, self.glue.conf.n_layers), glue_file)
        self._weights = f"disk {disk_sha} lightglue {glue_sha}"

    def weights_fingerprint(self) -> str:
        return fingerprint(self._weights)

    def extract(self, image: Any) -> LocalFeatures:
        import torch
        import torch.nn.functional as F

        rgb = as_rgb(image)
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255.0
        scale = self.cfg.upscale
        if scale != 1.0:
            size = (max(round(rgb.shape[0] * scale), 1), max(round(rgb.shape[1] * scale), 1))
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        with torch.inference_mode():
            feats = self.disk(x, n=self.cfg.max_keypoints, pad_if_not_divisible=True)[0]
        xy = feats.keypoints.float().numpy()
        if len(xy) == 0:
            return empty_features(self.descriptor_dim, np.float32, image_size_of(rgb))
        if scale != 1.0:
            xy = (xy + 0.5) / np.float32(scale) - 0.5
        return LocalFeatures(
            np.ascontiguousarray(xy, dtype=np.float32),
            np.ascontiguousarray(feats.descriptors.float().numpy()),
            image_size_of(rgb),
        )

    def verify(self, query: LocalFeatures, candidate: LocalFeatures) -> Verification:
        import torch

        if len(query) == 0 or len(candidate) == 0:
            return Verification(0, np.zeros((0, 2), np.int64), 0)

        def side(f: LocalFeatures) -> dict[str, torch.Tensor]:
            # LightGlue centres and scales the keypoints by the image's (width, height), as in the
            # authors' matcher; features made without a size fall back to the keypoints' extent
            size = np.asarray(f.image_size if f.image_size is not None else f.keypoints.max(axis=0) + 1.0)
            return {
                "keypoints": torch.tensor(np.asarray(f.keypoints, dtype=np.float32))[None],
                "descriptors": torch.tensor(np.asarray(f.descriptors, dtype=np.float32))[None],
                "image_size": torch.from_numpy(np.maximum(size, 1.0).astype(np.float32))[None],
            }

        with torch.inference_mode():
            out = self.glue({"image0": side(query), "image1": side(candidate)})
        matches = out["matches"][0].cpu().numpy().astype(np.int64)
        c = self.cfg
        return ransac_verify(
            query,
            candidate,
            matches,
            geometry=c.geometry,
            threshold=c.ransac_threshold,
            confidence=c.confidence,
            max_iters=c.max_iters,
        )
