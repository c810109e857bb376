"""One run at a time per output folder: an advisory lock that the kernel drops when the holder dies, even by
kill -9, so a crashed run never leaves a stale lock behind."""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from pipeline.errors import RunLockedError

LOCK_NAME = ".lock"


def _holder_text(handle) -> str:
    handle.seek(0)
    try:
        holder = json.loads(handle.read() or "{}")
    except json.JSONDecodeError:
        return "another run"
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder.get("started", 0)))
    writing = f", writing {holder['writing']}" if holder.get("writing") else ""
    return f"run pid {holder.get('pid', '?')} on {holder.get('host', '?')} since {started}{writing}"


@contextmanager
def output_lock(folder: Path) -> Iterator[Callable[[Path], None]]:
    """Hold `<folder>/.lock` for the duration; raise RunLockedError (exit 75) if another run holds it.
    Yields a function that records which folder the run is writing, for the message a second run gets."""
    folder.mkdir(parents=True, exist_ok=True)
    # "a+" neither truncates a holder's record nor fails when the file is new
    with open(folder / LOCK_NAME, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(f"{folder} is locked by {_holder_text(handle)}; two runs must not write the same "
                                 "output. Wait for it to finish (or stop it) and run again.") from None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "writing": ""}

        def announce(writing: Path) -> None:
            record["writing"] = str(writing)
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(record))
            handle.flush()

        announce(folder)
        try:
            yield announce
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
