"""Local stand-ins for the two Google control APIs the deployer reads, at the transport boundary only.

`FakeComposerApi` answers the Composer v1 REST call `GET /v1/projects/*/locations/*/environments/*`
with an environment whose `config.dagGcsPrefix` is `gs://<bucket>/dags`; point the deployer at it with
`COMPOSER_API_ENDPOINT=http://127.0.0.1:<port>`. `FakeDataCatalog` is a plaintext gRPC server for
`google.cloud.datacatalog.v1.PolicyTagManager/ListTaxonomies` and `/ListPolicyTags`; point the deployer
at it with `DATACATALOG_API_ENDPOINT=127.0.0.1:<port>`. Both record the requests they served.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class FakeComposerApi:
    """Composer v1 REST: environments by full resource name -> DAG bucket."""

    def __init__(self, environments: dict[str, str]) -> None:
        """`environments`: `projects/p/locations/r/environments/name` -> DAG bucket name."""
        self.environments = dict(environments)
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append(self.path)
                match = re.fullmatch(
                    r"/v1/(projects/[^/]+/locations/[^/]+/environments/[^/?]+)(\?.*)?", self.path
                )
                name = match.group(1) if match else None
                if name is None or name not in fake.environments:
                    self._send(
                        404, {"error": {"code": 404, "message": f"{name} not found", "status": "NOT_FOUND"}}
                    )
                    return
                bucket = fake.environments[name]
                body = {"name": name, "state": "RUNNING", "config": {"dagGcsPrefix": f"gs://{bucket}/dags"}}
                self._send(200, body)

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeComposerApi:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeDataCatalog:
    """PolicyTagManager over plaintext gRPC: taxonomies by parent, with their policy tags."""

    def __init__(self, taxonomies: dict[str, dict[str, list[str]]]) -> None:
        """`taxonomies`: parent (`projects/p/locations/eu`) -> taxonomy display name -> tag display names."""
        import grpc  # type: ignore[import-untyped]
        from google.cloud.datacatalog_v1.types import policytagmanager as ptm

        self.requests: list[str] = []
        self._by_parent: dict[str, list[Any]] = {}
        self._tags: dict[str, list[Any]] = {}
        for parent, taxa in taxonomies.items():
            for i, (display, tags) in enumerate(sorted(taxa.items())):
                name = f"{parent}/taxonomies/{1000 + i}"
                self._by_parent.setdefault(parent, []).append(ptm.Taxonomy(name=name, display_name=display))
                self._tags[name] = [
                    ptm.PolicyTag(name=f"{name}/policyTags/{2000 + j}", display_name=tag)
                    for j, tag in enumerate(tags)
                ]

        def list_taxonomies(raw: bytes, _context: Any) -> bytes:
            request = ptm.ListTaxonomiesRequest.deserialize(raw)
            self.requests.append(f"ListTaxonomies {request.parent}")
            response = ptm.ListTaxonomiesResponse(taxonomies=self._by_parent.get(request.parent, []))
            return bytes(ptm.ListTaxonomiesResponse.serialize(response))

        def list_policy_tags(raw: bytes, _context: Any) -> bytes:
            request = ptm.ListPolicyTagsRequest.deserialize(raw)
            self.requests.append(f"ListPolicyTags {request.parent}")
            response = ptm.ListPolicyTagsResponse(policy_tags=self._tags.get(request.parent, []))
            return bytes(ptm.ListPolicyTagsResponse.serialize(response))

        from concurrent.futures import ThreadPoolExecutor

        handler = grpc.method_handlers_generic_handler(
            "google.cloud.datacatalog.v1.PolicyTagManager",
            {
                "ListTaxonomies": grpc.unary_unary_rpc_method_handler(list_taxonomies),
                "ListPolicyTags": grpc.unary_unary_rpc_method_handler(list_policy_tags),
            },
        )
        self.server = grpc.server(ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers((handler,))
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{port}"

    def __enter__(self) -> FakeDataCatalog:
        self.server.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.stop(grace=None)
