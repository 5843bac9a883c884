"""Inference of the two-branch network: ours, ONNX Runtime and PyTorch eager on the same weights, in
alternating rounds on this machine, at the batch sizes of the monitor (1 clip) and of `asd embed` (32).

Run (after `cargo build --release -p asd-cli`; needs torch, onnx and onnxruntime from PyPI):
  python3 benches/ort_inference.py [--rounds 5] [--repeats 10] [--batch 1,32] [--seconds 10] [--keep DIR]

What it does:
1. builds benches/torch_train_bench.py's network (the reference's architecture) with seeded weights and
   BatchNorm statistics drawn away from (0, 1), so that folding them is exercised;
2. writes its state dict under the reference's tensor names and imports it with `asd model import`;
3. exports the network from its features on (|FFT| half spectrum and mean-normalised |STFT|) to ONNX,
   opset 17, one graph per batch size, and opens each in ONNX Runtime (all graph optimisations, 2 threads);
4. checks that the three agree: each clip's unit-length embedding, relative error (ours from
   `asd embed --wave-npy`, ORT on NumPy's features, PyTorch on the waveforms);
5. times each in turn, rounds rotating who goes first: ours with `asd bench infer` (features with realfft,
   then the folded network), ORT (the graph; NumPy's features timed apart), PyTorch eager (its forward
   computes the features, as the reference's does; `torch.no_grad`).
Prints the CPU, a table per round and the medians of the ratios ORT / ours and PyTorch / ours (> 1: ours
is faster), on the network alone and with the features.
"""
import argparse, json, os, statistics, struct, subprocess, sys, tempfile, time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from alternate_train import cpu  # noqa: E402
from torch_step_f64 import our_name  # noqa: E402
from torch_train_bench import Net  # noqa: E402

ASD = os.path.join(HERE, "..", "target", "release", "asd")


def reference_name(ours):
    """torch_train_bench.Net's state-dict key → the reference's tensor name (inverse of our_name)."""
    p = ours.split(".")
    head, rest = p[0], p[1:]
    if head in ("c1", "c2", "c3"):
        return ".".join(["fft_branch", "conv" + head[1]] + rest)
    if head == "lins":
        return ".".join(["fft_branch", f"lin{int(rest[0]) + 1}"] + rest[1:])
    if head == "norms":
        return ".".join(["fft_branch", f"norm{int(rest[0]) + 1}"] + rest[1:])
    if head == "fft_emb":
        return ".".join(["fft_branch", "emb"] + rest)
    if head == "norm_inp":
        return ".".join(["stft", "norm_inp"] + rest)
    if head == "blocks":
        return ".".join(["stft_branch", f"res_block{int(rest[0]) + 1}"] + rest[1:])
    if head == "stft_emb":
        return ".".join(["stft_branch", "emb"] + rest)
    return ".".join(["stft_branch"] + p)


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for k, t in tensors.items():
        a = t.detach().cpu().numpy()
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        b = np.ascontiguousarray(a).tobytes()
        header[k] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class FromFeatures(torch.nn.Module):
    """Net.forward from the features on: what is exported to ONNX."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, spec, stft):
        n = self.net
        a = F.relu(n.c3(F.relu(n.c2(F.relu(n.c1(spec.unsqueeze(1))))))).flatten(1)
        for lin, norm in zip(n.lins, n.norms):
            a = F.relu(norm(lin(a)))
        a = n.fft_emb(a)
        s = n.norm_inp(stft).transpose(1, 2).unsqueeze(1)
        s = F.max_pool2d(F.relu(n.norm1(n.conv1(s))), 3, 2)
        for b in n.blocks:
            s = b(s)
        # norm2 written out (eval mode, no affine): the exporter cannot carry BatchNorm1d's width
        # through the shapes that SameConv's padding leaves symbolic.
        v = s.max(dim=2).values.flatten(1)
        v = (v - n.norm2.running_mean) / torch.sqrt(n.norm2.running_var + n.norm2.eps)
        s = n.stft_emb(v)
        return torch.cat([a, s], 1)


def numpy_features(x):
    """|FFT| half spectrum and the mean-normalised |STFT| (1024 / 512, periodic Hann, no centring)."""
    half = x.shape[1] // 2
    spec = np.abs(np.fft.rfft(x, axis=1))[:, :half].astype(np.float32)
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024)).astype(np.float32)
    frames = (x.shape[1] - 1024) // 512 + 1
    idx = np.arange(frames)[:, None] * 512 + np.arange(1024)[None, :]
    s = np.abs(np.fft.rfft(x[:, idx] * win, axis=2)).astype(np.float32).transpose(0, 2, 1)
    return spec, np.ascontiguousarray(s - s.mean(axis=2, keepdims=True))


def unit(e):
    e = np.asarray(e, dtype=np.float64)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def rel(a, b):
    """Largest per-clip relative error of unit-length embeddings."""
    a, b = unit(a), unit(b)
    return float((np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)).max())


def median_time(f, repeats):
    f()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--batch", default="1,32")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", help="folder for the model, graph and waves (default: a temporary one)")
    a = ap.parse_args()
    batches = [int(b) for b in a.batch.split(",")]
    import onnxruntime as ort

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    n = int(round(a.seconds * 16000))
    net = Net(n)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    net.eval()
    work = a.keep or tempfile.mkdtemp(prefix="ort_inference_")
    os.makedirs(work, exist_ok=True)
    state = {reference_name(k): v for k, v in net.state_dict().items() if k != "window"}
    for k in net.state_dict():
        assert k == "window" or our_name(reference_name(k)) == k.split("."), k
    save_safetensors(os.path.join(work, "state_dict.safetensors"), state)
    model = os.path.join(work, "model")
    subprocess.run([ASD, "model", "import", "--torch-weights", os.path.join(work, "state_dict.safetensors"),
                    "--out", model, "--clip-seconds", str(a.seconds)], check=True, capture_output=True)

    rng = np.random.default_rng(0)
    waves = rng.uniform(-0.1, 0.1, (max(batches), n)).astype(np.float32)
    waves_path = os.path.join(work, "waves.npy")
    np.save(waves_path, waves)
    spec, stft = numpy_features(waves)

    # One graph per batch size, shapes static (what lets ORT plan every buffer).
    ff = FromFeatures(net).eval()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sessions = {}
    for b in batches:
        graph = os.path.join(work, f"net_batch{b}.onnx")
        torch.onnx.export(ff, (torch.from_numpy(spec[:b]), torch.from_numpy(stft[:b])), graph,
                          input_names=["spectrum", "stft"], output_names=["embedding"], opset_version=17,
                          dynamo=False)
        sessions[b] = ort.InferenceSession(graph, so, providers=["CPUExecutionProvider"])

    # Agreement on every clip of the largest batch.
    ours_path = os.path.join(work, "ours.npy")
    subprocess.run([ASD, "embed", "--model", model, "--wave-npy", waves_path, "--out", ours_path],
                   check=True, capture_output=True)
    e_ours = np.load(ours_path)
    big = max(batches)
    e_ort = sessions[big].run(None, {"spectrum": spec[:big], "stft": stft[:big]})[0]
    with torch.no_grad():
        e_torch = net(torch.from_numpy(waves)).numpy()
    print(f"CPU: {cpu()}")
    print(f"onnxruntime {ort.__version__}, torch {torch.__version__}, numpy {np.__version__}; threads {a.threads}")
    print(f"agreement on {len(waves)} clips of {a.seconds} s (largest relative error of unit embeddings): "
          f"ours vs PyTorch {rel(e_ours, e_torch):.1e}, ORT vs PyTorch {rel(e_ort, e_torch):.1e}, "
          f"ours vs ORT {rel(e_ours, e_ort):.1e}\n")

    def run_ours():
        out = subprocess.run([ASD, "bench", "infer", "--model", model, "--wave-npy", waves_path,
                              "--batch", a.batch, "--repeats", str(a.repeats)],
                             check=True, capture_output=True, text=True).stdout
        rows = json.loads(out[out.index("{"):])["rows"]
        return {r["batch"]: (r["network_s"], r["features_s"]) for r in rows}

    def run_ort():
        res = {}
        for b in batches:
            x = waves[:b]
            feats = {}

            def fe():
                feats["s"], feats["t"] = numpy_features(x)
            fs = median_time(fe, a.repeats)
            sess = sessions[b]
            ns = median_time(lambda: sess.run(None, {"spectrum": feats["s"], "stft": feats["t"]}), a.repeats)
            res[b] = (ns, fs)
        return res

    def run_torch():
        res = {}
        with torch.no_grad():
            for b in batches:
                x = torch.from_numpy(waves[:b])
                res[b] = (median_time(lambda: net(x), a.repeats), 0.0)
        return res

    jobs = [("ours", run_ours), ("ort", run_ort), ("torch", run_torch)]
    ratios = {(b, k): [] for b in batches for k in ("ort_net", "ort_all", "torch_all")}
    print("| round | batch | ours network s | ours features s | ORT network s | NumPy features s | PyTorch s (with features) "
          "| ORT / ours, network | ORT / ours, with features | PyTorch / ours |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in range(a.rounds):
        order = jobs[r % 3:] + jobs[: r % 3]
        got = {name: f() for name, f in order}
        for b in batches:
            (on, of), (rn, rf), (tn, _) = got["ours"][b], got["ort"][b], got["torch"][b]
            ratios[(b, "ort_net")].append(rn / on)
            ratios[(b, "ort_all")].append((rn + rf) / (on + of))
            ratios[(b, "torch_all")].append(tn / (on + of))
            print(f"| {r + 1} | {b} | {on:.4f} | {of:.4f} | {rn:.4f} | {rf:.4f} | {tn:.4f} | {rn / on:.2f} "
                  f"| {(rn + rf) / (on + of):.2f} | {tn / (on + of):.2f} |", flush=True)
    print()
    for b in batches:
        for k, label in (("ort_net", "ORT / ours, network"), ("ort_all", "ORT / ours, with features"),
                         ("torch_all", "PyTorch / ours, with features")):
            v = ratios[(b, k)]
            print(f"batch {b}: {label}: median {statistics.median(v):.2f} (min {min(v):.2f}, max {max(v):.2f})")


if __name__ == "__main__":
    main()
