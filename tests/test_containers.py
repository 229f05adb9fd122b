"""The container as host applications use it: nesting, overriding, environment, threads, shutdown."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest
from conftest import REQUEST
from dependency_injector import containers, providers
from dependency_injector.wiring import Provide, inject

from realtime_service import ConfigurationError
from realtime_service.containers import RealtimeContainer
from realtime_service.emulator import Emulator
from realtime_service.service import RealtimeSessionService
from realtime_service.testing import FakeGateway, session_body


class Host(containers.DeclarativeContainer):
    config = providers.Configuration()
    realtime = providers.Container(RealtimeContainer, config=config.realtime)


@inject
def handler(service: RealtimeSessionService = Provide[Host.realtime.realtime_session_service]) -> str:
    return service.create_realtime_session(REQUEST).client_secret.value


@pytest.fixture
def host(emulator: Emulator) -> Any:
    host = Host()
    host.config.from_dict({"realtime": {"api_key": emulator.api_key, "base_url": emulator.base_url}})
    host.realtime.environ.override({})
    host.wire(modules=[__name__])
    yield host
    host.unwire()
    host.shutdown_resources()


def test_a_nested_container_serves_an_injected_handler(host: Any, emulator: Emulator) -> None:
    assert handler().startswith("ek_")
    assert len(emulator.requests) == 1


def test_a_gateway_override_reaches_services_obtained_inside_the_block(host: Any, emulator: Emulator) -> None:
    fake = FakeGateway()
    fake.queue_response(session_body(client_secret={"value": "ek_from_the_fake_0000000", "expires_at": 1}))
    with host.realtime.gateway.override(fake):
        assert handler() == "ek_from_the_fake_0000000"
    assert emulator.requests == []
    assert fake.calls[0].path == "/realtime/client_secrets"
    assert fake.calls[0].json["session"]["audio"]["output"]["voice"] == REQUEST["voice"]


def test_the_real_gateway_is_back_after_the_override(host: Any, emulator: Emulator) -> None:
    fake = FakeGateway()
    fake.queue_response()
    with host.realtime.gateway.override(fake):
        handler()
    assert handler().startswith("ek_")
    assert len(emulator.requests) == 1
    assert len(fake.calls) == 1


def test_a_service_built_before_the_override_also_uses_the_fake(host: Any, emulator: Emulator) -> None:
    built_before = host.realtime.realtime_session_service()
    fake = FakeGateway()
    fake.queue_response(session_body(client_secret={"value": "ek_from_the_fake_0000000", "expires_at": 1}))
    with host.realtime.gateway.override(fake):
        assert host.realtime.realtime_session_service() is built_before
        assert built_before.create_realtime_session(REQUEST).client_secret.value == "ek_from_the_fake_0000000"
    assert built_before.create_realtime_session(REQUEST).client_secret.value.startswith("ek_")
    assert len(emulator.requests) == 1


def test_explicit_config_beats_the_environment_which_beats_the_defaults(emulator: Emulator) -> None:
    environ = {"OPENAI_API_KEY": "sk-from-the-environment", "OPENAI_BASE_URL": emulator.base_url}
    container = RealtimeContainer(environ=environ)
    container.config.from_dict({"organization": "org_explicit"})
    settings = container.settings()
    assert settings.api_key == "sk-from-the-environment"
    assert settings.base_url == emulator.base_url
    assert settings.organization == "org_explicit"
    assert settings.timeout.read == 20.0


def test_a_host_nesting_with_a_config_subtree_still_gets_the_defaults() -> None:
    host = Host()
    host.realtime.environ.override({})
    host.config.from_dict({"realtime": {"timeout": {"read": 7}}})
    settings = host.realtime.settings()
    assert settings.timeout.read == 7
    assert settings.timeout.connect == 5.0
    assert settings.retry.max_retries == 2


def test_a_missing_key_fails_at_first_use_not_at_construction() -> None:
    container = RealtimeContainer(environ={})
    service = container.realtime_session_service()
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        service.create_realtime_session(REQUEST)


def test_shutdown_closes_the_session_and_the_next_call_opens_a_fresh_one(host: Any, emulator: Emulator) -> None:
    service = host.realtime.realtime_session_service()
    service.create_realtime_session(REQUEST)
    first = host.realtime.gateway()
    host.shutdown_resources()
    assert service.create_realtime_session(REQUEST).client_secret.value.startswith("ek_")
    assert host.realtime.gateway() is not first
    assert len(emulator.requests) == 2


@pytest.mark.parametrize("provider", ["gateway", "realtime_session_service", "settings", "retry_policy"])
def test_eight_threads_asking_at_once_get_one_instance(emulator: Emulator, provider: str) -> None:
    container = RealtimeContainer(environ={})
    container.config.from_dict({"api_key": emulator.api_key, "base_url": emulator.base_url})
    start = threading.Barrier(8)
    built: list[object] = []

    def build() -> None:
        start.wait()
        built.append(getattr(container, provider)())

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    container.shutdown_resources()
    assert len(built) == 8
    assert len({id(instance) for instance in built}) == 1


def test_the_fake_gateway_records_calls_and_plays_back_errors(realtime_container: Any) -> None:
    from realtime_service import APIConnectionError

    fake: FakeGateway = realtime_container.gateway()
    fake.queue_exception(APIConnectionError())
    fake.queue_response(status=503, body={"error": {"message": "busy", "type": "server_error"}})
    fake.queue_response()
    session = realtime_container.realtime_session_service().create_realtime_session(REQUEST)
    assert session.client_secret.value.startswith("ek_")
    assert [call.path for call in fake.calls] == ["/realtime/client_secrets"] * 3
    assert fake.pending == 0


def test_the_fake_gateway_says_what_was_sent_when_nothing_is_queued(realtime_container: Any) -> None:
    with pytest.raises(LookupError, match="/realtime/client_secrets"):
        realtime_container.realtime_session_service().create_realtime_session(REQUEST)


def test_schema_modules_are_imported_by_the_first_call_that_needs_them() -> None:
    """Building every schema class is most of a cold start; importing the package and the service pays none."""
    script = (
        "import sys\n"
        "from realtime_service import RealtimeContainer\n"
        "c = RealtimeContainer(environ={}); c.config.from_dict({'api_key': 'sk-test-000000000000'})\n"
        "c.realtime_session_service()\n"
        "print(sorted(m for m in sys.modules if m.startswith('realtime_service') and 'schemas' in m))\n"
        "print('marshmallow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split("\n")[:2] == ["[]", "False"]
