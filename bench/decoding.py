"""Benchmark of medadapt.decoding.constrained_logprobs against torch, cold cache, ratios from one run.

For logits [B, V] (fp32 and bf16) and K=5 allowed ids per row it times, cycling through a pool of copies larger
than the last-level cache (>= 512 MiB, so every call reads its logits from DRAM, as spec/PERF.md):
  kernel     medadapt.decoding.constrained_logprobs (the logits handed over as a torch tensor via DLPack), on its
             default threads: torch's OpenMP team, which is loaded and spinning after each torch call
  own pool   the same kernel on its own thread pool (CPU only), to show what sharing torch's team is worth
  torch      torch.log_softmax(x, -1, dtype=float32).gather(-1, ids) + argmax   (the library baseline)
  sum        torch.sum(x, -1): one read of the same buffer, the practical bandwidth reference
and prints median ms, GB/s (logits bytes / time), speed-up vs torch and the kernel's share of torch.sum's bandwidth.
On a CUDA machine (torch with CUDA) the same cases also run on the GPU. ``--write`` replaces the ``## decoding``
section of BENCHMARKS.md with the table and a description of the machine.
Run: python bench/decoding.py [--quick] [--write] [--threads N]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import medadapt.decoding as dec

K = 5
POOL_BYTES = 512 * 2**20
BATCHES = (1, 32, 256)
VOCABS = (32000, 128256, 152064)
BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def interleaved_medians(
    methods: dict[str, Callable[[torch.Tensor], object]],
    pool: list[torch.Tensor],
    reps: int,
    budget_s: float,
    sync: Callable[[], None],
) -> dict[str, float]:
    """Median wall time of each method, calling them in turn (one call each per round) and cycling through the
    pool, so that every call reads a copy that is not in cache and a busy machine slows every method alike."""
    for fn in methods.values():
        fn(pool[0])
        fn(pool[1 % len(pool)])
    sync()
    times: dict[str, list[float]] = {name: [] for name in methods}
    start = time.perf_counter()
    i = 0
    rounds = 0
    while rounds < reps or (time.perf_counter() - start < budget_s and rounds < 20 * reps):
        for name, fn in methods.items():
            x = pool[i % len(pool)]
            i += 1
            t0 = time.perf_counter_ns()
            fn(x)
            sync()
            times[name].append((time.perf_counter_ns() - t0) * 1e-9)
        rounds += 1
    return {name: statistics.median(ts) for name, ts in times.items()}


def make_pool(batch: int, vocab: int, dtype: torch.dtype, device: str) -> list[torch.Tensor]:
    """Copies of random logits (σ=4) totalling at least POOL_BYTES."""
    nbytes = batch * vocab * torch.finfo(dtype).bits // 8
    copies = max(2, math.ceil(POOL_BYTES / nbytes))
    gen = torch.Generator().manual_seed(0)
    pool = []
    for _ in range(copies):
        pool.append((torch.randn(batch, vocab, generator=gen) * 4.0).to(dtype).to(device))
    return pool


def cpu_description() -> str:
    """Model, cores and caches from /proc/cpuinfo and sysfs."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    caches = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if kind != "Instruction":
            caches.append(f"L{level} {size}")
    return f"{model}, {os.cpu_count()} logical CPUs, per-core caches {', '.join(caches)}"


def run_cases(
    device: str,
    threads: int,
    dtypes: tuple[str, ...],
    reps: int,
    budget: float,
    batches: tuple[int, ...] = BATCHES,
    vocabs: tuple[int, ...] = VOCABS,
) -> list[dict[str, object]]:
    """Every (dtype, B, V) case on one device; returns rows of timings."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rows = []
    for dname in dtypes:
        dtype = torch.float32 if dname == "fp32" else torch.bfloat16
        for batch in batches:
            for vocab in vocabs:
                pool = make_pool(batch, vocab, dtype, device)
                rng = np.random.default_rng(0)
                ids_np = np.stack([rng.choice(vocab, K, replace=False) for _ in range(batch)]).astype(
                    np.int64
                )
                ids_t = torch.from_numpy(ids_np).to(device)

                def kernel(x: torch.Tensor, ids_np: np.ndarray = ids_np) -> object:
                    return dec.constrained_logprobs(x, ids_np, threads=threads)

                def torch_ls(x: torch.Tensor, ids_t: torch.Tensor = ids_t) -> object:
                    logp = torch.log_softmax(x, dim=-1, dtype=torch.float32).gather(-1, ids_t)
                    return logp, logp.argmax(-1)

                def torch_sum(x: torch.Tensor) -> object:
                    return x.sum(dim=-1)

                def kernel_own_pool(x: torch.Tensor, ids_np: np.ndarray = ids_np) -> object:
                    dec.set_cpu_thread_pool("own")
                    try:
                        return dec.constrained_logprobs(x, ids_np, threads=threads)
                    finally:
                        dec.set_cpu_thread_pool("auto")

                methods = {"kernel": kernel, "torch": torch_ls, "sum": torch_sum}
                if device == "cpu":
                    methods["own"] = kernel_own_pool

                got = kernel(pool[0])
                want = torch_ls(pool[0])[0].cpu().numpy()
                err = float(np.abs(got.logprobs - want).max())
                assert np.array_equal(got.argmax, want.argmax(-1)), (dname, batch, vocab)
                nbytes = pool[0].numel() * pool[0].element_size()
                t = interleaved_medians(methods, pool, reps, budget, sync)
                row = {
                    "device": device,
                    "dtype": dname,
                    "B": batch,
                    "V": vocab,
                    "MB": nbytes / 1e6,
                    "err": err,
                    **{f"{k}_ms": v * 1e3 for k, v in t.items()},
                    **{f"{k}_gbs": nbytes / v / 1e9 for k, v in t.items()},
                }
                row["speedup"] = t["torch"] / t["kernel"]
                row["share_of_sum"] = t["sum"] / t["kernel"]
                row["own_speedup"] = t["torch"] / t["own"] if "own" in t else float("nan")
                rows.append(row)
                print(format_row(row), flush=True)
                del pool
    return rows


HEADER = (
    "| device | dtype | B | V | MB | kernel ms | kernel GB/s | torch log_softmax+gather ms | torch.sum ms | "
    "torch.sum GB/s | speed-up vs torch | kernel / torch.sum bandwidth | max abs Δ vs torch | "
    "kernel on its own pool ms | its speed-up vs torch |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def format_row(r: dict[str, object]) -> str:
    return (
        f"| {r['device']} | {r['dtype']} | {r['B']} | {r['V']} | {r['MB']:.1f} | {r['kernel_ms']:.3f} | "
        f"{r['kernel_gbs']:.1f} | {r['torch_ms']:.3f} | {r['sum_ms']:.3f} | {r['sum_gbs']:.1f} | "
        f"{r['speedup']:.1f}x | {100 * r['share_of_sum']:.0f}% | {r['err']:.1e} | "
        + (f"{r['own_ms']:.3f} | {r['own_speedup']:.1f}x |" if "own_ms" in r else "– | – |")
    )


def load_average() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def write_section(text: str) -> None:
    """Replace (or append) the `## decoding` section of BENCHMARKS.md, leaving other sections alone."""
    old = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else "# Benchmarks\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == "## decoding"), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = "".join(lines[:start]) + text + ("\n" + "".join(lines[end:]) if end < len(lines) else "")
    BENCHMARKS.write_text(new, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="torch and kernel threads"
    )
    parser.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    parser.add_argument("--devices", default="auto", help="cpu, cuda or auto (cpu, plus cuda when available)")
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)), help="comma-separated B values")
    parser.add_argument("--vocabs", default=",".join(map(str, VOCABS)), help="comma-separated V values")
    parser.add_argument("--dtypes", default="fp32,bf16", help="fp32 and/or bf16")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    reps, budget = (5, 0.1) if args.quick else (9, 0.5)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and "cuda" in dec.backends() else [])
    if args.devices != "auto":
        devices = args.devices.split(",")
    load_before = load_average()
    env = {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "OMP_"))}
    print(
        f"medadapt-decoding {dec.__version__} ({', '.join(dec.backends())}; CPU build "
        f"{dec._native._core.cpu_isa() if dec._native._core else 'none'}), torch {torch.__version__}, "
        f"numpy {np.__version__}, threads {args.threads}, load average {load_before}, env {env or 'default'}"
    )
    torch.ones(1 << 16).sum()  # torch's OpenMP runtime is up before the kernel looks for it
    print(f"kernel threads: {dec.cpu_thread_pool()}")
    print(HEADER)
    rows = []
    for device in devices:
        rows += run_cases(
            device,
            args.threads,
            tuple(args.dtypes.split(",")),
            reps,
            budget,
            tuple(int(b) for b in args.batches.split(",")),
            tuple(int(v) for v in args.vocabs.split(",")),
        )
    load_after = load_average()
    print(f"load average after: {load_after}")
    if args.write:
        gpu = f"; GPU: {torch.cuda.get_device_name()}" if "cuda" in devices else "; no GPU in this run"
        text = (
            "## decoding\n\n"
            "`python bench/decoding.py --write` (medadapt.decoding.constrained_logprobs vs torch "
            "`log_softmax(x, -1, dtype=float32).gather(ids)` + argmax, and `torch.sum(x, -1)` as the one-read "
            "bandwidth reference; same run, same buffers). Cold cache: each call reads a different copy from a "
            f"pool of >= {POOL_BYTES >> 20} MiB; the methods are called in turn. Median wall time; GB/s = logits "
            f"bytes / time; K={K}. The kernel runs on {dec.cpu_thread_pool()} (the default); the last two columns "
            "time it on its own thread pool in the same rounds.\n\n"
            f"Machine: {cpu_description()}{gpu}; torch {torch.__version__} ({args.threads} threads), numpy "
            f"{np.__version__}, Python {platform.python_version()}; kernel build "
            f"{dec._native._core.cpu_isa()}; allocator {env or 'glibc defaults'}; load average (1/5/15 min) "
            f"{load_before} before, {load_after} after.\n\n"
            + HEADER
            + "\n"
            + "\n".join(format_row(r) for r in rows)
            + "\n"
        )
        write_section(text)
        print(f"wrote the decoding section of {BENCHMARKS}")


if __name__ == "__main__":
    main()
