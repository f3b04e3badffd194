"""vprkit plugin: `hub`, any torch.hub entry point (a GitHub repository at a pinned commit, or a
local folder with a hubconf.py) as a retriever whose code, weights and input contract travel in
its model folder (docs/methods/hub.md). Import-light: the spec and its config only."""

from vprkit import ModelCard, RetrieverSpec, SpecPlugin
from vprkit_hub.config import HubRetrieverConfig

plugin = SpecPlugin(
    RetrieverSpec(
        name="hub",
        factory="vprkit_hub.retriever:HubRetriever",
        config=HubRetrieverConfig,
        description="A torch.hub entry point (GitHub at a pinned commit, or a local hubconf.py) as a retriever; "
        "made by `vprkit models import hub`",
        card=ModelCard(
            paper="",
            license="",
            input="per model folder, stated at import: --input-size H W or --resize, --size-multiple N, "
            "--mean/--std (default: no resize, ImageNet mean/std)",
            weights="whatever the entry loads at import (the authors' torch.hub weights), or a Hugging Face "
            "safetensors file (--weights); the folder's card records the repository, commit, checksums and licence",
        ),
    ),
)
