"""Full-size BEATs: ours (`asd embed --frontend beats`) beside the reference code in PyTorch, in
alternating rounds on this machine, on the same checkpoint and clips.

Run (after `cargo build --release -p asd-cli`; needs torch and torchaudio):
  python3 benches/beats_bench.py [--rounds 3] [--clips 8] [--seconds 10] [--threads N]
      [--beats-src ../shared/reference/beats-src] [--asd target/release/asd]

The reference implementation (Microsoft's BEATs as bundled with MERL anomaly-score-normalization
1.1.0) is imported at run time from --beats-src; nothing of it is copied into this repository. The
script builds the published BEATs_iter3 configuration (12 layers, width 768, 12 heads, FFN 3072,
patch embedding 512, deep norm, gated relative position bias) with random weights, saves it in the
official checkpoint layout (`torch.save({'cfg', 'model'})`), and embeds the same seeded 16 kHz clips
with both: MERL's `BEATs-raw` pooling (mean over time per frequency patch, 6144 values).

Each round runs both, in an order that alternates, each in a process of its own: PyTorch's time is
its `extract_features` + pooling alone (model built and loaded beforehand, under torch.no_grad(), eval
mode); ours is the embedding stage that `asd embed` reports (the filter bank and the forward pass; the
checkpoint read is not in it either). Peak RSS is each process's own (wait4). The two outputs are
compared by relative error. Prints the CPU, the per-round times, the median ratio (PyTorch / ours), and
what the rate means for DCASE 2025 (about 14 000 clips of 10 s) on this machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from alternate_train import cpu  # noqa: E402

PUBLISHED = {
    "input_patch_size": 16, "embed_dim": 512, "conv_bias": False, "encoder_layers": 12,
    "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072, "encoder_attention_heads": 12,
    "activation_fn": "gelu", "layer_wise_gradient_decay_ratio": 0.6, "layer_norm_first": False,
    "deep_norm": True, "dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0,
    "encoder_layerdrop": 0.05, "dropout_input": 0.0, "conv_pos": 128, "conv_pos_groups": 16,
    "relative_position_embedding": True, "num_buckets": 320, "max_distance": 800, "gru_rel_pos": True,
    "finetuned_model": False, "predictor_dropout": 0.0, "predictor_class": 527,
}

TORCH_CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
sys.path.insert(0, sys.argv[1])
from beats.BEATs import BEATs, BEATsConfig
torch.set_num_threads(int(sys.argv[5]))
ck = torch.load(sys.argv[2], map_location="cpu", weights_only=False)
m = BEATs(BEATsConfig(ck["cfg"]))
m.load_state_dict(ck["model"])
m.eval()
x = torch.from_numpy(np.load(sys.argv[3]))
with torch.no_grad():
    t = time.perf_counter()
    f = m.extract_features(x)[0]
    b, n, c = f.shape
    pooled = f.reshape(b, n // 8, 8, c).mean(dim=1).reshape(b, 8 * c)
    sec = time.perf_counter() - t
np.save(sys.argv[4], pooled.numpy())
print(json.dumps({"seconds": sec}))
"""


def run_measured(cmd, env=None):
    """Runs a command once; returns (stdout, peak RSS in MB of that process alone, from wait4)."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read()
        if p.returncode != 0:
            raise SystemExit(f"{cmd[0]} failed ({p.returncode}):\n{text}\n{err.read()}")
    return text, ru.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--beats-src", default=os.path.join(HERE, "..", "..", "shared", "reference", "beats-src"))
    ap.add_argument("--asd", default=os.path.join(HERE, "..", "target", "release", "asd"))
    a = ap.parse_args()
    import numpy as np
    import torch
    sys.path.insert(0, a.beats_src)
    from beats.BEATs import BEATs, BEATsConfig

    tmp = tempfile.mkdtemp(prefix="beats_bench_")
    torch.manual_seed(0)
    model = BEATs(BEATsConfig(PUBLISHED))
    ckpt = os.path.join(tmp, "BEATs_random.pt")
    torch.save({"cfg": PUBLISHED, "model": model.state_dict()}, ckpt)
    del model
    rng = np.random.default_rng(0)
    waves = (0.1 * rng.standard_normal((a.clips, int(16000 * a.seconds)))).astype(np.float32)
    wpath = os.path.join(tmp, "waves.npy")
    np.save(wpath, waves)
    child = os.path.join(tmp, "torch_child.py")
    with open(child, "w") as f:
        f.write(TORCH_CHILD)
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))

    print(f"CPU: {cpu()}; {a.threads} threads; {a.clips} clips x {a.seconds:g} s; torch {torch.__version__}")
    rows = []
    for r in range(a.rounds):
        order = ["torch", "ours"] if r % 2 == 0 else ["ours", "torch"]
        got = {}
        for who in order:
            if who == "torch":
                out_t = os.path.join(tmp, "torch.npy")
                cmd = [sys.executable, child, a.beats_src, ckpt, wpath, out_t, str(a.threads)]
                text, rss = run_measured(cmd)
                sec = json.loads(text.strip().splitlines()[-1])["seconds"]
                got["torch"] = (sec, rss)
            else:
                out_o = os.path.join(tmp, "ours.npy")
                cmd = [a.asd, "embed", "--frontend", "beats", "--weights", ckpt, "--wave-npy", wpath,
                       "--out", out_o]
                text, rss = run_measured(cmd, env)
                line = next(x for x in text.splitlines() if x.startswith("embedded "))
                sec = float(line.split(" in ")[1].split(" s ")[0])
                got["ours"] = (sec, rss)
        rows.append(got)
        print(f"round {r + 1} ({' then '.join(order)}): PyTorch {got['torch'][0]:.2f} s, "
              f"ours {got['ours'][0]:.2f} s, ratio {got['torch'][0] / got['ours'][0]:.2f}")
    pt = np.load(os.path.join(tmp, "torch.npy"))
    ours = np.load(os.path.join(tmp, "ours.npy"))
    err = float(np.linalg.norm(ours - pt) / np.linalg.norm(pt))
    ratios = [g["torch"][0] / g["ours"][0] for g in rows]
    ours_s = statistics.median(g["ours"][0] for g in rows)
    torch_s = statistics.median(g["torch"][0] for g in rows)
    per_clip = ours_s / a.clips
    print(f"relative error ours vs PyTorch: {err:.2e}")
    print(f"median: PyTorch {torch_s:.2f} s, ours {ours_s:.2f} s; ratio (PyTorch / ours) "
          f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")
    print(f"peak RSS: PyTorch {max(g['torch'][1] for g in rows):.0f} MB, "
          f"ours {max(g['ours'][1] for g in rows):.0f} MB")
    print(f"ours {per_clip:.3f} s per {a.seconds:g} s clip: DCASE 2025 (~14 000 clips) in "
          f"{14000 * per_clip / 3600:.1f} h on this machine (PyTorch {14000 * torch_s / a.clips / 3600:.1f} h)")


if __name__ == "__main__":
    main()
