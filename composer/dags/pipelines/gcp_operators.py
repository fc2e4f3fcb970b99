"""Google provider operators with the platform's metrics (imported only when the platform is `gcp`)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from airflow.providers.google.cloud.operators.dataproc import DataprocSubmitJobOperator

from pipelines.metrics import task_metrics


class MeteredDataprocSubmitJobOperator(DataprocSubmitJobOperator):
    """DataprocSubmitJobOperator that, once the job is done, logs the job's metrics as `task_metrics`.

    The job writes its metrics JSON to `metrics_uri` (gs://); this reads it with the GCS hook.
    """

    template_fields: Sequence[str] = (*DataprocSubmitJobOperator.template_fields, "metrics_uri")

    def __init__(self, *, metrics_uri: str, domain: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics_uri = metrics_uri
        self.domain = domain

    def execute(self, context: Any) -> Any:
        """Submit and wait (the parent), then read and log the job's metrics."""
        started = time.monotonic()
        job_id = super().execute(context)
        from airflow.providers.google.cloud.hooks.gcs import GCSHook, _parse_gcs_url

        bucket, name = _parse_gcs_url(self.metrics_uri)
        hook = GCSHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        metrics = json.loads(hook.download(bucket_name=bucket, object_name=name).decode("utf-8"))
        task_metrics(
            context,
            self.domain,
            records_in=metrics["records_in"],
            records_out=metrics["records_out"],
            records_rejected=metrics["records_rejected"],
            duration_seconds=time.monotonic() - started,
        )
        return job_id
