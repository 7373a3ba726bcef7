"""The logistic-regression floor: its features use nothing a sample should not see, and it learns."""
from __future__ import annotations

import numpy as np
import pytest

from trainer.ctr.data import DataFiles, load_dataset
from trainer.ctr.floor import fit_logistic, floor_features, item_stats, predict_logistic, run_floor
from trainer.ctr.metrics import auc, logloss
from trainer.ctr.synthetic import make_synthetic


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    make_synthetic(d, users=80, items=60, seed=5)
    return load_dataset(DataFiles(directory=str(d)))


def test_floor_learns_the_planted_signal(ds):
    r = run_floor(ds)
    assert r["auc"] > 0.75
    assert 0 < r["logloss"] < 0.6
    assert len(r["predictions"]) == len(ds.test)
    assert r["weights"]["item_like_rate"] > 0 and r["weights"]["user_like_rate"] > 0


def test_training_rows_leave_their_own_label_out(ds):
    st = item_stats(ds)
    x = floor_features(ds, ds.train, st, leave_one_out=True)
    # Flip every training label's rating across the threshold: a leave-one-out feature of a row
    # must not move with the row's own rating.
    flipped = ds.train.take(np.arange(len(ds.train)), "train")
    flipped.arrays["rating"] = np.where(ds.train.arrays["rating"] > 3, 1, 5).astype(np.int8)
    x_flipped = floor_features(ds, flipped, st, leave_one_out=True)
    own_liked = ds.train.arrays["rating"] > 3
    # The same item statistics with the row's own interaction removed either way.
    item = ds.train.arrays["item"]
    expect = (st.likes[item] - own_liked + 10 * st.global_rate) / (st.count[item] - 1 + 10)
    np.testing.assert_allclose(x[:, 0], expect)
    assert not np.allclose(x_flipped[:, 0], x[:, 0])  # the feature does read the rating it removes


def test_test_rows_use_training_statistics_only(ds):
    st = item_stats(ds)
    x = floor_features(ds, ds.test, st, leave_one_out=False)
    item = ds.test.arrays["item"]
    np.testing.assert_allclose(x[:, 3], np.log1p(st.count[item]))
    # item statistics count only the training part of each sequence
    assert st.count.sum() == ds.seq["train_end"].sum()


def test_irls_recovers_known_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 3))
    w_true = np.array([0.3, 1.5, -2.0, 0.0])
    p = 1 / (1 + np.exp(-(w_true[0] + x @ w_true[1:])))
    y = (rng.random(20000) < p).astype(float)
    w, mu, sd = fit_logistic(x, y, l2=0.0)
    # weights are on standardised features; map back
    raw = w[1:] / sd
    np.testing.assert_allclose(raw, w_true[1:], atol=0.08)
    probs = predict_logistic(x, w, mu, sd)
    assert auc(y, probs) > 0.8 and logloss(y, probs) < 0.5


def test_auc_matches_the_pairwise_definition():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300), 2)  # many ties
    pos, neg = s[y == 1], s[y == 0]
    pairwise = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert auc(y, s) == pytest.approx(pairwise, abs=1e-12)
