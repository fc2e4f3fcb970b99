"""Bad and hostile input: every case is one `error:` line, the documented exit code, never a traceback, and
nothing already deployed changes (the buckets' object names, generations and MD5s before and after).

Environment files (wrong types, missing and unknown keys, huge values, a YAML alias bomb, deep nesting,
binary garbage...), CLI arguments, a release store with a missing or corrupted manifest or a manifest
naming `../` paths, release sources with a DAG syntax error, a backslash name or a symlink out of the
tree, and an unreachable emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.deployer.helpers import make_jobs, make_tree
from tests.reliability.harness import Run, Section, World, dag_file

ENV = "local"


@dataclass
class Case:
    """One hostile input: how to run it, and the exit codes that are right for it."""

    name: str
    run: Callable[[World], Run]
    codes: tuple[int, ...] = (2,)
    says: str = ""


def _env_case(name: str, mutate: Callable[[str], str | bytes], says: str = "") -> Case:
    """Promote `local` with a mutated copy of its environment file."""

    def go(world: World) -> Run:
        env_dir = world.workdir / "bad-envs" / name.replace(" ", "-")
        shutil.copytree(world.env_dir, env_dir, dirs_exist_ok=True)
        text = (world.env_dir / f"{ENV}.yaml").read_text()
        bad = mutate(text)
        path = env_dir / f"{ENV}.yaml"
        if isinstance(bad, bytes):
            path.write_bytes(bad)
        else:
            path.write_text(bad)
        return world.run(world.promote_args(ENV, world.releases[1]), DEPLOYER_ENV_DIR=str(env_dir))

    return Case(f"env file: {name}", go, (2,), says or "local.yaml")


def _replace(old: str, new: str) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        if old not in text:
            raise AssertionError(f"{old!r} not in the environment file")
        return text.replace(old, new, 1)

    return mutate


ALIAS_BOMB = "a: &a ['x','x','x','x','x','x','x','x','x']\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
    f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
    for i in range(9)
)


def env_cases() -> list[Case]:
    """Malformed and hostile environment files."""
    return [
        _env_case("wrong type", _replace("region: europe-west1", "region: [1, 2]"), "region"),
        _env_case("wrong nested type", _replace("boot_disk_gb: 50", "boot_disk_gb: fifty"), "boot_disk_gb"),
        _env_case("missing key", _replace("project: acme-data-local\n", ""), "project"),
        _env_case("unknown key", lambda t: t + "colour: blue\n", "colour"),
        _env_case("unknown nested key", _replace("  location: EU\n", "  location: EU\n  locaton: US\n")),
        _env_case("huge value", _replace("project: acme-data-local", "project: " + "a" * 3_000_000)),
        _env_case("YAML alias bomb", lambda t: ALIAS_BOMB),
        _env_case("deep nesting", lambda t: "a: " + "[" * 50_000 + "]" * 50_000 + "\n"),
        _env_case("not a mapping", lambda t: "- name\n- local\n"),
        _env_case("binary garbage", lambda t: bytes(range(256)) * 4),
        _env_case("empty file", lambda t: ""),
        _env_case("name differs from the file", _replace("name: local", "name: prod")),
        _env_case(
            "negative lock TTL", _replace("lock_ttl_seconds: 1800", "lock_ttl_seconds: -5"), "lock_ttl"
        ),
        _env_case("duplicate key", lambda t: t + "project: acme-data-other\n", "given twice"),
    ]


def cli_cases() -> list[Case]:
    """Bad command-line arguments."""

    def args(*a: str, codes: tuple[int, ...] = (2,), says: str = "", **extra: str) -> Case:
        return Case("cli: " + " ".join(a)[:60], lambda w: w.run(list(a), **extra), codes, says)

    return [
        args("promote", "--env", ENV, "--yes", says="--release"),
        args("promote", "--env", ENV, "--release", "../../etc/passwd", "--yes", says="release"),
        args("promote", "--env", ENV, "--release", "r-000000000000", "--yes", says="r-000000000000"),
        args(
            "promote",
            "--env",
            "../../etc/passwd",
            "--release",
            "r-000000000000",
            "--yes",
            says="unknown environment",
        ),
        args("promote", "--env", "nosuchenv", "--release", "r-000000000000", "--yes", says="nosuchenv"),
        args("promote", "--env", ENV, "--frobnicate"),
        args("--log-format", "xml", "status", "--env", ENV),
        args("audit", "--env", ENV, "--limit", "-1", says="--limit"),
        args("audit", "--env", ENV, "--limit", "many"),
        args("rollback", "--env", ENV, "--to", "not-a-release", "--yes"),
        args("unlock", "abc", "--env", ENV),
        args("approval", "grant", "../x", "--env", ENV),
        args("status", "--env", ENV, says="DEPLOYER_GCS_RETRY_DEADLINE", DEPLOYER_GCS_RETRY_DEADLINE="soon"),
    ]


def _store_blob(world: World, name: str):  # type: ignore[no-untyped-def]
    return world.client.bucket(world.buckets(ENV)["store"]).blob(name)


def store_cases() -> list[Case]:
    """A release store with a missing or corrupted manifest, or a manifest naming `../` paths."""

    def empty_releases(world: World) -> str:
        empty = world.workdir / "no-local-releases"
        empty.mkdir(exist_ok=True)
        return str(empty)

    def missing_manifest(world: World) -> Run:
        rid = world.releases[3]
        _store_blob(world, f"releases/{rid}/manifest.json").delete()
        try:
            return world.run(world.promote_args(ENV, rid), DEPLOYER_RELEASES_DIR=empty_releases(world))
        finally:
            _store_blob(world, f"releases/{rid}/manifest.json").upload_from_filename(
                str(world.releases_dir / rid / "manifest.json")
            )

    def corrupted_manifest(world: World) -> Run:
        rid = world.releases[3]
        blob = _store_blob(world, f"releases/{rid}/manifest.json")
        good = blob.download_as_bytes()
        blob.upload_from_string(b'{"release": "' + rid.encode() + b'", "files": [{"path": 7}')
        try:
            return world.run(world.promote_args(ENV, rid), DEPLOYER_RELEASES_DIR=empty_releases(world))
        finally:
            blob.upload_from_string(good)

    def traversal_manifest(world: World) -> Run:
        rid = world.releases[4]
        blob = _store_blob(world, f"releases/{rid}/manifest.json")
        good = blob.download_as_bytes()
        manifest = json.loads(good)
        manifest["files"][0]["path"] = "dags/../../../etc/cron.d/evil"
        blob.upload_from_string(json.dumps(manifest).encode())
        try:
            return world.run(world.promote_args(ENV, rid), DEPLOYER_RELEASES_DIR=empty_releases(world))
        finally:
            blob.upload_from_string(good)

    def traversal_local(world: World) -> Run:
        rid = world.releases[4]
        copy = world.workdir / "traversal-releases"
        shutil.copytree(world.releases_dir / rid, copy / rid, dirs_exist_ok=True)
        manifest = json.loads((copy / rid / "manifest.json").read_text())
        manifest["files"][0]["path"] = "../../outside.py"
        (copy / rid / "manifest.json").write_text(json.dumps(manifest))
        return world.run(["release", "publish", rid, "--env", ENV, "--from", str(copy)])

    return [
        Case("store: missing manifest", missing_manifest, (2, 1), "not published"),
        Case("store: corrupted manifest", corrupted_manifest, (2, 1), "manifest"),
        Case("store: manifest names ../ paths", traversal_manifest, (2, 1)),
        Case("publish: local manifest names ../ paths", traversal_local, (2, 1), "unsafe file name"),
    ]


def build_cases() -> list[Case]:
    """Release sources a build must refuse, naming the file."""

    def build(
        world: World, name: str, dags: dict[str, str], after: Callable[[Path], None] | None = None
    ) -> Run:
        root = make_tree(world.workdir / f"bad-src-{name}", dags)
        if after is not None:
            after(root)
        jobs = make_jobs(world.workdir / f"bad-jobs-{name}")
        out = world.workdir / f"bad-out-{name}"
        args = ["release", "build", "--root", str(root), "--jobs-dir", str(jobs), "--out", str(out)]
        return world.run([*args, "--skip-checks"])

    def symlink_out(root: Path) -> None:
        os.symlink("/etc/hostname", root / "composer" / "dags" / "escape.py")

    return [
        Case(
            "build: DAG with a syntax error",
            lambda w: build(
                w, "syntax", {"ok.py": dag_file("ok", 1), "broken.py": "from airflow import DAG\ndef (:\n"}
            ),
            (2,),
            "broken.py",
        ),
        Case(
            "build: backslash in a file name",
            lambda w: build(w, "bs", {"a\\b.py": dag_file("x", 1)}),
            (2,),
            "unsafe file name",
        ),
        Case(
            "build: symlink out of the tree",
            lambda w: build(w, "link", {"ok.py": dag_file("ok", 1)}, symlink_out),
            (2,),
            "escape.py",
        ),
    ]


def other_cases() -> list[Case]:
    """The emulator unreachable."""
    return [
        Case(
            "unreachable emulator",
            lambda w: w.run(w.promote_args(ENV, w.releases[1]), STORAGE_EMULATOR_HOST="http://127.0.0.1:9"),
            (2,),
            "emulator",
        )
    ]


def all_cases() -> list[Case]:
    """Every case of the section."""
    return [*env_cases(), *cli_cases(), *store_cases(), *build_cases(), *other_cases()]


def run(world: World) -> Section:
    """Run every case against a world where release 0 is live in `local`."""
    section = Section("bad input")
    t0 = time.monotonic()
    world.publish_all(ENV)
    first = world.run(world.promote_args(ENV, world.releases[0]))
    section.check(first.code == 0, f"first promotion failed: {first.err[-300:]}")
    for case in all_cases():
        section.attempts += 1
        before = world.snapshot(ENV)
        try:
            result = case.run(world)
        except Exception as exc:
            section.violations.append(f"{case.name}: the case itself failed: {type(exc).__name__}: {exc}")
            continue
        problems = []
        problem = next((p for c in case.codes if (p := result.one_line_problem(c)) is None), "x")
        if problem is not None:
            problems.append(result.one_line_problem(case.codes[0]) or "wrong exit code")
        elif case.says and case.says not in result.error_lines()[0]:
            problems.append(f"the error line does not name {case.says!r}: {result.error_lines()[0]}")
        after = world.snapshot(ENV)
        changed = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
        # A refusal (exit 1) is audited; that is the one write allowed. Store fixtures are restored.
        changed = [n for n in changed if "/deployer/audit/" not in n and "/releases/" not in n]
        if changed:
            problems.append(f"deployed objects changed: {changed[:3]}")
        section.violations.extend(f"{case.name}: {p}" for p in problems)
        if not problems:
            section.survived += 1
    section.seconds = round(time.monotonic() - t0, 1)
    return section
