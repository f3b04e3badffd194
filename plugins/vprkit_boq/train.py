"""Training the BoQ retriever (Ali-bey et al., CVPR 2024; docs/methods/boq.md): multi-similarity
loss and miner over batches of ``batch_size`` places × ``img_per_place`` images
(:class:`~vprkit_boq.trainer.PlaceBatchTrainer`), single process.

The recipe: group the train split into places (UTM cell × heading bin with enough images,
:func:`~vprkit_boq.places.find_places`; GSV-Cities' place ids in the authors' runs), train with
AdamW and the authors' warm-up + step schedule, keep the best epoch by val LR@1 (= R@1), save.
"""

from __future__ import annotations

import logging

from vprkit.contracts import TrainRequest
from vprkit.training.recipe import TrainingRun
from vprkit_boq.places import find_places
from vprkit_boq.retriever import BoQRetriever
from vprkit_boq.trainer import PlaceBatchTrainer

__all__ = ["train_boq"]

log = logging.getLogger("vprkit.boq")


def train_boq(model: BoQRetriever, request: TrainRequest) -> BoQRetriever:
    """Find the places of the train split, train BoQ with the multi-similarity loss, keep the best
    epoch, save the retriever to ``request.out_dir`` (state in ``out_dir/training/``)."""
    tcfg = model.config.training
    run = TrainingRun.start(request, tcfg, distributed=False, owner="retriever 'boq'")
    images = run.images
    places = find_places(
        images.east,
        images.north,
        images.heading,
        cell_m=tcfg.place_cell_m,
        heading_deg=tcfg.place_heading_deg,
        min_images=tcfg.img_per_place,
        spacing=tcfg.place_spacing,
    )
    log.info(
        "boq: %d training images, %d places of ≥ %d images (%d images in none), %d sub-grids",
        len(images),
        places.count,
        tcfg.img_per_place,
        places.dropped,
        len(set(places.subgrid.tolist())),
    )
    trainer = PlaceBatchTrainer(
        model.net,
        images,
        places,
        tcfg,
        run.run_dir,
        **run.trainer_options(run.retriever_validation(model.net, model.transform)),
    )
    return run.train(model, trainer, training_places=places.count, images_in_no_place=places.dropped)
