"""`python -m trainer.ctr.train --spec spec.json` as the train activity runs it: the progress
contract, its outputs (metrics, ONNX model checked against PyTorch), spec errors, early stopping."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from trainer.common.progress import Progress
from trainer.ctr.data import DataFiles, load_dataset
from trainer.ctr.fit import run_training
from trainer.ctr.job import parse_job
from trainer.ctr.metrics import auc, logloss
from trainer.ctr.synthetic import make_synthetic
from ctr_support import events, run_cli, small_spec


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    make_synthetic(d, users=60, items=40, seed=13)
    return d


def test_full_features_job_writes_metrics_and_an_onnx_model_that_matches_pytorch(data_dir, tmp_path):
    rc, evs, err = run_cli(small_spec(data_dir, tmp_path, model="dien", features="full", export=True), tmp_path)
    assert rc == 0, err[-3000:]
    kinds = [e["event"] for e in evs]
    assert kinds[0] == "data" and kinds[-1] == "done"
    assert {"setup", "epoch", "checkpoint", "test", "export"} <= set(kinds)
    for e in events(evs, "epoch"):
        assert {"epoch", "step", "loss", "valAuc", "valLogloss", "samplesPerSec"} <= set(e)
    out = tmp_path / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    y = np.load(data_dir / "test" / "label.npy")
    pred = np.load(out / "test_pred.npy")
    assert len(pred) == len(y)
    assert metrics["auc"] == pytest.approx(auc(y, pred), abs=1e-9)
    assert metrics["logloss"] == pytest.approx(logloss(y, pred), abs=1e-6)
    assert evs[-1]["auc"] == metrics["auc"]
    # ONNX: what serving will run scores like PyTorch
    assert metrics["onnx"]["maxAbsDiff"] < 1e-5
    assert abs(metrics["onnx"]["auc"] - metrics["auc"]) < 1e-6
    model = json.loads((out / "model.json").read_text())
    inputs = model["onnx"]["inputs"]
    assert [i["feature"] for i in inputs] == ["item", "cat", "hist_item", "hist_cat", "hist_rating", "user", "dense"]
    assert inputs[-1]["source"] == "model:test_dense.npy" and (out / "test_dense.npy").exists()
    assert all(i["source"] == f"ingest:test/{i['feature']}.npy" for i in inputs[:-1])
    assert (out / "model.onnx").stat().st_size > 0 and (out / "weights.pt").exists()
    assert metrics["trainSamplesPerSec"] > 0 and metrics["peakRssMb"] > 0


def test_floor_job(data_dir, tmp_path):
    rc, evs, err = run_cli(small_spec(data_dir, tmp_path, model="floor"), tmp_path)
    assert rc == 0, err[-2000:]
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["model"] == "floor" and m["auc"] > 0.7 and evs[-1]["auc"] == m["auc"]
    assert set(m["weights"]) == {"bias", "item_like_rate", "user_like_rate", "last10_like_ratio", "log_item_popularity"}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model": None}, r"spec field model is required"),
        ({"model": "xdeepfm"}, r"spec field model: expected one of .*'dcn'.* got 'xdeepfm'"),
        ({"features": "most"}, r"spec field features: expected one of \['full', 'paper'\]"),
        ({"train": {"batchSize": 0}}, r"spec field train\.batchSize: expected an integer >= 1, got 0"),
        ({"train": {"mlp": [200, "80"]}}, r"spec field train\.mlp: expected a non-empty list of positive integers"),
        ({"data": {}}, r"spec field data: give `files`"),
    ],
)
def test_spec_errors_name_the_field(data_dir, tmp_path, change, message):
    spec = small_spec(data_dir, tmp_path)
    for k, v in change.items():
        if k == "train":
            spec["train"].update(v)
        elif v is None:
            spec.pop(k)
        else:
            spec[k] = v
    from trainer.common.errors import SpecError

    with pytest.raises(SpecError, match=message):
        parse_job(spec)


def test_cli_spec_error_is_the_last_line_and_non_retryable(data_dir, tmp_path):
    spec = small_spec(data_dir, tmp_path)
    spec.pop("workDir")
    rc, evs, _ = run_cli(spec, tmp_path)
    assert rc == 2 and len(evs) == 1
    assert evs[0]["event"] == "error" and evs[0]["type"] == "SpecError" and "workDir" in evs[0]["message"]


def test_early_stopping_watches_the_validation_slice(data_dir, tmp_path):
    # With a zero learning rate the validation AUC never improves after epoch 1: training stops
    # after `patience` more epochs and the kept model is epoch 1's.
    job = parse_job(small_spec(data_dir, tmp_path, train={"epochs": 10, "patience": 2, "learningRate": 0.0}))
    out = io.StringIO()
    trainer, _ = run_training(job, load_dataset(DataFiles(directory=str(data_dir))), Progress(out))
    evs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["epoch"] for e in events(evs, "epoch")] == [1, 2, 3]
    assert events(evs, "early_stop")[0] == {**events(evs, "early_stop")[0], "epoch": 3, "bestEpoch": 1}
    assert trainer.best["epoch"] == 1


def test_seeds_change_the_model(data_dir, tmp_path):
    ds = load_dataset(DataFiles(directory=str(data_dir)))
    aucs = []
    for seed in (1, 2):
        job = parse_job(small_spec(data_dir, tmp_path / str(seed), model="autoint", seed=seed))
        aucs.append(run_training(job, ds, Progress(io.StringIO()))[1]["auc"])
    assert aucs[0] != aucs[1]
