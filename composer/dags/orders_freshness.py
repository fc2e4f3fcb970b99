"""Airflow DAG `orders_freshness`: every 15 minutes, the lag of the newest raw order event.

Fails (and alerts) when the lag exceeds the runtime config's `freshness_target_seconds`. Without a
runtime config beside this file it declares no DAG and logs why.
"""

from pathlib import Path

from orders_platform.factory import orders_freshness_dag
from orders_platform.runtime import load_for_dag

config = load_for_dag(__file__)
if config is not None:
    dag = orders_freshness_dag(config, Path(__file__).resolve().parent)
