"""One shared fit/evaluate loop for every backbone (FuxiCTR-like): setup -> fit with per-epoch
checkpoints and early stopping on a validation slice of train -> evaluate the best epoch on test.

Resuming is built in: the newest checkpoint restores model, optimizer, scheduler, RNGs, epoch and
early-stopping state; each epoch's shuffle is derived from (seed, epoch), so a resumed run is the
same run as one that never stopped.
"""
from __future__ import annotations

import copy
import random
import resource
import time
from dataclasses import asdict
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from ..common.checkpoint import Checkpoints, capture_rng, restore_rng
from ..common.errors import DataError
from ..common.progress import Progress
from .data import DENSE_NAMES, Dataset, after_cutoff, cutoff_positions, model_inputs, validation_split
from .job import CtrJob
from .knowledge import load_knowledge, normalise
from .metrics import auc, logloss
from .models import KNOWLEDGE_MASK, CtrModel, FeatureMap, build_model

Tensors = dict[str, torch.Tensor]


def pick_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    out = {"peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if device.type == "cuda":
        out["peakGpuMb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def to_tensors(x: dict[str, np.ndarray], device: torch.device) -> Tensors:
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in x.items()}


def take(x: Tensors, idx: torch.Tensor) -> Tensors:
    return {k: v[idx] for k, v in x.items()}


@torch.no_grad()
def predict(model: nn.Module, x: Tensors, batch: int) -> np.ndarray:
    model.eval()
    n = next(iter(x.values())).shape[0]
    out = []
    for s in range(0, n, batch):
        out.append(torch.sigmoid(model({k: v[s : s + batch] for k, v in x.items()})).float().cpu())
    return torch.cat(out).numpy()


class CtrTrainer:
    def __init__(self, job: CtrJob, ds: Dataset, progress: Progress):
        self.job, self.ds, self.progress = job, ds, progress
        self.device = pick_device(job.device)
        seed_everything(job.seed)
        p = job.train
        knowledge = None
        if job.knowledge is not None:
            k = job.knowledge
            users, items = load_knowledge(k.user, k.user_ids, k.item, k.item_ids, ds.meta, k.set)
            knowledge = (normalise(users, p.knowledge_norm), normalise(items, p.knowledge_norm))
        self.fm = FeatureMap(
            items=ds.meta.items, categories=ds.meta.categories, ratings=ds.ratings, users=ds.meta.users,
            history=ds.meta.history, features=job.features,
            dense_names=DENSE_NAMES if job.features == "full" else (),
            knowledge_dims=(knowledge[0].shape[1], knowledge[1].shape[1]) if knowledge else (),
            embedding_dim=p.embedding_dim, mlp=p.mlp, connector=p.connector, adaptor=p.adaptor, dropout=p.dropout,
            knowledge_norm=p.knowledge_norm if knowledge else "none",
            knowledge_cross=p.knowledge_cross and knowledge is not None,
            knowledge_noise=p.knowledge_noise if knowledge is not None else 0.0,
        )
        self.model: CtrModel = build_model(job.model, self.fm, knowledge).to(self.device)

        cutoff = knowledge is not None and p.knowledge_cutoff > 0
        if cutoff and p.knowledge_cutoff_mode == "drop":
            kept = after_cutoff(ds, p.knowledge_cutoff)
            if kept.size == 0:
                raise DataError(f"train.knowledgeCutoff {p.knowledge_cutoff}: no training sample lies after the cutoff")
            fit_sub, val_sub = validation_split(ds.train.take(kept, "train"), p.validation_fraction)
            fit_idx, val_idx = kept[fit_sub], kept[val_sub]
        else:
            fit_idx, val_idx = validation_split(ds.train, p.validation_fraction)
        if job.max_train_samples:
            fit_idx = fit_idx[: job.max_train_samples]
        train_x = model_inputs(ds, ds.train, job.features, self.fm.uses_user)
        if cutoff and p.knowledge_cutoff_mode == "mask":
            # A training sample inside its user's knowledge prefix sees no knowledge (the zero row:
            # "an average entity"); the vectors could describe its own label.
            a = ds.train.arrays
            c = cutoff_positions(ds, p.knowledge_cutoff)
            train_x[KNOWLEDGE_MASK] = (a["pos"].astype(np.int64) >= c[a["user"].astype(np.int64)]).astype(np.float32)
        labels = ds.train.arrays["label"].astype(np.float32)
        self.fit_x = to_tensors({k: v[fit_idx] for k, v in train_x.items()}, self.device)
        self.fit_y = torch.from_numpy(labels[fit_idx]).to(self.device)
        self.val_x = to_tensors({k: v[val_idx] for k, v in train_x.items()}, self.device)
        self.val_y = labels[val_idx]
        self.test_inputs = model_inputs(ds, ds.test, job.features, self.fm.uses_user)
        self.test_y = ds.test.arrays["label"]
        self.steps_per_epoch = max(1, -(-len(fit_idx) // p.batch_size))

        decay, no_decay = [], []
        for name, prm in self.model.named_parameters():
            (no_decay if name.endswith("bias") else decay).append(prm)
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": p.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=p.learning_rate,
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=p.epochs * self.steps_per_epoch)
        self.loss_fn = nn.BCEWithLogitsLoss()
        self.ckpt = Checkpoints(job.work_dir, job.fingerprint())
        self.epoch = 0
        self.step = 0
        self.best = {"valAuc": -1.0, "epoch": 0, "state": None}
        self.bad_epochs = 0
        self.stopped = False
        self.history: list[dict] = []
        self.train_seconds = 0.0
        self.train_samples = 0

    # ---- checkpoint / resume -------------------------------------------------------------
    def state(self) -> dict:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "rng": capture_rng(), "step": self.step,
            "best": self.best, "badEpochs": self.bad_epochs, "stopped": self.stopped, "history": self.history,
            "trainSeconds": self.train_seconds, "trainSamples": self.train_samples,
        }

    def resume(self) -> None:
        st = self.ckpt.newest(lambda path, why: self.progress.emit("checkpoint_skipped", path=str(path), reason=why))
        if st is None:
            return
        self.model.load_state_dict(st["model"])
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        restore_rng(st["rng"])
        self.epoch, self.step = st["epoch"], st["step"]
        self.best, self.bad_epochs, self.stopped = st["best"], st["badEpochs"], st["stopped"]
        self.history, self.train_seconds, self.train_samples = st["history"], st["trainSeconds"], st["trainSamples"]
        self.progress.emit("resume", epoch=self.epoch, nextEpoch=self.epoch + 1, step=self.step, checkpoint=st["path"])

    # ---- fit -------------------------------------------------------------------------------
    def fit(self) -> None:
        job, p = self.job, self.job.train
        n = len(self.fit_y)
        while not self.stopped and self.epoch < p.epochs:
            epoch = self.epoch + 1
            self.model.train()
            gen = torch.Generator().manual_seed(job.seed * 1_000_003 + epoch)
            perm = torch.randperm(n, generator=gen).to(self.device)
            t0, losses = time.perf_counter(), []
            for b in range(self.steps_per_epoch):
                idx = perm[b * p.batch_size : (b + 1) * p.batch_size]
                logits = self.model(take(self.fit_x, idx))
                loss = self.loss_fn(logits, self.fit_y[idx])
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.scheduler.step()
                self.step += 1
                losses.append(loss.item())
                if job.step_delay_ms:
                    time.sleep(job.step_delay_ms / 1000.0)
                if (b + 1) % job.progress_every == 0:
                    self.progress.emit(
                        "step", epoch=epoch, step=self.step, loss=float(np.mean(losses[-job.progress_every :])),
                        samplesPerSec=(b + 1) * p.batch_size / (time.perf_counter() - t0),
                    )
            seconds = time.perf_counter() - t0
            self.train_seconds += seconds
            self.train_samples += n
            val_p = predict(self.model, self.val_x, p.eval_batch_size)
            val_auc, val_ll = auc(self.val_y, val_p), logloss(self.val_y, val_p)
            score = val_auc if p.monitor == "auc" else -val_ll
            if self.best["epoch"] == 0 or score > self.best.get("score", -np.inf):
                self.best = {"valAuc": val_auc, "valLogloss": val_ll, "score": score, "epoch": epoch,
                             "state": copy.deepcopy(self.model.state_dict())}
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
            self.stopped = self.bad_epochs >= p.patience
            self.epoch = epoch
            row = {"epoch": epoch, "step": self.step, "loss": float(np.mean(losses)), "valAuc": val_auc,
                   "valLogloss": val_ll, "seconds": seconds, "samplesPerSec": n / seconds}
            self.history.append(row)
            path = self.ckpt.save(epoch, self.state())
            self.progress.emit("epoch", **row, bestEpoch=self.best["epoch"], lr=self.scheduler.get_last_lr()[0])
            self.progress.emit("checkpoint", epoch=epoch, path=str(path))
            if self.stopped:
                self.progress.emit("early_stop", epoch=epoch, bestEpoch=self.best["epoch"], patience=p.patience)

    # ---- evaluate ----------------------------------------------------------------------------
    def evaluate(self) -> dict:
        if self.best["state"] is not None:
            self.model.load_state_dict(self.best["state"])
        x = to_tensors(self.test_inputs, self.device)
        probs = predict(self.model, x, self.job.train.eval_batch_size)
        return {"auc": auc(self.test_y, probs), "logloss": logloss(self.test_y, probs), "predictions": probs}

    def summary(self) -> dict:
        return {
            "bestEpoch": self.best["epoch"], "valAuc": self.best["valAuc"], "epochs": self.epoch,
            "steps": self.step, "trainSeconds": self.train_seconds,
            "trainSamplesPerSec": self.train_samples / self.train_seconds if self.train_seconds else None,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "device": self.device.type, "threads": torch.get_num_threads(), "history": self.history,
            "featureMap": {k: v for k, v in asdict(self.fm).items() if k != "extra"},
            **peak_memory_mb(self.device),
        }


def run_training(job: CtrJob, ds: Dataset, progress: Progress, on_trainer: Callable[[CtrTrainer], None] | None = None) -> tuple[CtrTrainer, dict]:
    trainer = CtrTrainer(job, ds, progress)
    if on_trainer:
        on_trainer(trainer)
    progress.emit(
        "setup", model=job.model, features=job.features, variant=job.variant, seed=job.seed,
        device=trainer.device.type, fit=len(trainer.fit_y), validation=len(trainer.val_y), test=len(trainer.test_y),
        stepsPerEpoch=trainer.steps_per_epoch, parameters=sum(p.numel() for p in trainer.model.parameters()),
    )
    trainer.resume()
    trainer.fit()
    return trainer, trainer.evaluate()
