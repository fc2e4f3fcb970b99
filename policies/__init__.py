"""Policies that guard the platform.

- `policies/checkov/`: custom checkov policies (YAML where a rule is a plain attribute or connection
  test, Python where it needs the provider schema, CIDR arithmetic or more than one resource).
- `policies.checkov_run`: checkov (built-in + custom) on every synthesized stack, with the per-stack
  skips of `policies/skips.yaml`.
- `policies.crosslayer`: checks that span the layers, for every domain of a release (PII tags, Spark
  artifacts, GX suites, dbt selectors, contract evolution, schemas against the stacks).
- `policies.code_scan`: detect-secrets against `.secrets.baseline`, and bandit.
"""
