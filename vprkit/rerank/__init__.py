"""Re-ranking: geometric verification of a retrieved shortlist by local features (the third stage).

:class:`RerankerBase` is the short way to a :class:`vprkit.contracts.Reranker` (implement
``extract`` and ``verify``); :func:`database_features` is the cache of a database's local features
per (re-ranker fingerprint, database content). Importing this package imports neither torch nor
OpenCV: the built-in re-rankers (``plugins/vprkit_sift``, ``plugins/vprkit_lightglue``) import
their libraries when they are created.
"""

from vprkit.rerank.base import RerankerBase, as_gray, as_rgb
from vprkit.rerank.store import FeatureStore, database_features, feature_key, open_feature_store

__all__ = [
    "FeatureStore",
    "RerankerBase",
    "as_gray",
    "as_rgb",
    "database_features",
    "feature_key",
    "open_feature_store",
]
