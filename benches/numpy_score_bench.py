"""Ratio-K16 fit + score the way the reference implementation computes it, in NumPy, for comparison with
`asd bench score`.

The reference forms the full N × N distance matrix of the references, sorts each column, averages the K
nearest (dropping the self-match), then forms the full M × N test distance matrix. Memory: 4·N² bytes.

Run: python3 benches/numpy_score_bench.py [--n 1000,10000] [--m 10000] [--d 512] [--k 16]
"""
import argparse, time

import numpy as np


def unit(n, d, rng):
    a = rng.random((n, d), dtype=np.float32) - 0.5
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", default="1000,10000")
    ap.add_argument("--m", type=int, default=10000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--k", type=int, default=16)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    x = unit(a.m, a.d, rng)
    print("| N | M | fit s | score s | total s | GFLOP/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n in [int(v) for v in a.n.split(",")]:
        need = 4 * n * n + 4 * a.m * n
        if need > 16 * 2**30:
            print(f"| {n} | {a.m} | needs {need / 2**30:.0f} GiB for the full matrices | | | |")
            continue
        y = unit(n, a.d, rng)
        t = time.perf_counter()
        dist = 0.5 * (1.0 - y @ y.T)
        dist = np.sort(dist, axis=0)
        den = dist[1 : a.k + 1].mean(axis=0)
        fit = time.perf_counter() - t
        t = time.perf_counter()
        scores = (0.5 * (1.0 - x @ y.T) / den).min(axis=1)
        score = time.perf_counter() - t
        flops = 2 * a.d * (n * n + a.m * n)
        print(f"| {n} | {a.m} | {fit:.3f} | {score:.3f} | {fit + score:.3f} | {flops / (fit + score) / 1e9:.1f} |")
        del dist, scores


if __name__ == "__main__":
    main()
