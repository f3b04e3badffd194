"""vprkit plugin: BoQ (Ali-bey et al., CVPR 2024): a Bag of learnable Queries aggregating ResNet or DINOv2 features."""

from vprkit import ModelCard, PaperResult, RetrieverSpec, SpecPlugin
from vprkit_boq.config import BoQRetrieverConfig
from vprkit_boq.releases import RELEASES

_DINO = "DINOv2 ViT-B/14 + BoQ, 12288-D, 322×322 (authors' README)"
_RESNET = "ResNet-50 + BoQ, 16384-D, 384×384 (authors' README)"

plugin = SpecPlugin(
    RetrieverSpec(
        name="boq",
        factory="vprkit_boq.retriever:BoQRetriever",
        trainer="vprkit_boq.train:train_boq",
        config=BoQRetrieverConfig,
        description="BoQ: ResNet-50 (layer3) or DINOv2 tokens → learnable queries cross-attend in 2 blocks → "
        "row-wise projection → L2; multi-similarity loss",
        importer="vprkit_boq.release:import_boq",
        releases=RELEASES,
        card=ModelCard(
            paper="Ali-bey, Chaib-draa, Giguère, BoQ: A Place is Worth a Bag of Learnable Queries, CVPR 2024",
            license="MIT",
            input="square resize, 384×384 (ResNet-50) or 322×322 (DINOv2, a multiple of 14), ImageNet mean/std "
            "(authors' eval; theirs is bicubic, vprkit's bilinear)",
            weights="authors' torch.hub releases resnet50_16384 and dinov2_12288, trained on GSV-Cities "
            "(vprkit models import boq RELEASE)",
            results=(
                PaperResult("MSLS val", "R@1", 93.8, _DINO),
                PaperResult("Pitts30k test", "R@1", 93.7, _DINO),
                PaperResult("Pitts250k test", "R@1", 96.6, _DINO),
                PaperResult("MSLS val", "R@1", 91.2, _RESNET),
                PaperResult("Pitts30k test", "R@1", 92.4, _RESNET),
                PaperResult("Pitts250k test", "R@1", 95.0, _RESNET),
            ),
        ),
    ),
)
