"""PySpark jobs for Dataproc, importable as a package and built into shippable artifacts.

Each domain's job package (`dataproc_jobs/<package>/`, shipped as `<package>.zip` with the shared
`dataproc_jobs.common`) holds its schema and transform; `dataproc_jobs/entrypoints/<job>.py` are the
entry points; `dataproc_jobs.build` builds the release artifacts from the domain declarations;
`dataproc_jobs.sample_data` writes raw events for local runs with each domain's `sample` module.
"""
