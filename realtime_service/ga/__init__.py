"""The GA Realtime family (``/realtime/client_secrets``, ``/realtime/translations/client_secrets``): models and
schemas."""
