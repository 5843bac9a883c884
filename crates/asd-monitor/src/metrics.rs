//! Prometheus text exposition of the service's counters and latency histograms, kept without a metrics
//! framework: a handful of counters under one lock, written out on scrape.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    clips_scored: u64,
    anomalies: u64,
    references_enrolled: u64,
    references_removed: u64,
    bad_clips: u64,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Gauges read at scrape time.
pub struct Gauges {
    pub monitors: usize,
    pub references: usize,
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        if let Ok(mut m) = self.inner.lock() {
            f(&mut m);
        }
    }

    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.with(|m| {
            *m.requests
                .entry((method.to_string(), route.to_string(), status))
                .or_insert(0) += 1;
            let h = m.latency.entry(route.to_string()).or_default();
            let s = took.as_secs_f64();
            for (c, b) in h.counts.iter_mut().zip(BUCKETS) {
                if s <= b {
                    *c += 1;
                }
            }
            h.sum += s;
            h.count += 1;
        });
    }

    pub fn scored(&self, clips: usize, anomalies: usize) {
        self.with(|m| {
            m.clips_scored += clips as u64;
            m.anomalies += anomalies as u64;
        });
    }

    pub fn enrolled(&self, n: usize) {
        self.with(|m| m.references_enrolled += n as u64);
    }

    pub fn removed(&self, n: usize) {
        self.with(|m| m.references_removed += n as u64);
    }

    pub fn bad_clips(&self, n: usize) {
        self.with(|m| m.bad_clips += n as u64);
    }

    pub fn render(&self, g: &Gauges) -> String {
        let mut o = String::new();
        let Ok(m) = self.inner.lock() else {
            return o;
        };
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        o.push_str("# HELP asd_http_requests_total HTTP requests by method, route and status.\n");
        o.push_str("# TYPE asd_http_requests_total counter\n");
        for ((method, route, status), n) in &m.requests {
            let _ = writeln!(
                o,
                "asd_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                esc(method),
                esc(route)
            );
        }
        o.push_str("# HELP asd_http_request_duration_seconds Request latency by route.\n");
        o.push_str("# TYPE asd_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            let r = esc(route);
            for (c, b) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(
                    o,
                    "asd_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                o,
                "asd_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                o,
                "asd_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                o,
                "asd_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        let counters = [
            ("asd_clips_scored_total", "Clips scored.", m.clips_scored),
            (
                "asd_anomalies_total",
                "Scored clips decided anomalous.",
                m.anomalies,
            ),
            (
                "asd_references_enrolled_total",
                "Normal clips enrolled as references.",
                m.references_enrolled,
            ),
            (
                "asd_references_removed_total",
                "References removed.",
                m.references_removed,
            ),
            (
                "asd_bad_clips_total",
                "Uploaded clips refused (not audio, empty, too long).",
                m.bad_clips,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
        let _ = writeln!(
            o,
            "# HELP asd_monitors Monitors.\n# TYPE asd_monitors gauge\nasd_monitors {}",
            g.monitors
        );
        let _ = writeln!(
            o,
            "# HELP asd_references References over all monitors.\n# TYPE asd_references gauge\nasd_references {}",
            g.references
        );
        o
    }
}
