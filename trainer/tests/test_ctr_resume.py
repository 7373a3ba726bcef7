"""Checkpoint every epoch and resume from the newest after a crash: a process killed during epoch
2 continues from epoch 1's checkpoint and ends exactly where an uninterrupted run ends."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from trainer.ctr.synthetic import make_synthetic
from ctr_support import ROOT, cli_env, events, parse_events, run_cli, small_spec, write_spec


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    make_synthetic(d, users=60, items=40, seed=11)
    return d


def spec_for(data_dir, tmp, **over):
    # Slow steps (debug.stepDelayMs) so the kill surely lands inside epoch 2; dropout on so the
    # RNG state matters to the result.
    return small_spec(data_dir, tmp, model="gru4rec", progressEverySteps=1, debug={"stepDelayMs": 60},
                      train={"epochs": 3, "patience": 3, "dropout": 0.2}, **over)


def kill_during_epoch(spec: dict, tmp, epoch: int) -> list[dict]:
    path = write_spec(spec, tmp / "spec.json")
    proc = subprocess.Popen([sys.executable, "-m", "trainer.ctr.train", "--spec", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=cli_env(), cwd=ROOT)
    seen = []
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            ev = json.loads(line)
            seen.append(ev)
            if ev["event"] == "step" and ev["epoch"] == epoch:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"process ended by itself: {seen[-1]}"
    return seen


def test_killed_in_epoch_2_resumes_from_epoch_1_checkpoint_and_matches_an_uninterrupted_run(data_dir, tmp_path):
    crashed = tmp_path / "crashed"
    spec = spec_for(data_dir, crashed)
    before = kill_during_epoch(spec, crashed, epoch=2)
    assert [e["epoch"] for e in events(before, "checkpoint")] == [1]
    assert sorted(p.name for p in (crashed / "work").glob("ckpt-*.pt")) == ["ckpt-epoch-0001.pt"]

    rc, after, err = run_cli(spec, crashed)
    assert rc == 0, err[-2000:]
    resume = events(after, "resume")
    assert len(resume) == 1 and resume[0]["epoch"] == 1 and resume[0]["nextEpoch"] == 2
    assert resume[0]["checkpoint"].endswith("ckpt-epoch-0001.pt")
    assert [e["epoch"] for e in events(after, "epoch")] == [2, 3]  # epoch 1 is not trained again
    steps_per_epoch = events(after, "setup")[0]["stepsPerEpoch"]
    assert events(after, "step")[0]["step"] == steps_per_epoch + 1  # the step counter continues
    assert after[-1]["event"] == "done"

    clean = tmp_path / "clean"
    rc, straight, err = run_cli(spec_for(data_dir, clean), clean)
    assert rc == 0, err[-2000:]
    assert not events(straight, "resume")
    # Same shuffles, same dropout masks, same optimizer state: the same model.
    assert [e["loss"] for e in events(after, "epoch")] == [e["loss"] for e in events(straight, "epoch")[1:]]
    assert after[-1]["auc"] == straight[-1]["auc"]
    np.testing.assert_array_equal(np.load(crashed / "out" / "test_pred.npy"), np.load(clean / "out" / "test_pred.npy"))


def test_a_finished_job_run_again_only_evaluates_and_its_work_dir_refuses_another_job(data_dir, tmp_path):
    spec = small_spec(data_dir, tmp_path, model="dcn")
    rc, first, _ = run_cli(spec, tmp_path)
    assert rc == 0
    rc, again, _ = run_cli(spec, tmp_path)
    assert rc == 0
    assert events(again, "resume")[0]["epoch"] == 2 and not events(again, "epoch")
    assert again[-1]["auc"] == first[-1]["auc"]

    rc, evs, _ = run_cli(small_spec(data_dir, tmp_path, model="deepfm"), tmp_path)
    assert rc == 2
    assert evs[-1]["event"] == "error" and evs[-1]["type"] == "CheckpointError"
    assert "different job" in evs[-1]["message"]
    assert not events(evs, "epoch")


def test_unreadable_newest_checkpoint_falls_back_to_the_older_one(data_dir, tmp_path):
    spec = small_spec(data_dir, tmp_path, model="dcn", train={"epochs": 3, "patience": 3})
    rc, first, _ = run_cli(spec, tmp_path)
    assert rc == 0
    ckpts = sorted((tmp_path / "work").glob("ckpt-*.pt"))
    assert [p.name for p in ckpts] == ["ckpt-epoch-0002.pt", "ckpt-epoch-0003.pt"]  # the newest two are kept
    ckpts[-1].write_bytes(b"not a checkpoint")
    rc, evs, _ = run_cli(spec, tmp_path)
    assert rc == 0
    assert events(evs, "checkpoint_skipped")[0]["path"].endswith("ckpt-epoch-0003.pt")
    assert events(evs, "resume")[0]["epoch"] == 2
    assert [e["epoch"] for e in events(evs, "epoch")] == [3]
    assert evs[-1]["auc"] == first[-1]["auc"]
