"""Testing kit for host applications: a scripted fake gateway (and, via the pytest plugin, fixtures).

fake = FakeGateway()
fake.queue_response(session_body(), headers={"x-request-id": "req_1"})
with container.realtime.gateway.override(fake):
    handler()
assert fake.calls[0].json["voice"] == "marin"
"""

from .fake import FakeCall, FakeGateway, session_body

__all__ = ["FakeCall", "FakeGateway", "session_body"]
