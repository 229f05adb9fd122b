"""Testing kit for host applications: a scripted fake gateway (and, via the pytest plugin, fixtures).

fake = FakeGateway()
fake.queue_response(session_body(), headers={"x-request-id": "req_1"})
with container.realtime.gateway.override(fake):
    handler()
assert fake.calls[0].json["voice"] == "marin"

``render_tree(exporter.get_finished_spans())`` shows captured spans as an indented tree (:mod:`.traces`).
"""

from .fake import FakeCall, FakeGateway, session_body
from .traces import render_tree

__all__ = ["FakeCall", "FakeGateway", "render_tree", "session_body"]
