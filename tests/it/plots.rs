//! The plots (`*.svg`) and `report.html` (issue #5): written with every run and comparison,
//! well-formed, linked from `summary.md` / `comparison.md`, self-contained, and byte-identical
//! for the same inputs and seed; and the timeline data they are drawn from (nodes per
//! NodePool, cost per capacity type) agrees with the timeline's own totals.

use karpsim::plot::PLOT_FILES;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_karpsim");

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Runs karpsim from the repository root and requires success.
pub(crate) fn karpsim_ok(args: &[&str]) {
    let o = Command::new(BIN)
        .args(args)
        .current_dir(repo("."))
        .output()
        .expect("running karpsim");
    assert!(
        o.status.success(),
        "karpsim {args:?}: {:?}\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Elements HTML writes without a closing tag.
const VOID: &[&str] = &["meta", "br", "img", "input", "link", "hr", "col", "wbr"];

/// Checks that `text` is well-formed markup: every tag is closed in order, attribute values
/// are quoted, and `&` only starts an entity. `html` allows a doctype, the HTML void elements
/// and raw-text `<script>`/`<style>` bodies; without it the text must be one XML element.
pub(crate) fn check_markup(text: &str, html: bool) -> Result<(), String> {
    fn entity_ok(rest: &str) -> bool {
        let Some(end) = rest.find(';') else {
            return false;
        };
        let name = &rest[1..end];
        end <= 10
            && (matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
                || (name.starts_with('#') && name[1..].chars().all(|c| c.is_ascii_digit())))
    }
    fn check_text(t: &str, at: usize) -> Result<(), String> {
        for (i, _) in t.match_indices('&') {
            if !entity_ok(&t[i..]) {
                return Err(format!("bare `&` at byte {}", at + i));
            }
        }
        Ok(())
    }
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut i = 0;
    let b = text.as_bytes();
    while i < b.len() {
        let Some(off) = text[i..].find('<') else {
            check_text(&text[i..], i)?;
            break;
        };
        check_text(&text[i..i + off], i)?;
        if stack.is_empty() && !text[i..i + off].trim().is_empty() {
            return Err(format!("text outside the root element at byte {i}"));
        }
        i += off;
        let rest = &text[i..];
        if rest.starts_with("<!--") {
            let end = rest.find("-->").ok_or("unclosed comment")?;
            i += end + 3;
            continue;
        }
        if rest.starts_with("<!") {
            if !html || i != 0 || !rest.starts_with("<!DOCTYPE html>") {
                return Err(format!("unexpected declaration at byte {i}"));
            }
            i += "<!DOCTYPE html>".len();
            continue;
        }
        let end = rest.find('>').ok_or(format!("unclosed tag at byte {i}"))?;
        let tag = &rest[1..end];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .ok_or(format!("`</{name}>` closes nothing at byte {i}"))?;
            if open != name.trim() {
                return Err(format!("`</{name}>` closes `<{open}>` at byte {i}"));
            }
            i += end + 1;
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name_end = tag.find(|c: char| c.is_whitespace()).unwrap_or(tag.len());
        let name = &tag[..name_end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("bad tag name `{name}` at byte {i}"));
        }
        // Attributes: name="value" pairs (HTML also allows a bare name, e.g. `hidden`).
        let mut attrs = tag[name_end..].trim();
        while !attrs.is_empty() {
            let eq = attrs.find(|c: char| c == '=' || c.is_whitespace());
            match eq {
                Some(k) if attrs.as_bytes()[k] == b'=' => {
                    let v = &attrs[k + 1..];
                    if !v.starts_with('"') {
                        return Err(format!("unquoted attribute in `<{name}>` at byte {i}"));
                    }
                    let close = v[1..]
                        .find('"')
                        .ok_or(format!("unclosed attribute at {i}"))?;
                    let value = &v[1..1 + close];
                    if value.contains('<') {
                        return Err(format!("`<` in an attribute at byte {i}"));
                    }
                    check_text(value, i)?;
                    attrs = v[close + 2..].trim_start();
                }
                _ if html => {
                    let k = eq.unwrap_or(attrs.len());
                    attrs = attrs[k..].trim_start();
                }
                _ => {
                    return Err(format!(
                        "attribute without a value in `<{name}>` at byte {i}"
                    ));
                }
            }
        }
        if stack.is_empty() {
            roots += 1;
        }
        i += end + 1;
        if self_closing || (html && VOID.contains(&name)) {
            continue;
        }
        if html && (name == "script" || name == "style") {
            let close = format!("</{name}>");
            let body_end = text[i..].find(&close).ok_or(format!("unclosed <{name}>"))?;
            i += body_end + close.len();
            continue;
        }
        stack.push(name.to_string());
    }
    if let Some(open) = stack.last() {
        return Err(format!("`<{open}>` is never closed"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(())
}

#[test]
fn the_markup_check_catches_broken_markup() {
    assert_eq!(
        check_markup("<svg a=\"1\"><g><text>x &amp; y</text></g></svg>\n", false),
        Ok(())
    );
    for bad in [
        "<svg><g></svg>",
        "<svg a=1></svg>",
        "<svg>a & b</svg>",
        "<svg></svg><svg></svg>",
        "<svg><text>",
        "<svg a=\"<\"></svg>",
    ] {
        assert!(check_markup(bad, false).is_err(), "{bad}");
    }
    assert_eq!(
        check_markup(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><script>if (a < b && c) {}</script></head><body><output hidden></output></body></html>\n",
            true
        ),
        Ok(())
    );
}

/// Every plot and the page of a run folder, checked for well-formedness; returns their bytes.
fn visuals(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for f in PLOT_FILES.iter().chain(["report.html"].iter()) {
        let bytes = std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        let text = String::from_utf8(bytes.clone()).unwrap();
        let html = f.ends_with(".html");
        if let Err(e) = check_markup(&text, html) {
            panic!("{}/{f} is not well-formed: {e}", dir.display());
        }
        if !html {
            assert!(text.starts_with("<svg "), "{f}");
            assert!(text.contains("xmlns=\"http://www.w3.org/2000/svg\""), "{f}");
            assert!(
                text.contains("<polyline") || text.contains("<polygon"),
                "{f}: no data drawn"
            );
        }
        out.push((f.to_string(), bytes));
    }
    out
}

// A run writes the four plots and report.html; summary.md links them; the same seed gives the
// same bytes; the page is self-contained and holds the summary, every plot, the costs per
// namespace and the decisions.
#[test]
fn a_run_writes_plots_and_a_self_contained_page_byte_identical_for_the_same_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for dir in [&a, &b] {
        karpsim_ok(&[
            "run",
            "scenarios/quickstart.yaml",
            "--seed",
            "9",
            "--out",
            dir.to_str().unwrap(),
            "-q",
        ]);
    }
    let va = visuals(&a);
    let vb = visuals(&b);
    for ((f, x), (_, y)) in va.iter().zip(&vb) {
        assert!(x == y, "{f} differs between two runs with the same seed");
    }
    let md = std::fs::read_to_string(a.join("summary.md")).unwrap();
    assert!(!md.contains("not built yet"), "{md}");
    for f in PLOT_FILES.iter().chain(["report.html"].iter()) {
        assert!(
            md.contains(&format!("]({f})")),
            "summary.md does not link {f}\n{md}"
        );
    }
    let page = std::fs::read_to_string(a.join("report.html")).unwrap();
    // Self-contained: nothing is fetched. The only address is the SVG namespace.
    assert_eq!(
        page.matches("://").count(),
        page.matches("http://www.w3.org/2000/svg").count(),
        "report.html names an address"
    );
    for needle in ["<link", " src=", "url(", "@import"] {
        assert!(!page.contains(needle), "report.html holds `{needle}`");
    }
    // Each plot is inlined, byte for byte the file beside it.
    for (f, bytes) in &va[..PLOT_FILES.len()] {
        let svg = String::from_utf8(bytes.clone()).unwrap();
        assert!(page.contains(svg.trim_end()), "{f} is not inlined");
        assert!(page.contains(&format!("data-file=\"{f}\"")), "{f}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("summary.json")).unwrap()).unwrap();
    let total = summary["cost"]["total"].as_f64().unwrap();
    assert!(page.contains(&format!("${total:.2}")), "total cost missing");
    let namespaces = summary["cost"]["by_namespace"].as_object().unwrap();
    assert!(namespaces.len() >= 2, "{namespaces:?}");
    for (ns, cost) in namespaces {
        let row = format!(
            "<tr><td>{ns}</td><td class=\"num\">${:.2}</td>",
            cost.as_f64().unwrap()
        );
        assert!(page.contains(&row), "no row `{row}`");
    }
    // Decisions: the count per kind is the decisions.jsonl count.
    let launches = std::fs::read_to_string(a.join("decisions.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"kind\":\"launch\""))
        .count();
    assert!(launches > 0);
    assert!(
        page.contains(&format!(
            "<tr><td>launch</td><td class=\"num\">{launches}</td></tr>"
        )),
        "launch count {launches} missing"
    );
    assert!(page.contains("First launches"));
    // The nodes plot names the NodePool; the cost plot the capacity type.
    let svg = |f: &str| std::fs::read_to_string(a.join(f)).unwrap();
    assert!(
        svg("nodes.svg").contains(">\ndefault\n<"),
        "NodePool legend"
    );
    assert!(
        svg("cost.svg").contains(">\non-demand\n<"),
        "capacity-type legend"
    );
}

// A comparison draws one line per variant into its folder, links the plots from comparison.md,
// and gives the same bytes twice.
#[test]
fn compare_writes_one_line_per_variant_plots_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |k: &str| tmp.path().join(k);
    for k in ["a", "b"] {
        karpsim_ok(&[
            "compare",
            "scenarios/consolidate-after.yaml",
            "--out",
            dir(k).to_str().unwrap(),
            "-q",
        ]);
    }
    let md = std::fs::read_to_string(dir("a").join("comparison.md")).unwrap();
    for f in PLOT_FILES {
        assert!(
            md.contains(&format!("]({f})")),
            "comparison.md does not link {f}"
        );
        let x = std::fs::read_to_string(dir("a").join(f)).unwrap();
        let y = std::fs::read_to_string(dir("b").join(f)).unwrap();
        assert!(x == y, "{f} differs between two comparisons");
        check_markup(&x, false).unwrap_or_else(|e| panic!("{f}: {e}"));
        for variant in ["base", "after-10m", "never", "expire-30m"] {
            assert!(
                x.contains(&format!(">\n{variant}\n<")),
                "{f}: no legend entry {variant}"
            );
        }
        // One line per variant.
        assert!(x.matches("<polyline").count() >= 4, "{f}");
    }
    // Every run of the comparison has its own page and plots.
    for run in ["base", "after-10m", "never", "expire-30m"] {
        visuals(&dir("a").join(run));
    }
}

// The timeline rows the plots are drawn from: nodes per NodePool add up to the nodes by
// capacity type, and the cost per capacity type to the cost rate, at every sample. Two
// NodePools (the first limited to 4 cpu, so the second takes the overflow on Spot) and an
// existing node make every entry count.
#[test]
fn nodes_by_nodepool_and_cost_by_capacity_type_add_up_to_the_timeline() {
    let tmp = tempfile::tempdir().unwrap();
    let pools = format!(
        "{}---\n{}---\n{}",
        crate::NODECLASS,
        crate::nodepool_yaml(
            "small",
            "default",
            &crate::types_and_caps("m5.large", "on-demand"),
            "",
            "  weight: 10\n  limits:\n    cpu: \"4\"\n"
        ),
        crate::nodepool_yaml(
            "overflow",
            "default",
            &crate::types_and_caps("m5.xlarge", "spot"),
            "",
            ""
        ),
    );
    let mut trace = String::from("arrival,duration,cpu,memory\n");
    for i in 0..12 {
        trace.push_str(&format!("{},{},1500m,512Mi\n", i * 20, 1200 + i * 60));
    }
    let (s, rec) = crate::run_scenario_files(
        tmp.path(),
        &pools,
        &trace,
        None,
        "name: t\nseed: 1\nduration: 2h\n",
        "existing_nodes:\n  - {instance_type: m5.large}\n",
    );
    let mut names = s.nodepools.clone();
    names.sort();
    assert_eq!(names, ["(existing)", "overflow", "small"]);
    let idx = |n: &str| s.nodepools.iter().position(|p| p == n).unwrap();
    let mut peak = vec![0u32; s.nodepools.len()];
    assert!(rec.timeline.len() > 100);
    for r in &rec.timeline {
        assert_eq!(r.nodes_by_nodepool.len(), s.nodepools.len());
        let all = r.nodes_on_demand + r.nodes_spot + r.nodes_reserved;
        assert_eq!(
            r.nodes_by_nodepool.iter().sum::<u32>(),
            all,
            "at {}",
            r.time_ms
        );
        let parts = r.cost_per_hour_on_demand + r.cost_per_hour_spot + r.cost_per_hour_reserved;
        assert!((parts - r.cost_per_hour).abs() < 1e-9, "at {}", r.time_ms);
        assert_eq!(
            r.cost_per_hour_spot > 1e-9,
            r.nodes_spot > 0,
            "at {}",
            r.time_ms
        );
        // The spot nodes are the overflow pool's.
        assert_eq!(r.nodes_by_nodepool[idx("overflow")], r.nodes_spot);
        assert_eq!(r.nodes_by_nodepool[idx("(existing)")], 1);
        for (p, n) in peak.iter_mut().zip(&r.nodes_by_nodepool) {
            *p = (*p).max(*n);
        }
    }
    assert_eq!(peak[idx("small")], 2, "the 4-cpu limit allows two m5.large");
    assert!(peak[idx("overflow")] > 0);
    // The node records tell the same story.
    let launched_by = |pool: &str| rec.nodes.iter().filter(|n| n.nodepool == pool).count();
    assert!(launched_by("overflow") > 0 && launched_by("small") >= 2);
}
