"""The dataset contract as the trainer reads it: checks with clear errors, the validation slice,
the `full` features' user statistics."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from trainer.common.errors import DataError
from trainer.ctr.data import DataFiles, dense_features, load_dataset, model_inputs, user_before, validation_split
from trainer.ctr.synthetic import make_synthetic


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    make_synthetic(d, users=40, items=30, seed=3)
    return d


def copy_of(src, tmp_path):
    dst = tmp_path / "data"
    shutil.copytree(src, dst)
    return dst


def test_loads_the_contract_arrays(synth):
    ds = load_dataset(DataFiles(directory=str(synth)))
    meta = json.loads((synth / "meta.json").read_text())
    assert len(ds.train) == meta["counts"]["train"] and len(ds.test) == meta["counts"]["test"]
    assert ds.meta.items == len(meta["items"]) and ds.meta.users == len(meta["users"])
    assert ds.ratings == 5


def test_validation_slice_is_each_users_latest_training_samples(synth):
    ds = load_dataset(DataFiles(directory=str(synth)))
    fit, val = validation_split(ds.train, 0.25)
    assert len(np.intersect1d(fit, val)) == 0
    assert len(fit) + len(val) == len(ds.train)
    u, pos = ds.train.arrays["user"], ds.train.arrays["pos"]
    for user in np.unique(u):
        fit_pos, val_pos = pos[fit][u[fit] == user], pos[val][u[val] == user]
        n = len(fit_pos) + len(val_pos)
        assert len(val_pos) == (int(np.ceil(n * 0.25)) if n > 1 else 0)
        if len(val_pos) and len(fit_pos):
            assert val_pos.min() > fit_pos.max()  # held-out samples come after the fitted ones


def test_user_statistics_count_only_interactions_before_the_sample(synth):
    ds = load_dataset(DataFiles(directory=str(synth)))
    likes, count = user_before(ds, ds.test)
    off, rating = ds.seq["offsets"], ds.seq["rating"]
    for r in range(0, len(ds.test), 7):
        u, p = int(ds.test.arrays["user"][r]), int(ds.test.arrays["pos"][r])
        before = rating[off[u] : off[u] + p]
        assert count[r] == p
        assert likes[r] == int((before > ds.meta.label_threshold).sum())
    dense = dense_features(ds, ds.test)
    assert dense.dtype == np.float32 and dense.shape == (len(ds.test), 4)
    # standardised with the training split's statistics
    train = dense_features(ds, ds.train)
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=0), 1, atol=1e-4)
    # the user's like-rate rises with each liked interaction before the sample
    r = np.argsort(likes / np.maximum(count, 1))
    assert dense[r[-1], 0] > dense[r[0], 0]


def test_feature_sets_choose_the_inputs(synth):
    ds = load_dataset(DataFiles(directory=str(synth)))
    paper = model_inputs(ds, ds.train, "paper", uses_user=False)
    full = model_inputs(ds, ds.train, "full", uses_user=True)
    assert set(paper) == {"item", "cat", "hist_item", "hist_cat", "hist_rating"}  # no user id in `paper`
    assert set(full) == set(paper) | {"user", "dense"}


def test_missing_file_names_it(synth, tmp_path):
    d = copy_of(synth, tmp_path)
    (d / "test" / "hist_cat.npy").unlink()
    with pytest.raises(DataError, match=r"test/hist_cat\.npy is missing"):
        load_dataset(DataFiles(directory=str(d)))


def test_explicit_file_map_must_name_every_file(synth):
    files = {"meta.json": str(synth / "meta.json")}
    with pytest.raises(DataError, match=r"no path given for train/user\.npy"):
        load_dataset(DataFiles(files=files))


def test_wrong_dtype_names_file_and_expectation(synth, tmp_path):
    d = copy_of(synth, tmp_path)
    np.save(d / "train" / "label.npy", np.load(d / "train" / "label.npy").astype(np.float32))
    with pytest.raises(DataError, match=r"train/label\.npy .*expected dtype int8, got float32"):
        load_dataset(DataFiles(directory=str(d)))


def test_row_count_mismatch_is_reported(synth, tmp_path):
    d = copy_of(synth, tmp_path)
    np.save(d / "train" / "cat.npy", np.load(d / "train" / "cat.npy")[:-1])
    with pytest.raises(DataError, match=r"train/cat\.npy: expected \d+ rows"):
        load_dataset(DataFiles(directory=str(d)))


def test_misaligned_target_is_reported_with_its_row(synth, tmp_path):
    d = copy_of(synth, tmp_path)
    item = np.load(d / "test" / "item.npy")
    item[5] = item[5] % int(item.max()) + 1 if item[5] != item.max() else 1
    np.save(d / "test" / "item.npy", item)
    with pytest.raises(DataError, match=r"test/item\.npy row 5"):
        load_dataset(DataFiles(directory=str(d)))


def test_out_of_range_ids_are_reported(synth, tmp_path):
    d = copy_of(synth, tmp_path)
    h = np.load(d / "train" / "hist_item.npy")
    h[3, 2] = 10_000
    np.save(d / "train" / "hist_item.npy", h)
    with pytest.raises(DataError, match=r"train/hist_item\.npy row 3: .* outside 0\.\.\d+"):
        load_dataset(DataFiles(directory=str(d)))


def test_train_sample_past_the_training_part_is_refused(synth, tmp_path):
    d = copy_of(synth, tmp_path)
    end = np.load(d / "seq" / "train_end.npy")
    end[:] = 1
    np.save(d / "seq" / "train_end.npy", end)
    with pytest.raises(DataError, match=r"train/pos\.npy row 0: .* past user"):
        load_dataset(DataFiles(directory=str(d)))
