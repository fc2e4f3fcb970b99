"""`python -m infra.synth` (what `make synth` runs): synthesize every stack, unless nothing changed.

The inputs of a synth are hashed: `infra/**/*.py`, the environment files, the domain files,
`composer/requirements.txt` (Composer's PyPI packages), the model that reads them
(`platform_model/**/*.py`), `cdktf.json`, `uv.lock`, `package-lock.json`, and the Python version.
The hash is recorded in `cdktf.out/.inputs.sha256` after a successful synth; when it matches, nothing
runs (the warm path imports neither cdktn nor pydantic, and answers in a few tens of milliseconds).

Why it cannot go stale or leave half-written output:

- The app is run (`python -O -m infra`, the same command `cdktf.json` gives the CLIs, which is what
  `cdktf synth` runs too, minus 2 s of Node CLI start-up) into a scratch directory inside the output
  directory; each file is then moved into place with an atomic rename, and the hash is written last,
  atomically. A synth killed at any point leaves no hash matching partial output, and readers see
  each `cdk.tf.json` either old or new, never torn.
- The app itself deletes the hash of the directory it writes to, so a `cdktf synth` run by hand
  (perhaps from other inputs) invalidates it too.
- Concurrent synths (pytest-xdist workers, a policy run) serialize on a lock file; the loser re-checks
  the hash and finds the work done.
- Stack directories no longer produced (an environment removed) are deleted, as `cdktf synth` does.

`ensure_synth()` is the entry point for tests and tools: it returns the output directory, synthesized
and current.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from infra import DOMAINS_DIR_VAR, ENVIRONMENTS_DIR_VAR, REPO_ROOT, domains_dir, environments_dir
from platform_model.errors import PlatformError

HASH_FILE = ".inputs.sha256"
LOCK_FILE = ".synth.lock"
SCRATCH_PREFIX = ".synth-"
DEFAULT_OUTDIR = REPO_ROOT / "cdktf.out"
PYCACHE = REPO_ROOT / ".synth-cache" / "pycache"
# Repo-relative inputs besides the environment and domain files (globs are relative to the repo root).
INPUT_GLOBS = (
    "infra/**/*.py",
    "platform_model/**/*.py",
    "composer/requirements.txt",
    "cdktf.json",
    "uv.lock",
    "package-lock.json",
)


class SynthError(Exception):
    """Synthesis failed; `exit_code` is the app's (2: bad input, 1: anything else)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def input_files(environments: Path, domains: Path | None = None) -> list[tuple[str, Path]]:
    """Every input of a synth as (stable label, path), sorted by label."""
    files: dict[str, Path] = {}
    for pattern in INPUT_GLOBS:
        for path in REPO_ROOT.glob(pattern):
            if path.is_file() and "__pycache__" not in path.parts:
                files[path.relative_to(REPO_ROOT).as_posix()] = path
    # Labelled by name only: the same files in another directory synthesize the same stacks.
    for path in environments.glob("*.yaml"):
        files[f"environments/{path.name}"] = path
    for path in (domains or domains_dir()).glob("*.yaml"):
        files[f"domains/{path.name}"] = path
    return sorted(files.items())


def input_hash(environments: Path | None = None, domains: Path | None = None) -> str:
    """sha256 over the synth inputs' labels and contents (and the Python version)."""
    digest = hashlib.sha256()
    digest.update(f"python {sys.version_info[:3]}\n".encode())
    for label, path in input_files(environments or environments_dir(), domains or domains_dir()):
        data = path.read_bytes()
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def recorded_hash(outdir: Path) -> str | None:
    """The hash recorded with `outdir`'s output, or None."""
    try:
        return (outdir / HASH_FILE).read_text(encoding="ascii").strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def _current(outdir: Path, digest: str) -> bool:
    return recorded_hash(outdir) == digest and (outdir / "manifest.json").is_file()


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(outdir: Path) -> Iterator[None]:
    outdir.mkdir(parents=True, exist_ok=True)
    with open(outdir / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _app_env(scratch: Path, environments: Path, domains: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["CDKTF_OUTDIR"] = str(scratch)
    env[ENVIRONMENTS_DIR_VAR] = str(environments)
    env[DOMAINS_DIR_VAR] = str(domains or domains_dir())
    # Bytecode of the ~40 provider modules saves a few tenths of a second per synth; it goes to a
    # git-ignored cache, not beside the sources.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    # The bindings check every argument's type at run time (typeguard, under `if __debug__`): about a
    # third of a domain's synth cost. mypy --strict checks the same annotations in `make lint`, and the
    # environment and domain models validate the data, so the app runs optimized (as cdktf.json's `-O`).
    env["PYTHONOPTIMIZE"] = "1"
    return env


def _die_with_parent() -> None:
    """In the app's process: get SIGKILL when the synth that started it dies (Linux `PR_SET_PDEATHSIG`).

    Otherwise a killed synth would leave its app running, writing into a scratch directory that
    the next synth has already swept.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _run_app(scratch: Path, environments: Path, domains: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "infra"],
        cwd=REPO_ROOT,
        env=_app_env(scratch, environments, domains),
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else f"the app exited with code {proc.returncode}"
        raise SynthError(last.removeprefix("error: "), exit_code=2 if proc.returncode == 2 else 1)


def _install(scratch: Path, outdir: Path) -> list[str]:
    """Move the scratch output into `outdir` file by file (atomic renames); drop orphaned stacks."""
    manifest = json.loads((scratch / "manifest.json").read_text(encoding="utf-8"))
    stacks = sorted(manifest.get("stacks", {}))
    for path in sorted(scratch.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            target = outdir / path.relative_to(scratch)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    os.replace(scratch / "manifest.json", outdir / "manifest.json")  # last: it lists the stacks
    stacks_dir = outdir / "stacks"
    if stacks_dir.is_dir():
        for orphan in stacks_dir.iterdir():
            if orphan.is_dir() and orphan.name not in stacks:
                shutil.rmtree(orphan)
    return stacks


def synth(outdir: Path, environments: Path, digest: str, domains: Path | None = None) -> list[str]:
    """Synthesize unconditionally into `outdir` and record `digest`; return the stack names."""
    (outdir / HASH_FILE).unlink(missing_ok=True)
    _sweep_scratch(outdir)
    scratch = Path(tempfile.mkdtemp(dir=outdir, prefix=SCRATCH_PREFIX))
    try:
        _run_app(scratch, environments, domains or domains_dir())
        stacks = _install(scratch, outdir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    # Swept again: the app of a killed synth dies with it, but may still write into its scratch directory
    # while the first sweep runs, which leaves that directory behind. By now it has long exited.
    _sweep_scratch(outdir)
    _write_atomic(outdir / HASH_FILE, digest + "\n")
    return stacks


def _sweep_scratch(outdir: Path) -> None:
    """Remove the scratch directories of killed synths (the caller holds the lock, so none is live)."""
    for stale in outdir.glob(f"{SCRATCH_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)


def ensure_synth(
    outdir: Path | None = None,
    environments: Path | None = None,
    *,
    domains: Path | None = None,
    force: bool = False,
) -> Path:
    """Return `outdir` (default `cdktf.out/`) holding the stacks of the current inputs; synthesize if needed.

    `environments` overrides the environments directory (default `$INFRA_ENVIRONMENTS_DIR` or
    `environments/`), `domains` the domains directory (default `$INFRA_DOMAINS_DIR` or `domains/`).
    Raises SynthError when the app fails (exit_code 2 for bad input).
    """
    outdir = (outdir or DEFAULT_OUTDIR).resolve()
    environments = (environments or environments_dir()).resolve()
    domains = (domains or domains_dir()).resolve()
    digest = input_hash(environments, domains)
    if not force and _current(outdir, digest):
        return outdir
    with _locked(outdir):
        if force or not _current(outdir, digest):
            synth(outdir, environments, digest, domains)
    return outdir


def main(argv: list[str] | None = None) -> int:
    """Command line: synthesize when inputs changed; `--force` always does."""
    parser = argparse.ArgumentParser(prog="python -m infra.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="synthesize even when the inputs are unchanged")
    parser.add_argument("--outdir", type=Path, default=None, help="output directory (default: cdktf.out)")
    parser.add_argument("--environments", type=Path, default=None, help="environments directory")
    parser.add_argument("--domains", type=Path, default=None, help="domains directory")
    args = parser.parse_args(argv)
    for option in ("environments", "domains"):
        given = getattr(args, option)
        if given is not None and not given.is_dir():
            print(f"error: --{option}: {given} is not a directory", file=sys.stderr)
            return 2
    started = time.perf_counter()
    outdir = (args.outdir or DEFAULT_OUTDIR).resolve()
    before = recorded_hash(outdir)
    try:
        environments = (args.environments or environments_dir()).resolve()
        ensure_synth(outdir, environments, domains=args.domains, force=args.force)
    except (SynthError, PlatformError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    elapsed = time.perf_counter() - started
    after = recorded_hash(outdir) or ""
    try:
        shown = outdir.relative_to(Path.cwd())
    except ValueError:
        shown = outdir
    if before == after and not args.force:
        print(f"synth: {shown} is up to date (inputs {after[:12]}), {elapsed:.2f}s")
    else:
        manifest = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
        names = ", ".join(sorted(manifest.get("stacks", {})))
        print(f"synth: {names} -> {shown}/stacks in {elapsed:.1f}s (inputs {after[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
