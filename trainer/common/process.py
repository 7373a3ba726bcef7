"""Process hygiene for trainer jobs started by a worker.

- One writer per work directory: an exclusive lock on `<workDir>/trainer.lock` (released by the
  kernel when the process dies, so a crash never leaves it stuck). Whoever holds it writes
  `<workDir>/trainer.pid` (pid, start time, spec path): a retried activity whose worker died finds
  the trainer that still runs the job there and follows it instead of starting another. A second
  process for the same job either waits for the first to finish and resumes from its checkpoints
  (`wait=True`), or reports that the job is busy (`wait=False`).
- Die with the parent: on Linux a job can ask the kernel for SIGKILL when the process that started
  it exits, so a killed worker leaves no orphan training on (its retry resumes from the checkpoint).
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO, Callable

PR_SET_PDEATHSIG = 1
LOCK_FILE = "trainer.lock"
PID_FILE = "trainer.pid"


def die_with_parent() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except OSError:
        return False
    # The parent may have died before prctl took effect: then we were re-parented already.
    return os.getppid() != 1


class WorkDirLock:
    def __init__(self, work_dir: str | Path, spec_path: str | Path | None = None):
        self.dir = Path(work_dir)
        self.path = self.dir / LOCK_FILE
        self.spec_path = str(Path(spec_path).resolve()) if spec_path else None
        self._f: IO[str] | None = None

    def acquire(self, wait: bool = True, on_wait: Callable[[], None] | None = None, poll: float = 1.0) -> bool:
        """True once held; False at once when another process holds it and `wait` is False."""
        self.dir.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        waited = False
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    f.close()
                    return False
                if not waited and on_wait:
                    on_wait()
                waited = True
                time.sleep(poll)
        self._f = f
        # Written under the lock: whoever reads it while the lock is held sees the running trainer.
        tmp = self.dir / f".{PID_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps({"pid": os.getpid(), "startedAt": time.time(), "spec": self.spec_path}))
        os.replace(tmp, self.dir / PID_FILE)
        return True

    def release(self) -> None:
        if self._f is not None:
            fcntl.flock(self._f.fileno(), fcntl.LOCK_UN)
            self._f.close()
            self._f = None
