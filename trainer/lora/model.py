"""The base model of a LoRA job: where it runs (device, dtype), loading it from a local Hugging Face
directory, and which of its layers get LoRA."""

from __future__ import annotations

from pathlib import Path

from ..common.errors import JobError
from .spec import JobSpec, SpecError


class BaseModelError(JobError, ValueError):
    """The base model directory is missing or unreadable."""

    kind = "BaseModelError"
    non_retryable = True


def is_oom(err: BaseException) -> bool:
    import torch

    if isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def resolve_device(spec: JobSpec):
    import torch

    if spec.train.device == "cuda" and not torch.cuda.is_available():
        raise SpecError('spec train.device is "cuda" but torch sees no CUDA device')
    use_cuda = spec.train.device in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.device("cuda"), dtype
    return torch.device("cpu"), torch.float32


def load_base(spec: JobSpec, dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(spec.base_model)
    if not (path / "config.json").is_file():
        raise BaseModelError(
            f'base model not found at "{spec.base_model}": expected a local Hugging Face model directory '
            "(config.json, weights, tokenizer files); set finetune.baseModel, or leave it unset for the tiny test model"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    except (OSError, ValueError) as e:
        raise BaseModelError(f'cannot load the base model at "{spec.base_model}": {e}') from e
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def resolve_target_modules(model, target):
    """'all-linear' → the short names of every linear layer but the output head (q_proj, ..., down_proj).
    Short names rather than peft's resolved full paths: serving stacks (vLLM) match adapters by them."""
    import torch
    from transformers.pytorch_utils import Conv1D

    if target != "all-linear":
        return list(target)
    head = model.get_output_embeddings()
    names = {
        name.rsplit(".", 1)[-1]
        for name, mod in model.named_modules()
        if isinstance(mod, (torch.nn.Linear, Conv1D)) and mod is not head and name
    }
    if not names:
        raise BaseModelError("the base model has no linear layers to attach LoRA to")
    return sorted(names)
