"""`python -m infra`: the cdktf app command (see cdktf.json). Bad input: one line, exit code 2."""

from __future__ import annotations

import sys

from platform_model.errors import PlatformError


def run() -> int:
    """Synthesize every GCP stack; turn a PlatformError into one line and its exit code.

    The provider bindings load in the background while the inputs are read (`infra.bindings`). A bad
    input file is found before that load ends: the process then exits at once (`bindings.abandon`,
    nothing has been built or written yet) instead of waiting seconds for Node to finish the load.
    """
    from infra import bindings

    bindings.start()
    try:
        from infra.app import main

        main()
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        bindings.abandon(exc.exit_code)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(run())
