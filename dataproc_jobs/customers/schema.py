"""The customers job's contract (`domains/customers.yaml`, see `dataproc_jobs.common.contract`) and
reference values."""

from __future__ import annotations

from dataproc_jobs.common.contract import load

CONTRACT = load(__package__)

# Reasons a change is kept aside instead of staged (the contract's `rejects.reason`).
REJECT_REASONS = ("malformed", "late")

SEGMENTS = ("consumer", "business", "vip")
BOOLEANS = {"true": True, "false": False}
