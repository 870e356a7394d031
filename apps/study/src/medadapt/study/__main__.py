"""`python -m medadapt.study` is the `medadapt` command."""

from __future__ import annotations

from medadapt.study.cli import app

if __name__ == "__main__":
    app(prog_name="medadapt")
