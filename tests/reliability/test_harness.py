"""The suite's own parts can fail: the invariants catch a lost file and a dangling reference, and the
fault proxy fails exactly what it is told to."""

from __future__ import annotations

from pathlib import Path

import requests

from deployer.emulator import Emulator
from tests.doubles.faultproxy import FaultProxy
from tests.reliability.harness import World


def test_invariants_catch_what_they_promise(gcs_emulator: Emulator, tmp_path: Path) -> None:
    world = World.create(gcs_emulator.url, tmp_path, n_releases=2)
    world.publish_all()
    r0, r1 = world.releases
    assert world.run(world.promote_args("local", r0)).code == 0
    assert world.run(world.promote_args("local", r1)).code == 0
    check = {"previous": r0, "target": r1, "ever_live": {r0, r1}, "converged": True}
    assert world.invariants("local", **check) == []  # type: ignore[arg-type]

    b = world.buckets("local")
    archived = sorted(world.listing(b["artifacts"], "archive/"))
    assert archived, "r0 -> r1 archives DAGs"
    world.client.bucket(b["artifacts"]).blob(archived[0]).delete()
    problems = world.invariants("local", **check)  # type: ignore[arg-type]
    assert any("gone without an archived copy" in p for p in problems), problems

    zip_name = f"jobs/{world.manifest(r1).components['jobs']}/orders.zip"
    world.client.bucket(b["artifacts"]).blob(zip_name).delete()
    problems = world.invariants("local", **check)  # type: ignore[arg-type]
    assert any("runtime config references missing" in p for p in problems), problems
    assert any(f"state names {r1} but its" in p for p in problems), problems

    world.client.bucket(b["composer"]).blob("dags/extra.py").upload_from_string(b"x = 1\n")
    problems = world.invariants("local", **check)  # type: ignore[arg-type]
    assert any("dags/ is not" in p for p in problems), problems


def test_fault_proxy_fails_then_passes(gcs_emulator: Emulator) -> None:
    url = "/storage/v1/b?project=p"
    with FaultProxy(gcs_emulator.url) as proxy:
        proxy.fail(status=503, count=2, after=1)
        codes = [requests.get(proxy.url + url, timeout=5).status_code for _ in range(5)]
        assert codes == [200, 503, 503, 200, 200]
        proxy.fail(status=429)
        assert {requests.get(proxy.url + url, timeout=5).status_code for _ in range(3)} == {429}
        proxy.clear()
        assert requests.get(proxy.url + url, timeout=5).status_code == 200
        figures = proxy.figures()
        assert (figures.requests, figures.failed) == (9, 5)
