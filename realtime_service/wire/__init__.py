"""The wire machinery every API family builds on: marshmallow fields, the codec, compiled fast paths, values and
the SDP offer check.

Nothing here imports an API family (:mod:`realtime_service.beta`, :mod:`realtime_service.ga`, ...): families
import the wire, never the other way round (``tests/test_layout.py`` keeps it so).
"""
