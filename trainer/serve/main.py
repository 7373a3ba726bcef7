"""The engine process of `r4ec serve-model`: JSON lines on stdin (requests), JSON lines on stdout
(answers), so the HTTP side lives in the CLI and this process needs no port of its own.

    python -m trainer.serve.main --base DIR [--threads N] [--max-batch N] [--prefill-budget TOKENS]

First line out: {"event": "ready", "model", "loadSeconds", "context"} or {"event": "error", "message"}.
Then one line per answered op: {"id", "ok": true, ...} or {"id", "ok": false, "error": {"kind", "message"}}.

It dies with its parent: end of stdin (the parent's pipe closes when it exits, even on SIGKILL),
SIGTERM/SIGINT, or the kernel's parent-death signal all stop it within a decode step.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import threading



def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: stdin EOF still ends us


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.serve.main", description="r4ec model engine (stdio)")
    p.add_argument("--base", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-batch", type=int, default=16)
    p.add_argument("--prefill-budget", type=int, default=2048)
    args = p.parse_args(argv)
    _die_with_parent()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Library prints must not corrupt the answer stream: fd 1 goes to stderr, answers to a private copy.
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    lock = threading.Lock()

    def reply(obj: dict) -> None:
        line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        with lock:
            out.write(line + "\n")
            out.flush()

    stop = threading.Event()

    def on_signal(_signum, _frame):
        stop.set()
        os._exit(0)  # nothing to save: answers in flight are lost with the connection anyway

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    from .engine import Engine, RequestError

    try:
        engine = Engine(args.base, args.threads, args.max_batch, args.prefill_budget, reply)
    except RequestError as e:
        reply({"event": "error", "message": str(e)})
        return 2
    except Exception as e:  # an unreadable model directory
        reply({"event": "error", "message": f'cannot load the model at "{args.base}": {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'})
        return 2
    worker = threading.Thread(target=engine.run, args=(stop,), name="engine", daemon=True)
    worker.start()
    name = engine.config.name_or_path
    reply({"event": "ready", "model": name, "loadSeconds": engine.load_seconds, "context": engine.context, "pid": os.getpid()})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            op = json.loads(line)
        except json.JSONDecodeError as e:
            reply({"id": None, "ok": False, "error": {"kind": "bad_request", "message": f"not JSON: {e.msg}"}})
            continue
        engine.submit(op)
    # stdin closed: the parent is gone or done with us.
    stop.set()
    engine.submit({"op": "stop"})
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
