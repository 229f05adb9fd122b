"""Your code inside a call: the sideband controller (issue 24)."""
