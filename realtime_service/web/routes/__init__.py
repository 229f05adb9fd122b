"""The routes, framework-neutral: each takes a :class:`~realtime_service.web.messages.WebRequest`, runs the
admission steps it needs (:mod:`realtime_service.web.admission`) and gives a
:class:`~realtime_service.web.messages.WebResponse`.

- :mod:`.token`: ``/token``, ephemeral keys for browsers;
- :mod:`.session`: ``/session``, a browser's SDP offer relayed as a Realtime call or a GPT-Live session, and the
  hang-ups that bound its length;
- :mod:`.phone`: ``/webhooks/openai``, incoming phone calls from signed webhooks;
- :mod:`.demo`: the demo page and its files.

:mod:`.policy` (the server's rules for session fields) and :mod:`.upstream` (what an upstream failure becomes)
are shared by ``/token`` and ``/session``. A route never imports a framework, an adapter or a server.
"""
