"""The six CTR backbones on one shared input layer (FuxiCTR-like: feature map -> model).

Every model sees the same embedded inputs (`Embedded`): the target item (id, category), the
history (item, category, rating per step, with a mask), and extra fields: a user-id embedding and
four numeric user and item features (`full` features) and the knowledge connectors F_u, F_i
(knowledge variants), plus their product F_u * F_i when `knowledge_cross` is on: the user-item
match as a field of its own, which every backbone can read directly instead of having to learn a
multiplication through its MLP (on the planted-latent set it is what lets the MLP-headed backbones,
DIEN and GRU4Rec, reach the field models). Numeric features are embedded FuxiCTR-style (value x a learned field vector), so the
field models (AutoInt, FiGNN, DeepFM's FM part) treat every input as a field of width `dim`.
Layer sizes follow the KAR / R4ec CTR code: embedding 32, final MLP 200-80.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from .layers import (
    MLP,
    AttentionalPrediction,
    AttentionPooling,
    CrossNet,
    FiGNNBlock,
    HybridExpertAdaptor,
    SelfAttentionLayer,
    masked_mean,
)

BACKBONES = ("dien", "gru4rec", "autoint", "fignn", "dcn", "deepfm")
# ONNX input order; a model uses the subset its FeatureMap needs.
INPUT_ORDER = ("item", "cat", "hist_item", "hist_cat", "hist_rating", "user", "dense")
# Training-only input (the knowledge cutoff's `mask` mode): 1 where the sample may see its knowledge.
# Absent at evaluation and in the exported model, where every sample sees it.
KNOWLEDGE_MASK = "knowledge_mask"


@dataclass(frozen=True)
class FeatureMap:
    """Sizes and feature choices a model is built from; stored in checkpoints and model.json."""

    items: int  # I: item ids 1..I, 0 = padding
    categories: int  # C: 1..C, 0 = padding
    ratings: int  # highest rating value (ids 0..ratings)
    users: int  # U: 0..U-1
    history: int  # history length
    features: str  # "paper" | "full"
    dense_names: tuple[str, ...] = ()
    knowledge_dims: tuple[int, ...] = ()  # (user_dim, item_dim) when a knowledge variant is used
    embedding_dim: int = 32
    mlp: tuple[int, ...] = (200, 80)
    connector: tuple[int, ...] = (128,)  # hidden layers of F_u / F_i; their output is embedding_dim
    adaptor: str = "mlp"  # "mlp" | "hybrid-expert"
    knowledge_norm: str = "none"  # how the vector tables were prepared (knowledge.normalise); recorded only
    knowledge_cross: bool = False  # F_u * F_i as one more field: the user-item match made explicit
    knowledge_noise: float = 0.0  # training only: Gaussian noise on the knowledge vectors
    dropout: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def uses_user(self) -> bool:
        return self.features == "full" or bool(self.knowledge_dims)

    @property
    def inputs(self) -> tuple[str, ...]:
        names = ["item", "cat", "hist_item", "hist_cat", "hist_rating"]
        if self.uses_user:
            names.append("user")
        if self.dense_names:
            names.append("dense")
        return tuple(names)

    @property
    def extra_fields(self) -> int:
        n = 0
        if self.features == "full":
            n += 1 + len(self.dense_names)
        if self.knowledge_dims:
            n += 3 if self.knowledge_cross else 2
        return n


@dataclass
class Embedded:
    target: torch.Tensor  # [B, 2, d]: item, category
    hist: torch.Tensor  # [B, L, 3d]: item | category | rating per step
    mask: torch.Tensor  # [B, L] bool, True = a real history step
    extra: torch.Tensor | None  # [B, E, d] or None

    def flat_target(self) -> torch.Tensor:
        return self.target.flatten(1)

    def flat_extra(self) -> list[torch.Tensor]:
        return [] if self.extra is None else [self.extra.flatten(1)]

    def fields(self) -> torch.Tensor:
        """[B, F, d]: target fields, the pooled history as 3 fields, extras."""
        b, _, d = self.target.shape
        parts = [self.target, masked_mean(self.hist, self.mask).view(b, 3, d)]
        if self.extra is not None:
            parts.append(self.extra)
        return torch.cat(parts, dim=1)


class InputLayer(nn.Module):
    def __init__(self, fm: FeatureMap, knowledge: tuple[torch.Tensor, torch.Tensor] | None):
        super().__init__()
        d = fm.embedding_dim
        self.fm = fm
        self.item = nn.Embedding(fm.items + 1, d, padding_idx=0)
        self.cat = nn.Embedding(fm.categories + 1, d, padding_idx=0)
        self.rating = nn.Embedding(fm.ratings + 1, d, padding_idx=0)
        for emb in (self.item, self.cat, self.rating):
            nn.init.normal_(emb.weight, std=0.01)
            with torch.no_grad():
                emb.weight[0].zero_()
        if fm.features == "full":
            self.user = nn.Embedding(fm.users, d)
            nn.init.normal_(self.user.weight, std=0.01)
            self.dense = nn.Parameter(torch.randn(len(fm.dense_names), d) * 0.1)
        if fm.knowledge_dims:
            if knowledge is None:
                raise ValueError("a knowledge variant needs its user and item vector tables")
            user_vecs, item_vecs = knowledge
            # Frozen lookup tables of the encoded knowledge; not in checkpoints (reloaded from the
            # vector files), but baked into the exported ONNX model so serving needs only ids.
            self.register_buffer("user_knowledge", user_vecs, persistent=False)
            self.register_buffer("item_knowledge", item_vecs, persistent=False)
            arch = [*fm.connector, d]
            if fm.adaptor == "hybrid-expert":
                self.adaptor = HybridExpertAdaptor(list(fm.knowledge_dims), arch, dropout=fm.dropout)
            else:
                self.f_user = MLP(arch, fm.knowledge_dims[0], fm.dropout)
                self.f_item = MLP(arch, fm.knowledge_dims[1], fm.dropout)

    def forward(self, x: dict[str, torch.Tensor]) -> Embedded:
        fm = self.fm
        item, cat = x["item"].long(), x["cat"].long()
        h_item, h_cat, h_rating = x["hist_item"].long(), x["hist_cat"].long(), x["hist_rating"].long()
        target = torch.stack([self.item(item), self.cat(cat)], dim=1)
        hist = torch.cat([self.item(h_item), self.cat(h_cat), self.rating(h_rating)], dim=-1)
        extra: list[torch.Tensor] = []
        if fm.features == "full":
            extra.append(self.user(x["user"].long()).unsqueeze(1))
            extra.append(x["dense"].unsqueeze(-1) * self.dense)  # [B, n_dense, d]
        if fm.knowledge_dims:
            user = x["user"].long()
            ku, ki = self.user_knowledge[user], self.item_knowledge[item]
            if self.training and fm.knowledge_noise > 0:
                ku = ku + fm.knowledge_noise * torch.randn_like(ku)
                ki = ki + fm.knowledge_noise * torch.randn_like(ki)
            if KNOWLEDGE_MASK in x:
                m = x[KNOWLEDGE_MASK].unsqueeze(-1).to(ku.dtype)
                ku, ki = ku * m, ki * m
            if fm.adaptor == "hybrid-expert":
                fu, fi = self.adaptor([ku, ki])
            else:
                fu, fi = self.f_user(ku), self.f_item(ki)
            fields = [fu, fi, fu * fi] if fm.knowledge_cross else [fu, fi]
            extra.append(torch.stack(fields, dim=1))
        return Embedded(target, hist, h_item > 0, torch.cat(extra, dim=1) if extra else None)


class CtrModel(nn.Module):
    """Shared base: inputs -> logits [B]. Subclasses implement `head(Embedded)`."""

    name = "base"

    def __init__(self, fm: FeatureMap, knowledge: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__()
        self.fm = fm
        self.inputs = InputLayer(fm, knowledge)
        d = fm.embedding_dim
        self.target_dim = 2 * d
        self.hist_dim = 3 * d
        self.extra_dim = fm.extra_fields * d
        self.num_fields = 2 + 3 + fm.extra_fields

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.inputs(x), x)

    def head(self, e: Embedded, x: dict[str, torch.Tensor]) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def final(self, inp: torch.Tensor) -> torch.Tensor:
        return self.out(self.final_mlp(inp)).squeeze(-1)

    def _final_layers(self, input_dim: int) -> None:
        self.final_mlp = MLP(list(self.fm.mlp), input_dim, self.fm.dropout)
        self.out = nn.Linear(self.final_mlp.output_dim, 1)


class DIEN(CtrModel):
    """Interest extractor GRU over the history, interest evolution GRU, DIN attention with the
    target as query (the authors' 'GRU' evolution type)."""

    name = "dien"

    def __init__(self, fm: FeatureMap, knowledge=None):
        super().__init__(fm, knowledge)
        self.extractor = nn.GRU(self.hist_dim, self.target_dim, batch_first=True)
        self.evolution = nn.GRU(self.target_dim, self.target_dim, batch_first=True)
        self.attention = AttentionPooling(self.target_dim, dropout=fm.dropout)
        self._final_layers(2 * self.target_dim + self.extra_dim)

    def head(self, e: Embedded, x: dict[str, torch.Tensor]) -> torch.Tensor:
        m = e.mask.unsqueeze(-1).to(e.hist.dtype)
        interests, _ = self.extractor(e.hist)
        evolved, _ = self.evolution(interests * m)
        query = e.flat_target()
        interest = self.attention(query, evolved, e.mask)
        return self.final(torch.cat([interest, query, *e.flat_extra()], dim=-1))


class GRU4Rec(CtrModel):
    """A GRU over the history; the mean of (step embedding, GRU state) with the target -> MLP."""

    name = "gru4rec"

    def __init__(self, fm: FeatureMap, knowledge=None, hidden: int = 64):
        super().__init__(fm, knowledge)
        self.gru = nn.GRU(self.hist_dim, hidden, batch_first=True)
        self._final_layers(self.hist_dim + hidden + self.target_dim + self.extra_dim)

    def head(self, e: Embedded, x: dict[str, torch.Tensor]) -> torch.Tensor:
        states, _ = self.gru(e.hist)
        pooled = masked_mean(torch.cat([e.hist, states], dim=-1), e.mask)
        return self.final(torch.cat([pooled, e.flat_target(), *e.flat_extra()], dim=-1))


class AutoInt(CtrModel):
    """Three self-attention interacting layers over the fields, flattened -> linear, plus the final
    MLP on the flat fields in parallel (AutoInt+). The authors' AutoInt has no DNN; measured on the
    ML-1M half with `full` features, attention alone stayed below the LR floor (AUC 0.8001 vs
    0.8026, LogLoss 0.554), so the shared final MLP is added as for the other backbones."""

    name = "autoint"

    def __init__(self, fm: FeatureMap, knowledge=None, layers: int = 3, attention_dim: int = 64, heads: int = 1):
        super().__init__(fm, knowledge)
        blocks, dim = [], fm.embedding_dim
        for _ in range(layers):
            blocks.append(SelfAttentionLayer(dim, attention_dim, heads))
            dim = attention_dim * heads
        self.attention = nn.Sequential(*blocks)
        self.attention_out = nn.Linear(self.num_fields * dim, 1)
        self._final_layers(self.num_fields * fm.embedding_dim)

    def head(self, e: Embedded, x: dict[str, torch.Tensor]) -> torch.Tensor:
        fields = e.fields()
        return self.attention_out(self.attention(fields).flatten(1)).squeeze(-1) + self.final(fields.flatten(1))


class FiGNN(CtrModel):
    name = "fignn"

    def __init__(self, fm: FeatureMap, knowledge=None, steps: int = 2):
        super().__init__(fm, knowledge)
        self.gnn = FiGNNBlock(self.num_fields, fm.embedding_dim, steps)
        self.predict = AttentionalPrediction(self.num_fields, fm.embedding_dim)

    def head(self, e: Embedded, x: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.predict(self.gnn(e.fields()))


class DCN(CtrModel):
    """DCN v1: cross network and deep network in parallel on the flat input, then the final MLP."""

    name = "dcn"

    def __init__(self, fm: FeatureMap, knowledge=None, cross_layers: int = 3):
        super().__init__(fm, knowledge)
        dim = self.target_dim + self.hist_dim + self.extra_dim
        self.cross = CrossNet(dim, cross_layers)
        self.deep = MLP(list(fm.mlp), dim, fm.dropout)
        self._final_layers(dim + self.deep.output_dim)

    def head(self, e: Embedded, x: dict[str, torch.Tensor]) -> torch.Tensor:
        x = torch.cat([e.flat_target(), masked_mean(e.hist, e.mask), *e.flat_extra()], dim=-1)
        return self.final(torch.cat([self.cross(x), self.deep(x)], dim=-1))


class DeepFM(CtrModel):
    """FM (first order on target ids, second order over all fields) plus a DNN on the flat input."""

    name = "deepfm"

    def __init__(self, fm: FeatureMap, knowledge=None):
        super().__init__(fm, knowledge)
        self.first_item = nn.Embedding(fm.items + 1, 1, padding_idx=0)
        self.first_cat = nn.Embedding(fm.categories + 1, 1, padding_idx=0)
        nn.init.zeros_(self.first_item.weight)
        nn.init.zeros_(self.first_cat.weight)
        self.bias = nn.Parameter(torch.zeros(1))
        self._final_layers(self.num_fields * fm.embedding_dim)

    def head(self, e: Embedded, x: dict[str, torch.Tensor]) -> torch.Tensor:
        fields = e.fields()
        square_of_sum = fields.sum(dim=1).pow(2)
        sum_of_square = fields.pow(2).sum(dim=1)
        second = 0.5 * (square_of_sum - sum_of_square).sum(dim=-1)
        first = (self.first_item(x["item"].long()) + self.first_cat(x["cat"].long())).squeeze(-1)
        return first + second + self.bias + self.final(fields.flatten(1))


MODELS: dict[str, type[CtrModel]] = {m.name: m for m in (DIEN, GRU4Rec, AutoInt, FiGNN, DCN, DeepFM)}


def build_model(name: str, fm: FeatureMap, knowledge=None) -> CtrModel:
    return MODELS[name](fm, knowledge)


class ExportWrapper(nn.Module):
    """Positional inputs in INPUT_ORDER (int32 ids, float32 dense) -> click probability [B]."""

    def __init__(self, model: CtrModel):
        super().__init__()
        self.model = model
        self.names = model.fm.inputs

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(dict(zip(self.names, args))))
