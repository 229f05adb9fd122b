"""This repository's composition root: the file a host application copies.

``Application`` loads ``config/`` YAML (``APP_CONFIG`` picks another file), nests the package's
``RealtimeContainer`` under ``realtime`` (which fills unset keys from ``OPENAI_*`` variables) and wires the
example handlers. It is not installed: host apps keep their own ``containers.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from dependency_injector import containers, providers

from realtime_service.containers import RealtimeContainer

CONFIG_FILE = Path(__file__).parent / "config" / "realtime.yaml"


class Application(containers.DeclarativeContainer):
    wiring_config = containers.WiringConfiguration(modules=["examples.handlers"])

    config = providers.Configuration()

    realtime = providers.Container(RealtimeContainer, config=config.realtime)


def create_application(config_file: str | os.PathLike[str] | None = None) -> Application:
    """Build the application container from ``config_file`` (default ``$APP_CONFIG`` or config/realtime.yaml)."""
    application = Application()
    application.config.from_yaml(config_file or os.environ.get("APP_CONFIG") or CONFIG_FILE, required=True)
    return application
