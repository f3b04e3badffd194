"""The BoQ aggregator (Ali-bey et al., CVPR 2024; docs/methods/boq.md): a bag of learnable queries
that probe the backbone's local features by cross-attention.

``features (B, C, h, w)`` → 3×3 convolution to ``P`` channels → ``N = h·w`` tokens ``(B, N, P)``
→ LayerNorm → ``L`` BoQ blocks in cascade, each:

- refines the tokens with a transformer encoder layer (self-attention + 4P feed-forward, ReLU,
  post-norm, no dropout) and passes them on to the next block;
- lets its ``Q`` learnable queries attend to each other (residual + LayerNorm), then to the
  refined tokens (cross-attention + LayerNorm): the block's output ``(B, Q, P)``;

→ the ``L`` outputs concatenated ``(B, L·Q, P)`` → a linear layer ``L·Q → R`` applied to every
channel (the row-wise projection) ``(B, P, R)`` → flattened channel-major ``(B, P·R)`` → L2.

The queries' self-attention depends on no input: it is computed once per forward pass and shared
by the batch (the authors note it can be cached at evaluation).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BoQAggregator", "BoQBlock"]


class BoQBlock(nn.Module):
    """One BoQ block over ``dim``-D tokens with ``num_queries`` learnable queries.

    State-dict keys: ``token_encoder.*`` (``nn.TransformerEncoderLayer``), ``queries (1, Q, dim)``,
    ``query_attn.*`` / ``query_norm.*`` (the queries' self-attention), ``cross_attn.*`` /
    ``output_norm.*`` (queries → tokens).
    """

    def __init__(self, dim: int, num_queries: int, num_heads: int):
        super().__init__()
        self.token_encoder = nn.TransformerEncoderLayer(
            d_model=dim, nhead=num_heads, dim_feedforward=4 * dim, dropout=0.0, batch_first=True
        )
        self.queries = nn.Parameter(torch.randn(1, num_queries, dim))
        self.query_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.query_norm = nn.LayerNorm(dim)
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.output_norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens (B, N, dim)`` → ``(refined tokens (B, N, dim), block output (B, Q, dim))``."""
        tokens = self.token_encoder(tokens)
        out = self.cross_attn(self._probes(tokens.shape[0]), tokens, tokens, need_weights=False)[0]
        return tokens, self.output_norm(out)

    def _probes(self, batch: int) -> torch.Tensor:
        """The queries after their self-attention, ``(batch, Q, dim)``: computed once, expanded."""
        q = self.queries
        return self.query_norm(q + self.query_attn(q, q, q, need_weights=False)[0]).expand(batch, -1, -1)

    def attention(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, Q, N)`` cross-attention weights of the queries over the refined ``tokens``
        (averaged over heads): where each query looks, for heat maps."""
        return self.cross_attn(self._probes(tokens.shape[0]), tokens, tokens, need_weights=True)[1]


class BoQAggregator(nn.Module):
    """Feature map ``(B, in_channels, h, w)`` → ``(B, proj_channels · row_dim)`` unit descriptors.

    Args:
        in_channels: channels ``C`` of the backbone's map.
        proj_channels: ``P``, the tokens' width after the 3×3 convolution.
        num_queries: ``Q`` per block.
        num_layers: ``L`` blocks.
        row_dim: ``R`` rows of the row-wise projection.
        num_heads: attention heads (must divide ``P``).

    State-dict keys: ``input_proj.*`` (Conv2d 3×3, padding 1), ``input_norm.*``, ``blocks.<i>.*``
    (:class:`BoQBlock`), ``row_proj.*`` (Linear ``L·Q → R``).
    """

    def __init__(
        self, in_channels: int, proj_channels: int, num_queries: int, num_layers: int, row_dim: int, num_heads: int
    ):
        super().__init__()
        self.input_proj = nn.Conv2d(in_channels, proj_channels, kernel_size=3, padding=1)
        self.input_norm = nn.LayerNorm(proj_channels)
        self.blocks = nn.ModuleList(BoQBlock(proj_channels, num_queries, num_heads) for _ in range(num_layers))
        self.row_proj = nn.Linear(num_layers * num_queries, row_dim)
        self.dim = proj_channels * row_dim

    def tokens(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` → normalised input tokens ``(B, h·w, P)`` (row-major over the map)."""
        return self.input_norm(self.input_proj(features).flatten(2).transpose(1, 2))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        tokens = self.tokens(features)
        outputs = []
        for block in self._blocks():
            tokens, out = block(tokens)
            outputs.append(out)
        bag = torch.cat(outputs, dim=1)  # (B, L·Q, P)
        rows = self.row_proj(bag.transpose(1, 2))  # (B, P, R): one linear map per channel, shared
        return F.normalize(rows.flatten(1), p=2.0, dim=1)

    def attention_maps(self, features: torch.Tensor) -> list[torch.Tensor]:
        """Per block, ``(B, Q, h·w)`` cross-attention weights of its queries over the map's cells."""
        tokens = self.tokens(features)
        maps = []
        for block in self._blocks():
            tokens = block.token_encoder(tokens)
            maps.append(block.attention(tokens))
        return maps

    def _blocks(self) -> list[BoQBlock]:
        return [cast(BoQBlock, block) for block in self.blocks]
