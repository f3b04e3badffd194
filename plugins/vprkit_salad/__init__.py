"""vprkit plugin: SALAD (Izquierdo & Civera, CVPR 2024): the `salad` retriever, DINOv2 patch tokens
aggregated by optimal transport (Sinkhorn with a dustbin) plus a global token, 8448-D."""

from vprkit import ModelCard, PaperResult, RetrieverSpec, SpecPlugin
from vprkit_salad.config import SALADRetrieverConfig
from vprkit_salad.releases import RELEASES

_MODEL = "DINOv2 ViT-B/14, 8448-D, 322×322 (paper)"

plugin = SpecPlugin(
    RetrieverSpec(
        name="salad",
        factory="vprkit_salad.retriever:SALADRetriever",
        trainer="vprkit_salad.train:train_salad",
        config=SALADRetrieverConfig,
        description="SALAD: DINOv2 patch tokens → Sinkhorn optimal transport to 64 clusters + dustbin, "
        "plus a global token (8448-D)",
        importer="vprkit_salad.release:import_salad",
        releases=RELEASES,
        card=ModelCard(
            paper="Izquierdo & Civera, Optimal Transport Aggregation for Visual Place Recognition (SALAD), CVPR 2024",
            license="GPL-3.0",
            input="322×322 bilinear resize, ImageNet mean/std (authors' eval.py); sides must be multiples of 14",
            weights="authors' GSV-Cities checkpoint dino_salad.ckpt (vprkit models import salad dino_salad); "
            "DINOv2 from timm with pretrained=true",
            results=(PaperResult("MSLS val", "R@1", 92.2, _MODEL),),
        ),
    ),
)
