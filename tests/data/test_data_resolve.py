"""The embedded default dataset: generated once into the cache, even by commands started together."""

from __future__ import annotations

import subprocess
import sys

from vprkit.data.standard import load_split

SCRIPT = (
    "import sys; from pathlib import Path; from vprkit.data.resolve import default_dataset; "
    "print(default_dataset('tiny', 0, Path(sys.argv[1])))"
)


def test_two_first_uses_at_once_generate_one_complete_dataset(tmp_path):
    root = tmp_path / "synthcity-tiny-seed0"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [(*p.communicate(timeout=300), p.returncode) for p in procs]
    for out, err, code in results:
        assert code == 0, err[-2000:]
        assert out.strip() == str(root)
    assert (root / ".complete").is_file() and not (root / "images.partial").exists()
    assert len(load_split(root, "test/queries")) > 0
