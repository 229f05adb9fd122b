"""SIP call control over loopback against the emulator: every operation and its ``a``-twin, the body the
emulator records, validation before sending, the id patterns, the UNSENT_ONLY retry rule branch by branch, and
Azure (reject only)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_service.config import load_settings
from realtime_service.containers import RealtimeContainer
from realtime_service.emulator import CallRecord, Emulator
from realtime_service.emulator.faults import Fault
from realtime_service.errors import (
    APIConnectionError,
    BadRequestError,
    ConfigurationError,
    InternalServerError,
    NotFoundError,
    RequestValidationError,
)
from realtime_service.live.models import AudioConfig, AudioOutput, LiveSessionConfig
from realtime_service.retry import RetryPolicy, RetryRule
from realtime_service.service import RealtimeSessionService, call_control
from realtime_service.service.call_control import CALL_ID, SESSION_ID, CallControlResult
from realtime_service.service.operations import Operation
from realtime_service.transport.gateway import HttpGateway

SESSION = {
    "type": "realtime",
    "model": "gpt-realtime-2.1",
    "instructions": "You answer the phone for Example Ltd.",
    "audio": {"output": {"voice": "marin"}, "input": {"turn_detection": {"type": "server_vad"}}},
}
LIVE = {"type": "live", "model": "gpt-live-1", "instructions": "Hi.", "audio": {"output": {"voice": "marin"}}}
T = TypeVar("T")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def service_for(emulator: Emulator, **config: Any) -> RealtimeSessionService:
    container = RealtimeContainer(environ={})
    container.config.from_dict({"api_key": emulator.api_key, "base_url": emulator.base_url, **config})
    container.sleep.override(lambda _s: None)

    async def asleep(_s: float) -> None:
        return None

    container.asleep.override(asleep)
    service: RealtimeSessionService = container.realtime_session_service()
    return service


def pending(emulator: Emulator, api: str = "realtime") -> str:
    ident = ("live_" if api == "live" else "rtc_") + f"{time.monotonic_ns():x}"
    emulator.calls.add(CallRecord(id=ident, api=api, transport="sip", state="pending", created_at=time.time()))  # type: ignore[arg-type]
    return ident


CASES = [
    ("accept_call", "realtime", SESSION, "accept", SESSION, "accepted"),
    ("reject_call", "realtime", None, "reject", {}, "rejected"),
    ("reject_call", "realtime", 486, "reject", {"status_code": 486}, "rejected"),
    ("refer_call", "realtime", "tel:+14155550123", "refer", {"target_uri": "tel:+14155550123"}, "referred"),
    ("accept_live_session", "live", LIVE, "accept", {"session": LIVE}, "accepted"),
    ("reject_live_session", "live", 603, "reject", {"status_code": 603}, "rejected"),
    ("refer_live_session", "live", "sip:a@example.com", "refer", {"target_uri": "sip:a@example.com"}, "referred"),
]


@pytest.mark.parametrize(("name", "api", "argument", "action", "body", "state"), CASES)
@pytest.mark.parametrize("asynchronous", [False, True])
def test_each_operation_reaches_the_emulator_with_its_body(
    emu: Emulator, name: str, api: str, argument: Any, action: str, body: Any, state: str, asynchronous: bool
) -> None:
    ident = pending(emu, api)
    service = service_for(emu)
    if asynchronous:
        result = asyncio.run(getattr(service, "a" + name)(ident, argument))
    else:
        result = getattr(service, name)(ident, argument)
    assert isinstance(result, CallControlResult)
    assert result.status_code == 200
    assert result.request_id
    record = emu.calls.get(ident)
    assert record is not None
    assert record.state == state
    assert [(d.action, d.body) for d in record.decisions] == [(action, body)]
    family = "live/sessions" if api == "live" else "realtime/calls"
    assert [r.path for r in emu.requests] == [f"/v1/{family}/{ident}/{action}"]


def test_a_live_accept_takes_the_dataclass_a_create_takes(emu: Emulator) -> None:
    ident = pending(emu, "live")
    config = LiveSessionConfig(
        model="gpt-live-1", instructions="Hi.", audio=AudioConfig(output=AudioOutput(voice="marin"))
    )
    assert service_for(emu).accept_live_session(ident, config).status_code == 200
    assert emu.requests[-1].json == {"session": LIVE}
    assert emu.calls.get(ident).state == "accepted"  # type: ignore[union-attr]


def test_reject_without_a_status_sends_an_empty_object_so_the_api_default_applies(emu: Emulator) -> None:
    ident = pending(emu)
    service_for(emu).reject_call(ident)
    assert emu.requests[-1].body == b"{}"


@pytest.mark.parametrize(
    ("name", "argument", "field"),
    [
        ("accept_call", {"type": "realtime", "modle": "gpt-realtime-2.1"}, "session.modle"),
        ("accept_call", {"type": "realtime", "audio": {"output": {"speed": 9}}}, "session.audio.output.speed"),
        ("accept_call", {"model": "gpt-realtime-2.1"}, "session.type"),
        ("accept_call", {"type": "transcription"}, "session.type"),
        ("accept_call", {"type": "live", "model": "gpt-live-1"}, "session.type"),
        ("accept_call", "not a session", "session"),
        ("reject_call", 200, "status_code"),
        ("reject_call", 700, "status_code"),
        ("reject_call", True, "status_code"),
        ("reject_call", "486", "status_code"),
        ("refer_call", "https://example.com", "target_uri"),
        ("refer_call", "tel:+1415\r\nX-Evil: 1", "target_uri"),
        ("refer_call", "", "target_uri"),
        # Each of these passed the old ASCII-only check and was sent (issue 20): the characters sit in a tel or SIP
        # parameter, which the grammar checks do not look into.
        ("refer_call", "tel:+14155550123;ext=1\u0085X-Evil:1", "target_uri"),  # NEL: a line end to some stacks
        ("refer_call", "sip:agent@example.com;x=\u00a0", "target_uri"),  # no-break space
        ("refer_call", "sip:agent@example.com;x=1\u2028X-Evil:1", "target_uri"),  # line separator
        ("refer_call", "sip:agent@example.com;x=\u009b31m", "target_uri"),  # C1 CSI: a terminal's escape
        ("refer_call", "sip:agent@example.com;x=\u00eb", "target_uri"),  # non-ASCII: SIP percent-encodes it
        ("refer_call", "sip:agent@example.com;x=\u3000", "target_uri"),  # ideographic space
        ("refer_live_session", "tel:+14155550123;ext=\u0085", "target_uri"),
        ("refer_live_session", "sip:a@example.com;x=\u2029", "target_uri"),
        ("accept_live_session", {"type": "live"}, "session.model"),
        ("accept_live_session", {"type": "realtime", "model": "gpt-live-1"}, "session.type"),
        ("accept_live_session", {**LIVE, "output_modalities": ["audio"]}, "session.output_modalities"),
        ("accept_live_session", {**LIVE, "audio": {"format": {"type": "audio/pcmu"}}}, "session.audio.format"),
        ("accept_live_session", {**LIVE, "store": 1}, "session.store"),
        ("accept_live_session", {**LIVE, "delegation": {"type": "robots"}}, "session.delegation.type"),
        # the create's schema, to the innermost field, and the accept's own rules (issue 22: one Live schema)
        ("accept_live_session", {**LIVE, "idle_timeout_s": 30}, "session.idle_timeout_s"),
        ("accept_live_session", {**LIVE, "client": {"data_channel": {}}}, "session.client"),
        ("accept_live_session", {**LIVE, "audio": {"output": {"voice": ""}}}, "session.audio.output.voice"),
        (
            "accept_live_session",
            {**LIVE, "delegation": {"type": "decisions", "decisions": {"questions": []}}},
            "session.delegation.decisions.model",
        ),
        ("reject_live_session", None, "status_code"),
        ("reject_live_session", 299, "status_code"),
        ("refer_live_session", "mailto:a@example.com", "target_uri"),
    ],
)
def test_a_bad_argument_is_refused_naming_its_field_and_nothing_is_sent(
    emu: Emulator, name: str, argument: Any, field: str
) -> None:
    ident = pending(emu, "live" if "live" in name else "realtime")
    with pytest.raises(RequestValidationError) as caught:
        getattr(service_for(emu), name)(ident, argument)
    assert field in caught.value.fields
    assert emu.requests == []
    assert emu.calls.get(ident).state == "pending"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "ident"),
    [
        ("accept_call", "live_abc"),
        ("accept_call", "rtc_../../realtime/client_secrets"),
        ("reject_call", "rtc_a/b"),
        ("refer_call", "rtc_a%2fb"),
        ("accept_live_session", "rtc_abc"),
        ("reject_live_session", "live_a?x=1"),
        ("refer_live_session", ""),
    ],
)
def test_an_id_outside_its_pattern_is_refused_before_sending(emu: Emulator, name: str, ident: str) -> None:
    argument = {"accept_call": SESSION, "accept_live_session": LIVE}.get(name, 486 if "reject" in name else "tel:+1")
    with pytest.raises(RequestValidationError) as caught:
        getattr(service_for(emu), name)(ident, argument)
    assert caught.value.fields == ["session_id" if "live" in name else "call_id"]
    assert emu.requests == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=140))
def test_the_id_patterns_never_admit_a_path_character(value: str) -> None:
    for pattern in (CALL_ID, SESSION_ID):
        if pattern.fullmatch(value):
            assert not set(value) & set("/?#%.\\ \r\n\t")


def test_an_unknown_call_is_the_apis_404(emu: Emulator) -> None:
    with pytest.raises(NotFoundError) as caught:
        service_for(emu).accept_call("rtc_nosuchcall", SESSION)
    assert caught.value.code == "call_id_not_found"


def test_a_second_decision_is_the_apis_error_not_a_second_accept(emu: Emulator) -> None:
    ident = pending(emu)
    service = service_for(emu)
    service.accept_call(ident, SESSION)
    with pytest.raises(BadRequestError) as caught:
        service.accept_call(ident, SESSION)
    assert caught.value.code == "invalid_call_state"
    assert [d.action for d in emu.calls.get(ident).decisions] == ["accept"]  # type: ignore[union-attr]


# -- the retry rule: UNSENT_ONLY for all six ------------------------------------------------------------------


@pytest.mark.parametrize("status", [503, 429])
@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_request_that_was_not_processed_is_sent_again(emu: Emulator, status: int, asynchronous: bool) -> None:
    ident = pending(emu)
    emu.enqueue(Fault.status(status))
    service = service_for(emu)
    if asynchronous:
        asyncio.run(service.aaccept_call(ident, SESSION))
    else:
        service.accept_call(ident, SESSION)
    assert len(emu.requests) == 2
    assert emu.calls.get(ident).state == "accepted"  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [500, 502, 504])
@pytest.mark.parametrize("name", ["accept_call", "reject_call", "refer_call"])
def test_a_request_whose_outcome_is_unknown_is_not_repeated(emu: Emulator, status: int, name: str) -> None:
    ident = pending(emu)
    emu.enqueue(Fault.status(status))
    argument = {"accept_call": SESSION, "reject_call": 486, "refer_call": "tel:+14155550123"}[name]
    with pytest.raises(InternalServerError):
        getattr(service_for(emu), name)(ident, argument)
    assert len(emu.requests) == 1


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_dropped_answer_is_not_repeated(emu: Emulator, asynchronous: bool) -> None:
    ident = pending(emu, "live")
    emu.enqueue(Fault.drop())
    service = service_for(emu)
    call: Any = (
        (lambda: asyncio.run(service.aaccept_live_session(ident, LIVE)))
        if asynchronous
        else (lambda: service.accept_live_session(ident, LIVE))
    )
    with pytest.raises(APIConnectionError) as caught:
        call()
    assert caught.value.request_sent
    assert len(emu.requests) == 1


def test_a_read_timeout_is_not_repeated(emu: Emulator) -> None:
    ident = pending(emu)
    emu.enqueue(Fault.delay(1.0))
    with pytest.raises(APIConnectionError):
        service_for(emu).refer_call(ident, "sip:desk@example.com", timeout=(2.0, 0.2))
    assert len(emu.requests) == 1


def test_a_connection_never_made_is_tried_again_then_fails() -> None:
    with Emulator() as emulator:
        service = service_for(emulator, retry={"max_retries": 1})
    with pytest.raises(APIConnectionError) as caught:
        service.reject_call("rtc_gone", 486)
    assert not caught.value.request_sent


# -- Azure: only reject has a documented path -----------------------------------------------------------------


def test_azure_rejects_on_its_path_and_refuses_the_rest_before_sending() -> None:
    with Emulator(azure=True) as emulator:
        ident = pending(emulator)
        service = service_for(emulator, provider="azure", base_url=emulator.azure_endpoint, api_key=emulator.api_key)
        service.reject_call(ident, 486)
        assert emulator.requests[-1].path == f"/openai/v1/realtime/calls/{ident}/reject"
        assert emulator.calls.get(ident).state == "rejected"  # type: ignore[union-attr]
        for name, argument in [
            ("accept_call", SESSION),
            ("refer_call", "tel:+14155550123"),
            ("accept_live_session", LIVE),
            ("reject_live_session", 486),
            ("refer_live_session", "tel:+14155550123"),
        ]:
            with pytest.raises(ConfigurationError, match="no path"):
                getattr(service, name)("live_x" if "live" in name else "rtc_x", argument)
        assert len(emulator.requests) == 1


# -- one path for every call-control operation (issue 22) -------------------------------------------------------

#: (method, api, argument, rule): every call-control method the service has, and the retry rule it must follow.
EVERY = [
    ("accept_call", "realtime", SESSION, RetryRule.UNSENT_ONLY),
    ("reject_call", "realtime", 486, RetryRule.UNSENT_ONLY),
    ("refer_call", "realtime", "tel:+14155550123", RetryRule.UNSENT_ONLY),
    ("hangup_call", "realtime", None, RetryRule.IDEMPOTENT),
    ("accept_live_session", "live", LIVE, RetryRule.UNSENT_ONLY),
    ("reject_live_session", "live", 603, RetryRule.UNSENT_ONLY),
    ("refer_live_session", "live", "sip:a@example.com", RetryRule.UNSENT_ONLY),
    ("hangup_live_session", "live", None, RetryRule.IDEMPOTENT),
]


def each_operation_both_ways(test: Callable[..., None]) -> Callable[..., None]:
    """``test`` for every call-control method (:data:`EVERY`), sync and awaitable."""
    both_ways = pytest.mark.parametrize("asynchronous", [False, True])(test)
    return pytest.mark.parametrize(("name", "api", "argument", "rule"), EVERY)(both_ways)


def invoke(service: RealtimeSessionService, name: str, ident: str, argument: Any, asynchronous: bool) -> Any:
    arguments = (ident,) if argument is None else (ident, argument)
    if asynchronous:
        return asyncio.run(getattr(service, "a" + name)(*arguments))
    return getattr(service, name)(*arguments)


def answered(request_id: str, status: int | None = None) -> Fault:
    """The endpoint's own answer (or ``status``) carrying a request id the test knows."""
    if status is None:
        return Fault(headers=(("x-request-id", request_id),))
    return Fault.status(status, headers={"x-request-id": request_id})


@each_operation_both_ways
def test_a_500_is_retried_only_where_the_rule_allows_and_the_request_id_survives(
    emu: Emulator, name: str, api: str, argument: Any, rule: RetryRule, asynchronous: bool
) -> None:
    """A hang-up is sent again after a 500 and answers with the id of the attempt that worked; an accept, reject
    or refer (it starts, ends or moves the call) is never sent twice, and its error names the id of the 500."""
    ident = pending(emu, api)
    emu.enqueue(answered("req_first", 500))
    emu.enqueue(answered("req_second"))
    service = service_for(emu)
    if rule is RetryRule.IDEMPOTENT:
        result = invoke(service, name, ident, argument, asynchronous)
        assert result == CallControlResult(200, "req_second")
        assert len(emu.requests) == 2
        assert emu.calls.get(ident).state == "hung_up"  # type: ignore[union-attr]
    else:
        with pytest.raises(InternalServerError) as caught:
            invoke(service, name, ident, argument, asynchronous)
        assert caught.value.request_id == "req_first"
        assert len(emu.requests) == 1
        assert emu.calls.get(ident).state == "pending"  # type: ignore[union-attr]


@each_operation_both_ways
def test_an_unprocessed_request_is_sent_again_by_every_operation_keeping_the_last_request_id(
    emu: Emulator, name: str, api: str, argument: Any, rule: RetryRule, asynchronous: bool
) -> None:
    ident = pending(emu, api)
    emu.enqueue(answered("req_busy", 503))
    emu.enqueue(answered("req_done"))
    result = invoke(service_for(emu), name, ident, argument, asynchronous)
    assert result == CallControlResult(200, "req_done")
    assert len(emu.requests) == 2


@pytest.mark.parametrize(("name", "api", "argument", "rule"), EVERY)
def test_a_dropped_answer_repeats_a_hangup_only(
    emu: Emulator, name: str, api: str, argument: Any, rule: RetryRule
) -> None:
    """The answer lost after the request was sent: the outcome is unknown."""
    ident = pending(emu, api)
    emu.enqueue(Fault.drop())
    service = service_for(emu)
    if rule is RetryRule.IDEMPOTENT:
        assert invoke(service, name, ident, argument, False).status_code == 200
        assert len(emu.requests) == 2
    else:
        with pytest.raises(APIConnectionError) as caught:
            invoke(service, name, ident, argument, False)
        assert caught.value.request_sent
        assert len(emu.requests) == 1


class _Observed(RealtimeSessionService):
    """The service, noting each operation that reaches ``run``/``arun`` (the one way to send)."""

    ran: list[tuple[Operation[Any], Any, dict[str, str]]]

    def run(self, operation: Operation[T], request: Any = None, **options: Any) -> T:
        self.ran.append((operation, request, dict(options.get("path_params") or {})))
        return super().run(operation, request, **options)

    async def arun(self, operation: Operation[T], request: Any = None, **options: Any) -> T:
        self.ran.append((operation, request, dict(options.get("path_params") or {})))
        return await super().arun(operation, request, **options)


@each_operation_both_ways
def test_every_call_control_method_goes_through_run_with_its_declared_rule(
    emu: Emulator, name: str, api: str, argument: Any, rule: RetryRule, asynchronous: bool
) -> None:
    ident = pending(emu, api)
    settings = load_settings({"api_key": emu.api_key, "base_url": emu.base_url}, {})
    gateway = HttpGateway(settings)
    service = _Observed(gateway, None, RetryPolicy(sleep=lambda _s: None))
    service.ran = []
    try:
        result = invoke(service, name, ident, argument, asynchronous)
    finally:
        gateway.close()
    ((operation, request, path_params),) = service.ran
    assert operation.retry is rule
    assert operation in vars(call_control).values()
    assert request == argument
    assert path_params == {("session_id" if api == "live" else "call_id"): ident}
    assert isinstance(result, CallControlResult)
    assert result.request_id
