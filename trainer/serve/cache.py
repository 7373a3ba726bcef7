"""A KV cache that the engine can reshape between decode steps: rows join (a prefilled request) and
leave (a finished one) while the others keep their keys and values.

Rows are left-padded to a common length; `mask` marks the real positions. Each layer's keys and
values live in a buffer with spare room on the time axis, so a decode step writes one column in place
instead of copying the whole cache as transformers' DynamicLayer does (torch.cat every step).
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

SPARE = 64


class BufferLayer(DynamicLayer):
    def __init__(self, keys: torch.Tensor, values: torch.Tensor, spare: int = SPARE) -> None:
        super().__init__()
        b, h, t, d = keys.shape
        self.device = keys.device
        self.kbuf = keys.new_zeros((b, h, t + spare, d))
        self.vbuf = values.new_zeros((b, values.shape[1], t + spare, values.shape[3]))
        self.kbuf[:, :, :t] = keys
        self.vbuf[:, :, :t] = values
        self.length = t
        self.is_initialized = True
        self._views()

    def _views(self) -> None:
        self.keys = self.kbuf[:, :, : self.length]
        self.values = self.vbuf[:, :, : self.length]

    def update(self, key_states, value_states, *args, **kwargs):
        n = key_states.shape[-2]
        if self.length + n > self.kbuf.shape[2]:
            grow = max(n, self.kbuf.shape[2])  # doubling: amortised O(1) copies per step
            pad_k = self.kbuf.new_zeros((*self.kbuf.shape[:2], grow, self.kbuf.shape[3]))
            pad_v = self.vbuf.new_zeros((*self.vbuf.shape[:2], grow, self.vbuf.shape[3]))
            self.kbuf = torch.cat([self.kbuf, pad_k], dim=2)
            self.vbuf = torch.cat([self.vbuf, pad_v], dim=2)
        self.kbuf[:, :, self.length : self.length + n] = key_states
        self.vbuf[:, :, self.length : self.length + n] = value_states
        self.length += n
        self._views()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length


def new_cache(config) -> DynamicCache:
    """An empty cache for a prefill; the model fills plain DynamicLayers."""
    return DynamicCache(config=config)


def layers_of(cache: DynamicCache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


def _left_pad(t: torch.Tensor, width: int) -> torch.Tensor:
    if t.shape[2] == width:
        return t
    pad = t.new_zeros((t.shape[0], t.shape[1], width - t.shape[2], t.shape[3]))
    return torch.cat([pad, t], dim=2)


def merge(config, parts: list[tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]]) -> tuple[DynamicCache, torch.Tensor]:
    """Concatenates (layers, mask) groups along the batch axis, left-padding each to the longest."""
    width = max(mask.shape[1] for _, mask in parts)
    masks = [torch.cat([mask.new_zeros((mask.shape[0], width - mask.shape[1])), mask], dim=1) for _, mask in parts]
    layers = []
    for i in range(len(parts[0][0])):
        keys = torch.cat([_left_pad(p[0][i][0], width) for p in parts], dim=0)
        values = torch.cat([_left_pad(p[0][i][1], width) for p in parts], dim=0)
        layers.append(BufferLayer(keys, values))
    cache = DynamicCache(config=config)
    cache.layers = layers
    return cache, torch.cat(masks, dim=0)


def select(config, cache: DynamicCache, mask: torch.Tensor, keep: list[int]) -> tuple[DynamicCache, torch.Tensor]:
    """Keeps the rows `keep` and drops leading columns that are padding in every kept row."""
    idx = torch.tensor(keep, dtype=torch.long)
    mask = mask.index_select(0, idx)
    real = mask.any(dim=0).nonzero()
    first = int(real[0]) if real.numel() else mask.shape[1]
    mask = mask[:, first:]
    layers = [(k.index_select(0, idx)[:, :, first:], v.index_select(0, idx)[:, :, first:]) for k, v in layers_of(cache)]
    return merge(config, [(layers, mask)])
