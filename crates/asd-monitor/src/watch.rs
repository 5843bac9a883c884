//! `asd monitor watch DIR`: a recorder's output folder, scored file by file as files appear, through a
//! running service's API.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub struct WatchOptions {
    pub dir: PathBuf,
    /// Base address of the service, e.g. http://127.0.0.1:8080.
    pub url: String,
    pub monitor: u64,
    pub token: Option<String>,
    pub interval: Duration,
    /// Score the files already in the folder too (default: only new ones).
    pub existing: bool,
    /// Stop when every file present has been handled (for scripts and tests).
    pub once: bool,
}

/// One file's outcome.
#[derive(Debug, Clone)]
pub enum Outcome {
    Scored(serde_json::Value),
    Failed(String),
}

const AUDIO: [&str; 4] = ["wav", "flac", "ogg", "mp3"];

fn is_clip(p: &Path) -> bool {
    let hidden = p
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    let ext = p
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    !hidden && ext.is_some_and(|e| AUDIO.contains(&e.as_str()))
}

type Stamp = (u64, Option<SystemTime>);

fn listing(dir: &Path) -> Result<HashMap<PathBuf, Stamp>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = HashMap::new();
    for e in rd.flatten() {
        let p = e.path();
        if !is_clip(&p) {
            continue;
        }
        if let Ok(md) = e.metadata()
            && md.is_file()
        {
            out.insert(p, (md.len(), md.modified().ok()));
        }
    }
    Ok(out)
}

fn score_file(agent: &ureq::Agent, o: &WatchOptions, path: &Path) -> Outcome {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Outcome::Failed(format!("cannot read: {e}")),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("clip");
    let url = format!(
        "{}/v1/monitors/{}/score?name={}",
        o.url.trim_end_matches('/'),
        o.monitor,
        percent(name)
    );
    let mut req = agent
        .post(&url)
        .header("content-type", "application/octet-stream");
    if let Some(t) = &o.token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let mut resp = match req.send(&bytes[..]) {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("{url}: {e}")),
    };
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    if status >= 400 {
        let msg = v["error"].as_str().unwrap_or(&text).to_string();
        return Outcome::Failed(format!("HTTP {status}: {msg}"));
    }
    match v["results"].get(0) {
        Some(r) => Outcome::Scored(r.clone()),
        None => Outcome::Failed(format!("the service read no clip: {}", v["bad_clips"])),
    }
}

/// Escapes a file name for a query string.
pub fn percent(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// An HTTP agent that hands back 4xx/5xx answers instead of failing on them.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// Watches the folder; `report` is called once per file handled. Returns every file that failed.
pub fn watch(
    o: &WatchOptions,
    report: &mut dyn FnMut(&Path, &Outcome),
) -> Result<Vec<(PathBuf, String)>, String> {
    let agent = agent(Duration::from_secs(300));
    let mut done: HashSet<PathBuf> = HashSet::new();
    if !o.existing {
        done.extend(listing(&o.dir)?.into_keys());
    }
    let mut last: HashMap<PathBuf, Stamp> = HashMap::new();
    let mut failed = Vec::new();
    loop {
        let now = listing(&o.dir)?;
        let mut ready: Vec<&PathBuf> = now
            .iter()
            // A file is complete once its size and time stand still between two looks.
            .filter(|(p, st)| !done.contains(*p) && last.get(*p) == Some(st))
            .map(|(p, _)| p)
            .collect();
        ready.sort();
        for p in ready {
            let out = score_file(&agent, o, p);
            if let Outcome::Failed(e) = &out {
                failed.push((p.clone(), e.clone()));
            }
            report(p, &out);
            done.insert(p.clone());
        }
        let pending = now.keys().any(|p| !done.contains(p));
        last = now;
        if o.once && !pending {
            return Ok(failed);
        }
        std::thread::sleep(o.interval);
    }
}
