"""A tiny random-weight causal LM in Hugging Face format, built offline.

No model weights can be downloaded on the development machines, so tests and the offline quick start
train LoRA on this: a 2-layer Qwen2 (or Llama) with a byte-level BPE tokenizer trained on the fly and
a ChatML chat template. It learns nothing useful; it exercises the exact code path a real base model
takes (peft, chat template, label masking, checkpoints, adapter files).

Deterministic: the same (arch, seed, corpus) gives the same files, so a directory built once is reused
(`r4ec-tiny.json` records the recipe).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
RECIPE_FILE = "r4ec-tiny.json"
RECIPE_VERSION = 1

# Enough varied English that BPE learns real merges; the SFT data itself can be added (corpus_files).
_BUILTIN_CORPUS = """
You are an expert recommender engine. Your task is to infer the user preference from the history.
The user's historical interactions are given as [TITLE, RATING]; a rating greater than 3 is a like.
The user preference is reasonable. The user preference is not reasonable.
<User Preference> <Final Verdict> user will like the target movie. user will not like the target movie.
<Final Judgement> <Reflection> <Refined User Preference> <Movie Knowledge> <Book Knowledge>
The user enjoys dramas with strong characters, thoughtful pacing and emotional depth, and tends to
dislike broad comedies and formulaic action. Science fiction with ideas, classic westerns, film noir,
documentaries, animation for families, romance, thrillers, horror, musicals and war stories all appear.
Heat (1995), Toy Story (1995), Jumanji (1995), Casablanca (1942), The Matrix (1999), Fargo (1996).
The book is a historical novel about a family across three generations; readers praise its prose.
A reflection points out that the previous preference ignored the low ratings of recent romances.
""".strip()


def _recipe(arch: str, seed: int, vocab_size: int, corpus_files: list[str]) -> dict:
    digest = hashlib.sha256()
    for f in sorted(corpus_files):
        digest.update(Path(f).read_bytes())
    return {
        "version": RECIPE_VERSION,
        "arch": arch,
        "seed": seed,
        "vocabSize": vocab_size,
        "corpusSha256": digest.hexdigest(),
    }


def _corpus_lines(corpus_files: list[str]):
    yield from _BUILTIN_CORPUS.splitlines()
    for f in corpus_files:
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                # JSONL records: train on the message texts, not the JSON punctuation.
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    yield line
                    continue
                for m in rec.get("messages", []) if isinstance(rec, dict) else []:
                    if isinstance(m, dict) and isinstance(m.get("content"), str):
                        yield m["content"]


def build_tokenizer(vocab_size: int = 1024, corpus_files: list[str] | None = None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus_lines(corpus_files or []), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_model(
    out_dir: str,
    arch: str = "qwen2",
    seed: int = 0,
    vocab_size: int = 1024,
    corpus_files: list[str] | None = None,
    hidden_size: int = 64,
    layers: int = 2,
) -> dict:
    """Writes tokenizer + config + weights to out_dir (atomically); reuses an identical earlier build."""
    import torch

    corpus_files = list(corpus_files or [])
    recipe = _recipe(arch, seed, vocab_size, corpus_files) | {"hiddenSize": hidden_size, "layers": layers}
    out = Path(out_dir)
    marker = out / RECIPE_FILE
    if marker.is_file():
        try:
            if json.loads(marker.read_text()) == recipe:
                return {"path": str(out), "reused": True, **recipe}
        except json.JSONDecodeError:
            pass

    tokenizer = build_tokenizer(vocab_size, corpus_files)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    if arch == "qwen2":
        from transformers import Qwen2Config, Qwen2ForCausalLM

        config, cls = Qwen2Config(**common), Qwen2ForCausalLM
    elif arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        config, cls = LlamaConfig(**common), LlamaForCausalLM
    else:
        raise ValueError(f'unknown tiny model arch "{arch}": expected "qwen2" or "llama"')

    torch.manual_seed(seed)
    model = cls(config)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    os.chmod(tmp, 0o755)  # a serving process under another user reads it
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / RECIPE_FILE).write_text(json.dumps(recipe))
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"path": str(out), "reused": False, "parameters": sum(p.numel() for p in model.parameters()), **recipe}
