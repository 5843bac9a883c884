//! A real headless Chromium driven over WebDriver by chromedriver, for the page tests.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them a test says so and passes, unless
//! ASD_REQUIRE_BROWSER=1 (set by .ci/run, which installs them), where it fails.
#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn find(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Chromium and chromedriver, or `None` (after saying so) where they are missing and not required.
pub fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = find(
        "ASD_CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let driver = find("ASD_CHROMEDRIVER", &["/usr/bin/chromedriver"]);
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        assert!(
            std::env::var("ASD_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "ASD_REQUIRE_BROWSER=1 but chromium or chromedriver is missing"
        );
        eprintln!(
            "SKIPPED: chromium and chromedriver not found (apt-get install chromium chromium-driver)"
        );
        return None;
    };
    Some((chromium, driver))
}

/// chromedriver, killed and reaped when dropped.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver on a free port; the driver and its URL.
pub fn start_driver(driver: &Path) -> (Driver, String) {
    let port = free_port();
    // Wrapped at once, so the process is killed and reaped on every path, panics included.
    let driver = Driver(
        Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (driver, url);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("chromedriver did not listen on {port}");
}

/// A headless session with a fresh profile in `profile` (the flags this machine's closed network needs).
pub async fn session(chromium: &Path, driver_url: &str, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                     format!("--user-data-dir={}", profile.display())],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("a WebDriver session")
}

/// Runs `script` (a function body) until it returns something other than `null`, at most `wait`, and
/// returns that. The page re-renders its tables every 2 s, so an element found in one WebDriver call
/// can be gone in the next (a stale element reference): whatever is read from a table is found and
/// read inside one script, where no re-render can come in between.
pub async fn read_when(c: &Client, script: &str, wait: Duration) -> serde_json::Value {
    let until = std::time::Instant::now() + wait;
    loop {
        let v = c.execute(script, vec![]).await.expect("a script run");
        if !v.is_null() {
            return v;
        }
        assert!(
            std::time::Instant::now() < until,
            "nothing after {wait:?} from: {script}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
