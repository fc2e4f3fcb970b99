"""Inside the probe process of `bench.dag_parse`: parse DAG files with Airflow's DagBag, as its DAG
processor does, and print the times as one JSON object.

    python -m bench.dag_probe DAG_FOLDER REPEATS FILE [FILE ...]

The DAG processor imports the `airflow.*` modules that DAG files import at top level once, in its
long-lived manager ([dag_processor] parsing_pre_import_modules, on by default), then parses each file
in a forked child. So does this probe: pre-import, then per repetition fork a child that runs
`DagBag.process_file` on the file and reports the seconds it took (where `fork` is missing, the file is
parsed again in this process, which is optimistic: its own imports are cached after the first parse).
The DagBag class and the pre-import are `composer.dag_check`'s, the repo's one DagBag loader.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from composer.dag_check import dagbag_class, pre_import


def parse_once(bag: Any, file: Path) -> dict[str, Any]:
    """Parse `file` once with `bag`: seconds, DAG ids found and import errors."""
    bag.import_errors.clear()
    started = time.perf_counter()
    dags = bag.process_file(str(file), only_if_updated=False)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "dags": sorted(d.dag_id for d in dags),
        "errors": {str(k): str(v).strip().splitlines()[-1:] for k, v in bag.import_errors.items()},
    }


def parse_forked(bag: Any, file: Path) -> dict[str, Any]:
    """`parse_once` in a forked child (a fresh copy of this pre-imported process, like the DAG processor)."""
    if not hasattr(os, "fork"):
        return parse_once(bag, file)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: parse, report, leave without running the parent's exit handlers
        os.close(read_fd)
        try:
            payload = json.dumps(parse_once(bag, file)).encode()
        except BaseException as exc:  # reported, never raised in the child
            payload = json.dumps({"seconds": -1.0, "dags": [], "errors": {str(file): [repr(exc)]}}).encode()
        with os.fdopen(write_fd, "wb") as out:
            out.write(payload)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as src:
        data = src.read()
    os.waitpid(pid, 0)
    result: dict[str, Any] = json.loads(data)
    return result


def main(argv: list[str] | None = None) -> int:
    """Parse each FILE REPEATS times; print {"pre_import_seconds": s, "files": {name: [runs]}}."""
    args = sys.argv[1:] if argv is None else argv
    folder, repeats, files = Path(args[0]), int(args[1]), [Path(a) for a in args[2:]]
    # The DAG folder is on sys.path, as Airflow's bundle loader and Composer put it.
    sys.path.insert(0, str(folder))
    seconds = pre_import(files)
    bag = dagbag_class()(dag_folder=str(folder), collect_dags=False)
    result = {
        "pre_import_seconds": seconds,
        "files": {f.name: [parse_forked(bag, f) for _ in range(repeats)] for f in files},
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
