"""The LoRA job spec (JSON, written by the finetune activity; camelCase like the TypeScript side)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..common.errors import SpecError as _JobSpecError


class SpecError(_JobSpecError, ValueError):
    """A spec that cannot run: never worth a retry."""


@dataclass
class LoraSpec:
    r: int = 8
    alpha: int = 16
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


_LORA_FIELDS = {"r": "r", "alpha": "alpha", "dropout": "dropout", "targetModules": "target_modules"}
_TRAIN_FIELDS = {
    "epochs": "epochs",
    "learningRate": "learning_rate",
    "scheduler": "scheduler",
    "warmupRatio": "warmup_ratio",
    "batchSize": "batch_size",
    "microBatchSize": "micro_batch_size",
    "cutoffLen": "cutoff_len",
    "checkpointEvery": "checkpoint_every",
    "keepCheckpoints": "keep_checkpoints",
    "seed": "seed",
    "device": "device",
    "gradientCheckpointing": "gradient_checkpointing",
    "maxGradNorm": "max_grad_norm",
    "threads": "threads",
}


def _section(raw: object, name: str, fields: dict[str, str], cls):
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise SpecError(f'spec field "{name}": expected an object')
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise SpecError(f'spec field "{name}": unknown keys {unknown} (known: {sorted(fields)})')
    return cls(**{fields[k]: v for k, v in raw.items() if v is not None})


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise SpecError(msg)


def parse_spec(raw: object) -> JobSpec:
    if not isinstance(raw, dict):
        raise SpecError("spec: expected a JSON object")
    for k in ("jobKey", "baseModel", "dataset", "workDir"):
        _check(isinstance(raw.get(k), str) and raw[k] != "", f'spec field "{k}": expected a non-empty string')
    unknown = sorted(set(raw) - {"jobKey", "baseModel", "dataset", "workDir", "lora", "train"})
    _check(not unknown, f"spec: unknown keys {unknown}")
    lora = _section(raw.get("lora"), "lora", _LORA_FIELDS, LoraSpec)
    train = _section(raw.get("train"), "train", _TRAIN_FIELDS, TrainSpec)
    _check(isinstance(lora.r, int) and lora.r > 0, "spec lora.r: expected a positive integer")
    _check(isinstance(lora.alpha, (int, float)) and lora.alpha > 0, "spec lora.alpha: expected a positive number")
    _check(0 <= lora.dropout < 1, "spec lora.dropout: expected 0 <= dropout < 1")
    tm = lora.target_modules
    _check(
        tm == "all-linear" or (isinstance(tm, list) and tm and all(isinstance(x, str) and x for x in tm)),
        'spec lora.targetModules: expected "all-linear" or a non-empty list of module names',
    )
    _check(train.epochs > 0, "spec train.epochs: expected > 0")
    _check(train.learning_rate > 0, "spec train.learningRate: expected > 0")
    _check(train.scheduler in ("cosine", "linear", "constant"), "spec train.scheduler: expected cosine|linear|constant")
    _check(0 <= train.warmup_ratio < 1, "spec train.warmupRatio: expected 0 <= ratio < 1")
    for name in ("batch_size", "cutoff_len", "checkpoint_every", "keep_checkpoints"):
        v = getattr(train, name)
        _check(isinstance(v, int) and v > 0, f"spec train.{name}: expected a positive integer")
    if train.micro_batch_size is None:
        train.micro_batch_size = train.batch_size
    _check(
        isinstance(train.micro_batch_size, int) and 0 < train.micro_batch_size <= train.batch_size,
        "spec train.microBatchSize: expected a positive integer <= batchSize",
    )
    _check(train.device in ("auto", "cpu", "cuda"), "spec train.device: expected auto|cpu|cuda")
    _check(train.threads is None or (isinstance(train.threads, int) and train.threads > 0), "spec train.threads: expected a positive integer")
    return JobSpec(raw["jobKey"], raw["baseModel"], raw["dataset"], raw["workDir"], lora, train)


def load_spec(path: str) -> JobSpec:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except FileNotFoundError:
        raise SpecError(f"{path}: spec file not found") from None
    except json.JSONDecodeError as e:
        raise SpecError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    return parse_spec(raw)
