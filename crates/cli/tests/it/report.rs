//! `phasezoo report`: one self-contained HTML page, opened in headless Chromium as a reader
//! would open it — every panel and every model rendered, training curves drawn, no console
//! message, and a screenshot.
//!
//! Needs Debian's `chromium` (`.ci/run` installs it; `PHASEZOO_CHROMIUM` names another binary).
//! Without it the browser half is skipped with a note, except under CI where that is an error.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{path_arg, run, strings, train_tiny};

#[test]
fn the_report_renders_every_panel_and_model_in_headless_chromium() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let zoo = tmp.path().join("zoo");
    train_tiny(tmp.path(), &zoo, 2, 10, 1);
    let measured =
        run(tmp.path(), &[strings(&["metrics", "--device", "cpu"]), vec![path_arg(&zoo)]].concat());
    assert_eq!(measured.code, 0, "{}", measured.stderr);
    let r = run(tmp.path(), &[strings(&["report"]), vec![path_arg(&zoo)]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page_path = zoo.join("report.html");
    assert_eq!(r.stdout.trim(), format!("wrote {}", page_path.display()));
    let page = std::fs::read_to_string(&page_path).expect("report.html");

    // Self-contained: no external script, stylesheet, image or frame.
    for needle in ["<script src", "<link", "<img", "<iframe", "url("] {
        assert!(!page.contains(needle), "the page loads something from outside: {needle}");
    }
    let panels = [
        "phases",
        "test_error",
        "train_loss",
        "hessian_top_ev",
        "hessian_trace",
        "log_hessian_trace",
        "cka",
        "mc_test_error",
    ];
    for name in panels {
        assert!(page.contains(&format!("id=\"panel-{name}\"")), "no {name} panel");
    }
    assert!(page.find("panel-phases") < page.find("panel-test_error"), "the phase map comes first");

    let Some(chromium) = chromium() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium (.ci/run does)");
        #[allow(clippy::print_stderr)] // the skip must be visible
        {
            eprintln!("skipped the browser check: no chromium (apt-get install chromium)");
        }
        return;
    };
    let (dom, console) = headless(&chromium, tmp.path(), &page_path, &["--dump-dom"]);
    assert!(dom.contains("data-status=\"rendered\""), "the page script did not finish:\n{console}");
    assert!(dom.contains("data-models=\"4\""), "the table lacks models");
    assert_eq!(dom.matches("<tr class=\"model").count(), 4, "one table row per model");
    assert_eq!(dom.matches("<figure class=\"panel\"").count(), panels.len());
    // The first model's curves: train_loss, test_loss, test_error, each a drawn line.
    assert_eq!(dom.matches("<svg class=\"chart\"").count(), 3, "three curve charts");
    assert!(dom.contains("<path d=\"M"), "curves are drawn");
    let messages: Vec<&str> = console.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(messages.is_empty(), "console messages: {messages:#?}");

    let shot = tmp.path().join("report.png");
    let shot_arg = format!("--screenshot={}", shot.display());
    headless(&chromium, tmp.path(), &page_path, &["--window-size=1400,2400", "--hide-scrollbars", &shot_arg]);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 1400, "screenshot width");
    assert!(png.len() > 50_000, "a page with panels and a table is not a blank screenshot");
}

pub(crate) fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PHASEZOO_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on the page with a private profile; returns (stdout, stderr). The
/// flags keep it offline and quiet: no GPU, no sandbox (CI runs as root), no background traffic.
pub(crate) fn headless(chromium: &Path, tmp: &Path, page: &Path, extra: &[&str]) -> (String, String) {
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", tmp.join("chromium-profile").display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed:\n{stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}
