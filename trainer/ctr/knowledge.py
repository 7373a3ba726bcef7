"""Knowledge vector sets (docs/ARCHITECTURE.md, "Knowledge vectors"), checked before training.

A set is `<set>/user.npy` float32 [U, dim] (row u = user u), `<set>/item.npy` float32 [I+1, dim]
(row i = item i, row 0 = padding zeros) and their `.ids.json` (raw ids in row order). The ids are
compared with the dataset's meta.json so vectors of another dataset or another ordering are
refused instead of silently misaligned.

`normalise` then prepares a table for the connectors. Sentence encoders put every text of a kind
in a narrow cone: unit vectors whose shared part dwarfs what tells one entity from another (on the
planted-latent set, texts built from one template agree on most of their norm), so a connector
with default initialisation sees nearly the same input for every entity and learns from it slowly
or not at all. Standardising the rows that carry knowledge (centre, then one scale for the whole
table) makes the differences between entities the signal, keeps the geometry (one scale, no
per-coordinate reweighting that would magnify noise directions), and is a fixed linear map, so it
is baked into the table the exported model carries.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..common.errors import DataError
from .data import Meta


KNOWLEDGE_NORMS = ("standardize", "none")


def normalise(table: torch.Tensor, how: str) -> torch.Tensor:
    """`standardize`: rows with knowledge centred on their mean and scaled to unit variance per
    coordinate on average; zero rows (no knowledge, item padding) stay zero, i.e. "an average
    entity" to the connector. `none`: the vectors as encoded."""
    if how == "none":
        return table
    if how != "standardize":
        raise ValueError(f"unknown knowledge normalisation {how!r}; expected one of {KNOWLEDGE_NORMS}")
    x = table.double()
    has = x.abs().sum(dim=1) > 0
    if int(has.sum()) < 2:
        return table
    rows = x[has]
    centred = rows - rows.mean(dim=0, keepdim=True)
    scale = centred.pow(2).mean().sqrt()
    out = torch.zeros_like(x)
    out[has] = centred / scale if float(scale) > 0 else centred
    return out.to(table.dtype)


def _load_vectors(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{what}: vector file is missing: expected {path}")
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{what} ({path}): not a readable .npy array: {e}") from None
    if a.ndim != 2 or a.shape[1] == 0:
        raise DataError(f"{what} ({path}): expected a 2-D float32 array [rows, dim], got shape {a.shape}")
    if a.dtype.kind != "f":
        raise DataError(f"{what} ({path}): expected float32 vectors, got dtype {a.dtype}")
    a = a.astype(np.float32, copy=False)
    bad = ~np.isfinite(a)
    if bad.any():
        r, c = (int(x) for x in np.argwhere(bad)[0])
        raise DataError(
            f"{what} ({path}): {int(bad.any(axis=1).sum())} row(s) hold NaN or infinite values; first at row {r}, column {c}"
        )
    return a


def _load_ids(path: Path, what: str) -> list:
    if not path.is_file():
        raise DataError(f"{what}: id file is missing: expected {path}")
    try:
        ids = json.loads(path.read_text(encoding="utf-8"))
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{what} ({path}): not readable JSON: {e}") from None
    if not isinstance(ids, list):
        raise DataError(f"{what} ({path}): expected a JSON list of raw ids in row order")
    return ids


def _same(a, b) -> bool:
    return a is not None and b is not None and str(a) == str(b)


def load_knowledge(user_path: str, user_ids: str, item_path: str, item_ids: str, meta: Meta, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(user table [U, du], item table [I+1, di]) after checking shapes, values and ids."""
    users = _load_vectors(Path(user_path), f"knowledge set {name}: user vectors")
    items = _load_vectors(Path(item_path), f"knowledge set {name}: item vectors")
    if users.shape[0] != meta.users:
        raise DataError(
            f"knowledge set {name}: user vectors ({user_path}) have {users.shape[0]} rows, the dataset has {meta.users} users"
        )
    if items.shape[0] != meta.items + 1:
        raise DataError(
            f"knowledge set {name}: item vectors ({item_path}) have {items.shape[0]} rows, expected {meta.items + 1} "
            f"(items 1..{meta.items} plus padding row 0)"
        )
    uids = _load_ids(Path(user_ids), f"knowledge set {name}: user ids")
    if len(uids) != users.shape[0]:
        raise DataError(f"knowledge set {name}: {user_ids} lists {len(uids)} ids for {users.shape[0]} user vector rows")
    for r, (got, want) in enumerate(zip(uids, meta.user_ids)):
        if not _same(got, want):
            raise DataError(f"knowledge set {name}: {user_ids} row {r} is user {got!r}, the dataset's user {r} is {want!r}")
    iids = _load_ids(Path(item_ids), f"knowledge set {name}: item ids")
    # The padding row may be listed (as null / "") or left out.
    if len(iids) == items.shape[0]:
        iids = iids[1:]
    if len(iids) != meta.items:
        raise DataError(
            f"knowledge set {name}: {item_ids} lists {len(iids)} item ids for {items.shape[0]} item vector rows "
            f"(expected {meta.items}, or {meta.items + 1} with the padding row)"
        )
    for r, (got, want) in enumerate(zip(iids, meta.item_ids), start=1):
        if not _same(got, want):
            raise DataError(f"knowledge set {name}: {item_ids} row {r} is item {got!r}, the dataset's item {r} is {want!r}")
    return torch.from_numpy(np.ascontiguousarray(users)), torch.from_numpy(np.ascontiguousarray(items))
