//! `karpsim generate` and `workload.generate` end to end (issue #5 part 8, contract section 3):
//! seeded traces that are the same for the same seed, load through the trace reader, and
//! simulate exactly as the CSV `karpsim generate` writes for them.

use std::path::{Path, PathBuf};

use crate::proc::{karpsim, ok};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The generators of the scenario below, as a `--spec` file holds them.
const GENERATORS: &str = "\
- {kind: diurnal, name: web, namespace: shop, replicas_min: 4, replicas_max: 16, peak_hour: 1, noise: 0.2, step: 5m, pod_lifetime: 40m}
- {kind: batch, name: etl, namespace: batch, rate_per_hour: 90, duration_median: 4m, duration_p90: 15m, cpu: '1', memory: 2Gi}
- {kind: burst, name: surge, pods: 25, at: 50m, pod_duration: 12m, cpu: 250m, memory: 512Mi}
";

/// A scratch folder with the quickstart NodePool, `gen.yaml` (the generators) and two
/// scenarios with the same name and seed: `generated.yaml` (workload.generate) and
/// `replayed.yaml` (workload.pods: trace.csv).
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let np = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/nodepools/default.yaml");
    std::fs::copy(&np, d.join("np.yaml")).unwrap();
    std::fs::write(d.join("gen.yaml"), GENERATORS).unwrap();
    let indented: String = GENERATORS.lines().map(|l| format!("    {l}\n")).collect();
    let head = "name: gen\nseed: 3\nduration: 90m\nnodepools: np.yaml\n";
    std::fs::write(
        d.join("generated.yaml"),
        format!("{head}workload:\n  generate:\n{indented}"),
    )
    .unwrap();
    std::fs::write(
        d.join("replayed.yaml"),
        format!("{head}workload:\n  pods: trace.csv\n"),
    )
    .unwrap();
    (dir, d)
}

/// The contract's promise: the trace `karpsim generate` writes is exactly what the scenario's
/// `workload.generate` simulates. The scenario run and the run of the written CSV give
/// byte-identical summary.json and pods.csv; `--spec` with the scenario's seed and duration
/// writes the same CSV as `--scenario`.
#[test]
fn the_written_trace_replays_exactly_as_the_scenario_simulates() {
    let (_tmp, d) = fixture();
    ok(
        &d,
        &[
            "generate",
            "--scenario",
            "generated.yaml",
            "-o",
            "trace.csv",
        ],
    );
    ok(
        &d,
        &[
            "generate",
            "--spec",
            "gen.yaml",
            "--seed",
            "3",
            "--duration",
            "90m",
            "-o",
            "spec.csv",
        ],
    );
    let trace = read(&d.join("trace.csv"));
    assert_eq!(trace, read(&d.join("spec.csv")));
    assert!(trace.lines().count() > 60, "{trace}");
    ok(&d, &["run", "generated.yaml", "--out", "a", "--quiet"]);
    ok(&d, &["run", "replayed.yaml", "--out", "b", "--quiet"]);
    for f in ["summary.json", "pods.csv", "nodes.csv"] {
        assert_eq!(
            read(&d.join("a").join(f)),
            read(&d.join("b").join(f)),
            "{f}"
        );
    }
    let s: serde_json::Value = serde_json::from_str(&read(&d.join("a/summary.json"))).unwrap();
    assert_eq!(
        s["pods"]["total"].as_u64().unwrap() as usize,
        trace.lines().count() - 1
    );
    assert!(
        s["cost"]["by_namespace"]["shop"].as_f64().unwrap() > 0.0,
        "{s}"
    );
    // The run seed is the generators' seed: another seed, another workload.
    ok(
        &d,
        &[
            "run",
            "generated.yaml",
            "--seed",
            "4",
            "--out",
            "c",
            "--quiet",
        ],
    );
    assert_ne!(read(&d.join("a/pods.csv")), read(&d.join("c/pods.csv")));
    // validate generates the trace and checks every row.
    let v = ok(&d, &["validate", "generated.yaml"]);
    assert!(
        v.stdout
            .contains(&format!("{} trace rows", trace.lines().count() - 1)),
        "{}",
        v.stdout
    );
}

/// Same seed, same CSV; another seed, another CSV; the CSV loads through the trace reader.
#[test]
fn the_same_seed_gives_the_same_trace() {
    let (_tmp, d) = fixture();
    let gen_with = |seed: &str, out: &str| {
        ok(
            &d,
            &[
                "generate",
                "--spec",
                "gen.yaml",
                "--seed",
                seed,
                "--duration",
                "6h",
                "-o",
                out,
            ],
        );
        read(&d.join(out))
    };
    let a = gen_with("1", "a.csv");
    let b = gen_with("1", "b.csv");
    let c = gen_with("2", "c.csv");
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Standard output gets the same bytes.
    let o = ok(
        &d,
        &[
            "generate",
            "--spec",
            "gen.yaml",
            "--seed",
            "1",
            "--duration",
            "6h",
        ],
    );
    assert_eq!(o.stdout, a);
    let rows: Vec<_> = karpsim::workload::TraceReader::open(&d.join("a.csv"), false)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), a.lines().count() - 1);
    assert!(rows.windows(2).all(|w| w[0].arrival_ms <= w[1].arrival_ms));
    let owners: std::collections::BTreeSet<_> =
        rows.iter().filter_map(|r| r.owner.clone()).collect();
    assert_eq!(
        owners.into_iter().collect::<Vec<_>>(),
        ["etl", "surge", "web"]
    );
}

/// `karpsim generate burst --pods 500 --at 1h` is 500 pods created at 3600 s, and the
/// subcommands take every parameter as a flag.
#[test]
fn the_subcommands_write_one_generator() {
    let (_tmp, d) = fixture();
    let o = ok(&d, &["generate", "burst", "--pods", "500", "--at", "1h"]);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "arrival,duration,namespace,owner,cpu,memory");
    assert_eq!(lines.len(), 501);
    assert!(
        lines[1..]
            .iter()
            .all(|l| *l == "3600,,default,burst,500m,1Gi"),
        "{}",
        lines[1]
    );
    let o = ok(
        &d,
        &[
            "generate",
            "batch",
            "--name",
            "etl",
            "--namespace",
            "jobs",
            "--rate-per-hour",
            "60",
            "--duration-median",
            "2m",
            "--duration-p90",
            "5m",
            "--start",
            "10m",
            "--end",
            "1h",
            "--cpu",
            "2",
            "--memory",
            "4Gi",
            "--priority",
            "-1",
            "--duration",
            "2h",
            "--seed",
            "9",
        ],
    );
    let rows: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(
        rows[0],
        "arrival,duration,namespace,owner,cpu,memory,priority"
    );
    assert!(rows.len() > 20, "{}", o.stdout);
    for r in &rows[1..] {
        let c: Vec<&str> = r.split(',').collect();
        let at: f64 = c[0].parse().unwrap();
        assert!((600.0..3600.0).contains(&at), "{r}");
        assert_eq!(&c[2..], ["jobs", "etl", "2", "4Gi", "-1"], "{r}");
    }
    let o = ok(
        &d,
        &[
            "generate",
            "diurnal",
            "--replicas-min",
            "3",
            "--replicas-max",
            "9",
            "--noise",
            "0",
            "--peak-hour",
            "0",
            "--duration",
            "1h",
        ],
    );
    // At the peak (time 0, no noise) the deployment starts with replicas-max pods.
    assert_eq!(o.stdout.lines().filter(|l| l.starts_with("0,")).count(), 9);
    let help = ok(&d, &["generate", "diurnal", "--help"]).stdout;
    for flag in [
        "--replicas-min",
        "--replicas-max",
        "--peak-hour",
        "--period",
        "--noise",
        "--step",
        "--pod-lifetime",
        "--cpu",
        "--memory",
        "--namespace",
        "--seed",
        "--duration",
        "[default: 10]",
    ] {
        assert!(help.contains(flag), "{flag} not in\n{help}");
    }
}

/// Bad generator input is exit 2 with the place and the closest name; nothing is written.
#[test]
fn bad_generators_are_located_errors() {
    let (_tmp, d) = fixture();
    std::fs::write(
        d.join("bad.yaml"),
        "name: gen\nduration: 1h\nnodepools: np.yaml\nworkload:\n  generate:\n    - kind: batch\n      rate_per_hr: 3\n",
    )
    .unwrap();
    for args in [
        &["run", "bad.yaml", "--out", "x"][..],
        &["validate", "bad.yaml"],
    ] {
        let o = karpsim(&d, args);
        assert_eq!(o.code, Some(2), "{args:?}\n{}", o.stderr);
        assert!(
            o.stderr.contains("bad.yaml:7:7: workload.generate[0].rate_per_hr: unknown field `rate_per_hr` (did you mean `rate_per_hour`?)"),
            "{}",
            o.stderr
        );
    }
    assert!(!d.join("x").exists());
    // A template the scenario does not have.
    std::fs::write(
        d.join("tpl.yaml"),
        "name: gen\nduration: 1h\nnodepools: np.yaml\nworkload:\n  generate:\n    - {kind: burst, template: web}\n",
    )
    .unwrap();
    let o = karpsim(&d, &["validate", "tpl.yaml"]);
    assert_eq!(o.code, Some(2));
    assert!(
        o.stderr
            .contains("tpl.yaml:6:31: workload.generate[0].template: template `web`"),
        "{}",
        o.stderr
    );
    // Flags: a bad value names its flag; diurnal and batch need a duration.
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "generate",
                "batch",
                "--duration-p90",
                "1m",
                "--duration",
                "1h",
            ],
            "--duration-p90: duration_p90 (1m0s) may not be below duration_median (10m0s)",
        ),
        (&["generate", "batch"], "--duration: required"),
        (&["generate", "burst", "--memory", "1Gb"], "--memory:"),
        (&["generate", "--spec", "nope.yaml"], "nope.yaml"),
        (&["generate"], "give a generator"),
    ];
    for (args, want) in cases {
        let o = karpsim(&d, args);
        assert_eq!(o.code, Some(2), "{args:?}\n{}", o.stderr);
        assert!(
            o.stderr.contains(want),
            "{args:?}: want {want:?}\n{}",
            o.stderr
        );
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}
