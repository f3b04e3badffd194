"""Atomic writes and content fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from vprkit.fileio import atomic_path, atomic_write_json, fingerprint, fingerprint_strings


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]
    with atomic_path(target, suffix=".npy") as tmp:
        assert tmp.suffix == ".npy"
        np.save(tmp, np.arange(3))
    assert np.load(target).tolist() == [0, 1, 2]


def test_atomic_json(tmp_path):
    path = atomic_write_json(tmp_path / "x" / "m.json", {"b": 1, "a": [1, 2]})
    assert path.read_text().startswith('{\n  "a"')


def test_fingerprint_is_content_and_dtype_sensitive():
    a = np.arange(5, dtype=np.int64)
    assert fingerprint(a) == fingerprint(a.copy())
    assert fingerprint(a) != fingerprint(a.astype(np.int32))
    assert fingerprint(a, {"M": 20}) != fingerprint(a, {"M": 50})
    assert fingerprint("ab", "c") != fingerprint("a", "bc")
    assert fingerprint_strings(["x", "y"]) != fingerprint_strings(["y", "x"])


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    import torch

    from vprkit.models.artifact import save_weights

    mask = os.umask(0)
    os.umask(mask)
    # a plain writer, and one (safetensors) that replaces the temporary file with its own 0600 file
    for path in (
        atomic_write_json(tmp_path / "m.json", {}),
        save_weights(tmp_path / "w.safetensors", {"w": torch.ones(2)}),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path
