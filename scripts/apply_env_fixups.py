"""Brings a hatch env to the state its pins cannot express, because hatch skips install commands here.

hatch runs `pre-install-commands` / `post-install-commands` only for environments that install the root project;
this workspace's root has no project (`skip-install = true`), so the optional envs in hatch.toml call this script
before their tests instead. It is idempotent: it looks at what is installed, changes only what differs and says so.

    python scripts/apply_env_fixups.py --uninstall torchvision torchaudio   # must be absent
    python scripts/apply_env_fixups.py --install-no-deps open-flamingo==2.0.1  # present, without its pins
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata


def installed_version(name: str) -> str | None:
    """The installed version of a distribution in this interpreter's environment, None when absent."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def split_pin(pin: str) -> tuple[str, str]:
    """`name==version` → (name, version); anything looser cannot be checked without a resolver."""
    name, sep, version = pin.partition("==")
    if not sep or not name.strip() or not version.strip():
        raise SystemExit(f"apply_env_fixups: --install-no-deps takes exact pins NAME==VERSION, got {pin!r}")
    return name.strip(), version.strip()


def pip(*args: str) -> None:
    """Runs this environment's pip (the interpreter running the script is the env's own)."""
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--uninstall", nargs="+", default=[], metavar="NAME", help="distributions that must be absent"
    )
    parser.add_argument(
        "--install-no-deps",
        nargs="+",
        default=[],
        metavar="NAME==VERSION",
        help="distributions that must be installed at this version, without their declared dependencies",
    )
    args = parser.parse_args(argv)

    present = {name: version for name in args.uninstall if (version := installed_version(name)) is not None}
    pins = [split_pin(pin) for pin in args.install_no_deps]
    to_install = {name: version for name, version in pins if installed_version(name) != version}

    if present:
        listed = ", ".join(f"{name} {version}" for name, version in present.items())
        print(f"apply_env_fixups: removing {listed}", flush=True)
        pip("uninstall", "--yes", "--quiet", *present)
    if to_install:
        listed = ", ".join(
            f"{name}=={version} (installed: {installed_version(name) or 'none'})"
            for name, version in to_install.items()
        )
        print(f"apply_env_fixups: installing without dependencies {listed}", flush=True)
        pip(
            "install", "--quiet", "--no-deps", *(f"{name}=={version}" for name, version in to_install.items())
        )
    if not present and not to_install:
        wanted = [f"absent: {', '.join(args.uninstall)}"] if args.uninstall else []
        wanted += [f"present: {', '.join(args.install_no_deps)}"] if args.install_no_deps else []
        print(f"apply_env_fixups: nothing to do ({'; '.join(wanted)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
