//! Property: voluntary disruption never exceeds a NodePool's disruption budget.
//!
//! Over random small traces on two NodePools with random budgets, every disruption command in
//! the decision log (Emptiness, multi-node and single-node consolidation) is checked against
//! Karpenter's budget arithmetic (design/disruption.md §4), recomputed here from the recorder
//! alone: at the command's instant, per NodePool, (nodes already disrupting) + (nodes the
//! command disrupts) ≤ min over the budgets that apply to the command's reason of `N` or
//! ceil(numNodes × P / 100).
//!
//! What the oracle reconstructs, and from what:
//! - numNodes: the pool's nodes that are initialized (`ready_ms` ≤ t) and not yet terminating
//!   their instance. Karpenter stops counting a NodeClaim once it is `InstanceTerminating`; the
//!   recorder has no such instant, so a node is taken to terminate its instance during the
//!   5 s before `terminated_ms` (Karpenter's instance-termination poll, §9.2) and is left out
//!   of both numNodes and the disrupting count then. That choice can only make the oracle more
//!   lenient (ceil(p(N + k)) − k ≤ ceil(pN)), never flag a correct engine.
//! - disrupting: nodes that a `nodeclaim-deleted` decision put into deletion (any reason,
//!   expiration included), until they terminate as above; and candidates of a REPLACE command
//!   from its start until its rollback or their deletion. Instants are compared strictly, so a
//!   deletion logged at the very same millisecond as a command does not count against it.

use karpsim::engine::{MemoryRecorder, NodeRecord};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

use crate::NODECLASS;

#[derive(Debug, Clone, Copy)]
enum Nodes {
    Count(u32),
    Percent(u32),
}

#[derive(Debug, Clone)]
struct Budget {
    nodes: Nodes,
    /// `None`: every reason.
    reason: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct PoolSpec {
    when_empty: bool,
    consolidate_after_s: u32,
    budgets: Vec<Budget>,
    /// `expireAfter` in minutes (Karpenter's default, 720h, when `None`).
    expire_after_m: Option<u32>,
}

impl PoolSpec {
    fn yaml(&self, name: &str) -> String {
        let mut budgets = String::new();
        for b in &self.budgets {
            let nodes = match b.nodes {
                Nodes::Count(n) => n.to_string(),
                Nodes::Percent(p) => format!("{p}%"),
            };
            budgets.push_str(&format!("      - nodes: \"{nodes}\"\n"));
            if let Some(r) = b.reason {
                budgets.push_str(&format!("        reasons: [{r}]\n"));
            }
        }
        crate::nodepool_yaml(
            name,
            "default",
            &crate::types_and_caps("m5.large, m5.xlarge, m5.2xlarge", "on-demand"),
            &self
                .expire_after_m
                .map(|m| format!("      expireAfter: {m}m\n"))
                .unwrap_or_default(),
            &format!(
                "  disruption:\n    consolidationPolicy: {}\n    consolidateAfter: {}s\n    budgets:\n{budgets}",
                if self.when_empty {
                    "WhenEmpty"
                } else {
                    "WhenEmptyOrUnderutilized"
                },
                self.consolidate_after_s
            ),
        )
    }

    /// The budget's allowed disruptions for `reason` with `num` counted nodes; `None` when no
    /// budget applies (unbounded).
    fn allowed(&self, reason: &str, num: u32) -> Option<u32> {
        self.budgets
            .iter()
            .filter(|b| b.reason.is_none_or(|r| r == reason))
            .map(|b| match b.nodes {
                Nodes::Count(n) => n,
                Nodes::Percent(p) => (num * p).div_ceil(100),
            })
            .min()
    }
}

/// A trace row: (arrival s, duration s or none, cpu m, pool `a` or `b`).
type Row = (u32, Option<u32>, u32, bool);

fn ms(d: &Value) -> u64 {
    (d["time"].as_f64().unwrap() * 1000.0).round() as u64
}

fn node_names(d: &Value) -> Vec<&str> {
    d["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect()
}

/// When a node stops counting for budgets (its instance is terminating), if it does.
fn stops_counting(n: &NodeRecord) -> Option<u64> {
    n.terminated_ms.map(|t| t.saturating_sub(5_000))
}

/// What the check saw: commands checked, and those that used their pool's budget up exactly
/// (with how many of those had other nodes already disrupting).
#[derive(Debug, Default)]
struct Checked {
    commands: usize,
    tight: usize,
    tight_with_disrupting: usize,
}

/// The budget oracle over one run (see the module docs).
fn check_budgets(
    rec: &MemoryRecorder,
    pools: &BTreeMap<&str, PoolSpec>,
) -> Result<Checked, String> {
    let nodes: BTreeMap<&str, &NodeRecord> =
        rec.nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let deleted_at = |name: &str, from: u64| {
        rec.decisions
            .iter()
            .filter(|d| d["kind"] == "nodeclaim-deleted" && d["nodeclaim"] == name)
            .map(ms)
            .find(|t| *t >= from)
    };
    // Disrupting intervals [start, end) per node.
    let mut disrupting: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for d in &rec.decisions {
        if d["kind"] == "nodeclaim-deleted" {
            let name = d["nodeclaim"].as_str().unwrap();
            let start = ms(d);
            let end = nodes
                .get(name)
                .and_then(|n| stops_counting(n))
                .map_or(u64::MAX, |e| e.max(start));
            disrupting.entry(name).or_default().push((start, end));
        } else if d["kind"] == "disruption" && d["decision"] == "replace" {
            let start = ms(d);
            let rolled_back = rec
                .decisions
                .iter()
                .find(|r| {
                    r["kind"] == "disruption-rolled-back"
                        && r["replacement"] == d["replacement_nodeclaim"]
                })
                .map(ms);
            for name in node_names(d) {
                let end = [rolled_back, deleted_at(name, start)]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(u64::MAX);
                disrupting.entry(name).or_default().push((start, end));
            }
        }
    }
    let is_disrupting = |name: &str, t: u64| {
        disrupting
            .get(name)
            .is_some_and(|v| v.iter().any(|(s, e)| *s < t && t < *e))
    };
    let mut out = Checked::default();
    for c in rec.decisions.iter().filter(|d| d["kind"] == "disruption") {
        out.commands += 1;
        let t = ms(c);
        let reason = c["reason"].as_str().unwrap();
        let mut by_pool: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for name in node_names(c) {
            let n = nodes
                .get(name)
                .ok_or_else(|| format!("{name} is not a node: {c}"))?;
            by_pool.entry(n.nodepool.as_str()).or_default().push(name);
        }
        for (pool, members) in by_pool {
            let spec = pools
                .get(pool)
                .ok_or_else(|| format!("unknown pool {pool}"))?;
            let counted: Vec<&NodeRecord> = rec
                .nodes
                .iter()
                .filter(|n| {
                    n.nodepool == pool
                        && n.ready_ms.is_some_and(|r| r <= t)
                        && stops_counting(n).is_none_or(|s| t < s)
                })
                .collect();
            for m in &members {
                if !counted.iter().any(|n| n.name == *m) {
                    return Err(format!(
                        "{m} is not an initialized live node at {t} ms: {c}"
                    ));
                }
                if is_disrupting(m, t) {
                    return Err(format!("{m} is already being disrupted at {t} ms: {c}"));
                }
            }
            let busy = counted
                .iter()
                .filter(|n| !members.contains(&n.name.as_str()) && is_disrupting(&n.name, t))
                .count() as u32;
            let Some(allowed) = spec.allowed(reason, counted.len() as u32) else {
                continue;
            };
            let used = busy + members.len() as u32;
            if used > allowed {
                return Err(format!(
                    "pool {pool} at {t} ms ({reason}): {busy} disrupting + {} in the command > {allowed} allowed of {} nodes ({:?}): {c}",
                    members.len(),
                    counted.len(),
                    spec.budgets
                ));
            }
            if used == allowed {
                out.tight += 1;
                if busy > 0 {
                    out.tight_with_disrupting += 1;
                }
            }
        }
    }
    Ok(out)
}

fn write_and_run(
    dir: &Path,
    seed: u64,
    pools: &BTreeMap<&str, PoolSpec>,
    trace: &str,
    pdbs: Option<&str>,
) -> MemoryRecorder {
    let docs: Vec<String> = pools.iter().map(|(n, p)| p.yaml(n)).collect();
    crate::run_scenario_files(
        dir,
        &format!("{NODECLASS}---\n{}", docs.join("---\n")),
        trace,
        pdbs,
        &format!("name: budgets\nseed: {seed}\nduration: 90m\n"),
        "",
    )
    .1
}

fn budget_strategy() -> impl Strategy<Value = Budget> {
    (
        prop_oneof![
            (0u32..4).prop_map(Nodes::Count),
            prop::sample::select(vec![10u32, 20, 30, 50, 100]).prop_map(Nodes::Percent),
        ],
        prop::sample::select(vec![None, None, None, Some("Empty"), Some("Underutilized")]),
    )
        .prop_map(|(nodes, reason)| Budget { nodes, reason })
}

fn pool_strategy() -> impl Strategy<Value = PoolSpec> {
    (
        any::<bool>(),
        prop::sample::select(vec![0u32, 10, 30]),
        prop::collection::vec(budget_strategy(), 1..3),
    )
        .prop_map(|(when_empty, consolidate_after_s, budgets)| PoolSpec {
            when_empty,
            consolidate_after_s,
            budgets,
            expire_after_m: None,
        })
}

/// Pods arrive in bursts (every 15 min, within 20 s) so that many nodes come up, empty out
/// and turn underutilized together, which is when budgets bind.
fn row_strategy() -> impl Strategy<Value = Row> {
    (
        0u32..4,
        0u32..20,
        prop::sample::select(vec![None, Some(120u32), Some(300), Some(600), Some(1200)]),
        prop::sample::select(vec![300u32, 700, 1200, 1700]),
        any::<bool>(),
    )
        .prop_map(|(burst, jitter, d, cpu, a)| (burst * 900 + jitter, d, cpu, a))
}

fn trace(rows: &[Row]) -> String {
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|r| r.0);
    let mut csv = String::from("arrival,duration,cpu,memory,node_selector\n");
    for (a, d, cpu, pool_a) in sorted {
        let d = d.map(|d| d.to_string()).unwrap_or_default();
        let p = if pool_a { "a" } else { "b" };
        csv.push_str(&format!("{a},{d},{cpu}m,256Mi,karpenter.sh/nodepool={p}\n"));
    }
    csv
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    // karpenter: pkg/controllers/disruption/emptiness_test.go "should only allow 3 empty nodes to be disrupted"
    // karpenter: pkg/controllers/disruption/suite_test.go "should consider nodes with a deletion timestamp set and MarkedForDeletion to the disruption count"
    #[test]
    fn disruption_budgets_are_never_exceeded(
        seed in 0u64..1000,
        a in pool_strategy(),
        b in pool_strategy(),
        rows in proptest::collection::vec(row_strategy(), 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let pools = BTreeMap::from([("a", a), ("b", b)]);
        let rec = write_and_run(dir.path(), seed, &pools, &trace(&rows), None);
        if let Err(e) = check_budgets(&rec, &pools) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The oracle is not vacuous: on fixed runs where budgets bind it sees commands that use a
/// budget up exactly, one of them next to a node that another cause (expiration) is deleting.
#[test]
fn the_budget_oracle_sees_binding_budgets() {
    let when_empty = |budget: Nodes, expire_after_m: Option<u32>| PoolSpec {
        when_empty: true,
        consolidate_after_s: 0,
        budgets: vec![Budget {
            nodes: budget,
            reason: None,
        }],
        expire_after_m,
    };
    // Ten nodes whose pods end together; Emptiness under 30% deletes 3 at a time.
    let dir = tempfile::tempdir().unwrap();
    let pools = BTreeMap::from([("a", when_empty(Nodes::Percent(30), None))]);
    let rows: Vec<Row> = (0..10).map(|_| (0, Some(300), 1700, true)).collect();
    let rec = write_and_run(dir.path(), 1, &pools, &trace(&rows), None);
    let seen = check_budgets(&rec, &pools).unwrap();
    assert!(seen.commands >= 2 && seen.tight >= 1, "{seen:?}");

    // A node drains forever after expiring (a PDB keeps its pod) and uses one of budget "2";
    // the other node's Emptiness command takes the last one.
    let dir = tempfile::tempdir().unwrap();
    let pools = BTreeMap::from([("a", when_empty(Nodes::Count(2), Some(10)))]);
    let pdb = "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: pdb, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: test}}
";
    let rec = write_and_run(
        dir.path(),
        1,
        &pools,
        "arrival,duration,cpu,memory,labels\n0,,1500m,256Mi,app=test\n400,200,1500m,256Mi,\n",
        Some(pdb),
    );
    let seen = check_budgets(&rec, &pools).unwrap();
    assert_eq!(seen.commands, 1, "{seen:?}");
    assert_eq!(seen.tight_with_disrupting, 1, "{seen:?}");
}
