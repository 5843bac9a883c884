//! The monitor's web page in a real headless Chromium (driven over WebDriver by chromedriver): load the
//! page, create a monitor, enrol clips, score a clip, see the result and the chart appear.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`common::browser`).

mod common;
use common::browser::{browser, session, start_driver};
use common::service::*;
use fantoccini::Locator;
use std::time::Duration;

#[test]
fn the_page_enrols_and_scores_clips_in_a_real_browser() {
    let Some((chromium, driver)) = browser() else {
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
        let c = session(&chromium, &driver_url, &profile).await;
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
