"""The demo page (:mod:`.page`) and its files (``static/``, shipped as package data)."""
