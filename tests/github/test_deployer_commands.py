"""Every `deployer` command the workflows run exists, with the options and arguments they pass.

The workflows call the CLI by name from shell scripts that only run on GitHub; this test reads
those command lines and checks them against the real command tree (typer -> click), so a renamed
command or option breaks here, not in the middle of a production promotion.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import typer

from tests.github.test_workflows import ROOT, WORKFLOWS, load, steps_of

DEPLOYER = ".venv/bin/deployer"


def command_lines() -> list[tuple[str, list[str]]]:
    """(where, argv after `deployer`) for every deployer call in the workflows."""
    found = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job_id, step in steps_of(load(path)):
            script = str(step.get("run", ""))
            args: list[str] = []
            for line in script.splitlines():
                if m := re.search(r"\bargs\+?=\((.*)\)", line):
                    args += shlex.split(m.group(1))
                if DEPLOYER not in line:
                    continue
                call = line.split(DEPLOYER, 1)[1]
                call = re.split(r"\s(?:>>?|\|\||&&|\|)\s|\)\"?\s*$", call)[0]
                words: list[str] = []
                for word in shlex.split(call):
                    words += args if word == "${args[@]}" else [word]
                found.append((f"{path.name}:{job_id}", words))
    return found


@pytest.fixture(scope="module")
def cli() -> Any:
    """The real command tree, as the `deployer` entry point builds it (typer's click types)."""
    from deployer import cli as deployer_cli

    deployer_cli._register()
    group = typer.main.get_command(deployer_cli.app)
    assert hasattr(group, "commands")
    return group


def resolve(group: Any, words: list[str]) -> tuple[Any, list[str]]:
    """The command the words name and the words after it."""
    command = group
    rest = list(words)
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        assert sub is not None, f"no command {rest[0]!r} under {command.name!r}"
        command, rest = sub, rest[1:]
    assert not hasattr(command, "commands"), f"{' '.join(words)}: names a group, not a command"
    return command, rest


CALLS = command_lines()


def test_the_workflows_call_the_deployer() -> None:
    verbs = {" ".join(w for w in words[:2] if not w.startswith("-")) for _, words in CALLS}
    assert {"release build", "release publish", "approval request", "approval grant"} <= verbs
    assert {"plan", "promote", "rollback", "status"} <= {v.split()[0] for v in verbs}


@pytest.mark.parametrize(("where", "words"), CALLS, ids=[f"{w}:{' '.join(a[:2])}" for w, a in CALLS])
def test_command_options_and_arguments_exist(cli: Any, where: str, words: list[str]) -> None:
    command, rest = resolve(cli, words)
    params = command.params
    options = {n: p for p in params if p.param_type_name == "option" for n in [*p.opts, *p.secondary_opts]}
    arguments = [p for p in params if p.param_type_name == "argument"]
    positional = []
    i = 0
    while i < len(rest):
        word = rest[i]
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            assert name in options, f"{where}: {' '.join(words)}: {command.name} has no option {name}"
            takes_value = not options[name].is_flag and "=" not in word
            i += 2 if takes_value else 1
        else:
            positional.append(word)
            i += 1
    assert len(positional) <= len(arguments), f"{where}: {' '.join(words)}: too many arguments"
    required = [a for a in arguments if a.required]
    assert len(positional) >= len(required), f"{where}: {' '.join(words)}: missing arguments"


def test_json_fields_the_workflows_read_are_documented_keys() -> None:
    """The fields json_field.py extracts are the ones the commands are specified to print."""
    from deployer.approval import Approval

    text = "\n".join(p.read_text(encoding="utf-8") for p in WORKFLOWS.glob("*.yml"))
    fields = set(re.findall(r"json_field\.py (\w+)", text))
    assert fields == {"release", "id", "granted_by", "github_run"}, fields
    assert {"id", "granted_by", "github_run"} <= set(Approval.model_fields)  # approval request/grant --json
    assert (ROOT / ".github" / "scripts" / "json_field.py").is_file()
