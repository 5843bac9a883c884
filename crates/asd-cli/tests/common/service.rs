//! A trained tiny model shared by the monitor tests, the service as a child process, and a small HTTP
//! client.
#![allow(dead_code)]

use asd_core::{Domain, Label};
use asd_dataset::synth::machines::Fault;
use asd_dataset::synth::{MACHINES, Preset, plan, render_clip};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub const SEED: u64 = 2;
pub const MACHINE: &str = "fan";

pub struct Fixture {
    pub root: PathBuf,
    pub data: PathBuf,
    pub model: PathBuf,
    /// Extra target-domain normal clips of the machine, rendered like the dataset's (the tiny preset
    /// has only two target training clips per machine).
    pub extra_target: Vec<PathBuf>,
    /// Rubbing at full severity in both domains, 3 each. The preset's faults are subtle (severities
    /// drawn from [0, 1)) and a model trained for seconds on 112 one-second clips does not hear most of
    /// them (nor imbalance or blade damage at full severity); it hears rubbing.
    pub strong_anomalies: Vec<PathBuf>,
}

fn run(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_asd"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "asd {args:?}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Tiny synthetic data and a model trained on it (once per test binary).
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("monitor-fixture");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let data = root.join("data");
        let model = root.join("model");
        let s = |p: &Path| p.to_str().unwrap().to_string();
        run(&[
            "synth",
            "--preset",
            "tiny",
            "--seed",
            "2",
            "--out",
            &s(&data),
        ]);
        run(&[
            "train",
            "--data",
            &s(&data),
            "--out",
            &s(&model),
            "--epochs",
            "8",
            "--batch-size",
            "32",
            "--clip-seconds",
            "4.38",
            "--seed",
            "0",
        ]);
        let m = MACHINES.iter().position(|m| m.name == MACHINE).unwrap();
        let template = plan(Preset::Tiny, SEED)
            .into_iter()
            .find(|p| p.machine == m && p.domain == Domain::Target && p.label == Label::Normal)
            .unwrap();
        let extra = root.join("extra_target");
        std::fs::create_dir_all(&extra).unwrap();
        let extra_target = (0..6u64)
            .map(|i| {
                let mut p = template.clone();
                p.seed = 0xE57A_0000 + i;
                p.index = 100 + i as usize;
                let x = render_clip(&MACHINES[m], &p, 1.0);
                let path = extra.join(format!("section_00_target_extra_normal_{i:04}.wav"));
                asd_audio::write_wav_i16(&path, &x, 16_000).unwrap();
                path
            })
            .collect();
        let all = plan(Preset::Tiny, SEED);
        let mut strong_anomalies = Vec::new();
        for domain in [Domain::Source, Domain::Target] {
            let t = all
                .iter()
                .find(|p| p.machine == m && p.domain == domain && p.label == Label::Anomaly)
                .unwrap();
            // Rubbing, the fault this small model hears; at full severity.
            let kind = MACHINES[m].model.anomalies()[0];
            for rep in 0..3u64 {
                let mut p = t.clone();
                p.seed = 0xFA17_0000 + rep + 8 * domain as u64;
                p.fault = Some(Fault {
                    kind,
                    severity: 1.0,
                });
                let x = render_clip(&MACHINES[m], &p, 1.0);
                let path = extra.join(format!("section_00_{domain}_strong_anomaly_{rep}.wav"));
                asd_audio::write_wav_i16(&path, &x, 16_000).unwrap();
                strong_anomalies.push(path);
            }
        }
        Fixture {
            root,
            data,
            model,
            extra_target,
            strong_anomalies,
        }
    })
}

/// The machine's clips of one split, domain and label, sorted.
pub fn clips(f: &Fixture, split: &str, domain: &str, label: &str) -> Vec<PathBuf> {
    let dir = f.data.join("dev_data/raw").join(MACHINE).join(split);
    let want = format!("_{domain}_{split}_{label}_");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().contains(&want))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no {want} clips in {}", dir.display());
    v
}

/// The service as a child process; killed when dropped.
pub struct Service {
    pub child: Child,
    pub url: String,
}

impl Service {
    pub fn start(model: &Path, store: &Path, extra: &[&str]) -> Self {
        let mut args = vec![
            "--model".to_string(),
            model.to_str().unwrap().to_string(),
            "--store".to_string(),
            store.to_str().unwrap().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::start_with(&args)
    }

    /// `asd monitor ARGS --listen 127.0.0.1:0`.
    pub fn start_with(args: &[String]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_asd"))
            .arg("monitor")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("asd monitor listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Self { child, url }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// Status and JSON body.
pub fn call(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> (u16, serde_json::Value) {
    try_call(method, url, content_type, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// [`call`], with a transport error returned instead of a panic.
pub fn try_call(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> Result<(u16, serde_json::Value), ureq::Error> {
    let a = agent();
    let resp = match (method, body) {
        ("GET", _) => a.get(url).call(),
        ("DELETE", _) => a.delete(url).call(),
        (_, b) => {
            let mut r = if method == "PATCH" {
                a.patch(url)
            } else {
                a.post(url)
            };
            if let Some(ct) = content_type {
                r = r.header("content-type", ct);
            }
            r.send(&b.unwrap_or_default()[..])
        }
    };
    let mut resp = resp?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()?;
    let v = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Ok((status, v))
}

pub fn post_json(url: &str, v: serde_json::Value) -> (u16, serde_json::Value) {
    call(
        "POST",
        url,
        Some("application/json"),
        Some(v.to_string().into_bytes()),
    )
}

/// A multipart form with optional text fields and file fields.
pub fn multipart(texts: &[(&str, &str)], files: &[PathBuf]) -> (String, Vec<u8>) {
    let boundary = "asdtestboundary7f3a";
    let mut b = Vec::new();
    for (k, v) in texts {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for f in files {
        let name = f.file_name().unwrap().to_str().unwrap();
        b.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"clip\"; filename=\"{name}\"\r\nContent-Type: audio/wav\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(&std::fs::read(f).unwrap());
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), b)
}

pub fn create_monitor(url: &str, name: &str) -> u64 {
    let (st, v) = post_json(
        &format!("{url}/v1/monitors"),
        serde_json::json!({"name": name, "machine_type": MACHINE, "section": "00"}),
    );
    assert_eq!(st, 201, "{v}");
    v["id"].as_u64().unwrap()
}

pub fn enrol(url: &str, id: u64, condition: &str, files: &[PathBuf]) -> serde_json::Value {
    let (ct, body) = multipart(&[("condition", condition)], files);
    let (st, v) = call(
        "POST",
        &format!("{url}/v1/monitors/{id}/references"),
        Some(&ct),
        Some(body),
    );
    assert_eq!(st, 201, "{v}");
    v
}

/// Scores files; returns (file, score, anomaly, condition) per clip.
pub fn score(url: &str, id: u64, files: &[PathBuf]) -> Vec<(String, f64, Option<bool>, String)> {
    let (ct, body) = multipart(&[], files);
    let (st, v) = call(
        "POST",
        &format!("{url}/v1/monitors/{id}/score"),
        Some(&ct),
        Some(body),
    );
    assert_eq!(st, 200, "{v}");
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_string(),
                r["score"].as_f64().unwrap(),
                r["anomaly"].as_bool(),
                r["condition"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A request written by hand, so that headers a client library sets itself (`Host`) are the test's;
/// `headers` must include `Host`. Returns the status, the headers (lower-case names) and the JSON body
/// (a string where the body is not JSON).
pub fn raw_request(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, serde_json::Value) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let hdrs = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let v = serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.to_string()));
    (status, hdrs, v)
}
