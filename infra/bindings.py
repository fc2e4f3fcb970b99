"""The provider bindings, loaded in the background while the app reads its inputs.

Importing `cdktn_provider_google` makes the jsii kernel (Node) load the provider's JavaScript, 1,854
modules and 290 MB, eagerly: about 5 s on a 2-core machine, during which Python only waits on the
kernel's pipe. `start()` runs that import in a background thread, so the app imports pydantic and reads
its environment, domain and lock files in the meantime; `wait()` joins it before a construct is built.

The thread imports `cdktn` (the kernel, with the cdktn and constructs assemblies) before `start()`
returns, then only `cdktn_provider_google`'s package: the two threads never import the same module at
once, and nothing else talks to the kernel until `wait()` has returned. `loading()` tells the entry
point whether the load is still under way, so a bad input file is reported without waiting for it.
Without `start()` (a test, the bench's profile) `wait()` does nothing and the bindings are imported
where they are used, as before.

An entry point that finds a bad input during the load calls `abandon()`: it exits at once with the
given code instead of waiting for Node to finish (jsii's exit handler waits up to 5 s for the kernel).
The kernel's runtime files, which jsii copies into a temporary directory, are kept in a directory of
our own (`tempfile.tempdir` points there while the kernel starts), so they are removed on that path
too; Node itself exits when its pipe closes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import threading

_thread: threading.Thread | None = None
_failure: list[BaseException] = []
_scratch: str | None = None


def _load(kernel_up: threading.Event) -> None:
    try:
        import cdktn  # noqa: F401  (starts the kernel)

        kernel_up.set()
        import cdktn_provider_google  # noqa: F401  (the long wait on the kernel)
    except BaseException as exc:  # re-raised by wait(), in the thread that builds the stacks
        _failure.append(exc)
    finally:
        kernel_up.set()


def start() -> None:
    """Start loading the provider bindings (once per process); returns once the kernel is up."""
    global _thread, _scratch
    if _thread is not None:
        return
    _scratch = tempfile.mkdtemp(prefix="infra-kernel-")
    atexit.register(shutil.rmtree, _scratch, True)  # runs after jsii's own exit handler (registered later)
    kernel_up = threading.Event()
    _thread = threading.Thread(target=_load, args=(kernel_up,), name="load-provider-bindings", daemon=True)
    previous, tempfile.tempdir = tempfile.tempdir, _scratch
    try:
        _thread.start()
        kernel_up.wait()
    finally:
        tempfile.tempdir = previous


def loading() -> bool:
    """Whether a load started by `start()` is still under way."""
    return _thread is not None and _thread.is_alive()


def wait() -> None:
    """Wait for the load `start()` began (if any); raise what it raised."""
    if _thread is not None:
        _thread.join()
    if _failure:
        raise _failure[0]


def abandon(exit_code: int) -> None:
    """Exit now with `exit_code` if a load is still under way (nothing may have been built or written);
    otherwise return. The kernel's runtime files are removed first."""
    if not loading() or _scratch is None:
        return
    shutil.rmtree(_scratch, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
