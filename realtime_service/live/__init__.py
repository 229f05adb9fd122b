"""The GPT-Live family (``POST /live/sessions``): the session config's models and schemas, the session id's
pattern and the typed result of creating a WebRTC session."""
