"""What every Spark job shares: its command line, run window, I/O, PII hashing and the run itself.

Shipped inside each job package's zip, so it names no domain: a job package (`dataproc_jobs/<package>/`)
brings its schema and its transform and hands them to `dataproc_jobs.common.job.run`.
"""
