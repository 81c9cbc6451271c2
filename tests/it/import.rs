//! `karpsim import` end to end (contract section 2.3): the real Alibaba openb pod list (read from
//! ../shared, never copied into the project) and a hand-written `kubectl get pods -A -o json`
//! snapshot become traces that the trace reader loads and that scenarios simulate; every
//! mapping rule stated in `src/import.rs` is checked against the source values; bad inputs are
//! exit 2 errors naming the file and line, with nothing written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use karpsim::workload::TraceReader;

use crate::proc::{karpsim, ok};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn openb_source() -> PathBuf {
    repo("../shared/traces/openb_pod_list_default.csv")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A CSV file as header → cell maps.
fn csv_rows(p: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(p).unwrap();
    let h: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            h.iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn csv_text_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            h.iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// alibaba-openb
// ---------------------------------------------------------------------------------------------

// The whole real pod list: one row per pod that ran, in source order, each cell the stated
// function of the source cells; the summary's counts are the source's.
#[test]
fn openb_real_trace_keeps_every_pod_that_ran_with_its_source_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("openb.csv");
    let src = openb_source();
    let o = ok(
        dir.path(),
        &[
            "import",
            "alibaba-openb",
            src.to_str().unwrap(),
            "-o",
            "openb.csv",
        ],
    );
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    let source = csv_rows(&src);
    assert_eq!(source.len(), 8152);
    let ran: Vec<&BTreeMap<String, String>> = source
        .iter()
        .filter(|r| !r["scheduled_time"].is_empty())
        .collect();
    let never = source.len() - ran.len();
    assert_eq!(never, 897, "the README's Pending pods");
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), source.len() - never);
    assert!(
        o.stderr
            .contains(&format!("imported {} of the 8152 pods", rows.len())),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("skipped 897 pods never scheduled"),
        "{}",
        o.stderr
    );
    let last = source
        .iter()
        .map(|r| r["deletion_time"].parse::<u64>().unwrap())
        .max()
        .unwrap();
    let shared = ran
        .iter()
        .filter(|r| r["num_gpu"] != "0" && r["gpu_milli"].parse::<u64>().unwrap() < 1000)
        .count();
    let censored = ran
        .iter()
        .filter(|r| {
            r["pod_phase"] == "Running" && r["deletion_time"].parse::<u64>().unwrap() == last
        })
        .count();
    assert_eq!(censored, 34, "the README's cut-off Running pods");
    assert!(
        o.stderr
            .contains(&format!("{shared} pods asked for a share of a GPU")),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("34 pods still Running"), "{}", o.stderr);
    // Every row against its source pod.
    let mut seen = (0, 0, 0, 0); // (shared GPU, censored, 8 GPUs, CPU only)
    for (s, r) in ran.iter().zip(&rows) {
        let n = |k: &str| s[k].parse::<u64>().unwrap();
        assert_eq!(r["arrival"], s["creation_time"]);
        if s["pod_phase"] == "Running" && n("deletion_time") == last {
            assert_eq!(r["duration"], "");
            seen.1 += 1;
        } else {
            assert_eq!(
                r["duration"].parse::<u64>().unwrap(),
                n("deletion_time") - n("scheduled_time"),
                "{s:?}"
            );
        }
        assert_eq!(r["namespace"], "openb");
        assert_eq!(r["owner"], s["qos"].to_lowercase());
        let cpu = n("cpu_milli");
        let want_cpu = if cpu % 1000 == 0 {
            (cpu / 1000).to_string()
        } else {
            format!("{cpu}m")
        };
        assert_eq!(r["cpu"], want_cpu);
        assert_eq!(r["memory"], format!("{}Mi", s["memory_mib"]));
        assert_eq!(
            r["labels"],
            format!("qos={};openb-pod={}", s["qos"], s["name"])
        );
        assert_eq!(r["node_selector"], "", "gpu_spec is empty in this file");
        if n("num_gpu") == 0 {
            assert_eq!(r["gpu"], "");
            assert_eq!(r["tolerations"], "");
            seen.3 += 1;
        } else {
            assert_eq!(r["gpu"], s["num_gpu"]);
            assert_eq!(r["tolerations"], "nvidia.com/gpu:NoSchedule");
            if n("gpu_milli") < 1000 {
                assert_eq!(r["gpu"], "1", "a share of one GPU is one whole GPU");
                seen.0 += 1;
            }
            if n("num_gpu") == 8 {
                seen.2 += 1;
            }
        }
    }
    assert_eq!(seen.0, shared);
    assert_eq!(seen.1, 34);
    assert!(seen.2 > 0 && seen.3 > 0, "{seen:?}");
    // A few rows by name, against the file as printed in the trace's README.
    let by_name = |name: &str| {
        rows.iter()
            .find(|r| r["labels"].ends_with(&format!("openb-pod={name}")))
            .unwrap_or_else(|| panic!("{name} not imported"))
    };
    let p0 = by_name("openb-pod-0000");
    assert_eq!(
        (
            &p0["arrival"][..],
            &p0["duration"][..],
            &p0["cpu"][..],
            &p0["memory"][..],
            &p0["gpu"][..]
        ),
        ("0", "12537496", "12", "16384Mi", "1")
    );
    let p1 = by_name("openb-pod-0001");
    assert_eq!(
        (
            &p1["arrival"][..],
            &p1["duration"][..],
            &p1["cpu"][..],
            &p1["gpu"][..]
        ),
        ("427061", "", "6", "1"),
        "gpu_milli 460 → 1 GPU; Running until the cut"
    );
    // The trace reader loads it, with the values the rows say.
    let reader = TraceReader::open(&out, false).unwrap();
    let parsed: Vec<_> = reader.map(|r| r.unwrap()).collect();
    assert_eq!(parsed.len(), rows.len());
    assert_eq!(parsed[0].cpu_milli, Some(12_000));
    assert_eq!(parsed[0].memory_milli, Some(16_384 * 1_048_576 * 1000));
    assert_eq!(parsed[0].gpu, Some(1));
    assert_eq!(parsed[0].duration_ms, Some(12_537_496_000));
    assert_eq!(parsed[1].duration_ms, None);
    assert_eq!(parsed[1].arrival_ms, 427_061_000);
    assert_eq!(parsed[1].tolerations.len(), 1);
    assert!(
        parsed
            .windows(2)
            .all(|w| w[0].arrival_ms <= w[1].arrival_ms)
    );
}

/// The repository's GPU NodePool (g5/g6, tainted nvidia.com/gpu) next to the default one.
fn gpu_scenario(dir: &Path, trace: &str, duration: &str) -> PathBuf {
    let p = dir.join("s.yaml");
    std::fs::write(
        &p,
        format!(
            "name: imported\nseed: 3\nduration: {duration}\nnodepools:\n  - {}\n  - {}\nworkload:\n  pods: {trace}\n",
            repo("scenarios/nodepools/05-nodepool-gpu.yaml").display(),
            repo("scenarios/nodepools/default.yaml").display()
        ),
    )
    .unwrap();
    p
}

// Six hours of day 138 of the real trace (the pods alive at its start arrive at 0) run on the
// GPU and default NodePools: most pods are scheduled, and every GPU pod runs on a GPU node.
#[test]
fn openb_window_simulates_on_gpu_and_default_nodepools() {
    let dir = tempfile::tempdir().unwrap();
    let src = openb_source();
    let o = ok(
        dir.path(),
        &[
            "import",
            "alibaba-openb",
            src.to_str().unwrap(),
            "--from",
            "3312h",
            "--to",
            "3318h",
            "-o",
            "win.csv",
        ],
    );
    assert!(
        o.stderr.contains("that ended before --from"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("created at or after --to"),
        "{}",
        o.stderr
    );
    let rows = csv_rows(&dir.path().join("win.csv"));
    // The window's pods, counted from the source: alive at 3312h or created before 3318h.
    let (from, to) = (3312 * 3600u64, 3318 * 3600u64);
    let want = csv_rows(&src)
        .iter()
        .filter(|r| !r["scheduled_time"].is_empty())
        .filter(|r| {
            let c: u64 = r["creation_time"].parse().unwrap();
            let d: u64 = r["deletion_time"].parse().unwrap();
            c < to && !(c < from && d <= from)
        })
        .count();
    assert_eq!(rows.len(), want);
    assert!(rows.iter().any(|r| r["arrival"] == "0"));
    assert!(rows.iter().any(|r| r["arrival"] != "0"));
    let p = karpsim::cli::prepare(&gpu_scenario(dir.path(), "win.csv", "6h"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let (summary, rec) = karpsim::cli::simulate_in_memory(&p, &p.compiled.setup).unwrap();
    assert_eq!(summary.pods_total as usize, rows.len());
    assert!(
        summary.pods_scheduled * 10 >= summary.pods_total * 8,
        "{} of {} scheduled",
        summary.pods_scheduled,
        summary.pods_total
    );
    let pool: BTreeMap<&str, &str> = rec
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.nodepool.as_str()))
        .collect();
    let mut on_gpu = 0;
    for pr in &rec.pods {
        let Some(node) = &pr.node else { continue };
        let gpu = !rows[pr.id as usize]["gpu"].is_empty();
        assert_eq!(pool[node.as_str()] == "gpu", gpu, "{pr:?}");
        on_gpu += usize::from(gpu);
    }
    assert!(on_gpu > 0);
}

fn openb_file(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("pods.csv");
    std::fs::write(
        &p,
        format!("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n{body}"),
    )
    .unwrap();
    p
}

// The window, censoring and gpu_spec rules on a small hand-made pod list.
#[test]
fn openb_window_censoring_and_gpu_spec_rules() {
    let dir = tempfile::tempdir().unwrap();
    openb_file(
        dir.path(),
        "p-ended,1000,1024,0,0,,BE,Succeeded,0,50,0
p-alive,2500,2048,1,1000,T4,LS,Failed,10,400,20
p-late-start,1000,1024,1,500,V100M16|V100M32,LS,Running,90,300,150
p-pending,1000,1024,1,1000,,LS,Pending,120,130,
p-in,1000,1024,2,1000,G2,BE,Succeeded,200,260.5,201
p-mixed,1000,1024,1,1000,T4|A10,Guaranteed,Succeeded,250,1000,250
p-cut,1000,1024,1,1000,A10|P100,Burstable,Running,300,1000,301
p-after,1000,1024,0,0,,BE,Running,600,1000,600
",
    );
    let o = ok(
        dir.path(),
        &[
            "import",
            "alibaba-openb",
            "pods.csv",
            "--from",
            "100s",
            "--to",
            "10m",
        ],
    );
    let rows = csv_text_rows(&o.stdout);
    let cells = |r: &BTreeMap<String, String>| {
        format!(
            "{}|{}|{}|{}|{}|{}|{}|{}",
            r["arrival"],
            r["duration"],
            r["owner"],
            r["cpu"],
            r["gpu"],
            r["labels"],
            r["node_selector"],
            r["tolerations"]
        )
    };
    let got: Vec<String> = rows.iter().map(cells).collect();
    assert_eq!(
        got,
        [
            // Alive at 100 s, scheduled before: the rest of its run (400 − 100).
            "0|300|ls|2500m|1|qos=LS;openb-pod=p-alive|karpenter.k8s.aws/instance-gpu-name=t4|nvidia.com/gpu:NoSchedule",
            // Created before 100 s, scheduled after: its whole run (300 − 150); a GPU share.
            "0|150|ls|1|1|qos=LS;openb-pod=p-late-start|karpenter.k8s.aws/instance-gpu-name=v100|nvidia.com/gpu:NoSchedule",
            // In the window: shifted by 100 s; G2 has no EC2 counterpart.
            "100|59.5|be|1|2|qos=BE;openb-pod=p-in||nvidia.com/gpu:NoSchedule",
            // T4|A10 maps onto two EC2 names: dropped. Not Running, so not censored at 1000 s.
            "150|750|guaranteed|1|1|qos=Guaranteed;openb-pod=p-mixed||nvidia.com/gpu:NoSchedule",
            // Running until the file's last timestamp (1000 s): censored. P100 dropped, A10 kept.
            "200||burstable|1|1|qos=Burstable;openb-pod=p-cut|karpenter.k8s.aws/instance-gpu-name=a10g|nvidia.com/gpu:NoSchedule",
        ]
    );
    // The summary on stderr names every kind of row it skipped or changed.
    for want in [
        "imported 5 of the 8 pods",
        "skipped 1 pod never scheduled",
        "skipped 1 pod that ended before --from",
        "skipped 1 pod created at or after --to",
        "1 pod asked for a share of a GPU",
        "1 pod still Running",
        "3 pods with a gpu_spec select",
        "gpu_spec dropped for 2 pods (no single EC2 GPU matches): G2 (1), T4|A10 (1)",
    ] {
        assert!(o.stderr.contains(want), "{want}\n{}", o.stderr);
    }
}

// Bad cells, columns and files: exit 2 naming the file, line and column; the output file is
// never created (nor a pre-existing one touched).
#[test]
fn openb_bad_input_is_an_error_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.csv"), "old\n").unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "p0,1000,1024,0,0,,BE,Running,0,10,0\np1,lots,1024,0,0,,BE,Running,0,10,0\n",
            "pods.csv:3: column cpu_milli: `lots` is not a whole number",
        ),
        (
            "p0,1000,1024,0,0,,BE,Running,5,4,5\n",
            "pods.csv:2: column deletion_time: the pod is deleted (4 s) before it is created (5 s)",
        ),
        (
            "p0,1000,1024,0,0,,BE,Running,5,10,3\n",
            "pods.csv:2: column scheduled_time: the pod is scheduled (3 s) before it is created",
        ),
        (
            "p0,1000,1024,0,0,,BE,Runing,0,10,0\n",
            "pods.csv:2: column pod_phase: `Runing` is not a pod phase",
        ),
        (
            "p0,1000,1024,0,300,,BE,Running,0,10,0\n",
            "pods.csv:2: column gpu_milli: a share of 300 milli-GPU needs num_gpu",
        ),
        (
            "p0,1000,1024,1,1000,,BE,Running,-1,10,0\n",
            "pods.csv:2: column creation_time: `-1` is not a time",
        ),
        (
            "p0,1000,1024,1,1000,,BE,Running,0,10\n",
            "pods.csv:2: the row has 10 fields but the header names 11 columns",
        ),
    ];
    for (body, want) in cases {
        openb_file(dir.path(), body);
        for out in ["new.csv", "keep.csv"] {
            let o = karpsim(
                dir.path(),
                &["import", "alibaba-openb", "pods.csv", "-o", out],
            );
            assert_eq!(o.code, Some(2), "{body}\n{}", o.stderr);
            assert!(o.stderr.contains(want), "want {want}\ngot {}", o.stderr);
            assert!(!dir.path().join("new.csv").exists());
            assert_eq!(read(&dir.path().join("keep.csv")), "old\n");
        }
    }
    // Header problems.
    std::fs::write(
        dir.path().join("h.csv"),
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,qos,pod_phase,creation_time,deletion_time\n",
    )
    .unwrap();
    let o = karpsim(dir.path(), &["import", "alibaba-openb", "h.csv"]);
    assert_eq!(o.code, Some(2));
    assert!(
        o.stderr
            .contains("h.csv:1: missing column `scheduled_time`"),
        "{}",
        o.stderr
    );
    assert!(o.stdout.is_empty());
    std::fs::write(dir.path().join("h.csv"), "name,cpu_mili\n").unwrap();
    let o = karpsim(dir.path(), &["import", "alibaba-openb", "h.csv"]);
    assert_eq!(o.code, Some(2));
    assert!(
        o.stderr
            .contains("h.csv:1: unknown column `cpu_mili` (did you mean `cpu_milli`?)"),
        "{}",
        o.stderr
    );
    let o = karpsim(dir.path(), &["import", "alibaba-openb", "missing.csv"]);
    assert_eq!(o.code, Some(2));
    assert!(o.stderr.contains("missing.csv"), "{}", o.stderr);
    let o = karpsim(
        dir.path(),
        &[
            "import",
            "alibaba-openb",
            "h.csv",
            "--from",
            "2h",
            "--to",
            "1h",
        ],
    );
    assert_eq!(o.code, Some(2));
    assert!(
        o.stderr
            .contains("--to (1h) must be later than --from (2h)"),
        "{}",
        o.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// k8s
// ---------------------------------------------------------------------------------------------

fn fixture() -> PathBuf {
    repo("tests/fixtures/kubectl-pods.json")
}

// Every mapping rule on the fixture: skips, creation order, owner trimming, effective requests
// (init containers, overhead), admission-added tolerations dropped, do-not-disrupt, priority, and
// templates for what a row cannot say.
#[test]
fn k8s_snapshot_rows_follow_the_mapping_rules() {
    let dir = tempfile::tempdir().unwrap();
    let o = ok(
        dir.path(),
        &[
            "import",
            "k8s",
            fixture().to_str().unwrap(),
            "-o",
            "cluster.csv",
        ],
    );
    for want in [
        "imported 8 of the 12 pods",
        "skipped 1 pod in phase Succeeded",
        "skipped 1 pod in phase Failed",
        "skipped 1 DaemonSet pod (per-node overhead",
        "skipped 1 static (mirror) pod",
        "2 pods use 1 template written to",
        "pod anti-affinity (2)",
        "topology spread (2)",
        "other resources (2)",
    ] {
        assert!(o.stderr.contains(want), "want {want}\n{}", o.stderr);
    }
    let rows = csv_rows(&dir.path().join("cluster.csv"));
    let line = |r: &BTreeMap<String, String>| {
        karpsim::workload::TRACE_COLUMNS
            .iter()
            .map(|c| r[*c].as_str())
            .collect::<Vec<_>>()
            .join("|")
    };
    let got: Vec<String> = rows.iter().map(line).collect();
    assert_eq!(
        got,
        [
            // 2024-05-01T06:00 StatefulSet pod: GPU from its limit, priority, do-not-disrupt.
            "0||ml|trainer|4|16Gi|1||1000000|app=trainer;apps.kubernetes.io/pod-index=0;statefulset.kubernetes.io/pod-name=trainer-0||nvidia.com/gpu:NoSchedule|true",
            // 07:00 (twice, then by name): anti-affinity, spread and ephemeral-storage → template.
            "0||shop|api|1|2Gi||api|0|app=api;pod-template-hash=5c8d7f9b4|||",
            "0||shop|api|1|2Gi||api|0|app=api;pod-template-hash=5c8d7f9b4|||",
            // 08:00: two containers summed; ReplicaSet web-7d9f8c6b5 → web (pod-template-hash).
            "0||shop|web|500m|512Mi|||0|app=web;pod-template-hash=7d9f8c6b5|||",
            // 11:30: max(init 2 cpu / 1Gi, app 500m / 512Mi) + overhead 100m / 64Mi; the
            // ReplicaSet's hash-like suffix trimmed without a pod-template-hash label.
            "0||shop|migrator|2100m|1088Mi|||0|app=migrator|||",
            "0||shop|web|500m|512Mi|||0|app=web;pod-template-hash=7d9f8c6b5|||",
            // A Pending Job pod: node selector and its own toleration, not the default two.
            "0||analytics|report-28580400|2|4Gi|||0|batch.kubernetes.io/controller-uid=c2f1e0d9-7a6b-4c5d-8e9f-0a1b2c3d4e5f;batch.kubernetes.io/job-name=report-28580400;job-name=report-28580400|karpenter.sh/capacity-type=spot;workload=batch|dedicated=batch:NoSchedule|",
            // A bare pod without requests or owner; grace period 0 needs no template.
            "0||default||0|0|||||||",
        ]
    );
    // The templates file: next to the trace, loadable, with the scheduling fields only.
    let tpath = dir.path().join("cluster.templates.yaml");
    let text = read(&tpath);
    let tpls = karpsim::config::parse_templates(&text, &tpath).unwrap();
    assert_eq!(tpls.len(), 1);
    let api = &tpls[0];
    assert_eq!(api.name, "api");
    assert_eq!(
        api.spec.effective_requests()["ephemeral-storage"],
        1024 * 1_048_576 * 1000
    );
    let anti = api
        .spec
        .affinity
        .as_ref()
        .unwrap()
        .pod_anti_affinity
        .as_ref()
        .unwrap();
    assert_eq!(anti.required[0].topology_key, "kubernetes.io/hostname");
    assert_eq!(api.spec.topology_spread_constraints.len(), 1);
    assert_eq!(api.spec.node_name, None, "nodeName is dropped");
    assert!(
        api.spec.tolerations.is_empty(),
        "admission-added tolerations dropped"
    );
    for gone in ["image", "nodeName", "volumes", "dnsPolicy", "status"] {
        assert!(!text.contains(gone), "{gone} in\n{text}");
    }
    // The trace loads with its templates.
    let reader = TraceReader::open(&dir.path().join("cluster.csv"), true).unwrap();
    let parsed: Vec<_> = reader.map(|r| r.unwrap()).collect();
    assert_eq!(parsed.len(), 8);
    assert!(parsed[0].do_not_disrupt);
    assert_eq!(parsed[0].priority, Some(1_000_000));
    assert_eq!(parsed[4].cpu_milli, Some(2100));
}

// The imported snapshot simulates: the templated api pods spread over distinct nodes (their
// required anti-affinity), the GPU pod lands on the GPU pool, the plain pods are scheduled.
#[test]
fn k8s_snapshot_simulates_with_its_templates() {
    let dir = tempfile::tempdir().unwrap();
    ok(
        dir.path(),
        &[
            "import",
            "k8s",
            fixture().to_str().unwrap(),
            "-o",
            "cluster.csv",
            "--templates",
            "t.yaml",
        ],
    );
    assert!(!dir.path().join("cluster.templates.yaml").exists());
    let p = dir.path().join("s.yaml");
    std::fs::write(
        &p,
        format!(
            "name: snapshot\nseed: 1\nduration: 1h\nnodepools:\n  - {}\n  - {}\nworkload:\n  pods: cluster.csv\n  templates: t.yaml\n",
            repo("scenarios/nodepools/05-nodepool-gpu.yaml").display(),
            repo("scenarios/nodepools/default.yaml").display()
        ),
    )
    .unwrap();
    let p = karpsim::cli::prepare(&p).unwrap_or_else(|e| panic!("{e:?}"));
    let (summary, rec) = karpsim::cli::simulate_in_memory(&p, &p.compiled.setup).unwrap();
    assert_eq!(summary.pods_total, 8);
    let pool: BTreeMap<&str, &str> = rec
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.nodepool.as_str()))
        .collect();
    let node_of = |owner: &str| -> Vec<Option<String>> {
        rec.pods
            .iter()
            .filter(|p| p.owner == owner)
            .map(|p| p.node.clone())
            .collect()
    };
    let api = node_of("api");
    assert_eq!(api.len(), 2);
    assert!(api.iter().all(Option::is_some), "{api:?}");
    assert_ne!(api[0], api[1], "required anti-affinity on the hostname");
    let trainer = node_of("trainer");
    assert_eq!(pool[trainer[0].as_deref().unwrap()], "gpu");
    for owner in ["web", "migrator"] {
        assert!(node_of(owner).iter().all(Option::is_some), "{owner}");
    }
    // The spot/batch-labelled Job pod has no NodePool offering `workload=batch`.
    assert_eq!(node_of("report-28580400"), [None]);
}

// Standard output: works when no template is needed; an error (nothing printed) when one is
// and no --templates names a file.
#[test]
fn k8s_to_stdout_needs_a_templates_path_only_when_templates_are_needed() {
    let dir = tempfile::tempdir().unwrap();
    let o = karpsim(dir.path(), &["import", "k8s", fixture().to_str().unwrap()]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stdout.is_empty());
    assert!(
        o.stderr.contains("2 pods need a pod template"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("--templates FILE"), "{}", o.stderr);
    let o = ok(
        dir.path(),
        &[
            "import",
            "k8s",
            fixture().to_str().unwrap(),
            "--templates",
            "t.yaml",
        ],
    );
    assert_eq!(csv_text_rows(&o.stdout).len(), 8);
    assert!(read(&dir.path().join("t.yaml")).contains("- name: api"));
    // One plain pod: no template needed.
    let one = r#"{"apiVersion": "v1", "kind": "Pod",
      "metadata": {"name": "solo", "namespace": "tools"},
      "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1500m", "memory": "3Gi"}}}]},
      "status": {"phase": "Running"}}"#;
    std::fs::write(dir.path().join("one.json"), one).unwrap();
    let o = ok(dir.path(), &["import", "k8s", "one.json"]);
    assert_eq!(
        o.stdout,
        "arrival,duration,namespace,owner,cpu,memory,gpu,template,priority,labels,node_selector,tolerations,do_not_disrupt\n0,,tools,,1500m,3Gi,,,,,,,\n"
    );
}

// Bad JSON, a bad quantity, a non-Pod item: exit 2 with the file, line and field, and nothing
// written.
#[test]
fn k8s_bad_input_is_an_error_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let pod = |cpu: &str| {
        format!(
            r#"{{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {{
      "apiVersion": "v1",
      "kind": "Pod",
      "metadata": {{"name": "a", "namespace": "x"}},
      "spec": {{"containers": [{{"name": "c", "resources": {{"requests": {{"cpu": "{cpu}"}}}}}}]}}
    }}
  ]
}}"#
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (pod("lots"), "bad.json:9:"),
        (
            pod("1").replace("\"kind\": \"Pod\"", "\"kind\": \"Service\""),
            "bad.json:7:",
        ),
        (
            pod("1").replace("\"containers\"", "\"containerz\""),
            "unknown field `containerz` (did you mean `containers`?)",
        ),
        (
            "{\"kind\": \"List\", \"items\": [\n  {\"kind\": \"Pod\",, }\n]}".to_string(),
            "bad.json:2:",
        ),
    ];
    for (text, want) in &cases {
        std::fs::write(dir.path().join("bad.json"), text).unwrap();
        let o = karpsim(dir.path(), &["import", "k8s", "bad.json", "-o", "out.csv"]);
        assert_eq!(o.code, Some(2), "{text}\n{}", o.stderr);
        assert!(o.stderr.contains(want), "want {want}\ngot {}", o.stderr);
        assert!(!dir.path().join("out.csv").exists());
        assert!(!dir.path().join("out.templates.yaml").exists());
    }
    let o = karpsim(dir.path(), &["import", "k8s", "nope.json"]);
    assert_eq!(o.code, Some(2));
    assert!(o.stderr.contains("nope.json"), "{}", o.stderr);
    // The trace and its templates in one file: refused before anything is written.
    std::fs::copy(
        repo("tests/fixtures/kubectl-pods.json"),
        dir.path().join("pods.json"),
    )
    .unwrap();
    let o = karpsim(
        dir.path(),
        &[
            "import",
            "k8s",
            "pods.json",
            "-o",
            "same.csv",
            "--templates",
            "same.csv",
        ],
    );
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("the same file as -o"), "{}", o.stderr);
    assert!(!dir.path().join("same.csv").exists());
}

// `karpsim import` without a source is a usage error listing both; --help states the rules.
#[test]
fn import_usage_and_help() {
    let here = repo(".");
    let o = karpsim(&here, &["import"]);
    assert_eq!(o.code, Some(2));
    assert!(
        o.stderr.contains("alibaba-openb") && o.stderr.contains("k8s"),
        "{}",
        o.stderr
    );
    let o = ok(&here, &["import", "alibaba-openb", "--help"]);
    for want in [
        "scheduled_time",
        "gpu_milli",
        "instance-gpu-name",
        "--from",
        "--to",
    ] {
        assert!(o.stdout.contains(want), "{want}\n{}", o.stdout);
    }
    let o = ok(&here, &["import", "k8s", "--help"]);
    for want in ["DaemonSet", "--templates", "init containers"] {
        assert!(o.stdout.contains(want), "{want}\n{}", o.stdout);
    }
}
