"""How knowledge enters the backbones: vector normalisation, the explicit user-item field, training
noise on the vectors, the knowledge cutoff, the early-stopping metric, the floor's statistics as
`full` features, and the sweep CLI that trains many variants in one process."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from trainer.common.errors import SpecError
from trainer.common.progress import Progress
from trainer.ctr.data import DataFiles, after_cutoff, cutoff_positions, dense_features, item_stats, load_dataset
from trainer.ctr.fit import run_training
from trainer.ctr.job import parse_job
from trainer.ctr.knowledge import normalise
from trainer.ctr.models import KNOWLEDGE_MASK
from trainer.ctr.sweep import sweep
from trainer.ctr.synthetic import make_synthetic
from ctr_support import events, small_spec, write_spec


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    make_synthetic(root / "data", users=80, items=60, seed=7, knowledge=root / "know")
    return root / "data", root / "know"


@pytest.fixture(scope="module")
def ds(dirs):
    return load_dataset(DataFiles(directory=str(dirs[0])))


def knowledge_of(know, name="kar"):
    k = know / name
    return {"set": name, "user": str(k / "user.npy"), "userIds": str(k / "user.ids.json"),
            "item": str(k / "item.npy"), "itemIds": str(k / "item.ids.json")}


def train(data, ds, tmp_path, **over):
    return run_training(parse_job(small_spec(data, tmp_path, **over)), ds, Progress(io.StringIO()))


def test_standardize_centres_and_scales_rows_with_knowledge_and_keeps_zero_rows():
    rng = np.random.default_rng(0)
    # A narrow cone: a large shared direction plus small per-entity differences, as sentence vectors.
    x = 3.0 + 0.05 * rng.normal(size=(50, 16))
    x[[0, 7]] = 0.0  # entities without knowledge
    t = torch.from_numpy(x.astype(np.float32))
    out = normalise(t, "standardize")
    has = np.abs(x).sum(axis=1) > 0
    y = out.numpy().astype(np.float64)
    np.testing.assert_allclose(y[has].mean(axis=0), 0, atol=1e-5)
    assert abs((y[has] ** 2).mean() - 1.0) < 1e-4  # unit variance per coordinate on average
    assert np.all(y[~has] == 0)
    # one scale for the whole table: relative spreads of coordinates are kept
    ratio = y[has].std(axis=0) / x[has].std(axis=0)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)
    assert normalise(t, "none") is t
    with pytest.raises(ValueError, match="unknown knowledge normalisation"):
        normalise(t, "whiten")


def test_cross_field_and_noise_reach_the_model(dirs, ds, tmp_path):
    data, know = dirs
    trainer, _ = train(data, ds, tmp_path, variant="kar", knowledge=knowledge_of(know),
                       train={"epochs": 1, "knowledgeCross": True, "knowledgeNoise": 1.0})
    fm = trainer.model.fm
    assert fm.knowledge_cross and fm.extra_fields == 3 and fm.knowledge_noise == 1.0 and fm.knowledge_norm == "standardize"
    x = {k: torch.from_numpy(v[:64]) for k, v in trainer.test_inputs.items()}
    m = trainer.model
    m.train()
    with torch.no_grad():
        a, b = m(x), m(x)
    assert not torch.allclose(a, b), "training mode: the vectors get fresh noise every call"
    m.eval()
    with torch.no_grad():
        torch.testing.assert_close(m(x), m(x))
    # the tables the model carries (and the ONNX export bakes in) are the normalised ones
    u = m.inputs.user_knowledge
    np.testing.assert_allclose(u.double().mean(dim=0).numpy(), 0, atol=1e-5)
    trainer2, _ = train(data, ds, tmp_path / "plain", variant="kar", knowledge=knowledge_of(know),
                        train={"epochs": 1, "knowledgeCross": False, "knowledgeNorm": "none", "knowledgeNoise": 0.0})
    assert trainer2.model.fm.extra_fields == 2
    raw = np.load(know / "kar" / "user.npy")
    np.testing.assert_array_equal(trainer2.model.inputs.user_knowledge.numpy(), raw)


def test_knowledge_cutoff_trains_only_on_samples_after_each_users_prefix(dirs, ds, tmp_path):
    data, know = dirs
    c = cutoff_positions(ds, 0.5)
    np.testing.assert_array_equal(c, np.floor(ds.seq["train_end"] * 0.5).astype(np.int64))
    kept = after_cutoff(ds, 0.5)
    a = ds.train.arrays
    assert 0 < len(kept) < len(ds.train)
    assert np.all(a["pos"][kept] >= c[a["user"][kept]])
    dropped = np.setdiff1d(np.arange(len(ds.train)), kept)
    assert np.all(a["pos"][dropped] < c[a["user"][dropped]])
    # drop: a knowledge variant trains and validates only on samples after the cutoff
    trainer, _ = train(data, ds, tmp_path, variant="kar", knowledge=knowledge_of(know),
                       train={"epochs": 1, "knowledgeCutoff": 0.5, "knowledgeCutoffMode": "drop"})
    assert len(trainer.fit_y) + len(trainer.val_y) == len(kept)
    assert KNOWLEDGE_MASK not in trainer.fit_x
    # mask (the default): every sample trains; those inside the prefix see no knowledge
    masked, _ = train(data, ds, tmp_path / "mask", variant="kar", knowledge=knowledge_of(know),
                      train={"epochs": 1, "knowledgeCutoff": 0.5})
    assert len(masked.fit_y) + len(masked.val_y) == len(ds.train)
    mask = torch.cat([masked.fit_x[KNOWLEDGE_MASK], masked.val_x[KNOWLEDGE_MASK]])
    assert int(mask.sum()) == len(kept) and 0 < int(mask.sum()) < len(mask)
    # a masked sample scores as if its user and item had no knowledge (zero rows)
    m = masked.model.eval()
    x = {k: v[:16] for k, v in masked.fit_x.items()}
    x0 = dict(x, **{KNOWLEDGE_MASK: torch.zeros(16)})
    with torch.no_grad():
        masked_scores = m(x0)
        m.inputs.user_knowledge.zero_()
        m.inputs.item_knowledge.zero_()
        torch.testing.assert_close(masked_scores, m({k: v for k, v in x.items() if k != KNOWLEDGE_MASK}))
    # Base has no knowledge to protect: it keeps every training sample, unmasked.
    base, _ = train(data, ds, tmp_path / "base", train={"epochs": 1, "knowledgeCutoff": 0.5, "knowledgeCutoffMode": "drop"})
    assert len(base.fit_y) + len(base.val_y) == len(ds.train) and KNOWLEDGE_MASK not in base.fit_x
    with pytest.raises(SpecError, match=r"train\.knowledgeCutoff: expected a number >= 0\.0 and <= 0\.95"):
        parse_job(small_spec(data, tmp_path, train={"knowledgeCutoff": 1.0}))


def test_monitor_picks_the_best_epoch_by_its_metric(dirs, ds, tmp_path):
    data, _ = dirs
    for monitor, key, better in (("auc", "valAuc", max), ("logloss", "valLogloss", min)):
        trainer, _ = train(data, ds, tmp_path / monitor, train={"epochs": 4, "patience": 4, "monitor": monitor})
        best = better(trainer.history, key=lambda h: h[key])
        assert trainer.best["epoch"] == best["epoch"], (monitor, trainer.history)


def test_full_features_hold_the_floors_item_statistics_leave_one_out(ds):
    st = item_stats(ds)
    a = ds.train.arrays
    dense = dense_features(ds, ds.train)
    checked = 0
    for i in np.unique(a["item"]):
        same = np.flatnonzero(a["item"] == i)
        liked = a["rating"][same] > ds.meta.label_threshold
        if liked.any() and (~liked).any() and st.count[i] > 1:
            # Leave-one-out: a sample that liked the item is not counted in its own item rate, so
            # it sees a lower rate than a sample of the same item that did not like it.
            assert dense[same[liked], 2].max() < dense[same[~liked], 2].min(), int(i)
            checked += 1
    assert checked > 10
    # test samples see the item's full training statistics: one rate per item
    t = ds.test.arrays
    dt = dense_features(ds, ds.test)
    for i in np.unique(t["item"])[:20]:
        assert np.ptp(dt[t["item"] == i, 2]) < 1e-6


def test_sweep_trains_every_run_in_one_process(dirs, tmp_path):
    data, know = dirs
    spec = {
        "common": {"features": "paper", "seed": 1, "data": {"dir": str(data)}, "threads": 1,
                   "train": {"epochs": 1, "batchSize": 64, "embeddingDim": 8, "mlp": [16], "connector": [16]}},
        "runs": [{"name": "dcn/base", "model": "dcn"},
                 {"name": "dcn/kar", "model": "dcn", "variant": "kar", "knowledge": knowledge_of(know), "train": {"epochs": 2}}],
        "outDir": str(tmp_path / "out"), "predictions": True,
    }
    path = write_spec(spec, tmp_path / "sweep.json")
    import subprocess
    import sys

    from ctr_support import ROOT, cli_env, parse_events

    p = subprocess.run([sys.executable, "-m", "trainer.ctr.sweep", "--spec", str(path)], capture_output=True, text=True,
                       env=cli_env(), cwd=ROOT, timeout=600)
    evs = parse_events(p.stdout)
    assert p.returncode == 0, p.stderr
    runs = events(evs, "run")
    assert [r["name"] for r in runs] == ["dcn/base", "dcn/kar"]
    assert runs[1]["epochs"] == 2 and runs[1]["knowledge"] == "kar"
    assert evs[-1]["event"] == "done"
    for name in ("dcn/base", "dcn/kar"):
        m = json.loads((tmp_path / "out" / name / "metrics.json").read_text())
        assert m["auc"] == next(r["auc"] for r in runs if r["name"] == name)
        pred = np.load(tmp_path / "out" / name / "test_pred.npy")
        assert pred.shape == (len(load_dataset(DataFiles(directory=str(data))).test),)


@pytest.mark.parametrize("runs, message", [
    ([], r"runs: expected a non-empty list"),
    ([{"model": "dcn"}], r"runs\[0\]\.name: expected a path-safe name"),
    ([{"name": "a", "model": "dcn"}, {"name": "a", "model": "dcn"}], r"runs\[1\]\.name: 'a' is used twice"),
    ([{"name": "../x", "model": "dcn"}], r"runs\[0\]\.name"),
    ([{"name": "a", "model": "dcn", "variant": "kar"}], r"knowledge is required"),
])
def test_sweep_checks_every_run_before_training(dirs, tmp_path, runs, message):
    data, _ = dirs
    spec = {"common": {"data": {"dir": str(data)}}, "runs": runs, "outDir": str(tmp_path)}
    with pytest.raises(SpecError, match=message):
        sweep(spec, Progress(io.StringIO()))
