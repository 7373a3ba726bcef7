"""The six backbones on the shared input layer: every feature set and knowledge adaptor builds,
scores a sample the same alone or in a batch (ONNX parity needs it), and learns a planted signal
through the shared fit/evaluate loop."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from trainer.common.progress import Progress
from trainer.ctr.data import DENSE_NAMES, DataFiles, load_dataset, model_inputs
from trainer.ctr.fit import run_training
from trainer.ctr.job import parse_job
from trainer.ctr.models import BACKBONES, FeatureMap, build_model
from trainer.ctr.synthetic import make_synthetic
from ctr_support import small_spec


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    make_synthetic(d, users=80, items=60, seed=7)
    return d


@pytest.fixture(scope="module")
def ds(data_dir):
    return load_dataset(DataFiles(directory=str(data_dir)))


def feature_map(ds, features: str, knowledge_dims=(), adaptor="mlp", cross=False) -> FeatureMap:
    return FeatureMap(
        items=ds.meta.items, categories=ds.meta.categories, ratings=ds.ratings, users=ds.meta.users,
        history=ds.meta.history, features=features, dense_names=DENSE_NAMES if features == "full" else (),
        knowledge_dims=knowledge_dims, embedding_dim=8, mlp=(16,), connector=(16,), adaptor=adaptor,
        knowledge_cross=cross, knowledge_noise=0.5 if cross else 0.0,
    )


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("setup", ["paper", "full", "paper+kar-mlp", "full+kar-hybrid", "paper+kar-mlp-cross"])
def test_backbone_scores_each_sample_independently_of_its_batch(ds, backbone, setup):
    torch.manual_seed(0)
    features = setup.split("+")[0]
    knowledge = None
    dims = ()
    adaptor = "hybrid-expert" if setup.endswith("hybrid") else "mlp"
    if "kar" in setup:
        knowledge = (torch.randn(ds.meta.users, 12), torch.randn(ds.meta.items + 1, 20))  # different widths
        dims = (12, 20)
    fm = feature_map(ds, features, dims, adaptor, cross=setup.endswith("cross"))
    model = build_model(backbone, fm, knowledge).eval()
    x = {k: torch.from_numpy(v[:32]) for k, v in model_inputs(ds, ds.test, features, fm.uses_user).items()}
    with torch.no_grad():
        full = model(x)
        alone = torch.cat([model({k: v[i : i + 1] for k, v in x.items()}) for i in range(5)])
    assert full.shape == (32,)
    assert torch.isfinite(full).all()
    torch.testing.assert_close(alone, full[:5], atol=1e-5, rtol=1e-5)
    # the input layer really uses what the feature set promises
    if features == "full":
        x2 = dict(x, user=torch.roll(x["user"], 1))
        with torch.no_grad():
            assert not torch.allclose(model(x2), full)


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("features", ["paper", "full"])
def test_backbone_learns_the_planted_signal(data_dir, ds, tmp_path, backbone, features):
    torch.set_num_threads(1)
    job = parse_job(small_spec(data_dir, tmp_path, model=backbone, features=features, train={"epochs": 3}))
    trainer, result = run_training(job, ds, Progress(io.StringIO()))
    assert result["auc"] > 0.65, f"{backbone}/{features}: test AUC {result['auc']:.3f}"
    assert 0 < result["logloss"] < 0.69
    assert trainer.best["epoch"] >= 1 and len(trainer.history) >= 1
    losses = [h["loss"] for h in trainer.history]
    assert losses[-1] < losses[0] or len(losses) == 1
