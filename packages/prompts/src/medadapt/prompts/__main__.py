"""Run the command line: `python -m medadapt.prompts tasks --data DIR`."""

from __future__ import annotations

import sys

from medadapt.prompts.cli import main

sys.exit(main())
