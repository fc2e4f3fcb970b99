"""PySpark jobs for Dataproc, importable as a package and built into shippable artifacts.

`dataproc_jobs.orders` is the daily orders job (shipped as a zip); `dataproc_jobs.build` builds the
release artifacts (entry point, zip, jar, jobs.json); `dataproc_jobs.sample_data` writes raw events for
local runs.
"""
