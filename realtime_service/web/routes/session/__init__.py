"""``/session``: a browser's SDP offer becomes a Realtime call or a GPT-Live session, keyless.

:mod:`.endpoint` is the route (:class:`~.endpoint.SignalingEndpoint`); :mod:`.terms` turns the browser's query
choices and the server's policy into the session each voice API takes; :mod:`.hangups` ends calls at their
deadline (``server.max_call_seconds``).
"""
