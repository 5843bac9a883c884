"""The two steps of the training fixture (`tests/fixtures/reference/training/`) recomputed in float64 with
PyTorch, to tell float32 rounding from a real difference where our numbers and the reference's disagree.

Run: python3 benches/torch_step_f64.py [--ours DIR]
Prints per step the loss, the scales, the mixed embeddings and, for every gradient in stepI_grads.safetensors,
the relative error of the reference's float32 value against this float64 one; with --ours (a folder holding
`stepI/<name>.npy` gradients written by our step) ours too.
Needs torch and numpy. The network is the one of benches/torch_train_bench.py with the reference's weights.
"""
import argparse, json, math, os, struct, sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from torch_train_bench import Net  # noqa: E402

FIX = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "reference")


def safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8 : 8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        dt = {"F32": np.float32, "I64": np.int64}[v["dtype"]]
        out[k] = np.frombuffer(b[8 + n + s : 8 + n + e], dtype=dt).reshape(v["shape"])
    return out


def our_name(ref):
    """The reference's parameter name → the attribute path in torch_train_bench.Net."""
    p = ref.split(".")
    if p[0] == "fft_branch":
        layer, rest = p[1], p[2:]
        if layer in ("conv1", "conv2", "conv3"):
            return ["c" + layer[-1]] + rest
        if layer.startswith("lin"):
            return ["lins", str(int(layer[3:]) - 1)] + rest
        if layer.startswith("norm"):
            return ["norms", str(int(layer[4:]) - 1)] + rest
        if layer == "emb":
            return ["fft_emb"] + rest
    if p[0] == "stft":
        return p[1:]
    if p[0] == "stft_branch":
        if p[1].startswith("res_block"):
            return ["blocks", str(int(p[1][9:]) - 1)] + p[2:]
        if p[1] == "emb":
            return ["stft_emb"] + p[2:]
        return p[1:]
    raise KeyError(ref)


def lookup(net, ref):
    obj = net
    for a in our_name(ref):
        obj = obj[int(a)] if a.isdigit() else getattr(obj, a)
    return obj


def cos_logits(x, w):
    x = F.normalize(x, dim=1)
    w = F.normalize(w, dim=2)
    a = torch.tensordot(x, w, dims=[[1], [2]])
    p = F.normalize((a.unsqueeze(3) * w.unsqueeze(0)).sum(2), dim=2)
    return (x.unsqueeze(1) * p).sum(2)


def scale(cos, y, s):
    """The AdaCos update of the fixtures README, from the batch before scaling."""
    with torch.no_grad():
        m = (s * cos).max()
        b = torch.where(y < 1, torch.exp(s * cos - m), torch.exp(-m)).sum(1).mean()
        theta = (y * torch.acos(cos.clamp(-1, 1))).sum(1)
        med = theta.sort().values[(len(theta) - 1) // 2]
        return float((m + torch.log(b)) / torch.cos(torch.clamp(med, max=math.pi / 4)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", help="folder with our gradients as stepI/<name>.npy")
    a = ap.parse_args()
    torch.set_default_dtype(torch.float64)
    tr = os.path.join(FIX, "training")
    weights = safetensors(os.path.join(FIX, "network", "weights.safetensors"))
    heads = safetensors(os.path.join(tr, "heads_before.safetensors"))
    values = json.load(open(os.path.join(tr, "values.json")))
    net = Net(values["clip_len"]).double()
    with torch.no_grad():
        for k, v in weights.items():
            if k.endswith("num_batches_tracked") or k == "stft_branch.res_block1.norm1.running_mean" or k == "stft_branch.res_block1.norm1.running_var":
                continue
            lookup(net, k).copy_(torch.from_numpy(v.astype(np.float64)))
    net.train()
    w_head = torch.from_numpy(heads["adaproj.W"].astype(np.float64))
    w_fx = torch.from_numpy(heads["adaproj_featex.W"].astype(np.float64)).requires_grad_()
    s_head, s_fx = float(heads["adaproj.s"][0]), float(heads["adaproj_featex.s"][0])

    x = torch.from_numpy(np.load(os.path.join(tr, "wave.npy")).astype(np.float64))
    y = torch.from_numpy(np.load(os.path.join(tr, "labels.npy")).astype(np.float64))
    opt = torch.optim.Adam(list(net.parameters()) + [w_fx], lr=1e-3, eps=1e-7, weight_decay=1e-5)
    rel = lambda u, v: np.linalg.norm(u - v) / np.linalg.norm(v)
    for i, step in enumerate(values["steps"]):
        d = step["draws"]
        lam = torch.tensor(d["lam"]).unsqueeze(1)
        mix = torch.tensor(d["mix_u"]) < 0.5
        fx = torch.tensor(d["fx_u"]) < 0.5
        xr, yr = x.flip(0), y.flip(0)
        x_mix = torch.where(mix.unsqueeze(1), lam * x + (1 - lam) * xr, xr)
        y_mix = torch.where(mix.unsqueeze(1), lam * y + (1 - lam) * yr, yr)
        with torch.no_grad():
            net(x)  # the un-mixed pass: BatchNorm statistics only
        emb = net(x_mix)
        zero = torch.zeros_like(y_mix)
        y_fx = torch.where(fx.unsqueeze(1), torch.cat([zero, 0.5 * y_mix, 0.5 * y_mix.flip(0)], 1),
                           torch.cat([y_mix, zero, zero], 1))
        emb_fx = torch.where(fx.unsqueeze(1), torch.cat([emb[:, :256].flip(0), emb[:, 256:]], 1), emb)
        cos = cos_logits(emb, w_head)
        cos_fx = cos_logits(emb_fx, w_fx)
        s_head, s_fx = scale(cos, y_mix, s_head), scale(cos_fx, y_fx, s_fx)
        loss = -(F.log_softmax(s_head * cos, 1) * y_mix).sum(1).mean() - (
            F.log_softmax(s_fx * cos_fx, 1) * y_fx
        ).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        print(f"\nstep {i}: loss {loss.item():.9f} (reference f32 {step['loss']:.9f}), "
              f"scales {s_head:.7f} {s_fx:.7f} ({step['scale_head']:.7f} {step['scale_featex']:.7f})")
        e32 = np.load(os.path.join(tr, f"step{i}_emb_mix.npy"))
        print(f"emb_mix: reference f32 vs f64 {rel(e32, emb.detach().numpy()):.2e}")
        ref = safetensors(os.path.join(tr, f"step{i}_grads.safetensors"))
        print("| gradient | reference f32 vs f64 | ours vs f64 | ours vs reference f32 |")
        print("| --- | --- | --- | --- |")
        for k, g32 in ref.items():
            g64 = (w_fx.grad if k == "adaproj_featex.W" else lookup(net, k).grad).numpy().ravel()
            row = [k, f"{rel(g32.ravel(), g64):.2e}", "", ""]
            ours = os.path.join(a.ours or "", f"step{i}", k + ".npy")
            if a.ours and os.path.exists(ours):
                o = np.load(ours).ravel()
                row[2], row[3] = f"{rel(o, g64):.2e}", f"{rel(o, g32.ravel()):.2e}"
            print("| " + " | ".join(row) + " |")
        opt.step()
        after = safetensors(os.path.join(tr, f"step{i}_after.safetensors"))
        worst = {}
        for k, w32 in after.items():
            if k.endswith("num_batches_tracked"):
                continue
            t = w_fx if k == "adaproj_featex.W" else lookup(net, k)
            v64 = t.detach().numpy().ravel()
            if k.endswith("running_mean"):
                # Means of mean-normalised inputs are ~0: in units of the channel's standard deviation.
                sd = np.sqrt(after[k[: -len("mean")] + "var"].ravel())
                err = np.linalg.norm(w32.ravel() - v64) / np.linalg.norm(sd)
            else:
                err = rel(w32.ravel(), v64)
            kind = "running statistics" if "running" in k else k
            worst[kind] = max(worst.get(kind, 0.0), err)
        print("| after the step | reference f32 vs f64 |")
        print("| --- | --- |")
        for k, e in worst.items():
            print(f"| {k} | {e:.2e} |")


if __name__ == "__main__":
    main()
