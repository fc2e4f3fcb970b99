"""Shared code of the orders DAGs (not DAG files: `.airflowignore` keeps the DAG processor out of here).

The DAG files stay thin: they read the runtime config (`runtime`) and build their DAG through
`factory`. Heavy libraries (pyspark, dbt, great_expectations, Google clients) are imported inside the
task functions only, so parsing a DAG file stays cheap.
"""
