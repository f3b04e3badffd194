"""The check every retriever's own tests share: behind a trained D&C classifier on synthcity tiny,
the pipeline searches exactly the rows of the top-N cells and returns the ones nearest in the
retriever's own descriptor space."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from classifier_testdata import trained_classifier


def check_behind_dnc(retriever: Any, synthcity_tiny, tmp_path_factory, tmp_path) -> Any:
    """Build and reload a D&C + ``retriever`` bundle, localize 3 queries, check the candidates and
    the retrieved rows against a brute-force search among the allowed rows; returns the bundle."""
    from vprkit.data.images import open_image
    from vprkit.data.standard import load_split
    from vprkit.pipeline import Localizer, MapBundle, build_bundle

    classifier, _ = trained_classifier("dnc", synthcity_tiny, tmp_path_factory)
    database = load_split(synthcity_tiny, "test/database")
    queries = load_split(synthcity_tiny, "test/queries")
    build_bundle(tmp_path / "bundle", database, classifier=classifier, retriever=retriever)
    bundle = MapBundle.load(tmp_path / "bundle")
    assert type(bundle.retriever) is type(retriever) and bundle.retriever.fingerprint() == retriever.fingerprint()
    images = [open_image(queries.root / p) for p in queries.paths.tolist()[:3]]
    topn = min(2, classifier.partition.num_classes)
    result = Localizer(bundle, topn=topn, k=3).localize(images)
    pred = bundle.classifier.classify(torch.stack([bundle.classifier.transform(i) for i in images]), topn)
    cells, _ = classifier.partition.assign(database.east, database.north)
    for i in range(len(images)):
        allowed = np.flatnonzero(np.isin(cells, pred.classes[i]))
        assert result.candidates[i] == len(allowed)
        # the retrieved rows are the allowed rows nearest in the retriever's descriptor space
        q = retriever.encode(retriever.transform(images[i])[None])
        db = torch.stack([retriever.transform(open_image(database.root / database.paths[r])) for r in allowed])
        sims = (retriever.encode(db) @ q.T).squeeze(1)
        best = allowed[torch.argsort(sims, descending=True)[: min(3, len(allowed))].numpy()]
        assert set(result.rows[i][: len(best)].tolist()) == set(best.tolist())
    return bundle
