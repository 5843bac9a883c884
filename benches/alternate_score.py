"""`asd bench score` and benches/numpy_score_bench.py run alternately, N rounds, on this machine.

Run (after `cargo build --release -p asd-cli`):
  python3 benches/alternate_score.py [--rounds 5] [--n 10000] [--m 10000] [--gemm matrixmultiply,faer-gemm]
Each round runs the NumPy reference approach (full distance matrices, sorted columns: what the
reference implementation does) and then ours once per GEMM backend named in --gemm (through the
ASD_GEMM variable; the default is the backend the binary picks for this CPU), in an order that
rotates from round to round. Prints the CPU, each round's fit + score seconds and ratios (NumPy / ours),
the median and min–max of the per-round ratios, and the plain SGEMM rates `asd bench score` measured.
"""
import argparse, os, statistics, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ASD = os.path.join(HERE, "..", "target", "release", "asd")
sys.path.insert(0, HERE)
from alternate_train import cpu  # noqa: E402


def total_seconds(out, n):
    """The `total s` cell of the table row for N = n (both scripts print the same columns)."""
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == str(n):
            return float(cells[4])
    raise SystemExit(f"no row for N = {n} in:\n{out}")


def numpy_sgemm_rate():
    import time
    import numpy as np
    rng = np.random.default_rng(0)
    a = rng.random((4096, 512), dtype=np.float32)
    b = rng.random((4096, 512), dtype=np.float32)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        a @ b.T
        best = min(best, time.perf_counter() - t)
    return 2 * 4096 * 4096 * 512 / best / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--m", type=int, default=10000)
    ap.add_argument("--gemm", default="", help="comma-separated ASD_GEMM values; empty: the binary's choice")
    a = ap.parse_args()
    backends = [g for g in a.gemm.split(",") if g] or [""]
    ours_cmd = [ASD, "bench", "score", "--n", str(a.n), "--m", str(a.m)]
    numpy_cmd = [sys.executable, os.path.join(HERE, "numpy_score_bench.py"), "--n", str(a.n), "--m", str(a.m)]
    print(f"CPU: {cpu()}")
    print(f"ours: {' '.join(ours_cmd)}\npeer: {' '.join(numpy_cmd)}\n")
    names = [g or "default" for g in backends]
    print("| round | NumPy s | " + " | ".join(f"ours {g} s | ratio" for g in names) + " |")
    print("| --- | --- |" + " --- | --- |" * len(names))
    ratios = {g: [] for g in names}
    rates = {}
    jobs = [("numpy", None)] + [("ours", g) for g in backends]
    for r in range(a.rounds):
        times = {}
        for kind, g in jobs[r % len(jobs):] + jobs[: r % len(jobs)]:
            if kind == "numpy":
                out = subprocess.run(numpy_cmd, capture_output=True, text=True, check=True).stdout
                times["numpy"] = total_seconds(out, a.n)
            else:
                env = dict(os.environ)
                if g:
                    env["ASD_GEMM"] = g
                out = subprocess.run(ours_cmd, capture_output=True, text=True, check=True, env=env).stdout
                times[g or "default"] = total_seconds(out, a.n)
                for line in out.splitlines():
                    if line.startswith("plain SGEMM"):
                        name = line.split()[2]
                        rates.setdefault(name, []).append(float(line.split("): ")[1].split()[0]))
        row = []
        for g in names:
            ratios[g].append(times["numpy"] / times[g])
            row.append(f"{times[g]:.3f} | {ratios[g][-1]:.2f}")
        print(f"| {r + 1} | {times['numpy']:.3f} | " + " | ".join(row) + " |", flush=True)
    print()
    for g in names:
        v = ratios[g]
        print(f"NumPy / ours ({g}): median {statistics.median(v):.2f} (min {min(v):.2f}, max {max(v):.2f})")
    for name, v in sorted(rates.items()):
        print(f"plain SGEMM {name} (4096 × 512 × 4096, printed by every run of ours): median {statistics.median(v):.1f} "
              f"GFLOP/s (min {min(v):.1f}, max {max(v):.1f})")
    print(f"plain SGEMM NumPy (the same product, best of 3): {numpy_sgemm_rate():.1f} GFLOP/s")


if __name__ == "__main__":
    main()
