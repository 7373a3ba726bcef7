#!/usr/bin/env python3
"""Stands in for the trainer venv's python in the runner's tests: `fake-python.py -m trainer.<job>
--spec spec.json` behaves like a trainer job (work-dir lock and pid file, progress lines with its pid,
SIGTERM stops it after a last line) as the spec's `fake` block says, in milliseconds, without torch.
With `fake.checkpoints` ("file" or "dir") it writes real numbered checkpoints into `fake.ckptDir` as
trainer/common/checkpoint.py lays them out (the newest two kept) and resumes from the newest."""
import fcntl
import json
import os
import signal
import sys
import time

args = sys.argv[1:]
spec_path = args[args.index("--spec") + 1]
spec = json.load(open(spec_path))
fake = spec["fake"]
work = spec["workDir"]
pid = os.getpid()


def emit(event, **fields):
    sys.stdout.write(json.dumps({"event": event, "pid": pid, **fields}) + "\n")
    sys.stdout.flush()


lock = open(os.path.join(work, "trainer.lock"), "a+")
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    emit("error", type="Busy", message="busy", nonRetryable=False)
    sys.exit(75)
if fake.get("pidDelayMs"):
    open(os.path.join(work, "locked"), "w").close()
    time.sleep(fake["pidDelayMs"] / 1000)
with open(os.path.join(work, "trainer.pid"), "w") as f:
    json.dump({"pid": pid, "spec": spec_path}, f)

stop = {"requested": False}
signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("requested", True))
sys.stderr.write(f"fake trainer {pid} starts\n")

layout = fake.get("checkpoints")
ckpt_dir = os.path.join(work, fake.get("ckptDir", ""))
name_of = (lambda n: f"ckpt-epoch-{n:04d}.pt") if layout == "file" else (lambda n: f"step-{n:08d}")


def saved():
    if not layout or not os.path.isdir(ckpt_dir):
        return []
    found = []
    for p in os.listdir(ckpt_dir):
        for n in range(0, 10000):
            if p == name_of(n):
                found.append(n)
                break
    return sorted(found)


def save(n):
    os.makedirs(ckpt_dir, exist_ok=True)
    final = os.path.join(ckpt_dir, name_of(n))
    tmp = os.path.join(ckpt_dir, f".{name_of(n)}.{pid}.tmp")
    body = json.dumps({"step": n, "job": spec.get("jobKey", "fake")})
    if layout == "file":
        open(tmp, "w").write(body)
    else:
        os.makedirs(tmp)
        open(os.path.join(tmp, "state.json"), "w").write(body)
        open(os.path.join(tmp, "weights.bin"), "wb").write(bytes([n % 256]) * 1000)
    os.replace(tmp, final)
    for old in saved()[:-2]:
        p = os.path.join(ckpt_dir, name_of(old))
        if os.path.isdir(p):
            for f in os.listdir(p):
                os.remove(os.path.join(p, f))
            os.rmdir(p)
        else:
            os.remove(p)
    return final


start = 0
if layout and saved():
    newest = os.path.join(ckpt_dir, name_of(saved()[-1]))
    state_file = newest if layout == "file" else os.path.join(newest, "state.json")
    start = json.load(open(state_file))["step"]
    emit("resume", step=start, checkpoint=newest)
emit("start", startStep=start, totalSteps=fake["steps"], device=os.environ.get("CUDA_VISIBLE_DEVICES"))
for step in range(start + 1, fake["steps"] + 1):
    time.sleep(fake.get("stepMs", 0) / 1000)
    emit("step", step=step, totalSteps=fake["steps"], loss=1.0 / step)
    if layout:
        emit("checkpoint", step=step, path=save(step))
    elif step == fake.get("checkpointAt"):
        emit("checkpoint", step=step, path=os.path.join(work, f"ckpt-{step}"))
    if stop["requested"]:
        emit("stopped", step=step, checkpoint=None)
        sys.exit(143)
    if step == fake.get("failAt"):
        sys.stderr.write("Traceback: the fake failure\n")
        emit("error", type=fake["failType"], message=f"failed at step {step}", nonRetryable=fake.get("nonRetryable", False))
        sys.exit(2)
    if step == fake.get("dieAt"):
        os.kill(pid, signal.SIGKILL)
emit("done", steps=fake["steps"], value=42)
