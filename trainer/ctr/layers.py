"""Building blocks of the CTR backbones, after the layers of the KAR / R4ec CTR code (rewritten).

Everything here is batch-independent at inference (no batch statistics: DIN's Dice activation is
replaced by PReLU) so a model scores a sample the same in any batch; ONNX parity relies on it.
"""
from __future__ import annotations

import torch
import torch.nn as nn


class MLP(nn.Sequential):
    def __init__(self, dims: list[int], input_dim: int, dropout: float = 0.0):
        layers: list[nn.Module] = []
        for dim in dims:
            layers += [nn.Linear(input_dim, dim), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            input_dim = dim
        super().__init__(*layers)
        self.output_dim = input_dim


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 of [B, L, D] counting only mask=1 positions (an empty history gives zeros)."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


class AttentionPooling(nn.Module):
    """DIN attention: an MLP scores each history step against the query; the weighted sum is the
    user's interest in this target. Scores are not normalised (as in DIN)."""

    def __init__(self, dim: int, hidden: tuple[int, ...] = (32, 16), dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        d = dim * 4
        for h in hidden:
            layers += [nn.Linear(d, h), nn.PReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            d = h
        layers.append(nn.Linear(d, 1))
        self.score = nn.Sequential(*layers)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = query.unsqueeze(1).expand_as(keys)
        w = self.score(torch.cat([q, keys, q - keys, q * keys], dim=-1))  # [B, L, 1]
        w = w * mask.unsqueeze(-1).to(w.dtype)
        return (keys * w).sum(dim=1)


class CrossNet(nn.Module):
    """DCN v1 cross layers: x_{l+1} = x_0 * (x_l . w_l) + b_l + x_l."""

    def __init__(self, dim: int, layers: int = 3):
        super().__init__()
        self.w = nn.ParameterList([nn.Parameter(nn.init.xavier_normal_(torch.empty(dim, 1))) for _ in range(layers)])
        self.b = nn.ParameterList([nn.Parameter(torch.zeros(dim)) for _ in range(layers)])

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for w, b in zip(self.w, self.b):
            x = x0 * (x @ w) + b + x
        return x


class SelfAttentionLayer(nn.Module):
    """AutoInt interacting layer: multi-head self-attention over fields, residual, ReLU."""

    def __init__(self, input_dim: int, attention_dim: int, heads: int, use_scale: bool = True):
        super().__init__()
        self.heads = heads
        self.attention_dim = attention_dim
        out = heads * attention_dim
        self.q = nn.Linear(input_dim, out, bias=False)
        self.k = nn.Linear(input_dim, out, bias=False)
        self.v = nn.Linear(input_dim, out, bias=False)
        self.res = nn.Linear(input_dim, out, bias=False) if input_dim != out else None
        self.scale = attention_dim**-0.5 if use_scale else 1.0
        self.output_dim = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, f, _ = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, f, self.heads, self.attention_dim).transpose(1, 2)  # [B, H, F, A]

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        attn = torch.softmax((q @ k.transpose(-1, -2)) * self.scale, dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, f, self.output_dim)
        residual = self.res(x) if self.res is not None else x
        return torch.relu(out + residual)


class FiGNNBlock(nn.Module):
    """FiGNN: fields are nodes of a complete graph with attention edge weights (no self loops);
    node states are updated by a shared graph layer and a GRU cell, with residuals."""

    def __init__(self, fields: int, dim: int, steps: int = 2):
        super().__init__()
        self.fields, self.dim, self.steps = fields, dim, steps
        self.w_in = nn.Parameter(nn.init.xavier_normal_(torch.empty(fields, dim, dim)))
        self.w_out = nn.Parameter(nn.init.xavier_normal_(torch.empty(fields, dim, dim)))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.gru = nn.GRUCell(dim, dim)
        self.edge = nn.Linear(2 * dim, 1, bias=False)
        self.register_buffer("self_loop", torch.eye(fields, dtype=torch.bool), persistent=False)

    def graph(self, h: torch.Tensor) -> torch.Tensor:
        f = self.fields
        src = h.unsqueeze(2).expand(-1, f, f, -1)
        dst = h.unsqueeze(1).expand(-1, f, f, -1)
        alpha = nn.functional.leaky_relu(self.edge(torch.cat([src, dst], dim=-1)).squeeze(-1), 0.01)
        alpha = alpha.masked_fill(self.self_loop, float("-inf"))
        return torch.softmax(alpha, dim=-1)  # [B, F, F]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.graph(x)
        h = x
        for _ in range(self.steps):
            msg = torch.einsum("fij,bfj->bfi", self.w_out, h)
            agg = torch.bmm(g, msg)
            a = torch.einsum("fij,bfj->bfi", self.w_in, agg) + self.bias
            h = self.gru(a.reshape(-1, self.dim), h.reshape(-1, self.dim)).view(-1, self.fields, self.dim)
            h = h + x
        return h


class AttentionalPrediction(nn.Module):
    """FiGNN's readout: a per-field score weighted by a gate computed from all fields."""

    def __init__(self, fields: int, dim: int):
        super().__init__()
        self.score = nn.Linear(dim, 1, bias=False)
        self.gate = nn.Sequential(nn.Linear(fields * dim, fields, bias=False), nn.Sigmoid())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return (self.score(h).squeeze(-1) * self.gate(h.flatten(1))).sum(dim=1)


class HybridExpertAdaptor(nn.Module):
    """KAR's hybrid-expert adaptor: each knowledge input (user, item) mixes shared experts and its
    own specific experts through its own softmax gate."""

    def __init__(self, input_dims: list[int], arch: list[int], shared: int = 2, specific: int = 2, dropout: float = 0.0):
        super().__init__()
        if len(set(input_dims)) != 1:
            # Shared experts see every input: they need one width. Project first when they differ.
            self.project = nn.ModuleList([nn.Linear(d, max(input_dims)) for d in input_dims])
            width = max(input_dims)
        else:
            self.project = None
            width = input_dims[0]
        self.shared = nn.ModuleList([MLP(arch, width, dropout) for _ in range(shared)])
        self.specific = nn.ModuleList(
            [nn.ModuleList([MLP(arch, width, dropout) for _ in range(specific)]) for _ in input_dims]
        )
        self.gates = nn.ModuleList([nn.Linear(width, shared + specific) for _ in input_dims])

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.project is not None:
            xs = [p(x) for p, x in zip(self.project, xs)]
        out = []
        for x, own, gate in zip(xs, self.specific, self.gates):
            experts = torch.stack([e(x) for e in self.shared] + [e(x) for e in own], dim=1)  # [B, E, D]
            w = torch.softmax(gate(x), dim=-1).unsqueeze(1)  # [B, 1, E]
            out.append((w @ experts).squeeze(1))
        return out
