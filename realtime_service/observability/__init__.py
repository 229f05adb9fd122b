"""What the service tells operators about itself beyond its logs: :mod:`.metrics` (Prometheus, the ``metrics``
extra). Nothing here imports ``prometheus_client`` until metrics are switched on."""
