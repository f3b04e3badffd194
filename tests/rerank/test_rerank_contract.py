"""Issue 19: every registered re-ranker passes the contract checks (offline, random weights for
the learned one), and the registry wires the sixth kind like the others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vprkit import RerankerSpec, create_reranker, get_reranker_spec, list_rerankers, testing
from vprkit.errors import ConfigError, UnknownNameError


def test_the_built_in_rerankers_are_registered():
    assert {"sift", "lightglue"} <= set(list_rerankers())
    assert list_rerankers("s*") == ["sift"]
    assert isinstance(get_reranker_spec("sift"), RerankerSpec)


@testing.parametrize_registered("reranker")
def test_reranker_contract(name, tmp_path, one_torch_thread):
    testing.check_reranker(name, tmp_path, overrides={"max_keypoints": 256} if name == "lightglue" else None)


def test_unknown_reranker_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="Did you mean 'sift'"):
        create_reranker("sfit")


def test_reranker_config_is_typed():
    with pytest.raises(ConfigError, match="ratio"):
        create_reranker("sift", ratio=2.0)
    with pytest.raises(ConfigError, match="geometry"):
        create_reranker("sift", geometry="affine")
    with pytest.raises(ConfigError, match="ratoi"):
        create_reranker("sift", ratoi=0.7)


def test_lightglue_without_kornia_names_the_extra(monkeypatch):
    import sys

    for mod in [m for m in sys.modules if m == "kornia" or m.startswith("kornia.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "kornia", None)  # as if not installed: importing it fails
    with pytest.raises(ConfigError, match=r"needs kornia: pip install 'vprkit\[rerank\]'") as info:
        create_reranker("lightglue")
    assert "\n" not in str(info.value)


def test_lightglue_downloads_nothing_unless_asked(monkeypatch):
    import torch.hub

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    reranker = create_reranker("lightglue")
    assert reranker.config.pretrained is False
    spec = get_reranker_spec("lightglue")
    assert {r.name for r in spec.releases} == {"disk-depth", "lightglue-disk"} and spec.card.license


def _authors_layout(glue_state, n_layers):
    """kornia's LightGlue keys → the layout of the authors' ``disk_lightglue.pth``
    (``transformers.i.self_attn.*`` is ``self_attn.i.*`` there, likewise ``cross_attn``)."""
    out = {}
    for key, value in glue_state.items():
        for i in range(n_layers):
            for part in ("self_attn", "cross_attn"):
                prefix = f"transformers.{i}.{part}."
                if key.startswith(prefix):
                    key = f"{part}.{i}." + key[len(prefix) :]
        out[key] = value
    return out


def test_lightglue_loads_release_files_in_the_authors_layout(tmp_path, monkeypatch):
    pytest.importorskip("kornia")
    import torch

    from vprkit.models import release

    donor = create_reranker("lightglue", seed=7)  # other random weights, saved as the releases would be
    disk_file, glue_file = tmp_path / "depth-save.pth", tmp_path / "disk_lightglue.pth"
    torch.save({"extractor": donor.disk.state_dict()}, disk_file)
    layout = _authors_layout(donor.glue.state_dict(), donor.glue.conf.n_layers)
    assert any(k.startswith("self_attn.0.") for k in layout) and not any(k.startswith("transformers.") for k in layout)
    torch.save(layout, glue_file)
    files = {"disk-depth": (disk_file, "a" * 64), "lightglue-disk": (glue_file, "b" * 64)}
    monkeypatch.setattr(release, "download_release", lambda spec, rel, progress=True: files[rel.name])
    loaded = create_reranker("lightglue", pretrained=True)  # seed 0 before the load
    for mine, theirs in ((loaded.disk, donor.disk), (loaded.glue, donor.glue)):
        for key, value in theirs.state_dict().items():
            assert torch.equal(mine.state_dict()[key], value), key
    assert loaded.fingerprint() != create_reranker("lightglue").fingerprint()
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    a, b = loaded.extract(image), donor.extract(image)
    assert np.array_equal(a.keypoints, b.keypoints) and np.allclose(a.descriptors, b.descriptors)
    # a file that leaves a weight unset is refused in one line, not run with part random weights
    torch.save({k: v for k, v in layout.items() if k != "self_attn.0.Wqkv.weight"}, glue_file)
    with pytest.raises(ConfigError, match="lacks weight 'transformers.0.self_attn.Wqkv.weight'"):
        create_reranker("lightglue", pretrained=True)


def test_an_offline_reranker_release_says_where_a_file_fetched_by_hand_goes(tmp_path, monkeypatch):
    import urllib.error

    import torch.hub

    from vprkit.models.release import download_release

    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))

    def offline(url, dst, progress=True):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    spec = get_reranker_spec("lightglue")
    release = next(r for r in spec.releases if r.name == "lightglue-disk")
    with pytest.raises(Exception, match="download that file by hand and put it at") as refused:
        download_release(spec, release, progress=False)
    assert "models import" not in str(refused.value) and "\n" not in str(refused.value)
    target = str(refused.value).split("put it at ")[1].strip("'")
    Path(target).write_bytes(b"the file, fetched by hand")
    found, digest = download_release(spec, release, progress=False)  # now read from there, checksum recorded
    assert str(found) == target and len(digest) == 64
    assert Path(target + ".sha256").read_text().strip() == digest
    Path(target).write_bytes(b"another file")  # changed after its first use: refused
    with pytest.raises(Exception, match="delete it to download it again"):
        download_release(spec, release, progress=False)


@pytest.mark.parametrize("name", ["sift", "lightglue"])
def test_the_built_in_rerankers_record_the_image_size(name, one_torch_thread):
    from PIL import Image

    reranker = create_reranker(name, **({"max_keypoints": 64} if name == "lightglue" else {}))
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8))  # 80 wide, 48 high
    assert reranker.extract(image).image_size == (80, 48)
    assert reranker.extract(Image.new("RGB", (80, 48), (128, 128, 128))).image_size == (80, 48)


def test_lightglue_normalises_by_the_image_size_not_the_keypoints(monkeypatch, one_torch_thread):
    """The authors' matcher centres and scales keypoints by the image's (width, height); the
    extent of the keypoints is only the fallback for features made without a size."""
    import torch

    from vprkit.contracts import LocalFeatures

    glue = create_reranker("lightglue", max_keypoints=64)
    seen = []

    def matcher(data):
        seen.append((data["image0"]["image_size"].tolist(), data["image1"]["image_size"].tolist()))
        return {"matches": [torch.zeros((0, 2), dtype=torch.long)]}

    monkeypatch.setattr(glue, "glue", matcher)
    rng = np.random.default_rng(1)
    keypoints = np.array([[3.0, 4.0], [20.0, 10.0]], np.float32)
    descriptors = rng.standard_normal((2, glue.descriptor_dim)).astype(np.float32)
    sized = LocalFeatures(keypoints, descriptors, (640, 480))
    unsized = LocalFeatures(keypoints, descriptors)
    glue.verify(sized, unsized)
    assert seen == [([[640.0, 480.0]], [[21.0, 11.0]])]
