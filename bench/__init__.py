"""Benchmarks (GitHub issue 8), each with its baseline measured in the same run, printed as one table.

    python -m bench                  # or `make bench`: synth, promotion at scale, DAG parse time
    python -m bench --sizes 100,1000 --only promotion
    python -m bench --with-suite     # also where `make test`'s time goes (runs the whole suite once)

Modules: `synth` (provider import + assembly load vs cold vs warm synth, and cold synth with N
domains), `promotion` (releases of 100 to 5,000 files against the GCS emulator, directly and through
`proxy.LatencyProxy`), `dag_parse` (DagBag parse time per DAG file, top imports), `suite` (`make test`
step times, slowest tests), `table` (figures and the table). Speed targets live here, never in timed
tests; `tests/bench` runs a smoke version of each on tiny sizes.
"""
