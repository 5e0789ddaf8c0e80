//! The whole-deal test in a real browser (Debian's `chromium`, driven over
//! WebDriver by `chromedriver`), on both backends: two organizations' owners, each in a
//! browser of their own, take an offer from the marketplace to an executed deal — sign
//! in, find the offer, open a deal, send it, counter, see the diff, accept, both sign,
//! see the grant — and an outsider's browser is shown "not found" for the deal.
//!
//! `chromedriver` (from `CHROMEDRIVER`, else `PATH`) and `chromium` (`CHROMIUM`, else
//! `/usr/bin/chromium`) are required: without them the test FAILS, naming what is
//! missing (`.ci/run` installs both). With `CADENZA_SCREENSHOTS=<dir>` it also saves a
//! PNG of each main page there (`scripts/screenshots.sh` regenerates `docs/screenshots`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::deals::market;
use crate::helpers::{Backend, PASSWORD};
use crate::on_both_backends;
use crate::web::publish_offer;

on_both_backends!(two_organizations_take_an_offer_to_an_executed_deal_in_a_browser);

/// A chromedriver of the test's own on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string())
}

async fn start_driver() -> Driver {
    let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_string());
    assert!(
        std::path::Path::new(&chromium()).exists(),
        "the browser test needs Chromium at {} (set CHROMIUM, or `apt-get install chromium chromium-driver`; .ci/run installs it)",
        chromium()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "the browser test needs chromedriver ({binary}: {e}); `apt-get install chromium chromium-driver` (.ci/run installs it) or set CHROMEDRIVER"
            )
        });
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not start listening on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    driver
}

/// A fresh headless browser: its own profile, so its own cookies.
async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": chromium(), "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"]}),
    );
    ClientBuilder::native()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session in headless Chromium")
}

/// Polls until the element's text satisfies `check` (pages load after clicks).
async fn wait_text(client: &Client, css: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if check(&text) {
                    return text;
                }
                last = text;
            }
        }
        if Instant::now() > deadline {
            let url = client
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let source = client.source().await.unwrap_or_default();
            panic!(
                "{css} never matched on {url} (last text {last:?}); page:\n{}",
                &source[..source.len().min(4000)]
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(client: &Client, css: &str) {
    client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn fill(client: &Client, css: &str, text: &str) {
    let field = client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

async fn sign_in(client: &Client, base: &str, email: &str, next: &str) {
    client
        .goto(&format!("{base}/login?next={next}"))
        .await
        .expect("the sign-in page");
    fill(client, "#f-email", email).await;
    fill(client, "#f-password", PASSWORD).await;
    click(client, "form[action='/login'] button[type=submit]").await;
    wait_text(client, ".who", |t| {
        t.contains(email.split('@').next().unwrap_or_default()) || t.contains("owner")
    })
    .await;
}

async fn screenshot(client: &Client, name: &str) {
    let Ok(dir) = std::env::var("CADENZA_SCREENSHOTS") else {
        return;
    };
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(format!("{dir}/{name}.png"), png).expect("write the screenshot");
}

async fn two_organizations_take_an_offer_to_an_executed_deal_in_a_browser(backend: Backend) {
    let driver = start_driver().await;
    let m = market(backend, true).await;
    let offer = publish_offer(&m, "CN streaming, labels 1 and 2").await;
    let base = m.app.base.clone();

    let licensee = browser(&driver).await;
    let licensor = browser(&driver).await;

    // The licensee finds the offer in the marketplace and opens a deal.
    sign_in(&licensee, &base, "owner@netease.test", "/marketplace").await;
    fill(&licensee, "#f-territory", "CN").await;
    click(&licensee, "form.filters button[type=submit]").await;
    wait_text(&licensee, ".results", |t| t.contains("1 offer")).await;
    screenshot(&licensee, "marketplace").await;
    click(&licensee, &format!("a[href='/offers/{offer}']")).await;
    wait_text(&licensee, "h1", |t| t == "CN streaming, labels 1 and 2").await;
    screenshot(&licensee, "offer").await;
    click(&licensee, "#open-deal").await;
    wait_text(&licensee, "#deal-state", |t| t == "draft").await;
    let deal_url = licensee.current_url().await.expect("url").to_string();
    let deal_id = deal_url.rsplit('/').next().expect("deal id").to_string();
    click(&licensee, "#submit-deal").await;
    wait_text(&licensee, "#deal-state", |t| t == "negotiating").await;

    // The licensor counters with a higher fee.
    sign_in(
        &licensor,
        &base,
        "owner@tme.test",
        &format!("/deals/{deal_id}"),
    )
    .await;
    wait_text(&licensor, "#deal-turn", |t| t.contains("Your turn")).await;
    click(&licensor, "#counter summary").await;
    fill(&licensor, "#f-upfront_fee", "2000000.00").await;
    fill(
        &licensor,
        "#f-installments",
        "2027-01-15 3500000.00\n2027-07-15 3500000.00",
    )
    .await;
    click(&licensor, "#counter-deal").await;
    wait_text(&licensor, "#diff-summary", |t| {
        t.contains("changed from revision 1 to 2")
    })
    .await;

    // The licensee sees what changed, accepts and signs the hash shown.
    licensee.refresh().await.expect("reload");
    let summary = wait_text(&licensee, "#diff-summary", |t| {
        t.contains("revision 1 to 2")
    })
    .await;
    assert!(summary.starts_with("2 terms changed"), "{summary}");
    let changed: Vec<String> = {
        let rows = licensee
            .find_all(Locator::Css("#diff tr.changed"))
            .await
            .expect("changed rows");
        let mut fields = Vec::new();
        for row in rows {
            fields.push(
                row.attr("data-field")
                    .await
                    .expect("attr")
                    .unwrap_or_default(),
            );
        }
        fields
    };
    assert_eq!(changed, vec!["upfront_fee", "installments"]);
    licensee
        .execute("document.getElementById('diff-h').scrollIntoView()", vec![])
        .await
        .expect("scroll to the diff");
    screenshot(&licensee, "deal-room-diff").await;
    click(&licensee, "#accept-deal").await;
    wait_text(&licensee, "#deal-state", |t| t == "agreed").await;
    let shown_hash = wait_text(&licensee, "#terms-hash", |t| t.len() == 64).await;
    let api = m
        .app
        .get(
            &format!("/api/v1/deals/{deal_id}"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(
        api.assert_status(200)["terms_hash"],
        shown_hash.as_str(),
        "the page shows the hash being signed"
    );
    screenshot(&licensee, "deal-room-sign").await;
    click(&licensee, "#sign-deal").await;
    wait_text(&licensee, ".status", |t| t.contains("Signed by: licensee")).await;

    // The licensor signs second: the deal executes and the grant is there.
    // (First, its catalog page: a file imported through the upload form, with its
    // progress, and the report with the rejected row.)
    let upload_dir = tempfile::tempdir().expect("a temp dir");
    let upload = upload_dir.path().join("new-releases.csv");
    std::fs::write(
        &upload,
        "isrc,title,artists,label,genre,release_date,duration_ms\nCNA0X2690001,New song,Someone,Label 0001,Pop,2026-01-01,180000\nBROKEN,Bad row,Someone,Label 0001,Pop,2026-01-01,180000\n",
    )
    .expect("write the upload");
    licensor
        .goto(&format!("{base}/catalogs/{}", m.catalog_id))
        .await
        .expect("the catalog page");
    licensor
        .wait()
        .for_element(Locator::Css("#f-file"))
        .await
        .expect("the file field")
        .send_keys(&upload.display().to_string())
        .await
        .expect("choose the file");
    click(&licensor, "#import-form button[type=submit]").await;
    wait_text(&licensor, "#import-report", |t| {
        t.contains("1 tracks imported") && t.contains("1 rows rejected")
    })
    .await;
    screenshot(&licensor, "catalog-import").await;
    licensor.goto(&deal_url).await.expect("back to the deal");
    licensor.refresh().await.expect("reload");
    wait_text(&licensor, "#deal-state", |t| t == "agreed").await;
    click(&licensor, "#sign-deal").await;
    wait_text(&licensor, "#deal-state", |t| t == "executed").await;
    click(&licensor, "#grant-link").await;
    let tracks = wait_text(&licensor, "#grant-tracks", |t| !t.is_empty()).await;
    assert_eq!(tracks, m.slice_tracks.to_string());
    licensee.refresh().await.expect("reload");
    wait_text(&licensee, "#deal-state", |t| t == "executed").await;
    click(&licensee, "#grant-link").await;
    wait_text(&licensee, "#grant-status", |t| t == "active").await;
    screenshot(&licensee, "grant").await;
    licensee
        .goto(&format!("{base}/deals"))
        .await
        .expect("deals");
    screenshot(&licensee, "deals").await;
    licensor
        .goto(&format!("{base}/notifications"))
        .await
        .expect("notifications");
    wait_text(&licensor, "h1", |t| t == "Notifications").await;
    screenshot(&licensor, "notifications").await;
    // The deal room on a phone-sized screen.
    licensee.set_window_size(390, 844).await.expect("resize");
    licensee.goto(&deal_url).await.expect("the deal page");
    wait_text(&licensee, "#deal-state", |t| t == "executed").await;
    screenshot(&licensee, "deal-room-phone").await;

    // An outsider's browser is refused the deal page.
    m.app.register("Spotify", "owner@spotify.test").await;
    let outsider = browser(&driver).await;
    sign_in(&outsider, &base, "owner@spotify.test", "/deals").await;
    outsider.goto(&deal_url).await.expect("the deal page");
    wait_text(&outsider, "h1", |t| t == "Not found").await;
    let source = outsider.source().await.expect("source");
    assert!(
        !source.contains("CN streaming"),
        "nothing of the deal is shown"
    );

    for client in [licensee, licensor, outsider] {
        client.close().await.expect("close the browser");
    }
}
