"""Serving the routes: ``serve`` and what it stands on.

:mod:`.serve` is the ``realtime-service serve`` command (options, one process or ``--workers N``, signals);
:mod:`.runners` the servers it runs an app on (waitress for Flask, uvicorn for FastAPI, each with the fast routes
in front) and :class:`~.runners.ServedApp` (a container served in a thread of this process); :mod:`.containers`
the dependency-injection containers that build the routes (a host application nests
:class:`~.containers.TokenServerContainer`); :mod:`.waitress_guard` / :mod:`.uvicorn_guard` the servers' own
limits (connections, header and body sizes, arrival deadlines), which hold for every route.
"""
