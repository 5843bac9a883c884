"""`asd bench train` and benches/torch_train_bench.py run alternately, N rounds, on this machine.

Run (after `cargo build --release -p asd-cli`):
  python3 benches/alternate_train.py [--rounds 5] [--steps 3] [--batch 32] [--seconds 10] [--classes 170]
      [--skip-unmixed-pass] [--gemm matrixmultiply,faer-gemm]
Prints the CPU, each round's times and ratios (PyTorch / ours, ours with the features it computes outside
the step: the mixed and the un-mixed batch for training, one batch for inference), and the median and
min–max of the per-round ratios. Alternating rounds keep a shared machine's drift out of the ratio.
"""
import argparse, json, os, statistics, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ASD = os.path.join(HERE, "..", "target", "release", "asd")


def cpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
        flags = next((l for l in out.splitlines() if l.startswith("Flags")), "")
        isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "baseline"
        return f"{model}, {os.cpu_count()} cores, {isa}"
    except Exception:
        return "unknown CPU"


def run_json(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out[out.index("{"):])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--classes", type=int, default=170)
    ap.add_argument("--skip-unmixed-pass", action="store_true")
    ap.add_argument("--naive-adaproj", action="store_true", help="passed to torch_train_bench.py")
    ap.add_argument("--gemm", default="", help="comma-separated ASD_GEMM values, each run every round; empty: the binary's choice")
    a = ap.parse_args()
    common = ["--batch", str(a.batch), "--classes", str(a.classes), "--steps", str(a.steps)]
    skip = ["--skip-unmixed-pass"] if a.skip_unmixed_pass else []
    ours_cmd = [ASD, "bench", "train", "--clip-seconds", str(a.seconds)] + common + skip
    torch_cmd = [sys.executable, os.path.join(HERE, "torch_train_bench.py"), "--seconds", str(a.seconds)] + common + skip
    if a.naive_adaproj:
        torch_cmd.append("--naive-adaproj")
    backends = [g for g in a.gemm.split(",") if g] or [""]
    names = [g or "default" for g in backends]
    print(f"CPU: {cpu()}")
    print(f"ours: {' '.join(ours_cmd)}\npeer: {' '.join(torch_cmd)}\n")
    print("| round | ours | train s (+ features) | PyTorch train s | ratio | inference s (folded + features) | PyTorch inference s | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rt = {g: [] for g in names}
    ri = {g: [] for g in names}
    jobs = [None] + backends
    for r in range(a.rounds):
        ours = {}
        for g in jobs[r % len(jobs):] + jobs[: r % len(jobs)]:
            if g is None:
                t = run_json(torch_cmd)
            else:
                env = dict(os.environ)
                if g:
                    env["ASD_GEMM"] = g
                ours[g or "default"] = run_json(ours_cmd, env)
        for g in names:
            o = ours[g]
            ot = o["train_step_s"] + o["train_features_s"]
            oi = o["inference_folded_s"] + o["features_s"]
            rt[g].append(t["train_step_s"] / ot)
            ri[g].append(t["inference_s"] / oi)
            print(f"| {r + 1} | {g} | {o['train_step_s']:.3f} + {o['train_features_s']:.3f} | {t['train_step_s']:.3f} | {rt[g][-1]:.2f} "
                  f"| {o['inference_folded_s']:.3f} + {o['features_s']:.3f} | {t['inference_s']:.3f} | {ri[g][-1]:.2f} |", flush=True)
    print()
    for g in names:
        print(f"train step ratio ({g}): median {statistics.median(rt[g]):.2f} (min {min(rt[g]):.2f}, max {max(rt[g]):.2f})")
        print(f"inference ratio ({g}):  median {statistics.median(ri[g]):.2f} (min {min(ri[g]):.2f}, max {max(ri[g]):.2f})")
    print(f"threads: ours {o['threads']}, PyTorch {t['threads']}; peak RSS ours {o.get('peak_rss_mib')} MiB, PyTorch {t.get('peak_rss_mib'):.0f} MiB")
    if "sgemm" in o:
        print(f"ours' SGEMM: {json.dumps(o['sgemm'])}")

if __name__ == "__main__":
    main()
