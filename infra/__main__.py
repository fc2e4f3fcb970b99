"""`python -m infra`: the cdktf app command (see cdktf.json). Bad input: one line, exit code 2."""

from __future__ import annotations

import sys

from platform_model.errors import PlatformError


def run() -> int:
    """Synthesize every GCP stack; turn a PlatformError into one line and its exit code."""
    try:
        from infra.app import main

        main()
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(run())
