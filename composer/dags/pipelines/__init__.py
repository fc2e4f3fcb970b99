"""The DAG library: builds every domain's DAGs from its entry in the runtime config (not DAG files:
`.airflowignore` keeps the DAG processor out of here).

A domain's DAG file (`composer/dags/<domain>.py`) is a few lines that call `factory.declare`; this
package never names a domain. Heavy libraries (pyspark, dbt, great_expectations, Google clients) are
imported inside the task functions only, so parsing a DAG file stays cheap.
"""
