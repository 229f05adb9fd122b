"""Example host-application code wired by the root ``containers.py``."""
