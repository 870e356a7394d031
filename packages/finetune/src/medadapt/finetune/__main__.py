"""Command line: `python -m medadapt.finetune sweep|pretrain|merge|configs ...` (also under `accelerate launch`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medadapt.finetune.supervised import SupervisedPair

__all__ = ["main", "read_pairs"]


def read_pairs(path: Path) -> list[SupervisedPair]:
    """SupervisedPairs from a JSON Lines file with fields prompt, target, images (optional), id (optional)."""
    from medadapt.finetune.supervised import SupervisedPair

    pairs: list[SupervisedPair] = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        for key in ("prompt", "target"):
            if not isinstance(row.get(key), str):
                raise ValueError(f"{path}:{line_no}: field {key!r} must be a string, got {row.get(key)!r}")
        pairs.append(
            SupervisedPair(
                prompt=row["prompt"],
                target=row["target"],
                images=tuple(row.get("images", ())),
                example_id=str(row.get("id", line_no)),
            )
        )
    return pairs


def _sweep(args: argparse.Namespace) -> int:
    from medadapt.finetune.spec import SweepSpec
    from medadapt.finetune.sweep import run_sweep

    spec = SweepSpec.from_file(args.spec) if args.spec else SweepSpec()
    result = run_sweep(
        args.base,
        read_pairs(args.train),
        read_pairs(args.val),
        args.out,
        spec,
        executor=args.executor,
        ray_address=args.ray_address,
        progress=not args.quiet,
    )
    print(
        json.dumps(
            {
                "best_trial": result.best_trial.trial_id,
                "best_val_loss": result.best_trial.best_val_loss,
                "model": result.registry_entry.model_dump(mode="json"),
            },
            indent=1,
        )
    )
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from medadapt.finetune.pretraining import PretrainingSpec, continued_pretraining

    spec = (
        PretrainingSpec.model_validate_json(args.spec.read_text(encoding="utf-8"))
        if args.spec
        else PretrainingSpec()
    )
    print(continued_pretraining(args.base, args.corpus, args.out, spec, progress=not args.quiet))
    return 0


def _merge(args: argparse.Namespace) -> int:
    from medadapt.finetune.merge import merge_adapter

    print(merge_adapter(args.base, args.adapter, args.out))
    return 0


def _configs(args: argparse.Namespace) -> int:
    from medadapt.finetune.distributed import render_accelerate_config

    print(
        render_accelerate_config(
            args.name, args.out, num_processes=args.num_processes, num_machines=args.num_machines
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run one command."""
    parser = argparse.ArgumentParser(prog="python -m medadapt.finetune", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sweep = sub.add_parser("sweep", help="LoRA sweep over a grid; resumes in --out")
    sweep.add_argument("--base", required=True, help="registry name or checkpoint directory")
    sweep.add_argument("--train", type=Path, required=True, help="JSONL of {prompt, target, images?, id?}")
    sweep.add_argument("--val", type=Path, required=True)
    sweep.add_argument("--out", type=Path, required=True)
    sweep.add_argument("--spec", type=Path, help="SweepSpec .json/.yaml (default: the study's grid)")
    sweep.add_argument("--executor", choices=("sequential", "ray"), default="sequential")
    sweep.add_argument("--ray-address")
    sweep.add_argument("--quiet", action="store_true")
    sweep.set_defaults(run=_sweep)

    pretrain = sub.add_parser("pretrain", help="continued pretraining on a corpus → merged model dir")
    pretrain.add_argument("--base", required=True)
    pretrain.add_argument("--corpus", type=Path, required=True, help=".txt (blank-line separated) or .jsonl")
    pretrain.add_argument("--out", type=Path, required=True)
    pretrain.add_argument("--spec", type=Path, help="PretrainingSpec JSON")
    pretrain.add_argument("--quiet", action="store_true")
    pretrain.set_defaults(run=_pretrain)

    merge = sub.add_parser("merge", help="fold a LoRA adapter into its base")
    merge.add_argument("--base", required=True)
    merge.add_argument("--adapter", type=Path, required=True)
    merge.add_argument("--out", type=Path, required=True)
    merge.set_defaults(run=_merge)

    configs = sub.add_parser("configs", help="write a launch-ready accelerate (+DeepSpeed) config")
    configs.add_argument("name", choices=("multi_gpu", "deepspeed_zero2", "deepspeed_zero3"))
    configs.add_argument("--out", type=Path, required=True)
    configs.add_argument("--num-processes", type=int)
    configs.add_argument("--num-machines", type=int)
    configs.set_defaults(run=_configs)

    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
