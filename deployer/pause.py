"""A test hook: make a real deployer process stop at a named phase so a test can SIGKILL it there.

`DEPLOYER_TEST_PAUSE_AT=<phase>` makes the process announce `DEPLOYER_PAUSED <phase>` on stderr (and
write the phase to the file `DEPLOYER_TEST_PAUSE_SIGNAL`, when set) and sleep, holding every thread that
reaches the point, until it is killed. Phases of a promotion, in order:

    locked, artifacts-upload:N, artifacts, data-upload:N, data, runtime-config, dags-archive-copy:N,
    dags-archived, dags-upload:N, dags,
    archive-copy:N, archive-copied, before-state, after-state, after-approval, archive-remove:N, archived,
    before-unlock

`<phase>-upload:N` pauses after N uploads of that phase completed (with parallel uploads, other workers
finish the upload they are in). Unset, every call is a dictionary lookup and nothing more.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

PAUSE_ENV = "DEPLOYER_TEST_PAUSE_AT"
SIGNAL_ENV = "DEPLOYER_TEST_PAUSE_SIGNAL"

_counts: dict[str, int] = {}
_lock = threading.Lock()


def _hold(phase: str) -> None:
    with _lock:
        sys.stderr.write(f"DEPLOYER_PAUSED {phase}\n")
        sys.stderr.flush()
        signal_file = os.environ.get(SIGNAL_ENV)
        if signal_file:
            Path(signal_file).write_text(phase)
    while True:  # until SIGKILL
        time.sleep(3600)


def point(phase: str) -> None:
    """Pause here when `DEPLOYER_TEST_PAUSE_AT` names `phase`."""
    if os.environ.get(PAUSE_ENV) == phase:
        _hold(phase)


def counted(phase: str) -> None:
    """Count one completed step of `phase`; pause when `DEPLOYER_TEST_PAUSE_AT` is `<phase>:<N>`, N done."""
    wanted = os.environ.get(PAUSE_ENV)
    if not wanted or not wanted.startswith(phase + ":"):
        return
    with _lock:
        _counts[phase] = _counts.get(phase, 0) + 1
        done = _counts[phase]
    try:
        target = int(wanted.split(":", 1)[1])
    except ValueError:
        return
    if done >= target:
        _hold(wanted)
