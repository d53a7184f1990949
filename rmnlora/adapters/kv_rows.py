"""A key/value cache whose rows come and go: the continuous engine's running batch.

Why a helper of our own: ``generate`` owns its cache for one call, so rows cannot join a batch
that is already decoding. Here the batch is a ``DynamicCache`` plus a left-padded attention mask;
joining rows are prefilled on their own, then padded on the left to the batch's length and
concatenated; finished rows are dropped with ``batch_select_indices`` and the columns no row
uses any more are trimmed. Positions come from each row's own mask, so a row decodes the tokens
it would alone (rotary embeddings are applied before keys are cached).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class KvRows:
    """The cache and the ``[rows, length]`` 0/1 mask over it (1: a real token of that row)."""

    cache: Any
    mask: torch.Tensor

    @property
    def rows(self) -> int:
        return int(self.mask.shape[0])

    def next_positions(self) -> torch.Tensor:
        """``[rows, 1]``: the position the next token of each row takes (its real tokens so far)."""
        return self.mask.sum(dim=-1, keepdim=True)

    def extend_mask(self) -> torch.Tensor:
        """The mask with one more real column, for a forward that appends one token to every row."""
        ones = torch.ones(self.rows, 1, dtype=self.mask.dtype, device=self.mask.device)
        self.mask = torch.cat([self.mask, ones], dim=-1)
        return self.mask

    def keep(self, rows: Sequence[int]) -> None:
        """Drop every row not in ``rows`` (in that order), then the columns left all padding."""
        index = torch.tensor(list(rows), dtype=torch.long, device=self.mask.device)
        self.cache.batch_select_indices(index)
        self.mask = self.mask[index]
        used = self.mask.any(dim=0).nonzero()
        start = int(used[0]) if used.numel() else self.mask.shape[1]
        if start > 0:
            for layer in self.cache.layers:
                layer.keys = layer.keys[:, :, start:]
                layer.values = layer.values[:, :, start:]
            self.mask = self.mask[:, start:]


def _layer_tensors(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


def merge(model_config: Any, running: KvRows | None, joining: KvRows) -> KvRows:
    """``running``'s rows then ``joining``'s, each left-padded to the longer of the two."""
    from transformers import DynamicCache

    if running is None or running.rows == 0:
        return joining
    length = max(running.mask.shape[1], joining.mask.shape[1])

    def pad(tensor: torch.Tensor, have: int) -> torch.Tensor:
        return F.pad(tensor, (0, 0, length - have, 0)) if have < length else tensor

    layers = []
    for (k_run, v_run), (k_new, v_new) in zip(
        _layer_tensors(running.cache), _layer_tensors(joining.cache), strict=True
    ):
        layers.append(
            (
                torch.cat([pad(k_run, k_run.shape[2]), pad(k_new, k_new.shape[2])]),
                torch.cat([pad(v_run, v_run.shape[2]), pad(v_new, v_new.shape[2])]),
            )
        )
    masks = [
        F.pad(part.mask, (length - part.mask.shape[1], 0)) if part.mask.shape[1] < length else part.mask
        for part in (running, joining)
    ]
    return KvRows(DynamicCache(ddp_cache_data=layers, config=model_config), torch.cat(masks))
