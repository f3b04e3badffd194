"""SALAD releases: a checkpoint in the authors' key layout (serizba/salad ``VPRModel``: the
facebookresearch/dinov2 ViT under ``backbone.model.``, the aggregator under ``aggregator.``)
built here with random values and a tiny ViT; every key consumed, and the imported retriever
encodes what SALAD computes, written below from the paper's equations on the authors' tensors."""

from __future__ import annotations

import math

import pytest
import torch
from dinov2_reference import hub_state, reference_dinov2
from vprkit_salad.release import import_salad, salad_architecture, salad_to_vprkit
from vprkit_salad.retriever import SALADRetriever

from vprkit.errors import DataError
from vprkit.models.release import ImportRequest, import_model, sha256_file

DIM, DEPTH, HEADS = 48, 2, 2
CLUSTERS, CLUSTER_DIM, TOKEN_DIM, HIDDEN = 4, 8, 16, 32
TINY = {"vit_num_heads": HEADS}  # heads are not in the weights: a tiny width needs them given


def authors_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A ``dino_salad.ckpt``-like state dict with random values (tiny ViT and aggregator)."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int, scale: float = 0.2) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * scale

    state = {f"backbone.model.{k}": v for k, v in hub_state(DIM, DEPTH, seed=seed).items()}
    for name, out in (("score", CLUSTERS), ("cluster_features", CLUSTER_DIM)):
        state |= {
            f"aggregator.{name}.0.weight": rand(HIDDEN, DIM, 1, 1),
            f"aggregator.{name}.0.bias": rand(HIDDEN),
            f"aggregator.{name}.3.weight": rand(out, HIDDEN, 1, 1),
            f"aggregator.{name}.3.bias": rand(out),
        }
    state |= {
        "aggregator.token_features.0.weight": rand(HIDDEN, DIM),
        "aggregator.token_features.0.bias": rand(HIDDEN),
        "aggregator.token_features.2.weight": rand(TOKEN_DIM, HIDDEN),
        "aggregator.token_features.2.bias": rand(TOKEN_DIM),
        "aggregator.dust_bin": torch.tensor(0.7),
    }
    return state


def reference_salad(state, images: torch.Tensor, iterations: int = 3) -> torch.Tensor:
    """SALAD from the paper (Sec. 3) in float64, one image at a time, Sinkhorn in probability
    space (``u ← a / K v``, ``v ← b / Kᵀ u`` from ``u = v = 1``): ``(B, m·l + g)``."""
    hub = {k[len("backbone.model.") :]: v.double() for k, v in state.items() if k.startswith("backbone.model.")}
    agg = {k[len("aggregator.") :]: v.double() for k, v in state.items() if k.startswith("aggregator.")}
    tokens, _ = reference_dinov2(hub, images.double(), heads=HEADS)  # after the final norm

    def mlp(x, name, second):  # 1×1 convolutions on tokens = linears; dropout is off at test time
        w0, w1 = agg[f"{name}.0.weight"].flatten(1), agg[f"{name}.{second}.weight"].flatten(1)
        return torch.relu(x @ w0.T + agg[f"{name}.0.bias"]) @ w1.T + agg[f"{name}.{second}.bias"]

    out = []
    for per_image in tokens:
        cls, patches = per_image[0], per_image[1:]
        n, m = len(patches), CLUSTERS
        scores = torch.cat([mlp(patches, "score", 3).T, agg["dust_bin"].expand(1, n)])  # (m + 1, n)
        kernel = scores.exp()
        a = torch.cat([torch.ones(m), torch.tensor([n - m])]).double() / (n + m)
        b = torch.full((n,), 1.0 / (n + m), dtype=torch.float64)
        u, v = torch.ones(m + 1, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
        for _ in range(iterations):
            u = a / (kernel @ v)
            v = b / (kernel.T @ u)
        plan = (u[:, None] * kernel * v[None, :] * (n + m))[:m]  # (m, n), dustbin dropped
        features = mlp(patches, "cluster_features", 3)  # (n, l)
        clusters = torch.stack([(plan[k][:, None] * features).sum(0) for k in range(m)])  # (m, l)
        clusters = clusters / clusters.norm(dim=1, keepdim=True)
        token = mlp(cls, "token_features", 2)
        desc = torch.cat([token / token.norm(), clusters.T.flatten()])  # dimension-major, as the authors
        out.append(desc / desc.norm())
    return torch.stack(out).float()


def write(tmp_path, data, name="dino_salad.ckpt"):
    path = tmp_path / name
    torch.save(data, path)
    return path


def request(path, **overrides) -> ImportRequest:
    return ImportRequest(weights=path, sha256=sha256_file(path), overrides={**TINY, **overrides})


def test_every_authors_key_is_consumed():
    state = authors_state()
    mapped = salad_to_vprkit(state)
    imported = import_salad_file_free(state)
    own = imported.net.state_dict()
    assert set(mapped) == set(own)
    assert all(mapped[k].shape == own[k].shape for k in own)
    assert len(mapped) == len(state) - 1  # only the ViT's mask_token (masked pre-training) is dropped
    assert salad_architecture(state) == {
        "backbone": "vit_base_patch14_dinov2",
        "vit_depth": DEPTH,
        "vit_embed_dim": DIM,
        "num_clusters": CLUSTERS,
        "cluster_dim": CLUSTER_DIM,
        "token_dim": TOKEN_DIM,
        "hidden_dim": HIDDEN,
    }


def import_salad_file_free(state) -> SALADRetriever:
    """The retriever :func:`import_salad` makes, without a file (config from the shapes)."""
    from vprkit_salad.release import salad_config

    model = SALADRetriever(salad_config(state, TINY, "memory"))
    model.net.load_state_dict(salad_to_vprkit(state), strict=True)
    return model


@pytest.mark.parametrize("height,width", [(70, 42), (322, 322)])
def test_imported_retriever_encodes_the_papers_salad(tmp_path, height, width):
    state = authors_state(seed=1)
    imported = import_salad(request(write(tmp_path, state)))
    model = imported.model
    assert model.descriptor_dim == CLUSTERS * CLUSTER_DIM + TOKEN_DIM
    assert model.config.test_transform.size == 322 and model.config.pretrained is False
    assert imported.training_checkpoint is not None and imported.training_checkpoint["heads"] is None
    images = torch.randn(2, 3, height, width)
    torch.testing.assert_close(model.encode(images), reference_salad(state, images), rtol=1e-4, atol=1e-5)


def test_lightning_checkpoints_and_module_prefixes_are_read(tmp_path):
    state = authors_state()
    lightning = {"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3, "global_step": 4000}
    model = import_salad(request(write(tmp_path, lightning, "last.ckpt"))).model
    images = torch.randn(1, 3, 28, 28)
    assert torch.equal(model.encode(images), import_salad_file_free(state).encode(images))


def test_unknown_keys_and_contradicting_options_are_data_errors(tmp_path):
    extra = authors_state() | {"aggregator.score.5.weight": torch.zeros(1)}
    with pytest.raises(DataError, match=r"aggregator\.score\.5\.weight"):
        import_salad(request(write(tmp_path, extra, "extra.ckpt")))
    stray = authors_state() | {"loss_fn.weight": torch.zeros(1)}
    with pytest.raises(DataError, match="loss_fn.weight"):
        import_salad(request(write(tmp_path, stray, "stray.ckpt")))
    backbone = authors_state() | {"backbone.model.blocks.0.attn.rope": torch.zeros(1)}
    with pytest.raises(DataError, match=r"backbone\.model\.blocks\.0\.attn\.rope"):
        import_salad(request(write(tmp_path, backbone, "rope.ckpt")))
    with pytest.raises(DataError, match="num_clusters 64 asked, 4 in the weights"):
        import_salad(request(write(tmp_path, authors_state(), "ok.ckpt"), num_clusters=64))
    with pytest.raises(DataError, match="not a SALAD state dict"):
        import_salad(request(write(tmp_path, {"weight": torch.zeros(1)}, "other.ckpt")))


def test_import_command_writes_a_model_folder_that_loads(tmp_path):
    state = authors_state()
    weights = write(tmp_path, state, "tiny_salad.ckpt")
    model, _ = import_model("salad", weights, tmp_path / "out", overrides=dict(TINY), progress=False)
    loaded = SALADRetriever.load(tmp_path / "out")
    images = torch.randn(2, 3, 42, 56)
    assert torch.equal(loaded.encode(images), model.encode(images))
    assert (tmp_path / "out" / "training" / "last.pt").is_file()
    assert loaded.training_summary["release"]["sha256"] == sha256_file(weights)
    # a file under the release's name is taken for the release, whose 64 × 128 + 256 it must hold
    with pytest.raises(DataError, match="num_clusters 64 asked"):
        import_model("salad", write(tmp_path, state), tmp_path / "other", overrides=dict(TINY), progress=False)
    assert math.isclose(float(loaded.net.aggregation.dust_bin.detach()), float(state["aggregator.dust_bin"]))
