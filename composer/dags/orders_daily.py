"""Airflow DAG `orders_daily`: Spark clean -> dbt build -> GX validation, one run per UTC day.

Thin on purpose: the runtime config beside this file says where the release's artifacts are and which
platform runs them; `orders_platform.factory` builds the tasks. Without a runtime config (a checkout,
not a promoted release) this file declares no DAG and logs why.
"""

from pathlib import Path

# Named at the top so Airflow's DAG processor imports the Google provider once, in its long-lived
# parent ([dag_processor] parsing_pre_import_modules), not in every parse of this file (~1 s).
import airflow.providers.google.cloud.operators.dataproc  # noqa: F401
from orders_platform.factory import orders_daily_dag
from orders_platform.runtime import load_for_dag

config = load_for_dag(__file__)
if config is not None:
    dag = orders_daily_dag(config, Path(__file__).resolve().parent)
