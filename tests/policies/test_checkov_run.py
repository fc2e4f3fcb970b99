"""The checkov runner: framework, per-stack counts and failure lines, skips, silent-pass guards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from platform_model.errors import ConfigError
from policies import checkov_run
from policies.checkov_run import Result, Skip, apply_skips, load_skips, run_checkov
from tests.policies.conftest import CHECKOV_FIXTURES

BAD_BUCKET = CHECKOV_FIXTURES / "framework" / "bad_bucket" / "cdk.tf.json"


def _statuses(results: list[Result], check_id: str) -> dict[str, str]:
    return {r.resource: r.status for r in results if r.check_id == check_id}


def test_terraform_json_reads_cdktf_output_and_terraform_does_not() -> None:
    results, problems = run_checkov({"fw": BAD_BUCKET})
    assert problems == []
    # Built-in checks see the bucket: uniform access missing, public-access prevention enforced.
    assert _statuses(results, "CKV_GCP_29") == {"google_storage_bucket.no_uniform_access": "failed"}
    assert _statuses(results, "CKV_GCP_114") == {"google_storage_bucket.no_uniform_access": "passed"}
    # So does our own bucket policy (YAML) and the labels policy (Python).
    assert _statuses(results, "CKV2_ACME_3") == {"google_storage_bucket.no_uniform_access": "failed"}
    assert _statuses(results, "CKV_ACME_2") == {"google_storage_bucket.no_uniform_access": "passed"}
    # The HCL framework does not read cdk.tf.json at all: nothing passes, nothing fails.
    hcl_results, _ = run_checkov({"fw": BAD_BUCKET}, framework="terraform")
    assert hcl_results == []


def _skips_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "skips.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_committed_skips_all_have_reasons() -> None:
    for skip in load_skips(known_stacks=["dev", "staging", "prod"]):
        assert len(skip.reason) >= 10 and skip.stacks


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("skips:\n  - {check: CKV_GCP_62, stacks: [dev]}\n", "skips[0].reason: every skip needs a reason"),
        ("skips:\n  - {check: CKV_GCP_62, stacks: [dev], reason: ''}\n", "skips[0].reason"),
        ("skips:\n  - {check: CKV_GCP_62, stacks: [dev], reason: TODO}\n", "skips[0].reason"),
        (
            "skips:\n  - {check: CKV_ACME_2, stacks: [dev], reason: labels are a bother}\n",
            "one of our own policies",
        ),
        (
            "skips:\n  - {check: CKV_GCP_62, stacks: [qa], reason: no logs bucket in qa}\n",
            "unknown stack(s) qa",
        ),
        ("skips:\n  - {check: CKV_GCP_62, stacks: [], reason: no logs bucket anywhere}\n", "non-empty list"),
        (
            "skips:\n  - {check: GCP_62, stacks: [dev], reason: no logs bucket anywhere}\n",
            "not a checkov check id",
        ),
        (
            "skips:\n  - {check: CKV_GCP_62, stack: [dev], reason: a typo in a field name}\n",
            "unknown field(s) stack",
        ),
        ("skips: {}\n", "expected a list"),
    ],
)
def test_bad_skips_are_refused_with_file_and_field(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_skips(_skips_file(tmp_path, body), known_stacks=["dev", "prod"])
    assert message in str(err.value)
    assert "skips.yaml" in str(err.value)


def _result(stack: str, check_id: str = "CKV_GCP_26", resource: str = "google_kms_crypto_key.k") -> Result:
    return Result(stack, f"{stack}/cdk.tf.json", check_id, "name", resource, "failed", 3)


def test_skips_apply_per_stack_and_stale_ones_are_reported() -> None:
    skips = [
        Skip("CKV_GCP_26", ("dev",), "dev uses Google-managed keys by choice"),
        Skip("CKV_GCP_62", ("dev", "prod"), "no access-log bucket yet"),
    ]
    results, stale = apply_skips([_result("dev"), _result("prod"), _result("dev", "CKV_GCP_62")], skips)
    assert [(r.stack, r.check_id, r.status) for r in results] == [
        ("dev", "CKV_GCP_26", "skipped"),
        ("prod", "CKV_GCP_26", "failed"),  # dev's skip does not reach prod
        ("dev", "CKV_GCP_62", "skipped"),
    ]
    assert results[0].reason == "dev uses Google-managed keys by choice"
    assert len(stale) == 1 and "CKV_GCP_62 matched no failure on prod" in stale[0]


def test_skip_limited_to_resources() -> None:
    skip = Skip("CKV_GCP_26", ("dev",), "only the scratch key", ("google_kms_crypto_key.scratch",))
    results, _ = apply_skips(
        [_result("dev"), _result("dev", resource="google_kms_crypto_key.scratch")], [skip]
    )
    assert [r.status for r in results] == ["failed", "skipped"]


def test_cli_counts_per_stack_and_one_line_per_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for stack in ("dev", "prod"):
        (tmp_path / "stacks" / stack).mkdir(parents=True)
        shutil.copy(BAD_BUCKET, tmp_path / "stacks" / stack / "cdk.tf.json")
    skips = _skips_file(
        tmp_path,
        "skips:\n  - {check: CKV_GCP_29, stacks: [dev], reason: fixture - dev tolerates object ACLs}\n"
        "  - {check: CKV2_ACME_3, stacks: [dev], reason: 'fixture - same rule, our own policy'}\n",
    )
    # Our own policies cannot be skipped.
    assert checkov_run.main(["--stacks-dir", str(tmp_path / "stacks"), "--skips", str(skips)]) == 2
    assert "CKV2_ACME_3 is one of our own policies" in capsys.readouterr().err

    skips = _skips_file(
        tmp_path, "skips:\n  - {check: CKV_GCP_29, stacks: [dev], reason: fixture - dev tolerates ACLs}\n"
    )
    code = checkov_run.main(["--stacks-dir", str(tmp_path / "stacks"), "--skips", str(skips), "-v"])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    dev = next(line for line in lines if line.startswith("dev: "))
    prod = next(line for line in lines if line.startswith("prod: "))
    assert ", 1 skipped" in dev and ", 0 skipped" in prod
    assert (
        "skipped dev CKV_GCP_29 google_storage_bucket.no_uniform_access: fixture - dev tolerates ACLs"
        in lines
    )
    prod_file = f"{tmp_path / 'stacks' / 'prod' / 'cdk.tf.json'}:"
    failure = next(line for line in lines if line.startswith("FAILED CKV_GCP_29 "))
    assert failure.startswith(f"FAILED CKV_GCP_29 google_storage_bucket.no_uniform_access ({prod_file}")
    assert not any(line.startswith("FAILED CKV_GCP_29") and "/dev/" in line for line in lines)


def test_cli_without_stacks_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert checkov_run.main(["--stacks-dir", str(tmp_path)]) == 2
    assert "no */cdk.tf.json: run `make synth` first" in capsys.readouterr().err


def test_a_broken_custom_policy_fails_the_run(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(checkov_run.POLICY_DIR, policies, ignore=shutil.ignore_patterns("__pycache__"))
    policy = policies / "bucket_uniform_private.yaml"
    policy.write_text(
        policy.read_text(encoding="utf-8").replace("  category:", "  kategorie:"), encoding="utf-8"
    )
    report = checkov_run.check_stacks({"fw": BAD_BUCKET}, skips=[], policy_dir=policies)
    assert not report.ok
    assert any("checkov dropped a custom policy" in p for p in report.problems)
    assert any(
        "CKV2_ACME_3 gave no verdict on google_storage_bucket.no_uniform_access" in p for p in report.problems
    )


def test_a_crashing_custom_policy_fails_the_run(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(checkov_run.POLICY_DIR, policies, ignore=shutil.ignore_patterns("__pycache__"))
    check = policies / "acme_required_labels.py"
    text = check.read_text(encoding="utf-8")
    check.write_text(
        text.replace("        argument = LABEL_ARGUMENT[resource_type]", "        raise KeyError('boom')")
    )
    report = checkov_run.check_stacks({"fw": BAD_BUCKET}, skips=[], policy_dir=policies)
    assert not report.ok
    assert report.problems == [
        "checkov error: Failed to run check CKV_ACME_2 on "
        "/cdk.tf.json:google_storage_bucket.no_uniform_access: KeyError: 'boom'"
    ]


def test_encryption_key_checks_cannot_be_skipped_where_cmek_is_on() -> None:
    name = "Ensure Big Query Datasets are encrypted with Customer Supplied Encryption Keys (CSEK)"
    results = [
        Result(stack, f"{stack}/cdk.tf.json", "CKV_GCP_81", name, "google_bigquery_dataset.raw", "failed", 9)
        for stack in ("dev", "prod")
    ]
    skip = Skip("CKV_GCP_81", ("dev", "prod"), "no keys anywhere, to save money")
    skipped, _ = apply_skips(results, [skip])
    assert checkov_run.cmek_stacks() == {"staging", "prod"}
    assert checkov_run.encryption_skips(skipped, checkov_run.cmek_stacks()) == [
        f"policies/skips.yaml: CKV_GCP_81 ({name}) cannot be skipped on prod: "
        "environments/prod.yaml enables CMEK"
    ]


def test_a_report_of_the_same_inputs_is_read_from_the_cache_and_a_change_is_scanned(tmp_path: Path) -> None:
    from platform_model.cache import BuildCache

    cache = BuildCache(tmp_path / "cache")
    stack = tmp_path / "stacks" / "fw" / "cdk.tf.json"
    stack.parent.mkdir(parents=True)
    shutil.copy(BAD_BUCKET, stack)
    scanned, problems = run_checkov({"fw": stack}, cache=cache)
    assert problems == [] and _statuses(scanned, "CKV_GCP_29") == {
        "google_storage_bucket.no_uniform_access": "failed"
    }
    (entry,) = (tmp_path / "cache" / "checkov").glob("*.json")
    # What is kept is what is read: a doctored report under the same key shows through (and is not rescanned).
    kept = json.loads(entry.read_text())
    kept["stdout"] = kept["stdout"].replace('"CKV_GCP_29"', '"CKV_GCP_999"')
    entry.write_text(json.dumps(kept))
    again, _ = run_checkov({"fw": stack}, cache=cache)
    assert _statuses(again, "CKV_GCP_29") == {} and _statuses(again, "CKV_GCP_999")
    # A JSON answer with no report object in it is reported as an empty scan, not a crash.
    entry.write_text(json.dumps({**kept, "returncode": 0, "stdout": '[1, "x", null]'}))
    nothing, problems = run_checkov({"fw": stack}, cache=cache)
    assert nothing == [] and problems == ["checkov reported nothing at all (no stack file was scanned)"]
    # Another stack file, policy or checkov is another key: the changed stack is scanned.
    stack.write_text(stack.read_text().replace("no_uniform_access", "renamed_bucket"))
    changed, _ = run_checkov({"fw": stack}, cache=cache)
    assert _statuses(changed, "CKV_GCP_29") == {"google_storage_bucket.renamed_bucket": "failed"}
    assert len(list((tmp_path / "cache" / "checkov").glob("*.json"))) == 2
