"""``python -m realtime_service`` runs the CLI."""

from .cli import main

raise SystemExit(main())
