"""The table of Composer 3 builds: committed and dated, read by the environment model, refreshed from
Google's page; and the lock runs what the environments' build runs."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from infra.packages import locked_version
from platform_model.composer_builds import (
    IMAGE,
    PACKAGES_URL,
    TABLE,
    UnknownBuild,
    load_table,
    main,
    parse_packages_page,
    require_build,
)
from platform_model.environment import ENVIRONMENTS_DIR, load_all, load_environment_file
from platform_model.errors import ConfigError

# The opening of https://docs.cloud.google.com/composer/docs/versions-packages.md.txt as the docs search
# returned it (read 2026-12-01): the copy ends inside the first build's package list.
PAGE_OPENING = """\
This page lists preinstalled packages in each released Airflow build and
package differences between subsequent releases.

## Managed Airflow (Gen 3) package changelog

This section provides a list of preinstalled packages and a list of changes
between preinstalled packages in subsequent releases of Managed Airflow (Gen 3).

### November 20, 2026

This section lists Airflow builds of Managed Airflow (Gen 3) released on November 20, 2026.

#### composer-3-airflow-3.3.1-build.10

Packages in composer-3-airflow-3.3.1-build.10

```python
        a2wsgi==1.10.10
        absl-py==2.5.1
        aenum==3.1.17
        agate==1.9.1
        aiodebug==2.3.0
        aiofiles==25.1.0
        aiohappyeyeballs==2.7.1
        aiohttp==3.14.5
        aiohttp-cors==0.8.1
        aiomysql==0.3.2
        aiosignal==1.4.0
        aiosmtplib==5.1.3
        aiosqlite==0.22.1
        alembic==1.20.1
        amqp==5.4.2
        annotated-doc==0.0.5
        annotated-types==0.8.0
        an"""

# A copy whose lists are whole: the page's layout with an Airflow 3 and an Airflow 2 build, and the
# Gen 2 changelog after them (its builds are not Composer 3's).
WHOLE_PAGE = """\
## Managed Airflow (Gen 3) package changelog

### August 26, 2026

#### composer-3-airflow-3.3.1-build.0

Packages in composer-3-airflow-3.3.1-build.0

```python
        apache-airflow==3.3.1+composer
        apache-airflow-core==3.3.1+composer
        Apache_Airflow.Providers-Celery==3.23.1
```

Changes in composer-3-airflow-3.3.1-build.0 compared to the previous build

```python
        alembic==1.19.1
```

### September 30, 2025

#### composer-3-airflow-2.10.5-build.15

Packages in composer-3-airflow-2.10.5-build.15

```python
        apache-airflow==2.10.5+composer
```

## Managed Airflow (Gen 2) package changelog

### August 26, 2026

#### composer-3-airflow-3.3.1-build.99

```python
        apache-airflow==3.3.1+composer
```
"""


def _environment_build() -> str:
    builds = {env.composer.image_version for env in load_all().values()}
    assert len(builds) == 1, f"the environment files name different Composer builds: {sorted(builds)}"
    return builds.pop()


# -- the committed table -----------------------------------------------------------------------------


def test_the_table_is_dated_sourced_and_every_version_parses() -> None:
    table = load_table()
    assert dt.date.fromisoformat(table.read_on) <= dt.date.today()
    assert table.sources["packages"] == PACKAGES_URL
    assert table.builds
    for name, build in table.builds.items():
        assert IMAGE.match(name) and "-build." in name, name
        assert dt.date.fromisoformat(build.released) <= dt.date.fromisoformat(table.read_on), name
        assert build.source.startswith("https://docs.cloud.google.com/composer/docs/"), name
        for package, version in build.packages.items():
            Version(version)  # raises on a version that is not PEP 440
            assert package == package.lower(), (name, package)
        # where the list shows apache-airflow it is the version the name says
        assert build.preinstalled("apache-airflow") == f"{build.airflow}+composer", name


def test_the_table_says_its_lists_are_partial() -> None:
    data = json.loads(TABLE.read_text(encoding="utf-8"))
    assert data["partial"] is True
    assert not any(b["complete"] for b in data["builds"].values())
    assert any("unknown, not absent" in note for note in data["notes"])


# -- composer.image_version must name a build of the table --------------------------------------------


def test_every_environment_names_one_known_build() -> None:
    build = require_build(_environment_build())
    assert build.image_version in load_table().builds


def test_an_unknown_build_names_the_nearest_known_ones() -> None:
    table = load_table()
    with pytest.raises(UnknownBuild) as caught:
        require_build("composer-3-airflow-9.9.9-build.1")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("composer-3-airflow-9.9.9-build.1 is not a known Composer 3 build")
    newest_three = table.ordered()[-3:][::-1]
    assert f"nearest known: {', '.join(newest_three)} " in message


def test_a_version_without_build_is_refused_with_that_versions_builds() -> None:
    table = load_table()
    version = table.newest().airflow
    with pytest.raises(UnknownBuild) as caught:
        require_build(f"composer-3-airflow-{version}")
    message = str(caught.value)
    assert "names no build" in message
    named = message.split("nearest known: ")[1].split(" (")[0].split(", ")
    assert named and all(n.startswith(f"composer-3-airflow-{version}-build.") for n in named)


def test_an_environment_file_naming_an_unknown_build_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    text = (ENVIRONMENTS_DIR / "dev.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace(_environment_build(), "composer-3-airflow-9.9.9-build.1"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_environment_file(path)
    assert str(caught.value).startswith(
        f"{path}: composer.image_version: composer-3-airflow-9.9.9-build.1 is not a known Composer 3 build"
    )


def test_deployer_validate_refuses_an_unknown_build(tmp_path: Path) -> None:
    envs = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS_DIR, envs)
    dev = envs / "dev.yaml"
    dev.write_text(
        dev.read_text(encoding="utf-8").replace(_environment_build(), "composer-3-airflow-9.9.9-build.1"),
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "deployer", "validate", "--dir", str(envs)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    errors = proc.stderr.strip().splitlines()
    nearest = ", ".join(load_table().nearest("composer-3-airflow-9.9.9-build.1"))
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"error: {dev}: composer.image_version: composer-3-airflow-9.9.9-build.1 ")
    assert f"nearest known: {nearest}" in errors[0]
    assert "Traceback" not in proc.stderr


# -- what runs locally is what the build runs ----------------------------------------------------------


def test_the_lock_runs_the_airflow_of_the_environments_build() -> None:
    build = require_build(_environment_build())
    locked = locked_version("apache-airflow")
    assert locked == build.airflow, (
        f"uv.lock has apache-airflow {locked}, {build.image_version} runs {build.airflow}: "
        f"pin apache-airflow=={build.airflow} in pyproject.toml and run `uv lock`"
    )


def test_the_lock_runs_the_google_provider_of_the_environments_build() -> None:
    build = require_build(_environment_build())
    provider = "apache-airflow-providers-google"
    runs = build.preinstalled(provider)
    assert runs is not None, (
        f"the table does not know which {provider} {build.image_version} preinstalls "
        f"(its list is partial): refresh it from a saved copy of {PACKAGES_URL} "
        "(python -m platform_model.composer_builds --refresh FILE)"
    )
    locked = locked_version(provider)
    assert locked == runs, f"uv.lock has {provider} {locked}, {build.image_version} preinstalls {runs}"


# -- refreshing the table from a saved copy of the page -------------------------------------------------


def test_a_cut_off_copy_gives_its_build_and_the_packages_shown() -> None:
    builds = parse_packages_page(PAGE_OPENING)
    assert list(builds) == ["composer-3-airflow-3.3.1-build.10"]
    build = builds["composer-3-airflow-3.3.1-build.10"]
    assert build.released == "2026-11-20"
    assert not build.complete
    assert len(build.packages) == 17  # the cut-off last line ("an") is no package
    assert build.packages["alembic"] == "1.20.1"
    assert build.packages == dict(load_table().builds[build.image_version].packages)


def test_a_whole_copy_gives_complete_airflow_3_builds_of_gen_3_only() -> None:
    builds = parse_packages_page(WHOLE_PAGE)
    assert list(builds) == ["composer-3-airflow-3.3.1-build.0"]
    build = builds["composer-3-airflow-3.3.1-build.0"]
    assert build.complete and build.released == "2026-08-26"
    assert build.packages == {
        "apache-airflow": "3.3.1+composer",
        "apache-airflow-core": "3.3.1+composer",
        "apache-airflow-providers-celery": "3.23.1",
    }


def test_refresh_command_regenerates_a_table(tmp_path: Path) -> None:
    table = tmp_path / "composer_builds.json"
    shutil.copyfile(TABLE, table)
    page = tmp_path / "versions-packages.md.txt"
    page.write_text(WHOLE_PAGE, encoding="utf-8")
    before = json.loads(table.read_text(encoding="utf-8"))

    assert main(["--refresh", str(page), "--table", str(table), "--read-on", "2026-12-02"]) == 0
    data = json.loads(table.read_text(encoding="utf-8"))
    assert data["read_on"] == "2026-12-02"
    assert set(data["builds"]) == set(before["builds"])  # builds the page lacks are kept
    entry = data["builds"]["composer-3-airflow-3.3.1-build.0"]
    assert entry["complete"] is True and len(entry["packages"]) == 3  # a whole list replaces
    refreshed = load_table(table)
    assert refreshed.get("composer-3-airflow-3.3.1-build.0").complete  # type: ignore[union-attr]

    page.write_text(PAGE_OPENING, encoding="utf-8")
    assert main(["--refresh", str(page), "--table", str(table), "--replace"]) == 0
    data = json.loads(table.read_text(encoding="utf-8"))
    assert list(data["builds"]) == ["composer-3-airflow-3.3.1-build.10"]
    assert data["read_on"] == dt.date.today().isoformat()
    assert data["partial"] is True


def test_refresh_command_refuses_a_file_that_is_not_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "composer_builds.json"
    shutil.copyfile(TABLE, table)
    other = tmp_path / "release-notes.md"
    other.write_text("# Release notes\n\nNothing about packages.\n", encoding="utf-8")
    assert main(["--refresh", str(other), "--table", str(table)]) == 2
    assert main(["--refresh", str(tmp_path / "missing.md.txt"), "--table", str(table)]) == 2
    assert main(["--refresh", str(other), "--table", str(table), "--read-on", "soon"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"error: {other}: no Composer 3 build with Airflow 3 in it (expected the markdown of {PACKAGES_URL})",
        f"error: {tmp_path / 'missing.md.txt'}: file not found",
        "error: --read-on: 'soon' is not a date (YYYY-MM-DD)",
    ]
    assert table.read_bytes() == TABLE.read_bytes()


def test_a_broken_table_is_one_line(tmp_path: Path) -> None:
    table = tmp_path / "composer_builds.json"
    table.write_text('{"builds": {"composer-3-airflow-3.3.1": {"released": "2026-11-20"}}}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"is not a composer-3-airflow-X\.Y\.Z-build\.N name"):
        load_table(table)
    table.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_table(table)
