"""``RealtimeContainer``: the package's object graph, the Python counterpart of Micronaut's bean context.

Host applications nest it and hand it their configuration sub-tree::

    class Application(containers.DeclarativeContainer):
        config = providers.Configuration()
        realtime = providers.Container(RealtimeContainer, config=config.realtime)

and override ``gateway`` in tests. The library never wires host modules and reads nothing at import time.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from typing import Any, TypeVar

import requests
from dependency_injector import containers, providers

from .beta.bridge import Bridge
from .config import load_settings
from .retry import RetryPolicy
from .service import (
    RealtimeSessionService,
    shared_beta_codec,
    shared_call_session_codec,
    shared_client_secret_codec,
    shared_live_codec,
    shared_transcription_codec,
    shared_translation_codec,
)
from .transport.gateway import open_gateway
from .transport.seam import Gateway

_RESOURCE_LOCK = threading.RLock()
T = TypeVar("T")


class LockedResource(providers.Resource[T]):
    """A ``Resource`` whose start and shutdown are serialized, so 8 threads asking at once get one instance.

    (dependency-injector's plain ``Resource`` builds one per racing thread and leaks all but the last.)
    """

    def _provide(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with _RESOURCE_LOCK:
            return super()._provide(args, kwargs)  # type: ignore[misc]  # cpdef, not in the stubs

    def shutdown(self) -> Any:
        with _RESOURCE_LOCK:
            return super().shutdown()


def open_transport(settings: Any, session: requests.Session | None, event_loop: bool) -> Iterator[Gateway]:
    """The gateway resource: the ``requests`` gateway, or with ``event_loop`` (an ASGI host: ``serve`` on
    FastAPI) the event-loop one of the ``fastapi`` extra, whose awaitable attempts run on the loop."""
    if event_loop:
        from .transport.aio import open_event_loop_gateway  # the fastapi extra: never imported by the core

        yield from open_event_loop_gateway(settings, session)
    else:
        yield from open_gateway(settings, session)


def _service_secrets(settings: Any) -> tuple[str, ...]:
    return (settings.api_key,) if settings.api_key else ()


class RealtimeContainer(containers.DeclarativeContainer):
    """Providers: ``config`` (explicit keys), ``environ``, ``settings``, ``http_session`` (optional, host-owned),
    ``event_loop_gateway`` (a flag), ``gateway`` (the HTTP resource), ``sleep``/``asleep``/``clock`` (test seams),
    ``retry_policy``,
    the codecs (``beta_codec``, ``client_secret_codec``, ``translation_codec``, ``transcription_codec``,
    ``call_session_codec``, ``live_codec``), ``bridge``
    and ``realtime_session_service``."""

    config = providers.Configuration()
    environ = providers.Object(os.environ)

    settings = providers.ThreadSafeSingleton(load_settings, config, environ)

    #: A host may share its own ``requests.Session``; by default the gateway opens (and closes) its own.
    http_session: providers.Provider[requests.Session | None] = providers.Object(None)

    #: ``True`` in an event-loop host (``serve`` on FastAPI sets it before the gateway is built): the gateway then
    #: also sends the awaitable calls on the loop (:mod:`realtime_service.transport.aio`, the ``fastapi`` extra).
    event_loop_gateway = providers.Object(False)

    gateway = LockedResource(open_transport, settings=settings, session=http_session, event_loop=event_loop_gateway)

    #: Seams for tests: override before first use (the policy is a singleton).
    sleep = providers.Object(time.sleep)
    asleep = providers.Object(asyncio.sleep)
    clock = providers.Object(time.monotonic)

    retry_policy = providers.ThreadSafeSingleton(
        RetryPolicy.from_settings, settings.provided.retry, sleep=sleep, asleep=asleep, clock=clock
    )

    #: Codecs (stateless, shared process-wide), built on the first call that needs one: schema classes are most
    #: of a cold start. Override one to change how an operation is validated or read.
    beta_codec = providers.Callable(shared_beta_codec)
    client_secret_codec = providers.Callable(shared_client_secret_codec)
    translation_codec = providers.Callable(shared_translation_codec)
    transcription_codec = providers.Callable(shared_transcription_codec)
    call_session_codec = providers.Callable(shared_call_session_codec)
    live_codec = providers.Callable(shared_live_codec)

    bridge = providers.ThreadSafeSingleton(
        Bridge, strict=settings.provided.bridge.strict, default_ttl=settings.provided.bridge.default_ttl
    )

    realtime_session_service = providers.ThreadSafeSingleton(
        RealtimeSessionService,
        gateway=gateway.provider,
        codec=beta_codec.provider,
        policy=retry_policy,
        api_shape=settings.provided.api_shape,
        bridge=bridge,
        paths=settings.provided.paths,
        unusable=settings.provided.refused_operations,
        timeout=providers.Callable(lambda s: (s.timeout.connect, s.timeout.read), settings),
        secrets=providers.Callable(_service_secrets, settings),
        client_secret_codec=client_secret_codec.provider,
        translation_codec=translation_codec.provider,
        transcription_codec=transcription_codec.provider,
        call_session_codec=call_session_codec.provider,
        live_codec=live_codec.provider,
        settings=settings,
    )
