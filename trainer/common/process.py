"""Process hygiene for trainer jobs started by a worker.

- One writer per work directory: an exclusive lock on `<workDir>/.lock`. A second process for
  the same job (a retried activity while an orphan of the crashed worker still runs) waits for the
  first to finish, then resumes from its checkpoints instead of racing it.
- Die with the parent: on Linux the job asks the kernel for SIGKILL when the process that started
  it exits, so a killed worker leaves no orphan training on (its retry resumes from the checkpoint).
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable, IO

PR_SET_PDEATHSIG = 1


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
    def __init__(self, work_dir: str | Path):
        self.path = Path(work_dir) / ".lock"
        self._f: IO[str] | None = None

    def acquire(self, on_wait: Callable[[], None] | None = None, poll: float = 1.0) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        waited = False
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait:
                    on_wait()
                waited = True
                time.sleep(poll)
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._f = f

    def release(self) -> None:
        if self._f is not None:
            fcntl.flock(self._f.fileno(), fcntl.LOCK_UN)
            self._f.close()
            self._f = None
