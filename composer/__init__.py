"""Cloud Composer side of the pipeline: `dags/` (shipped to the DAG bucket) and local run tooling."""
