"""`ref(resource, attribute)`: a resource's attribute (a token such as `${google_x.y.name}`), read once.

Every read of a resource attribute is a round trip to the jsii kernel (Node), and the answer never
changes: a bucket's `name` granted on ten times costs ten round trips. `ref` keeps the first answer on
the resource, so constructs that refer to the same attribute again (grants, alerts, outputs) pay once.
"""

from __future__ import annotations

from typing import Any

_SLOT = "_infra_refs"


def ref(resource: object, attribute: str) -> Any:
    """`getattr(resource, attribute)`, asked of jsii the first time only."""
    known: dict[str, Any] = resource.__dict__.setdefault(_SLOT, {})
    if attribute not in known:
        known[attribute] = getattr(resource, attribute)
    return known[attribute]
