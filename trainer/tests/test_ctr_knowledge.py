"""Knowledge vector sets: bad files are refused with a clear error before any training, and
informative vectors joined through the connectors F_u, F_i help the backbone."""
from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest

from trainer.common.errors import DataError
from trainer.common.progress import Progress
from trainer.ctr.data import DataFiles, load_dataset
from trainer.ctr.fit import run_training
from trainer.ctr.job import parse_job
from trainer.ctr.synthetic import make_synthetic
from ctr_support import events, run_cli, small_spec


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    make_synthetic(root / "data", users=80, items=60, seed=7, knowledge=root / "know")
    return root / "data", root / "know"


def knowledge_of(know, name="kar"):
    k = know / name
    return {"set": name, "user": str(k / "user.npy"), "userIds": str(k / "user.ids.json"),
            "item": str(k / "item.npy"), "itemIds": str(k / "item.ids.json")}


def broken_copy(know, tmp_path):
    dst = tmp_path / "know"
    shutil.copytree(know, dst)
    return dst


def train(data, tmp_path, **over):
    job = parse_job(small_spec(data, tmp_path, **over))
    return run_training(job, load_dataset(DataFiles(directory=str(data))), Progress(io.StringIO()))


def test_informative_knowledge_improves_the_backbone(dirs, tmp_path):
    data, know = dirs
    _, base = train(data, tmp_path / "base", model="dcn", train={"epochs": 3})
    _, kar = train(data, tmp_path / "kar", model="dcn", variant="kar", knowledge=knowledge_of(know), train={"epochs": 3})
    assert kar["auc"] > base["auc"] + 0.01, (base["auc"], kar["auc"])


def test_hybrid_expert_adaptor_trains(dirs, tmp_path):
    data, know = dirs
    trainer, r = train(data, tmp_path, model="fignn", variant="r4ec", knowledge=knowledge_of(know, "r4ec"),
                       train={"adaptor": "hybrid-expert"})
    assert hasattr(trainer.model.inputs, "adaptor") and r["auc"] > 0.65


@pytest.mark.parametrize(
    "breakage, message",
    [
        ("user_rows", r"user vectors .* have 79 rows, the dataset has 80 users"),
        ("item_rows", r"item vectors .* have 60 rows, expected 61 \(items 1\.\.60 plus padding row 0\)"),
        ("nan", r"item vectors .* 1 row\(s\) hold NaN or infinite values; first at row 4, column 2"),
        ("missing", r"user vectors: vector file is missing"),
        ("ids_count", r"lists 79 ids for 80 user vector rows"),
        ("ids_order", r"user\.ids\.json row 0 is user '2', the dataset's user 0 is '1'"),
        ("dtype", r"expected float32 vectors, got dtype int32"),
    ],
)
def test_bad_vector_files_are_refused_with_a_clear_error(dirs, tmp_path, breakage, message):
    data, know = dirs
    k = broken_copy(know, tmp_path) / "kar"
    users, items = np.load(k / "user.npy"), np.load(k / "item.npy")
    if breakage == "user_rows":
        np.save(k / "user.npy", users[:-1])
    elif breakage == "item_rows":
        np.save(k / "item.npy", items[:-1])
    elif breakage == "nan":
        items[4, 2] = np.nan
        np.save(k / "item.npy", items)
    elif breakage == "missing":
        (k / "user.npy").unlink()
    elif breakage == "ids_count":
        (k / "user.ids.json").write_text(json.dumps(json.loads((k / "user.ids.json").read_text())[:-1]))
    elif breakage == "ids_order":
        ids = json.loads((k / "user.ids.json").read_text())
        ids[0], ids[1] = ids[1], ids[0]
        (k / "user.ids.json").write_text(json.dumps(ids))
    elif breakage == "dtype":
        np.save(k / "user.npy", users.astype(np.int32))
    with pytest.raises(DataError, match=message):
        train(data, tmp_path, variant="kar", knowledge=knowledge_of(k.parent))


def test_cli_reports_bad_vectors_before_training_and_exits_non_retryable(dirs, tmp_path):
    data, know = dirs
    k = broken_copy(know, tmp_path) / "r2ec"
    users = np.load(k / "user.npy")
    users[10, 0] = np.inf
    np.save(k / "user.npy", users)
    rc, evs, _ = run_cli(small_spec(data, tmp_path, variant="r2ec", knowledge=knowledge_of(k.parent, "r2ec")), tmp_path)
    assert rc == 2
    last = evs[-1]
    assert last["event"] == "error" and last["type"] == "DataError" and last["nonRetryable"] is True
    assert "knowledge set r2ec: user vectors" in last["message"] and "row 10" in last["message"]
    assert not events(evs, "setup") and not events(evs, "epoch")
    assert not list((tmp_path / "work").glob("ckpt-*")) if (tmp_path / "work").exists() else True


def test_knowledge_variant_without_vectors_is_a_spec_error(dirs, tmp_path):
    from trainer.common.errors import SpecError

    data, _ = dirs
    with pytest.raises(SpecError, match=r"knowledge is required for variant 'r4ec'"):
        parse_job(small_spec(data, tmp_path, variant="r4ec"))
