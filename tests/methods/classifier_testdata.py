"""Classifiers trained a few steps on synthcity ``tiny``, once per session, shared by the classifier
tests (``from classifier_testdata import trained_classifier``)."""

from __future__ import annotations

#: every method: tiny network, a few CPU steps, no validation pass (speed)
FAST = [
    "backbone=tinycnn",
    "pretrained=false",
    "training.epochs=1",
    "training.iterations_per_epoch=2",
    "training.batch_size=8",
    "training.image_size=32",
    "training.num_workers=0",
    "training.num_threads=1",
    "training.device=cpu",
    "training.validate_every=0",
]

#: partition sizes for the 688 training images of synthcity tiny (a 190 m × 160 m block)
TINY_PARTITIONS = {
    "planet": ["partition.tau_min=5", "partition.tau_max=60"],
    "mvmf": ["partition.tau_min=5", "partition.tau_max=60"],
    "hge": [
        "partition.tau_min=5",
        "partition.tau_max_fine=60",
        "partition.tau_max_medium=150",
        "partition.tau_max_coarse=300",
    ],
    "cplanet": ["partition.num_geoclasses=[6,6,8,7,7]"],
}


#: trained models shared by every module that imports the fixture: (root, name) -> (model, model_dir)
_TRAINED: dict[tuple[str, str], tuple] = {}


def trained_classifier(name: str, root, tmp_path_factory) -> tuple:
    """``(model, model_dir)`` of classifier ``name`` trained a few steps on the dataset ``root``;
    trained once per session (pass pytest's ``synthcity_tiny`` and ``tmp_path_factory``)."""
    from vprkit.training.api import train_model

    key = (str(root), name)
    if key not in _TRAINED:
        out = tmp_path_factory.mktemp(f"classifier_{name}")
        model = train_model("classifier", name, root, out, overrides=FAST + TINY_PARTITIONS.get(name, []))
        _TRAINED[key] = (model, out)
    return _TRAINED[key]
