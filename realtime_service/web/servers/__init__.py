"""Serving the routes: ``serve`` and what it stands on.

:mod:`.serve` is the ``realtime-service serve`` command (one process or ``--workers N``, waitress or uvicorn),
:mod:`.containers` the dependency-injection containers that build the routes (a host application nests
:class:`~.containers.TokenServerContainer`), and :mod:`.waitress_guard` / :mod:`.uvicorn_guard` the servers'
own limits (connections, header and body sizes, arrival deadlines), which hold for every route.
"""
