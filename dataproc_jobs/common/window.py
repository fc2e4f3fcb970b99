"""The window of days a run owns and reads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class RunWindow:
    """The processing date and the lateness window of a run."""

    processing_date: dt.date
    lateness_days: int

    @property
    def start(self) -> dt.date:
        """First event day the run owns."""
        return self.processing_date - dt.timedelta(days=self.lateness_days)

    @property
    def read_to(self) -> dt.date:
        """Last ingest day that can hold on-time records for the window (later days exist in backfills)."""
        return self.processing_date + dt.timedelta(days=self.lateness_days)

    def days(self) -> list[dt.date]:
        """Every event day the run owns, oldest first."""
        return [self.start + dt.timedelta(days=i) for i in range(self.lateness_days + 1)]
