"""Next-token choice for a batch whose rows each have their own temperature, top_p and seed.

A row's random stream is its own torch.Generator, seeded from the request's `seed`, and each step
draws exactly one number from it: the same request with the same seed gets the same answer (as long
as the model's logits for it are the same; batching other rows beside it can move them in the last
float digits, as on any batched server).
"""

from __future__ import annotations

import torch


def choose(logits: torch.Tensor, temperatures: list[float], top_ps: list[float], generators: list[torch.Generator]) -> list[int]:
    """logits: [B, V] float. temperature 0 = greedy."""
    logits = logits.float()
    out = logits.argmax(dim=-1).tolist()
    sampled = [i for i, t in enumerate(temperatures) if t > 0]
    if not sampled:
        return out
    idx = torch.tensor(sampled, dtype=torch.long)
    temps = torch.tensor([temperatures[i] for i in sampled], dtype=torch.float32).unsqueeze(1)
    top_p = torch.tensor([top_ps[i] for i in sampled], dtype=torch.float32).unsqueeze(1)
    probs = torch.softmax(logits.index_select(0, idx) / temps, dim=-1)
    sorted_p, order = probs.sort(dim=-1, descending=True)
    cum = sorted_p.cumsum(dim=-1)
    # Nucleus: keep the smallest prefix whose mass reaches top_p (the first token always stays).
    sorted_p = sorted_p.masked_fill(cum - sorted_p >= top_p, 0.0)
    cum = sorted_p.cumsum(dim=-1)
    u = torch.stack([torch.rand((), generator=generators[i]) for i in sampled]).unsqueeze(1) * cum[:, -1:]
    pick = torch.searchsorted(cum, u, right=True).clamp(max=cum.shape[1] - 1)
    tokens = order.gather(1, pick).squeeze(1).tolist()
    for row, tok in zip(sampled, tokens):
        out[row] = tok
    return out
