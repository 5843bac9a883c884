//! The monitor's web page in a real headless Chromium (driven over WebDriver by chromedriver): load the
//! page, create a monitor, enrol clips, score a clip, see the result and the chart appear.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test says so and passes, unless
//! ASD_REQUIRE_BROWSER=1 (set by .ci/run, which installs them), where it fails.

mod common;
use common::service::*;
use fantoccini::{ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn find(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

struct Driver(Child);

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

fn start_driver(driver: &Path) -> (Driver, String) {
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

#[test]
fn the_page_enrols_and_scores_clips_in_a_real_browser() {
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
        return;
    };
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let svc = Service::start(&f.model, &tmp.path().join("store"), &[]);
    let (_driver, driver_url) = start_driver(&driver);
    let profile = tmp.path().join("profile");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let source: Vec<String> = clips(f, "train", "source", "normal")
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    let probe = clips(f, "test", "source", "normal")[0]
        .to_str()
        .unwrap()
        .to_string();
    rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         format!("--user-data-dir={}", profile.display())],
            }),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .expect("a WebDriver session");
        let wait = Duration::from_secs(60);
        c.goto(&svc.url).await.unwrap();
        c.wait()
            .at_most(wait)
            .for_element(Locator::Css("body[data-ready='1']"))
            .await
            .unwrap();

        c.find(Locator::Id("new-name"))
            .await
            .unwrap()
            .send_keys("fan_00")
            .await
            .unwrap();
        c.find(Locator::Id("new-machine"))
            .await
            .unwrap()
            .send_keys("fan")
            .await
            .unwrap();
        c.find(Locator::Id("create-btn"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .at_most(wait)
            .for_element(Locator::XPath("//h2[@id='title'][contains(., 'fan_00')]"))
            .await
            .unwrap();

        // Enrol the source clips through the file input (what a drop does, too).
        c.find(Locator::Id("mode-enrol"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let cond = c.find(Locator::Id("condition")).await.unwrap();
        cond.clear().await.unwrap();
        cond.send_keys("source").await.unwrap();
        c.find(Locator::Id("files"))
            .await
            .unwrap()
            .send_keys(&source.join("\n"))
            .await
            .unwrap();
        c.find(Locator::Id("send"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let want = format!(
            "//tr[@class='result']/td[contains(., 'enrolled {} clip(s)')]",
            source.len()
        );
        c.wait()
            .at_most(wait)
            .for_element(Locator::XPath(&want))
            .await
            .unwrap();
        let mix = c
            .find(Locator::Css("#conditions .tag"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(mix, format!("source: {}", source.len()));

        // Score one clip: its row shows a score and a decision, and the chart has its point.
        c.find(Locator::Id("mode-score"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.find(Locator::Id("files"))
            .await
            .unwrap()
            .clear()
            .await
            .unwrap();
        c.find(Locator::Id("files"))
            .await
            .unwrap()
            .send_keys(&probe)
            .await
            .unwrap();
        c.find(Locator::Id("send"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let row = c
            .wait()
            .at_most(wait)
            .for_element(Locator::XPath(
                "//tr[@class='result'][td[contains(., 'source_test_normal')]]",
            ))
            .await
            .unwrap();
        let text = row.text().await.unwrap();
        assert!(
            text.contains("normal") || text.contains("anomaly"),
            "{text}"
        );
        let score: f64 = row
            .find(Locator::Css("td.score"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .parse()
            .unwrap();
        assert!(score > 0.0, "{text}");
        let points = c.execute("return history.length", vec![]).await.unwrap();
        assert_eq!(points, serde_json::json!(1));
        c.close().await.unwrap();
    });
    // What the page did is what the API holds.
    let (_, v) = call("GET", &format!("{}/v1/monitors", svc.url), None, None);
    assert_eq!(v["monitors"][0]["references"], source.len());
    let (_, h) = call(
        "GET",
        &format!("{}/v1/monitors/1/history", svc.url),
        None,
        None,
    );
    assert_eq!(h["history"].as_array().unwrap().len(), 1);
}
