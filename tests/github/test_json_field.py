"""`.github/scripts/json_field.py`: a validated field of a JSON document, for passing between steps."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.github.helpers import SCRIPTS, load_script

json_field = load_script("json_field")
RELEASE = "^r-[0-9a-f]{12}$"


def run(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "json_field.py"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_prints_the_field() -> None:
    proc = run('{"release": "r-0123456789ab", "files": 3}', "release", "--pattern", RELEASE)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "r-0123456789ab\n", "")
    assert run('{"last": {"release": "r-0123456789ab"}}', "last.release").stdout == "r-0123456789ab\n"
    assert run('{"count": 3}', "count").stdout == "3\n"


@pytest.mark.parametrize(
    ("stdin", "field", "message"),
    [
        ('{"release": "r-0123456789ab; rm -rf /"}', "release", "does not match"),
        ('{"release": "r-0123456789ab\\n::set-output"}', "release", "spans lines"),
        ('{"id": "r-0123456789ab"}', "release", "no field 'release'"),
        ('{"release": {"id": 1}}', "release", "is a dict"),
        ('{"release": true}', "release", "is a bool"),
        ('{"release": ""}', "release", "empty"),
        ("not json", "release", "not JSON"),
    ],
)
def test_refuses_with_one_line(stdin: str, field: str, message: str) -> None:
    proc = run(stdin, field, "--pattern", RELEASE)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and message in proc.stderr


def test_extract_is_usable_in_process() -> None:
    assert json_field.extract({"a": {"b": "c"}}, "a.b") == "c"
    with pytest.raises(json_field.FieldError):
        json_field.extract({"a": ["b"]}, "a.b")
