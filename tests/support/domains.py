"""Copy a domain's own files under a new name, as a user adding a domain would.

What a domain's own files are follows from its declaration and the conventions of
`platform_model.domain`: `domains/<d>.yaml`, `dataproc_jobs/<d>/`, its jobs' entry points, its jars'
sources, `dbt/models/<d>/`, `dbt/snapshots/<d>/`, `dbt/tests/<d>/`, `gx/expectations/<d>/` and
`composer/dags/<d>.py`. The name is replaced in paths and contents wherever it stands as a word of
an identifier (`customers`, `stg_customers`, `customers-events`), never inside another word
(`customer_id` stays).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from platform_model.domain import load_domain_file


def owned_paths(root: Path, domain: str) -> list[Path]:
    """The files and folders of `domain` that exist under `root`."""
    decl = load_domain_file(root / "domains" / f"{domain}.yaml")
    jars = sorted({jar for job in decl.spark_jobs.values() for jar in job.jars})
    candidates = [
        f"domains/{domain}.yaml",
        f"dataproc_jobs/{domain}",
        *[f"dataproc_jobs/entrypoints/{job}.py" for job in decl.spark_jobs],
        *[f"dataproc_jobs/java/{jar}" for jar in jars],
        f"dbt/models/{domain}",
        f"dbt/snapshots/{domain}",
        f"dbt/tests/{domain}",
        f"gx/expectations/{domain}",
        f"composer/dags/{domain}.py",
    ]
    return [root / c for c in candidates if (root / c).exists()]


def _renamer(old: str, new: str) -> tuple[re.Pattern[str], str]:
    return re.compile(rf"(?<![A-Za-z]){re.escape(old)}(?![A-Za-z])"), new


def copy_domain(root: Path, old: str, new: str, singular: tuple[str, str] | None = None) -> list[Path]:
    """Copy `old`'s own files under `root` to `new`, renaming inside; return the files written.

    `singular` optionally renames a singular word too (e.g. ("customer", "payment")) where the copy must
    not collide with the original's names (columns may stay: they are per table)."""
    written: list[Path] = []
    rules = [_renamer(old, new), _renamer(old.replace("_", "-"), new.replace("_", "-"))]
    if singular:
        rules.append(_renamer(*singular))

    def rename(text: str) -> str:
        for pattern, replacement in rules:
            text = pattern.sub(replacement, text)
        return text

    for src in owned_paths(root, old):
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts:
                continue
            target = root / rename(file.relative_to(root).as_posix())
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.write_text(rename(file.read_text(encoding="utf-8")), encoding="utf-8")
            except UnicodeDecodeError:
                shutil.copyfile(file, target)
            written.append(target)
    return written


def copy_repo(dest: Path, repo: Path) -> Path:
    """A copy of the working tree of `repo` (tracked and untracked files, not ignored ones) as a git repo
    with one commit, so `git status` afterwards shows exactly what changed."""
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = repo / rel
        if src.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    git = ["git", "-C", str(dest), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], check=True)
    return dest


def changed_files(root: Path) -> dict[str, list[str]]:
    """`git status` of a copy made by `copy_repo`: added and modified/deleted paths."""
    out = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    added, touched = [], []
    for line in out.splitlines():
        status, path = line[:2], line[3:]
        (added if status == "??" else touched).append(path)
    return {"added": sorted(added), "touched": sorted(touched)}
