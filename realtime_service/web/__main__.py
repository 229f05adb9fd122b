"""``python -m realtime_service.web``: the same as ``realtime-service serve``."""

from .servers.serve import serve_main

raise SystemExit(serve_main())
