//! Scheduling benchmark shaped like Karpenter's
//! `pkg/controllers/provisioning/scheduling/scheduling_benchmark_test.go`: one Solve pass over
//! 1k–20k "diverse" pods against 400 instance types, reporting pods per second.
//!
//! Instance type i (0..399): i+1 vCPU, 2(i+1) GiB, 10(i+1) pods, overhead 100m cpu + 10Mi;
//! offerings spot in test-zone-1/2 and on-demand in test-zone-1/2/3; price 0.1·vCPU +
//! 0.1·GB. Pods (seeded): cpu ∈ {100, 250, 500, 1000, 1500}m, memory ∈ {100, 256, 512, 1024,
//! 2048, 4096}Mi; 1/5 plain, 1/5 zonal spread (maxSkew 1, DoNotSchedule, selector one of 7
//! values), 1/5 hostname spread, 1/5 zonal self-affinity (7 groups), 1/5 hostname
//! anti-affinity all sharing app=nginx.
//!
//! Run: `cargo bench --bench scheduling` (add `-- 5000` to run one size).

use karpsim::labels::{self, Sym};
use karpsim::model::{
    AffinityTerm, LabelSelector, PodConstraints, PodInfo, SpreadConstraint, WhenUnsatisfiable,
};
use karpsim::requirements::{Requirement, Requirements};
use karpsim::resources::{GIB_MILLI, MIB_MILLI, ResourceName, Resources};
use karpsim::scheduler::{
    InstanceType, Market, NodePoolSpecLite, Offering, Scheduler, SimRng, SolveInput,
    build_domain_groups, build_template, sort_templates,
};
use rand::{RngExt, SeedableRng};
use std::sync::Arc;
use std::time::Instant;

fn instance_types(n: usize) -> Vec<InstanceType> {
    let zones = ["test-zone-1", "test-zone-2", "test-zone-3"].map(Sym::new);
    (0..n)
        .map(|i| {
            let cpu = (i + 1) as i64;
            let mem_gib = 2 * (i + 1) as i64;
            let price = 0.1 * cpu as f64 + 0.1 * (mem_gib as f64 * 1.073_741_824);
            let name = Sym::new(&format!("fake-it-{i}"));
            let mut capacity = Resources::ZERO;
            capacity.set(ResourceName::Cpu, cpu * 1000);
            capacity.set(ResourceName::Memory, mem_gib * GIB_MILLI);
            capacity.set(ResourceName::Pods, 10 * (i as i64 + 1) * 1000);
            let mut allocatable = capacity;
            allocatable.set(ResourceName::Cpu, cpu * 1000 - 100);
            allocatable.set(ResourceName::Memory, mem_gib * GIB_MILLI - 10 * MIB_MILLI);
            let mut offerings = Vec::new();
            for z in &zones[..2] {
                offerings.push(Offering {
                    zone: *z,
                    capacity_type: labels::SPOT,
                    price,
                    available: true,
                    interruption_band: None,
                });
            }
            for z in &zones {
                offerings.push(Offering {
                    zone: *z,
                    capacity_type: labels::ON_DEMAND,
                    price,
                    available: true,
                    interruption_band: None,
                });
            }
            let mut requirements = Requirements::new();
            requirements.add(Requirement::single(labels::INSTANCE_TYPE, name));
            requirements.add(Requirement::single(labels::ARCH, Sym::new("amd64")));
            requirements.add(Requirement::single(labels::OS, Sym::new("linux")));
            requirements.add(Requirement::in_values(labels::ZONE, &zones));
            requirements.add(Requirement::in_values(
                labels::CAPACITY_TYPE,
                &[labels::SPOT, labels::ON_DEMAND],
            ));
            InstanceType {
                name,
                requirements,
                capacity,
                allocatable,
                offerings,
                exotic: false,
            }
        })
        .collect()
}

fn selector(k: &str, v: &str) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: vec![(Sym::new(k), Sym::new(v))],
        exprs: vec![],
    })
}

fn diverse_pods(n: usize, rng: &mut SimRng) -> Vec<PodInfo> {
    let cpus = [100, 250, 500, 1000, 1500];
    let mems = [100, 256, 512, 1024, 2048, 4096];
    let ns = Sym::new("default");
    let app = Sym::new("app");
    let plain = Arc::new(PodConstraints::default());
    let host_spread = Arc::new(PodConstraints {
        spreads: vec![SpreadConstraint {
            max_skew: 1,
            key: labels::HOSTNAME,
            when: WhenUnsatisfiable::DoNotSchedule,
            selector: selector("app", "host-spread"),
            min_domains: None,
            honor_affinity: true,
            honor_taints: false,
            match_label_keys: vec![],
        }],
        ..Default::default()
    });
    let anti = Arc::new(PodConstraints {
        anti_required: vec![AffinityTerm {
            selector: selector("app", "nginx"),
            namespaces: vec![],
            all_namespaces: false,
            key: labels::HOSTNAME,
        }],
        ..Default::default()
    });
    let zone_spread: Vec<Arc<PodConstraints>> = (0..7)
        .map(|g| {
            Arc::new(PodConstraints {
                spreads: vec![SpreadConstraint {
                    max_skew: 1,
                    key: labels::ZONE,
                    when: WhenUnsatisfiable::DoNotSchedule,
                    selector: selector("zs", &format!("g{g}")),
                    min_domains: None,
                    honor_affinity: true,
                    honor_taints: false,
                    match_label_keys: vec![],
                }],
                ..Default::default()
            })
        })
        .collect();
    let zone_aff: Vec<Arc<PodConstraints>> = (0..7)
        .map(|g| {
            Arc::new(PodConstraints {
                affinity_required: vec![AffinityTerm {
                    selector: selector("za", &format!("g{g}")),
                    namespaces: vec![],
                    all_namespaces: false,
                    key: labels::ZONE,
                }],
                ..Default::default()
            })
        })
        .collect();
    (0..n)
        .map(|i| {
            let mut r = Resources::ZERO;
            r.set(ResourceName::Cpu, cpus[rng.random_range(0..cpus.len())]);
            r.set(
                ResourceName::Memory,
                mems[rng.random_range(0..mems.len())] * MIB_MILLI,
            );
            r.set(ResourceName::Pods, 1000);
            let (constraints, labels_): (Arc<PodConstraints>, Vec<(Sym, Sym)>) = match i % 5 {
                0 => (plain.clone(), vec![]),
                1 => {
                    let g = rng.random_range(0..7usize);
                    (
                        zone_spread[g].clone(),
                        vec![(Sym::new("zs"), Sym::new(&format!("g{g}")))],
                    )
                }
                2 => (host_spread.clone(), vec![(app, Sym::new("host-spread"))]),
                3 => {
                    let g = rng.random_range(0..7usize);
                    (
                        zone_aff[g].clone(),
                        vec![(Sym::new("za"), Sym::new(&format!("g{g}")))],
                    )
                }
                _ => (anti.clone(), vec![(app, Sym::new("nginx"))]),
            };
            PodInfo {
                id: i as u32,
                namespace: ns,
                labels: labels_.into(),
                requests: r,
                constraints,
                created: 0,
                priority: 0,
            }
        })
        .collect()
}

fn main() {
    let sizes: Vec<usize> = {
        let args: Vec<usize> = std::env::args()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        if args.is_empty() {
            vec![1000, 2000, 5000, 10000, 20000]
        } else {
            args
        }
    };
    let its = Arc::new(instance_types(400));
    let np = NodePoolSpecLite {
        name: "default".into(),
        ..Default::default()
    };
    let mut templates = vec![build_template(&np, its, &[], false).expect("template")];
    sort_templates(&mut templates);
    let domain_groups = build_domain_groups(&templates);
    let market = Market::default();
    println!(
        "{:>8} {:>10} {:>12} {:>8}",
        "pods", "seconds", "pods/s", "nodes"
    );
    for n in sizes {
        let mut rng = SimRng::seed_from_u64(42);
        let pods = diverse_pods(n, &mut rng);
        let refs: Vec<&PodInfo> = pods.iter().collect();
        // Warm up once, then take the best of three.
        let mut best = f64::MAX;
        let mut nodes = 0;
        for _ in 0..3 {
            let input = SolveInput {
                templates: &templates,
                existing: &[],
                placed: Vec::new(),
                remaining: vec![None],
                market: &market,
                domain_groups: &domain_groups,
                tolerate_prefer_no_schedule: false,
                min_values_best_effort: false,
                ignore_preferences: false,
                moving: None,
            };
            let mut hostnames = Vec::new();
            let mut srng = SimRng::seed_from_u64(7);
            let t = Instant::now();
            let res = Scheduler::new(&input, &refs, &mut srng, &mut hostnames).solve(&refs);
            let dt = t.elapsed().as_secs_f64();
            assert!(
                res.errors.is_empty(),
                "{} pods failed: {:?}",
                res.errors.len(),
                res.errors.first()
            );
            nodes = res.claims.len();
            best = best.min(dt);
        }
        println!(
            "{:>8} {:>10.4} {:>12.0} {:>8}",
            n,
            best,
            n as f64 / best,
            nodes
        );
    }
}
