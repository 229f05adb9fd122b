"""The routes, framework-neutral: each takes a :class:`~realtime_service.web.messages.WebRequest`, runs the
admission steps it needs (:mod:`realtime_service.web.admission`) and gives a
:class:`~realtime_service.web.messages.WebResponse`.

- :mod:`.token`: ``/token``, ephemeral keys for browsers;
- :mod:`.session`: ``/session``, a browser's SDP offer relayed as a Realtime call or a GPT-Live session, and the
  hang-ups that bound its length;
- :mod:`.phone`: ``/webhooks/openai``, incoming phone calls from signed webhooks;
- :mod:`.demo`: the demo page and its files.

:mod:`.browser` (the skeleton of a browser's route: admission, preflight, one access line, a JSON 500 for a bug),
:mod:`.policy` (the server's rules for session fields), :mod:`.upstream` (what a failure of the call behind a
route becomes) and :mod:`.secrets` (the server's secrets, kept out of answers) are shared by ``/token`` and
``/session``. A route never imports a framework, an adapter or a server.
"""
