"""``TokenServerContainer``: the token endpoint's object graph, nesting the service's own container.

It takes the whole configuration tree (``realtime:`` for the service, ``server:`` for the endpoint)::

    class Application(containers.DeclarativeContainer):
        config = providers.Configuration()
        token_server = providers.Container(TokenServerContainer, config=config)

The adapters' views inject ``token_server.token_endpoint``. Host apps replace the ``authenticate`` provider
(``server.auth: hook``) with their own session or JWT check; it is called with the
:class:`~realtime_service.web.messages.WebRequest` and returns an identity or ``None``::

    application.token_server.authenticate.override(providers.Callable(check_session, db=application.db))
"""

from __future__ import annotations

import os
from typing import Any

from dependency_injector import containers, providers

from realtime_service.containers import LockedResource, RealtimeContainer
from realtime_service.sideband.attacher import open_call_attacher
from realtime_service.sideband.ownership import open_call_leases

from ..admission.auth import configured_hook
from ..admission.ratelimit import open_auth_throttle, open_call_rate_limiter, open_rate_limiter
from ..routes.demo.page import DemoAssets
from ..routes.phone import PhoneEndpoint, open_config_router, open_ledger
from ..routes.session.endpoint import SignalingEndpoint
from ..routes.session.hangups import open_hangups
from ..routes.token.endpoint import TokenEndpoint
from ..settings import load_server_settings


class TokenServerContainer(containers.DeclarativeContainer):
    """Providers: ``config`` (``realtime:`` and ``server:``), ``environ``, ``realtime`` (the nested
    :class:`~realtime_service.containers.RealtimeContainer`), ``server_settings``, ``authenticate`` (the auth
    hook), ``rate_limiter`` (keys), ``call_rate_limiter`` (calls) and ``auth_throttle`` (resources: Redis
    connections are closed by ``shutdown_resources()``),
    ``token_endpoint``, ``call_hangups`` (the ``server.max_call_seconds`` scheduler, a resource),
    ``signaling_endpoint`` (``POST /session``) and ``demo_assets``; for phone calls ``call_router``,
    ``call_ledger`` and ``phone_endpoint``; ``workers`` and ``call_leases`` for the sideband controller."""

    config = providers.Configuration()
    environ: providers.Provider[Any] = providers.Object(os.environ)

    realtime = providers.Container(RealtimeContainer, config=config.realtime, environ=environ)

    server_settings = providers.ThreadSafeSingleton(load_server_settings, config.server, environ)

    #: ``authenticate(request) -> identity | None`` (or an awaitable of it): ``server.auth_hook`` by default.
    authenticate = providers.Callable(configured_hook, settings=server_settings)

    rate_limiter = LockedResource(open_rate_limiter, server_settings)
    #: The calls budget of ``/session`` (``server.call_rate_limit``), counted apart from keys.
    call_rate_limiter = LockedResource(open_call_rate_limiter, server_settings)
    #: Failed authentications per client network (``server.auth_failure_limit``), a resource like the above.
    auth_throttle = LockedResource(open_auth_throttle, server_settings)

    token_endpoint = providers.ThreadSafeSingleton(
        TokenEndpoint,
        service=realtime.realtime_session_service.provider,
        settings=server_settings,
        limiter=rate_limiter,
        throttle=auth_throttle,
        authenticate=authenticate.provider,
        realtime_settings=realtime.settings.provider,
    )

    #: Hangs up calls the server started after ``server.max_call_seconds`` (``None`` when unset).
    call_hangups = LockedResource(open_hangups, server_settings, realtime.realtime_session_service.provider)

    #: Whether ``serve --emulator``'s emulator answers calls with a real WebRTC peer (``--emulator-webrtc``):
    #: ``True``/``False`` under ``--emulator``, ``None`` otherwise; the demo page says what a call there can do.
    emulator_peer: providers.Provider[Any] = providers.Object(None)

    demo_assets = providers.ThreadSafeSingleton(
        DemoAssets,
        settings=server_settings,
        realtime_settings=realtime.settings.provider,
        emulator_peer=emulator_peer,
    )

    #: The call router of the phone webhook: ``route(event) -> Accept | Reject | Refer | Ignore`` (or an
    #: awaitable of one). By default ``server.phone`` (:class:`~realtime_service.webhooks.router.ConfigRouter`);
    #: host apps override it like the gateway:
    #: ``application.token_server.call_router.override(providers.Object(MyRouter()))``.
    call_router: providers.Provider[Any] = LockedResource(open_config_router, server_settings)
    #: Deliveries and calls already decided, in ``server.rate_limit_storage`` (a resource: Redis is closed).
    call_ledger = LockedResource(open_ledger, server_settings)
    #: How many worker processes serve this configuration (``serve --workers N`` overrides it).
    workers: providers.Provider[Any] = providers.Object(1)
    #: One owner per call (:mod:`realtime_service.sideband.ownership`): leases in ``server.rate_limit_storage``,
    #: a resource (Redis is closed); memory leases with several ``workers`` are a ``ConfigurationError``.
    call_leases = LockedResource(open_call_leases, server_settings.provided.rate_limit_storage, workers)
    #: Attaches the sideband of calls accepted with ``Accept(tools=...)``, and of calls ``/session`` starts under
    #: ``server.sideband``, in the background, each under its
    #: lease (:mod:`realtime_service.sideband.attacher`); ``server.phone.tools`` and ``server.sideband`` are
    #: registered as wirings a standby may re-attach a dead worker's call with (``serve`` starts the standby on
    #: Redis leases). A resource: ``shutdown_resources()`` stops the standby and closes every socket.
    call_attacher = LockedResource(open_call_attacher, realtime.realtime_session_service, call_leases, server_settings)

    signaling_endpoint = providers.ThreadSafeSingleton(
        SignalingEndpoint,
        service=realtime.realtime_session_service.provider,
        settings=server_settings,
        limiter=call_rate_limiter,
        throttle=auth_throttle,
        authenticate=authenticate.provider,
        realtime_settings=realtime.settings.provider,
        hosts=token_endpoint.provided.hosts,
        hangups=call_hangups.provider,
        attacher=call_attacher.provider,
    )

    phone_endpoint = providers.ThreadSafeSingleton(
        PhoneEndpoint,
        service=realtime.realtime_session_service.provider,
        settings=server_settings,
        router=call_router.provider,
        ledger=call_ledger,
        attacher=call_attacher.provider,
    )


class ServeContainer(containers.DeclarativeContainer):
    """What ``serve`` runs, and the layout the adapters' views expect: the token server nested as
    ``token_server`` (their ``Provide["token_server.token_endpoint"]`` markers name it)."""

    config = providers.Configuration()
    environ: providers.Provider[Any] = providers.Object(os.environ)

    token_server = providers.Container(TokenServerContainer, config=config, environ=environ)
