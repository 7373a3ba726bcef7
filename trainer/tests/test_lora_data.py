"""SFT data handling of the LoRA trainer: validation, label masking, truncation, spec parsing."""

import json

import pytest

from trainer.lora.data import (
    IGNORE_INDEX,
    DataError,
    collate,
    encode_record,
    ensure_chat_template,
    load_sft_jsonl,
    truncation_lengths,
)
from trainer.lora.spec import SpecError, parse_spec
from trainer.lora.testing import sft_records, write_jsonl
from trainer.lora.tiny import build_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(vocab_size=512)


def test_labels_cover_exactly_the_assistant_turn(tokenizer):
    records = [r["messages"] for r in sft_records(3)]
    # Different lengths so padding is exercised.
    records[1][1]["content"] += " They also wrote a long review about pacing and soundtrack."
    batch = collate([encode_record(tokenizer, m, 512) for m in records], tokenizer.pad_token_id)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert ids.shape == labels.shape == mask.shape and ids.shape[0] == 3
    for row, messages in enumerate(records):
        supervised = labels[row] != IGNORE_INDEX
        assert supervised.any()
        # Supervised positions are one contiguous run at the end of the real tokens.
        positions = supervised.nonzero().flatten().tolist()
        assert positions == list(range(positions[0], positions[-1] + 1))
        assert positions[-1] == int(mask[row].sum()) - 1
        # ... and they decode to the assistant's text plus its end-of-turn marker, nothing of the prompt.
        target = tokenizer.decode(labels[row][supervised].tolist())
        assert target == messages[-1]["content"] + "<|im_end|>\n"
        prompt = tokenizer.decode(ids[row][: positions[0]].tolist())
        assert prompt.endswith("<|im_start|>assistant\n")
        assert messages[1]["content"] in prompt and messages[-1]["content"] not in prompt
        # Padding is neither attended nor supervised.
        assert (labels[row][mask[row] == 0] == IGNORE_INDEX).all()
        assert (labels[row][supervised] == ids[row][supervised]).all()


def test_truncation_keeps_both_sides_within_cutoff(tokenizer):
    messages = sft_records(1)[0]["messages"]
    messages[1]["content"] = " ".join(["history"] * 400)
    ex = encode_record(tokenizer, messages, 64)
    assert ex.truncated and len(ex.input_ids) <= 64
    assert any(x != IGNORE_INDEX for x in ex.labels), "a long prompt must not eat the whole target"
    assert truncation_lengths(10, 5, 100) == (10, 5)
    assert truncation_lengths(1000, 10, 100) == (90, 10)
    assert truncation_lengths(10, 1000, 100) == (10, 90)
    s, t = truncation_lengths(600, 400, 100)
    assert s + t == 100 and t == 40


def test_fallback_chat_template_for_a_tokenizer_without_one(tokenizer):
    tokenizer = build_tokenizer(vocab_size=300)
    tokenizer.chat_template = None
    assert ensure_chat_template(tokenizer) == "chatml-fallback"
    assert "<|im_start|>user" in tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)


def test_load_reads_records_and_skips_blank_lines(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", sft_records(4))
    path.write_text(path.read_text() + "\n\n")
    records = load_sft_jsonl(str(path))
    assert len(records) == 4 and records[0][-1]["role"] == "assistant"


@pytest.mark.parametrize(
    "line, expected",
    [
        ("{not json", "not valid JSON"),
        ('{"messages": []}', '"messages"'),
        ('{"messages": [{"role": "user", "content": "q"}, {"role": "bot", "content": "a"}]}', "messages[1].role"),
        ('{"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "a"}]}', "last message"),
        ('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}]}', "messages[1].content"),
        ('{"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]}', "system"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_malformed_lines_name_file_line_and_field(tmp_path, line, expected):
    good = json.dumps(sft_records(1)[0])
    path = tmp_path / "bad.jsonl"
    path.write_text(good + "\n" + line + "\n")
    with pytest.raises(DataError) as e:
        load_sft_jsonl(str(path))
    assert f"{path}:2:" in str(e.value) and expected in str(e.value)


def test_many_bad_lines_are_summarised(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("x\n" * 12)
    with pytest.raises(DataError, match="and 7 more bad lines"):
        load_sft_jsonl(str(path))


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="no SFT records"):
        load_sft_jsonl(str(tmp_path / "empty.jsonl"))
    with pytest.raises(DataError, match="not found"):
        load_sft_jsonl(str(tmp_path / "absent.jsonl"))


def test_spec_defaults_are_the_paper_hyper_parameters():
    spec = parse_spec({"jobKey": "k", "baseModel": "/m", "dataset": "/d", "workDir": "/w"})
    assert (spec.lora.r, spec.lora.alpha, spec.lora.dropout, spec.lora.target_modules) == (8, 16, 0.05, "all-linear")
    t = spec.train
    assert (t.epochs, t.learning_rate, t.scheduler, t.warmup_ratio, t.batch_size, t.cutoff_len) == (3, 1e-4, "cosine", 0.1, 16, 2048)
    assert t.micro_batch_size is None  # auto: the whole batch on a GPU, a token budget on the CPU


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"jobKey": ""}, "jobKey"),
        ({"lora": {"r": 0}}, "lora.r"),
        ({"lora": {"rank": 8}}, "unknown keys"),
        ({"train": {"scheduler": "step"}}, "scheduler"),
        ({"train": {"batchSize": 4, "microBatchSize": 8}}, "microBatchSize"),
        ({"extra": 1}, "unknown keys"),
    ],
)
def test_bad_specs_are_rejected_with_the_field(patch, expected):
    with pytest.raises(SpecError, match=expected.replace(".", r"\.")):
        parse_spec({"jobKey": "k", "baseModel": "/m", "dataset": "/d", "workDir": "/w"} | patch)
