//! `report.html` in a real browser: headless Chromium opens the page of a run and the page's
//! own check (an inline script) records the rendered size of every plot and every script
//! error or blocked load; the test reads them back from the dumped DOM.
//!
//! CI installs Debian's chromium (`.ci/run`), so there the browser missing is a failure. On a
//! machine without it the test says it skipped (set `KARPSIM_CHROMIUM` to a browser binary to
//! use another one).

use karpsim::plot::PLOT_FILES;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Chromium binary: `KARPSIM_CHROMIUM`, else the first of the usual names on `PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KARPSIM_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// What the page's check wrote into `#render-check`.
#[derive(Debug)]
struct Check {
    done: bool,
    errors: String,
    /// (file, width, height, data width, data height, shapes)
    plots: Vec<(String, u32, u32, u32, u32, u32)>,
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    let end = tag[at..].find('"')?;
    Some(&tag[at..at + end])
}

/// Opens `page` in headless Chromium (no network, a scratch profile) and returns the check.
fn open(browser: &Path, page: &Path) -> Check {
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--window-size=1280,900",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", browser.display()));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} did not finish within 90 s", browser.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let dom = out.join().unwrap();
    let log = err.join().unwrap();
    assert!(
        status.success(),
        "{} failed: {status:?}\n{log}",
        browser.display()
    );
    let start = dom
        .find("<output id=\"render-check\"")
        .unwrap_or_else(|| panic!("no #render-check in the dumped page\n{log}"));
    let tag = &dom[start..start + dom[start..].find('>').unwrap()];
    let plots = attr(tag, "data-plots")
        .unwrap_or("")
        .split(';')
        .filter(|s| !s.is_empty())
        .map(|p| {
            // "cost.svg 702x310 data 640x280 shapes 159"
            let f: Vec<&str> = p.split(' ').collect();
            assert_eq!(f.len(), 6, "{p}");
            let wh = |s: &str| -> (u32, u32) {
                let (w, h) = s.split_once('x').unwrap();
                (w.parse().unwrap(), h.parse().unwrap())
            };
            let (w, h) = wh(f[1]);
            let (dw, dh) = wh(f[3]);
            (f[0].to_string(), w, h, dw, dh, f[5].parse().unwrap())
        })
        .collect();
    Check {
        done: attr(tag, "data-done") == Some("yes"),
        errors: attr(tag, "data-errors").unwrap_or("").to_string(),
        plots,
    }
}

#[test]
fn report_html_renders_every_plot_without_errors_in_chromium() {
    let Some(browser) = chromium() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "chromium is not installed: .ci/run installs Debian's `chromium` package for this \
                 test; install it (apt-get install chromium) or set KARPSIM_CHROMIUM"
            );
        }
        eprintln!(
            "SKIPPED report_html_renders_every_plot_without_errors_in_chromium: no chromium on \
             PATH (apt-get install chromium, or set KARPSIM_CHROMIUM)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    crate::plots::karpsim_ok(&[
        "run",
        "scenarios/quickstart.yaml",
        "--out",
        dir.to_str().unwrap(),
        "-q",
    ]);
    let page = dir.join("report.html");

    let c = open(&browser, &page);
    assert!(c.done, "the page's load handler did not run: {c:?}");
    assert_eq!(c.errors, "", "the page reported errors");
    let files: Vec<&str> = c.plots.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(files, PLOT_FILES, "{c:?}");
    for (f, w, h, dw, dh, shapes) in &c.plots {
        assert!(*w > 100 && *h > 50, "{f} renders at {w}x{h}");
        assert!(*dw > 0 && *dh > 0, "{f}: its data draws at {dw}x{dh}");
        assert!(*shapes > 20, "{f}: only {shapes} shapes");
    }

    // The check can fail: a hidden plot, a script error and a blocked external image are all
    // reported (nothing is fetched: the page's policy blocks every load).
    let text = std::fs::read_to_string(&page).unwrap();
    let broken = text
        .replacen("<figure class=\"plot\"", "<figure style=\"display:none\" class=\"plot\"", 1)
        .replacen(
            "</main>",
            "<script>notDefinedAnywhere();</script><img src=\"https://example.invalid/x.png\"></main>",
            1,
        );
    let bad_page = tmp.path().join("broken.html");
    std::fs::write(&bad_page, broken).unwrap();
    let c = open(&browser, &bad_page);
    assert!(c.done, "{c:?}");
    assert!(c.errors.contains("notDefinedAnywhere"), "{c:?}");
    assert!(c.errors.contains("example.invalid"), "{c:?}");
    assert_eq!((c.plots[0].1, c.plots[0].2), (0, 0), "{c:?}");
}
