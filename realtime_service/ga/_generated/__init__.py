# Generated code lives in this package; do not edit it: regenerate with `python -m realtime_service.ga.generate`.
"""Modules written by :mod:`realtime_service.ga.generate`, not by hand. Kept apart so that coverage, ruff,
mutation testing and reviewers can tell them from hand-written code; ``tests/test_plans.py`` fails when a
committed module differs from what the generator writes."""
