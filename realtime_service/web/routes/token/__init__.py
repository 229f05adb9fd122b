"""``/token``: hand browsers ephemeral keys under the server's session policy.

:mod:`.endpoint` is the route (:class:`~.endpoint.TokenEndpoint`); :mod:`.minting` chooses the minting
operation for the configured API and keeps only the documented fields of what it returns.
"""
