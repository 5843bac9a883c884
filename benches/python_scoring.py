#!/usr/bin/env python3
"""Benchmark of the Python package's Scorer against the same computation in NumPy and against faiss.

    python benches/python_scoring.py [--rounds 5] [--n 10000 100000] [--m 10000] [--d 512] [--k 16]

Per N: `asd.Scorer("ratio", k=K)` fit + score of M queries; the same in NumPy the way the reference
implementation computes it ("numpy reference": full N × N and M × N distance matrices, each column sorted;
only where they fit in 8 GiB); the same in NumPy done well ("numpy blocked": blocked matrix products with
OpenBLAS, the K+1 smallest distances per reference by `np.partition`, min over references of d / den); and faiss-cpu's exact `IndexFlatIP`: the k-NN
search of the queries alone ("faiss queries"), and with the references' own (K+1)-NN search that the
densities need ("faiss queries+densities"); faiss computes neighbours only, no densities or ratios. The
tools run alternately, in a rotating order, for each round; each round prints the time of each and our
speed-up over it, and the summary gives the median and min-max of the ratios. Then the cost of one
query through the Python API beyond the computation. Needs numpy and, for the faiss column,
faiss-cpu; installs neither.
"""

import argparse
import os
import platform
import statistics
import time

import numpy as np

import asd

try:
    import faiss
except ImportError:  # the faiss columns are left out
    faiss = None

BLOCK = 4096


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def unit(rng, n, d):
    x = rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def numpy_ratio(refs, queries, k):
    """The reference approach in NumPy, blocked so that 100 000 references fit in memory."""
    n = refs.shape[0]
    den = np.empty(n, dtype=np.float64)
    for i in range(0, n, BLOCK):
        d = 0.5 * (1.0 - refs[i:i + BLOCK] @ refs.T)
        # K + 1 smallest including the reference itself, which is dropped as the authors' code does.
        part = np.partition(d, k, axis=1)[:, :k + 1]
        part.sort(axis=1)
        den[i:i + BLOCK] = part[:, 1:].mean(axis=1)
    inv = (1.0 / den).astype(np.float32)
    out = np.empty(queries.shape[0], dtype=np.float64)
    for i in range(0, queries.shape[0], BLOCK):
        d = 0.5 * (1.0 - queries[i:i + BLOCK] @ refs.T)
        out[i:i + BLOCK] = (d * inv).min(axis=1)
    return out


def numpy_reference(refs, queries, k):
    """The reference implementation's own approach: full N × N and M × N matrices, each column sorted."""
    d = np.sort(0.5 * (1.0 - refs @ refs.T), axis=0)
    den = d[1:k + 1].mean(axis=0)
    return (0.5 * (1.0 - queries @ refs.T) / den).min(axis=1)


def ours(refs, queries, k):
    return asd.Scorer("ratio", k=k).fit(refs).decision_function(queries)


def faiss_queries(refs, queries, k):
    index = faiss.IndexFlatIP(refs.shape[1])
    index.add(refs)
    return index.search(queries, k)


def faiss_full(refs, queries, k):
    index = faiss.IndexFlatIP(refs.shape[1])
    index.add(refs)
    index.search(refs, k + 1)
    return index.search(queries, k)


def timed(f, *args):
    t = time.perf_counter()
    out = f(*args)
    return time.perf_counter() - t, out


def single_query_overhead(d, repeats=2000):
    rng = np.random.default_rng(1)
    s = asd.Scorer("ratio", k=1).fit(unit(rng, 2, d))
    q = unit(rng, 1, d)
    core = s._core  # the native call alone: the same computation without the Python layer
    for f in (lambda: s.decision_function(q), lambda: core.score(q)):
        f()
    api, native = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        s.decision_function(q)
        api.append(time.perf_counter() - t)
        t = time.perf_counter()
        core.score(q)
        native.append(time.perf_counter() - t)
    return statistics.median(api), statistics.median(native)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--m", type=int, default=10_000)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical cores; asd {asd.__version__}, "
          f"numpy {np.__version__}" + (f", faiss {faiss.__version__}" if faiss else ", no faiss"))
    rng = np.random.default_rng(a.seed)
    tools = {"numpy blocked": numpy_ratio}
    if faiss is not None:
        tools["faiss queries"] = faiss_queries
        tools["faiss queries+densities"] = faiss_full
    for n in a.n:
        refs, queries = unit(rng, n, a.d), unit(rng, a.m, a.d)
        here = dict(tools)
        if 12 * n * max(n, a.m) <= 8 * 2**30:
            here = {"numpy reference": numpy_reference, **tools}
        ratios = {name: [] for name in here}
        print(f"\nN = {n} references, M = {a.m} queries, D = {a.d}, ratio K = {a.k}")
        for r in range(a.rounds):
            order = ["asd"] + list(here)
            order = order[r % len(order):] + order[:r % len(order)]
            times = {}
            for name in order:
                f = ours if name == "asd" else here[name]
                times[name], out = timed(f, refs, queries, a.k)
                if name == "numpy blocked":
                    check = out
                if name == "asd":
                    mine = out
            err = float(np.abs(mine - check).max())
            line = [f"round {r + 1}: asd {times['asd']:.2f} s"]
            for name in here:
                ratios[name].append(times[name] / times["asd"])
                line.append(f"{name} {times[name]:.2f} s ({ratios[name][-1]:.2f}x)")
            print("  " + ", ".join(line) + f"; max |asd - numpy blocked| = {err:.1e}")
        for name, rs in ratios.items():
            print(f"  asd vs {name}: median {statistics.median(rs):.2f}x "
                  f"(min {min(rs):.2f}x, max {max(rs):.2f}x) over {len(rs)} rounds")
    api, native = single_query_overhead(a.d)
    print(f"\none query (2 references, D = {a.d}): decision_function {api * 1e6:.1f} us, "
          f"native call {native * 1e6:.1f} us, Python layer {(api - native) * 1e6:.1f} us")


if __name__ == "__main__":
    main()
