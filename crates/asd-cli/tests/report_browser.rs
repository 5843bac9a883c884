//! The run report in a real headless Chromium at a desktop (1280 px) and a phone (390 px) width:
//! the verdict is there, Table I's headline column is in view on the desktop without scrolling, on
//! the phone the page does not scroll sideways, a table scrolled to its end keeps its method column
//! in view, and figures keep a readable size (scrolling inside their box).

mod common;
use common::browser::{browser, session, start_driver};
use common::{asd, ok, tiny_run};

#[test]
fn the_report_reads_at_desktop_and_phone_widths() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (tmp, data, cfg) = tiny_run(
        "methods = [\"nn\", \"ratio_k4\", \"ratio_k16\", \"ratio_gwrp_r0.95@means\"]\nsweep_k = [1, 2, 4]\nsweep_r = [0.5, 0.9]\n",
    );
    let run = tmp.path().join("run");
    ok(&asd(&[
        "run",
        "--data",
        &s(&data),
        "--out",
        &s(&run),
        "--config",
        &s(&cfg),
        "--frontend",
        "stft",
    ]));
    let page = format!("file://{}", run.join("report.html").display());
    let (_driver, driver_url) = start_driver(&driver);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = session(&chromium, &driver_url, &tmp.path().join("profile")).await;
        let num = |v: &serde_json::Value| v.as_f64().unwrap();

        c.set_window_size(1280, 900).await.unwrap();
        c.goto(&page).await.unwrap();
        let text = c.source().await.unwrap();
        assert!(text.contains("What this run shows") && text.contains("scores best"), "no verdict");
        assert!(text.contains("Figure 1: ") && !text.contains("Figure 0"));
        // Table I's last column, the ensemble's "both", ends inside the window.
        let right = c
            .execute(
                "const h = [...document.querySelectorAll('th')].find(e => e.textContent === 'both (ensemble)');\
                 return [h.getBoundingClientRect().right, h.closest('.scroll').getBoundingClientRect().right];",
                vec![],
            )
            .await
            .unwrap();
        let width = num(&c.execute("return window.innerWidth", vec![]).await.unwrap());
        let (cell, view) = (num(&right[0]), num(&right[1]));
        assert!(
            cell <= view + 0.5 && view <= width,
            "both (ensemble) ends at {cell} px, its table's box at {view} px of {width}"
        );

        c.set_window_size(390, 844).await.unwrap();
        c.goto(&page).await.unwrap();
        let width = num(&c.execute("return window.innerWidth", vec![]).await.unwrap());
        let page_width = num(
            &c.execute("return document.documentElement.scrollWidth", vec![])
                .await
                .unwrap(),
        );
        assert!(page_width <= width + 1.0, "the page scrolls sideways: {page_width} > {width}");
        // A table scrolled to its end still shows its method column at the left edge.
        let left = c
            .execute(
                "const box = document.querySelector('.scroll'); box.scrollLeft = 100000;\
                 const cell = box.querySelector('tbody td');\
                 return [box.scrollLeft, cell.getBoundingClientRect().left, box.getBoundingClientRect().left];",
                vec![],
            )
            .await
            .unwrap();
        let v: Vec<f64> = left.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert!(v[0] > 0.0, "the table did not scroll: {v:?}");
        assert!((v[1] - v[2]).abs() <= 1.0, "the method column left the view: {v:?}");
        // Figures keep their drawn size (text of about 10 px and more) and scroll inside their box.
        let fig = c
            .execute(
                "return document.querySelector('figure svg').getBoundingClientRect().width",
                vec![],
            )
            .await
            .unwrap();
        assert!(num(&fig) >= 600.0, "a figure shrank to {fig} px");
        c.close().await.unwrap();
    });
}
