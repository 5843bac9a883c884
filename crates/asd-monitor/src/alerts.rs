//! Alert rules, what a monitor keeps of its history, and the webhook that tells other systems.
//!
//! A monitor's alert is raised when at least `raise_m` of its last `raise_n` decisions are anomalous
//! and cleared after `clear_k` consecutive normal ones (as Grafana's pending period or AWS IoT's
//! ConsecutiveDatapointsToAlarm, but over clips rather than time). The state and every raise and clear
//! are written in the same store transaction as the scores that caused them, so they survive a
//! restart and no acknowledged score can be missing from the alert's view of them.

use serde::{Deserialize, Serialize};
use std::sync::mpsc;
use std::time::Duration;

/// Most decisions a rule may read (`raise_n`, `clear_k`): what the state keeps.
pub const MAX_WINDOW: usize = 64;

/// When a monitor's alert is raised and cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Raised when at least this many …
    pub raise_m: usize,
    /// … of the last this many decisions (counted since the last raise or clear) are anomalous.
    pub raise_n: usize,
    /// Cleared after this many consecutive normal decisions.
    pub clear_k: usize,
}

impl Default for AlertRule {
    /// 3 of 5 raise, 5 in a row normal clear: one anomalous clip (a door slammed next to the
    /// microphone) does not page anyone, a machine that keeps sounding wrong does within 5 clips.
    fn default() -> Self {
        Self {
            raise_m: 3,
            raise_n: 5,
            clear_k: 5,
        }
    }
}

impl AlertRule {
    pub fn validate(&self) -> Result<(), String> {
        let Self {
            raise_m,
            raise_n,
            clear_k,
        } = *self;
        if raise_m < 1 || raise_m > raise_n || raise_n > MAX_WINDOW {
            return Err(format!(
                "alert: need 1 <= raise_m <= raise_n <= {MAX_WINDOW}, got raise_m {raise_m}, raise_n {raise_n}"
            ));
        }
        if !(1..=MAX_WINDOW).contains(&clear_k) {
            return Err(format!(
                "alert: need 1 <= clear_k <= {MAX_WINDOW}, got {clear_k}"
            ));
        }
        Ok(())
    }
}

/// How much of a monitor's score history is kept; older rows are pruned in the background.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// The newest this many scores are kept (`null`: no limit by count).
    pub max_rows: Option<u64>,
    /// Scores older than this many days are dropped (`null`: no limit by age).
    pub max_age_days: Option<f64>,
}

/// Scores a monitor keeps by default: 10⁶, about 25 days of one clip every 2 s (docs/monitor.md has
/// the store's size per 10⁶ scores).
pub const DEFAULT_MAX_ROWS: u64 = 1_000_000;

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_rows: Some(DEFAULT_MAX_ROWS),
            max_age_days: None,
        }
    }
}

impl Retention {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_rows == Some(0) {
            return Err("retention: max_rows must be at least 1 (null keeps every score)".into());
        }
        if let Some(d) = self.max_age_days
            && !(d > 0.0 && d.is_finite())
        {
            return Err(format!(
                "retention: max_age_days must be a positive number of days (null keeps every score), got {d}"
            ));
        }
        Ok(())
    }

    /// Scores at or before this time (ms since the epoch) are past their age.
    pub fn cutoff_ms(&self, now_ms: i64) -> Option<i64> {
        self.max_age_days
            .map(|d| now_ms - (d * 86_400_000.0).round() as i64)
    }
}

/// A monitor's alert rule and retention: its settings that can change after it is created.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub alert: AlertRule,
    #[serde(default)]
    pub retention: Retention,
}

impl Policy {
    pub fn validate(&self) -> Result<(), String> {
        self.alert.validate()?;
        self.retention.validate()
    }
}

/// A monitor's alert: raised or not, since when, and the decisions it has seen since the last change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertState {
    pub active: bool,
    /// When it was last raised or cleared (`None`: never).
    pub since_ms: Option<i64>,
    /// Decisions since the last raise or clear, oldest first, at most [`MAX_WINDOW`] (true: anomalous).
    #[serde(skip)]
    pub window: Vec<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Raise,
    Clear,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Raise => "raise",
            Transition::Clear => "clear",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "raise" => Some(Transition::Raise),
            "clear" => Some(Transition::Clear),
            _ => None,
        }
    }
}

/// A raise or clear, and what the rule read when it fired: anomalous decisions among how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub transition: Transition,
    pub anomalies: usize,
    pub decisions: usize,
}

impl AlertState {
    /// Feeds one decision; returns the change it caused, if any.
    pub fn feed(&mut self, rule: &AlertRule, anomalous: bool, at_ms: i64) -> Option<Change> {
        self.window.push(anomalous);
        if self.window.len() > MAX_WINDOW {
            self.window.remove(0);
        }
        // A raised alert reads its last `clear_k` decisions for a clear, a quiet one its last
        // `raise_n` for a raise.
        let n = if self.active {
            rule.clear_k
        } else {
            rule.raise_n
        };
        let decisions = self.window.len().min(n);
        let anomalies = self.window.iter().rev().take(n).filter(|&&a| a).count();
        let transition = if self.active {
            (decisions == n && anomalies == 0).then_some(Transition::Clear)
        } else {
            (anomalies >= rule.raise_m).then_some(Transition::Raise)
        }?;
        self.active = transition == Transition::Raise;
        self.since_ms = Some(at_ms);
        // A change starts a new count: a clear is not undone by the anomalies that raised it.
        self.window.clear();
        Some(Change {
            transition,
            anomalies,
            decisions,
        })
    }

    /// The window as stored: one character per decision, `a` anomalous, `n` normal.
    pub fn window_text(&self) -> String {
        self.window
            .iter()
            .map(|&a| if a { 'a' } else { 'n' })
            .collect()
    }

    /// The window from its stored text; `None` for anything but `a`/`n`.
    pub fn window_from(text: &str) -> Option<Vec<bool>> {
        text.chars()
            .map(|c| match c {
                'a' => Some(true),
                'n' => Some(false),
                _ => None,
            })
            .collect()
    }
}

/// One raise or clear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Assigned by the store, increasing.
    pub seq: i64,
    pub monitor: u64,
    pub event: Transition,
    pub at_ms: i64,
    /// The score (history row) that caused it, its file and score.
    pub history_seq: i64,
    pub file: String,
    pub score: f64,
    /// Anomalous decisions among those the rule read when it fired, and how many it read.
    pub anomalies: usize,
    pub decisions: usize,
}

/// What one batch of scores does to a monitor's alert, written with the scores.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertWrite {
    /// The state after the batch.
    pub state: AlertState,
    /// Each change, with the index (in the batch) of the score that caused it; `seq` and
    /// `history_seq` are assigned by the store.
    pub events: Vec<(usize, AlertEvent)>,
}

/// Feeds a batch of decisions (in the order they are stored) through a monitor's rule.
pub fn evaluate(
    rule: &AlertRule,
    state: &AlertState,
    monitor: u64,
    batch: &[(Option<bool>, &str, f64)],
    at_ms: i64,
) -> AlertWrite {
    let mut st = state.clone();
    let mut events = Vec::new();
    for (i, &(decision, file, score)) in batch.iter().enumerate() {
        let Some(anomalous) = decision else {
            continue;
        };
        if let Some(c) = st.feed(rule, anomalous, at_ms) {
            events.push((
                i,
                AlertEvent {
                    seq: 0,
                    monitor,
                    event: c.transition,
                    at_ms,
                    history_seq: 0,
                    file: file.to_string(),
                    score,
                    anomalies: c.anomalies,
                    decisions: c.decisions,
                },
            ));
        }
    }
    AlertWrite { state: st, events }
}

/// What a webhook receives: the event and the monitor's name.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    #[serde(flatten)]
    pub event: AlertEvent,
    pub name: String,
    pub rule: AlertRule,
}

/// Delays before each retry of a webhook call that failed: 1, 2, 4, … 64 s, then the event is logged
/// as undelivered.
pub fn backoff(base: Duration) -> impl Iterator<Item = Duration> {
    (0..7).map(move |i| base * (1 << i))
}

/// Posts raises and clears to a URL from its own thread, in order, retrying each with backoff;
/// scoring only queues them, so a slow or dead receiver never holds a score back.
pub struct Webhook {
    tx: mpsc::Sender<Notice>,
}

impl Webhook {
    /// `base` is the first retry's delay (1 s in the service; tests use less).
    pub fn start(url: String, base: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<Notice>();
        std::thread::Builder::new()
            .name("alert-webhook".into())
            .spawn(move || {
                let agent = ureq::Agent::new_with_config(
                    ureq::config::Config::builder()
                        .timeout_global(Some(Duration::from_secs(10)))
                        .build(),
                );
                for notice in rx {
                    deliver(&agent, &url, &notice, base);
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!("cannot start the webhook thread: {e}"));
        Self { tx }
    }

    pub fn send(&self, notice: Notice) {
        if self.tx.send(notice).is_err() {
            tracing::error!("the webhook thread has stopped; an alert event was not sent");
        }
    }
}

fn deliver(agent: &ureq::Agent, url: &str, notice: &Notice, base: Duration) {
    let body = serde_json::to_string(notice).unwrap_or_default();
    let mut delays = backoff(base);
    loop {
        let err = match agent
            .post(url)
            .header("content-type", "application/json")
            .send(body.as_bytes())
        {
            Ok(_) => return,
            Err(e) => e.to_string(),
        };
        match delays.next() {
            Some(d) => {
                tracing::warn!(
                    monitor = notice.event.monitor,
                    "alert webhook {url}: {err}; retrying in {d:?}"
                );
                std::thread::sleep(d);
            }
            None => {
                tracing::error!(
                    monitor = notice.event.monitor,
                    event = notice.event.event.as_str(),
                    "alert webhook {url}: {err}; giving up on this event after 8 attempts"
                );
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rule: &AlertRule, decisions: &str) -> Vec<(usize, Transition)> {
        let batch: Vec<(Option<bool>, &str, f64)> = decisions
            .chars()
            .map(|c| {
                (
                    match c {
                        'a' => Some(true),
                        'n' => Some(false),
                        _ => None,
                    },
                    "x.wav",
                    0.0,
                )
            })
            .collect();
        evaluate(rule, &AlertState::default(), 1, &batch, 0)
            .events
            .into_iter()
            .map(|(i, e)| (i, e.event))
            .collect()
    }

    #[test]
    fn m_of_n_raises_and_k_in_a_row_clears() {
        use Transition::*;
        let r = AlertRule::default();
        // 2 of 5 is not enough; the third anomaly within 5 raises.
        assert_eq!(run(&r, "anann"), vec![]);
        assert_eq!(run(&r, "anana"), vec![(4, Raise)]);
        // Anomalies further apart than 5 never raise.
        assert_eq!(run(&r, "annnnannnnannnna"), vec![]);
        // Undecided clips (no threshold yet) are not decisions.
        assert_eq!(run(&r, "a-a--a"), vec![(5, Raise)]);
        // Cleared after 5 normal in a row, not 4; one anomaly restarts the count.
        assert_eq!(run(&r, "aaannnn"), vec![(2, Raise)]);
        assert_eq!(run(&r, "aaannnnannnnn"), vec![(2, Raise), (12, Clear)]);
        // After a clear the count starts again: the anomalies before it do not raise at once.
        let quick = AlertRule {
            raise_m: 3,
            raise_n: 10,
            clear_k: 2,
        };
        assert_eq!(run(&quick, "aaannn"), vec![(2, Raise), (4, Clear)]);
        assert_eq!(run(&quick, "aaannnaa"), vec![(2, Raise), (4, Clear)]);
        assert_eq!(
            run(&quick, "aaannnaaa"),
            vec![(2, Raise), (4, Clear), (8, Raise)]
        );
    }

    #[test]
    fn an_event_says_what_the_rule_read() {
        let r = AlertRule::default();
        let batch = [
            (Some(true), "a.wav", 0.9),
            (Some(false), "b.wav", 0.1),
            (Some(true), "c.wav", 0.8),
            (Some(true), "d.wav", 0.7),
        ];
        let w = evaluate(&r, &AlertState::default(), 7, &batch, 42);
        assert_eq!(w.events.len(), 1);
        let (i, e) = &w.events[0];
        assert_eq!(*i, 3);
        assert_eq!((e.monitor, e.event, e.at_ms), (7, Transition::Raise, 42));
        assert_eq!((e.file.as_str(), e.score), ("d.wav", 0.7));
        assert_eq!((e.anomalies, e.decisions), (3, 4));
        assert!(w.state.active && w.state.window.is_empty());
        assert_eq!(w.state.since_ms, Some(42));
    }

    #[test]
    fn the_window_is_bounded_and_round_trips_as_text() {
        let r = AlertRule {
            raise_m: 64,
            raise_n: 64,
            clear_k: 1,
        };
        let mut s = AlertState::default();
        for i in 0..200 {
            s.feed(&r, i % 2 == 0, i);
        }
        assert_eq!(s.window.len(), MAX_WINDOW);
        assert_eq!(AlertState::window_from(&s.window_text()), Some(s.window));
        assert_eq!(AlertState::window_from("anx"), None);
    }

    #[test]
    fn rules_and_retention_outside_their_ranges_are_refused() {
        let bad = [
            AlertRule {
                raise_m: 0,
                raise_n: 5,
                clear_k: 5,
            },
            AlertRule {
                raise_m: 6,
                raise_n: 5,
                clear_k: 5,
            },
            AlertRule {
                raise_m: 1,
                raise_n: MAX_WINDOW + 1,
                clear_k: 5,
            },
            AlertRule {
                raise_m: 1,
                raise_n: 1,
                clear_k: 0,
            },
        ];
        for r in bad {
            assert!(r.validate().is_err(), "{r:?}");
        }
        assert!(AlertRule::default().validate().is_ok());
        for (rows, days) in [(Some(0), None), (None, Some(0.0)), (None, Some(f64::NAN))] {
            let r = Retention {
                max_rows: rows,
                max_age_days: days,
            };
            assert!(r.validate().is_err(), "{r:?}");
        }
        let r = Retention {
            max_rows: None,
            max_age_days: Some(1.5),
        };
        assert_eq!(r.cutoff_ms(200_000_000), Some(200_000_000 - 129_600_000));
    }

    #[test]
    fn backoff_doubles_from_its_base() {
        let d: Vec<u64> = backoff(Duration::from_secs(1))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(d, vec![1, 2, 4, 8, 16, 32, 64]);
    }
}
