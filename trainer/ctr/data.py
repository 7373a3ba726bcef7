"""The ingested dataset (docs/ARCHITECTURE.md, "The ingested dataset") read from the paths in a
job spec, checked against the contract, and turned into model inputs.

Every check names the file and what was expected: a bad ingest output fails here, before any
training starts.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import DataError

SPLIT_ARRAYS = {
    "user": (np.int32, 1),
    "pos": (np.int32, 1),
    "item": (np.int32, 1),
    "cat": (np.int32, 1),
    "rating": (np.int8, 1),
    "label": (np.int8, 1),
    "hist_item": (np.int32, 2),
    "hist_rating": (np.int8, 2),
    "hist_cat": (np.int32, 2),
}
SEQ_ARRAYS = {"offsets": (np.int64, 1), "item": (np.int32, 1), "rating": (np.int8, 1), "train_end": (np.int32, 1)}
# Files a CTR job reads (seq/ts.npy is not needed).
REQUIRED_FILES = (
    ["meta.json"]
    + [f"{s}/{a}.npy" for s in ("train", "test") for a in SPLIT_ARRAYS]
    + [f"seq/{a}.npy" for a in SEQ_ARRAYS]
)
# Smoothing of a user's like-rate toward the global rate: worth this many pseudo-interactions.
USER_RATE_PRIOR = 5.0
# The same for an item's like-rate.
ITEM_RATE_PRIOR = 10.0
DENSE_NAMES = ("user_like_rate", "user_log_count", "item_like_rate", "item_log_count")


class DataFiles:
    """Name in the ingest output ("train/user.npy") -> local path, from `files` or a `dir`."""

    def __init__(self, files: dict[str, str] | None = None, directory: str | None = None, where: str = "data"):
        self.files = files or {}
        self.dir = Path(directory) if directory else None
        self.where = where

    def path(self, name: str) -> Path:
        if name in self.files:
            p = Path(self.files[name])
        elif self.dir is not None:
            p = self.dir / name
        else:
            raise DataError(f"{self.where}: no path given for {name} (spec field {self.where}.files[{name!r}])")
        if not p.is_file():
            raise DataError(f"{self.where}: {name} is missing: expected a file at {p}")
        return p


def load_array(path: Path, name: str, dtype: Any, ndim: int) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a data error
        raise DataError(f"{name} ({path}): not a readable .npy array: {e}") from None
    if a.dtype != np.dtype(dtype).newbyteorder("<") and a.dtype != np.dtype(dtype):
        raise DataError(f"{name} ({path}): expected dtype {np.dtype(dtype).name}, got {a.dtype}")
    if a.ndim != ndim:
        raise DataError(f"{name} ({path}): expected {ndim} dimension(s), got shape {a.shape}")
    return a.astype(dtype, copy=False)


@dataclass
class Meta:
    users: int
    items: int
    categories: int
    label_threshold: float
    history: int
    user_ids: list
    item_ids: list
    raw: dict


def load_meta(files: DataFiles) -> Meta:
    p = files.path("meta.json")
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except Exception as e:  # noqa: BLE001
        raise DataError(f"meta.json ({p}): not readable JSON: {e}") from None

    def need(obj: dict, key: str, kind: type, where: str) -> Any:
        v = obj.get(key) if isinstance(obj, dict) else None
        if not isinstance(v, kind) or isinstance(v, bool):
            raise DataError(f"meta.json ({p}): field {where}{key} must be {kind.__name__}, got {v!r}")
        return v

    counts = need(meta, "counts", dict, "")
    users = need(counts, "users", int, "counts.")
    thr = meta.get("labelThreshold")
    if not isinstance(thr, (int, float)) or isinstance(thr, bool):
        raise DataError(f"meta.json ({p}): field labelThreshold must be a number, got {thr!r}")
    history = need(meta, "historyLength", int, "")
    user_ids = need(meta, "users", list, "")
    item_list = need(meta, "items", list, "")
    cats = need(meta, "categories", list, "")
    if len(user_ids) != users:
        raise DataError(f"meta.json ({p}): users has {len(user_ids)} ids but counts.users = {users}")
    # The item index is 1..len(items): every item of the kept sequences, including items seen only
    # in test parts (counts.allItems); counts.items is the smaller item entity set.
    items = len(item_list)
    if isinstance(counts.get("allItems"), int) and counts["allItems"] != items:
        raise DataError(f"meta.json ({p}): items has {items} entries but counts.allItems = {counts['allItems']}")
    item_ids = [it.get("id") if isinstance(it, dict) else it for it in item_list]
    return Meta(users, items, len(cats), float(thr), history, user_ids, item_ids, meta)


@dataclass
class Split:
    name: str
    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.arrays["label"])

    def take(self, idx: np.ndarray, name: str) -> "Split":
        return Split(name, {k: v[idx] for k, v in self.arrays.items()})


@dataclass
class Dataset:
    meta: Meta
    train: Split
    test: Split
    seq: dict[str, np.ndarray]
    ratings: int  # highest rating id (embedding size - 1)


def load_dataset(files: DataFiles) -> Dataset:
    meta = load_meta(files)
    splits = {}
    for s in ("train", "test"):
        arrays = {a: load_array(files.path(f"{s}/{a}.npy"), f"{s}/{a}.npy", dt, nd) for a, (dt, nd) in SPLIT_ARRAYS.items()}
        check_split(s, arrays, meta)
        splits[s] = Split(s, arrays)
    seq = {a: load_array(files.path(f"seq/{a}.npy"), f"seq/{a}.npy", dt, nd) for a, (dt, nd) in SEQ_ARRAYS.items()}
    check_seq(seq, meta, splits)
    ratings = int(max(int(splits[s].arrays["hist_rating"].max(initial=0)) for s in splits))
    ratings = max(ratings, int(seq["rating"].max(initial=0)))
    return Dataset(meta, splits["train"], splits["test"], seq, ratings)


def check_split(s: str, a: dict[str, np.ndarray], meta: Meta) -> None:
    n = len(a["label"])
    if n == 0:
        raise DataError(f"{s}/label.npy: the {s} split is empty")
    for k, v in a.items():
        if v.shape[0] != n:
            raise DataError(f"{s}/{k}.npy: expected {n} rows (as {s}/label.npy), got {v.shape[0]}")
        if v.ndim == 2 and v.shape[1] != meta.history:
            raise DataError(f"{s}/{k}.npy: expected {meta.history} history columns (meta.json historyLength), got {v.shape[1]}")

    def in_range(k: str, lo: int, hi: int) -> None:
        v = a[k]
        bad = np.flatnonzero((v < lo) | (v > hi)) if v.ndim == 1 else np.flatnonzero(((v < lo) | (v > hi)).any(axis=1))
        if bad.size:
            r = int(bad[0])
            raise DataError(f"{s}/{k}.npy row {r}: value {a[k][r].tolist()} outside {lo}..{hi}")

    in_range("user", 0, meta.users - 1)
    in_range("item", 0, meta.items)
    in_range("hist_item", 0, meta.items)
    in_range("cat", 0, meta.categories)
    in_range("hist_cat", 0, meta.categories)
    in_range("label", 0, 1)
    in_range("hist_rating", 0, 127)


def check_seq(seq: dict[str, np.ndarray], meta: Meta, splits: dict[str, Split]) -> None:
    off = seq["offsets"]
    if off.shape[0] != meta.users + 1:
        raise DataError(f"seq/offsets.npy: expected {meta.users + 1} entries (users + 1), got {off.shape[0]}")
    if off[0] != 0 or np.any(np.diff(off) < 0) or off[-1] != len(seq["item"]):
        raise DataError(f"seq/offsets.npy: expected a non-decreasing CSR index from 0 to {len(seq['item'])} (seq/item.npy length)")
    if len(seq["rating"]) != len(seq["item"]):
        raise DataError(f"seq/rating.npy: expected {len(seq['item'])} entries (as seq/item.npy), got {len(seq['rating'])}")
    if seq["train_end"].shape[0] != meta.users:
        raise DataError(f"seq/train_end.npy: expected {meta.users} entries, got {seq['train_end'].shape[0]}")
    lengths = np.diff(off)
    for s, split in splits.items():
        u, pos = split.arrays["user"].astype(np.int64), split.arrays["pos"].astype(np.int64)
        bad = np.flatnonzero((pos < 0) | (pos >= lengths[u]))
        if bad.size:
            r = int(bad[0])
            raise DataError(f"{s}/pos.npy row {r}: position {pos[r]} outside user {u[r]}'s sequence of {lengths[u[r]]}")
        # The sample's target must be the item at its position: catches misaligned arrays.
        seq_item = seq["item"][off[u] + pos]
        bad = np.flatnonzero((seq_item != split.arrays["item"]) & (split.arrays["item"] != 0))
        if bad.size:
            r = int(bad[0])
            raise DataError(
                f"{s}/item.npy row {r}: item {split.arrays['item'][r]} but seq/item.npy has {seq_item[r]} "
                f"at user {u[r]} position {pos[r]}"
            )
        if s == "train":
            bad = np.flatnonzero(pos >= seq["train_end"][u])
            if bad.size:
                r = int(bad[0])
                raise DataError(f"train/pos.npy row {r}: position {pos[r]} is past user {u[r]}'s training part (seq/train_end.npy)")


def user_before(ds: Dataset, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """(likes, count) of the user's interactions strictly before each sample (its own sequence)."""
    liked = (ds.seq["rating"].astype(np.float64) > ds.meta.label_threshold).astype(np.int64)
    cum = np.concatenate([[0], np.cumsum(liked)])
    off = ds.seq["offsets"]
    u = split.arrays["user"].astype(np.int64)
    pos = split.arrays["pos"].astype(np.int64)
    likes = cum[off[u] + pos] - cum[off[u]]
    return likes.astype(np.float64), pos.astype(np.float64)


def global_like_rate(ds: Dataset) -> float:
    return float(ds.train.arrays["label"].mean())


@dataclass
class ItemStats:
    likes: np.ndarray  # [I+1]
    count: np.ndarray  # [I+1]
    global_rate: float


def item_stats(ds: Dataset) -> ItemStats:
    """Likes and interactions per item over the training part of every sequence (positions below
    train_end: more than the training samples, whose targets start at position history+1)."""
    off, end = ds.seq["offsets"], ds.seq["train_end"].astype(np.int64)
    lengths = np.diff(off)
    rank = np.arange(len(ds.seq["item"])) - np.repeat(off[:-1], lengths)
    in_train = rank < np.repeat(end, lengths)
    items = ds.seq["item"][in_train].astype(np.int64)
    liked = (ds.seq["rating"][in_train].astype(np.float64) > ds.meta.label_threshold).astype(np.float64)
    size = ds.meta.items + 1
    likes = np.bincount(items, weights=liked, minlength=size)[:size]
    count = np.bincount(items, minlength=size)[:size].astype(np.float64)
    return ItemStats(likes, count, float(liked.mean()) if liked.size else 0.5)


def item_rate(ds: Dataset, split: Split, st: ItemStats, leave_one_out: bool) -> tuple[np.ndarray, np.ndarray]:
    """(smoothed like-rate, interactions) of each sample's item. A training sample is one of the
    interactions its item's statistics count: with `leave_one_out` it is taken out of them, so the
    feature never contains the sample's own label."""
    a = split.arrays
    item = a["item"].astype(np.int64)
    likes, count = st.likes[item].copy(), st.count[item].copy()
    if leave_one_out:
        own = (a["rating"].astype(np.float64) > ds.meta.label_threshold).astype(np.float64)
        known = count > 0
        likes[known] -= own[known]
        count[known] -= 1
    return (likes + ITEM_RATE_PRIOR * st.global_rate) / (count + ITEM_RATE_PRIOR), count


def _dense_raw(ds: Dataset, split: Split, st: ItemStats) -> np.ndarray:
    likes, count = user_before(ds, split)
    g = global_like_rate(ds)
    rate = (likes + USER_RATE_PRIOR * g) / (count + USER_RATE_PRIOR)
    i_rate, i_count = item_rate(ds, split, st, leave_one_out=split.name == "train")
    return np.stack([rate, np.log1p(count), i_rate, np.log1p(i_count)], axis=1)


def dense_features(ds: Dataset, split: Split) -> np.ndarray:
    """The `full` set's numeric features: the user's smoothed like-rate and log interaction count
    over their interactions before the sample, and the item's smoothed like-rate and log
    interaction count over the training part (leave-one-out on training samples): the
    logistic-regression floor's inputs, so a `full` backbone sees everything the floor sees.
    Standardised with the training split's mean and deviation, as the floor standardises them: a
    like-rate varies by ~0.1 around its mean, and unscaled it moves the field it scales too little
    for the network to use it (measured on the quick-start data)."""
    st = item_stats(ds)
    train = _dense_raw(ds, ds.train, st)
    mu, sd = train.mean(axis=0), train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    x = train if split is ds.train else _dense_raw(ds, split, st)
    return ((x - mu) / sd).astype(np.float32)


def model_inputs(ds: Dataset, split: Split, features: str, uses_user: bool) -> dict[str, np.ndarray]:
    a = split.arrays
    x = {k: a[k].astype(np.int32) for k in ("item", "cat", "hist_item", "hist_cat", "hist_rating")}
    if uses_user:
        x["user"] = a["user"].astype(np.int32)
    if features == "full":
        x["dense"] = dense_features(ds, split)
    return x


def cutoff_positions(ds: Dataset, fraction: float) -> np.ndarray:
    """Per user, the first position after the prefix of its training part that knowledge may be
    built from: floor(fraction * train_end). The pipeline's knowledge stages use the same rule."""
    return np.floor(ds.seq["train_end"].astype(np.float64) * fraction).astype(np.int64)


def after_cutoff(ds: Dataset, fraction: float) -> np.ndarray:
    """Indices of the training samples whose target lies after the user's knowledge cutoff: the
    labels the knowledge cannot have described."""
    a = ds.train.arrays
    c = cutoff_positions(ds, fraction)
    return np.flatnonzero(a["pos"].astype(np.int64) >= c[a["user"].astype(np.int64)])


def validation_split(train: Split, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, validation): each user's latest `fraction` of training samples (by position)
    are held out, mirroring the temporal train/test split. Never touches test."""
    u = train.arrays["user"].astype(np.int64)
    pos = train.arrays["pos"].astype(np.int64)
    order = np.lexsort((pos, u))
    us = u[order]
    starts = np.flatnonzero(np.r_[True, us[1:] != us[:-1]])
    sizes = np.diff(np.r_[starts, len(us)])
    rank = np.arange(len(us)) - np.repeat(starts, sizes)  # 0-based rank within the user, oldest first
    n = np.repeat(sizes, sizes)
    held = np.ceil(n * fraction).astype(np.int64)
    held = np.where(n > 1, held, 0)  # a user with one sample keeps it for fitting
    is_val = rank >= n - held
    return np.sort(order[~is_val]), np.sort(order[is_val])
