"""Failure alerting: the `on_failure_callback` of every task of the platform's DAGs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pipelines.metrics import emit

log = logging.getLogger(__name__)


def failure_alert(emails: list[str], env: str, domain: str) -> Callable[[Any], None]:
    """A callback that logs one `alert` line and e-mails `emails` when Airflow can send mail.

    On Composer the e-mail goes through the environment's configured backend (e.g. SendGrid); where
    no mail server answers, the failure to send is logged and swallowed, never raised: an alert
    must not hide the task's own error.
    """

    def on_failure(context: Any) -> None:
        ti = context.get("ti")
        exception = context.get("exception")
        line = emit(
            "alert",
            severity="ERROR",
            env=env,
            domain=domain,
            dag_id=getattr(ti, "dag_id", None),
            task_id=getattr(ti, "task_id", None),
            run_id=context.get("run_id"),
            logical_date=str(context.get("logical_date")),
            try_number=getattr(ti, "try_number", None),
            error=f"{type(exception).__name__}: {exception}" if exception else None,
            email_recipients=len(emails),
        )
        if not emails:
            return
        subject = f"[{env}] {line['dag_id']}.{line['task_id']} failed for {line['logical_date']}"
        body = "<br>".join(f"<b>{k}</b>: {v}" for k, v in line.items())
        try:
            from airflow.utils.email import send_email

            send_email(to=emails, subject=subject, html_content=body)
        except Exception as exc:  # mail is best effort: the alert line above is the record
            log.warning("alert e-mail to %s not sent: %s: %s", ", ".join(emails), type(exc).__name__, exc)

    return on_failure
