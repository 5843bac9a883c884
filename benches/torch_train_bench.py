"""The same network and training step as `asd bench train`, in PyTorch (CPU, 2 threads), for comparison.

The step is the reference's `training_step`: mixup on the waveforms, a train-mode forward pass of the
un-mixed batch (BatchNorm statistics only; under no_grad, the cheapest way PyTorch can run it), the
train-mode forward pass of the mixed batch, feature exchange, both AdaProj heads (the main one fixed, the
feature-exchange one trainable), the sum of both cross-entropies, backward, Adam.

Run: python3 benches/torch_train_bench.py [--batch 32] [--seconds 10] [--classes 170] [--steps 3]
  [--skip-unmixed-pass] [--naive-adaproj]
The AdaProj logits use the same Gram-matrix form as `asd` (the fastest of the two in PyTorch too);
--naive-adaproj forms the projections explicitly, as the fixtures README writes them.
Prints the same JSON fields as `asd bench train`. Needs torch (pip install torch).
"""
import argparse, json, math, resource, time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SameConv(nn.Conv2d):
    """TensorFlow 'same' padding for strided kernels."""

    def forward(self, x):
        pads = []
        for i, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            p = max((math.ceil(i / s) - 1) * s + k - i, 0)
            pads.append((p // 2, p - p // 2))
        x = F.pad(x, [pads[1][0], pads[1][1], pads[0][0], pads[0][1]])
        return F.conv2d(x, self.weight, None, self.stride)


def bn1(n):
    return nn.BatchNorm1d(n, affine=False)


def bn2(n):
    return nn.BatchNorm2d(n, affine=False)


class Res(nn.Module):
    def __init__(self, cin, cout, first):
        super().__init__()
        self.first = first
        self.norm1 = bn2(cin)
        self.conv1 = SameConv(cin, cout, 3, stride=1 if first else 2, bias=False)
        self.norm2 = bn2(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        if not first:
            self.conv_down = nn.Conv2d(cin, cout, 1, bias=False)
        self.norm3 = bn2(cout)
        self.conv3 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.norm4 = bn2(cout)
        self.conv4 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)

    def forward(self, x):
        if not self.first:
            x = self.norm1(x)
        xr = self.conv2(F.relu(self.norm2(self.conv1(F.relu(x)))))
        x = self.norm3(x + xr) if self.first else self.norm3(self.conv_down(x[:, :, ::2, ::2]) + xr)
        return x + self.conv4(F.relu(self.norm4(self.conv3(F.relu(x)))))


class Net(nn.Module):
    def __init__(self, n):
        super().__init__()
        half = n // 2
        l1 = (half - 256) // 64 + 1
        l3 = ((l1 - 64) // 32 + 1 - 16) // 4 + 1
        self.c1 = nn.Conv1d(1, 128, 256, 64, bias=False)
        self.c2 = nn.Conv1d(128, 128, 64, 32, bias=False)
        self.c3 = nn.Conv1d(128, 128, 16, 4, bias=False)
        self.lins = nn.ModuleList([nn.Linear(128 * l3 if i == 0 else 128, 128, bias=False) for i in range(4)])
        self.norms = nn.ModuleList([bn1(128) for _ in range(4)])
        self.fft_emb = nn.Linear(128, 256, bias=False)
        self.norm_inp = bn1(513)
        self.conv1 = SameConv(1, 16, 7, stride=2, bias=False)
        self.norm1 = bn2(16)
        self.blocks = nn.ModuleList([Res(16, 16, True), Res(16, 32, False), Res(32, 64, False), Res(64, 128, False)])
        self.norm2 = bn1(2048)
        self.stft_emb = nn.Linear(2048, 256, bias=False)
        self.register_buffer("window", torch.hann_window(1024))

    def forward(self, x):
        spec = torch.abs(torch.fft.fft(x)[:, : x.shape[-1] // 2]).unsqueeze(1)
        a = F.relu(self.c3(F.relu(self.c2(F.relu(self.c1(spec)))))).flatten(1)
        for lin, norm in zip(self.lins, self.norms):
            a = F.relu(norm(lin(a)))
        a = self.fft_emb(a)
        s = torch.abs(torch.stft(x, 1024, 512, window=self.window, center=False, return_complex=True))
        s = self.norm_inp(s - s.mean(dim=2, keepdim=True)).transpose(1, 2).unsqueeze(1)
        s = F.max_pool2d(F.relu(self.norm1(self.conv1(s))), 3, 2)
        for b in self.blocks:
            s = b(s)
        s = self.stft_emb(self.norm2(s.max(dim=2).values.flatten(1)))
        return torch.cat([a, s], 1)


class AdaProj(nn.Module):
    def __init__(self, classes, dim=512, sub=32, trainable=False):
        super().__init__()
        self.W = nn.Parameter(torch.empty(classes, sub, dim), requires_grad=trainable)
        nn.init.xavier_uniform_(self.W)
        self.s = max(math.sqrt(2) * math.log(classes - 1), 0.5)

    naive = False

    def forward(self, x):
        x = F.normalize(x, dim=1)
        w = F.normalize(self.W, dim=2)
        a = torch.tensordot(x, w, dims=[[1], [2]])  # (B, C, J)
        if self.naive:
            # The projections P (B, C, D) formed explicitly, as the fixtures README writes them.
            p = F.normalize((a.unsqueeze(3) * w.unsqueeze(0)).sum(2), dim=2)
            return (x.unsqueeze(1) * p).sum(2)
        # <x, P> = sum_j a_j^2 and |P|^2 = a^T G a with G = W W^T (J x J): what `asd` computes.
        g = torch.matmul(w, w.transpose(1, 2))
        norm_p = torch.einsum("bcj,cjk,bck->bc", a, g, a).clamp_min(1e-24).sqrt()
        return (a * a).sum(2) / norm_p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--classes", type=int, default=170)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-unmixed-pass", action="store_true")
    ap.add_argument("--naive-adaproj", action="store_true",
                    help="form the B x C x D projections explicitly (slower) instead of the Gram-matrix form")
    a = ap.parse_args()
    AdaProj.naive = a.naive_adaproj
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    n = int(round(a.seconds * 16000))
    x = (torch.rand(a.batch, n) - 0.5) * 0.2
    y = F.one_hot(torch.arange(a.batch) % a.classes, a.classes).float()
    net, head, head_fx = Net(n), AdaProj(a.classes), AdaProj(3 * a.classes, trainable=True)
    opt = torch.optim.Adam(list(net.parameters()) + [head_fx.W], lr=1e-3, eps=1e-7, weight_decay=1e-5)
    times = []
    for i in range(a.steps + 1):
        t = time.perf_counter()
        lam = torch.rand(a.batch, 1)
        mix = torch.rand(a.batch, 1) < 0.5
        fx = torch.rand(a.batch, 1) < 0.5
        x_mix = torch.where(mix, lam * x + (1 - lam) * x.flip(0), x.flip(0))
        y_mix = torch.where(mix, lam * y + (1 - lam) * y.flip(0), y.flip(0))
        if not a.skip_unmixed_pass:
            with torch.no_grad():
                net(x)
        emb = net(x_mix)
        zero = torch.zeros_like(y_mix)
        y_fx = torch.where(fx, torch.cat([zero, 0.5 * y_mix, 0.5 * y_mix.flip(0)], 1),
                           torch.cat([y_mix, zero, zero], 1))
        emb_fx = torch.where(fx, torch.cat([emb[:, :256].flip(0), emb[:, 256:]], 1), emb)
        loss = -(F.log_softmax(head.s * head(emb), 1) * y_mix).sum(1).mean() - (
            F.log_softmax(head_fx.s * head_fx(emb_fx), 1) * y_fx
        ).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
    train = sorted(times)[len(times) // 2]
    net.eval()
    times = []
    with torch.no_grad():
        for i in range(a.steps + 1):
            t = time.perf_counter()
            net(x)
            if i:
                times.append(time.perf_counter() - t)
    inf = sorted(times)[len(times) // 2]
    print(json.dumps({
        "batch": a.batch, "clip_seconds": a.seconds, "classes": a.classes, "threads": a.threads,
        "unmixed_pass": not a.skip_unmixed_pass, "naive_adaproj": a.naive_adaproj,
        "train_step_s": train, "train_clips_per_s": a.batch / train,
        "inference_s": inf, "inference_clips_per_s": a.batch / inf,
        "note": "PyTorch times include the features (computed inside forward, as the reference does)",
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }, indent=2))


if __name__ == "__main__":
    main()
