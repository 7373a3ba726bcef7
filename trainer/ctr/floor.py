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

import numpy as np

from .data import USER_RATE_PRIOR, Dataset, ItemStats, Split, item_rate, item_stats, user_before
from .metrics import auc, logloss

FEATURES = ("item_like_rate", "user_like_rate", "last10_like_ratio", "log_item_popularity")


def floor_features(ds: Dataset, split: Split, st: ItemStats, leave_one_out: bool) -> np.ndarray:
    a = split.arrays
    i_rate, count = item_rate(ds, split, st, leave_one_out)
    u_likes, u_count = user_before(ds, split)
    user_rate = (u_likes + USER_RATE_PRIOR * st.global_rate) / (u_count + USER_RATE_PRIOR)
    hist_valid = a["hist_item"] > 0
    hist_liked = (a["hist_rating"].astype(np.float64) > ds.meta.label_threshold) & hist_valid
    n_hist = hist_valid.sum(axis=1)
    last10 = np.where(n_hist > 0, hist_liked.sum(axis=1) / np.maximum(n_hist, 1), st.global_rate)
    return np.stack([i_rate, user_rate, last10, np.log1p(count)], axis=1)


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
