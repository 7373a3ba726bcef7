"""The CTR job spec: what `python -m trainer.ctr.train --spec spec.json` reads.

{
  "model": "dien|gru4rec|autoint|fignn|dcn|deepfm|floor",
  "features": "paper|full", "variant": "base|kar|r2ec|r4ec", "seed": 1,
  "data": {"files": {"meta.json": PATH, "train/user.npy": PATH, ...}} or {"dir": PATH},
  "knowledge": {"set": "r4ec", "user": PATH, "userIds": PATH, "item": PATH, "itemIds": PATH},  // not for base
  "train": {"epochs", "patience", "batchSize", "learningRate", "weightDecay", "embeddingDim", "mlp",
            "connector", "adaptor", "dropout", "validationFraction", "evalBatchSize",
            "knowledgeNorm", "knowledgeCross", "knowledgeCutoff", "knowledgeCutoffMode", "knowledgeNoise",
            "monitor"},
  "device": "auto|cpu|cuda", "threads": 0, "workDir": PATH, "outDir": PATH,
  "progressEverySteps": 50, "export": true, "dieWithParent": false,
  "debug": {"stepDelayMs": 0, "maxTrainSamples": 0}
}
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from ..common.errors import SpecError
from ..common.spec import Fields
from .knowledge import KNOWLEDGE_NORMS
from .models import BACKBONES

MODELS = (*BACKBONES, "floor")
VARIANTS = ("base", "kar", "r2ec", "r4ec")


@dataclass(frozen=True)
class TrainParams:
    epochs: int = 20
    patience: int = 3
    batch_size: int = 1024
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    embedding_dim: int = 32
    mlp: tuple[int, ...] = (200, 80)
    connector: tuple[int, ...] = (128,)
    adaptor: str = "mlp"
    dropout: float = 0.0
    validation_fraction: float = 0.1
    eval_batch_size: int = 8192
    knowledge_norm: str = "standardize"  # "standardize" | "none" (knowledge.normalise)
    knowledge_cross: bool = True  # add F_u(k_u) * F_i(k_i) as one more field
    # Knowledge variants: the knowledge was built from the first `knowledge_cutoff` of each user's
    # training part (0 = off). Samples inside that prefix are trained without knowledge (`mask`)
    # or not at all (`drop`).
    knowledge_cutoff: float = 0.0
    knowledge_cutoff_mode: str = "mask"
    # Gaussian noise (standard deviation, in units of the normalised vectors) added to the knowledge
    # vectors while training: hides the small differences that make every entity's vector unique.
    knowledge_noise: float = 1.0
    monitor: str = "logloss"  # validation metric for early stopping and the best epoch: "auc" | "logloss"


@dataclass(frozen=True)
class Knowledge:
    set: str
    user: str
    user_ids: str
    item: str
    item_ids: str


@dataclass(frozen=True)
class CtrJob:
    model: str
    features: str
    variant: str
    seed: int
    data_files: dict
    data_dir: str | None
    knowledge: Knowledge | None
    train: TrainParams
    device: str
    threads: int
    work_dir: str
    out_dir: str
    progress_every: int
    export: bool
    step_delay_ms: int
    max_train_samples: int
    die_with_parent: bool

    def fingerprint(self) -> str:
        """Hash of what changes the trained model (not paths, threads or progress cadence)."""
        key = {
            "model": self.model, "features": self.features, "variant": self.variant, "seed": self.seed,
            "knowledge": self.knowledge.set if self.knowledge else None, "train": asdict(self.train),
            "maxTrainSamples": self.max_train_samples,
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def parse_job(raw: dict[str, Any]) -> CtrJob:
    f = Fields(raw, "")
    model = f.str("model", choices=MODELS)
    variant = f.str("variant", "base", choices=VARIANTS)
    data = f.sub("data")
    files = data.str_map("files") if "files" in data.obj else {}
    directory = data.str("dir", None) if "dir" in data.obj else None
    if not files and not directory:
        raise SpecError("spec field data: give `files` (name -> path) or `dir` (the ingest output directory)")
    kn = f.obj_or_none("knowledge")
    knowledge = None
    if variant != "base":
        if kn is None:
            raise SpecError(f"spec field knowledge is required for variant {variant!r} (its user and item vector files)")
        knowledge = Knowledge(
            kn.str("set", variant), kn.str("user"), kn.str("userIds"), kn.str("item"), kn.str("itemIds")
        )
    t = Fields(raw.get("train") or {}, "train")
    d = TrainParams()
    train = TrainParams(
        epochs=t.int("epochs", d.epochs, minimum=1),
        patience=t.int("patience", d.patience, minimum=1),
        batch_size=t.int("batchSize", d.batch_size, minimum=1),
        learning_rate=t.float("learningRate", d.learning_rate, lo=0.0),
        weight_decay=t.float("weightDecay", d.weight_decay, lo=0.0),
        embedding_dim=t.int("embeddingDim", d.embedding_dim, minimum=1),
        mlp=tuple(t.ints("mlp", list(d.mlp))),
        connector=tuple(t.ints("connector", list(d.connector))),
        adaptor=t.str("adaptor", d.adaptor, choices=("mlp", "hybrid-expert")),
        dropout=t.float("dropout", d.dropout, lo=0.0, hi=0.9),
        validation_fraction=t.float("validationFraction", d.validation_fraction, lo=0.0, hi=0.9),
        eval_batch_size=t.int("evalBatchSize", d.eval_batch_size, minimum=1),
        knowledge_norm=t.str("knowledgeNorm", d.knowledge_norm, choices=KNOWLEDGE_NORMS),
        knowledge_cross=t.bool("knowledgeCross", d.knowledge_cross),
        knowledge_cutoff=t.float("knowledgeCutoff", d.knowledge_cutoff, lo=0.0, hi=0.95),
        knowledge_cutoff_mode=t.str("knowledgeCutoffMode", d.knowledge_cutoff_mode, choices=("mask", "drop")),
        knowledge_noise=t.float("knowledgeNoise", d.knowledge_noise, lo=0.0, hi=10.0),
        monitor=t.str("monitor", d.monitor, choices=("auc", "logloss")),
    )
    dbg = Fields(raw.get("debug") or {}, "debug")
    return CtrJob(
        model=model,
        features=f.str("features", "paper", choices=("paper", "full")),
        variant=variant,
        seed=f.int("seed", 1),
        data_files=files,
        data_dir=directory,
        knowledge=knowledge,
        train=train,
        device=f.str("device", "auto", choices=("auto", "cpu", "cuda")),
        threads=f.int("threads", 0, minimum=0),
        work_dir=f.str("workDir"),
        out_dir=f.str("outDir"),
        progress_every=f.int("progressEverySteps", 50, minimum=1),
        export=f.bool("export", True),
        die_with_parent=f.bool("dieWithParent", False),
        step_delay_ms=dbg.int("stepDelayMs", 0, minimum=0),
        max_train_samples=dbg.int("maxTrainSamples", 0, minimum=0),
    )
