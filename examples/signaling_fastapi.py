"""A FastAPI host app whose browsers start voice calls with no key: ``POST /voice/session`` (docs/signaling.md).

The handler awaits the service's async facade, so the event loop never waits on OpenAI.
Run it: ``OPENAI_API_KEY=sk-... uvicorn examples.signaling_fastapi:app``.
"""

from dependency_injector import containers, providers
from fastapi import FastAPI

from realtime_service.web.adapters.fastapi_router import router
from realtime_service.web.servers.containers import TokenServerContainer


class Application(containers.DeclarativeContainer):
    config = providers.Configuration(yaml_files=["config/token-server.yaml"])
    token_server = providers.Container(TokenServerContainer, config=config)


application = Application()
application.config.from_dict({"server": {"voice_api": "live", "max_call_seconds": 600}})
application.wire(modules=["realtime_service.web.adapters.fastapi_router"])
app = FastAPI()
app.include_router(router, prefix="/voice")  # POST /voice/session (and /voice/token)
