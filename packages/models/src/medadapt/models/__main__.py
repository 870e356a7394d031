"""Run the registry CLI: `python -m medadapt.models list`."""

from __future__ import annotations

import sys

from medadapt.models.cli import main

sys.exit(main())
