"""Where and how inference runs: device, numeric precision, memory format, threads.

One :class:`Runtime` is resolved per command (``--device``, ``--precision``, ``--threads``) and
applied to every model the command runs (:meth:`Runtime.prepare`, :meth:`Runtime.encoder`):

- **device** ``auto`` is the CUDA device when one is present (``LOCAL_RANK``'s under torchrun),
  else the CPU; ``cuda`` / ``cuda:i`` are refused in one line when that device does not exist.
- **precision** ``auto`` is bfloat16 autocast on a CUDA device that supports it (float16 on older
  ones) and on CPUs with native bfloat16 (AVX512-BF16 or AMX), float32 elsewhere. Networks run
  under ``torch.autocast``; descriptors always come out float32 and L2-normalised, so indexes and
  stores see the same dtype whatever the precision. The agreement with float32 is tested
  (cosine >= 0.999 on the shipped models, tests/models/test_runtime.py).
- **channels_last**: convolution inputs and weights in NHWC, the layout oneDNN and cuDNN are fastest
  in (on by default; no effect on a transformer's results).
- **fold_batch_norm**: inference runs on a copy of the network whose batch norms are folded into
  the preceding convolutions (``torch.fx``), checked to give the same descriptors before it is used
  and dropped as soon as the weights change (ResNet-18, bfloat16, 2 cores: about 1.35x).
- **threads**: torch intra-op threads and faiss OpenMP threads. The default never oversubscribes:
  the cores this process may use, minus the loader workers, minus the cores other processes kept
  busy over the last minute (the 1-minute load average), at least 1.

Every report records :meth:`Runtime.describe` (device, precision, threads, workers, load average).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from vprkit.errors import ConfigError

__all__ = [
    "PRECISIONS",
    "Runtime",
    "available_cores",
    "cpu_supports_bf16",
    "default_threads",
    "load_average",
    "resolve_device",
    "resolve_precision",
]

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(choice: str | torch.device = "auto") -> torch.device:
    """``auto`` → the local CUDA device when present (``LOCAL_RANK`` under torchrun), else the CPU;
    ``cpu``, ``cuda``, ``cuda:i`` as given, refused (:class:`ConfigError`) when absent."""
    text = str(choice).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0"))
            return torch.device("cuda", local % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise ConfigError(f"--device {choice!r}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ConfigError(f"--device {choice!r}: expected auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ConfigError(f"--device {choice}: no CUDA device is available here; use --device cpu (or auto)")
    count = torch.cuda.device_count()
    index = device.index if device.index is not None else 0
    if index >= count:
        raise ConfigError(f"--device {choice}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return torch.device("cuda", index)


def cpu_supports_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (AVX512-BF16 or AMX); without it oneDNN
    emulates bfloat16 and is slower than float32."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check is not None and bool(check()) for check in checks)


def resolve_precision(choice: str, device: torch.device) -> str:
    """``float32`` / ``bfloat16`` / ``float16`` for ``device`` (``auto``: see the module doc)."""
    if choice not in PRECISIONS:
        raise ConfigError(f"--precision {choice!r}: expected one of {', '.join(PRECISIONS)}")
    if choice == "auto":
        if device.type == "cuda":
            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return "bfloat16" if cpu_supports_bf16() else "float32"
    if choice == "float16" and device.type == "cpu":
        raise ConfigError("--precision float16 runs on CUDA only; on a CPU use bfloat16 or float32")
    return choice


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_average() -> float | None:
    """The 1-minute load average, or None where the system has none."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def default_threads(workers: int = 0) -> int:
    """Compute threads that leave a core per loader worker and per core kept busy by other
    processes (1-minute load average, rounded down): ``threads + workers <= cores``, at least 1."""
    cores = available_cores()
    load = load_average() or 0.0
    busy = min(cores - 1, max(0, math.floor(load)))
    return max(1, cores - workers - busy)


@dataclass(frozen=True)
class Runtime:
    """A resolved inference setting (see the module doc). Build one with :meth:`resolve`."""

    device: torch.device
    precision: str
    threads: int
    workers: int = 0
    channels_last: bool = True
    fold_batch_norm: bool = True

    @classmethod
    def resolve(
        cls,
        device: str | torch.device = "auto",
        precision: str = "auto",
        threads: int | None = None,
        workers: int = 0,
        channels_last: bool = True,
        fold_batch_norm: bool = True,
    ) -> Runtime:
        """Check and resolve the options of one command (``threads=None``: :func:`default_threads`)."""
        dev = resolve_device(device)
        if threads is not None and threads < 1:
            raise ConfigError(f"--threads {threads}: give at least 1")
        if workers < 0:
            raise ConfigError(f"--workers {workers}: give 0 or more")
        return cls(
            device=dev,
            precision=resolve_precision(precision, dev),
            threads=int(threads) if threads is not None else default_threads(workers),
            workers=int(workers),
            channels_last=channels_last,
            fold_batch_norm=fold_batch_norm,
        )

    def apply_threads(self) -> None:
        """Set torch's intra-op threads and faiss's OpenMP threads to :attr:`threads`."""
        torch.set_num_threads(self.threads)
        with contextlib.suppress(ImportError):
            import faiss

            faiss.omp_set_num_threads(self.threads)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """``torch.autocast`` at :attr:`precision` (nothing for float32)."""
        if self.precision == "float32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_DTYPES[self.precision])

    def prepare(self, model: Any) -> Any:
        """Move a model (anything with ``to(device)``: a vprkit model or a torch module) to
        :attr:`device`; with :attr:`channels_last`, the module's (a vprkit model's ``net``) 4-D
        weights go NHWC. Returns the model."""
        if model is None:
            return model
        model.to(self.device)
        net = model if isinstance(model, torch.nn.Module) else getattr(model, "net", None)
        if self.channels_last and isinstance(net, torch.nn.Module):
            net.to(memory_format=torch.channels_last)
        if self.fold_batch_norm and isinstance(net, torch.nn.Module) and hasattr(model, "set_inference_net"):
            model.set_inference_net(self._folded(net))
        return model

    def _folded(self, net: torch.nn.Module) -> torch.nn.Module | None:
        """A copy of ``net`` with each convolution's batch norm folded into it (torch.fx), used
        only if it gives the same descriptors (max abs difference <= 1e-4 on a probe batch): a
        network fx cannot trace, or one whose norms are not plain eval-mode batch norms, keeps
        running as it is."""
        import copy

        from torch.fx.experimental.optimization import fuse

        if not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()):
            return None
        net.eval()
        try:
            folded = fuse(copy.deepcopy(net))
        except Exception:  # any tracing failure means "not foldable", never an error
            return None
        if self.channels_last:
            folded.to(memory_format=torch.channels_last)
        probe = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)).to(self.device)
        try:
            with torch.inference_mode():
                same = torch.allclose(folded(probe).float(), net(probe).float(), atol=1e-4, rtol=0)
        except Exception:  # e.g. a network that needs another input size
            return None
        return folded if same else None

    def encoder(
        self, encode: Callable[[torch.Tensor], torch.Tensor], *, normalized: bool = False
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """``encode`` run on :attr:`device`, in :attr:`precision`, NHWC input: ``(B, 3, H, W)`` →
        ``(B, D)`` float32.

        ``normalized``: ``encode`` promises L2-normalised rows (a retriever); in reduced precision
        its last division ran in 8 or 11 mantissa bits, so the float32 rows are normalised again
        (norm 1 within 1e-6, as a float32 run gives)."""

        def run(images: torch.Tensor) -> torch.Tensor:
            images = images.to(self.device, non_blocking=True)
            if self.channels_last and images.ndim == 4:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), self.autocast():
                out = encode(images).float()
            if normalized and self.precision != "float32":
                out = torch.nn.functional.normalize(out, dim=-1)
            return out

        return run

    @contextlib.contextmanager
    def active(self) -> Iterator[Runtime]:
        """Apply the threads for the duration (restoring torch's count after)."""
        before = torch.get_num_threads()
        self.apply_threads()
        try:
            yield self
        finally:
            torch.set_num_threads(before)

    def describe(self) -> dict[str, Any]:
        """What a report records: device, precision, threads, workers, channels_last, cores, and
        the 1-minute load average when the command started using this runtime."""
        return {
            "device": str(self.device),
            "device_name": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else _cpu_name(),
            "precision": self.precision,
            "threads": self.threads,
            "workers": self.workers,
            "channels_last": self.channels_last,
            "fold_batch_norm": self.fold_batch_norm,
            "cores": available_cores(),
            "load_average_1m": None if (load := load_average()) is None else round(load, 2),
        }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
