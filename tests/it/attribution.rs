//! Cost attribution (issue #5, part 4): node cost split over pods by their requests at
//! OpenCost's default vCPU/GiB/GPU proportions, DaemonSet pods charged in their namespaces, and
//! the rest as `(idle)`. Whatever the scenario, the lines add up to `cost.total` to the cent.

use karpsim::attribution::{AttributionRow, IDLE, Rates};
use karpsim::engine::{MemoryRecorder, RunSummary};
use std::path::Path;

const NODECLASS: &str = super::NODECLASS;

const DAEMONSETS: &str = "apiVersion: apps/v1
kind: DaemonSet
metadata: {name: aws-node, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: aws-node}}
  template:
    metadata: {labels: {k8s-app: aws-node}}
    spec:
      tolerations: [{operator: Exists}]
      containers: [{name: c, resources: {requests: {cpu: 25m}}}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: log-agent, namespace: observability}
spec:
  selector: {matchLabels: {app: log-agent}}
  template:
    metadata: {labels: {app: log-agent}}
    spec:
      containers: [{name: c, resources: {requests: {cpu: 100m, memory: 128Mi}}}]
";

/// Evicted pods of this template shut down for 60 s on their node (still charged to it).
const TEMPLATES: &str = "- name: slow-stop
  spec:
    terminationGracePeriodSeconds: 60
    containers: [{name: c, resources: {requests: {cpu: 500m, memory: 1Gi}}}]
";

/// Writes a scenario (NodePool file, DaemonSets, templates, trace) into `dir` and runs it.
fn run(dir: &Path, pool_types: &str, trace: &str, extra: &str) -> (RunSummary, MemoryRecorder) {
    let pool = super::nodepool_yaml(
        "general",
        "default",
        &super::types_and_caps(pool_types, "on-demand"),
        "",
        "  disruption: {consolidationPolicy: WhenEmptyOrUnderutilized, consolidateAfter: 30s}\n",
    );
    std::fs::write(dir.join("np.yaml"), format!("{NODECLASS}---\n{pool}")).unwrap();
    std::fs::write(dir.join("ds.yaml"), DAEMONSETS).unwrap();
    std::fs::write(dir.join("templates.yaml"), TEMPLATES).unwrap();
    std::fs::write(dir.join("trace.csv"), trace).unwrap();
    let path = dir.join("s.yaml");
    std::fs::write(
        &path,
        format!(
            "name: attribution\nseed: 3\nduration: 2h\nnodepools: np.yaml\n\
             workload: {{pods: trace.csv, daemonsets: ds.yaml, templates: templates.yaml}}\n{extra}"
        ),
    )
    .unwrap();
    let p = karpsim::cli::prepare(&path).unwrap_or_else(|e| panic!("prepare failed: {e:?}"));
    karpsim::cli::simulate_in_memory(&p, &p.compiled.setup).unwrap()
}

/// The sums every run must satisfy: namespaces + (idle) = owners = rows = total,
/// to the cent, in memory and as summary.json rounds them; no line is negative.
fn assert_adds_up(s: &RunSummary, rows: &[AttributionRow]) {
    let total = s.cost_total;
    assert!(total > 0.0);
    for (what, sum) in [
        (
            "cost.by_namespace",
            s.cost_by_namespace.values().sum::<f64>(),
        ),
        ("cost.by_owner", s.cost_by_owner.values().sum::<f64>()),
        ("attribution rows", rows.iter().map(|r| r.cost).sum::<f64>()),
    ] {
        assert!(
            (sum - total).abs() < 0.005,
            "{what} sums to {sum}, cost.total is {total}\n{:?}",
            s.cost_by_namespace
        );
        // Far below a cent, in fact: only floating-point rounding separates them.
        assert!((sum - total).abs() < 1e-9, "{what}: {sum} vs {total}");
    }
    let json = karpsim::report::summary_json("x", 0, s, serde_json::Value::Null);
    let rounded: f64 = json["cost"]["by_namespace"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    let total_json = json["cost"]["total"].as_f64().unwrap();
    assert!(
        (rounded - total_json).abs() < 0.005,
        "summary.json: by_namespace sums to {rounded}, cost.total is {total_json}"
    );
    assert_eq!(
        (rounded * 100.0).round(),
        (total_json * 100.0).round(),
        "summary.json: to the cent"
    );
    for r in rows {
        assert!(
            r.cost >= -1e-9 && r.cpu_core_hours >= 0.0 && r.memory_gib_hours >= 0.0,
            "{r:?}"
        );
    }
    assert!(s.cost_by_namespace.contains_key(IDLE));
}

#[test]
fn quickstart_namespaces_plus_idle_sum_to_the_total() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.yaml");
    let p = karpsim::cli::prepare(&path).unwrap();
    let (s, rec) = karpsim::cli::simulate_in_memory(&p, &p.compiled.setup).unwrap();
    assert_adds_up(&s, &rec.attribution);
    // Pods were evicted and rescheduled (consolidation), so shares moved between nodes.
    assert!(s.pods_evicted > 0);
    let names: Vec<&str> = s.cost_by_namespace.keys().map(String::as_str).collect();
    assert_eq!(names, ["(idle)", "api", "batch", "web"]);
    let owners: Vec<&str> = s.cost_by_owner.keys().map(String::as_str).collect();
    assert_eq!(owners, ["(idle)", "api/api", "batch/report-job", "web/web"]);
}

/// Existing nodes, DaemonSets, a GPU pod, pods without an owner, and evicted pods with a grace
/// period that go on holding their requests while they shut down.
#[test]
fn existing_nodes_daemonsets_gpus_and_grace_periods_sum_to_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let mut trace = String::from("arrival,duration,namespace,owner,cpu,memory,gpu,template\n");
    for i in 0..12 {
        trace.push_str(&format!(
            "{},{},web,web,500m,1Gi,,\n",
            i * 30,
            3000 + i * 60
        ));
    }
    for i in 0..8 {
        trace.push_str(&format!("{},900,batch,,2,4Gi,,\n", 600 + i * 45));
    }
    for i in 0..6 {
        trace.push_str(&format!(
            "{},1800,jobs,drain-me,,,,slow-stop\n",
            100 + i * 20
        ));
    }
    trace.push_str("1200,1500,ml,train,2,8Gi,1,\n");
    let (s, rec) = run(
        dir.path(),
        "m5.large, m5.xlarge, m5.2xlarge, g4dn.xlarge",
        &trace,
        "existing_nodes:\n  - {instance_type: m5.large, count: 2, labels: {role: system}}\n",
    );
    assert_adds_up(&s, &rec.attribution);
    assert!(s.cost_by_nodepool.contains_key("(existing)"), "{s:?}");
    assert!(s.cost_by_nodepool.contains_key("general"));
    assert!(s.pods_evicted > 0, "the grace-period path is not exercised");
    // Pods without an owner count under (none); the GPU pod's row has GPU-hours.
    assert!(
        s.cost_by_owner.contains_key("batch/(none)"),
        "{:?}",
        s.cost_by_owner
    );
    let ml = rec
        .attribution
        .iter()
        .find(|r| r.namespace == "ml")
        .unwrap();
    assert!(
        (ml.gpu_hours - 1500.0 / 3600.0).abs() < 0.01,
        "GPU-hours of the ml pod: {ml:?}"
    );
    // Evicted `slow-stop` pods are charged their 60 s of shutdown on top of their stays.
    let jobs: Vec<u32> = rec
        .pods
        .iter()
        .filter(|p| p.namespace == "jobs")
        .map(|p| p.id)
        .collect();
    let evicted: u32 = rec
        .pods
        .iter()
        .filter(|p| p.namespace == "jobs")
        .map(|p| p.evictions)
        .sum();
    let bound_hours: f64 = rec
        .bindings
        .iter()
        .filter(|b| jobs.contains(&b.0))
        .map(|b| (b.3 - b.2) as f64 / 3_600_000.0)
        .sum();
    let row = rec
        .attribution
        .iter()
        .find(|r| r.namespace == "jobs")
        .unwrap();
    assert!(evicted > 0, "no slow-stop pod was evicted");
    let grace_hours = f64::from(evicted) * 60.0 / 3600.0;
    assert!(
        (row.pod_hours - (bound_hours + grace_hours)).abs() < 1e-9,
        "{row:?}: bound {bound_hours} h, {evicted} evictions"
    );
    // The same inputs give the same attribution, row for row.
    let (s2, rec2) = run(
        dir.path(),
        "m5.large, m5.xlarge, m5.2xlarge, g4dn.xlarge",
        &trace,
        "existing_nodes:\n  - {instance_type: m5.large, count: 2, labels: {role: system}}\n",
    );
    assert_eq!(s2.cost_by_owner, s.cost_by_owner);
    assert_eq!(rec2.attribution, rec.attribution);
}

/// One existing node and one pod for the whole run: every line is known in closed form.
#[test]
fn one_node_one_pod_matches_the_documented_rule() {
    let dir = tempfile::tempdir().unwrap();
    let trace = "arrival,duration,namespace,owner,cpu,memory,gpu,template\n0,,web,web,1,2Gi,,\n";
    let (s, rec) = run(
        dir.path(),
        "m5.large",
        trace,
        "existing_nodes:\n  - {instance_type: m5.xlarge, count: 1}\n",
    );
    assert_eq!(s.nodes_launched, 0, "the pod fits on the existing node");
    let p = karpsim::cli::prepare(&dir.path().join("s.yaml")).unwrap();
    let node = &p.compiled.setup.existing[0];
    let it = &node.instance_type;
    let rates = Rates::of_node(node.price, &it.capacity);
    let hours = 2.0;
    assert!((s.cost_total - node.price * hours).abs() < 1e-9);
    let bound_ms = rec.bindings[0].2;
    let req = karpsim::resources::Resources::cpu_mem(1000, 2 << 30);
    let web = rates.hourly(&req) * (7_200_000 - bound_ms) as f64 / 3_600_000.0;
    assert!(
        (s.cost_by_namespace["web"] - web).abs() < 1e-9,
        "web: {} vs {web}",
        s.cost_by_namespace["web"]
    );
    // Each DaemonSet's pod (aws-node in kube-system, log-agent in observability) is charged
    // its requests in its namespace for the whole run.
    let mut agents = 0.0;
    for ds in &p.compiled.setup.daemonsets {
        let c = rates.hourly(&ds.requests) * hours;
        let key = format!("{}/{}", ds.namespace.as_str(), ds.name.as_str());
        assert!((s.cost_by_owner[&key] - c).abs() < 1e-9, "{key}");
        assert!((s.cost_by_namespace[ds.namespace.as_str()] - c).abs() < 1e-9);
        agents += c;
    }
    assert_eq!(p.compiled.setup.daemonsets.len(), 2);
    // (idle) is the rest, the node's reservations included.
    assert!((s.cost_by_namespace[IDLE] - (s.cost_total - web - agents)).abs() < 1e-9);
    assert_adds_up(&s, &rec.attribution);
}

/// `karpsim run` writes `attribution.csv` beside `summary.json`, whose `cost.by_owner` and
/// `cost.by_namespace` it details, and a rerun gives the same bytes.
#[test]
fn run_writes_attribution_csv_and_by_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &Path| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_karpsim"))
            .args(["run", "scenarios/quickstart.yaml", "--quiet", "--out"])
            .arg(out)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run(&a);
    run(&b);
    for f in ["summary.json", "attribution.csv"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs between two identical runs"
        );
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("summary.json")).unwrap()).unwrap();
    let by_owner = s["cost"]["by_owner"].as_object().expect("cost.by_owner");
    let mut csv = csv::Reader::from_path(a.join("attribution.csv")).unwrap();
    assert_eq!(
        csv.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "namespace",
            "owner",
            "cost",
            "share_of_total",
            "cpu_core_hours",
            "memory_gib_hours",
            "gpu_hours",
            "pod_hours"
        ]
    );
    let mut sum = 0.0;
    let mut share = 0.0;
    let mut keys = Vec::new();
    for r in csv.records() {
        let r = r.unwrap();
        let cost: f64 = r[2].parse().unwrap();
        sum += cost;
        share += r[3].parse::<f64>().unwrap();
        let key = if r[1].is_empty() {
            r[0].to_string()
        } else {
            format!("{}/{}", &r[0], &r[1])
        };
        assert!(
            (by_owner[&key].as_f64().unwrap() - cost).abs() < 1e-6,
            "{key}: csv {cost} vs summary.json {}",
            by_owner[&key]
        );
        keys.push(key);
    }
    assert_eq!(keys.len(), by_owner.len());
    let total = s["cost"]["total"].as_f64().unwrap();
    assert!(
        (sum - total).abs() < 0.005,
        "csv sums to {sum}, total {total}"
    );
    assert!((share - 1.0).abs() < 1e-4, "shares sum to {share}");
}
