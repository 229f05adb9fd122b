"""The FastAPI adapter: a router whose handlers get the endpoint injected (``pip install realtime-service[fastapi]``).

The token handler awaits the endpoint's async path, which awaits the service's async facade, so no request
blocks the event loop. Nest :class:`~realtime_service.web.servers.containers.TokenServerContainer` as ``token_server``,
wire this module, include the router::

    application.wire(modules=["realtime_service.web.adapters.fastapi_router"])
    app.include_router(router, prefix="/realtime")                 # POST /realtime/token, /realtime/session
"""

# No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at run time, through
# dependency-injector's ``@inject`` wrapper, whose module globals would not resolve string annotations.
import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from realtime_service.webhooks.headers import request_headers

from ..messages import WebRequest, WebResponse
from ..routes.demo.page import DemoAssets
from ..routes.phone import PhoneEndpoint
from ..routes.session.endpoint import SignalingEndpoint
from ..routes.token.endpoint import TokenEndpoint

ENDPOINT = "token_server.token_endpoint"
SIGNALING = "token_server.signaling_endpoint"
DEMO = "token_server.demo_assets"
PHONE = "token_server.phone_endpoint"

router = APIRouter()

if TYPE_CHECKING:
    AwaitedProvide = Provide
else:

    class AwaitedProvide(Provide):
        """``Provide``, awaited by FastAPI. ``Depends(Provide[...])`` is a plain callable, which FastAPI runs in a
        worker thread on every request (a thread hop and back, 0.1-0.3 ms) only to get the marker back for
        ``@inject`` to replace (ets-labs/python-dependency-injector#595); a coroutine runs on the event loop."""

        async def __call__(self) -> "AwaitedProvide":
            return self


async def token_request(request: Request, max_body_bytes: int) -> WebRequest:
    """Starlette's request as a :class:`WebRequest`, reading the body only up to ``max_body_bytes + 1``."""
    length = request.headers.get("content-length")
    too_large = length is not None and length.isdigit() and int(length) > max_body_bytes
    chunks: list[bytes] = []
    size = 0
    disconnected = False
    if not too_large and request.method not in ("GET", "HEAD", "OPTIONS"):
        try:
            async for chunk in request.stream():
                chunks.append(chunk)
                size += len(chunk)
                if size > max_body_bytes:
                    too_large = True
                    break
        except ClientDisconnect:  # gone mid-body: one access line (499), not an ASGI traceback
            disconnected = True
    return WebRequest(
        method=request.method,
        path=request.scope.get("path") or request.url.path,  # as received: url.path drops control characters
        headers=request_headers(request.headers.items()),  # a repeated webhook header: its values joined
        body=b"".join(chunks),
        client=request.client.host if request.client else None,
        query=request.url.query,
        body_too_large=too_large,
        disconnected=disconnected,
        scheme=request.url.scheme,
    )


def to_starlette(response: WebResponse) -> Response:
    starlette_response = Response(content=response.body, status_code=response.status)
    starlette_response.raw_headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers
    )
    return starlette_response


Endpoint = Annotated[TokenEndpoint, Depends(AwaitedProvide[ENDPOINT])]
Assets = Annotated[DemoAssets, Depends(AwaitedProvide[DEMO])]
Signaling = Annotated[SignalingEndpoint, Depends(AwaitedProvide[SIGNALING])]
Phone = Annotated[PhoneEndpoint, Depends(AwaitedProvide[PHONE])]


@router.api_route("/token", methods=["POST", "OPTIONS"], response_model=None, include_in_schema=False)
@inject
async def token(request: Request, endpoint: Endpoint) -> Response:
    """Mint a key (``POST``) or answer the CORS preflight (``OPTIONS``)."""
    return to_starlette(await endpoint.ahandle(await token_request(request, endpoint.settings.max_body_bytes)))


@router.api_route("/session", methods=["POST", "OPTIONS"], response_model=None, include_in_schema=False)
@inject
async def session(request: Request, endpoint: Signaling) -> Response:
    """Start a call for the browser's SDP offer (``POST``, ``application/sdp``) or answer the preflight."""
    return to_starlette(await endpoint.ahandle(await token_request(request, endpoint.settings.max_body_bytes)))


@inject
async def phone_webhook(request: Request, endpoint: Phone) -> Response:
    """OpenAI's signed webhook for incoming calls (``server.phone.path``): the raw body goes to the endpoint."""
    return to_starlette(await endpoint.ahandle(await token_request(request, endpoint.settings.max_body_bytes)))


@router.get("/healthz", response_model=None, include_in_schema=False)
@inject
async def healthz(request: Request, endpoint: Endpoint) -> Response:
    return to_starlette(endpoint.healthz(await token_request(request, 0)))


@router.get("/readyz", response_model=None, include_in_schema=False)
@inject
async def readyz(request: Request, endpoint: Endpoint) -> Response:
    return to_starlette(await asyncio.to_thread(endpoint.readyz, await token_request(request, 0)))


@inject
async def demo_page(request: Request, assets: Assets, endpoint: Endpoint) -> Response:
    name = request.path_params.get("name", "index.html")
    described = await token_request(request, 0)
    return to_starlette(endpoint.host_refusal(described) or assets.asset(described, name))


@inject
async def demo_config(request: Request, assets: Assets, endpoint: Endpoint) -> Response:
    described = await token_request(request, 0)
    return to_starlette(endpoint.host_refusal(described) or assets.config(described))


def _start_every_worker(executor: ThreadPoolExecutor, threads: int) -> None:
    """Start the executor's ``threads`` workers now, not one by one under the first load: the process then
    has the same threads from its first request to its last (a soak can tell a leak from a pool filling)."""
    barrier = threading.Barrier(threads, timeout=5)

    def meet() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()

    for future in [executor.submit(meet) for _ in range(threads)]:
        future.result()


def create_fastapi_app(
    endpoint: TokenEndpoint | Callable[[], TokenEndpoint],
    path: str = "/token",
    *,
    demo: bool = True,
    threads: int = 16,
    session_path: str | None = None,
    phone_path: str | None = None,
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
) -> FastAPI:
    """The app ``serve`` runs: the token handler at ``path``, the signaling handler at ``session_path`` (if
    given), health checks, the demo page at ``/``, and the phone webhook at ``phone_path``
    (``server.phone.path``) when given. ``on_shutdown`` runs on the loop at the lifespan's end (``serve`` closes
    the event-loop gateway's sessions there).

    ``endpoint`` answers what no route serves (404, 405, a foreign ``Host``); ``serve`` passes its provider, asked
    at each such request, so an endpoint overridden after start answers those too. Wire this module to a container
    with ``token_server`` first (``serve`` does). The event loop's default
    executor gets ``threads`` workers: the service's attempts run there when the gateway has no ``asend`` (a sync
    fake, a host's own, or the threaded gateway kept for proxies), so that many mints can wait upstream at once.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="realtime-mint")
        _start_every_worker(executor, threads)
        asyncio.get_running_loop().set_default_executor(executor)
        yield
        for close in on_shutdown:
            await close()
        executor.shutdown(wait=True)

    # redirect_slashes=False: Starlette would answer POST /token/ with a 307 whose Location comes from Host.
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan, redirect_slashes=False)
    app.add_api_route(path, token, methods=["POST", "OPTIONS"], response_model=None, include_in_schema=False)
    if session_path is not None:
        app.add_api_route(
            session_path, session, methods=["POST", "OPTIONS"], response_model=None, include_in_schema=False
        )
    if phone_path is not None:
        app.add_api_route(phone_path, phone_webhook, methods=["POST"], response_model=None, include_in_schema=False)
    app.add_api_route("/healthz", healthz, methods=["GET"], response_model=None, include_in_schema=False)
    app.add_api_route("/readyz", readyz, methods=["GET"], response_model=None, include_in_schema=False)
    if demo:
        for route, handler in (("/", demo_page), ("/static/{name}", demo_page), ("/demo-config.json", demo_config)):
            app.add_api_route(route, handler, methods=["GET"], response_model=None, include_in_schema=False)

    async def refuse(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", None)
        described = await token_request(request, 0)
        current = endpoint if isinstance(endpoint, TokenEndpoint) else endpoint()
        return to_starlette(current.refuse(described, status if isinstance(status, int) else 400))

    app.add_exception_handler(StarletteHTTPException, refuse)
    return app
