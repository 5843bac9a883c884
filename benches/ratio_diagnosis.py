"""Why does `ratio` with K neighbours win or lose against `nn`? Clip by clip, on a run's embeddings.

Run: python3 benches/ratio_diagnosis.py DIR [--k 4,16] [--members 0,1] [--per-section]
DIR is a run folder (every member's embedding set, DIR/members/NN/embeddings) or one embedding-set folder
(embeddings.npy + index.csv). For every embedding set and section:
- the geometry of the normal references: each reference's distance to its nearest source reference and to its
  nearest target reference (cosine distance d = (1 - <x, y>) / 2, as the scores use), per domain, and the
  *gap ratio* = median over target references of d(nearest source) / d(nearest other target): ≫ 1 means the
  target references form a compact cluster far from the source domain;
- per test group, the distance to the nearest source and the nearest target reference, and their ratio;
- the densities (mean distance to the K nearest other references) per domain, their ratio (a target
  reference wins a clip's ratio minimum where d(clip, target ref) / d(clip, source ref) is below it), and the
  share of a target reference's K neighbours that are source references;
- per test group (source/target x normal/anomaly): the share whose ratio minimum is won by a target
  reference, and the same for nn's nearest reference; the mean scores.
Prints a Markdown table of the median, min and max over embedding sets and sections (with --per-section,
one column per section instead). Needs numpy.
"""
import argparse, csv, os

import numpy as np


def load(member_dir):
    emb = np.load(os.path.join(member_dir, "embeddings.npy")).astype(np.float64)
    with open(os.path.join(member_dir, "index.csv")) as f:
        rows = list(csv.DictReader(f))
    return emb, rows


def dist(a, b):
    return np.clip((1.0 - a @ b.T) / 2.0, 0.0, None)


def section_stats(emb, rows, key, ks):
    idx = [i for i, r in enumerate(rows) if (r["machine_type"], r["section"]) == key]
    train = [i for i in idx if rows[i]["split"] == "train"]
    test = [i for i in idx if rows[i]["split"] == "test" and rows[i]["label"] in ("normal", "anomaly")]
    ref = emb[train]
    ref_tgt = np.array([rows[i]["domain"] == "target" for i in train])
    if ref_tgt.sum() < 2 or (~ref_tgt).sum() < 2:
        return None
    rr = dist(ref, ref)
    np.fill_diagonal(rr, np.inf)
    out = {}
    near_src = rr[:, ~ref_tgt].min(1)
    near_tgt = rr[:, ref_tgt].min(1)
    out["src ref: d(nearest src)"] = np.median(near_src[~ref_tgt])
    out["tgt ref: d(nearest tgt)"] = np.median(near_tgt[ref_tgt])
    out["tgt ref: d(nearest src)"] = np.median(near_src[ref_tgt])
    out["gap ratio"] = out["tgt ref: d(nearest src)"] / out["tgt ref: d(nearest tgt)"]
    order = np.argsort(rr, axis=1)
    xt = dist(emb[test], ref)
    g_dom = np.array([rows[i]["domain"] for i in test])
    g_lab = np.array([rows[i]["label"] for i in test])
    nn_arg = xt.argmin(1)
    # A target reference wins a test clip's ratio minimum when d(x, t) / d(x, s) is below the ratio of
    # the two references' densities: compare these distance ratios with the density ratio below.
    x_src, x_tgt = xt[:, ~ref_tgt].min(1), xt[:, ref_tgt].min(1)
    for d in ("source", "target"):
        for lab in ("normal", "anomaly"):
            m = (g_dom == d) & (g_lab == lab)
            if m.any():
                out[f"{d} {lab}: d(nearest src)"] = np.median(x_src[m])
                out[f"{d} {lab}: d(nearest tgt) / d(nearest src)"] = np.median(x_tgt[m] / x_src[m])
    for k in ks:
        kk = min(k, len(train) - 1)
        nbrs = order[:, :kk]
        dens = np.take_along_axis(rr, nbrs, 1).mean(1)
        out[f"K={k} density src"] = np.median(dens[~ref_tgt])
        out[f"K={k} density tgt"] = np.median(dens[ref_tgt])
        out[f"K={k} density ratio tgt / src"] = out[f"K={k} density tgt"] / out[f"K={k} density src"]
        out[f"K={k} tgt nbrs that are src"] = (~ref_tgt[nbrs[ref_tgt]]).mean()
        ratio = xt / dens[None, :]
        arg = ratio.argmin(1)
        for d in ("source", "target"):
            for lab in ("normal", "anomaly"):
                m = (g_dom == d) & (g_lab == lab)
                if not m.any():
                    continue
                out[f"K={k} {d} {lab}: won by tgt ref"] = ref_tgt[arg[m]].mean()
                out[f"nn {d} {lab}: nearest is tgt ref"] = ref_tgt[nn_arg[m]].mean()
    return out


def table(stats, per_section):
    keys = list(stats[0][1].keys())
    if per_section:
        print("| quantity | " + " | ".join(f"{m}/{s}" for (m, s), _ in stats) + " |")
        print("| --- |" + " --- |" * len(stats))
    else:
        print(f"| quantity ({len(stats)} embedding sets × sections) | median | min | max |")
        print("| --- | --- | --- | --- |")
    for k in keys:
        vals = np.array([s.get(k, np.nan) for _, s in stats])
        if per_section:
            print(f"| {k} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
        else:
            print(f"| {k} | {np.nanmedian(vals):.3f} | {np.nanmin(vals):.3f} | {np.nanmax(vals):.3f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--k", default="4,16")
    ap.add_argument("--members", default=None)
    ap.add_argument("--per-section", action="store_true")
    a = ap.parse_args()
    ks = [int(k) for k in a.k.split(",")]
    mdir = os.path.join(a.run, "members")
    if os.path.isdir(mdir):
        names = sorted(os.listdir(mdir)) if a.members is None else [f"{int(m):02d}" for m in a.members.split(",")]
        sets = [(m, os.path.join(mdir, m, "embeddings")) for m in names]
    else:
        sets = [("set", a.run)]
    stats = []
    for m, path in sets:
        emb, rows = load(path)
        for key in sorted({(r["machine_type"], r["section"]) for r in rows}):
            s = section_stats(emb, rows, key, ks)
            if s is not None:
                stats.append(((m, key[0]), s))
    table(stats, a.per_section)


if __name__ == "__main__":
    main()
