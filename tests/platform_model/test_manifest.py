"""The Composer bucket's DAG files, and the order in which a bucket's files become visible."""

from __future__ import annotations

from platform_model.manifest import dag_files_last, is_dag_file


def test_a_dag_file_is_a_python_file_directly_in_dags() -> None:
    assert is_dag_file("dags/orders.py")
    assert not is_dag_file("dags/pipelines/factory.py")  # the library a DAG file imports
    assert not is_dag_file("dags/runtime_config.json") and not is_dag_file("dags/.airflowignore")
    assert not is_dag_file("data/dbt/x/models/a.py") and not is_dag_file("orders.py")


def test_dag_files_come_last() -> None:
    names = ["dags/b.py", "dags/pipelines/runtime.py", "dags/a.py", "dags/runtime_config.json", "data/x.sql"]
    assert dag_files_last(names) == [
        "dags/pipelines/runtime.py",
        "dags/runtime_config.json",
        "data/x.sql",
        "dags/a.py",
        "dags/b.py",
    ]
