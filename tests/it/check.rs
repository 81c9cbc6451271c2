//! `karpsim check` end to end (issue #5, part 1): the real binary against the committed
//! quickstart baseline and scratch variations of it. A baseline from the same scenario passes;
//! a pricier NodePool fails with exit 1 and a verdict naming the figure; a broken baseline is
//! exit 2 naming the file; `--junit` writes well-formed JUnit XML; `--update-baseline` writes a
//! baseline that then passes.

use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_karpsim");
const BASELINE: &str = "scenarios/baselines/quickstart.summary.json";
const REGENERATE: &str = "cargo run -- check scenarios/quickstart.yaml \
     --baseline scenarios/baselines/quickstart.summary.json --update-baseline";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn describe(&self) -> String {
        format!(
            "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn karpsim(cwd: &Path, args: &[&str]) -> Out {
    let o = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("running karpsim");
    let out = Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
    out
}

/// A scratch copy of the quickstart scenario whose NodePool allows `types` instead of the
/// m5 family, with `extra` appended to the scenario file.
fn quickstart_with(types: Option<&str>, extra: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("nodepools")).unwrap();
    std::fs::create_dir_all(d.join("traces")).unwrap();
    let scenario = std::fs::read_to_string(repo("scenarios/quickstart.yaml")).unwrap();
    std::fs::write(d.join("quickstart.yaml"), format!("{scenario}{extra}")).unwrap();
    let mut pool = std::fs::read_to_string(repo("scenarios/nodepools/default.yaml")).unwrap();
    if let Some(t) = types {
        let m5 = r#"["m5.large", "m5.xlarge", "m5.2xlarge"]"#;
        assert!(
            pool.contains(m5),
            "the quickstart NodePool changed: update this test"
        );
        pool = pool.replace(m5, t);
    }
    std::fs::write(d.join("nodepools/default.yaml"), pool).unwrap();
    std::fs::copy(
        repo("scenarios/traces/quickstart.csv"),
        d.join("traces/quickstart.csv"),
    )
    .unwrap();
    std::fs::copy(repo(BASELINE), d.join("baseline.json")).unwrap();
    dir
}

/// The same NodePool on memory-optimized r5 types: the same packing at a higher price.
const PRICIER: &str = r#"["r5.large", "r5.xlarge", "r5.2xlarge"]"#;

/// The verdict table's rows: (figure, verdict).
fn verdict_rows(md: &str) -> Vec<(String, String)> {
    md.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| figure |"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            (
                cells[0].to_string(),
                cells.last().unwrap().trim_end_matches(" |").to_string(),
            )
        })
        .collect()
}

/// An XML element: name, attributes and the name of its parent.
type Element = (String, Vec<(String, String)>, Option<String>);

/// A small XML well-formedness check: declaration, balanced elements, quoted attributes, only
/// the five predefined entities, no stray `<` or `&`. Returns every element as (name,
/// attributes, parent name).
fn parse_xml(x: &str) -> Result<Vec<Element>, String> {
    let check_text = |t: &str| -> Result<(), String> {
        let mut rest = t;
        while let Some(i) = rest.find('&') {
            let after = &rest[i..];
            let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| after.starts_with(e));
            if !ok {
                return Err(format!("bad entity at `{}`", &after[..after.len().min(10)]));
            }
            rest = &after[1..];
        }
        if t.contains('<') {
            return Err(format!("stray `<` in `{t}`"));
        }
        Ok(())
    };
    let body = x
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .ok_or("no XML declaration")?;
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut rest = body;
    let mut roots = 0;
    while let Some(i) = rest.find('<') {
        check_text(&rest[..i])?;
        if stack.is_empty() && !rest[..i].trim().is_empty() {
            return Err("text outside the root element".into());
        }
        let end = rest[i..].find('>').ok_or("unclosed tag")? + i;
        let tag = &rest[i + 1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or("closing tag without an opening one")?;
            if open != name.trim() {
                return Err(format!("</{name}> closes <{open}>"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name: String = tag.chars().take_while(|c| !c.is_whitespace()).collect();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("bad element name `{name}`"));
        }
        let mut attrs = Vec::new();
        let mut a = tag[name.len()..].trim();
        while !a.is_empty() {
            let eq = a
                .find("=\"")
                .ok_or(format!("unquoted attribute in <{tag}>"))?;
            let key = a[..eq].trim().to_string();
            let close = a[eq + 2..].find('"').ok_or("unterminated attribute")? + eq + 2;
            let val = &a[eq + 2..close];
            check_text(val)?;
            attrs.push((key, val.to_string()));
            a = a[close + 1..].trim_start();
        }
        if stack.is_empty() {
            roots += 1;
        }
        out.push((name.clone(), attrs, stack.last().cloned()));
        if !self_closing {
            stack.push(name);
        }
    }
    check_text(rest)?;
    if !stack.is_empty() || roots != 1 || !rest.trim().is_empty() {
        return Err(format!(
            "unbalanced document (open: {stack:?}, roots: {roots})"
        ));
    }
    Ok(out)
}

#[test]
fn xml_checker_rejects_broken_documents() {
    let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    assert!(parse_xml(&format!("{decl}<a><b x=\"1\" /></a>\n")).is_ok());
    for bad in [
        "<a><b></a>",
        "<a x=1></a>",
        "<a>1 < 2</a>",
        "<a>&nbsp;</a>",
        "<a></a><b/>",
    ] {
        assert!(parse_xml(&format!("{decl}{bad}")).is_err(), "{bad}");
    }
}

#[test]
fn committed_quickstart_baseline_passes_and_is_current() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report");
    let o = karpsim(
        &repo("."),
        &[
            "check",
            "scenarios/quickstart.yaml",
            "--baseline",
            BASELINE,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert!(o.stdout.contains("**PASS**"), "{}", o.describe());
    let rows = verdict_rows(&o.stdout);
    assert!(rows.len() >= 10, "{}", o.stdout);
    for (figure, verdict) in &rows {
        assert_eq!(verdict, "pass", "{figure}\n{}", o.stdout);
    }
    assert_eq!(
        std::fs::read_to_string(out.join("check.md")).unwrap(),
        o.stdout,
        "check.md holds the printed verdict"
    );
    // The shipped example (examples/github-actions-cost-check.yml) gates on this file: it
    // must be exactly what the current code produces.
    let now = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let committed = std::fs::read_to_string(repo(BASELINE)).unwrap();
    assert!(
        now == committed,
        "{BASELINE} is stale: the quickstart run no longer produces it. If the change is \
         intended, regenerate it with\n  {REGENERATE}\n--- now ---\n{now}"
    );
}

#[test]
fn a_pricier_nodepool_fails_and_the_verdict_names_the_figure() {
    let fx = quickstart_with(Some(PRICIER), "");
    let o = karpsim(
        fx.path(),
        &[
            "check",
            "quickstart.yaml",
            "--baseline",
            "baseline.json",
            "--out",
            "report",
            "--junit",
            "junit/check.xml",
        ],
    );
    assert_eq!(o.code, Some(1), "{}", o.describe());
    let first = o
        .stdout
        .lines()
        .find(|l| l.contains("**FAIL**"))
        .unwrap_or("");
    assert!(
        first.contains("total cost") && first.contains("cost of NodePool default"),
        "the summary line names the figures\n{}",
        o.stdout
    );
    let rows = verdict_rows(&o.stdout);
    let verdict = |f: &str| rows.iter().find(|r| r.0 == f).map(|r| r.1.clone());
    assert_eq!(
        verdict("total cost").as_deref(),
        Some("**FAIL**"),
        "{}",
        o.stdout
    );
    assert_eq!(verdict("pending latency p99").as_deref(), Some("pass"));
    assert!(
        o.stdout.contains("- total cost: $1.5907 -> $2.0525"),
        "the failure line gives both values\n{}",
        o.stdout
    );
    let md = std::fs::read_to_string(fx.path().join("report/check.md")).unwrap();
    assert_eq!(md, o.stdout);

    // JUnit: well-formed, one test case per figure, a failure on each regressed one.
    let xml = std::fs::read_to_string(fx.path().join("junit/check.xml")).unwrap();
    let elements = parse_xml(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let cases: Vec<&Element> = elements.iter().filter(|e| e.0 == "testcase").collect();
    assert_eq!(cases.len(), rows.len(), "{xml}");
    let attr = |e: &Element, k: &str| e.1.iter().find(|a| a.0 == k).map(|a| a.1.clone());
    let names: Vec<String> = cases.iter().filter_map(|c| attr(c, "name")).collect();
    let expected: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    assert_eq!(names, expected);
    let failures = elements.iter().filter(|e| e.0 == "failure").count();
    let failed_rows = rows.iter().filter(|r| r.1.contains("FAIL")).count();
    assert_eq!(failures, failed_rows, "{xml}");
    assert!(
        elements
            .iter()
            .all(|e| e.0 != "failure" || e.2.as_deref() == Some("testcase"))
    );
    let suite = elements.iter().find(|e| e.0 == "testsuite").unwrap();
    assert_eq!(attr(suite, "failures"), Some(failed_rows.to_string()));
    assert_eq!(attr(suite, "tests"), Some(rows.len().to_string()));
    // The failing total-cost case carries the message.
    let pos = xml.find("name=\"total cost\"").unwrap();
    assert!(
        xml[pos..]
            .trim_start_matches("name=\"total cost\"")
            .starts_with(">\n      <failure message=\"total cost: $1.5907 -&gt; $2.0525"),
        "{xml}"
    );
}

#[test]
fn flags_override_the_scenario_check_section() {
    // The r5 pool costs about 29 % more: within 50 %, past 5 %.
    let section = "check:\n  max_cost_increase: 50%\n  max_nodepool_cost_increase: 50%\n  \
                   max_namespace_cost_increase: none\n";
    let fx = quickstart_with(Some(PRICIER), section);
    let args = [
        "check",
        "quickstart.yaml",
        "--baseline",
        "baseline.json",
        "--out",
        "r",
    ];
    let o = karpsim(fx.path(), &args);
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert!(
        o.stdout.contains("| +50% (up to +$0.7954) | pass |"),
        "{}",
        o.stdout
    );
    let mut strict = args.to_vec();
    strict.extend(["--max-cost-increase", "5%"]);
    let o = karpsim(fx.path(), &strict);
    assert_eq!(o.code, Some(1), "{}", o.describe());
    let failed: Vec<String> = verdict_rows(&o.stdout)
        .into_iter()
        .filter(|r| r.1.contains("FAIL"))
        .map(|r| r.0)
        .collect();
    assert_eq!(failed, ["total cost"], "{}", o.stdout);
    // An absolute tolerance in dollars.
    let mut dollars = args.to_vec();
    dollars.extend(["--max-cost-increase", "0.40"]);
    let o = karpsim(fx.path(), &dollars);
    assert_eq!(o.code, Some(1), "+$0.47 is past $0.40\n{}", o.describe());
    let last = dollars.len() - 1;
    dollars[last] = "0.50";
    let o = karpsim(fx.path(), &dollars);
    assert_eq!(o.code, Some(0), "{}", o.describe());
}

#[test]
fn a_broken_baseline_exits_2_naming_the_file() {
    let fx = quickstart_with(None, "");
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo(BASELINE)).unwrap()).unwrap();
    let mut no_p99 = good.clone();
    no_p99["latency"]
        .as_object_mut()
        .unwrap()
        .remove("pending_p99");
    let mut bad_pools = good.clone();
    bad_pools["cost"]["by_nodepool"] = serde_json::json!({"default": "cheap"});
    let mut negative = good.clone();
    negative["cost"]["total"] = serde_json::json!(-5.0);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "truncated.json",
            "{\"cost\": {\"total\": ".into(),
            "not valid JSON",
        ),
        ("list.json", "[1, 2]".into(), "expected a JSON object"),
        (
            "no-p99.json",
            no_p99.to_string(),
            "`latency.pending_p99` is missing",
        ),
        (
            "bad-pools.json",
            bad_pools.to_string(),
            "`cost.by_nodepool.default`",
        ),
        ("empty.json", String::new(), "not valid JSON"),
        (
            "negative.json",
            negative.to_string(),
            "`cost.total` is -5.0, expected an amount of 0 or more",
        ),
    ];
    for (name, text, _) in &cases {
        std::fs::write(fx.path().join(name), text).unwrap();
    }
    let expected = cases
        .iter()
        .map(|(name, _, why)| (*name, *why))
        .chain([("absent.json", "write one with --update-baseline")]);
    for (name, why) in expected {
        let o = karpsim(
            fx.path(),
            &[
                "check",
                "quickstart.yaml",
                "--baseline",
                name,
                "--out",
                "report",
            ],
        );
        assert_eq!(o.code, Some(2), "{name}\n{}", o.describe());
        assert!(
            o.stderr.contains(&format!("error: {name}")) && o.stderr.contains(why),
            "{name}: the error names the file and says why\n{}",
            o.describe()
        );
        assert!(o.stdout.is_empty(), "{name}\n{}", o.describe());
        assert!(
            !fx.path().join("report").exists(),
            "{name}: nothing is simulated or written"
        );
    }
}

#[test]
fn a_bad_check_section_is_bad_input() {
    let fx = quickstart_with(
        None,
        "check:\n  max_cost_increse: 2%\n  max_p99_increase: -5%\n",
    );
    let o = karpsim(
        fx.path(),
        &["check", "quickstart.yaml", "--baseline", "baseline.json"],
    );
    assert_eq!(o.code, Some(2), "{}", o.describe());
    assert!(
        o.stderr.contains("quickstart.yaml:12:3: check.max_cost_increse: unknown field `max_cost_increse` (did you mean `max_cost_increase`?)"),
        "{}",
        o.describe()
    );
    assert!(
        o.stderr
            .contains("check.max_p99_increase: `-5%` is not a tolerance"),
        "{}",
        o.describe()
    );
    let o = karpsim(
        fx.path(),
        &[
            "check",
            "quickstart.yaml",
            "--baseline",
            "baseline.json",
            "--max-p90-increase",
            "lots",
        ],
    );
    assert_eq!(o.code, Some(2), "{}", o.describe());
    assert!(o.stderr.contains("--max-p90-increase"), "{}", o.describe());
}

#[test]
fn update_baseline_writes_a_baseline_that_then_passes() {
    let fx = quickstart_with(Some(PRICIER), "");
    let d = fx.path();
    // A baseline in a folder that does not exist yet.
    let base = "ci/baselines/quickstart.json";
    let o = karpsim(
        d,
        &[
            "check",
            "quickstart.yaml",
            "--baseline",
            base,
            "--out",
            "r1",
            "--update-baseline",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert!(
        o.stderr
            .contains("baseline written to ci/baselines/quickstart.json")
    );
    let written = std::fs::read_to_string(d.join(base)).unwrap();
    assert_eq!(
        written,
        std::fs::read_to_string(d.join("r1/summary.json")).unwrap()
    );
    let o = karpsim(
        d,
        &[
            "check",
            "quickstart.yaml",
            "--baseline",
            base,
            "--out",
            "r2",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert!(o.stdout.contains("**PASS**"));

    // Against the old (cheaper) baseline the r5 pool regresses; updating accepts it, says so,
    // and replaces the file, after which the check passes.
    let o = karpsim(
        d,
        &[
            "check",
            "quickstart.yaml",
            "--baseline",
            "baseline.json",
            "--out",
            "r3",
        ],
    );
    assert_eq!(o.code, Some(1), "{}", o.describe());
    let o = karpsim(
        d,
        &[
            "check",
            "quickstart.yaml",
            "--baseline",
            "baseline.json",
            "--out",
            "r3",
            "--update-baseline",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert!(
        o.stdout.contains("**FAIL**") && o.stdout.contains("does not gate"),
        "{}",
        o.stdout
    );
    assert_eq!(
        std::fs::read_to_string(d.join("baseline.json")).unwrap(),
        written
    );
    let o = karpsim(
        d,
        &[
            "check",
            "quickstart.yaml",
            "--baseline",
            "baseline.json",
            "--out",
            "r3",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.describe());
    // No temporary files are left beside the baselines.
    let leftovers: Vec<_> = std::fs::read_dir(d.join("ci/baselines"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

/// The shipped GitHub Actions example names files that exist and flags `check` accepts.
#[test]
fn the_github_actions_example_matches_the_repository_and_the_cli() {
    let text = std::fs::read_to_string(repo("examples/github-actions-cost-check.yml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("the example is valid YAML");
    let env = &doc["env"];
    for k in ["SCENARIO", "BASELINE"] {
        let p = env[k].as_str().unwrap_or_else(|| panic!("env.{k}"));
        assert!(repo(p).is_file(), "env.{k}: {p} does not exist");
    }
    let steps = doc["jobs"]["cost-check"]["steps"].as_sequence().unwrap();
    let script = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains("karpsim check"))
        .expect("a step runs karpsim check");
    let help = karpsim(&repo("."), &["check", "--help"]);
    assert_eq!(help.code, Some(0));
    let flags: Vec<&str> = script
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
        .collect();
    assert!(flags.contains(&"--baseline") && flags.contains(&"--junit"));
    for f in flags {
        assert!(
            help.stdout.contains(f),
            "`{f}` is not a `karpsim check` flag"
        );
    }
}
