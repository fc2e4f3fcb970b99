"""Column lists and reference values of the customers job.

The column names and types mirror `domains/customers.yaml` (`event`, `staging`, `rejects`); a test
keeps them equal. They are repeated here because the job runs on Dataproc from a zip, without the
repository.
"""

from __future__ import annotations

# domains/customers.yaml `event`: (name, BigQuery type, required)
EVENT_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("event_id", "STRING", True),
    ("customer_id", "STRING", True),
    ("email", "STRING", False),
    ("full_name", "STRING", False),
    ("street_address", "STRING", False),
    ("postal_code", "STRING", False),
    ("country", "STRING", False),
    ("segment", "STRING", True),
    ("marketing_opt_in", "BOOL", True),
    ("updated_at", "TIMESTAMP", True),
)

# domains/customers.yaml `staging`
STAGING_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("event_id", "STRING", True),
    ("customer_id", "STRING", True),
    ("email_hash", "STRING", False),
    ("full_name", "STRING", False),
    ("street_address", "STRING", False),
    ("postal_code", "STRING", False),
    ("country", "STRING", False),
    ("segment", "STRING", True),
    ("marketing_opt_in", "BOOL", True),
    ("updated_at", "TIMESTAMP", True),
    ("event_date", "DATE", True),
)
STAGING_PARTITION = "event_date"

# domains/customers.yaml `rejects`
REJECTS_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("processing_date", "DATE", True),
    ("reason", "STRING", True),
    ("detail", "STRING", True),
    ("event_id", "STRING", False),
    ("record", "STRING", False),
)
REJECTS_PARTITION = "processing_date"

# Reasons a change is kept aside instead of staged (the contract's `rejects.reason`).
REJECT_REASONS = ("malformed", "late")

SEGMENTS = ("consumer", "business", "vip")
BOOLEANS = {"true": True, "false": False}
