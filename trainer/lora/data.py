"""SFT data: chat JSONL in, token ids + labels out, loss only on the final assistant turn.

Record format (one per line; what the construct stage writes):
    {"messages": [{"role": "system", "content": ...}, {"role": "user", ...}, {"role": "assistant", ...}]}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ..common.errors import DataError as _JobDataError

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")
MAX_REPORTED_ERRORS = 5

# The tiny model's template; used only when a base model's tokenizer ships none.
CHATML_FALLBACK = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class DataError(_JobDataError, ValueError):
    """Bad training data: never worth a retry."""


def _record_problem(rec: object) -> str | None:
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    msgs = rec.get("messages")
    if not isinstance(msgs, list) or len(msgs) < 2:
        return 'field "messages": expected an array of at least 2 messages (user, assistant)'
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            return f"messages[{i}]: expected an object with role and content"
        if m.get("role") not in ROLES:
            return f'messages[{i}].role: expected one of {"/".join(ROLES)}, got {json.dumps(m.get("role"))}'
        if not isinstance(m.get("content"), str) or not m["content"].strip():
            return f"messages[{i}].content: expected a non-empty string"
        if m["role"] == "system" and i != 0:
            return f"messages[{i}]: a system message may only come first"
    if msgs[-1]["role"] != "assistant":
        return f'messages[{len(msgs) - 1}].role: the last message must be the assistant\'s (the SFT target), got "{msgs[-1]["role"]}"'
    return None


def load_sft_jsonl(path: str) -> list[list[dict]]:
    """All records of a chat JSONL file; a DataError names file, line and field of every bad line (first few)."""
    records: list[list[dict]] = []
    errors: list[str] = []
    bad = 0
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: dataset file not found") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                problem = f"not valid JSON ({e.msg} at column {e.colno})"
            else:
                problem = _record_problem(rec)
            if problem:
                bad += 1
                if len(errors) < MAX_REPORTED_ERRORS:
                    errors.append(f"{path}:{lineno}: {problem}")
                continue
            records.append([{"role": m["role"], "content": m["content"]} for m in rec["messages"]])
    if bad:
        more = f" (and {bad - len(errors)} more bad lines)" if bad > len(errors) else ""
        raise DataError("malformed SFT records:\n" + "\n".join(errors) + more)
    if not records:
        raise DataError(f'{path}: no SFT records (expected JSON lines {{"messages": [...]}})')
    return records


def truncation_lengths(source_len: int, target_len: int, cutoff: int) -> tuple[int, int]:
    """How many prompt and target tokens to keep under `cutoff` (LLaMA-Factory's rule, so long prompts
    do not silently eat the whole target): a short side is kept whole, otherwise split proportionally."""
    if source_len + target_len <= cutoff:
        return source_len, target_len
    if target_len * 2 < cutoff:
        max_target = target_len
    elif source_len * 2 < cutoff:
        max_target = cutoff - source_len
    else:
        max_target = int(cutoff * (target_len / (source_len + target_len)))
    new_target = min(max_target, target_len)
    new_source = min(max(cutoff - new_target, 0), source_len)
    return new_source, new_target


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    truncated: bool


def ensure_chat_template(tokenizer) -> str:
    """'model' when the tokenizer has its own template, else installs ChatML and says so."""
    if getattr(tokenizer, "chat_template", None):
        return "model"
    tokenizer.chat_template = CHATML_FALLBACK
    return "chatml-fallback"


def _render(tokenizer, messages: list[dict], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def encode_record(tokenizer, messages: list[dict], cutoff: int) -> Example:
    """Prompt = every turn before the last assistant turn plus the assistant header; target = the
    assistant's text and its end-of-turn marker. Labels are IGNORE_INDEX on the prompt."""
    prompt_text = _render(tokenizer, messages[:-1], True)
    full_text = _render(tokenizer, messages, False)
    if not full_text.startswith(prompt_text):
        raise DataError(
            "the chat template does not render the conversation as prompt + answer "
            "(the text before the assistant turn changes when the turn is added); use a model whose template does"
        )
    # Tokenized separately so no BPE merge spans the prompt/target boundary.
    source = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    target = tokenizer(full_text[len(prompt_text) :], add_special_tokens=False)["input_ids"]
    s_len, t_len = truncation_lengths(len(source), len(target), cutoff)
    truncated = (s_len, t_len) != (len(source), len(target))
    source, target = source[:s_len], target[:t_len]
    return Example(source + target, [IGNORE_INDEX] * len(source) + list(target), truncated)


def collate(examples: list[Example], pad_id: int):
    """Right-padded tensors; padding is masked out of attention and labels."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    return max(1, math.ceil(n_examples / batch_size))
