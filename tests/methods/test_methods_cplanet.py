"""CPlaNet: one head per geoclass set, NormalizedSum (Seo et al., ECCV 2018, eq. 3) over combinatorial regions."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from classifier_testdata import trained_classifier

from vprkit.training.api import resolve_training_config


def test_cplanet_defaults():
    cfg = resolve_training_config("classifier", "cplanet")
    assert cfg.visual_features == "backbone" and cfg.partition.num_sets == 5


def test_cplanet_normalized_sum_per_atom(synthcity_tiny, tmp_path_factory):
    from vprkit.training.recipe import load_train_split

    model, _ = trained_classifier("cplanet", synthcity_tiny, tmp_path_factory)
    part = model.partition
    assert part.info["visual"]  # the partition's visual edges used the network's features
    assert [h.out_features for h in model.heads] == [c.num_classes for c in part.children.values()]
    x = F.normalize(torch.randn(3, model.descriptor_dim, generator=torch.Generator().manual_seed(3)), dim=1)
    probs = [F.softmax(h(x), dim=1).double().detach().numpy() for h in model.heads]
    # eq. 3 written per atom: each set's probability spread evenly over the atoms of its geoclass
    atom_region = part.extras["atom_region"]
    atom_scores = 0.0
    for k, (p, child) in enumerate(zip(probs, part.children.values())):
        atom_geoclass = part.hierarchy[atom_region, k]
        per_atom = p[:, atom_geoclass] / child.extras["atoms_per_class"][atom_geoclass]
        np.testing.assert_allclose(per_atom.sum(1), 1.0, rtol=1e-6)  # every set contributes equally
        atom_scores = atom_scores + per_atom
    regions = model.class_scores(x).double().detach().numpy()
    np.testing.assert_allclose(regions[:, atom_region], atom_scores, rtol=1e-5)  # tied atoms = one region
    pred = model.classify_descriptors(x, 4)
    assert np.array_equal(pred.classes, np.argsort(-regions, axis=1, kind="stable")[:, :4])

    rows = torch.from_numpy(np.array([0, 10, 20, 30]))
    loss = model.loss_module(load_train_split(synthcity_tiny))(x[[0, 1, 2, 0]], rows)
    geo = part.hierarchy[part.train_labels[rows.numpy()]]
    want = sum(F.cross_entropy(h(x[[0, 1, 2, 0]]), torch.from_numpy(geo[:, k])) for k, h in enumerate(model.heads))
    assert torch.allclose(loss, want)
