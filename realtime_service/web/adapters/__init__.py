"""The framework adapters: each turns its framework's request into a
:class:`~realtime_service.web.messages.WebRequest`, calls a route, and turns the
:class:`~realtime_service.web.messages.WebResponse` back, nothing more.

:mod:`.flask_blueprint` (Flask, the ``server`` extra) and :mod:`.fastapi_router` (FastAPI) are what host
applications mount; :mod:`.asgi` is the plain ASGI callable ``serve`` puts in front of FastAPI for the hot routes.
"""
