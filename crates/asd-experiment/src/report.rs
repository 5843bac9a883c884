//! `RUN_DIR/report.md` and a self-contained `RUN_DIR/report.html` (inline SVG) from `results.json` and
//! the ensemble's `scores/<method>/scores.csv`: Table I (per domain), the official evaluator's figures
//! per part (Table II: official score and CI95, per-domain pAUC, precision/recall/F1) and the best
//! method's sections, the K and r sweeps (Figures 2 and 3), and per machine type the score distributions of
//! normal and anomalous clips in both domains before and after re-scaling.

use crate::run::{RunError, RunResults, io, part_names};
use asd_core::{IoOp, atomic};
use asd_eval::SectionResult;
use asd_eval::metrics::harmonic_mean;
use asd_eval::table::{markdown, pct, pct_stats};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn html_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut h = String::from("<table><thead><tr>");
    for c in header {
        h += &format!("<th>{}</th>", html_escape(c));
    }
    h += "</tr></thead><tbody>";
    for r in rows {
        h += "<tr>";
        for c in r {
            h += &format!("<td>{}</td>", html_escape(c));
        }
        h += "</tr>";
    }
    h + "</tbody></table>\n"
}

/// A document written to Markdown and HTML at once.
#[derive(Default)]
struct Doc {
    md: String,
    html: String,
}

impl Doc {
    fn heading(&mut self, level: usize, text: &str) {
        self.md += &format!("{} {text}\n\n", "#".repeat(level));
        self.html += &format!("<h{level}>{}</h{level}>\n", html_escape(text));
    }
    fn para(&mut self, text: &str) {
        self.md += &format!("{text}\n\n");
        self.html += &format!("<p>{}</p>\n", html_escape(text));
    }
    fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.md += &markdown(header, rows);
        self.md += "\n";
        self.html += &html_table(header, rows);
    }
    fn figure(&mut self, file: &str, svg: &str, caption: &str) {
        self.md += &format!("![{caption}]({file})\n\n*{caption}*\n\n");
        self.html += &format!(
            "<figure>{svg}<figcaption>{}</figcaption></figure>\n",
            html_escape(caption)
        );
    }
}

type Series = Vec<(String, Vec<(f64, f64)>, RGBColor, bool)>;

/// (domain, label, score) of the test clips of one machine type.
type Scored = Vec<(String, String, f64)>;
/// One panel per method: its name and its clips.
type Panels = Vec<(String, Scored)>;

fn line_plot(title: &str, xlabel: &str, series: &Series, log2_x: bool) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let tx = |x: f64| if log2_x { x.max(1e-9).log2() } else { x };
        let pts: Vec<(f64, f64)> = series
            .iter()
            .flat_map(|s| s.1.iter().map(|&(x, y)| (tx(x), y)))
            .collect();
        if pts.is_empty() {
            return Ok(String::new());
        }
        let (x0, x1) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (y0, y1) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let pad = ((y1 - y0) * 0.1).max(0.5);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(x0..x1.max(x0 + 1e-6), (y0 - pad)..(y1 + pad))
            .map_err(|e| e.to_string())?;
        let fmt_x = move |x: &f64| {
            if log2_x {
                format!("{}", 2f64.powf(*x).round())
            } else {
                format!("{x:.2}")
            }
        };
        chart
            .configure_mesh()
            .x_desc(xlabel)
            .y_desc("official score (%)")
            .x_label_formatter(&fmt_x)
            .draw()
            .map_err(|e| e.to_string())?;
        for (name, data, color, dashed) in series {
            let d: Vec<(f64, f64)> = data.iter().map(|&(x, y)| (tx(x), y)).collect();
            let style = ShapeStyle::from(color).stroke_width(if *dashed { 1 } else { 2 });
            chart
                .draw_series(LineSeries::new(d.clone(), style))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart
                .draw_series(d.iter().map(|&p| Circle::new(p, 3, style.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Rows of a `scores.csv`: (machine, domain, label, score).
fn read_scores(path: &Path) -> Vec<(String, String, String, f64)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c.len() == 6).then(|| {
                Some((
                    c[0].to_string(),
                    c[3].to_string(),
                    c[4].to_string(),
                    c[5].parse().ok()?,
                ))
            })?
        })
        .collect()
}

/// Histogram outlines of the four groups (domain × label) of one machine type, for two methods.
fn distribution_plot(machine: &str, panels: &[(String, Scored)]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (area, (method, rows)) in areas.iter().zip(panels) {
            if rows.is_empty() {
                continue;
            }
            let (lo, hi) = rows
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), r| (a.min(r.2), b.max(r.2)));
            let hi = if hi > lo { hi } else { lo + 1e-6 };
            let bins = 20usize;
            let groups = [
                ("source", "normal", RGBColor(31, 119, 180), "source normal"),
                (
                    "source",
                    "anomaly",
                    RGBColor(255, 127, 14),
                    "source anomaly",
                ),
                ("target", "normal", RGBColor(44, 160, 44), "target normal"),
                ("target", "anomaly", RGBColor(214, 39, 40), "target anomaly"),
            ];
            let mut hists = Vec::new();
            let mut ymax = 0.0f64;
            for (d, l, c, name) in groups {
                let vals: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.0 == d && r.1 == l)
                    .map(|r| r.2)
                    .collect();
                if vals.is_empty() {
                    continue;
                }
                let mut h = vec![0.0f64; bins];
                for v in &vals {
                    let b = (((v - lo) / (hi - lo)) * bins as f64)
                        .floor()
                        .clamp(0.0, (bins - 1) as f64) as usize;
                    h[b] += 1.0 / vals.len() as f64;
                }
                ymax = h.iter().fold(ymax, |a, &b| a.max(b));
                hists.push((name, c, h));
            }
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{machine}: {method}"), ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(40)
                .build_cartesian_2d(lo..hi, 0.0..(ymax * 1.1).max(1e-6))
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("anomaly score")
                .y_desc("share of clips")
                .draw()
                .map_err(|e| e.to_string())?;
            let w = (hi - lo) / bins as f64;
            for (name, c, h) in hists {
                let mut pts = vec![(lo, 0.0)];
                for (i, v) in h.iter().enumerate() {
                    pts.push((lo + i as f64 * w, *v));
                    pts.push((lo + (i + 1) as f64 * w, *v));
                }
                pts.push((hi, 0.0));
                let style = ShapeStyle::from(c).stroke_width(2);
                chart
                    .draw_series(LineSeries::new(pts, style))
                    .map_err(|e| e.to_string())?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn write_svg(dir: &Path, name: &str, svg: &str) -> Result<(), RunError> {
    let p = dir.join(name);
    atomic::write_bytes(&p, svg.as_bytes()).map_err(io(&p, IoOp::Write))
}

/// Table I rows of one part: members' mean ± std and the ensemble, per domain.
pub fn table_one(r: &RunResults, part: &str) -> Vec<Vec<String>> {
    r.methods
        .iter()
        .filter_map(|m| {
            let p = m.parts.get(part)?;
            Some(vec![
                m.name.clone(),
                pct_stats(p.source),
                pct_stats(p.target),
                pct_stats(p.both),
                pct(p.ensemble.hmean_source),
                pct(p.ensemble.hmean_target),
                pct(p.ensemble.hmean),
            ])
        })
        .collect()
}

pub const TABLE_ONE_HEADER: [&str; 7] = [
    "method",
    "source (members)",
    "target (members)",
    "both (members)",
    "source (ensemble)",
    "target (ensemble)",
    "both (ensemble)",
];

/// Writes report.md, report.html and the SVG figures into `run_dir`.
const SECTION_HEADER: [&str; 12] = [
    "machine",
    "section",
    "AUC src",
    "AUC tgt",
    "pAUC",
    "pAUC src",
    "pAUC tgt",
    "precision src",
    "precision tgt",
    "recall src",
    "recall tgt",
    "F1 src / tgt",
];

fn section_rows(sections: &[SectionResult]) -> Vec<Vec<String>> {
    sections
        .iter()
        .map(|s| {
            vec![
                s.machine_type.clone(),
                s.section.clone(),
                pct(s.auc_source.or(s.auc)),
                pct(s.auc_target),
                pct(s.pauc),
                pct(s.pauc_source),
                pct(s.pauc_target),
                pct(s.precision_source),
                pct(s.precision_target),
                pct(s.recall_source),
                pct(s.recall_target),
                format!("{} / {}", pct(s.f1_source), pct(s.f1_target)),
            ]
        })
        .collect()
}

/// The method with the highest ensemble official score on the first part, with that part's sections.
fn best_method_sections<'a>(
    r: &'a RunResults,
    parts: &'a [String],
) -> Option<(&'a str, &'a str, &'a [SectionResult])> {
    let part = parts.first()?;
    r.methods
        .iter()
        .filter_map(|m| {
            let p = m.parts.get(part)?;
            Some((m.name.as_str(), p.ensemble.hmean?, &p.ensemble_sections[..]))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(n, _, s)| (n, part.as_str(), s))
}

pub fn write_report(run_dir: &Path, r: &RunResults) -> Result<(), RunError> {
    let fig_dir = run_dir.join("figures");
    std::fs::create_dir_all(&fig_dir).map_err(io(&fig_dir, IoOp::CreateFolder))?;
    let parts = part_names(r);
    let mut doc = Doc::default();
    doc.heading(1, "Anomalous sound detection run");
    doc.para(&format!(
        "Dataset {} ({}), channel policy {}, {} ensemble member(s), {} epoch(s) each, clips of {:.2} s. Harmonic means in %: \
         \"source\" and \"target\" over the sections' AUC and pAUC of that domain, \"both\" = the official \
         DCASE score over every section's AUC (source), AUC (target) and pAUC. Members: mean ± std over the \
         members; ensemble: the members' scores averaged.",
        r.dataset,
        r.edition,
        r.config
            .channel
            .map_or_else(|| "mean (default)".to_string(), |c| c.to_string()),
        r.config.members,
        r.epochs,
        r.clip_len as f64 / f64::from(asd_audio::MODEL_RATE)
    ));
    for w in &r.warnings {
        doc.para(&format!("Warning: {w}"));
    }
    for part in &parts {
        doc.heading(2, &format!("Table I: {part} data"));
        doc.table(&TABLE_ONE_HEADER, &table_one(r, part));
    }
    doc.heading(
        2,
        "Table II: the official evaluator's figures of the ensemble",
    );
    doc.para(
        "Per part, in %: the official score with its jackknife CI95 half-width (as the official DCASE \
         evaluator computes it), the harmonic means over the sections of the 2026 baseline's per-domain \
         pAUC, and of the decisions' precision, recall and F1 over sections and domains (decision \
         threshold: the gamma fit of each section's leave-one-out training scores at the run's \
         decision percentile).",
    );
    let mut header = vec!["method".to_string()];
    for p in &parts {
        for c in [
            "official",
            "CI95",
            "pAUC src",
            "pAUC tgt",
            "precision",
            "recall",
            "F1",
        ] {
            header.push(format!("{p} {c}"));
        }
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = r
        .methods
        .iter()
        .map(|m| {
            let mut row = vec![m.name.clone()];
            for p in &parts {
                let Some(x) = m.parts.get(p) else {
                    row.extend(std::iter::repeat_n("—".to_string(), 7));
                    continue;
                };
                let e = &x.ensemble;
                let hmean_of = |f: fn(&SectionResult) -> Option<f64>| {
                    let v: Option<Vec<f64>> = x.ensemble_sections.iter().map(f).collect();
                    v.as_deref().and_then(harmonic_mean)
                };
                row.extend([
                    pct(e.hmean),
                    e.official_score_ci95
                        .map_or_else(|| "—".to_string(), |c| format!("± {:.3}", 100.0 * c)),
                    pct(hmean_of(|s| s.pauc_source)),
                    pct(hmean_of(|s| s.pauc_target)),
                    pct(e.hmean_precision),
                    pct(e.hmean_recall),
                    pct(e.hmean_f1),
                ]);
            }
            row
        })
        .collect();
    doc.table(&header, &rows);
    if let Some((name, part, sections)) = best_method_sections(r, &parts) {
        doc.heading(
            2,
            &format!("Sections of the best method ({name}, by the official score on {part} data)"),
        );
        doc.table(&SECTION_HEADER, &section_rows(sections));
    }

    let colors = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
    ];
    for (file, title, xlabel, pts, log2) in [
        (
            "sweep_k.svg",
            "Figure 2: ratio score over K",
            "K nearest references",
            &r.sweep_k,
            true,
        ),
        (
            "sweep_r.svg",
            "Figure 3: ratio score with GWRP over r",
            "GWRP factor r",
            &r.sweep_r,
            false,
        ),
    ] {
        let mut series: Series = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let c = colors[i % colors.len()];
            let ens: Vec<(f64, f64)> = pts
                .iter()
                .filter_map(|p| Some((p.x, 100.0 * p.ensemble.get(part).copied().flatten()?)))
                .collect();
            let mem: Vec<(f64, f64)> = pts
                .iter()
                .filter_map(|p| Some((p.x, 100.0 * p.member_mean.get(part).copied().flatten()?)))
                .collect();
            series.push((format!("{part} ensemble"), ens, c, false));
            series.push((format!("{part} members (mean)"), mem, c, true));
        }
        let svg = line_plot(title, xlabel, &series, log2).map_err(RunError::Other)?;
        if !svg.is_empty() {
            write_svg(&fig_dir, file, &svg)?;
            doc.heading(2, title);
            doc.figure(&format!("figures/{file}"), &svg, title);
        }
    }

    // Score distributions before (nn) and after (ratio, K = 16) re-scaling.
    let before = r
        .methods
        .iter()
        .find(|m| m.name == "nn")
        .map(|m| m.name.clone());
    let after = r
        .methods
        .iter()
        .find(|m| m.name == "ratio_k16")
        .or_else(|| r.methods.iter().find(|m| m.name.starts_with("ratio")))
        .map(|m| m.name.clone());
    let chosen: Vec<String> = [before, after].into_iter().flatten().collect();
    if !chosen.is_empty() {
        doc.heading(2, "Score distributions per machine type");
        doc.para(
            "Share of test clips per score bin, for normal and anomalous clips of each domain. Without \
             re-scaling, normal target clips score high because their references are sparse; the re-scaled \
             score puts both domains on one scale.",
        );
        let mut by_machine: BTreeMap<String, Panels> = BTreeMap::new();
        for name in &chosen {
            let rows = read_scores(&run_dir.join("scores").join(name).join("scores.csv"));
            let mut per: BTreeMap<String, Scored> = BTreeMap::new();
            for (m, d, l, s) in rows {
                per.entry(m).or_default().push((d, l, s));
            }
            for (m, v) in per {
                by_machine.entry(m).or_default().push((name.clone(), v));
            }
        }
        for (m, panels) in &by_machine {
            let svg = distribution_plot(m, panels).map_err(RunError::Other)?;
            let file = format!("scores_{m}.svg");
            write_svg(&fig_dir, &file, &svg)?;
            doc.figure(
                &format!("figures/{file}"),
                &svg,
                &format!("{m}: score distributions"),
            );
        }
    }

    doc.heading(2, "Training");
    let rows: Vec<Vec<String>> = r
        .training
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let last = t.last()?;
            let secs: f64 = t.iter().map(|e| e.seconds).sum();
            Some(vec![
                format!("{i}"),
                format!("{}", t.len()),
                format!("{:.4}", t[0].loss),
                format!("{:.4}", last.loss),
                format!("{:.3}", last.accuracy),
                format!("{secs:.0}"),
                format!("{:.1}", last.clips_per_s),
            ])
        })
        .collect();
    doc.table(
        &[
            "member",
            "epochs",
            "first loss",
            "last loss",
            "last accuracy",
            "seconds",
            "clips/s",
        ],
        &rows,
    );
    let failures: Vec<String> = r
        .methods
        .iter()
        .flat_map(|m| m.failures.iter().map(move |f| format!("{}: {f}", m.name)))
        .collect();
    if !failures.is_empty() {
        doc.heading(2, "Sections that could not be scored");
        for f in &failures {
            doc.para(f);
        }
    }
    let md = run_dir.join("report.md");
    atomic::write_bytes(&md, doc.md.as_bytes()).map_err(io(&md, IoOp::Write))?;
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ASD run</title><style>\
         body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:3px 8px;text-align:right}}\
         td:first-child,th:first-child{{text-align:left}}figure{{margin:1em 0}}figcaption{{font-style:italic}}\
         </style></head><body>\n{}</body></html>\n",
        doc.html
    );
    let hp = run_dir.join("report.html");
    atomic::write_bytes(&hp, html.as_bytes()).map_err(io(&hp, IoOp::Write))
}
