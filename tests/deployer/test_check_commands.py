"""`deployer check`: findings as one line each and exit 1; bad arguments as one line and exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deployer.cli import main
from platform_model.manifest import COMPONENTS, GitInfo, Manifest, component_digest, file_entry, release_id_of
from policies.crosslayer import CHECKS

FIXTURES = Path(__file__).resolve().parents[1] / "policies" / "fixtures" / "crosslayer"


def _release(tmp_path: Path) -> Path:
    """A built release of the cross-layer fixture: manifest.json + files/."""
    folder = tmp_path / "release"
    shutil.copytree(FIXTURES / "release", folder / "files")
    files = sorted(p for p in (folder / "files").rglob("*") if p.is_file())
    entries = [file_entry(p.relative_to(folder / "files").as_posix(), p.read_bytes()) for p in files]
    manifest = Manifest(
        release=release_id_of(entries),
        created="2026-01-01T00:00:00Z",
        builder="test",
        git=GitInfo(commit=None, dirty=None),
        components={
            c: component_digest([e for e in entries if e.path.startswith(c + "/")], c) for c in COMPONENTS
        },
        files=entries,
    )
    (folder / "manifest.json").write_bytes(manifest.to_bytes())
    return folder


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["check", *argv])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.mark.slow
def test_release_that_agrees_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    release = _release(tmp_path)
    code, out, _ = _run(["--release", str(release), "--stacks-dir", str(FIXTURES / "stacks")], capsys)
    assert code == 0
    ran = [c for c in CHECKS if c != "contract-evolution"]
    assert out.strip().startswith(f"ok: {', '.join(ran)} (release release; stacks: dev")
    assert "contract-evolution not run (no --previous)" in out


def test_findings_are_one_line_each_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    release = _release(tmp_path)
    mart = release / "files" / "dbt" / "models" / "orders" / "customer_value.yml"
    text = mart.read_text(encoding="utf-8")
    assert "        policy_tags:\n" in text
    mart.write_text(text.replace("        policy_tags:\n", "        tags:\n", 1), encoding="utf-8")
    # The release's files no longer match its manifest: refused before any check runs.
    code, out, err = _run(["--release", str(release), "--only", "pii-tags"], capsys)
    assert code == 1
    assert "dbt/models/orders/customer_value.yml" in err and err.count("\n") == 1

    # The same files as a bare files/ folder (what `release build` checks before it writes a manifest).
    code, out, err = _run(["--release", str(release / "files"), "--only", "pii-tags"], capsys)
    assert code == 1
    assert out.splitlines() == [
        "[pii-tags] dbt/models/orders/customer_value.yml: model customer_value, column customer_email_hash: "
        "PII (PII Email in the contract) but carries no policy tag"
    ]
    assert err.startswith("error: 1 cross-layer finding(s) (pii-tags;") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--release", "/nonexistent/release"], "--release: /nonexistent/release is not a release"),
        (["--only", "bogus", "--release", str(FIXTURES / "release")], "--only: unknown check(s) bogus"),
        (
            [
                "--only",
                "contract-evolution",
                "--release",
                str(FIXTURES / "release"),
                "--previous",
                "/nowhere",
            ],
            "--previous: /nowhere is not a manifest.json nor a release folder with one",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run([*argv, "--stacks-dir", str(FIXTURES / "stacks")], capsys)
    assert code == 2
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
