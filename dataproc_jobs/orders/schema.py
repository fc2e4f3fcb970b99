"""The orders job's contract (`domains/orders.yaml`, see `dataproc_jobs.common.contract`) and
reference data."""

from __future__ import annotations

from decimal import Decimal

from dataproc_jobs.common.contract import load

CONTRACT = load(__package__)

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
