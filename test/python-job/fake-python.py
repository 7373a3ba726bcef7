#!/usr/bin/env python3
"""Stands in for the trainer venv's python in the runner's tests: `fake-python.py -m trainer.<job>
--spec spec.json` behaves like a trainer job (work-dir lock and pid file, progress lines with its pid,
SIGTERM stops it after a last line) as the spec's `fake` block says, in milliseconds, without torch."""
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
emit("start", startStep=0, totalSteps=fake["steps"])
for step in range(1, fake["steps"] + 1):
    time.sleep(fake.get("stepMs", 0) / 1000)
    emit("step", step=step, totalSteps=fake["steps"], loss=1.0 / step)
    if step == fake.get("checkpointAt"):
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
