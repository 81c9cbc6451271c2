//! `karpsim sweep` and `karpsim merge` end to end (issue #5 part 7): the grid's rows, their
//! independence from the number of jobs, shards merged back into exactly the unsharded
//! sweep.csv, and the merge's refusal of parts that do not make one whole grid.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::proc::{karpsim, ok};

/// A scratch folder with a small scenario (30 minutes of generated batch jobs and a burst on
/// the quickstart NodePool): each run takes a fraction of a second.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let np = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/nodepools/default.yaml");
    std::fs::copy(&np, dir.path().join("np.yaml")).unwrap();
    let s = dir.path().join("s.yaml");
    std::fs::write(
        &s,
        "name: tiny\nseed: 1\nduration: 30m\nnodepools: np.yaml\nworkload:\n  generate:\n    \
         - {kind: batch, name: jobs, rate_per_hour: 240, duration_median: 3m, duration_p90: 10m, cpu: '1', memory: 2Gi}\n    \
         - {kind: burst, name: surge, pods: 20, at: 5m, pod_duration: 10m}\n",
    )
    .unwrap();
    (dir, s)
}

const POLICY: &str = "nodepools.default.spec.disruption.consolidationPolicy";

fn grid_args<'a>(s: &'a str, policy_set: &'a str) -> Vec<&'a str> {
    vec![
        "sweep",
        s,
        "--set",
        "seed=1,2,3",
        "--set",
        policy_set,
        "--quiet",
    ]
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The unsharded sweep with one job and with two give the same file byte for byte; shards 1/2
/// and 2/2 merged give exactly that file; and the rows are the grid in order (the last `--set`
/// varying fastest) with figures that really differ between the policies.
#[test]
fn shards_merge_into_exactly_the_unsharded_sweep_whatever_the_jobs() {
    let (dir, s) = fixture();
    let d = dir.path();
    let s = s.to_str().unwrap();
    let policy_set = format!("{POLICY}=WhenEmpty,WhenEmptyOrUnderutilized");
    let run = |extra: &[&str]| {
        let mut a = grid_args(s, &policy_set);
        a.extend_from_slice(extra);
        ok(d, &a);
    };
    run(&["--jobs", "1", "--out", "one"]);
    run(&["--jobs", "2", "--out", "two"]);
    run(&["--shard", "1/2", "--out", "parts"]);
    run(&["--shard", "2/2", "--out", "parts", "--jobs", "1"]);
    let one = read(&d.join("one/sweep.csv"));
    assert_eq!(one, read(&d.join("two/sweep.csv")), "--jobs 1 vs --jobs 2");
    ok(
        d,
        &[
            "merge",
            "parts/sweep-part-2-of-2.csv",
            "parts/sweep-part-1-of-2.csv",
            "-o",
            "merged.csv",
        ],
    );
    assert_eq!(
        read(&d.join("merged.csv")),
        one,
        "merged shards vs unsharded"
    );

    let lines: Vec<&str> = one.lines().collect();
    assert_eq!(lines.len(), 7, "{one}");
    assert!(
        lines[0].starts_with(&format!("run,seed,{POLICY},cost.total,cost.on_demand,")),
        "{}",
        lines[0]
    );
    let cells: Vec<Vec<&str>> = lines[1..].iter().map(|l| l.split(',').collect()).collect();
    let keys: Vec<(&str, &str, &str)> = cells.iter().map(|c| (c[0], c[1], c[2])).collect();
    assert_eq!(
        keys,
        [
            ("0", "1", "WhenEmpty"),
            ("1", "1", "WhenEmptyOrUnderutilized"),
            ("2", "2", "WhenEmpty"),
            ("3", "2", "WhenEmptyOrUnderutilized"),
            ("4", "3", "WhenEmpty"),
            ("5", "3", "WhenEmptyOrUnderutilized"),
        ]
    );
    // The points really are different runs: WhenEmpty never consolidates underutilized nodes,
    // and the seeds give different workloads (different costs).
    let col = |name: &str| lines[0].split(',').position(|h| h == name).unwrap();
    let under = col("nodes.terminated_by_reason.underutilized");
    for c in &cells {
        if c[2] == "WhenEmpty" {
            assert_eq!(c[under], "0", "{c:?}");
        }
    }
    assert!(cells.iter().any(|c| c[under] != "0"), "{one}");
    let cost = col("cost.total");
    let costs: std::collections::BTreeSet<&str> = cells.iter().map(|c| c[cost]).collect();
    assert!(costs.len() >= 4, "{one}");
}

/// A sweep's row is the run of that point: with --keep-reports each run's summary.json holds the
/// row's figures, and `karpsim run` of the same scenario with that seed gives the same cost.
#[test]
fn a_row_is_the_run_of_its_point() {
    let (dir, s) = fixture();
    let d = dir.path();
    let s = s.to_str().unwrap();
    ok(
        d,
        &[
            "sweep",
            s,
            "--set",
            "seed=4,5",
            "--keep-reports",
            "--out",
            "k",
            "--quiet",
        ],
    );
    let csv = read(&d.join("k/sweep.csv"));
    let lines: Vec<&str> = csv.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for (i, seed) in [(0, "4"), (1, "5")] {
        let row: Vec<&str> = lines[1 + i].split(',').collect();
        let sj: serde_json::Value =
            serde_json::from_str(&read(&d.join(format!("k/run-{i}/summary.json")))).unwrap();
        assert_eq!(sj["seed"].to_string(), seed);
        assert_eq!(sj["cost"]["total"].to_string(), row[at("cost.total")]);
        assert_eq!(
            sj["nodes"]["launched"].to_string(),
            row[at("nodes.launched")]
        );
        ok(d, &["run", s, "--seed", seed, "--out", "single", "--quiet"]);
        let single: serde_json::Value =
            serde_json::from_str(&read(&d.join("single/summary.json"))).unwrap();
        assert_eq!(single["cost"], sj["cost"], "seed {seed}");
    }
}

/// `merge` refuses a missing shard, a shard given twice, a truncated part and parts of
/// different grids, with exit code 2 and no output file.
#[test]
fn merge_rejects_parts_that_are_not_one_whole_grid() {
    let (dir, s) = fixture();
    let d = dir.path();
    let s = s.to_str().unwrap();
    for shard in ["1/2", "2/2"] {
        ok(
            d,
            &[
                "sweep",
                s,
                "--set",
                "seed=1,2,3",
                "--shard",
                shard,
                "--out",
                "a",
                "--quiet",
            ],
        );
    }
    // Another grid (other values), shard 2/2.
    ok(
        d,
        &[
            "sweep",
            s,
            "--set",
            "seed=1,2,4",
            "--shard",
            "2/2",
            "--out",
            "b",
            "--quiet",
        ],
    );
    let p1 = "a/sweep-part-1-of-2.csv";
    let p2 = "a/sweep-part-2-of-2.csv";
    // A part cut short: shard 1/2 of 3 runs holds runs 0 and 2; drop the last row.
    let text = read(&d.join(p1));
    let cut: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(d.join("cut.csv"), cut).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&[p1], "missing shard(s) 2/2"),
        (&[p1, p1, p2], "are both shard 1/2"),
        (
            &[p1, "b/sweep-part-2-of-2.csv"],
            "belong to different grids",
        ),
        (&["cut.csv", p2], "should hold 2 runs but holds 1"),
        (&["s.yaml"], "not a sweep part file"),
    ];
    for (parts, want) in cases {
        let mut args = vec!["merge"];
        args.extend_from_slice(parts);
        args.extend_from_slice(&["-o", "out.csv"]);
        let o = karpsim(d, &args);
        assert_eq!(o.code, Some(2), "{parts:?}\n{}", o.stderr);
        assert!(
            o.stderr.contains(want),
            "{parts:?}: want {want:?}\n{}",
            o.stderr
        );
        assert!(!d.join("out.csv").exists(), "{parts:?} wrote out.csv");
    }
    ok(d, &["merge", p1, p2, "-o", "out.csv"]);
    assert_eq!(read(&d.join("out.csv")).lines().count(), 4);
}

/// A bad `--set` key exits 2 naming the closest valid key (scenario keys, fields inside a
/// section, NodePool names and NodePool fields alike), and writes nothing.
#[test]
fn a_bad_set_key_names_the_closest_key() {
    let (dir, s) = fixture();
    let d = dir.path();
    let s = s.to_str().unwrap();
    let cases = [
        ("sed=1,2", "did you mean `seed`?"),
        (
            "interruptions.rate_multipler=1,3",
            "did you mean `rate_multiplier`?",
        ),
        ("nodepools.defualt.spec.weight=1", "did you mean `default`?"),
        (
            "nodepools.default.spec.disruption.consolidationPolicyy=WhenEmpty",
            "did you mean `consolidationPolicy`?",
        ),
        (
            "workload.generate[0].rate_per_hr=10",
            "did you mean `rate_per_hour`?",
        ),
        ("seed=1,1", "given twice"),
    ];
    for (set, want) in cases {
        let o = karpsim(d, &["sweep", s, "--set", set, "--out", "bad"]);
        assert_eq!(o.code, Some(2), "{set}\n{}", o.stderr);
        assert!(
            o.stderr.contains(want),
            "{set}: want {want:?}\n{}",
            o.stderr
        );
        assert_eq!(
            o.stderr.lines().count(),
            1,
            "{set}: one error\n{}",
            o.stderr
        );
        assert!(!d.join("bad").exists(), "{set}: wrote output");
    }
    // Usage errors.
    for args in [
        &["sweep", s][..],
        &["sweep", s, "--set", "seed=1", "--shard", "3/2"],
        &["sweep", s, "--set", "seed=1", "--jobs", "0"],
    ] {
        let o = karpsim(d, args);
        assert_eq!(o.code, Some(2), "{args:?}\n{}", o.stderr);
    }
    assert!(
        karpsim(d, &["sweep", "--help"])
            .stdout
            .contains("--shard <I/N>")
    );
}

/// The shipped Kubernetes Indexed Job runs shard JOB_COMPLETION_INDEX+1 of N with N equal to
/// its completions.
#[test]
fn the_indexed_job_example_runs_every_shard_once() {
    let text = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sweep-indexed-job.yaml"));
    let doc: serde_json::Value =
        serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(&text).expect("valid YAML"))
            .unwrap();
    assert_eq!(doc["apiVersion"], "batch/v1");
    assert_eq!(doc["kind"], "Job");
    assert_eq!(doc["spec"]["completionMode"], "Indexed");
    let n = doc["spec"]["completions"].as_u64().unwrap();
    let container = &doc["spec"]["template"]["spec"]["containers"][0];
    let script = container["args"][0].as_str().unwrap();
    assert!(script.contains("karpsim sweep "), "{script}");
    assert!(
        script.contains("--shard \"$((JOB_COMPLETION_INDEX + 1))/$SHARDS\""),
        "{script}"
    );
    assert!(script.contains("--out /results"), "{script}");
    // Its keys and values are valid for the scenario it suggests.
    let sets: Vec<String> = script
        .split("--set ")
        .skip(1)
        .map(|s| s.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(sets.len(), 3, "{script}");
    let base = karpsim::cli::prepare(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/generated.yaml"),
    )
    .unwrap();
    let grid = karpsim::sweep::build_grid(&sets, &base.loaded).unwrap();
    assert_eq!(grid.len(), 48);
    for axis in &grid.axes {
        for (text, v) in &axis.values {
            karpsim::sweep::prepare_point(&base, &base.loaded.path, &[(axis, v)])
                .unwrap_or_else(|e| panic!("{}={text}: {e:?}", axis.key));
        }
    }
    let env = container["env"].as_array().unwrap();
    let shards = env.iter().find(|e| e["name"] == "SHARDS").unwrap();
    assert_eq!(shards["value"], n.to_string());
    // The script as the container's shell runs it, with a stand-in karpsim that records its
    // arguments: pod i runs shard i+1 of N.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("karpsim");
    std::fs::write(&fake, "#!/bin/sh\necho \"$@\" > \"$ARGS_FILE\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for index in 0..n {
        let args_file = dir.path().join(format!("args-{index}"));
        let status = Command::new("/bin/sh")
            .args(["-c", script])
            .env("PATH", &path)
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .env("SHARDS", shards["value"].as_str().unwrap())
            .env("ARGS_FILE", &args_file)
            .status()
            .unwrap();
        assert!(status.success());
        let args = read(&args_file);
        assert!(
            args.contains(&format!("--shard {}/{n} ", index + 1)),
            "pod {index}: {args}"
        );
    }
}
