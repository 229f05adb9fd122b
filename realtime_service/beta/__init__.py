"""The beta Realtime family (``/realtime/sessions``, ``/realtime/transcription_sessions``): models, schemas and
the bridge that carries the seed's beta-shaped request over the GA API."""
