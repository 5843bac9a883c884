//! The report's SVG figures. A figure's title is the report's heading, never drawn into the SVG
//! (it would show twice); legends sit below the data, never over it; sweep axes are ticked at the
//! values that were run.

use plotters::coord::Shift;
use plotters::prelude::*;

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    /// Solid with markers: the ensemble.
    Solid,
    /// Dashed with small markers: the members' mean.
    Dashed,
    /// Dotted, no markers, across the whole axis: a reference level (plain `nn`).
    Level,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    /// (x, y); a `Level` line uses only the first y.
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub stroke: Stroke,
}

/// A linear axis ticked exactly at given values (plotters' own f64 axis chooses round numbers).
struct TickedAxis {
    range: std::ops::Range<f64>,
    ticks: Vec<f64>,
}

impl plotters::coord::ranged1d::Ranged for TickedAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let t = if span > 0.0 {
            (v - self.range.start) / span
        } else {
            0.5
        };
        limit.0 + (t * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

const WIDTH: u32 = 720;
const LEGEND_ROW: u32 = 22;
const FONT: (&str, u32) = ("sans-serif", 14);

/// A figure that plotters could not draw. Its errors carry the drawing backend's type, so the
/// message is kept instead of the value.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PlotError(String);

fn err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError(e.to_string())
}

/// The x of each legend entry and its row, wrapping at `width`.
fn legend_layout(names: &[&str], width: u32) -> Vec<(i32, i32)> {
    let (mut x, mut row) = (10i32, 0i32);
    names
        .iter()
        .map(|n| {
            // 7 px per character of a 14 px sans-serif font, 34 px for the line sample and gap.
            let w = 34 + 7 * n.chars().count() as i32 + 18;
            if x > 10 && x + w > width as i32 {
                x = 10;
                row += 1;
            }
            let at = (x, row);
            x += w;
            at
        })
        .collect()
}

fn legend_height(names: &[&str], width: u32) -> u32 {
    let rows = legend_layout(names, width)
        .last()
        .map_or(0, |&(_, r)| r as u32 + 1);
    rows * LEGEND_ROW + 8
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, ShapeStyle, Stroke)],
) -> Result<(), PlotError> {
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    let width = area.dim_in_pixel().0;
    for ((name, style, stroke), (x, row)) in entries.iter().zip(legend_layout(&names, width)) {
        let y = 4 + row * LEGEND_ROW as i32 + LEGEND_ROW as i32 / 2;
        let segments: Vec<(i32, i32)> = match stroke {
            Stroke::Solid => vec![(x, x + 26)],
            Stroke::Dashed => vec![(x, x + 8), (x + 12, x + 20), (x + 24, x + 26)],
            Stroke::Level => (0..7).map(|i| (x + 4 * i, x + 4 * i + 2)).collect(),
        };
        for (a, b) in segments {
            area.draw(&PathElement::new(vec![(a, y), (b, y)], *style))
                .map_err(err)?;
        }
        area.draw(&Text::new(
            name.clone(),
            (x + 34, y - 8),
            FONT.into_font().color(&BLACK),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// Exact tick labels: `v` without trailing zeros ("16", "0.9", "0.05").
pub fn tick_label(v: f64) -> String {
    let s = format!("{:.6}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// The values to tick: all that were run, or every other one (keeping both ends) when more than 11
/// would crowd the axis.
pub fn ticks(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    if v.len() <= 11 {
        return v;
    }
    let last = v.len() - 1;
    v.iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0 || *i == last)
        .map(|(_, x)| *x)
        .collect()
}

/// A sweep: official score over a parameter, with ticks at the values run. `log2_x` spaces them
/// logarithmically (K), otherwise linearly (r).
/// (~100 lines of plotters calls: axes, ticks, one series per line, the reference lines and the
/// legend, in drawing order.)
pub fn sweep_plot(xlabel: &str, lines: &[Line], log2_x: bool) -> Result<String, PlotError> {
    let tx = |x: f64| if log2_x { x.max(1e-9).log2() } else { x };
    let xs: Vec<f64> = lines
        .iter()
        .filter(|l| l.stroke != Stroke::Level)
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .collect();
    if xs.is_empty() {
        return Ok(String::new());
    }
    let ys: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .collect();
    let tick_values = ticks(&xs);
    let (x0, x1) = xs.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| {
        (a.min(tx(x)), b.max(tx(x)))
    });
    let xpad = ((x1 - x0) * 0.04).max(0.05);
    let (y0, y1) = ys
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &y| (a.min(y), b.max(y)));
    let ypad = ((y1 - y0) * 0.1).max(0.5);
    let entries: Vec<(String, ShapeStyle, Stroke)> = lines
        .iter()
        .map(|l| (l.name.clone(), style_of(l), l.stroke))
        .collect();
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    let lh = legend_height(&names, WIDTH);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 340 + lh)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, legend) = root.split_vertically(340);
        let keys: Vec<f64> = tick_values.iter().map(|&v| tx(v)).collect();
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(
                TickedAxis {
                    range: (x0 - xpad)..(x1 + xpad),
                    ticks: keys,
                },
                (y0 - ypad)..(y1 + ypad),
            )
            .map_err(err)?;
        let label = move |x: &f64| {
            tick_values
                .iter()
                .min_by(|a, b| (tx(**a) - x).abs().total_cmp(&(tx(**b) - x).abs()))
                .map_or_else(String::new, |v| tick_label(*v))
        };
        chart
            .configure_mesh()
            .x_desc(xlabel)
            .y_desc("official score (%)")
            .x_label_formatter(&label)
            .label_style(FONT)
            .axis_desc_style(FONT)
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        for l in lines {
            let style = style_of(l);
            match l.stroke {
                Stroke::Level => {
                    if let Some(&(_, y)) = l.points.first() {
                        chart
                            .draw_series(DashedLineSeries::new(
                                vec![(x0 - xpad, y), (x1 + xpad, y)],
                                2,
                                4,
                                style,
                            ))
                            .map_err(err)?;
                    }
                }
                Stroke::Solid | Stroke::Dashed => {
                    let d: Vec<(f64, f64)> = l.points.iter().map(|&(x, y)| (tx(x), y)).collect();
                    if l.stroke == Stroke::Solid {
                        chart
                            .draw_series(LineSeries::new(d.clone(), style))
                            .map_err(err)?;
                    } else {
                        chart
                            .draw_series(DashedLineSeries::new(d.clone(), 6, 4, style))
                            .map_err(err)?;
                    }
                    let r = if l.stroke == Stroke::Solid { 3 } else { 2 };
                    chart
                        .draw_series(d.iter().map(|&p| Circle::new(p, r, style.filled())))
                        .map_err(err)?;
                }
            }
        }
        draw_legend(&legend, &entries)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn style_of(l: &Line) -> ShapeStyle {
    ShapeStyle::from(l.color).stroke_width(match l.stroke {
        Stroke::Solid => 2,
        Stroke::Dashed | Stroke::Level => 1,
    })
}

/// (domain, label, score) of the test clips of one machine type.
pub type Scored = Vec<(String, String, f64)>;

const GROUPS: [(&str, &str, RGBColor); 4] = [
    ("source", "normal", RGBColor(31, 119, 180)),
    ("source", "anomaly", RGBColor(255, 127, 14)),
    ("target", "normal", RGBColor(44, 160, 44)),
    ("target", "anomaly", RGBColor(214, 39, 40)),
];

/// Histogram outlines of the four groups (domain × label) of one machine type, one panel per
/// method; `panels` holds each panel's title and clips.
/// (~80 lines of plotters calls, in drawing order: panels, histograms, legend.)
pub fn distribution_plot(panels: &[(String, Scored)]) -> Result<String, PlotError> {
    let entries: Vec<(String, ShapeStyle, Stroke)> = GROUPS
        .iter()
        .map(|(d, l, c)| {
            (
                format!("{d} {l}"),
                ShapeStyle::from(*c).stroke_width(2),
                Stroke::Solid,
            )
        })
        .collect();
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    let width = 300 * panels.len().max(1) as u32;
    let lh = legend_height(&names, width);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 300 + lh)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plots, legend) = root.split_vertically(300);
        let areas = plots.split_evenly((1, panels.len().max(1)));
        for (area, (title, rows)) in areas.iter().zip(panels) {
            if rows.is_empty() {
                continue;
            }
            let (lo, hi) = rows
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), r| (a.min(r.2), b.max(r.2)));
            let hi = if hi > lo { hi } else { lo + 1e-6 };
            let bins = 20usize;
            let mut hists = Vec::new();
            let mut ymax = 0.0f64;
            for (d, l, c) in GROUPS {
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
                hists.push((c, h));
            }
            let mut chart = ChartBuilder::on(area)
                .caption(title, FONT)
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(44)
                .build_cartesian_2d(lo..hi, 0.0..(ymax * 1.1).max(1e-6))
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("anomaly score")
                .y_desc("share of clips")
                .x_labels(4)
                .light_line_style(WHITE)
                .draw()
                .map_err(err)?;
            let w = (hi - lo) / bins as f64;
            for (c, h) in hists {
                let mut pts = vec![(lo, 0.0)];
                for (i, v) in h.iter().enumerate() {
                    pts.push((lo + i as f64 * w, *v));
                    pts.push((lo + (i + 1) as f64 * w, *v));
                }
                pts.push((hi, 0.0));
                chart
                    .draw_series(LineSeries::new(pts, ShapeStyle::from(c).stroke_width(2)))
                    .map_err(err)?;
            }
        }
        draw_legend(&legend, &entries)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of every `<text>` element of an SVG.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                let body = t.split_once('>')?.1;
                Some(body.split_once("</text>")?.0.trim().to_string())
            })
            .collect()
    }

    #[test]
    fn tick_labels_are_exact() {
        assert_eq!(tick_label(16.0), "16");
        assert_eq!(tick_label(0.9), "0.9");
        assert_eq!(tick_label(0.05), "0.05");
        assert_eq!(tick_label(0.0), "0");
        let r: Vec<f64> = (0..=20).map(|i| f64::from(i) * 0.05).collect();
        let t = ticks(&r);
        assert_eq!(t.len(), 11);
        assert_eq!(t.first(), Some(&0.0));
        assert_eq!(t.last(), Some(&1.0));
    }

    #[test]
    fn the_k_axis_is_ticked_at_the_values_run_once_each_with_the_legend_below() {
        let ks = [1.0f64, 2.0, 4.0, 8.0, 16.0, 32.0];
        let lines = vec![
            Line {
                name: "dev ensemble".into(),
                points: ks.iter().map(|&k| (k, 60.0 + k.log2())).collect(),
                color: RGBColor(31, 119, 180),
                stroke: Stroke::Solid,
            },
            Line {
                name: "dev nn (ensemble)".into(),
                points: vec![(0.0, 61.5)],
                color: RGBColor(31, 119, 180),
                stroke: Stroke::Level,
            },
        ];
        let svg = sweep_plot("K nearest references", &lines, true).unwrap();
        let t = texts(&svg);
        for k in ["1", "2", "4", "8", "16", "32"] {
            assert_eq!(t.iter().filter(|x| *x == k).count(), 1, "tick {k} in {t:?}");
        }
        for never in ["3", "6", "11", "23"] {
            assert!(!t.iter().any(|x| x == never), "{never} was not run: {t:?}");
        }
        assert!(t.iter().any(|x| x == "dev nn (ensemble)"));
        // No title inside the figure: the report's heading names it.
        assert!(!svg.contains("Figure"));
        // The legend's text lies below the plot area (y beyond 340 px).
        let y_of = |name: &str| -> f64 {
            let i = svg.find(name).unwrap();
            let head = &svg[..i];
            let tag = &head[head.rfind("<text").unwrap()..];
            let y = tag.split("y=\"").nth(1).unwrap().split('"').next().unwrap();
            y.parse().unwrap()
        };
        assert!(y_of("dev ensemble") > 340.0);
    }

    #[test]
    fn long_legends_wrap_into_rows() {
        let names = ["a long legend entry"; 12];
        let at = legend_layout(&names, 400);
        assert!(at.iter().all(|&(x, _)| x < 400));
        assert!(at.last().unwrap().1 >= 3);
        assert_eq!(
            legend_height(&names, 400),
            (at.last().unwrap().1 as u32 + 1) * LEGEND_ROW + 8
        );
    }
}
