"""A FastAPI host app that mounts the token endpoint (docs/token-endpoint.md).

Run it: ``OPENAI_API_KEY=sk-... uvicorn examples.token_fastapi:app``.
"""

from dependency_injector import containers, providers
from fastapi import FastAPI

from realtime_service.web.adapters.fastapi_router import router
from realtime_service.web.servers.containers import TokenServerContainer


class Application(containers.DeclarativeContainer):
    config = providers.Configuration(yaml_files=["config/token-server.yaml"])
    token_server = providers.Container(TokenServerContainer, config=config)


application = Application()
application.wire(modules=["realtime_service.web.adapters.fastapi_router"])
app = FastAPI()
app.include_router(router, prefix="/realtime")  # POST /realtime/token, GET /realtime/healthz
