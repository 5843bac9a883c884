//! The monitor's web page in a real headless Chromium (driven over WebDriver by chromedriver): load the
//! page, create a monitor, enrol clips, score a clip, see the result and the chart appear.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`common::browser`).

mod common;
use common::browser::{browser, read_when, session, start_driver};
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
            "//div[@id='notice'][contains(., 'enrolled {} clip(s)')]",
            source.len()
        );
        c.wait()
            .at_most(wait)
            .for_element(Locator::XPath(&want))
            .await
            .unwrap();
        let mix = read_when(
            &c,
            "const t = document.querySelector('#conditions .tag'); return t && t.textContent;",
            wait,
        )
        .await;
        assert_eq!(mix, format!("source: {}", source.len()).as_str());

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
        // The row and its score cell are read in one script: the page re-renders the table every 2 s.
        let row = read_when(
            &c,
            "const r = [...document.querySelectorAll('#results tr.result')]\
               .find(r => r.textContent.includes('source_test_normal'));\
             return r ? [r.textContent, r.querySelector('td.score').textContent] : null;",
            wait,
        )
        .await;
        let text = row[0].as_str().unwrap();
        assert!(
            text.contains("normal") || text.contains("anomaly"),
            "{text}"
        );
        let score: f64 = row[1].as_str().unwrap().parse().unwrap();
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

/// The page as an operator's overview, at a desktop and a phone width: the monitor that needs
/// attention is listed first with its marker in view, the chart has labelled score and time axes and
/// a tooltip naming each clip, and the latest-scores table holds what was scored through the API.
#[test]
fn the_overview_shows_which_machine_needs_attention_at_desktop_and_phone_widths() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let svc = Service::start(&f.model, &tmp.path().join("store"), &[]);
    let url = svc.url.clone();
    let calm = create_monitor(&url, "a_calm_fan");
    let loud = create_monitor(&url, "z_rubbing_fan");
    for id in [calm, loud] {
        enrol(&url, id, "source", &clips(f, "train", "source", "normal"));
    }
    // The loud one pages at 2 of its last 3 clips anomalous.
    let (st, v) = call(
        "PATCH",
        &format!("{url}/v1/monitors/{loud}"),
        Some("application/json"),
        Some(br#"{"alert": {"raise_m": 2, "raise_n": 3, "clear_k": 5}}"#.to_vec()),
    );
    assert_eq!(st, 200, "{v}");
    score(&url, calm, &clips(f, "test", "source", "normal")[..2]);
    let strong: Vec<_> = f.strong_anomalies.iter().take(3).cloned().collect();
    let decided = score(&url, loud, &strong);
    let flagged = decided.iter().filter(|d| d.2 == Some(true)).count();
    assert!(flagged >= 2, "the model hears rubbing: {decided:?}");
    let (_, v) = call("GET", &format!("{url}/v1/monitors"), None, None);
    let state = |id: u64| {
        v["monitors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap()["recent"]["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(state(calm), "normal");
    let loud_state = state(loud);
    assert_eq!(loud_state, "alert");

    let (_driver, driver_url) = start_driver(&driver);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let shots = std::env::var("ASD_SCREENSHOT_DIR").ok();
    rt.block_on(async {
        let c = session(&chromium, &driver_url, &tmp.path().join("profile")).await;
        for (w, h) in [(1280u32, 900u32), (390, 844)] {
            c.set_window_size(w, h).await.unwrap();
            c.goto(&url).await.unwrap();
            c.wait()
                .at_most(Duration::from_secs(60))
                .for_element(Locator::Css("body[data-ready='1']"))
                .await
                .unwrap();
            // The monitor that needs attention comes first, its marker drawn and in view.
            let first = c
                .execute(
                    "const r = document.querySelector('#monitors tr');\
                     const m = r.querySelector('.state').getBoundingClientRect();\
                     return [r.textContent, r.dataset.state, m.width, m.left, m.right, window.innerWidth];",
                    vec![],
                )
                .await
                .unwrap();
            let f0 = first.as_array().unwrap();
            assert!(f0[0].as_str().unwrap().contains("z_rubbing_fan"), "{first}");
            assert!(f0[0].as_str().unwrap().contains("alert since"), "{first}");
            // The alerts panel names the raised alert, and its event with the rule's reading.
            let alerts = c
                .execute(
                    "return [document.getElementById('alert-summary').textContent,\
                             [...document.querySelectorAll('#alerts tr.alert-event')].map(r => r.textContent),\
                             document.querySelector('#conditions .rule').textContent];",
                    vec![],
                )
                .await
                .unwrap();
            let al = alerts.as_array().unwrap();
            assert_eq!(al[0], "1 alert(s) raised: z_rubbing_fan", "{alerts}");
            let events = al[1].as_array().unwrap();
            assert_eq!(events.len(), 1, "{alerts}");
            let ev = events[0].as_str().unwrap();
            assert!(ev.contains("z_rubbing_fan") && ev.contains("raised") && (ev.contains("2 of 2 anomalous") || ev.contains("2 of 3 anomalous")), "{alerts}");
            assert!(al[2].as_str().unwrap().contains("2 of the last 3"), "{alerts}");
            assert_eq!(f0[1].as_str().unwrap(), loud_state, "{first}");
            let n = |i: usize| f0[i].as_f64().unwrap();
            assert!(n(2) > 0.0 && n(3) >= 0.0 && n(4) <= n(5), "marker out of view: {first}");
            // The chart of the selected (first) monitor: labelled axes and a tooltip per clip.
            let chart = c
                .execute(
                    "const s = document.querySelector('#chart svg');\
                     return [s.querySelectorAll('.ytick').length, s.querySelectorAll('.xtick').length,\
                             [...s.querySelectorAll('.axis')].map(t => t.textContent),\
                             [...s.querySelectorAll('circle title')].map(t => t.textContent),\
                             s.getBoundingClientRect().width, window.innerWidth,\
                             document.documentElement.scrollWidth,\
                             document.querySelectorAll('#results tr.result').length];",
                    vec![],
                )
                .await
                .unwrap();
            let ch = chart.as_array().unwrap();
            assert_eq!(ch[0], 5, "{chart}");
            assert!(ch[1].as_u64().unwrap() >= 1, "{chart}");
            assert_eq!(ch[2], serde_json::json!(["score", "time (clips in the order scored)"]), "{chart}");
            let titles = ch[3].as_array().unwrap();
            assert_eq!(titles.len(), 3, "{chart}");
            assert!(titles.iter().all(|t| t.as_str().unwrap().contains("strong_anomaly")), "{chart}");
            // Scored through the API, listed on the page all the same.
            assert_eq!(ch[7], 3, "{chart}");
            // Nothing wider than the window: the page does not scroll sideways.
            let (cw, iw, sw) = (ch[4].as_f64().unwrap(), ch[5].as_f64().unwrap(), ch[6].as_f64().unwrap());
            assert!(cw <= iw && sw <= iw + 1.0, "at {w} px: chart {cw}, page {sw}, window {iw}");
            if let Some(dir) = &shots {
                let png = c.screenshot().await.unwrap();
                std::fs::write(format!("{dir}/monitor-{w}px.png"), png).unwrap();
            }
        }
        c.close().await.unwrap();
    });
}
