"""Airflow DAGs of the `customers` domain (`customers_daily`, `customers_freshness` when it declares one).

Built by the DAG library from the domain's entry in the runtime config beside this file; see
`pipelines.factory`. A new domain's DAG file is a copy of this one with the domain's name in place
of "customers". Without a runtime config, or in an environment that switches the domain off, it declares
no DAG and logs why.
"""

# Named at the top so Airflow's DAG processor imports the Google provider once, in its long-lived
# parent ([dag_processor] parsing_pre_import_modules), not in every parse of this file (~1 s).
import airflow.providers.google.cloud.operators.dataproc  # noqa: F401
from pipelines.factory import declare

globals().update(declare("customers", __file__))
