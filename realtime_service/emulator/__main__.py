"""Entry point of ``python -m realtime_service.emulator``."""

from .cli import main

raise SystemExit(main())
