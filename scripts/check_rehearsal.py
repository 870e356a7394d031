"""Checks that a finished study run compares every pair × task of its config in every variant (CI runs it after each
rehearsal of a paper config).

Expected rows come from the run's own study.yaml: each pair × task × setting that applies × decoding, as `own prompts`
and (with medopt) `medopt`, plus `fine-tuned` for each fine-tuning task and decoding; a (pair, task) the report lists
as skipped (the study's per-model skips) is expected nowhere. Exits 1 naming every missing row, a comparison the
report could not make (`uncompared`) or an integrity problem.

    python scripts/check_rehearsal.py RUN_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from medadapt.study.config import StudyConfig, load_config

Row = tuple[str, str, str, str, str, str]
FIELDS = ("general", "medical", "task", "setting", "decoding", "variant")


def expected_rows(config: StudyConfig, skipped: set[tuple[str, str, str]]) -> set[Row]:
    """Every comparison the config asks for, less the skipped (general, medical, task) triples."""
    rows: set[Row] = set()
    finetune_tasks = (config.finetune.tasks or config.tasks) if config.finetune.enabled else []
    variants = ["own prompts", *(["medopt"] if config.medopt else [])]
    for pair in config.pairs:
        general, medical = pair.general.label, pair.medical.label
        for task in config.tasks:
            if (general, medical, task) in skipped:
                continue
            for setting in config.settings:
                if setting.applies_to(task):
                    rows |= {(general, medical, task, setting.name, d, v) for d in config.decodings for v in variants}
        for task in finetune_tasks:
            if (general, medical, task) not in skipped:
                rows |= {(general, medical, task, "fine-tuned", d, "fine-tuned") for d in config.finetune.decodings}
    return rows


def problems(run_dir: Path) -> list[str]:
    """What keeps the run's report from covering its config, one line each (empty: it covers it)."""
    config = load_config(run_dir / "study.yaml")
    report = json.loads((run_dir / "report" / "report.json").read_text(encoding="utf-8"))
    skipped = {(s["general"], s["medical"], s["task"]) for s in report["skipped"]}
    found = {tuple(row[f] for f in FIELDS) for row in report["comparisons"]}
    lines = [f"missing comparison: {' · '.join(row)}" for row in sorted(expected_rows(config, skipped) - found)]
    lines += [f"uncompared: {json.dumps(row, sort_keys=True)}" for row in report["uncompared"]]
    lines += [f"integrity: {problem}" for problem in report["integrity"]["problems"]]
    if not report["integrity"]["complete"]:
        lines.append("integrity: the report says the run is incomplete")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    run_dir = Path(argv[0])
    found = problems(run_dir)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        return 1
    report = json.loads((run_dir / "report" / "report.json").read_text(encoding="utf-8"))
    variants = sorted({row["variant"] for row in report["comparisons"]})
    print(f"{run_dir}: {len(report['comparisons'])} comparisons ({', '.join(variants)}), "
          f"{len(report['skipped'])} skipped by the study's rules; every pair × task of the config is compared")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
