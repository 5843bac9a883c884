//! `RUN_DIR/report.md` and a self-contained `RUN_DIR/report.html` (inline SVG) from `results.json` and
//! the ensemble's `scores/<method>/scores.csv`: Table I (per domain), the official evaluator's figures
//! per part (Table II: official score and CI95, per-domain pAUC, precision/recall/F1) and the best
//! method's sections, the K and r sweeps (Figures 1 and 2), and per machine type the score distributions of
//! normal and anomalous clips in both domains before and after re-scaling.

use crate::plots::{Line, Scored, Stroke, distribution_plot, sweep_plot};
use crate::run::{RunError, RunResults, io, part_names};
use asd_core::{IoOp, atomic};
use asd_eval::SectionResult;
use asd_eval::metrics::harmonic_mean;
use asd_eval::table::{markdown, pct, pct_stats};
use plotters::style::RGBColor;
use std::collections::BTreeMap;
use std::path::Path;

/// The paper's proposed setting (Section III-B: "we propose to make r = 0.9 the default").
pub const PAPERS_METHOD: &str = "ratio_gwrp_r0.9";

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn html_table(header: &[&str], rows: &[Vec<String>]) -> String {
    // Wide tables scroll inside their box on a phone instead of widening the page.
    let mut h = String::from("<div class=\"scroll\"><table><thead><tr>");
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
    h + "</tbody></table></div>\n"
}

/// A document written to Markdown and HTML at once.
#[derive(Default)]
struct Doc {
    md: String,
    html: String,
    /// Figures drawn so far (they are numbered from 1 in the order they appear).
    figures: usize,
}

impl Doc {
    /// The number of the next figure.
    fn next_figure(&mut self) -> usize {
        self.figures += 1;
        self.figures
    }
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
    /// A figure under the heading that names it; `caption` says what is drawn (not the title again).
    fn figure(&mut self, file: &str, svg: &str, caption: &str) {
        self.md += &format!("![{caption}]({file})\n\n{caption}\n\n");
        self.html += &format!(
            "<figure>{svg}<figcaption>{}</figcaption></figure>\n",
            html_escape(caption)
        );
    }
    /// Label–value pairs in a box.
    fn facts(&mut self, title: &str, rows: &[(&str, String)]) {
        self.md += &format!("**{title}**\n\n");
        for (k, v) in rows {
            self.md += &format!("- {k}: `{v}`\n");
        }
        self.md += "\n";
        self.html += &format!("<aside class=\"facts\"><h2>{}</h2><dl>", html_escape(title));
        for (k, v) in rows {
            self.html += &format!(
                "<dt>{}</dt><dd><code>{}</code></dd>",
                html_escape(k),
                html_escape(v)
            );
        }
        self.html += "</dl></aside>\n";
    }
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

const PART_COLORS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
];

/// The K and r sweeps: the ensemble and the members' mean over K and r, per part, beside plain `nn`.
fn sweeps(doc: &mut Doc, r: &RunResults, parts: &[String], fig_dir: &Path) -> Result<(), RunError> {
    let nn = r.methods.iter().find(|m| m.name == "nn");
    for (file, title, xlabel, pts, log2) in [
        (
            "sweep_k.svg",
            "ratio score over K",
            "K nearest references (log scale)",
            &r.sweep_k,
            true,
        ),
        (
            "sweep_r.svg",
            "ratio score with GWRP over r",
            "GWRP factor r",
            &r.sweep_r,
            false,
        ),
    ] {
        let mut lines = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let color = PART_COLORS[i % PART_COLORS.len()];
            let of = |f: fn(&crate::run::SweepPoint, &str) -> Option<f64>| -> Vec<(f64, f64)> {
                pts.iter()
                    .filter_map(|p| Some((p.x, 100.0 * f(p, part)?)))
                    .collect()
            };
            lines.push(Line {
                name: format!("{part} ensemble"),
                points: of(|p, part| p.ensemble.get(part).copied().flatten()),
                color,
                stroke: Stroke::Solid,
            });
            lines.push(Line {
                name: format!("{part} members (mean)"),
                points: of(|p, part| p.member_mean.get(part).copied().flatten()),
                color,
                stroke: Stroke::Dashed,
            });
            if let Some(y) = nn.and_then(|m| m.parts.get(part)?.ensemble.hmean) {
                lines.push(Line {
                    name: format!("{part} nn (ensemble)"),
                    points: vec![(0.0, 100.0 * y)],
                    color,
                    stroke: Stroke::Level,
                });
            }
        }
        lines.retain(|l| !l.points.is_empty());
        let svg = sweep_plot(xlabel, &lines, log2).map_err(|source| RunError::Plot {
            figure: format!("sweep over {xlabel}"),
            source,
        })?;
        if svg.is_empty() {
            continue;
        }
        write_svg(fig_dir, file, &svg)?;
        let n = doc.next_figure();
        doc.heading(2, &format!("Figure {n}: {title}"));
        doc.figure(
            &format!("figures/{file}"),
            &svg,
            "Official score (%) of the ensemble (solid) and the members' mean (dashed) per part; \
             dotted: plain nearest neighbour (nn) for reference. Ticks at the values run.",
        );
    }
    Ok(())
}

/// The methods whose score distributions are drawn: plain `nn` (before re-scaling), the paper's
/// setting, and the best method by the ensemble's official score on the first part, each once.
fn distribution_methods(r: &RunResults, parts: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |name: &str, role: &str| {
        if let Some(e) = out.iter_mut().find(|(n, _)| n == name) {
            e.1 = format!("{}, {role}", e.1);
        } else if r.methods.iter().any(|m| m.name == name) {
            out.push((name.to_string(), role.to_string()));
        }
    };
    push("nn", "no re-scaling");
    push(PAPERS_METHOD, "the paper's");
    if let Some((best, part, _)) = best_method_sections(r, parts) {
        push(best, &format!("best on {part}"));
    }
    out
}

fn distributions(
    doc: &mut Doc,
    r: &RunResults,
    parts: &[String],
    run_dir: &Path,
    fig_dir: &Path,
) -> Result<(), RunError> {
    let chosen = distribution_methods(r, parts);
    if chosen.is_empty() {
        return Ok(());
    }
    doc.heading(2, "Score distributions per machine type");
    doc.para(&format!(
        "Share of test clips per score bin, for normal and anomalous clips of each domain, for {}. \
         Without re-scaling, normal target clips score high because their references are sparse; the \
         re-scaled score puts both domains on one scale.",
        chosen
            .iter()
            .map(|(n, role)| format!("{n} ({role})"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut by_machine: BTreeMap<String, Vec<(String, Scored)>> = BTreeMap::new();
    for (name, role) in &chosen {
        let rows = read_scores(&run_dir.join("scores").join(name).join("scores.csv"));
        let mut per: BTreeMap<String, Scored> = BTreeMap::new();
        for (m, d, l, s) in rows {
            per.entry(m).or_default().push((d, l, s));
        }
        for (m, v) in per {
            by_machine
                .entry(m)
                .or_default()
                .push((format!("{name} ({role})"), v));
        }
    }
    for (m, panels) in &by_machine {
        let svg = distribution_plot(panels).map_err(|source| RunError::Plot {
            figure: format!("score distributions of {m}"),
            source,
        })?;
        let file = format!("scores_{m}.svg");
        write_svg(fig_dir, &file, &svg)?;
        let n = doc.next_figure();
        doc.heading(3, &format!("Figure {n}: {m}"));
        doc.figure(
            &format!("figures/{file}"),
            &svg,
            &format!("{m}: share of test clips per score bin, one panel per method."),
        );
    }
    Ok(())
}

/// The "how this was run" box: enough to redo it and to judge its timings.
fn provenance(doc: &mut Doc, r: &RunResults) {
    let mut rows: Vec<(&str, String)> = Vec::new();
    if let Some(p) = &r.provenance {
        rows.push(("command", p.command.clone()));
    }
    rows.push(("seed", r.config.seed.to_string()));
    rows.push(("front-end", frontend_words(&r.config.frontend)));
    rows.push(("distance", r.config.distance().to_string()));
    if let Some(k) = r.config.smote {
        rows.push((
            "SMOTE",
            format!("target references oversampled to the source count, {k} neighbours"),
        ));
    }
    if let Some(p) = &r.provenance {
        rows.push(("version", format!("asd {}", p.version)));
        rows.push(("started", p.started.clone()));
        rows.push(("machine", p.machine.clone()));
        rows.push(("wall time", format_seconds(p.wall_seconds)));
    } else {
        rows.push((
            "version",
            "not recorded (results of an older version)".into(),
        ));
    }
    doc.facts("How this was run", &rows);
}

/// What embedded the clips, in words.
fn frontend_words(f: &asd_frontend::FrontendSpec) -> String {
    match f {
        asd_frontend::FrontendSpec::Network => "the paper's two-branch network, trained".into(),
        asd_frontend::FrontendSpec::Beats {
            weights,
            layer,
            pooling,
        } => format!(
            "BEATs {} (frozen, no training), layer {}, {} pooling",
            weights.display(),
            layer.map_or_else(|| "last".to_string(), |l| l.to_string()),
            pooling.name()
        ),
        asd_frontend::FrontendSpec::Stft => "STFT-raw (frozen, no training)".into(),
        asd_frontend::FrontendSpec::BeatsAct {
            weights,
            layer,
            pooling,
        } => format!(
            "BEATs {} (frozen), layer {}, {} pooling, with the authors' head (BEATs-act) trained on its embeddings",
            weights.display(),
            layer.map_or_else(|| "last".to_string(), |l| l.to_string()),
            pooling.name()
        ),
    }
}

/// "3 min 50 s", "56 s".
pub fn format_seconds(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec} s"),
        (0, m, sec) => format!("{m} min {sec} s"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

fn html_page(body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>ASD run</title><style>\
         body{{font-family:sans-serif;max-width:1240px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.4}}\
         .scroll{{overflow-x:auto;margin:1em 0}}table{{border-collapse:separate;border-spacing:0}}\
         td,th{{border:1px solid #bbb;padding:3px 8px;text-align:right;white-space:nowrap;background:#fff}}\
         td:first-child,th:first-child{{text-align:left;position:sticky;left:0;z-index:1}}\
         figure{{margin:1em 0}}figure svg{{max-width:100%;height:auto}}figcaption{{font-size:.9em;color:#444}}\
         @media (max-width:700px){{body{{padding:0 .5em}}figure{{overflow-x:auto}}figure svg{{max-width:none;width:640px}}}}\
         .facts{{border:1px solid #bbb;background:#f6f6f6;padding:.5em 1em;margin:1em 0}}\
         .facts h2{{font-size:1em;margin:.3em 0}}.facts dl{{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:0}}\
         .facts dd{{margin:0;overflow-wrap:anywhere}}\
         </style></head><body>\n{body}</body></html>\n"
    )
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

/// Writes `report.md` and `report.html` (and the figures they show) into the run folder: one
/// function per section.
pub fn write_report(run_dir: &Path, r: &RunResults) -> Result<(), RunError> {
    let fig_dir = run_dir.join("figures");
    std::fs::create_dir_all(&fig_dir).map_err(io(&fig_dir, IoOp::CreateFolder))?;
    let parts = part_names(r);
    let mut doc = Doc::default();
    introduction(&mut doc, r);
    verdict(&mut doc, r, &parts);
    for part in &parts {
        doc.heading(2, &format!("Table I: {part} data"));
        doc.table(&TABLE_ONE_HEADER, &table_one(r, part));
    }
    table_two(&mut doc, r, &parts);
    best_method(&mut doc, r, &parts);
    sweeps(&mut doc, r, &parts, &fig_dir)?;
    distributions(&mut doc, r, &parts, run_dir, &fig_dir)?;
    training(&mut doc, r);
    unscored_sections(&mut doc, r);
    let md = run_dir.join("report.md");
    atomic::write_bytes(&md, doc.md.as_bytes()).map_err(io(&md, IoOp::Write))?;
    let html = html_page(&doc.html);
    let hp = run_dir.join("report.html");
    atomic::write_bytes(&hp, html.as_bytes()).map_err(io(&hp, IoOp::Write))
}

/// The title, what the run was (dataset, channels, members, epochs, clip length, what the means
/// are), how it was run, and its warnings.
fn introduction(doc: &mut Doc, r: &RunResults) {
    doc.heading(1, "Anomalous sound detection run");
    let embedded = if r.config.frontend.is_frozen() {
        format!(
            "embeddings of {} (whole clips), scored with the {} distance",
            frontend_words(&r.config.frontend),
            r.config.distance()
        )
    } else if r.config.frontend.trains_head() {
        format!(
            "embeddings of {}: {} ensemble member(s), {} epoch(s) of the head each, scored with the {} distance",
            frontend_words(&r.config.frontend),
            r.config.members,
            r.epochs,
            r.config.distance()
        )
    } else {
        format!(
            "{} ensemble member(s), {} epoch(s) each, clips of {:.2} s, scored with the {} distance",
            r.config.members,
            r.epochs,
            asd_audio::model_seconds(r.clip_len),
            r.config.distance()
        )
    };
    doc.para(&format!(
        "Dataset {} ({}), channel policy {}, {embedded}. Harmonic means in %: \
         \"source\" and \"target\" over the sections' AUC and pAUC of that domain, \"both\" = the official \
         DCASE score over every section's AUC (source), AUC (target) and pAUC. Members: mean ± std over the \
         members; ensemble: the members' scores averaged.",
        r.dataset,
        r.edition,
        r.config
            .channel
            .map_or_else(|| "mean (default)".to_string(), |c| c.to_string()),
    ));
    provenance(doc, r);
    for w in &r.warnings {
        doc.para(&format!("Warning: {w}"));
    }
}

/// What the run shows, from its numbers: per part, the method with the best official score of the
/// ensemble against plain `nn`, and how far the members spread (their std on that method), which
/// says how large a difference must be to mean something.
pub fn verdict_lines(r: &RunResults, parts: &[String]) -> Vec<String> {
    let both =
        |m: &crate::run::MethodResult, p: &str| m.parts.get(p).and_then(|x| x.ensemble.hmean);
    let mut lines = Vec::new();
    for p in parts {
        let best = r
            .methods
            .iter()
            .filter_map(|m| both(m, p).map(|v| (m, v)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((m, v)) = best else {
            continue;
        };
        let nn = r
            .methods
            .iter()
            .find(|m| m.name == "nn")
            .and_then(|m| both(m, p));
        let mut line = match nn {
            Some(n) if m.name != "nn" => format!(
                "On {p} data {} scores best ({:.2} %), {:.2} points above nn ({:.2} %)",
                m.name,
                100.0 * v,
                100.0 * (v - n),
                100.0 * n
            ),
            _ => format!("On {p} data {} scores best ({:.2} %)", m.name, 100.0 * v),
        };
        match m.parts.get(p).and_then(|x| x.both) {
            Some(t) if t.trials > 1 => {
                line += &format!(
                    "; its {} members spread by ± {:.2} points (std), so differences smaller than that are within what another seed gives.",
                    t.trials,
                    100.0 * t.std
                )
            }
            _ => line += "; one member, so the spread over seeds is not measured.",
        }
        lines.push(line);
    }
    // Whether one method wins everywhere.
    let winners: std::collections::BTreeSet<&str> = parts
        .iter()
        .filter_map(|p| {
            r.methods
                .iter()
                .filter_map(|m| both(m, p).map(|v| (m.name.as_str(), v)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(n, _)| n)
        })
        .collect();
    if parts.len() > 1 && winners.len() == 1 {
        lines.push(format!(
            "{} is best on every part.",
            winners.iter().next().copied().unwrap_or_default()
        ));
    }
    lines
}

fn verdict(doc: &mut Doc, r: &RunResults, parts: &[String]) {
    let lines = verdict_lines(r, parts);
    if !lines.is_empty() {
        doc.heading(2, "What this run shows");
        for l in lines {
            doc.para(&l);
        }
    }
}

/// Table II: the official evaluator's figures of the ensemble, per method and part.
fn table_two(doc: &mut Doc, r: &RunResults, parts: &[String]) {
    doc.heading(
        2,
        "Table II: the official evaluator's figures of the ensemble",
    );
    doc.para(
        "Per part, in %: the official score with its jackknife CI95 half-width in points (as the \
         official DCASE evaluator computes it, whose variance is the textbook jackknife's divided by \
         (N − 1)², hence far narrower than a textbook interval), the harmonic means over the sections of the 2026 baseline's per-domain \
         pAUC, and of the decisions' precision, recall and F1 over sections and domains (decision \
         threshold: the gamma fit of each section's leave-one-out training scores at the run's \
         decision percentile).",
    );
    let mut header = vec!["method".to_string()];
    for p in parts {
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
            for p in parts {
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
    let notes = zero_means(r, parts);
    if !notes.is_empty() {
        doc.para(&format!(
            "Why some precision, recall or F1 read 0.00: a harmonic mean is pulled to zero by a single \
             section and domain whose value is 0 (the evaluator floors it at the float epsilon), e.g. one \
             that decided no clip anomalous (precision 0/0, counted 0) or whose anomalies all fell below \
             its threshold (recall 0). Here: {}.",
            notes.join("; ")
        ));
    }
}

/// The most method–part notes listed under Table II.
const MAX_ZERO_NOTES: usize = 8;

/// Per method and part whose precision, recall or F1 harmonic mean is (near) zero: the sections and
/// domains that make it so.
fn zero_means(r: &RunResults, parts: &[String]) -> Vec<String> {
    type Get = fn(&SectionResult) -> [Option<f64>; 2];
    let kinds: [(&str, Get); 3] = [
        ("precision", |s| [s.precision_source, s.precision_target]),
        ("recall", |s| [s.recall_source, s.recall_target]),
        ("F1", |s| [s.f1_source, s.f1_target]),
    ];
    let mut notes = Vec::new();
    for m in &r.methods {
        for p in parts {
            let Some(x) = m.parts.get(p) else { continue };
            for (what, get) in kinds {
                let zero: Vec<String> = x
                    .ensemble_sections
                    .iter()
                    .flat_map(|s| {
                        get(s)
                            .into_iter()
                            .zip(["source", "target"])
                            .filter(|(v, _)| v.is_none_or(|v| v < 1e-9))
                            .map(move |(_, d)| format!("{} {} {d}", s.machine_type, s.section))
                    })
                    .collect();
                if !zero.is_empty() {
                    notes.push(format!("{} on {p}, {what}: {}", m.name, zero.join(", ")));
                }
                if notes.len() == MAX_ZERO_NOTES {
                    notes.push("and more (see each method's sections in results.json)".into());
                    return notes;
                }
            }
        }
    }
    notes
}

/// The per-section figures of the method with the best official score on the first part.
fn best_method(doc: &mut Doc, r: &RunResults, parts: &[String]) {
    if let Some((name, part, sections)) = best_method_sections(r, parts) {
        doc.heading(
            2,
            &format!("Sections of the best method ({name}, by the official score on {part} data)"),
        );
        doc.table(&SECTION_HEADER, &section_rows(sections));
    }
}

/// One row per ensemble member: epochs, first and last loss, last accuracy, time and rate.
fn training(doc: &mut Doc, r: &RunResults) {
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
}

/// The sections a method could not score, with the reason (nothing when all were scored).
fn unscored_sections(doc: &mut Doc, r: &RunResults) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{MethodResult, PartResult, Provenance, SweepPoint};

    fn method(name: &str, dev: f64) -> MethodResult {
        let mut parts = BTreeMap::new();
        let mut p = PartResult::default();
        p.ensemble.hmean = Some(dev);
        parts.insert("dev".to_string(), p);
        MethodResult {
            name: name.into(),
            parts,
            failures: Vec::new(),
        }
    }

    fn point(x: f64, y: f64) -> SweepPoint {
        let mut e = BTreeMap::new();
        e.insert("dev".to_string(), Some(y));
        SweepPoint {
            x,
            ensemble: e.clone(),
            member_mean: e,
        }
    }

    fn results() -> RunResults {
        RunResults {
            dataset: "data/synth".into(),
            edition: "2023".into(),
            methods: vec![
                method("nn", 0.60),
                method(PAPERS_METHOD, 0.64),
                method("ratio_k4", 0.70),
            ],
            sweep_k: [1.0, 2.0, 4.0, 16.0]
                .iter()
                .map(|&k| point(k, 0.6 + 0.01 * k))
                .collect(),
            sweep_r: (0..=20).map(|i| point(f64::from(i) * 0.05, 0.62)).collect(),
            provenance: Some(Provenance {
                command: "asd run --data 'my data' --out runs/x".into(),
                version: "9.9.9".into(),
                started: "2026-12-05T08:03:23Z".into(),
                wall_seconds: 230.0,
                machine: "Test CPU (x86_64, AVX2, 2 threads)".into(),
            }),
            ..RunResults::default()
        }
    }

    #[test]
    fn the_report_reads_on_a_phone_says_how_it_was_run_and_titles_each_figure_once() {
        let tmp = tempfile::tempdir().unwrap();
        let r = results();
        for name in ["nn", PAPERS_METHOD, "ratio_k4"] {
            let d = tmp.path().join("scores").join(name);
            std::fs::create_dir_all(&d).unwrap();
            let mut csv = String::from("machine_type,section,file,domain,label,score\n");
            for (i, (dom, lab)) in [("source", "normal"), ("target", "anomaly")]
                .iter()
                .cycle()
                .take(40)
                .enumerate()
            {
                csv += &format!("fan,00,c{i}.wav,{dom},{lab},{}\n", i as f64 * 0.1);
            }
            std::fs::write(d.join("scores.csv"), csv).unwrap();
        }
        write_report(tmp.path(), &r).unwrap();
        let html = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
        assert!(html.contains("name=\"viewport\" content=\"width=device-width"));
        assert!(html.contains("overflow-x:auto") && html.contains("class=\"scroll\""));
        for title in [
            "Figure 1: ratio score over K",
            "Figure 2: ratio score with GWRP over r",
        ] {
            assert_eq!(html.matches(title).count(), 1, "{title}");
        }
        for fact in [
            "How this was run",
            "asd run --data &#x27;my data&#x27; --out runs/x",
            "9.9.9",
            "2026-12-05T08:03:23Z",
            "Test CPU",
            "3 min 50 s",
        ] {
            let fact = fact.replace("&#x27;", "'");
            assert!(html.contains(&fact), "{fact}");
        }
        // Histograms: before re-scaling, the paper's setting and the best method.
        let svg = std::fs::read_to_string(tmp.path().join("figures/scores_fan.svg")).unwrap();
        for panel in [
            "nn (no re-scaling)",
            "ratio_gwrp_r0.9 (the paper&apos;s)",
            "ratio_k4 (best on dev)",
        ] {
            let alt = panel.replace("&apos;", "'");
            assert!(
                svg.contains(panel) || svg.contains(&alt),
                "{panel} in the figure"
            );
        }
        // The K sweep shows nn for reference.
        let k = std::fs::read_to_string(tmp.path().join("figures/sweep_k.svg")).unwrap();
        assert!(k.contains("dev nn (ensemble)"));
        let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
        assert!(md.contains("How this was run") && md.contains("seed"));
    }

    #[test]
    fn the_verdict_names_the_best_method_its_lead_over_nn_and_the_members_spread() {
        let mut r = results();
        let lines = verdict_lines(&r, &["dev".to_string()]);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with(
                "On dev data ratio_k4 scores best (70.00 %), 10.00 points above nn (60.00 %)"
            ) && lines[0].contains("one member"),
            "{}",
            lines[0]
        );
        r.methods[2].parts.get_mut("dev").unwrap().both = Some(asd_eval::summary::TrialStats {
            mean: 0.69,
            std: 0.012,
            trials: 3,
        });
        let lines = verdict_lines(&r, &["dev".to_string()]);
        assert!(
            lines[0].contains("its 3 members spread by ± 1.20 points"),
            "{}",
            lines[0]
        );
        // nn best: no lead to state.
        r.methods[0].parts.get_mut("dev").unwrap().ensemble.hmean = Some(0.8);
        let lines = verdict_lines(&r, &["dev".to_string()]);
        assert!(
            lines[0].starts_with("On dev data nn scores best (80.00 %);"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(format_seconds(56.2), "56 s");
        assert_eq!(format_seconds(230.0), "3 min 50 s");
        assert_eq!(format_seconds(7260.0), "2 h 1 min");
    }
}
