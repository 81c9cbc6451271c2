//! The seed guide's manifests load unchanged and each NodePool provisions; every shipped
//! scenario runs.

use karpsim::cli::{prepare, simulate_in_memory};
use karpsim::config;
use std::path::{Path, PathBuf};

fn shared(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/seed-manifests")
        .join(p)
}

fn crate_path(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn every_seed_manifest_loads_unchanged() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seed-manifests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 6);
    let mut pools = 0;
    let mut classes = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let (np, nc) =
            config::parse_manifests(&text, f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        pools += np.len();
        classes += nc.len();
        for c in &nc {
            assert!(
                c.spec
                    .role
                    .as_deref()
                    .unwrap_or("")
                    .contains("${CLUSTER_NAME}"),
                "placeholder kept verbatim"
            );
        }
    }
    assert_eq!(
        pools, 5,
        "default, production (named default), reserved, general, gpu"
    );
    assert_eq!(classes, 3, "default, gpu-nodeclass, custom");
}

/// Writes a scenario combining seed manifests with a small trace, runs it, returns the summary
/// and records.
fn run_with(
    manifests: &[&str],
    trace: &str,
    templates: Option<&str>,
) -> (karpsim::engine::RunSummary, karpsim::engine::MemoryRecorder) {
    let dir = tempfile::tempdir().unwrap();
    let mut list = String::new();
    for m in manifests {
        list.push_str(&format!("  - {}\n", shared(m).display()));
    }
    std::fs::write(dir.path().join("trace.csv"), trace).unwrap();
    let mut s =
        format!("name: seed\nduration: 2h\nnodepools:\n{list}workload:\n  pods: trace.csv\n");
    if let Some(t) = templates {
        std::fs::write(dir.path().join("templates.yaml"), t).unwrap();
        s.push_str("  templates: templates.yaml\n");
    }
    let path = dir.path().join("s.yaml");
    std::fs::write(&path, s).unwrap();
    let p = prepare(&path).unwrap_or_else(|e| panic!("{e:?}"));
    simulate_in_memory(&p, &p.compiled.setup).unwrap()
}

fn small_trace() -> String {
    let mut t = String::from("arrival,duration,namespace,cpu,memory\n");
    for i in 0..40 {
        t.push_str(&format!(
            "{}.5,{},team-{},{}m,{}Mi\n",
            i * 20,
            600 + i * 30,
            i % 3,
            [250, 500, 1000][i % 3],
            [512, 1024, 2048][i % 3]
        ));
    }
    t
}

fn launched_pools(rec: &karpsim::engine::MemoryRecorder) -> Vec<String> {
    let mut v: Vec<String> = rec.nodes.iter().map(|n| n.nodepool.clone()).collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn seed_default_nodepool_provisions_m5_on_demand() {
    let (s, rec) = run_with(
        &["01-ec2nodeclass-default.yaml", "02-nodepool-default.yaml"],
        &small_trace(),
        None,
    );
    assert_eq!(s.pods_scheduled, 40);
    assert_eq!(launched_pools(&rec), vec!["default"]);
    for n in &rec.nodes {
        assert!(
            ["m5.large", "m5.xlarge", "m5.2xlarge"].contains(&n.instance_type.as_str()),
            "{}",
            n.instance_type
        );
        assert_eq!(n.capacity_type, "on-demand");
    }
}

#[test]
fn seed_production_nodepool_prefers_spot_within_its_requirements() {
    let (s, rec) = run_with(
        &[
            "01-ec2nodeclass-default.yaml",
            "03-nodepool-production.yaml",
        ],
        &small_trace(),
        None,
    );
    assert_eq!(s.pods_scheduled, 40);
    let cat = karpsim::catalog::Catalog::embedded().unwrap();
    for n in &rec.nodes {
        // karpenter: nodepools.md "prioritize reserved, then spot, then on-demand"
        assert_eq!(n.capacity_type, "spot");
        let it = cat.instance_type(&n.instance_type).unwrap();
        assert!(["c", "m", "r"].contains(&it.category.as_deref().unwrap_or("")));
        assert!(it.generation.unwrap_or(0) > 4 && it.vcpu < 33);
        assert_eq!(it.arch, "amd64");
    }
}

// karpenter: website/content/en/docs/concepts/scheduling.md "Weighted NodePools" — the higher
// weight is tried first; a pool with no available offering (no capacity reservation) is skipped.
#[test]
fn seed_weighted_pools_fall_back_to_general() {
    let (s, rec) = run_with(
        &["01-ec2nodeclass-default.yaml", "04-nodepools-weighted.yaml"],
        &small_trace(),
        None,
    );
    assert_eq!(s.pods_scheduled, 40);
    assert_eq!(launched_pools(&rec), vec!["general"]);
}

#[test]
fn seed_gpu_pool_takes_only_pods_that_tolerate_its_taint() {
    let templates = "- name: gpu\n  spec:\n    containers: [{name: c, resources: {requests: {cpu: '2', memory: 8Gi, nvidia.com/gpu: '1'}}}]\n    tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]\n";
    let trace = "arrival,duration,cpu,memory,gpu,template\n0.5,3600,2,8Gi,1,gpu\n1.5,3600,2,8Gi,1,gpu\n2.5,3600,1,2Gi,,\n";
    let (s, rec) = run_with(&["05-nodepool-gpu.yaml"], trace, Some(templates));
    // The CPU pod tolerates nothing and no other NodePool exists: it stays pending.
    assert_eq!(s.pods_scheduled, 2);
    assert_eq!(s.pods_unschedulable, 1);
    for n in &rec.nodes {
        assert_eq!(n.nodepool, "gpu");
        assert!(
            n.instance_type.starts_with("g5.") || n.instance_type.starts_with("g6."),
            "{}",
            n.instance_type
        );
    }
}

#[test]
fn every_shipped_scenario_runs() {
    let dir = crate_path("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    for f in files {
        let p = prepare(&f).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        let (s, rec) = simulate_in_memory(&p, &p.compiled.setup).unwrap();
        assert!(s.pods_total > 0, "{}", f.display());
        assert_eq!(rec.pods.len() as u64, s.pods_total);
        assert!(s.nodes_launched > 0, "{}", f.display());
        assert!(s.cost_total > 0.0);
    }
}

#[test]
fn quickstart_runs_fast() {
    let started = std::time::Instant::now();
    let p = prepare(&crate_path("scenarios/quickstart.yaml")).unwrap();
    let (s, _) = simulate_in_memory(&p, &p.compiled.setup).unwrap();
    assert_eq!(s.pods_never_scheduled, 0);
    assert!(started.elapsed().as_secs_f64() < 5.0);
}

/// Runs one variant of a shipped scenario in memory.
fn run_variant(file: &str, variant: Option<&str>) -> karpsim::engine::RunSummary {
    let p = prepare(&crate_path(file)).unwrap_or_else(|e| panic!("{e:?}"));
    match variant {
        None => simulate_in_memory(&p, &p.compiled.setup).unwrap().0,
        Some(v) => {
            let loaded = p.loaded.variant(v).unwrap();
            let compiled = karpsim::compile::compile(&loaded, &p.catalog).unwrap();
            let pv = karpsim::cli::Prepared {
                loaded,
                catalog: p.catalog.clone(),
                compiled,
            };
            simulate_in_memory(&pv, &pv.compiled.setup).unwrap().0
        }
    }
}

// The shipped policy comparison tells the story users expect from Karpenter: WhenEmpty never
// moves pods but leaves under-used nodes running (dearer); WhenEmptyOrUnderutilized consolidates
// them (cheaper, more evictions); Balanced only takes moves whose savings justify the
// disruption (fewer evictions than WhenEmptyOrUnderutilized).
#[test]
fn consolidation_policies_compare_as_karpenter_users_expect() {
    let base = run_variant("scenarios/consolidation-policies.yaml", None);
    let empty = run_variant("scenarios/consolidation-policies.yaml", Some("when-empty"));
    let balanced = run_variant("scenarios/consolidation-policies.yaml", Some("balanced"));
    assert!(
        empty.cost_total > base.cost_total * 1.05,
        "{} vs {}",
        empty.cost_total,
        base.cost_total
    );
    assert_eq!(empty.terminated_by_reason["underutilized"], 0);
    assert_eq!(empty.pods_evicted, 0);
    assert!(base.terminated_by_reason["underutilized"] > 0);
    assert!(
        balanced.pods_evicted < base.pods_evicted,
        "{} vs {}",
        balanced.pods_evicted,
        base.pods_evicted
    );
    assert!(
        balanced.terminated_by_reason["underutilized"] < base.terminated_by_reason["underutilized"]
    );
}

// The shipped AMI rollout: every node running when the EC2NodeClass changes drifts and is
// replaced, and no drift command starts inside the production NodePool's business-hours
// window, whose zero budget names Drifted.
// karpenter: pkg/controllers/disruption/drift_test.go "should replace drifted nodes" (at scale, with a scheduled budget)
#[test]
fn ami_rollout_drifts_every_node_outside_business_hours() {
    let p = prepare(&crate_path("scenarios/ami-rollout.yaml")).unwrap();
    let (s, rec) = simulate_in_memory(&p, &p.compiled.setup).unwrap();
    let change_ms = 20 * 3_600_000;
    let running: Vec<&karpsim::engine::NodeRecord> = rec
        .nodes
        .iter()
        .filter(|n| n.launched_ms < change_ms && n.terminated_ms.is_none_or(|t| t > change_ms))
        .collect();
    assert!(running.len() >= 5, "{}", running.len());
    let drifted: Vec<&&karpsim::engine::NodeRecord> = running
        .iter()
        .filter(|n| n.termination_reason.as_deref() == Some("drifted"))
        .collect();
    // A node may go empty (Emptiness) before its drift turn comes; none is left running.
    assert!(!drifted.is_empty());
    assert!(
        running.iter().all(|n| n.terminated_ms.is_some()),
        "old-image nodes left"
    );
    assert_eq!(s.terminated_by_reason["drifted"], drifted.len() as u64);
    for d in rec
        .decisions
        .iter()
        .filter(|d| d["kind"] == "disruption" && d["method"] == "drift")
    {
        let hour = (d["time"].as_f64().unwrap() / 3600.0) % 24.0;
        assert!(
            !(9.0..17.0).contains(&hour),
            "drift during business hours: {d}"
        );
    }
}

// The shipped Spot comparison: the flexible Spot/on-demand pool runs on Spot and saves against
// the on-demand-only variant; the Spot-only variant with a tripled rate is interrupted at least
// as often.
#[test]
fn spot_vs_on_demand_shows_the_saving_and_the_interruptions() {
    let base = run_variant("scenarios/spot-vs-on-demand.yaml", None);
    let od = run_variant("scenarios/spot-vs-on-demand.yaml", Some("on-demand-only"));
    let spot3 = run_variant("scenarios/spot-vs-on-demand.yaml", Some("spot-only-3x"));
    assert!(
        od.cost_total > base.cost_total * 1.3,
        "{} vs {}",
        od.cost_total,
        base.cost_total
    );
    assert_eq!(od.spot_interruptions, 0);
    assert_eq!(od.node_hours_spot, 0.0);
    assert!(base.node_hours_spot > 0.9 * base.node_hours);
    assert!(base.spot_saving_vs_on_demand > 0.0);
    // Three times the rate: each pool's events come three times sooner from the same draws.
    assert!(spot3.spot_interruptions >= base.spot_interruptions);
    assert!(spot3.spot_interruptions > 0);
    assert_eq!(spot3.cost_on_demand, 0.0);
}
