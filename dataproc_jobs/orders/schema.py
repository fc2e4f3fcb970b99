"""Column lists and reference data of the orders job.

The column names and types mirror `domains/orders.yaml` (`event`, `staging`, `rejects`); a test keeps
them equal. They are repeated here because the job runs on Dataproc from a zip, without the repository.
"""

from __future__ import annotations

from decimal import Decimal

# domains/orders.yaml `event`: (name, BigQuery type, required)
EVENT_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("event_id", "STRING", True),
    ("order_id", "STRING", True),
    ("customer_id", "STRING", True),
    ("customer_email", "STRING", False),
    ("customer_name", "STRING", False),
    ("shipping_country", "STRING", False),
    ("status", "STRING", True),
    ("amount_cents", "INT64", True),
    ("currency", "STRING", True),
    ("event_time", "TIMESTAMP", True),
)

# domains/orders.yaml `staging`
STAGING_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("event_id", "STRING", True),
    ("order_id", "STRING", True),
    ("customer_id", "STRING", True),
    ("customer_email_hash", "STRING", False),
    ("customer_name", "STRING", False),
    ("shipping_country", "STRING", False),
    ("status", "STRING", True),
    ("amount_cents", "INT64", True),
    ("currency", "STRING", True),
    ("amount_eur", "NUMERIC", True),
    ("event_time", "TIMESTAMP", True),
    ("event_date", "DATE", True),
)
STAGING_PARTITION = "event_date"

# domains/orders.yaml `rejects`
REJECTS_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("processing_date", "DATE", True),
    ("reason", "STRING", True),
    ("detail", "STRING", True),
    ("event_id", "STRING", False),
    ("record", "STRING", False),
)
REJECTS_PARTITION = "processing_date"

# Reasons a record is kept aside instead of staged.
MALFORMED = "malformed"
LATE = "late"
SUPERSEDED = "superseded"
REJECT_REASONS = (MALFORMED, LATE, SUPERSEDED)

# Order lifecycle: when two versions of an event share an event_time, the later status wins.
STATUS_RANK: dict[str, int] = {"created": 1, "paid": 2, "cancelled": 3, "refunded": 4}

# Reference rates to EUR (units of EUR per unit of the currency). A currency not listed is malformed.
FX_TO_EUR: dict[str, Decimal] = {
    "EUR": Decimal("1"),
    "USD": Decimal("0.92"),
    "GBP": Decimal("1.17"),
    "CHF": Decimal("1.05"),
    "SEK": Decimal("0.088"),
    "DKK": Decimal("0.134"),
    "PLN": Decimal("0.23"),
}

# NUMERIC in BigQuery is DECIMAL(38, 9).
NUMERIC_PRECISION = 38
NUMERIC_SCALE = 9
