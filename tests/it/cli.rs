//! The `karpsim` command line, end to end: the real binary is run on scratch copies of
//! scenarios, and its exit codes, messages and report folders are checked against the contract
//! (design/scenario-format.md, sections 4 and 5) and issue #2: every bad input is an error
//! naming the file, the line and the field (with the closest valid name where there is one),
//! exit code 2, no report folder half-written, and no input makes karpsim panic.

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_karpsim");

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// What one karpsim process did.
#[derive(Debug)]
struct Outcome {
    /// `None` when the process was killed by a signal (or by the fuzz timeout).
    code: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

impl Outcome {
    fn describe(&self) -> String {
        format!(
            "exit code {:?}{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            if self.timed_out {
                " (timed out, killed)"
            } else {
                ""
            },
            self.stdout,
            self.stderr
        )
    }
}

/// Runs karpsim in `cwd`, killing it after `timeout`.
fn karpsim_timeout(cwd: &Path, args: &[&str], timeout: Duration) -> Outcome {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning karpsim");
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for karpsim") {
            break s;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("waiting for killed karpsim");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Outcome {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        timed_out,
    }
}

/// Runs karpsim in `cwd` (generous timeout: a hang is a failure here).
fn karpsim(cwd: &Path, args: &[&str]) -> Outcome {
    let o = karpsim_timeout(cwd, args, Duration::from_secs(120));
    assert!(!o.timed_out, "karpsim {args:?} hung\n{}", o.describe());
    assert!(
        !o.stderr.contains("panicked"),
        "karpsim {args:?} panicked\n{}",
        o.describe()
    );
    o
}

/// A scratch folder holding a scenario and the files it names.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    /// The quickstart scenario (scenario.yaml), its NodePool file, its trace and a template
    /// file (not named by the scenario unless a test adds it).
    fn quickstart() -> Fixture {
        let fx = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        let quickstart = std::fs::read_to_string(repo("scenarios/quickstart.yaml")).unwrap();
        fx.write("scenario.yaml", &quickstart);
        for f in [
            "nodepools/default.yaml",
            "traces/quickstart.csv",
            "templates/web.yaml",
        ] {
            fx.write(
                f,
                &std::fs::read_to_string(repo(&format!("scenarios/{f}"))).unwrap(),
            );
        }
        fx
    }

    /// A scenario using most of the format (the fuzz seed corpus).
    fn rich() -> Fixture {
        let fx = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        for (name, text) in RICH {
            fx.write(name, text);
        }
        fx
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    fn write(&self, rel: &str, text: &str) {
        self.write_bytes(rel, text.as_bytes());
    }

    fn write_bytes(&self, rel: &str, bytes: &[u8]) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    /// Replaces the first `from` in `rel` (which must hold it) with `to`.
    fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} does not hold {from:?}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    /// Replaces line `n` (1-based) of `rel`.
    fn set_line(&self, rel: &str, n: usize, line: &str) {
        let text = self.read(rel);
        let mut lines: Vec<&str> = text.lines().collect();
        assert!(n >= 1 && n <= lines.len(), "{rel} has no line {n}");
        lines[n - 1] = line;
        self.write(rel, &(lines.join("\n") + "\n"));
    }

    /// The 1-based number of the first line of `rel` holding `needle`.
    fn line_of(&self, rel: &str, needle: &str) -> usize {
        self.read(rel)
            .lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{rel} has no line holding {needle:?}"))
            + 1
    }

    /// Every staging folder (`.NAME.partial-*`) anywhere under the fixture.
    fn staging_folders(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with('.') && name.contains(".partial-") {
                    found.push(e.path());
                }
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    walk(&e.path(), found);
                }
            }
        }
        let mut found = Vec::new();
        walk(self.root(), &mut found);
        found
    }
}

// ---------------------------------------------------------------------------------------------
// Bad inputs: exit 2, file:line and field named, nothing written.
// ---------------------------------------------------------------------------------------------

/// Asserts that both `validate` and `run` reject the fixture's scenario with exit code 2 and a
/// message naming `file:line:` and `field` (and holding every `extra`), and that `run` leaves
/// neither the report folder nor a staging folder behind.
fn assert_rejected(fx: &Fixture, file: &str, line: usize, field: &str, extra: &[&str]) {
    let site = format!("{file}:{line}:");
    let check = |what: &str, o: &Outcome| {
        assert_eq!(
            o.code,
            Some(2),
            "{what}: expected exit code 2\n{}",
            o.describe()
        );
        let hit = o
            .stderr
            .lines()
            .find(|l| l.contains(&site) && l.contains(field))
            .unwrap_or_else(|| {
                panic!(
                    "{what}: no error line names {site} and `{field}`\n{}",
                    o.describe()
                )
            });
        for x in extra {
            assert!(
                hit.contains(x),
                "{what}: the error line lacks {x:?}: {hit}\n{}",
                o.describe()
            );
        }
    };

    let v = karpsim(fx.root(), &["validate", "scenario.yaml"]);
    check("validate", &v);
    assert!(
        v.stderr.contains("1 problem(s) found"),
        "validate: one problem expected\n{}",
        v.describe()
    );
    assert_eq!(
        v.stderr.matches("error:").count(),
        1,
        "validate: one error expected\n{}",
        v.describe()
    );

    let r = karpsim(
        fx.root(),
        &["run", "scenario.yaml", "--out", "reports/out", "--quiet"],
    );
    check("run", &r);
    assert!(
        r.stdout.is_empty(),
        "run: nothing on stdout expected\n{}",
        r.describe()
    );
    assert!(
        !fx.path("reports/out").exists(),
        "run left a report folder\n{}",
        r.describe()
    );
    assert_eq!(
        fx.staging_folders(),
        Vec::<PathBuf>::new(),
        "run left a staging folder"
    );

    // The default report folder (reports/<name>) is not created either.
    let r = karpsim(fx.root(), &["run", "scenario.yaml", "--quiet"]);
    assert_eq!(r.code, Some(2), "run (default folder)\n{}", r.describe());
    assert!(
        !fx.path("reports/quickstart").exists(),
        "run left reports/quickstart"
    );
    assert_eq!(
        fx.staging_folders(),
        Vec::<PathBuf>::new(),
        "run left a staging folder"
    );
}

const NP: &str = "nodepools/default.yaml";
const TRACE: &str = "traces/quickstart.csv";

#[test]
fn unknown_scenario_key_is_named_with_a_suggestion() {
    let fx = Fixture::quickstart();
    fx.edit("scenario.yaml", "duration: 1h", "duratoin: 1h");
    let line = fx.line_of("scenario.yaml", "duratoin");
    assert_rejected(
        &fx,
        "scenario.yaml",
        line,
        "duratoin",
        &["unknown field", "did you mean `duration`?"],
    );
}

#[test]
fn unknown_nodepool_key_is_named_with_a_suggestion() {
    let fx = Fixture::quickstart();
    fx.edit(NP, "consolidationPolicy:", "consolidationPolicyy:");
    let line = fx.line_of(NP, "consolidationPolicyy");
    assert_rejected(
        &fx,
        "default.yaml",
        line,
        "spec.disruption.consolidationPolicyy",
        &["did you mean `consolidationPolicy`?"],
    );
}

#[test]
fn bad_quantity_in_limits_is_rejected() {
    let fx = Fixture::quickstart();
    fx.edit(NP, "cpu: 1000", "cpu: 10xx");
    let line = fx.line_of(NP, "10xx");
    assert_rejected(
        &fx,
        "default.yaml",
        line,
        "spec.limits.cpu",
        &["`10xx`", "quantity"],
    );
}

#[test]
fn bad_duration_in_consolidate_after_is_rejected() {
    let fx = Fixture::quickstart();
    fx.edit(NP, "consolidateAfter: 30s", "consolidateAfter: 30q");
    let line = fx.line_of(NP, "30q");
    assert_rejected(
        &fx,
        "default.yaml",
        line,
        "spec.disruption.consolidateAfter",
        &["`30q`"],
    );
}

#[test]
fn bad_scenario_duration_is_rejected() {
    let fx = Fixture::quickstart();
    fx.edit("scenario.yaml", "duration: 1h", "duration: 1x");
    let line = fx.line_of("scenario.yaml", "duration: 1x");
    assert_rejected(&fx, "scenario.yaml", line, "duration", &["`1x`"]);
}

#[test]
fn unknown_zone_and_instance_type_are_located() {
    let fx = Fixture::quickstart();
    fx.edit(
        "scenario.yaml",
        "duration: 1h",
        "duration: 1h\nzones: [us-east-1a, us-east-1q]",
    );
    let line = fx.line_of("scenario.yaml", "us-east-1q");
    assert_rejected(&fx, "scenario.yaml", line, "zones", &["`us-east-1q`"]);

    let fx = Fixture::quickstart();
    fx.edit(
        "scenario.yaml",
        "duration: 1h",
        "duration: 1h\nexisting_nodes:\n  - {instance_type: m5.huge, count: 1}",
    );
    let line = fx.line_of("scenario.yaml", "m5.huge");
    assert_rejected(
        &fx,
        "scenario.yaml",
        line,
        "existing_nodes[0].instance_type",
        &["`m5.huge`"],
    );
}

#[test]
fn missing_nodepools_file_is_named() {
    let fx = Fixture::quickstart();
    fx.edit(
        "scenario.yaml",
        "nodepools: nodepools/default.yaml",
        "nodepools: nodepools/missing.yaml",
    );
    let line = fx.line_of("scenario.yaml", "nodepools:");
    assert_rejected(&fx, "scenario.yaml", line, "nodepools", &["missing.yaml"]);
}

#[test]
fn missing_trace_file_is_named() {
    let fx = Fixture::quickstart();
    fx.edit(
        "scenario.yaml",
        "pods: traces/quickstart.csv",
        "pods: traces/missing.csv",
    );
    let line = fx.line_of("scenario.yaml", "pods:");
    assert_rejected(
        &fx,
        "scenario.yaml",
        line,
        "workload.pods",
        &["missing.csv"],
    );
}

#[test]
fn malformed_trace_row_names_the_line_and_column() {
    // Late in the trace, so `run` has streamed rows (and opened its staging folder) first.
    let fx = Fixture::quickstart();
    let n = 100;
    fx.set_line(TRACE, n, "600.5,,web,web,5x0m,1Gi");
    assert_rejected(&fx, "quickstart.csv", n, "column cpu", &["5x0m"]);
}

#[test]
fn trace_row_with_too_few_fields_names_the_line() {
    let fx = Fixture::quickstart();
    fx.set_line(TRACE, 9, "1.0,,web,web");
    assert_rejected(&fx, "quickstart.csv", 9, "fields", &["header"]);
}

#[test]
fn bad_arrival_in_trace_names_the_column() {
    let fx = Fixture::quickstart();
    fx.set_line(TRACE, 12, "soon,,web,web,1,1Gi");
    assert_rejected(&fx, "quickstart.csv", 12, "column arrival", &["soon"]);
}

#[test]
fn unknown_trace_column_is_named_with_a_suggestion() {
    let fx = Fixture::quickstart();
    fx.edit(TRACE, "cpu,memory\n", "cpu,memroy\n");
    assert_rejected(
        &fx,
        "quickstart.csv",
        1,
        "memroy",
        &["did you mean `memory`?"],
    );
}

#[test]
fn restricted_label_in_requirement_is_rejected() {
    let fx = Fixture::quickstart();
    fx.edit(NP, "key: kubernetes.io/arch", "key: kubernetes.io/hostname");
    let line = fx.line_of(NP, "kubernetes.io/hostname");
    assert_rejected(
        &fx,
        "default.yaml",
        line,
        "spec.template.spec.requirements[0].key",
        &["kubernetes.io/hostname", "restricted"],
    );
}

#[test]
fn unknown_operator_is_rejected() {
    let fx = Fixture::quickstart();
    fx.edit(NP, "operator: In", "operator: Equals");
    let line = fx.line_of(NP, "Equals");
    assert_rejected(
        &fx,
        "default.yaml",
        line,
        "spec.template.spec.requirements[0].operator",
        &["`Equals`", "NotIn"],
    );
}

#[test]
fn gt_with_a_non_integer_is_rejected() {
    let fx = Fixture::quickstart();
    fx.edit(
        NP,
        "- key: kubernetes.io/arch\n          operator: In\n          values: [\"amd64\"]",
        "- key: karpenter.k8s.aws/instance-cpu\n          operator: Gt\n          values: [\"abc\"]",
    );
    let line = fx.line_of(NP, "\"abc\"");
    assert_rejected(
        &fx,
        "default.yaml",
        line,
        "spec.template.spec.requirements[0].values",
        &["`abc`", "Gt"],
    );
}

#[test]
fn budget_over_100_percent_is_rejected() {
    let fx = Fixture::quickstart();
    fx.edit(
        NP,
        "consolidateAfter: 30s",
        "consolidateAfter: 30s\n    budgets:\n      - nodes: \"150%\"",
    );
    let line = fx.line_of(NP, "150%");
    assert_rejected(
        &fx,
        "default.yaml",
        line,
        "spec.disruption.budgets[0].nodes",
        &["`150%`"],
    );
}

#[test]
fn unknown_template_in_a_trace_row_is_named_with_a_suggestion() {
    let fx = Fixture::quickstart();
    fx.edit(
        "scenario.yaml",
        "pods: traces/quickstart.csv",
        "pods: traces/quickstart.csv\n  templates: templates/web.yaml",
    );
    let trace = fx.read(TRACE);
    let mut lines: Vec<String> = trace.lines().map(|l| format!("{l},")).collect();
    lines[0] = format!("{},template", trace.lines().next().unwrap());
    lines[1] = "0.0,,web,web,500m,1Gi,web".into();
    lines[39] = "10.0,,web,web,500m,1Gi,webb".into();
    fx.write(TRACE, &(lines.join("\n") + "\n"));
    assert_rejected(
        &fx,
        "quickstart.csv",
        40,
        "column template",
        &["`webb`", "did you mean `web`?"],
    );
}

#[test]
fn invalid_yaml_names_the_file_and_line() {
    let fx = Fixture::quickstart();
    fx.edit(NP, "values: [\"amd64\"]", "values: [\"amd64\"");
    let o = karpsim(fx.root(), &["validate", "scenario.yaml"]);
    assert_eq!(o.code, Some(2), "{}", o.describe());
    assert!(o.stderr.contains("default.yaml:"), "{}", o.describe());
    let r = karpsim(fx.root(), &["run", "scenario.yaml", "--out", "out"]);
    assert_eq!(r.code, Some(2), "{}", r.describe());
    assert!(!fx.path("out").exists());
}

#[test]
fn problems_before_a_yaml_syntax_error_keep_their_lines() {
    // An unknown key in the first document (the EC2NodeClass), a syntax error in the second.
    let fx = Fixture::quickstart();
    fx.edit(NP, "amiFamily: AL2023", "amiFamliy: AL2023");
    fx.edit(NP, "values: [\"amd64\"]", "values: [\"amd64\"");
    let o = karpsim(fx.root(), &["validate", "scenario.yaml"]);
    assert_eq!(o.code, Some(2), "{}", o.describe());
    let site = format!("default.yaml:{}:", fx.line_of(NP, "amiFamliy"));
    assert!(
        o.stderr.lines().any(|l| l.contains(&site)
            && l.contains("spec.amiFamliy")
            && l.contains("did you mean `amiFamily`?")),
        "{}",
        o.describe()
    );
    assert!(o.stderr.contains("invalid YAML"), "{}", o.describe());
}

#[test]
fn non_utf8_files_are_located() {
    let fx = Fixture::quickstart();
    let mut np = fx.read(NP).into_bytes();
    let at = fx.read(NP).find("amiFamily: AL2023").unwrap() + "amiFamily: ".len();
    np[at] = 0xff;
    fx.write_bytes(NP, &np);
    let line = String::from_utf8_lossy(&np[..at]).matches('\n').count() + 1;
    assert_rejected(&fx, "default.yaml", line, "UTF-8", &[]);

    let fx = Fixture::quickstart();
    let mut sc = fx.read("scenario.yaml").into_bytes();
    sc.extend_from_slice(b"# caf\xe9\n");
    fx.write_bytes("scenario.yaml", &sc);
    let line = String::from_utf8_lossy(&sc).lines().count();
    assert_rejected(&fx, "scenario.yaml", line, "UTF-8", &[]);

    let fx = Fixture::quickstart();
    let mut tr = fx.read(TRACE).into_bytes();
    let at = fx.read(TRACE).match_indices('\n').nth(9).unwrap().0 + 1; // line 11
    tr.splice(at..at, *b"\xff");
    fx.write_bytes(TRACE, &tr);
    let o = karpsim(fx.root(), &["validate", "scenario.yaml"]);
    assert_eq!(o.code, Some(2), "{}", o.describe());
    assert!(o.stderr.contains("quickstart.csv:11"), "{}", o.describe());
}

#[test]
fn missing_or_unreadable_scenario_is_exit_2() {
    let fx = Fixture::quickstart();
    for args in [
        &["validate", "nosuch.yaml"][..],
        &["run", "nosuch.yaml", "--out", "out"],
        &["validate", "."],
        &["validate", "/dev/null"],
    ] {
        let o = karpsim(fx.root(), args);
        assert_eq!(o.code, Some(2), "{args:?}\n{}", o.describe());
        assert!(o.stderr.contains("error:"), "{args:?}\n{}", o.describe());
    }
    assert!(!fx.path("out").exists());
}

#[test]
fn validate_lists_every_problem_of_every_file() {
    let fx = Fixture::quickstart();
    fx.edit("scenario.yaml", "seed: 42", "seeed: 42");
    fx.edit(NP, "consolidationPolicy:", "consolidationPolicyy:");
    fx.edit(NP, "cpu: 1000", "cpu: lots");
    fx.set_line(TRACE, 7, "1.2,,web,web,5x0m,1Gi");
    fx.set_line(TRACE, 50, "20.0,,web,web,1,1Gx");
    let o = karpsim(fx.root(), &["validate", "scenario.yaml"]);
    assert_eq!(o.code, Some(2), "{}", o.describe());
    let expected = [
        format!("scenario.yaml:{}:", fx.line_of("scenario.yaml", "seeed")),
        format!("default.yaml:{}:", fx.line_of(NP, "consolidationPolicyy")),
        format!("default.yaml:{}:", fx.line_of(NP, "cpu: lots")),
        "quickstart.csv:7:".to_string(),
        "quickstart.csv:50:".to_string(),
    ];
    for site in &expected {
        assert!(
            o.stderr.contains(site.as_str()),
            "no problem reported at {site}\n{}",
            o.describe()
        );
    }
    assert!(o.stderr.contains("5 problem(s) found"), "{}", o.describe());
    assert!(o.stdout.is_empty(), "{}", o.describe());

    // `run` stops at the first input problem, writing nothing.
    let r = karpsim(fx.root(), &["run", "scenario.yaml", "--out", "out"]);
    assert_eq!(r.code, Some(2), "{}", r.describe());
    assert!(!fx.path("out").exists());
    assert!(fx.staging_folders().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Good inputs.
// ---------------------------------------------------------------------------------------------

#[test]
fn validate_accepts_the_quickstart_and_the_rich_scenario() {
    let o = karpsim(&repo("."), &["validate", "scenarios/quickstart.yaml"]);
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert!(o.stdout.contains("ok"), "{}", o.describe());
    assert!(o.stdout.contains("138 trace rows"), "{}", o.describe());
    assert!(!o.stderr.contains("error"), "{}", o.describe());

    let fx = Fixture::rich();
    let o = karpsim(fx.root(), &["validate", "scenario.yaml"]);
    assert_eq!(
        o.code,
        Some(0),
        "the fuzz seed corpus must be valid\n{}",
        o.describe()
    );
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| {
        v.get(k)
            .unwrap_or_else(|| panic!("summary.json lacks `{path}` (at `{k}`)"))
    })
}

#[test]
fn run_writes_every_contract_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q");
    let o = karpsim(
        &repo("."),
        &[
            "run",
            "scenarios/quickstart.yaml",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert!(o.stdout.contains("reports written to"), "{}", o.describe());

    for f in [
        "summary.json",
        "summary.md",
        "nodes.csv",
        "pods.csv",
        "timeline.csv",
        "decisions.jsonl",
        "manifest.json",
    ] {
        let p = out.join(f);
        assert!(p.is_file(), "{f} missing");
        assert!(std::fs::metadata(&p).unwrap().len() > 0, "{f} is empty");
    }
    let staging: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    assert!(staging.is_empty(), "staging folder left: {staging:?}");

    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(get(&s, "name"), "quickstart");
    assert_eq!(get(&s, "seed"), 42);
    for k in [
        "simulated_seconds",
        "events_processed",
        "cost.total",
        "cost.on_demand",
        "cost.spot",
        "pods.total",
        "pods.scheduled",
        "pods.never_scheduled",
        "pods.evicted",
        "latency.pending_p50",
        "latency.pending_p90",
        "latency.pending_p99",
        "latency.pending_max",
        "nodes.launched",
        "nodes.peak",
        "spot.interruptions",
        "spot.insufficient_capacity_errors",
        "utilization.cpu_requested_over_allocatable",
        "utilization.memory_requested_over_allocatable",
    ] {
        assert!(
            get(&s, k).is_number(),
            "summary.json `{k}` is not a number: {}",
            get(&s, k)
        );
    }
    for k in [
        "cost.by_nodepool",
        "cost.by_namespace",
        "nodes.terminated_by_reason",
    ] {
        assert!(
            get(&s, k).is_object(),
            "summary.json `{k}` is not an object"
        );
    }
    for r in [
        "empty",
        "underutilized",
        "drifted",
        "expired",
        "interrupted",
    ] {
        let k = format!("nodes.terminated_by_reason.{r}");
        assert!(
            get(&s, &k).is_number(),
            "summary.json `{k}` is not a number"
        );
    }
    assert_eq!(get(&s, "simulated_seconds").as_f64(), Some(3600.0));
    assert_eq!(get(&s, "pods.total"), 138);
    assert!(get(&s, "cost.by_nodepool").get("default").is_some());

    // Every trace pod appears exactly once in pods.csv; the CSV headers are the contract's.
    let pods = std::fs::read_to_string(out.join("pods.csv")).unwrap();
    let mut lines = pods.lines();
    assert_eq!(
        lines.next(),
        Some(
            "pod,namespace,owner,arrival,scheduled_at,running_at,ended_at,node,evictions,pending_seconds,outcome"
        )
    );
    assert_eq!(lines.count(), 138);
    let nodes = std::fs::read_to_string(out.join("nodes.csv")).unwrap();
    assert_eq!(
        nodes.lines().next(),
        Some(
            "node,nodepool,instance_type,zone,capacity_type,price_per_hour,launched_at,ready_at,terminated_at,termination_reason,cost"
        )
    );
    assert_eq!(
        nodes.lines().count() as u64 - 1,
        get(&s, "nodes.launched").as_u64().unwrap()
    );
    for (i, l) in std::fs::read_to_string(out.join("decisions.jsonl"))
        .unwrap()
        .lines()
        .enumerate()
    {
        serde_json::from_str::<Value>(l)
            .unwrap_or_else(|e| panic!("decisions.jsonl line {}: {e}", i + 1));
    }
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert!(m.get("karpsim_version").is_some(), "{m}");
}

#[test]
fn seed_override_and_rerun_into_the_same_folder() {
    let fx = Fixture::quickstart();
    let summary = |dir: &str| -> String { fx.read(&format!("{dir}/summary.json")) };

    let o = karpsim(fx.root(), &["run", "scenario.yaml", "--quiet"]);
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert!(
        o.stdout.is_empty(),
        "--quiet prints nothing\n{}",
        o.describe()
    );
    let base = summary("reports/quickstart");
    let v: Value = serde_json::from_str(&base).unwrap();
    assert_eq!(v["seed"], 42);

    let o = karpsim(
        fx.root(),
        &[
            "run",
            "scenario.yaml",
            "--seed",
            "7",
            "--out",
            "seeded",
            "--quiet",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.describe());
    let v: Value = serde_json::from_str(&summary("seeded")).unwrap();
    assert_eq!(v["seed"], 7);
    let m: Value = serde_json::from_str(&fx.read("seeded/manifest.json")).unwrap();
    assert_eq!(m["seed"], 7);

    // Same inputs and seed: byte-identical summary.json, and the old report is replaced whole.
    fx.write("reports/quickstart/plot.svg", "<svg/>");
    let o = karpsim(fx.root(), &["run", "scenario.yaml", "--quiet"]);
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert_eq!(summary("reports/quickstart"), base);
    assert!(
        !fx.path("reports/quickstart/plot.svg").exists(),
        "the old report folder was not replaced"
    );
    assert!(fx.staging_folders().is_empty());
}

#[test]
fn run_never_deletes_files_that_are_not_a_report() {
    let fx = Fixture::quickstart();
    // A folder holding the user's own files.
    fx.write("mine/notes.txt", "keep me");
    let o = karpsim(
        fx.root(),
        &["run", "scenario.yaml", "--out", "mine", "--quiet"],
    );
    assert_eq!(o.code, Some(2), "{}", o.describe());
    assert!(o.stderr.contains("notes.txt"), "{}", o.describe());
    assert_eq!(fx.read("mine/notes.txt"), "keep me");

    // `--out .` in a folder holding other files (here: the scenario itself).
    let o = karpsim(
        fx.root(),
        &["run", "scenario.yaml", "--out", ".", "--quiet"],
    );
    assert_eq!(o.code, Some(2), "{}", o.describe());
    assert!(
        fx.path("scenario.yaml").is_file(),
        "--out . deleted the working folder"
    );
    assert!(fx.path(NP).is_file(), "--out . deleted the working folder");

    // An existing file.
    let o = karpsim(
        fx.root(),
        &["run", "scenario.yaml", "--out", "scenario.yaml", "--quiet"],
    );
    assert_eq!(o.code, Some(2), "{}", o.describe());
    assert!(fx.read("scenario.yaml").contains("name: quickstart"));

    assert!(
        fx.staging_folders().is_empty(),
        "{:?}",
        fx.staging_folders()
    );

    // An empty folder is fine, and so is `--out .` in an empty folder.
    std::fs::create_dir_all(fx.path("empty")).unwrap();
    let o = karpsim(
        fx.root(),
        &["run", "scenario.yaml", "--out", "empty", "--quiet"],
    );
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert!(fx.path("empty/summary.json").is_file());
    std::fs::create_dir_all(fx.path("here")).unwrap();
    let o = karpsim(
        &fx.path("here"),
        &["run", "../scenario.yaml", "--out", ".", "--quiet"],
    );
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert!(fx.path("here/summary.json").is_file());
    assert!(
        fx.staging_folders().is_empty(),
        "{:?}",
        fx.staging_folders()
    );
}

// ---------------------------------------------------------------------------------------------
// Commands and usage.
// ---------------------------------------------------------------------------------------------

// `compare` runs the base and every variant with the same arrivals and writes both tables and
// each run's reports.
#[test]
fn compare_writes_the_tables_and_every_run() {
    let here = repo(".");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("cmp");
    let o = karpsim(
        &here,
        &[
            "compare",
            "scenarios/consolidate-after.yaml",
            "--out",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert!(o.stdout.contains("| total cost ($) |"), "{}", o.describe());
    let csv = std::fs::read_to_string(dir.join("comparison.csv")).unwrap();
    assert!(
        csv.starts_with("figure,base,after-10m,never,expire-30m,after-10m_vs_base"),
        "{csv}"
    );
    assert!(dir.join("comparison.md").exists());
    for run in ["base", "after-10m", "never", "expire-30m"] {
        assert!(dir.join(run).join("summary.json").exists(), "{run}");
    }
    // consolidateAfter: Never keeps every empty node, so it costs more than the base.
    let cost = |run: &str| -> f64 {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(run).join("summary.json")).unwrap(),
        )
        .unwrap();
        v["cost"]["total"].as_f64().unwrap()
    };
    assert!(cost("never") > cost("base"));
    // A scenario without variants is a usage error.
    let o = karpsim(&here, &["compare", "scenarios/quickstart.yaml"]);
    assert_eq!(o.code, Some(2), "{}", o.describe());
    assert!(o.stderr.contains("variants"), "{}", o.describe());
}

#[test]
fn help_and_version_exit_0() {
    let here = repo(".");
    let o = karpsim(&here, &["run", "--help"]);
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert!(o.stdout.contains("NodePool"), "{}", o.describe());
    assert!(
        o.stdout.contains("--seed") && o.stdout.contains("--out"),
        "{}",
        o.describe()
    );
    for args in [
        &["--help"][..],
        &["help"],
        &["validate", "--help"],
        &["catalog", "--help"],
        &["--version"],
    ] {
        let o = karpsim(&here, args);
        assert_eq!(o.code, Some(0), "{args:?}\n{}", o.describe());
        assert!(!o.stdout.is_empty(), "{args:?}\n{}", o.describe());
    }
}

#[test]
fn usage_errors_exit_2() {
    let here = repo(".");
    for args in [
        &[][..],
        &["frobnicate"],
        &["run"],
        &["validate"],
        &["catalog"],
        &["run", "scenarios/quickstart.yaml", "--seed", "abc"],
        &["run", "scenarios/quickstart.yaml", "--seed", "-1"],
        &["run", "scenarios/quickstart.yaml", "--bogus"],
        &["run", "scenarios/quickstart.yaml", "--out"],
        &["validate", "a.yaml", "b.yaml"],
        &[
            "catalog",
            "scenarios/nodepools/default.yaml",
            "--limit",
            "many",
        ],
    ] {
        let o = karpsim(&here, args);
        assert_eq!(o.code, Some(2), "{args:?}\n{}", o.describe());
        // clap's message (or, with no command at all, the usage) goes to stderr.
        assert!(
            o.stderr.starts_with("error:") || o.stderr.contains("Usage:"),
            "{args:?}\n{}",
            o.describe()
        );
    }
}

#[test]
fn catalog_lists_the_allowed_types_with_prices() {
    let o = karpsim(&repo("."), &["catalog", "scenarios/nodepools/default.yaml"]);
    assert_eq!(o.code, Some(0), "{}", o.describe());
    for t in ["m5.large", "m5.xlarge", "m5.2xlarge"] {
        let line = o
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(t))
            .unwrap_or_else(|| panic!("{t} not listed\n{}", o.describe()));
        assert!(line.contains('$'), "{t} listed without a price: {line}");
    }
    assert!(
        o.stdout.contains("3 instance types allowed"),
        "{}",
        o.describe()
    );
    assert!(o.stdout.contains("NodePool default"), "{}", o.describe());

    let o = karpsim(
        &repo("."),
        &[
            "catalog",
            "scenarios/nodepools/default.yaml",
            "--limit",
            "1",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.describe());
    assert!(
        o.stdout.contains("m5.large") && !o.stdout.contains("m5.2xlarge"),
        "{}",
        o.describe()
    );
}

#[test]
fn catalog_rejects_bad_input_with_exit_2() {
    let fx = Fixture::quickstart();
    fx.edit(NP, "operator: In", "operator: Equals");
    let line = fx.line_of(NP, "Equals");
    let o = karpsim(fx.root(), &["catalog", NP]);
    assert_eq!(o.code, Some(2), "{}", o.describe());
    assert!(
        o.stderr.contains(&format!("default.yaml:{line}:"))
            && o.stderr.contains("requirements[0].operator"),
        "{}",
        o.describe()
    );
    for args in [
        &["catalog", "nosuch.yaml"][..],
        &["catalog", TRACE],
        &["catalog", "templates/web.yaml"],
        &["catalog", "/dev/null"],
        &["catalog", "scenario.yaml"],
    ] {
        let o = karpsim(fx.root(), args);
        assert_eq!(o.code, Some(2), "{args:?}\n{}", o.describe());
        assert!(o.stderr.contains("error"), "{args:?}\n{}", o.describe());
    }
    let o = karpsim(
        &repo("."),
        &[
            "catalog",
            "scenarios/nodepools/default.yaml",
            "--region",
            "mars-north-1",
        ],
    );
    assert_eq!(o.code, Some(2), "{}", o.describe());
    assert!(o.stderr.contains("mars-north-1"), "{}", o.describe());
}

// ---------------------------------------------------------------------------------------------
// Fuzz: seeded random mutations of valid inputs never make karpsim panic.
// ---------------------------------------------------------------------------------------------

/// A scenario using most of the format, with its NodePools, templates and trace (`changes`
/// and the Spot interruption models are left out).
const RICH: &[(&str, &str)] = &[
    (
        "scenario.yaml",
        r#"name: fuzz
seed: 3
duration: 20m
start: 2024-01-01T00:00:00Z
region: us-east-1
zones: [us-east-1a, us-east-1b]
nodepools: [pools.yaml]
workload:
  pods: trace.csv
  templates: templates.yaml
existing_nodes:
  - {instance_type: m5.large, count: 1, capacity_type: on-demand, labels: {role: system}}
interruptions:
  model: none
  rate_multiplier: 2.0
  notice: 2m
  insufficient_capacity: 0.1
karpenter:
  batch_idle_duration: 1s
  batch_max_duration: 10s
  feature_gates: {SpotToSpotConsolidation: true}
  launch_latency: {distribution: lognormal, median: 40s, p90: 70s}
  pod_startup: 5s
kube_scheduler:
  scoring: MostAllocated
variants:
  - name: when-empty
    nodepools:
      - {name: general, set: {spec.disruption.consolidationPolicy: WhenEmpty}}
  - name: spot-heavy
    interruptions: {rate_multiplier: 3}
"#,
    ),
    (
        "pools.yaml",
        r#"apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: default
spec:
  amiFamily: AL2023
  role: KarpenterNodeRole-test
  subnetSelectorTerms:
    - tags: {karpenter.sh/discovery: test}
  securityGroupSelectorTerms:
    - tags: {karpenter.sh/discovery: test}
  amiSelectorTerms:
    - alias: al2023@latest
  kubelet:
    maxPods: 58
    systemReserved: {cpu: 100m, memory: 100Mi}
    evictionHard: {memory.available: 5%}
  blockDeviceMappings:
    - deviceName: /dev/xvda
      ebs: {volumeSize: 40Gi, volumeType: gp3}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: general
spec:
  weight: 10
  template:
    metadata:
      labels: {team: web}
    spec:
      requirements:
        - key: kubernetes.io/arch
          operator: In
          values: ["amd64"]
        - key: karpenter.sh/capacity-type
          operator: In
          values: ["spot", "on-demand"]
        - key: karpenter.k8s.aws/instance-category
          operator: In
          values: ["c", "m", "r"]
        - key: karpenter.k8s.aws/instance-generation
          operator: Gt
          values: ["4"]
          minValues: 2
      nodeClassRef:
        group: karpenter.k8s.aws
        kind: EC2NodeClass
        name: default
      taints:
        - {key: dedicated, value: web, effect: NoSchedule}
      expireAfter: 720h
      terminationGracePeriod: 1h
  limits:
    cpu: "1000"
    memory: 1000Gi
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: 1m
    budgets:
      - nodes: "10%"
      - nodes: "0"
        schedule: "0 9 * * mon-fri"
        duration: 8h
        reasons: [Drifted, Underutilized]
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: fallback
spec:
  template:
    spec:
      requirements:
        - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large, m5.xlarge]}
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
"#,
    ),
    (
        "templates.yaml",
        r#"- name: web
  metadata: {labels: {app: web}}
  spec:
    priorityClassName: high
    terminationGracePeriodSeconds: 30
    containers:
      - name: app
        resources: {requests: {cpu: 500m, memory: 1Gi}}
        ports: [{containerPort: 80, hostPort: 8080}]
    tolerations:
      - {key: dedicated, operator: Equal, value: web, effect: NoSchedule}
    topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule,
         labelSelector: {matchLabels: {app: web}}}
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
            - matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]
        preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 10
            preference: {matchExpressions: [{key: karpenter.sh/capacity-type, operator: In, values: [spot]}]}
      podAntiAffinity:
        preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 50
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector: {matchLabels: {app: web}}
- name: batch
  metadata:
    labels: {app: batch}
    annotations: {karpenter.sh/do-not-disrupt: "true"}
  spec:
    nodeSelector: {karpenter.sh/capacity-type: spot}
    containers:
      - name: job
        resources: {requests: {cpu: "1", memory: 2Gi}}
"#,
    ),
    (
        "trace.csv",
        "arrival,duration,namespace,owner,cpu,memory,gpu,template,priority,labels,node_selector,tolerations,do_not_disrupt
0,,web,web,500m,1Gi,,web,100,tier=front;app=web,,,
0.5,,web,web,250m,512Mi,,web,,,topology.kubernetes.io/zone=us-east-1a,,
1,600,batch,job-a,1,2Gi,,batch,,,,:NoSchedule,true
2.5,300,batch,job-b,2,4Gi,0,,10,app=b,kubernetes.io/arch=amd64,dedicated=web:NoSchedule;dedicated:NoExecute,false
30,,default,,100m,128Mi,,,,,,,
45.25,120,api,api,1500m,3Gi,,,,,karpenter.sh/capacity-type=on-demand,,
300,,web,web,,,,web,,,,,
",
    ),
];

/// xorshift64*: a tiny deterministic generator, so every fuzz case can be replayed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Values that stress parsers: numbers at the edges, YAML specials, quantity and duration
/// shapes, Karpenter vocabulary in the wrong place, odd characters.
const TOKENS: &[&str] = &[
    "",
    "0",
    "-1",
    "-0",
    "1e309",
    "1e-30",
    "NaN",
    ".nan",
    ".inf",
    "-.inf",
    "inf",
    "99999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "4294967296",
    "0.0001m",
    "1m",
    "1Ki",
    "1Ei",
    "8Ei",
    "1e18",
    "1E3",
    "3.5",
    "0x1F",
    "1_000",
    "abc",
    "Never",
    "0s",
    "-5m",
    "1h30",
    "2562047h",
    "9999999999h",
    "1.5h",
    "90s",
    "~",
    "null",
    "true",
    "no",
    "[]",
    "{}",
    "[a, b]",
    "{a: 1}",
    "\"\"",
    "'",
    "\"",
    "&x",
    "*x",
    "!!binary x",
    "!!str",
    "<<: {}",
    "---",
    "...",
    "- ",
    ": ",
    ":",
    ",",
    ";",
    "=",
    "%",
    "0%",
    "100%",
    "101%",
    "-10%",
    "é",
    "\u{202e}",
    "\u{feff}",
    "\t",
    "\r\n",
    "#",
    "|",
    ">",
    "\\",
    "\0",
    "In",
    "NotIn",
    "Exists",
    "DoesNotExist",
    "Gt",
    "Lt",
    "Gte",
    "spot",
    "on-demand",
    "reserved",
    "kubernetes.io/hostname",
    "karpenter.sh/nodepool",
    "karpenter.sh/capacity-type",
    "topology.kubernetes.io/zone",
    "us-east-1z",
    "us-east-1a",
    "m5.large",
    "p5.48xlarge",
    "WhenEmpty",
    "NoExecute",
    "NoSchedule",
    "PreferNoSchedule",
    "web",
    "batch",
    "default",
    "general",
    "fallback",
    "0 9 * * mon-fri",
    "@daily",
    "* * *",
    "al2023@latest",
    "bottlerocket@v1",
    "spec.disruption.budgets",
    "a=b;c",
    "=:",
    "k=v:Bad",
];

fn token(rng: &mut Rng) -> Vec<u8> {
    match rng.below(20) {
        // A long string.
        0 => "z".repeat(300).into_bytes(),
        // Bytes that are not UTF-8.
        1 => vec![0xff, 0xfe, b'a'],
        _ => rng.pick(TOKENS).as_bytes().to_vec(),
    }
}

fn lines_of(b: &[u8]) -> Vec<Vec<u8>> {
    b.split(|c| *c == b'\n').map(<[u8]>::to_vec).collect()
}

fn join_lines(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.join(&b'\n')
}

/// One random edit of `b`.
fn mutate(rng: &mut Rng, b: &mut Vec<u8>) {
    let mut lines = lines_of(b);
    let n = lines.len();
    match rng.below(11) {
        0 => {
            lines.remove(rng.below(n));
        }
        1 => {
            let i = rng.below(n);
            let l = lines[i].clone();
            lines.insert(i, l);
        }
        2 => {
            let (i, j) = (rng.below(n), rng.below(n));
            lines.swap(i, j);
        }
        3 => {
            let i = rng.below(n);
            let l = lines[rng.below(n)].clone();
            lines.insert(i, l);
        }
        4 => {
            // Replace what follows a `: ` (YAML value) or a `,` (CSV cell).
            let i = rng.below(n);
            let l = &lines[i];
            let cuts: Vec<usize> = (0..l.len())
                .filter(|k| l[*k] == b':' || l[*k] == b',')
                .collect();
            if let Some(&c) = (!cuts.is_empty()).then(|| rng.pick(&cuts)) {
                let end = l[c + 1..]
                    .iter()
                    .position(|x| *x == b',' || *x == b'}' || *x == b']')
                    .map(|p| c + 1 + p)
                    .unwrap_or(l.len());
                let mut nl = l[..=c].to_vec();
                if l[c] == b':' {
                    nl.push(b' ');
                }
                nl.extend(token(rng));
                nl.extend_from_slice(&l[end..]);
                lines[i] = nl;
            }
        }
        5 => {
            // Replace a word (a run of letters, digits, `.`, `-`, `/`).
            let i = rng.below(n);
            let l = &lines[i];
            let word = |c: u8| c.is_ascii_alphanumeric() || b"._-/".contains(&c);
            let starts: Vec<usize> = (0..l.len())
                .filter(|k| word(l[*k]) && (*k == 0 || !word(l[*k - 1])))
                .collect();
            if !starts.is_empty() {
                let s = *rng.pick(&starts);
                let e = (s..l.len()).find(|k| !word(l[*k])).unwrap_or(l.len());
                let mut nl = l[..s].to_vec();
                nl.extend(token(rng));
                nl.extend_from_slice(&l[e..]);
                lines[i] = nl;
            }
        }
        6 => {
            // Indent or dedent a line.
            let i = rng.below(n);
            if rng.below(2) == 0 {
                lines[i].splice(0..0, *b"  ");
            } else {
                let k = lines[i].iter().take(2).take_while(|c| **c == b' ').count();
                lines[i].drain(..k);
            }
        }
        7 => {
            // Insert a token anywhere.
            let at = rng.below(b.len() + 1);
            let t = token(rng);
            b.splice(at..at, t);
            return;
        }
        8 => {
            // Overwrite one byte.
            if !b.is_empty() {
                let at = rng.below(b.len());
                b[at] = *rng.pick(b" :-,;=[]{}\"'\t\n#&*!|>%0123456789.\xff\x00");
            }
            return;
        }
        9 => {
            // Truncate.
            let at = rng.below(b.len() + 1);
            b.truncate(at);
            return;
        }
        _ => {
            // Delete a span.
            if !b.is_empty() {
                let s = rng.below(b.len());
                let e = (s + 1 + rng.below(40)).min(b.len());
                b.drain(s..e);
            }
            return;
        }
    }
    *b = join_lines(&lines);
}

/// Runs `cases` mutations of the rich scenario, each through `validate` (and through `run`
/// when valid, and every `run_every`-th otherwise), and returns the failures.
fn fuzz(seed: u64, cases: usize, targets: &[&str], run_every: usize) -> Vec<String> {
    let mut failures = Vec::new();
    let mut rng = Rng::new(seed);
    let mut rejected = 0;
    let mut timeouts = 0;
    let mut runs = 0;
    for case in 0..cases {
        let fx = Fixture::rich();
        let target = *rng.pick(targets);
        let original = RICH.iter().find(|(n, _)| *n == target).unwrap().1;
        let mut bytes = original.as_bytes().to_vec();
        // Mostly one edit, so that some inputs stay valid and reach the simulation.
        for _ in 0..[1, 1, 1, 2, 3][rng.below(5)] {
            mutate(&mut rng, &mut bytes);
        }
        fx.write_bytes(target, &bytes);
        let show = |what: &str, o: &Outcome| {
            format!(
                "fuzz seed {seed} case {case}: {what} on a mutated {target}:\n--- {target} ---\n{}\n{}",
                String::from_utf8_lossy(&bytes),
                o.describe()
            )
        };

        let v = karpsim_timeout(
            fx.root(),
            &["validate", "scenario.yaml"],
            Duration::from_secs(30),
        );
        if v.timed_out || !matches!(v.code, Some(0 | 2)) || v.stderr.contains("panicked") {
            failures.push(show("validate crashed or hung", &v));
            continue;
        }
        if v.code == Some(2) {
            // Every problem names its file and line (`error: FILE:LINE[:COL]: ...`), except a
            // file that has no lines to point at.
            let unlocated = v
                .stderr
                .lines()
                .filter(|l| l.starts_with("error: "))
                .find(|l| {
                    let mut parts = l["error: ".len()..].splitn(3, ':');
                    let located = parts.next().is_some()
                        && parts.next().is_some_and(|n| n.parse::<u64>().is_ok())
                        && parts.next().is_some();
                    !located
                        && !l.contains("the scenario file is empty")
                        && !l.contains("holds one YAML document")
                });
            if let Some(l) = unlocated {
                failures.push(show(&format!("an error names no line: {l}"), &v));
            }
            rejected += 1;
            if !v.stderr.contains("error") {
                failures.push(show("validate exited 2 without an error message", &v));
            }
        }
        // Every accepted input is simulated; rejected ones now and then (run must reject
        // them too, writing nothing).
        if v.code != Some(0) && case % run_every != 0 {
            continue;
        }
        runs += 1;
        let r = karpsim_timeout(
            fx.root(),
            &["run", "scenario.yaml", "--out", "out", "--quiet"],
            Duration::from_secs(10),
        );
        if r.timed_out {
            // A mutation can ask for a very long simulation (`duration: 9999999999h`); that is
            // not a crash. A kill can leave the staging folder, so stop checking this case.
            timeouts += 1;
            continue;
        }
        if !matches!(r.code, Some(0 | 2)) || r.stderr.contains("panicked") {
            failures.push(show("run crashed", &r));
        } else if r.code == Some(2) && (fx.path("out").exists() || !fx.staging_folders().is_empty())
        {
            failures.push(show("run failed but left a report or staging folder", &r));
        } else if r.code == Some(0) && !fx.path("out/summary.json").is_file() {
            failures.push(show("run succeeded without summary.json", &r));
        } else if r.code == Some(2) && v.code == Some(0) {
            failures.push(show("validate accepted what run rejected", &r));
        }
    }
    eprintln!(
        "fuzz seed {seed}: {cases} cases, {rejected} rejected by validate, {runs} runs, {timeouts} timed out"
    );
    failures
}

fn fuzz_cases(default: usize) -> usize {
    std::env::var("KARPSIM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fuzz_seed(default: u64) -> u64 {
    std::env::var("KARPSIM_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn assert_no_failures(failures: Vec<String>) {
    if !failures.is_empty() {
        let n = failures.len();
        let shown: Vec<String> = failures.into_iter().take(3).collect();
        panic!(
            "{n} fuzz failure(s); the first:\n\n{}",
            shown.join("\n\n=========\n\n")
        );
    }
}

#[test]
fn fuzzed_yaml_never_panics() {
    assert_no_failures(fuzz(
        fuzz_seed(1),
        fuzz_cases(300),
        &["scenario.yaml", "pools.yaml", "templates.yaml"],
        10,
    ));
}

#[test]
fn fuzzed_trace_never_panics() {
    assert_no_failures(fuzz(fuzz_seed(2), fuzz_cases(200), &["trace.csv"], 10));
}
