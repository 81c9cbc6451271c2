//! Spot prices that move during a run (`spot_prices: varying`, issue #4): launches choose at the
//! prices of the moment, a Spot node is billed at its pool's price of the moment, and every run
//! of the same seed sees the same prices whatever its cluster does.

use karpsim::engine::spot_price::{PRICE_STEP_MS, PricePool, PriceWalk};
use karpsim::engine::{MemoryRecorder, stream};
use karpsim::labels::Sym;
use serde_json::Value;

use crate::NODECLASS;

const WALK: &str =
    "spot_prices: {model: varying, change_interval: 1h, step: 0.1, reversion: 0.1}\n";
const HEAD: &str = "name: prices\nseed: 3\nduration: 60h\nzones: [us-east-1a, us-east-1b]\n";

fn m5_pool() -> String {
    crate::nodepool_yaml(
        "default",
        "default",
        &crate::types_and_caps("m5.large", "spot"),
        "",
        "  disruption:\n    consolidationPolicy: WhenEmpty\n    consolidateAfter: 30s\n",
    )
}

/// Ten one-pod bursts, 6 h apart, each pod running 2 h: ten launches at different prices.
fn bursts() -> String {
    let mut t = String::from("arrival,duration,cpu,memory\n");
    for k in 0..10 {
        t.push_str(&format!("{},7200,1,1Gi\n", k * 6 * 3600 + 1800));
    }
    t
}

/// Runs the scenario and returns the recorder and, per zone, m5.large's catalog Spot price.
fn run(docs: &str, trace: &str, extra: &str) -> (MemoryRecorder, Vec<(String, f64)>) {
    let dir = tempfile::tempdir().unwrap();
    let (_, rec) = crate::run_scenario_files(dir.path(), docs, trace, None, HEAD, extra);
    let p = karpsim::cli::prepare(&dir.path().join("s.yaml")).unwrap();
    let t = &p.compiled.setup.templates[0];
    let it = t
        .instance_types
        .iter()
        .find(|i| i.name.as_str() == "m5.large")
        .unwrap();
    let mut bases: Vec<(String, f64)> = it
        .offerings
        .iter()
        .filter(|o| o.capacity_type.as_str() == "spot")
        .map(|o| (o.zone.as_str().to_string(), o.price))
        .collect();
    bases.sort_by(|a, b| a.0.cmp(&b.0));
    let od = it
        .offerings
        .iter()
        .find(|o| o.capacity_type.as_str() == "on-demand")
        .unwrap()
        .price;
    (
        rec,
        bases.into_iter().map(|(z, p)| (z, p.min(od))).collect(),
    )
}

/// The pool's price during each simulated hour, drawn as the model states (module
/// `engine::spot_price`): an hourly change with probability 1 − e^(−1 h / interval), a normal
/// log step pulled back towards the catalog price.
fn path(zone: &str, base: f64, hours: usize) -> Vec<f64> {
    let walk = PriceWalk::new(PRICE_STEP_MS, 0.1, 0.1);
    let mut pool = PricePool {
        instance_type: Sym::new("m5.large"),
        zone: Sym::new(zone),
        base,
        cap: f64::INFINITY,
        log_m: 0.0,
        rng: stream(3, &format!("spot-price/m5.large/{zone}")),
    };
    let mut out = vec![base];
    let mut now = base;
    for _ in 1..hours {
        if let Some(p) = pool.step(&walk) {
            now = p;
        }
        out.push(now);
    }
    out
}

/// ∫ price over [from, to) (milliseconds) in dollars.
fn billed(path: &[f64], from: u64, to: u64) -> f64 {
    let mut cost = 0.0;
    let mut t = from;
    while t < to {
        let h = (t / PRICE_STEP_MS) as usize;
        let end = ((h as u64 + 1) * PRICE_STEP_MS).min(to);
        cost += path[h] * (end - t) as f64 / 3.6e6;
        t = end;
    }
    cost
}

fn launches(rec: &MemoryRecorder) -> Vec<&Value> {
    rec.decisions
        .iter()
        .filter(|d| d["kind"] == "launch")
        .collect()
}

/// Each launch takes the cheaper zone at the prices of that hour (one instance type, so the
/// price-capacity stand-in's band factor is the same for both zones), and every node costs
/// the integral of its pool's price over its life.
// karpenter: aws pkg/providers/pricing (Spot prices refreshed from EC2 during the run) and
// provisioning.md §4 (cheapest offering at launch); the price walk itself is karpsim's model.
#[test]
fn launches_and_bills_at_the_spot_price_of_the_moment() {
    let docs = format!("{NODECLASS}---\n{}", m5_pool());
    let (rec, bases) = run(&docs, &bursts(), WALK);
    assert_eq!(bases.len(), 2, "{bases:?}");
    let paths: Vec<(String, Vec<f64>)> = bases
        .iter()
        .map(|(z, b)| (z.clone(), path(z, *b, 61)))
        .collect();
    // The walk moved the prices, and not beyond what a Spot price can be.
    for (z, p) in &paths {
        let moved = p.iter().filter(|x| **x != p[0]).count();
        assert!(
            moved > 30,
            "{z}: the price moved in only {moved} of 61 hours"
        );
    }
    let ls = launches(&rec);
    assert_eq!(ls.len(), 10);
    let mut off_base = 0;
    for l in &ls {
        let t = (l["time"].as_f64().unwrap() * 1000.0).round() as u64;
        let h = (t / PRICE_STEP_MS) as usize;
        let zone = l["chosen"]["zone"].as_str().unwrap();
        let price = l["chosen"]["price_per_hour"].as_f64().unwrap();
        let now: Vec<(&str, f64)> = paths.iter().map(|(z, p)| (z.as_str(), p[h])).collect();
        let mine = now.iter().find(|x| x.0 == zone).unwrap().1;
        let cheapest = now.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
        assert!(
            (price - mine).abs() < 1e-12,
            "launch at {t} ms: {price} vs {mine}"
        );
        assert_eq!(mine, cheapest, "launch at {t} ms in {zone}: prices {now:?}");
        if bases.iter().all(|(_, b)| (b - price).abs() > 1e-12) {
            off_base += 1;
        }
    }
    assert!(off_base >= 5, "only {off_base} launches at a moved price");
    // The timeline's cost rate follows the prices: at every sample the Spot part equals the
    // sum of the running nodes' prices of that hour, and it is back to 0 once they are gone.
    for row in &rec.timeline {
        let h = (row.time_ms / PRICE_STEP_MS) as usize;
        let want: f64 = rec
            .nodes
            .iter()
            .filter(|n| {
                n.launched_ms <= row.time_ms && n.terminated_ms.is_none_or(|t| t > row.time_ms)
            })
            .map(|n| paths.iter().find(|(z, _)| *z == n.zone).unwrap().1[h])
            .sum();
        assert!(
            (row.cost_per_hour_spot - want).abs() < 1e-9 && (row.cost_per_hour - want).abs() < 1e-9,
            "at {} ms: spot rate {} / total {}, running nodes' prices {want}",
            row.time_ms,
            row.cost_per_hour_spot,
            row.cost_per_hour
        );
    }
    // Billing: every node, the integral of its zone's price from launch to termination.
    assert_eq!(rec.nodes.len(), 10);
    for n in &rec.nodes {
        let p = &paths.iter().find(|(z, _)| *z == n.zone).unwrap().1;
        let end = n.terminated_ms.unwrap();
        let want = billed(p, n.launched_ms, end);
        assert!(
            (n.cost - want).abs() < 1e-9,
            "{}: billed {} but the prices over its life give {want}",
            n.name,
            n.cost
        );
    }
}

/// The prices come from each pool's own stream: a run with a second NodePool and more pods
/// (more nodes, other events) launches into the m5.large pool at exactly the same prices.
// karpsim's model (no Karpenter rule): issue #4's "all draws from seeded streams, so every
// variant in a compare sees the same" market.
#[test]
fn every_run_of_a_seed_sees_the_same_spot_prices() {
    let alone = format!("{NODECLASS}---\n{}", m5_pool());
    let (a, _) = run(&alone, &bursts(), WALK);
    let other = crate::nodepool_yaml(
        "batch",
        "default",
        &crate::types_and_caps("c5.large, c5.xlarge", "spot, on-demand"),
        "      taints: [{key: batch, value: \"true\", effect: NoSchedule}]\n",
        "  disruption:\n    consolidationPolicy: WhenEmptyOrUnderutilized\n    consolidateAfter: 30s\n",
    );
    let busy_docs = format!("{NODECLASS}---\n{}---\n{other}", m5_pool());
    let mut trace = String::from("arrival,duration,cpu,memory,tolerations,node_selector\n");
    for line in bursts().lines().skip(1) {
        trace.push_str(&format!("{line},,\n"));
    }
    for k in 0..120 {
        trace.push_str(&format!(
            "{},{},1500m,2Gi,batch=true:NoSchedule,karpenter.sh/nodepool=batch\n",
            k * 1700,
            3600 + k * 311
        ));
    }
    let (b, _) = run(&busy_docs, &trace, WALK);
    // The m5.large launches: same times, zones and prices (the nodes' lives may differ a
    // little, since the busy run's disruption loop has more to do).
    let m5 = |r: &MemoryRecorder| -> Vec<(f64, String, String)> {
        launches(r)
            .iter()
            .filter(|l| l["chosen"]["instance_type"] == "m5.large")
            .map(|l| {
                (
                    l["time"].as_f64().unwrap(),
                    l["chosen"]["zone"].as_str().unwrap().to_string(),
                    format!("{:.12}", l["chosen"]["price_per_hour"].as_f64().unwrap()),
                )
            })
            .collect()
    };
    assert!(
        b.nodes.len() > a.nodes.len() + 5,
        "the busy run launched too little"
    );
    assert_eq!(m5(&a).len(), 10);
    assert_eq!(m5(&a), m5(&b));
}

/// Constant prices (the default) leave every Spot node at its catalog price.
// karpsim's model: `spot_prices` defaults to `constant`.
#[test]
fn constant_spot_prices_bill_the_catalog_price() {
    let docs = format!("{NODECLASS}---\n{}", m5_pool());
    let (rec, bases) = run(&docs, &bursts(), "");
    for n in &rec.nodes {
        let base = bases.iter().find(|(z, _)| *z == n.zone).unwrap().1;
        assert_eq!(n.price_per_hour, base);
        let hours = (n.terminated_ms.unwrap() - n.launched_ms) as f64 / 3.6e6;
        assert!((n.cost - base * hours).abs() < 1e-12);
    }
}

/// A misspelt key of `spot_prices` names the file, the field and the closest valid key.
#[test]
fn a_misspelt_spot_prices_key_names_the_closest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("np.yaml"),
        format!("{NODECLASS}---\n{}", m5_pool()),
    )
    .unwrap();
    std::fs::write(dir.path().join("trace.csv"), bursts()).unwrap();
    let path = dir.path().join("s.yaml");
    std::fs::write(
        &path,
        format!("{HEAD}nodepools: np.yaml\nworkload: {{pods: trace.csv}}\nspot_prices: {{model: varying, stepp: 0.1}}\n"),
    )
    .unwrap();
    let errs = match karpsim::cli::prepare(&path) {
        Ok(_) => panic!("a misspelt key was accepted"),
        Err(e) => e.join("\n"),
    };
    assert!(errs.contains("s.yaml"), "{errs}");
    assert!(errs.contains("spot_prices.stepp"), "{errs}");
    assert!(errs.contains("`step`"), "{errs}");
}
