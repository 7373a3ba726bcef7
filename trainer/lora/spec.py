"""The LoRA job spec: what `python -m trainer.lora.train --spec spec.json` reads (JSON written by the
finetune stage, camelCase like the TypeScript side). Every field is checked by trainer.common.spec,
so a bad spec names its field and what was expected.

{
  "jobKey": "...", "baseModel": DIR, "dataset": PATH (chat JSONL), "workDir": DIR,
  "lora": {"r", "alpha", "dropout", "targetModules": "all-linear" | [names]},
  "train": {"epochs", "learningRate", "scheduler": "cosine|linear|constant", "warmupRatio", "batchSize",
            "microBatchSize", "cutoffLen", "checkpointEvery", "keepCheckpoints", "seed",
            "device": "auto|cpu|cuda", "gradientCheckpointing", "maxGradNorm", "threads"}
}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..common.errors import SpecError
from ..common.spec import Fields, load_spec as _load_json

__all__ = ["JobSpec", "LoraSpec", "SpecError", "TrainSpec", "load_spec", "parse_spec"]


@dataclass
class LoraSpec:
    r: int = 8
    alpha: int | float = 16
    dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"


@dataclass
class TrainSpec:
    epochs: float = 3.0
    learning_rate: float = 1e-4
    scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    batch_size: int = 16
    micro_batch_size: int | None = None
    cutoff_len: int = 2048
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    seed: int = 0
    device: str = "auto"
    gradient_checkpointing: bool = False
    max_grad_norm: float = 1.0
    # CPU threads for torch; None = torch's default (all cores). On a shared machine 1 is often
    # several times faster than 2 (OpenMP threads spin while the other core is busy).
    threads: int | None = None


@dataclass
class JobSpec:
    job_key: str
    base_model: str
    dataset: str
    work_dir: str
    lora: LoraSpec = field(default_factory=LoraSpec)
    train: TrainSpec = field(default_factory=TrainSpec)


_TOP = ("jobKey", "baseModel", "dataset", "workDir", "lora", "train")
_LORA = ("r", "alpha", "dropout", "targetModules")
_TRAIN = (
    "epochs", "learningRate", "scheduler", "warmupRatio", "batchSize", "microBatchSize", "cutoffLen",
    "checkpointEvery", "keepCheckpoints", "seed", "device", "gradientCheckpointing", "maxGradNorm", "threads",
)


def _lora(f: Fields) -> LoraSpec:
    d = LoraSpec()
    target = f.obj.get("targetModules", d.target_modules)
    if not (target == "all-linear" or (isinstance(target, list) and target and all(isinstance(x, str) and x for x in target))):
        raise f.fail("targetModules", '"all-linear" or a non-empty list of module names')
    return LoraSpec(
        r=f.int("r", d.r, minimum=1),
        alpha=f.number("alpha", d.alpha, gt=0),
        dropout=f.float("dropout", d.dropout, lo=0, lt=1),
        target_modules=target,
    )


def _train(f: Fields) -> TrainSpec:
    d = TrainSpec()
    batch = f.int("batchSize", d.batch_size, minimum=1)
    micro = f.int_or_none("microBatchSize", minimum=1)
    if micro is not None and micro > batch:
        raise f.fail("microBatchSize", f"a positive integer <= batchSize ({batch})")
    return TrainSpec(
        epochs=f.number("epochs", d.epochs, gt=0),
        learning_rate=f.float("learningRate", d.learning_rate, gt=0),
        scheduler=f.str("scheduler", d.scheduler, choices=("cosine", "linear", "constant")),
        warmup_ratio=f.float("warmupRatio", d.warmup_ratio, lo=0, lt=1),
        batch_size=batch,
        micro_batch_size=micro,
        cutoff_len=f.int("cutoffLen", d.cutoff_len, minimum=1),
        checkpoint_every=f.int("checkpointEvery", d.checkpoint_every, minimum=1),
        keep_checkpoints=f.int("keepCheckpoints", d.keep_checkpoints, minimum=1),
        seed=f.int("seed", d.seed),
        device=f.str("device", d.device, choices=("auto", "cpu", "cuda")),
        gradient_checkpointing=f.bool("gradientCheckpointing", d.gradient_checkpointing),
        max_grad_norm=f.float("maxGradNorm", d.max_grad_norm, lo=0),
        threads=f.int_or_none("threads", minimum=1),
    )


def parse_spec(raw: Any) -> JobSpec:
    if not isinstance(raw, dict):
        raise SpecError("spec: expected a JSON object")
    f = Fields(raw, "").only(_TOP)
    lora = Fields({} if raw.get("lora") is None else raw["lora"], "lora").only(_LORA)
    train = Fields({} if raw.get("train") is None else raw["train"], "train").only(_TRAIN)
    return JobSpec(f.str("jobKey"), f.str("baseModel"), f.str("dataset"), f.str("workDir"), _lora(lora), _train(train))


def load_spec(path: str) -> JobSpec:
    return parse_spec(_load_json(path))
