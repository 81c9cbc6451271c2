//! `karpsim explain` end to end (issue #5 part 5), and the rule that nothing but results is
//! printed when the output is not a terminal (part 6): the real binary runs a small burst
//! scenario (three web pods, then sixteen batch pods that end one by one, so Karpenter
//! launches for the burst and consolidates afterwards), and `explain` must name what
//! decisions.jsonl recorded around a given time.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_karpsim");

/// One on-demand NodePool of m5.large/xlarge/2xlarge that consolidates underutilized nodes
/// 30 s after their last pod event, and a variant that only removes empty nodes.
fn write_scenario(dir: &Path) -> PathBuf {
    let pool = crate::nodepool_yaml(
        "burst",
        "default",
        &crate::types_and_caps("m5.large, m5.xlarge, m5.2xlarge", "on-demand"),
        "",
        "  disruption:\n    consolidationPolicy: WhenEmptyOrUnderutilized\n    consolidateAfter: 30s\n",
    );
    std::fs::write(
        dir.join("np.yaml"),
        format!("{}---\n{pool}", crate::NODECLASS),
    )
    .unwrap();
    let mut trace = String::from("arrival,duration,namespace,owner,cpu,memory\n");
    for _ in 0..3 {
        trace.push_str("10,,web,web,500m,512Mi\n");
    }
    for i in 0..16 {
        trace.push_str(&format!("60,{},batch,job,1,1Gi\n", 300 + 30 * i));
    }
    std::fs::write(dir.join("trace.csv"), trace).unwrap();
    let path = dir.join("s.yaml");
    std::fs::write(
        &path,
        "name: burst\nseed: 3\nduration: 1h\nstart: 2024-03-04T05:00:00Z\nnodepools: np.yaml\n\
         workload: {pods: trace.csv}\nvariants:\n  - name: when-empty\n    nodepools:\n      \
         - {name: burst, set: {spec.disruption.consolidationPolicy: WhenEmpty}}\n",
    )
    .unwrap();
    path
}

/// Runs karpsim with stdin closed and stdout/stderr piped (so neither is a terminal).
fn karpsim(cwd: &Path, args: &[&str]) -> Output {
    let o = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("running karpsim");
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("panicked"),
        "karpsim {args:?} panicked: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A temporary folder with the scenario run into `report/`; the run must print nothing on
/// stderr (no progress bar when stderr is not a terminal).
fn report() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    write_scenario(tmp.path());
    let o = karpsim(tmp.path(), &["run", "s.yaml", "--out", "report"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr),
        "",
        "run wrote to stderr without a terminal"
    );
    let dir = tmp.path().join("report");
    (tmp, dir)
}

fn decisions(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("decisions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn explain(dir: &Path, at: &str, window: &str) -> Output {
    let d = dir.to_str().unwrap();
    karpsim(dir, &["explain", d, "--at", at, "--window", window])
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_default()
}

#[test]
fn explain_names_the_nodepool_offering_and_pending_pods_of_a_launch() {
    let (_tmp, dir) = report();
    let ds = decisions(&dir);
    // The burst's pass: the provisioning pass that created the most NodeClaims.
    let pass = ds
        .iter()
        .filter(|d| s(d, "kind") == "provisioning-pass")
        .max_by_key(|d| d["nodeclaims_created"].as_array().map_or(0, Vec::len))
        .expect("a provisioning pass");
    let created: Vec<&str> = pass["nodeclaims_created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(created.len() >= 2, "the burst needs several nodes: {pass}");
    let at = pass["time"].as_f64().unwrap().to_string();
    let o = explain(&dir, &at, "1m");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains(&format!(
            "{} pods were pending",
            pass["pending_pods"].as_u64().unwrap()
        )),
        "{out}"
    );
    for nc in &created {
        let launch = ds
            .iter()
            .find(|d| s(d, "kind") == "launch" && s(d, "nodeclaim") == *nc)
            .expect("its launch");
        let c = &launch["chosen"];
        let line = format!(
            "**{nc}** launched at {}: NodePool `{}` → **{}** in {}, {}, ${:.4}/h",
            karpsim::explain::format_clock(
                (launch["time"].as_f64().unwrap() * 1000.0).round() as u64
            ),
            s(launch, "nodepool"),
            s(c, "instance_type"),
            s(c, "zone"),
            s(c, "capacity_type"),
            c["price_per_hour"].as_f64().unwrap()
        );
        assert!(out.contains(&line), "missing `{line}` in\n{out}");
        let pods = launch["pods"].as_array().unwrap();
        let first = pods[0].as_str().unwrap();
        let want = format!("for {} pending pods (namespace batch): {first}", pods.len());
        assert!(out.contains(&want), "missing `{want}` in\n{out}");
    }
}

#[test]
fn explain_names_the_consolidated_node_and_why() {
    let (_tmp, dir) = report();
    let ds = decisions(&dir);
    let cmd = ds
        .iter()
        .find(|d| s(d, "kind") == "disruption" && s(d, "reason") == "Underutilized")
        .expect("the scenario consolidates an underutilized node");
    let node = cmd["nodes"][0].as_str().unwrap();
    let at_ms = (cmd["time"].as_f64().unwrap() * 1000.0).round() as u64;
    let o = explain(&dir, &karpsim::explain::format_clock(at_ms), "2m");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let method = match s(cmd, "method") {
        "single-node" => "single-node consolidation",
        "multi-node" => "multi-node consolidation",
        m => panic!("unexpected method {m}"),
    };
    let heading = format!("{method} (Underutilized): {} {node}", s(cmd, "decision"));
    assert!(out.contains(&heading), "missing `{heading}` in\n{out}");
    // nodes.csv says how and why the node ended.
    let nodes = std::fs::read_to_string(dir.join("nodes.csv")).unwrap();
    let row: Vec<&str> = nodes
        .lines()
        .find(|l| l.starts_with(&format!("{node},")))
        .unwrap()
        .split(',')
        .collect();
    let reason = row[9];
    assert_eq!(reason, "underutilized");
    assert!(
        out.contains(&format!("removed **{node}** ({} {}", row[1], row[2])),
        "{out}"
    );
    assert!(out.contains(&format!("({reason})")), "{out}");
    assert!(out.contains("## Scale-down: disruption"), "{out}");
}

#[test]
fn every_time_form_gives_the_same_view() {
    let (_tmp, dir) = report();
    // 00:12:35 is 755 s, 12m35s, and 05:12:35 on the scenario's start day.
    let forms = [
        "00:12:35",
        "755",
        "12m35s",
        "0d00:12:35",
        "2024-03-04T05:12:35Z",
    ];
    let views: Vec<String> = forms
        .iter()
        .map(|at| {
            let o = explain(&dir, at, "10m");
            assert_eq!(o.status.code(), Some(0), "--at {at}: {}", text(&o.stderr));
            // Only the line echoing `--at` may differ.
            text(&o.stdout)
                .lines()
                .filter(|l| !l.contains("--at"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    for (f, v) in forms.iter().zip(&views) {
        assert_eq!(v, &views[0], "--at {f} differs from --at {}", forms[0]);
    }
    assert!(views[0].contains("around 00:12:35"), "{}", views[0]);
}

#[test]
fn a_quiet_window_says_nothing_changed() {
    let (_tmp, dir) = report();
    let o = explain(&dir, "00:45", "1m");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("No provisioning or disruption decision in this window"),
        "{out}"
    );
    assert!(out.contains("Nearest decision before"), "{out}");
}

#[test]
fn bad_at_window_and_folders_exit_2_naming_the_argument() {
    let (tmp, dir) = report();
    for (at, window, needle) in [
        ("02:61", "10m", "--at `02:61`"),
        ("soon", "10m", "--at `soon`"),
        ("2:00", "10m", "after the end of the run"),
        ("2024-03-04T04:00:00Z", "10m", "before the scenario's start"),
        ("00:10", "ten", "--window `ten`"),
    ] {
        let o = explain(&dir, at, window);
        assert_eq!(o.status.code(), Some(2), "--at {at} --window {window}");
        let err = text(&o.stderr);
        assert!(err.contains(needle), "--at {at}: {err}");
        assert!(o.stdout.is_empty(), "--at {at} printed a view");
    }
    let missing = tmp.path().join("no-such-report");
    let o = karpsim(
        tmp.path(),
        &["explain", missing.to_str().unwrap(), "--at", "00:10"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("no-such-report"),
        "{}",
        text(&o.stderr)
    );
    // A folder that is not a report names the file that is missing.
    let o = karpsim(tmp.path(), &["explain", ".", "--at", "00:10"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("summary.json is missing"),
        "{}",
        text(&o.stderr)
    );
    // A broken decisions.jsonl names the file and line.
    let mut d = std::fs::read_to_string(dir.join("decisions.jsonl")).unwrap();
    d.push_str("{\"time\": 700, oops\n");
    std::fs::write(dir.join("decisions.jsonl"), d).unwrap();
    let o = explain(&dir, "3599", "1s");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("decisions.jsonl:"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn compare_prints_only_results_without_a_terminal_and_explain_points_into_its_runs() {
    let tmp = tempfile::tempdir().unwrap();
    write_scenario(tmp.path());
    let o = karpsim(tmp.path(), &["compare", "s.yaml", "--out", "cmp"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr),
        "",
        "compare wrote to stderr without a terminal"
    );
    assert!(text(&o.stdout).starts_with("# karpsim compare: burst"));
    // --quiet: nothing at all.
    let o = karpsim(tmp.path(), &["run", "s.yaml", "--out", "q", "--quiet"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty() && o.stderr.is_empty());
    // The comparison folder is not a report; each run's folder is.
    let o = karpsim(tmp.path(), &["explain", "cmp", "--at", "00:01"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("`karpsim compare` folder") && err.contains("when-empty"),
        "{err}"
    );
    let o = karpsim(tmp.path(), &["explain", "cmp/when-empty", "--at", "00:01"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("NodePool `burst`"));
}

/// On a terminal (a pseudo-terminal from util-linux `script`, which Debian always has) the run
/// draws its bar on stderr, with the simulated time against the horizon and the event count;
/// `--quiet` draws nothing and prints nothing.
#[test]
fn a_terminal_gets_a_progress_bar_unless_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    write_scenario(tmp.path());
    let in_pty = |args: &str| {
        let o = Command::new("script")
            .args(["-qec", &format!("'{BIN}' {args}"), "/dev/null"])
            .current_dir(tmp.path())
            .stdin(Stdio::null())
            .output()
            .expect("util-linux `script` runs karpsim on a pseudo-terminal");
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    let shown = in_pty("run s.yaml --out a");
    assert!(
        shown.contains("01:00:00 / 01:00:00"),
        "no bar drawn: {shown:?}"
    );
    assert!(shown.contains(" events"), "{shown:?}");
    assert!(shown.contains("burst: $"), "no results: {shown:?}");
    let quiet = in_pty("run s.yaml --out b --quiet");
    assert_eq!(quiet, "", "--quiet printed on a terminal");
}

/// A window with more decisions than the view keeps in memory explains the first ones and
/// counts the rest, saying so.
#[test]
fn a_crowded_window_is_read_in_bounded_memory_and_says_what_it_only_counted() {
    let (_tmp, dir) = report();
    let path = dir.join("decisions.jsonl");
    let mut d = std::fs::read_to_string(&path).unwrap();
    let line = "{\"time\":3000.5,\"kind\":\"provisioning-skipped\",\"reason\":\"cluster state not synced\",\"unlaunched_nodeclaims\":1}\n";
    d.push_str(&line.repeat(60_000));
    std::fs::write(&path, d).unwrap();
    let o = explain(&dir, "3000", "10s");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("more than 50000 decisions") && out.contains("`provisioning-skipped` ×10000"),
        "{out}"
    );
    assert!(out.contains("Provisioning skipped 50000 times"), "{out}");
}

/// A pod no instance type can hold fails every provisioning pass: the view names the pod and
/// the scheduler's reason once, with how often the same fruitless pass repeated.
#[test]
fn an_unschedulable_pod_is_named_once_with_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    write_scenario(tmp.path());
    std::fs::write(
        tmp.path().join("trace.csv"),
        "arrival,duration,namespace,owner,cpu,memory\n10,,web,huge,500,1Gi\n",
    )
    .unwrap();
    let o = karpsim(tmp.path(), &["run", "s.yaml", "--out", "r", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let dir = tmp.path().join("r");
    let passes = decisions(&dir)
        .iter()
        .filter(|d| s(d, "kind") == "provisioning-pass" && d["time"].as_f64().unwrap() <= 360.0)
        .count();
    assert!(passes > 2, "the pod should be retried: {passes} passes");
    let out = text(&explain(&dir, "00:03", "6m").stdout);
    assert_eq!(
        out.matches("could not schedule `huge-0`: ").count(),
        1,
        "{out}"
    );
    assert!(
        out.contains("no instance type has enough resources"),
        "{out}"
    );
    assert!(
        out.contains(&format!("(and {} more like it", passes - 1)),
        "{out}"
    );
}
