"""The non-neural floor (a reference row in Table 2): logistic regression on four features.

1. the item's smoothed like-rate over the training part of all sequences,
2. the user's smoothed like-rate over their interactions before the sample,
3. the like ratio of the sample's last-10 history,
4. log item popularity (training interactions).

A training sample is itself one of the training interactions its item statistics count, so for
training rows the sample is left out of them (leave-one-out); otherwise the regression would learn
from a feature that contains its own label.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Dataset, Split, user_before, USER_RATE_PRIOR
from .metrics import auc, logloss

ITEM_RATE_PRIOR = 10.0
FEATURES = ("item_like_rate", "user_like_rate", "last10_like_ratio", "log_item_popularity")


@dataclass
class ItemStats:
    likes: np.ndarray  # [I+1]
    count: np.ndarray  # [I+1]
    global_rate: float


def item_stats(ds: Dataset) -> ItemStats:
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


def floor_features(ds: Dataset, split: Split, st: ItemStats, leave_one_out: bool) -> np.ndarray:
    a = split.arrays
    item = a["item"].astype(np.int64)
    likes, count = st.likes[item].copy(), st.count[item].copy()
    if leave_one_out:
        own = (a["rating"].astype(np.float64) > ds.meta.label_threshold).astype(np.float64)
        known = count > 0
        likes[known] -= own[known]
        count[known] -= 1
    item_rate = (likes + ITEM_RATE_PRIOR * st.global_rate) / (count + ITEM_RATE_PRIOR)
    u_likes, u_count = user_before(ds, split)
    user_rate = (u_likes + USER_RATE_PRIOR * st.global_rate) / (u_count + USER_RATE_PRIOR)
    hist_valid = a["hist_item"] > 0
    hist_liked = (a["hist_rating"].astype(np.float64) > ds.meta.label_threshold) & hist_valid
    n_hist = hist_valid.sum(axis=1)
    last10 = np.where(n_hist > 0, hist_liked.sum(axis=1) / np.maximum(n_hist, 1), st.global_rate)
    return np.stack([item_rate, user_rate, last10, np.log1p(count)], axis=1)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-4, iters: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newton-Raphson (IRLS) on standardised features; returns (weights incl. bias, mean, std)."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
    w = np.zeros(z.shape[1])
    reg = np.eye(z.shape[1]) * l2 * len(x)
    reg[0, 0] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        grad = z.T @ (p - y) + reg @ w
        hess = (z * (p * (1 - p))[:, None]).T @ z + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w, mu, sd


def predict_logistic(x: np.ndarray, w: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    z = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
    return 1.0 / (1.0 + np.exp(-(z @ w)))


def run_floor(ds: Dataset) -> dict:
    st = item_stats(ds)
    x_train = floor_features(ds, ds.train, st, leave_one_out=True)
    y_train = ds.train.arrays["label"].astype(np.float64)
    w, mu, sd = fit_logistic(x_train, y_train)
    p = predict_logistic(floor_features(ds, ds.test, st, leave_one_out=False), w, mu, sd)
    y = ds.test.arrays["label"]
    return {
        "auc": auc(y, p),
        "logloss": logloss(y, p),
        "trainAuc": auc(y_train, predict_logistic(x_train, w, mu, sd)),
        "features": list(FEATURES),
        "weights": {"bias": float(w[0]), **{f: float(v) for f, v in zip(FEATURES, w[1:])}},
        "predictions": p.astype(np.float32),
    }
