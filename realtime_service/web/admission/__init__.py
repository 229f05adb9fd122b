"""The admission steps every route composes, one module per concern, each refusing with an answer.

:class:`~.pipeline.Admission` runs the steps a route names in this order: :mod:`.hosts` (the ``Host``
allow-list), :mod:`.cors`, :mod:`.auth`, :mod:`.throttle` (failed authentication) and :mod:`.budget` (the
per-identity rate limit over :mod:`.ratelimit`), :mod:`.bodies` (size, and the JSON object of JSON routes). Each
raises :class:`~.answers.Refused` with an answer in OpenAI's error shape and ``no-store``; :mod:`.accesslog`
writes the one escaped access line; :mod:`.clients` says who the client is behind trusted proxies. Nothing here
knows a route: the steps import only :mod:`realtime_service.web.messages`, :mod:`~realtime_service.web.settings`
and :mod:`~realtime_service.web.authority`.
"""
