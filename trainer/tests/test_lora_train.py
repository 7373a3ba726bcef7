"""The LoRA trainer for real on a tiny random model (CPU, no downloads): adapter files, loss, reload,
kill-and-resume, graceful stop, and every failure path's exit code and event."""

import contextlib
import fcntl
import io
import json
import os
import signal

import pytest
import torch

from trainer.lora import train as lora_train
from trainer.lora.testing import events_of, make_spec, sft_records, start_trainer, write_jsonl
from trainer.lora.tiny import build_tiny_model

LINEAR = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    model = build_tiny_model(str(root / "tiny"), arch="qwen2", seed=0, vocab_size=512)["path"]
    data = write_jsonl(root / "sft.jsonl", sft_records(24))
    return {"root": root, "model": model, "data": data}


@contextlib.contextmanager
def own_signal_handlers():
    """main() installs SIGTERM/SIGINT handlers; give pytest its own back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def run_in_process(spec, capsys):
    with own_signal_handlers():
        code = lora_train.main(["--spec", str(spec)])
    return code, events_of(capsys.readouterr().out)


class SignalOnFirstStep(io.StringIO):
    """stdout that sends this process SIGTERM when the trainer reports its first step."""

    sent = False

    def write(self, s):
        if not self.sent and '"event":"step"' in s:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)
        return super().write(s)


@pytest.fixture(scope="module")
def trained(env):
    """One complete run, shared by the assertions below. In-process: a process start costs ~10 s of
    imports on the shared CI cores; the process paths (kill, SIGTERM) have their own tests."""
    spec = make_spec(env["root"], env["model"], env["data"], work="full")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), own_signal_handlers():
        code = lora_train.main(["--spec", str(spec)])
    return {"code": code, "events": events_of(out.getvalue()), "work": env["root"] / "full", "spec": spec}


def test_training_finishes_and_writes_the_adapter_atomically(trained):
    assert trained["code"] == 0
    done = trained["events"][-1]
    assert done["event"] == "done" and done["steps"] == 18  # ceil(24/4) * 3 epochs
    adapter = trained["work"] / "adapter"
    assert done["adapterDir"] == str(adapter)
    assert {"adapter_config.json", "adapter_model.safetensors", "r4ec-adapter.json"} <= {p.name for p in adapter.iterdir()}
    assert not list(trained["work"].glob(".adapter-*")), "no temp adapter directory left behind"
    assert done["tokensPerSecond"] > 0 and done["tokens"] > done["supervisedTokens"] > 0


def test_adapter_config_carries_the_configured_lora(trained):
    cfg = json.loads((trained["work"] / "adapter" / "adapter_config.json").read_text())
    assert (cfg["r"], cfg["lora_alpha"], cfg["lora_dropout"]) == (8, 16, 0.05)
    assert set(cfg["target_modules"]) == LINEAR  # all linear layers, not the output head
    assert cfg["task_type"] == "CAUSAL_LM"


def test_loss_falls(trained):
    losses = [e["loss"] for e in trained["events"] if e["event"] == "step"]
    assert len(losses) == 18
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.2, losses


def test_reloaded_adapter_changes_the_logits(env, trained):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[5, 17, 42, 99, 123, 7, 64, 200]])
    base = AutoModelForCausalLM.from_pretrained(env["model"]).eval()
    with torch.no_grad():
        before = base(input_ids=ids).logits
    tuned = PeftModel.from_pretrained(base, str(trained["work"] / "adapter")).eval()
    with torch.no_grad():
        after = tuned(input_ids=ids).logits
        assert not torch.allclose(before, after, atol=1e-4), "LoRA B starts at zero: unchanged logits = untrained adapter"
        with tuned.disable_adapter():
            assert torch.allclose(before, tuned(input_ids=ids).logits, atol=1e-6)


def test_killed_trainer_resumes_from_its_checkpoint_to_the_same_adapter(env, trained, capsys):
    from safetensors.torch import load_file

    spec = make_spec(env["root"], env["model"], env["data"], work="killed")
    proc = start_trainer(spec, {"R4EC_LORA_FAULT": "delay=0.3"})
    seen = []
    for line in proc.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] == "checkpoint":
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    # How a retried activity finds the trainer to re-attach to: its pid file and its pid on every line.
    assert json.loads((env["root"] / "killed" / "trainer.pid").read_text())["pid"] == proc.pid
    assert {e["pid"] for e in seen} == {proc.pid}
    ckpt_step = seen[-1]["step"]
    assert ckpt_step == 4 and proc.returncode == -signal.SIGKILL
    assert not (env["root"] / "killed" / "adapter").exists()

    code, events = run_in_process(spec, capsys)
    assert code == 0, events[-1]
    start = events[0]
    assert start["event"] == "start" and start["startStep"] == ckpt_step and start["resumedFrom"].endswith("step-00000004")
    assert [e["step"] for e in events if e["event"] == "step"] == list(range(ckpt_step + 1, 19))
    # Optimizer, scheduler and RNG state were restored: the result is the uninterrupted run's.
    a = load_file(str(env["root"] / "killed" / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(trained["work"] / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_sigterm_stops_with_a_checkpoint_and_a_rerun_finishes(env, capsys):
    spec = make_spec(env["root"], env["model"], env["data"], work="stopped", checkpointEvery=100)
    out = SignalOnFirstStep()
    with contextlib.redirect_stdout(out), own_signal_handlers():
        code = lora_train.main(["--spec", str(spec)])
    stopped = events_of(out.getvalue())[-1]
    assert code == 143 and stopped["event"] == "stopped"
    assert stopped["step"] >= 1 and (env["root"] / "stopped" / "checkpoints" / f"step-{stopped['step']:08d}").is_dir()
    code, events = run_in_process(spec, capsys)
    assert code == 0 and events[0]["startStep"] == stopped["step"] and events[-1]["event"] == "done"


def test_a_finished_job_is_not_trained_again(trained, capsys):
    code, events = run_in_process(trained["spec"], capsys)
    assert code == 0 and [e["event"] for e in events] == ["done"] and events[0]["reused"] is True


def test_second_trainer_on_the_same_job_is_refused(env, capsys):
    spec = make_spec(env["root"], env["model"], env["data"], work="busy")
    (env["root"] / "busy").mkdir()
    # What a running trainer holds (released by the kernel when it dies, so a crash never leaves it stuck).
    with open(env["root"] / "busy" / "trainer.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, events = run_in_process(spec, capsys)
    assert code == 75 and events[-1]["type"] == "Busy" and events[-1]["nonRetryable"] is False
    assert not (env["root"] / "busy" / "checkpoints").exists()


def test_bad_data_and_missing_base_model_exit_2_and_write_nothing(env, capsys, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, events = run_in_process(make_spec(tmp_path, env["model"], empty, work="empty"), capsys)
    assert code == 2 and events[-1]["type"] == "DataError" and "no SFT records" in events[-1]["message"]
    assert events[-1]["nonRetryable"] is True
    code, events = run_in_process(make_spec(tmp_path, str(tmp_path / "no-model"), env["data"], work="nomodel"), capsys)
    assert code == 2 and events[-1]["type"] == "BaseModelError" and "no-model" in events[-1]["message"]
    assert not (tmp_path / "empty" / "adapter").exists() and not (tmp_path / "nomodel" / "adapter").exists()


def test_out_of_memory_and_crashes_are_reported(env, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("R4EC_LORA_FAULT", "oom@2")
    code, events = run_in_process(make_spec(tmp_path, env["model"], env["data"], work="oom"), capsys)
    assert code == 2 and events[-1]["type"] == "OutOfMemory" and "microBatchSize" in events[-1]["message"]
    monkeypatch.setenv("R4EC_LORA_FAULT", "crash@6")
    code, events = run_in_process(make_spec(tmp_path, env["model"], env["data"], work="crash"), capsys)
    assert code == 1 and events[-1]["type"] == "RuntimeError" and events[-1]["nonRetryable"] is False
    assert (tmp_path / "crash" / "checkpoints" / "step-00000004").is_dir(), "the checkpoint before the crash is kept"


def test_micro_batches_give_the_same_loss_as_one_batch(env, capsys, tmp_path):
    _, whole = run_in_process(make_spec(tmp_path, env["model"], env["data"], work="mb1", epochs=0.2), capsys)
    _, split = run_in_process(make_spec(tmp_path, env["model"], env["data"], work="mb2", epochs=0.2, microBatchSize=1), capsys)
    loss = lambda evs: [e["loss"] for e in evs if e["event"] == "step"]  # noqa: E731
    assert len(loss(whole)) == len(loss(split)) == 2
    # LoRA B starts at zero, so dropout cannot act on step 1: the token-weighted losses must agree.
    assert loss(whole)[0] == pytest.approx(loss(split)[0], abs=1e-5)



def test_cpu_token_budget_micro_batches_give_the_same_loss(env, capsys, tmp_path, monkeypatch):
    """microBatchSize unset on the CPU: forward passes of at most MICRO_BATCH_TOKENS padded tokens
    (forced to one example a pass here), with the loss of the whole batch in one pass."""
    from trainer.lora import recipe

    _, whole = run_in_process(make_spec(tmp_path, env["model"], env["data"], work="tb1", epochs=0.2, microBatchSize=4, device="cpu"), capsys)
    passes: list[int] = []
    orig = recipe.LoraRecipe._micro_batches
    monkeypatch.setattr(recipe, "MICRO_BATCH_TOKENS", 1)
    monkeypatch.setattr(recipe.LoraRecipe, "_micro_batches", lambda self, b: passes.append(len(orig(self, b))) or orig(self, b))
    _, auto = run_in_process(make_spec(tmp_path, env["model"], env["data"], work="tb2", epochs=0.2, device="cpu"), capsys)
    loss = lambda evs: [e["loss"] for e in evs if e["event"] == "step"]  # noqa: E731
    assert passes and all(n == 4 for n in passes), f"one example per pass: {passes}"
    assert loss(whole)[0] == pytest.approx(loss(auto)[0], abs=1e-5)
