//! Karpenter's own disruption tests (kubernetes-sigs/karpenter at 2266468, see
//! docs/research/karpenter-disruption-tests.md), ported to karpsim's world: real EC2 types from
//! the embedded catalog instead of the fake catalog, and timed traces instead of clock steps.
//! Nodes only exist because pods made Karpenter launch them, and `Consolidatable` is earned
//! (consolidateAfter after the last pod event) rather than preset, so each port states when the
//! decision may happen relative to the pod events that set it up. Production method order and
//! the 15 s validation are always on (guide §4 item 3).

use karpsim::engine::{MemoryRecorder, RunSummary};
use serde_json::Value;

use crate::NODECLASS;

/// Trace header used by every test: a subset of the contract's columns, in its order.
const H: &str = "arrival,duration,namespace,cpu,memory,labels,node_selector,do_not_disrupt\n";

/// A NodePool limited to `types` (instance-type names, or a raw requirement line when it starts
/// with `-`) and `caps` capacity types. `template` is extra lines at `spec.template.spec` level.
fn pool(name: &str, types: &str, caps: &str, disruption: &str, template: &str) -> String {
    let reqs = if types.trim_start().starts_with('-') {
        format!(
            "{types}\n        - {{key: karpenter.sh/capacity-type, operator: In, values: [{caps}]}}"
        )
    } else {
        crate::types_and_caps(types, caps)
    };
    crate::nodepool_yaml(
        name,
        "default",
        &reqs,
        template,
        &format!("  disruption:\n{disruption}\n"),
    )
}

/// Runs a scenario: `pools` (NodePool documents joined by `---`), the trace rows (after
/// [`H`]), optional PDB documents, and extra top-level scenario YAML.
fn sim(
    pools: &[String],
    rows: &str,
    pdbs: Option<&str>,
    duration: &str,
    extra: &str,
) -> (RunSummary, MemoryRecorder) {
    let dir = tempfile::tempdir().unwrap();
    crate::run_scenario_files(
        dir.path(),
        &format!("{NODECLASS}---\n{}", pools.join("---\n")),
        &format!("{H}{rows}"),
        pdbs,
        &format!("name: disruption\nseed: 1\nstart: 2024-01-01T00:00:00Z\nduration: {duration}\n"),
        extra,
    )
}

/// A zero budget active for the first 10 minutes of the run (the run starts at 00:00 UTC).
const HOLD_10M: &str =
    "      - nodes: \"0\"\n        schedule: \"0 0 * * *\"\n        duration: 10m";

const WHEN_EMPTY_0S: &str = "    consolidationPolicy: WhenEmpty\n    consolidateAfter: 0s";
const UNDERUTILIZED_30S: &str =
    "    consolidationPolicy: WhenEmptyOrUnderutilized\n    consolidateAfter: 30s";

fn with_budgets(policy: &str, budgets: &str) -> String {
    format!("{policy}\n    budgets:\n{budgets}")
}

/// The disruption decisions (commands started), in time order.
fn commands(rec: &MemoryRecorder) -> Vec<&Value> {
    rec.decisions
        .iter()
        .filter(|d| d["kind"] == "disruption")
        .collect()
}

fn names(d: &Value) -> Vec<String> {
    d["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

fn secs(d: &Value) -> f64 {
    d["time"].as_f64().unwrap()
}

/// The node a pod was first bound to.
fn first_node(rec: &MemoryRecorder, pod: u32) -> String {
    rec.bindings
        .iter()
        .filter(|b| b.0 == pod)
        .min_by_key(|b| b.2)
        .map(|b| b.1.clone())
        .unwrap_or_else(|| panic!("pod {pod} was never bound"))
}

/// The record of trace row `id` (`rec.pods` is in completion order, not id order).
fn pod(rec: &MemoryRecorder, id: u32) -> &karpsim::engine::PodRecord {
    rec.pods.iter().find(|p| p.id == id).unwrap()
}

fn reason(rec: &MemoryRecorder, i: usize) -> Option<&str> {
    rec.nodes[i].termination_reason.as_deref()
}

fn count(s: &RunSummary, reason: &str) -> u64 {
    s.terminated_by_reason.get(reason).copied().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Emptiness
// ---------------------------------------------------------------------------------------------

/// One spot m5.large whose only pod runs 0–300 s.
fn one_empty_spot_node(disruption: &str) -> (RunSummary, MemoryRecorder) {
    sim(
        &[pool("default", "m5.large", "spot", disruption, "")],
        "0,300,,500m,256Mi,,,\n",
        None,
        "30m",
        "",
    )
}

// karpenter: pkg/controllers/disruption/emptiness_test.go "can delete empty nodes"
#[test]
fn e1_can_delete_empty_nodes() {
    let (s, rec) = one_empty_spot_node(WHEN_EMPTY_0S);
    assert_eq!(s.nodes_launched, 1, "emptiness launches no replacement");
    assert_eq!(reason(&rec, 0), Some("empty"));
    assert_eq!(count(&s, "empty"), 1);
    assert_eq!(s.pods_evicted, 0);
    let cmds = commands(&rec);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0]["method"], "emptiness");
    assert_eq!(cmds[0]["reason"], "Empty");
    assert_eq!(names(cmds[0]), vec![rec.nodes[0].name.clone()]);
}

// karpenter: pkg/controllers/disruption/emptiness_test.go "should wait for the node TTL for empty nodes before consolidating"
#[test]
fn e13_emptiness_waits_15s_before_deleting() {
    let (_, rec) = one_empty_spot_node(WHEN_EMPTY_0S);
    let end = pod(&rec, 0).ended_ms.unwrap() as f64 / 1000.0;
    let cmds = commands(&rec);
    let t = secs(cmds[0]);
    // Consolidatable at the pod's end (0 s); the next 10 s poll picks it; 15 s validation.
    assert!(
        t >= end + 15.0 && t <= end + 10.0 + 15.0 + 0.001,
        "started at {t}, pod ended at {end}"
    );
    // The node still existed during the wait.
    let gone = rec.nodes[0].terminated_ms.unwrap() as f64 / 1000.0;
    assert!(gone >= t, "node gone at {gone} before the command at {t}");
}

// karpenter: pkg/controllers/disruption/emptiness_test.go "should ignore nodes that have pods"
#[test]
fn e6_should_ignore_nodes_that_have_pods() {
    let (s, rec) = sim(
        &[pool("default", "m5.large", "spot", WHEN_EMPTY_0S, "")],
        "0,,,100m,256Mi,,,\n",
        None,
        "30m",
        "",
    );
    assert_eq!(count(&s, "empty"), 0);
    assert!(rec.nodes[0].terminated_ms.is_none());
    assert!(commands(&rec).is_empty());
}

/// `n` m5.large nodes (pools round-robin), each holding one 1500m pod from 0 to 300 s; pods
/// select their pool through `karpenter.sh/nodepool`.
///
/// Pods run 300 s from when they start, and nodes become Ready at different times, so the nodes
/// empty out at different instants. Go tests preset every node Consolidatable at once; to get
/// the same "all empty at the decision" state, the caller's budgets come with a scheduled
/// zero budget over 00:00–00:10 (see [`HOLD_10M`]).
fn empty_nodes(pools: &[(&str, &str)], per_pool: usize) -> (RunSummary, MemoryRecorder) {
    let ps: Vec<String> = pools
        .iter()
        .map(|(n, d)| pool(n, "m5.large", "on-demand", d, ""))
        .collect();
    let mut rows = String::new();
    for (n, _) in pools {
        for _ in 0..per_pool {
            rows.push_str(&format!("0,300,,1500m,256Mi,,karpenter.sh/nodepool={n},\n"));
        }
    }
    sim(&ps, &rows, None, "1h", "")
}

// karpenter: pkg/controllers/disruption/emptiness_test.go "can delete multiple empty nodes"
#[test]
fn e8_can_delete_multiple_empty_nodes() {
    let (s, rec) = empty_nodes(
        &[(
            "default",
            &with_budgets(
                WHEN_EMPTY_0S,
                &format!("      - nodes: \"100%\"\n{HOLD_10M}"),
            ),
        )],
        2,
    );
    assert_eq!(s.nodes_launched, 2);
    let cmds = commands(&rec);
    assert_eq!(
        cmds.len(),
        1,
        "one command carries every empty node: {cmds:?}"
    );
    assert_eq!(names(cmds[0]).len(), 2);
    assert_eq!(count(&s, "empty"), 2);
}

// karpenter: pkg/controllers/disruption/emptiness_test.go "should allow all empty nodes to be disrupted"
#[test]
fn b1_budget_100_percent_allows_all_empty_nodes() {
    let d = with_budgets(
        WHEN_EMPTY_0S,
        &format!("      - nodes: \"100%\"\n{HOLD_10M}"),
    );
    let (s, rec) = empty_nodes(&[("default", &d)], 10);
    assert_eq!(s.nodes_launched, 10);
    let cmds = commands(&rec);
    assert_eq!(cmds.len(), 1);
    assert_eq!(names(cmds[0]).len(), 10);
    assert_eq!(count(&s, "empty"), 10);
}

// karpenter: pkg/controllers/disruption/emptiness_test.go "should allow no empty nodes to be disrupted"
#[test]
fn b2_budget_0_percent_allows_no_empty_node() {
    let d = with_budgets(WHEN_EMPTY_0S, "      - nodes: \"0%\"");
    let (s, rec) = empty_nodes(&[("default", &d)], 10);
    assert_eq!(s.nodes_launched, 10);
    assert!(commands(&rec).is_empty());
    assert_eq!(count(&s, "empty"), 0);
    assert!(rec.nodes.iter().all(|n| n.terminated_ms.is_none()));
    assert!(
        rec.decisions
            .iter()
            .any(|d| d["kind"] == "disruption-blocked" && d["method"] == "emptiness")
    );
}

// karpenter: pkg/controllers/disruption/emptiness_test.go "should only allow 3 empty nodes to be disrupted"
#[test]
fn b3_budget_30_percent_of_10_allows_3() {
    let d = with_budgets(
        WHEN_EMPTY_0S,
        &format!("      - nodes: \"30%\"\n{HOLD_10M}"),
    );
    let (s, rec) = empty_nodes(&[("default", &d)], 10);
    let cmds = commands(&rec);
    assert_eq!(
        names(cmds[0]).len(),
        3,
        "ceil(30% × 10) = 3 in the first command"
    );
    // Deleting nodes consume the budget until they are gone: never more than 3 at once.
    for c in &cmds {
        assert!(names(c).len() <= 3, "{c}");
    }
    // Over the run, every empty node eventually goes.
    assert_eq!(count(&s, "empty"), 10);
}

// karpenter: pkg/controllers/disruption/emptiness_test.go "should allow 2 nodes from each nodePool to be deleted"
#[test]
fn b4_budget_50_percent_gives_2_per_pool_in_one_command() {
    let d = with_budgets(
        "    consolidationPolicy: WhenEmpty\n    consolidateAfter: 30s",
        &format!("      - nodes: \"50%\"\n{HOLD_10M}"),
    );
    let (s, rec) = empty_nodes(&[("pool-a", &d), ("pool-b", &d), ("pool-c", &d)], 3);
    assert_eq!(s.nodes_launched, 9);
    let cmds = commands(&rec);
    let first = names(cmds[0]);
    assert_eq!(
        first.len(),
        6,
        "ceil(50% × 3) = 2 per pool, 3 pools: {first:?}"
    );
    for p in ["pool-a", "pool-b", "pool-c"] {
        let n = rec
            .nodes
            .iter()
            .filter(|n| n.nodepool == p && first.contains(&n.name))
            .count();
        assert_eq!(n, 2, "pool {p}");
    }
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "should not mark empty node consolidated if the candidates can't be disrupted due to budgets with one nodepool"
// A budget-blocked pass is not memoised: a scheduled zero budget (00:00–00:10 UTC) blocks the
// empty node, and the node goes at the first poll after the window closes, not 5 min later.
#[test]
fn b9_budget_blocked_pass_is_not_memoised() {
    let d = with_budgets(
        WHEN_EMPTY_0S,
        "      - nodes: \"0\"\n        schedule: \"0 0 * * *\"\n        duration: 10m",
    );
    let (s, rec) = sim(
        &[pool("default", "m5.large", "on-demand", &d, "")],
        "0,60,,500m,256Mi,,,\n",
        None,
        "30m",
        "",
    );
    assert_eq!(count(&s, "empty"), 1);
    let cmds = commands(&rec);
    let t = secs(cmds[0]);
    assert!(
        (600.0 + 15.0..=600.0 + 10.0 + 15.0 + 0.001).contains(&t),
        "emptiness started at {t} s"
    );
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "should allow no nodes from each nodePool to be deleted"
#[test]
fn b6_zero_budget_in_every_pool_blocks_consolidation() {
    let d = with_budgets(UNDERUTILIZED_30S, "      - nodes: \"0%\"");
    let (s, rec) = sim(
        &[
            pool("pool-a", "m5.xlarge", "on-demand", &d, ""),
            pool("pool-b", "m5.xlarge", "on-demand", &d, ""),
        ],
        // Each pool: two m5.xlarge nodes whose big pods end at 300 s, leaving 450m each.
        &two_node_rows(Some("karpenter.sh/nodepool=pool-a"), 0.0)
            .chars()
            .chain(two_node_rows(Some("karpenter.sh/nodepool=pool-b"), 120.0).chars())
            .collect::<String>(),
        None,
        "1h",
        "",
    );
    assert_eq!(s.nodes_launched, 4);
    assert!(commands(&rec).is_empty());
    assert_eq!(s.pods_evicted, 0);
}

// ---------------------------------------------------------------------------------------------
// Single-node delete (CT-Delete, translated)
// ---------------------------------------------------------------------------------------------

/// Two on-demand m5.xlarge nodes (3920m allocatable). node0 gets pods 0 (3000m, ends at +300 s),
/// 1 and 2 (450m each); node1 gets pods 3 (3000m, ends at +300 s) and 4 (450m) — at +60 s,
/// when node0 has no room. After +300 s node0 holds 2 small pods, node1 holds 1.
fn two_node_rows(sel: Option<&str>, t0: f64) -> String {
    let sel = sel.unwrap_or("");
    format!(
        "{a},300,,3000m,256Mi,,{sel},\n{a},,,450m,256Mi,,{sel},\n{a},,,450m,256Mi,,{sel},\n{b},{db},,3000m,256Mi,,{sel},\n{b},,,450m,256Mi,,{sel},\n",
        a = t0,
        b = t0 + 60.0,
        db = 240
    )
}

/// Like [`two_node_rows`] with the columns after `memory` of pod 4 (node1's small pod) and of
/// pods 1/2 given explicitly: (labels, do_not_disrupt, namespace).
fn two_nodes_with(node0_small: (&str, &str, &str), node1_small: (&str, &str, &str)) -> String {
    let (l0, d0, n0) = node0_small;
    let (l1, d1, n1) = node1_small;
    format!(
        "0,300,,3000m,256Mi,,,\n0,,{n0},450m,256Mi,{l0},,{d0}\n0,,{n0},450m,256Mi,{l0},,{d0}\n60,240,,3000m,256Mi,,,\n60,,{n1},450m,256Mi,{l1},,{d1}\n"
    )
}

fn run_two_nodes(rows: &str, pdbs: Option<&str>, template: &str) -> (RunSummary, MemoryRecorder) {
    sim(
        &[pool(
            "default",
            "m5.xlarge",
            "on-demand",
            UNDERUTILIZED_30S,
            template,
        )],
        rows,
        pdbs,
        "1h",
        "",
    )
}

fn assert_two_nodes_setup(rec: &MemoryRecorder) -> (String, String) {
    let n0 = first_node(rec, 1);
    let n1 = first_node(rec, 4);
    assert_ne!(n0, n1);
    assert_eq!(first_node(rec, 2), n0);
    assert_eq!(first_node(rec, 0), n0);
    assert_eq!(first_node(rec, 3), n1);
    (n0, n1)
}

fn node<'a>(rec: &'a MemoryRecorder, name: &str) -> &'a karpsim::engine::NodeRecord {
    rec.nodes.iter().find(|n| n.name == name).unwrap()
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "can delete nodes"
#[test]
fn sc2_can_delete_nodes() {
    let (s, rec) = run_two_nodes(&two_node_rows(None, 0.0), None, "");
    let (n0, n1) = assert_two_nodes_setup(&rec);
    assert_eq!(s.nodes_launched, 2, "a delete launches nothing");
    // Equal prices: the node with fewer pods (higher savings ratio) goes; its pod moves.
    assert_eq!(
        node(&rec, &n1).termination_reason.as_deref(),
        Some("underutilized")
    );
    assert!(node(&rec, &n0).terminated_ms.is_none());
    assert_eq!(s.pods_evicted, 1);
    assert_eq!(pod(&rec, 4).evictions, 1);
    assert_eq!(pod(&rec, 4).node.as_deref(), Some(n0.as_str()));
    let cmds = commands(&rec);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0]["method"], "single-node");
    assert_eq!(cmds[0]["decision"], "delete");
    assert_eq!(names(cmds[0]), vec![n1.clone()]);
    // Consolidatable 30 s after the last pod event (300 s), then the 15 s validation.
    assert!(secs(cmds[0]) >= 300.0 + 30.0 + 15.0, "{}", cmds[0]);
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "won't merge 2 nodes into 1 of the same type"
#[test]
fn mn3_wont_merge_two_nodes_into_one_of_the_same_type() {
    let (s, rec) = run_two_nodes(&two_node_rows(None, 0.0), None, "");
    let (n0, n1) = assert_two_nodes_setup(&rec);
    // Multi-node would need one new m5.xlarge for both: filtered as the same type. Single-node
    // then deletes the node with fewer pods.
    assert!(
        commands(&rec).iter().all(|c| c["method"] != "multi-node"),
        "{:?}",
        commands(&rec)
    );
    assert_eq!(s.nodes_launched, 2);
    assert!(node(&rec, &n1).terminated_ms.is_some());
    assert!(node(&rec, &n0).terminated_ms.is_none());
}

/// A PodDisruptionBudget in `namespace` that allows no disruption of `app=test` pods.
fn blocking_pdb(namespace: &str) -> String {
    format!(
        "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: pdb, namespace: {namespace}}}
spec:
  maxUnavailable: 0
  selector: {{matchLabels: {{app: test}}}}
"
    )
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "can delete nodes, considers PDB"
#[test]
fn sc5_can_delete_nodes_considers_pdb() {
    let rows = two_nodes_with(("", "", ""), ("app=test", "", ""));
    let (s, rec) = run_two_nodes(&rows, Some(&blocking_pdb("default")), "");
    let (n0, n1) = assert_two_nodes_setup(&rec);
    // node1's pod is PDB-blocked, so node1 is no candidate: node0 goes, its pods move to node1.
    assert_eq!(
        node(&rec, &n0).termination_reason.as_deref(),
        Some("underutilized")
    );
    assert!(node(&rec, &n1).terminated_ms.is_none());
    assert_eq!(pod(&rec, 4).evictions, 0);
    assert_eq!(s.pods_evicted, 2);
    assert_eq!(pod(&rec, 1).node.as_deref(), Some(n1.as_str()));
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "can delete nodes, considers karpenter.sh/do-not-disrupt set to true on pods"
#[test]
fn sc7_can_delete_nodes_considers_do_not_disrupt_pods() {
    let rows = two_nodes_with(("", "", ""), ("", "true", ""));
    let (s, rec) = run_two_nodes(&rows, None, "");
    let (n0, n1) = assert_two_nodes_setup(&rec);
    assert_eq!(
        node(&rec, &n0).termination_reason.as_deref(),
        Some("underutilized")
    );
    assert!(node(&rec, &n1).terminated_ms.is_none());
    assert_eq!(
        pod(&rec, 4).evictions,
        0,
        "a do-not-disrupt pod is never evicted"
    );
    assert_eq!(s.pods_evicted, 2);
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "does not consolidate nodes with karpenter.sh/do-not-disrupt set to true on pods when the NodePool's TerminationGracePeriod is not nil"
#[test]
fn sc8_do_not_disrupt_blocks_consolidation_even_with_tgp() {
    let rows = two_nodes_with(("", "true", ""), ("", "true", ""));
    let (s, rec) = run_two_nodes(&rows, None, "      terminationGracePeriod: 300s\n");
    assert_two_nodes_setup(&rec);
    assert!(commands(&rec).is_empty(), "{:?}", commands(&rec));
    assert_eq!(s.pods_evicted, 0);
    assert!(rec.nodes.iter().all(|n| n.terminated_ms.is_none()));
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "does not consolidate nodes with pods with blocking PDBs when the NodePool's TerminationGracePeriod is not nil"
#[test]
fn sc9_blocking_pdb_blocks_consolidation_even_with_tgp() {
    let rows = two_nodes_with(("app=test", "", ""), ("app=test", "", ""));
    let (s, rec) = run_two_nodes(
        &rows,
        Some(&blocking_pdb("default")),
        "      terminationGracePeriod: 300s\n",
    );
    assert_two_nodes_setup(&rec);
    assert!(commands(&rec).is_empty(), "{:?}", commands(&rec));
    assert_eq!(s.pods_evicted, 0);
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "can delete nodes with a permanently pending pod"
#[test]
fn sc19_a_permanently_pending_pod_does_not_block_a_delete() {
    let rows = format!(
        "{}0,,,100m,256Mi,,non-existent=node-label,\n",
        two_node_rows(None, 0.0)
    );
    let (s, rec) = run_two_nodes(&rows, None, "");
    let (n0, n1) = assert_two_nodes_setup(&rec);
    assert!(node(&rec, &n1).terminated_ms.is_some());
    assert!(node(&rec, &n0).terminated_ms.is_none());
    assert!(
        pod(&rec, 5).scheduled_ms.is_none(),
        "the pending pod stays pending"
    );
    assert_eq!(s.nodes_launched, 2);
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "can delete nodes, when non-Karpenter capacity can fit pods"
#[test]
fn sc4_pods_fit_on_non_karpenter_capacity() {
    // An unmanaged m5.xlarge is full (pod 0, 3900m) until ~305 s; a Karpenter node gets pods
    // 1 (3000m) and 2 (450m). Once pod 0 ends, both fit on the unmanaged node: delete.
    let (s, rec) = sim(
        &[pool(
            "default",
            "m5.xlarge",
            "on-demand",
            UNDERUTILIZED_30S,
            "",
        )],
        "0,300,,3900m,256Mi,,,\n10,300,,3000m,256Mi,,,\n10,,,450m,256Mi,,,\n",
        None,
        "1h",
        "existing_nodes:\n  - {instance_type: m5.xlarge}\n",
    );
    let managed: Vec<_> = rec
        .nodes
        .iter()
        .filter(|n| n.nodepool == "default")
        .collect();
    assert_eq!(managed.len(), 1);
    let unmanaged = first_node(&rec, 0);
    assert_eq!(first_node(&rec, 1), managed[0].name);
    assert_eq!(
        managed[0].termination_reason.as_deref(),
        Some("underutilized")
    );
    assert_eq!(pod(&rec, 2).node.as_deref(), Some(unmanaged.as_str()));
    assert_eq!(s.pods_evicted, 2);
    assert_eq!(commands(&rec)[0]["decision"], "delete");
}

// karpenter: pkg/controllers/disruption/suite_test.go "should not consider candidates that have do-not-disrupt pods scheduled and no terminationGracePeriod"
#[test]
fn c1_do_not_disrupt_pod_makes_a_node_no_candidate() {
    let (s, rec) = replace_scenario("on-demand", "true", None, "");
    assert_eq!(s.nodes_launched, 1, "no replacement: {:?}", commands(&rec));
    assert!(commands(&rec).is_empty());
    assert_eq!(pod(&rec, 1).evictions, 0);
}

// ---------------------------------------------------------------------------------------------
// Single-node replace
// ---------------------------------------------------------------------------------------------

/// One node from a pool of m5 sizes: pod 0 (14 cpu) runs 0–300 s, pod 1 (500m, `dnd`,
/// labels `app=test`, namespace `ns`) stays.
fn replace_scenario(
    caps: &str,
    dnd: &str,
    pdbs: Option<&str>,
    extra: &str,
) -> (RunSummary, MemoryRecorder) {
    sim(
        &[pool(
            "default",
            "m5.large, m5.xlarge, m5.2xlarge, m5.4xlarge",
            caps,
            UNDERUTILIZED_30S,
            "",
        )],
        &format!("0,300,,14,256Mi,,,\n0,,default,500m,256Mi,app=test,,{dnd}\n"),
        pdbs,
        "1h",
        extra,
    )
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "can replace node"
#[test]
fn sc1_can_replace_node_on_demand() {
    let (s, rec) = replace_scenario("on-demand", "", None, "");
    assert_eq!(s.nodes_launched, 2);
    assert_eq!(rec.nodes[0].instance_type, "m5.4xlarge");
    assert_eq!(reason(&rec, 0), Some("underutilized"));
    assert_eq!(rec.nodes[1].instance_type, "m5.large");
    assert!(rec.nodes[1].price_per_hour < rec.nodes[0].price_per_hour);
    let cmds = commands(&rec);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0]["decision"], "replace");
    assert_eq!(cmds[0]["method"], "single-node");
    // Queue: the candidate drains only after its replacement is Ready.
    let ready = rec.nodes[1].ready_ms.unwrap();
    assert!(rec.nodes[0].terminated_ms.unwrap() >= ready);
    let moved = rec
        .bindings
        .iter()
        .find(|b| b.0 == 1 && b.1 == rec.nodes[1].name)
        .unwrap();
    assert!(moved.2 >= ready);
    assert_eq!(pod(&rec, 1).evictions, 1);
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "can replace nodes, considers PDB"
#[test]
fn sc23_blocking_pdb_prevents_replace() {
    let (s, rec) = replace_scenario("on-demand", "", Some(&blocking_pdb("default")), "");
    assert_eq!(s.nodes_launched, 1);
    assert!(commands(&rec).is_empty());
    assert!(rec.nodes[0].terminated_ms.is_none());
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "can replace nodes, PDB namespace must match"
#[test]
fn sc25_pdb_in_another_namespace_does_not_apply() {
    let (s, rec) = replace_scenario("on-demand", "", Some(&blocking_pdb("other")), "");
    assert_eq!(s.nodes_launched, 2);
    assert_eq!(reason(&rec, 0), Some("underutilized"));
}

/// A spot pool over c/m/r (gen > 4, ≤ 16 vCPU); a 14-cpu pod (0–300 s) and a 500m pod.
fn spot_to_spot(extra: &str) -> (RunSummary, MemoryRecorder) {
    sim(
        &[pool(
            "default",
            "        - {key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m, r]}\n        - {key: karpenter.k8s.aws/instance-generation, operator: Gt, values: [\"4\"]}\n        - {key: karpenter.k8s.aws/instance-cpu, operator: Lt, values: [\"17\"]}",
            "spot",
            UNDERUTILIZED_30S,
            "",
        )],
        "0,300,,14,256Mi,,,\n0,,,500m,256Mi,,,\n",
        None,
        "1h",
        extra,
    )
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "can replace node"
// (entry "if the candidate is spot node": spot-to-spot with ≥ 15 cheaper spot types; the
// options are truncated to the 15 cheapest.)
#[test]
fn sc1_can_replace_node_spot_to_spot() {
    let (s, rec) = spot_to_spot("karpenter: {feature_gates: {SpotToSpotConsolidation: true}}\n");
    assert_eq!(s.nodes_launched, 2, "{:?}", commands(&rec));
    assert_eq!(rec.nodes[0].capacity_type, "spot");
    assert_eq!(reason(&rec, 0), Some("underutilized"));
    assert_eq!(rec.nodes[1].capacity_type, "spot");
    assert!(rec.nodes[1].price_per_hour < rec.nodes[0].price_per_hour);
    let cmds = commands(&rec);
    assert_eq!(cmds[0]["decision"], "replace");
    assert_eq!(cmds[0]["replacement_options"], 15, "{}", cmds[0]);
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "cannot replace spot with spot if the spotToSpotConsolidation is disabled"
#[test]
fn p2_no_spot_to_spot_without_the_feature_gate() {
    let (s, rec) = spot_to_spot("");
    assert_eq!(s.nodes_launched, 1);
    assert!(commands(&rec).is_empty());
    assert!(rec.nodes[0].terminated_ms.is_none());
}

// ---------------------------------------------------------------------------------------------
// Multi-node
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/disruption/consolidation_test.go "can merge 3 nodes into 1"
#[test]
fn mn1_can_merge_3_nodes_into_1() {
    // Three m5.xlarge nodes (a 3450m + a 450m pod each, launched 60 s apart); the big pods end
    // after 300 s, leaving 3 × 450m that one m5.large holds.
    // The Go test presets all three Consolidatable at once; here a scheduled zero budget
    // holds Underutilized for the first 10 minutes, by when all three have turned so.
    let rows = "0,300,,3450m,256Mi,,,\n0,,,450m,256Mi,,,\n60,300,,3450m,256Mi,,,\n60,,,450m,256Mi,,,\n120,300,,3450m,256Mi,,,\n120,,,450m,256Mi,,,\n";
    let d = with_budgets(
        UNDERUTILIZED_30S,
        &format!("      - nodes: \"100%\"\n{HOLD_10M}"),
    );
    let (s, rec) = sim(
        &[pool("default", "m5.large, m5.xlarge", "on-demand", &d, "")],
        rows,
        None,
        "1h",
        "",
    );
    let olds: Vec<String> = [1, 3, 5].iter().map(|p| first_node(&rec, *p)).collect();
    assert_eq!(s.nodes_launched, 4, "{:?}", commands(&rec));
    let cmds = commands(&rec);
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert_eq!(cmds[0]["method"], "multi-node");
    assert_eq!(cmds[0]["decision"], "replace");
    let mut got = names(cmds[0]);
    got.sort();
    let mut want = olds.clone();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(rec.nodes[3].instance_type, "m5.large");
    assert_eq!(count(&s, "underutilized"), 3);
    for o in &olds {
        assert!(node(&rec, o).terminated_ms.unwrap() >= rec.nodes[3].ready_ms.unwrap());
    }
}

// ---------------------------------------------------------------------------------------------
// Expiration and termination
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/nodeclaim/expiration/suite_test.go "should remove nodeclaims that are expired"
// (guide §3.L: expiration ignores budgets, so the port adds a zero budget.)
#[test]
fn x1_expiration_ignores_a_zero_budget() {
    let d = with_budgets(UNDERUTILIZED_30S, "      - nodes: \"0\"");
    let (s, rec) = sim(
        &[pool(
            "default",
            "m5.large",
            "on-demand",
            &d,
            "      expireAfter: 10m\n",
        )],
        "0,,,500m,256Mi,,,\n",
        None,
        "15m",
        "",
    );
    assert_eq!(reason(&rec, 0), Some("expired"));
    let lived = rec.nodes[0].terminated_ms.unwrap() - rec.nodes[0].launched_ms;
    assert!((600_000..630_000).contains(&lived), "lived {lived} ms");
    assert_eq!(s.disrupted_by_reason.get("expired"), Some(&1));
    // Forceful: no pre-spun replacement; the evicted pod is re-provisioned.
    assert_eq!(pod(&rec, 0).evictions, 1);
    assert_eq!(s.nodes_launched, 2);
}

// karpenter: pkg/controllers/nodeclaim/expiration/suite_test.go "should not remove the NodeClaims when expiration is disabled"
#[test]
fn x2_expire_after_never_keeps_nodes() {
    let (s, rec) = sim(
        &[pool(
            "default",
            "m5.large",
            "on-demand",
            UNDERUTILIZED_30S,
            "      expireAfter: Never\n",
        )],
        "0,,,500m,256Mi,,,\n",
        None,
        "2h",
        "",
    );
    assert_eq!(count(&s, "expired"), 0);
    assert!(rec.nodes[0].terminated_ms.is_none());
}

const PDB_MIN_AVAILABLE: &str = "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: pdb, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: test}}
";

// karpenter: pkg/controllers/node/termination/suite_test.go "should fail to evict pods that violate a PDB"
#[test]
fn t7_pdb_blocks_eviction_while_draining() {
    let (s, rec) = sim(
        &[pool(
            "default",
            "m5.large",
            "on-demand",
            UNDERUTILIZED_30S,
            "      expireAfter: 10m\n",
        )],
        "0,,default,500m,256Mi,app=test,,\n",
        Some(PDB_MIN_AVAILABLE),
        "30m",
        "",
    );
    // The node expires at 10 min and starts draining, but the only pod may not be evicted: the
    // node never finishes terminating and the pod keeps running on it.
    assert!(rec.nodes[0].terminated_ms.is_none(), "{:?}", rec.nodes[0]);
    assert_eq!(pod(&rec, 0).evictions, 0);
    assert_eq!(s.pods_evicted, 0);
    assert_eq!(
        pod(&rec, 0).node.as_deref(),
        Some(rec.nodes[0].name.as_str())
    );
    assert_eq!(pod(&rec, 0).outcome, "running_at_end");
}

// karpenter: pkg/controllers/node/termination/suite_test.go "should preemptively delete pods to satisfy their terminationGracePeriodSeconds"
#[test]
fn t15_tgp_force_deletes_a_do_not_disrupt_pod() {
    let (s, rec) = sim(
        &[pool(
            "default",
            "m5.large",
            "on-demand",
            UNDERUTILIZED_30S,
            "      expireAfter: 10m\n      terminationGracePeriod: 5m\n",
        )],
        "0,,,500m,256Mi,,,true\n",
        None,
        "30m",
        "",
    );
    let n = &rec.nodes[0];
    assert_eq!(n.termination_reason.as_deref(), Some("expired"));
    let expired_at = n.launched_ms + 600_000;
    // The do-not-disrupt pod blocks the drain until the deadline (expiry + 5 min) minus its own
    // 30 s grace, when it is deleted; then the node finishes.
    let pod_gone = rec
        .bindings
        .iter()
        .filter(|b| b.0 == 0 && b.1 == n.name)
        .map(|b| b.3)
        .next()
        .unwrap();
    assert!(
        (expired_at + 270_000..=expired_at + 300_000 + 1_000).contains(&pod_gone),
        "pod left the node {} s after expiry",
        (pod_gone as i64 - expired_at as i64) / 1000
    );
    let gone = n.terminated_ms.unwrap();
    assert!(
        gone >= pod_gone && gone <= expired_at + 300_000 + 60_000,
        "{gone}"
    );
    assert!(s.nodes_launched >= 2);
}

// karpenter: pkg/controllers/disruption/suite_test.go "should not consider candidates that have do-not-disrupt pods scheduled without a terminationGracePeriod set for eventual disruption"
// karpsim: expiration is forceful (no candidacy check); without a TGP the do-not-disrupt pod
// blocks the drain instead, so the node never finishes.
#[test]
fn c8_do_not_disrupt_pod_blocks_drain_without_tgp() {
    let (s, rec) = sim(
        &[pool(
            "default",
            "m5.large",
            "on-demand",
            UNDERUTILIZED_30S,
            "      expireAfter: 10m\n",
        )],
        "0,,,500m,256Mi,,,true\n",
        None,
        "40m",
        "",
    );
    assert!(rec.nodes[0].terminated_ms.is_none());
    assert_eq!(pod(&rec, 0).evictions, 0);
    assert_eq!(s.pods_evicted, 0);
}

// ---------------------------------------------------------------------------------------------
// Shared helpers for the ports below
// ---------------------------------------------------------------------------------------------

/// A zero budget active from the cron `schedule` (UTC; the run starts at 00:00) for `duration`.
fn hold(schedule: &str, duration: &str) -> String {
    format!("      - nodes: \"0\"\n        schedule: \"{schedule}\"\n        duration: {duration}")
}

/// CT-std's policy (consolidateAfter 0s, budget 100%) with a zero budget over 00:00–00:10, so
/// every node is a (budget-blocked) candidate from the start and the first decision falls at the
/// first poll after 600 s, when the setup pods have settled.
fn underutilized_0s_held_10m() -> String {
    with_budgets(
        "    consolidationPolicy: WhenEmptyOrUnderutilized\n    consolidateAfter: 0s",
        &format!("      - nodes: \"100%\"\n{HOLD_10M}"),
    )
}

/// Decisions of one `kind`, in time order.
fn decisions<'a>(rec: &'a MemoryRecorder, kind: &str) -> Vec<&'a Value> {
    rec.decisions.iter().filter(|d| d["kind"] == kind).collect()
}

/// Every stay of pod `id`: (node, from s, to s).
fn stays(rec: &MemoryRecorder, id: u32) -> Vec<(String, f64, f64)> {
    let mut v: Vec<(String, f64, f64)> = rec
        .bindings
        .iter()
        .filter(|b| b.0 == id)
        .map(|b| (b.1.clone(), b.2 as f64 / 1000.0, b.3 as f64 / 1000.0))
        .collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    v
}

/// The only validation failure of the run, asserted to be one.
fn only_validation_failure(rec: &MemoryRecorder) -> &Value {
    let vf = decisions(rec, "disruption-validation-failed");
    assert_eq!(vf.len(), 1, "{vf:?}");
    vf[0]
}

fn candidates(d: &Value) -> Vec<String> {
    let mut v: Vec<String> = d["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// Asserts pod `id` was first bound to `node` while a command computed before `vf` waited for
/// its 15 s validation, i.e. in (vf − 15 s, vf).
fn assert_bound_during_the_wait(rec: &MemoryRecorder, id: u32, node: &str, vf: &Value) {
    let (n, from, _) = stays(rec, id).into_iter().next().unwrap();
    assert_eq!(n, node, "pod {id}");
    let t = secs(vf);
    assert!(
        from > t - 15.0 && from < t,
        "pod {id} bound at {from} s, validation at {t} s"
    );
}

// ---------------------------------------------------------------------------------------------
// Orchestration queue: rollback
// ---------------------------------------------------------------------------------------------

/// The replace scenario with an 11 min launch latency (longer than the queue's 10 min timeout):
/// the m5.4xlarge is Ready at ~661 s and its 14-cpu pod ends at ~966 s. Zero budgets over
/// 00:00–00:22 and 00:30–01:00 let exactly one command start, at the first poll after 1320 s
/// (+15 s), and put its rollback 10 min later inside the second window. Two extra 500m pods:
/// pod 2 at 1400 s (while the command is in flight) and pod 3 at 1960 s (after the rollback,
/// before the replacement turns Ready).
fn timed_out_command() -> (RunSummary, MemoryRecorder) {
    let d = with_budgets(
        UNDERUTILIZED_30S,
        &format!(
            "{}\n{}",
            hold("0 0 * * *", "22m"),
            hold("30 0 * * *", "30m")
        ),
    );
    sim(
        &[pool(
            "default",
            "m5.large, m5.xlarge, m5.2xlarge, m5.4xlarge",
            "on-demand",
            &d,
            "",
        )],
        "0,300,,14,256Mi,,,\n0,,default,500m,256Mi,app=test,,\n1400,,,500m,256Mi,,,\n1960,,,500m,256Mi,,,\n",
        None,
        "59m",
        "karpenter: {launch_latency: {distribution: constant, median: 11m}}\n",
    )
}

// karpenter: pkg/controllers/disruption/queue_test.go "should untaint nodes when a command times out"
#[test]
fn q4_untaint_nodes_when_a_command_times_out() {
    let (s, rec) = timed_out_command();
    let n = rec.nodes[0].name.clone();
    assert_eq!(rec.nodes[0].instance_type, "m5.4xlarge");
    let cmds = commands(&rec);
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    let c = cmds[0];
    assert_eq!(c["method"], "single-node");
    assert_eq!(c["decision"], "replace");
    assert_eq!(names(c), vec![n.clone()]);
    let r = c["replacement_nodeclaim"].as_str().unwrap();
    // The queue gives up 10 min after the command started (polled every second).
    let rb = decisions(&rec, "disruption-rolled-back");
    assert_eq!(rb.len(), 1, "{rb:?}");
    assert_eq!(rb[0]["replacement"], r);
    assert_eq!(names(rb[0]), vec![n.clone()]);
    let waited = secs(rb[0]) - secs(c);
    assert!(
        (600.0..=601.0).contains(&waited),
        "rolled back after {waited} s"
    );
    let repl = node(&rec, r);
    let repl_ready = repl.ready_ms.unwrap() as f64 / 1000.0;
    assert!(
        repl_ready > secs(rb[0]),
        "replacement Ready at {repl_ready}"
    );
    // The rollback keeps the late replacement as an ordinary node, and the candidate with it.
    assert!(repl.terminated_ms.is_none());
    assert!(node(&rec, &n).terminated_ms.is_none());
    assert_eq!(pod(&rec, 1).evictions, 0);
    assert_eq!(s.pods_evicted, 0);
    // While the command is in flight the candidate carries the disrupted taint: pod 2 (1400 s)
    // does not land on it although it has room.
    for (on, from, _) in stays(&rec, 2) {
        assert!(from >= secs(rb[0]), "pod 2 bound to {on} at {from} s");
    }
    // After the rollback the taint is gone: pod 3 (1960 s) binds to the candidate at once.
    assert!(secs(rb[0]) < 1960.0 && 1960.0 < repl_ready);
    let (on, from, _) = stays(&rec, 3).into_iter().next().unwrap();
    assert_eq!(on, n);
    assert!(from < 1961.0, "pod 3 bound at {from} s");
}

// karpenter: pkg/controllers/disruption/queue_test.go "should untaint nodes when a command times out"
// (kube-scheduler side: removing the disrupted taint is a Node update that moves unschedulable
// pods back to the active queue, so a pod left pending by the taint binds to the candidate
// within its backoff, not when some other node turns Ready.)
#[test]
fn q4_pending_pods_bind_to_a_candidate_untainted_by_rollback() {
    let (_, rec) = timed_out_command();
    let n = rec.nodes[0].name.clone();
    let rb = secs(decisions(&rec, "disruption-rolled-back")[0]);
    let (on, from, _) = stays(&rec, 2).into_iter().next().unwrap();
    assert_eq!(on, n, "pod 2 bound at {from} s, rollback at {rb} s");
    assert!(from >= rb && from <= rb + 10.0, "pod 2 bound at {from} s");
}

// karpenter: pkg/controllers/disruption/suite_test.go "should add and remove taints from NodeClaims that fail to disrupt"
#[test]
fn q11_failed_replacement_launch_rolls_the_command_back() {
    // The pool allows spot and on-demand and every spot launch fails (ICE with probability 1):
    // the first NodeClaim fails, the second lands on-demand (m5.4xlarge). Its replacement is
    // forced to spot, so its launch fails, its NodeClaim is deleted and the queue rolls the
    // command back; the candidate is a candidate again and the cycle repeats. It never falls
    // back to a pricier on-demand replacement.
    let (s, rec) = sim(
        &[pool(
            "default",
            "m5.large, m5.xlarge, m5.2xlarge, m5.4xlarge",
            "on-demand, spot",
            UNDERUTILIZED_30S,
            "",
        )],
        "0,300,,14,256Mi,,,\n0,,default,500m,256Mi,app=test,,\n",
        None,
        "20m",
        "interruptions: {model: none, insufficient_capacity: 1.0}\n",
    );
    let n = first_node(&rec, 1);
    assert_eq!(node(&rec, &n).capacity_type, "on-demand");
    assert_eq!(node(&rec, &n).instance_type, "m5.4xlarge");
    let cmds = commands(&rec);
    assert!(cmds.len() >= 2, "{cmds:?}");
    let failed = decisions(&rec, "launch-failed");
    let launched = decisions(&rec, "launch");
    let rolled = decisions(&rec, "disruption-rolled-back");
    for (k, c) in cmds.iter().enumerate() {
        assert_eq!(c["decision"], "replace");
        assert_eq!(names(c), vec![n.clone()]);
        let r = c["replacement_nodeclaim"].as_str().unwrap();
        assert!(launched.iter().all(|l| l["nodeclaim"] != r), "{r} launched");
        let f = failed
            .iter()
            .find(|f| f["nodeclaim"] == r)
            .unwrap_or_else(|| panic!("{r} never failed"));
        assert!(secs(f) >= secs(c));
        let rb = rolled
            .iter()
            .find(|d| d["replacement"] == r)
            .unwrap_or_else(|| panic!("{r} failed but its command was not rolled back"));
        assert_eq!(names(rb), vec![n.clone()]);
        // The next queue poll (every second) sees the deleted replacement.
        assert!(
            secs(rb) >= secs(f) && secs(rb) <= secs(f) + 1.0,
            "failed at {}, rolled back at {}",
            secs(f),
            secs(rb)
        );
        // The candidate is untainted and unmarked before it is picked again.
        if let Some(next) = cmds.get(k + 1) {
            assert!(secs(next) > secs(rb));
        }
    }
    assert!(node(&rec, &n).terminated_ms.is_none());
    assert_eq!(pod(&rec, 1).evictions, 0);
    assert_eq!(s.nodes_launched, 1, "only the candidate was ever launched");
}

// ---------------------------------------------------------------------------------------------
// Spot-to-spot: the 15-option floor and the truncation
// ---------------------------------------------------------------------------------------------

/// 20 spot types of 4–8 vCPU (none holds the 14-cpu pod), all cheaper than m5.4xlarge spot
/// ($0.3072), written in descending price order.
const SPOT_LADDER: [&str; 20] = [
    "r5.2xlarge",
    "m5n.2xlarge",
    "r6i.2xlarge",
    "c5n.2xlarge",
    "m5a.2xlarge",
    "m6i.2xlarge",
    "c6i.2xlarge",
    "m5.2xlarge",
    "c5.2xlarge",
    "m7g.2xlarge",
    "c6g.2xlarge",
    "c7g.2xlarge",
    "r5.xlarge",
    "r6i.xlarge",
    "c5n.xlarge",
    "m5n.xlarge",
    "m7i.xlarge",
    "m5a.xlarge",
    "c7i.xlarge",
    "m5.xlarge",
];

/// The worst (most expensive) spot price of `name` over the scenario's zones, from the catalog.
fn worst_spot(name: &str) -> f64 {
    spot_prices(name).fold(f64::NAN, f64::max)
}

/// The cheapest Spot offering of `name` in the scenario's zones (what options are ordered by).
fn cheapest_spot(name: &str) -> f64 {
    spot_prices(name).fold(f64::NAN, f64::min)
}

fn spot_prices(name: &str) -> impl Iterator<Item = f64> {
    let cat = karpsim::catalog::Catalog::embedded().unwrap();
    ["us-east-1a", "us-east-1b", "us-east-1c"]
        .into_iter()
        .filter_map(move |z| cat.spot_price("us-east-1", name, z))
        .collect::<Vec<_>>()
        .into_iter()
}

/// A spot pool of m5.4xlarge plus the first `k` ladder types; a 14-cpu pod (0–300 s) puts one
/// m5.4xlarge up, and a 500m pod stays. Spot-to-spot is on.
fn spot_ladder(k: usize) -> (RunSummary, MemoryRecorder) {
    let types: Vec<&str> = std::iter::once("m5.4xlarge")
        .chain(SPOT_LADDER[..k].iter().copied())
        .collect();
    sim(
        &[pool(
            "default",
            &types.join(", "),
            "spot",
            UNDERUTILIZED_30S,
            "",
        )],
        "0,300,,14,256Mi,,,\n0,,,500m,256Mi,,,\n",
        None,
        "1h",
        "karpenter: {feature_gates: {SpotToSpotConsolidation: true}}\n",
    )
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "cannot replace spot with spot if less than minimum InstanceTypes flexibility"
#[test]
fn p1_spot_to_spot_needs_15_cheaper_types() {
    // 14 cheaper spot types: no command.
    let (s, rec) = spot_ladder(14);
    let cand = &rec.nodes[0];
    assert_eq!(
        (cand.instance_type.as_str(), cand.capacity_type.as_str()),
        ("m5.4xlarge", "spot")
    );
    for t in SPOT_LADDER {
        assert!(worst_spot(t) < cand.price_per_hour, "{t}");
    }
    assert!(commands(&rec).is_empty(), "{:?}", commands(&rec));
    assert_eq!(s.nodes_launched, 1);
    assert!(cand.terminated_ms.is_none());
    // One more cheaper type reaches the floor: replaced, with exactly those 15 options.
    let (s, rec) = spot_ladder(15);
    let cmds = commands(&rec);
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert_eq!(cmds[0]["method"], "single-node");
    assert_eq!(cmds[0]["decision"], "replace");
    assert_eq!(cmds[0]["replacement_options"], 15);
    assert_eq!(reason(&rec, 0), Some("underutilized"));
    assert_eq!(s.nodes_launched, 2);
    assert_eq!(rec.nodes[1].capacity_type, "spot");
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "cannot replace spot with spot if it is part of the 15 cheapest instance types."
#[test]
fn p3_no_spot_to_spot_when_the_candidate_is_among_the_15_cheapest() {
    // The c/m/r spot pool; a 1500m pod (0–300 s) and a 300m pod put up the cheapest 2-vCPU
    // spot type. Left with 300m it is oversized, but fewer than 15 types are cheaper.
    let (s, rec) = sim(
        &[pool(
            "default",
            "        - {key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m, r]}\n        - {key: karpenter.k8s.aws/instance-generation, operator: Gt, values: [\"4\"]}\n        - {key: karpenter.k8s.aws/instance-cpu, operator: Lt, values: [\"17\"]}",
            "spot",
            UNDERUTILIZED_30S,
            "",
        )],
        "0,300,,1500m,256Mi,,,\n0,,,300m,256Mi,,,\n",
        None,
        "1h",
        "karpenter: {feature_gates: {SpotToSpotConsolidation: true}}\n",
    );
    let cand = &rec.nodes[0];
    assert_eq!(cand.capacity_type, "spot");
    // Independently of the engine: pool types that hold the 300m pod and whose worst spot
    // price is below the candidate's.
    let cat = karpsim::catalog::Catalog::embedded().unwrap();
    let cheaper: Vec<&str> = cat
        .instance_types
        .iter()
        .filter(|it| {
            matches!(it.category.as_deref(), Some("c" | "m" | "r"))
                && it.generation.is_some_and(|g| g > 4)
                && it.vcpu < 17
                && it.alloc_cpu_millis.is_some_and(|c| c >= 300)
                && it.alloc_memory_mib.is_some_and(|m| m >= 256)
        })
        .map(|it| it.name.as_str())
        .filter(|n| worst_spot(n) < cand.price_per_hour)
        .collect();
    assert!(
        !cheaper.is_empty() && cheaper.len() < 15,
        "{} cheaper types: {cheaper:?}",
        cheaper.len()
    );
    assert!(commands(&rec).is_empty(), "{:?}", commands(&rec));
    assert_eq!(s.nodes_launched, 1);
    assert!(cand.terminated_ms.is_none());
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "spot to spot consolidation should order the instance types by price before enforcing minimum flexibility."
#[test]
fn p4_spot_to_spot_keeps_the_15_cheapest_options() {
    let (_, rec) = spot_ladder(20);
    let src = rec.nodes[0].price_per_hour;
    // Every option is cheaper than the candidate even at its dearest offering...
    assert!(SPOT_LADDER.iter().all(|n| worst_spot(n) < src));
    // ...and options are ordered by their cheapest offering (`OrderByPrice`).
    let mut by_price: Vec<(f64, &str)> =
        SPOT_LADDER.iter().map(|n| (cheapest_spot(n), *n)).collect();
    by_price.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    // No tie at the cut, and the cheapest 15 are neither the first 15 by name nor as written.
    assert!(by_price[14].0 < by_price[15].0);
    let want: Vec<&str> = by_price[..15].iter().map(|(_, n)| *n).collect();
    let mut by_name = SPOT_LADDER.to_vec();
    by_name.sort_unstable();
    fn sorted<'a>(v: &[&'a str]) -> Vec<&'a str> {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    }
    assert_ne!(sorted(&by_name[..15]), sorted(&want));
    assert_ne!(sorted(&SPOT_LADDER[..15]), sorted(&want));
    let cmds = commands(&rec);
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    let c = cmds[0];
    assert_eq!(c["decision"], "replace");
    assert_eq!(c["replacement_options"], 15);
    // The decision lists the 10 cheapest of its options, cheapest first.
    let listed: Vec<&str> = c["cheapest_replacement_options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(listed, want[..10].to_vec());
    // The launch request carries exactly those 15 types.
    let r = c["replacement_nodeclaim"].as_str().unwrap();
    let launch = decisions(&rec, "launch")
        .into_iter()
        .find(|l| l["nodeclaim"] == r)
        .unwrap();
    assert_eq!(launch["instance_type_options"], 15);
    for o in launch["cheapest_options"].as_array().unwrap() {
        assert!(want.contains(&o.as_str().unwrap()), "{o}");
    }
    let chosen = launch["chosen"]["instance_type"].as_str().unwrap();
    assert!(want.contains(&chosen), "{chosen}");
    assert_eq!(launch["chosen"]["capacity_type"], "spot");
    assert!(launch["chosen"]["price_per_hour"].as_f64().unwrap() < src);
}

// ---------------------------------------------------------------------------------------------
// Validation after the 15 s wait
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/disruption/consolidation_test.go "should continue to single nodeclaim consolidation when multi-nodeclaim consolidation fails validation after the node ttl"
#[test]
fn mn7_failed_multi_validation_falls_through_to_single_in_the_same_iteration() {
    // Three m5.2xlarge nodes, each left with one 500m pod once their 7-cpu pods end. At the
    // first poll after the 10 min hold, multi-node decides to replace all three with one small
    // node; during its 15 s wait two 1-cpu pods arrive (605 s) and bind to two of them.
    let rows = "0,300,,7,256Mi,,,\n0,,,500m,256Mi,,,\n60,300,,7,256Mi,,,\n60,,,500m,256Mi,,,\n120,300,,7,256Mi,,,\n120,,,500m,256Mi,,,\n605,,,1,256Mi,,,\n605,,,1,256Mi,,,\n";
    let (_, rec) = sim(
        &[pool(
            "default",
            "m5.large, m5.xlarge, m5.2xlarge",
            "on-demand",
            &underutilized_0s_held_10m(),
            "",
        )],
        rows,
        None,
        "30m",
        "",
    );
    let mut olds: Vec<String> = [1, 3, 5].iter().map(|p| first_node(&rec, *p)).collect();
    olds.sort();
    olds.dedup();
    assert_eq!(olds.len(), 3);
    // Multi-node's re-simulation needs 3.5 cpu: its m5.large option is no longer valid.
    let vf = only_validation_failure(&rec);
    assert_eq!(vf["method"], "multi-node");
    assert_eq!(candidates(vf), olds);
    assert!(
        vf["reason"].as_str().unwrap().starts_with("scheduling"),
        "{vf}"
    );
    let hit: Vec<String> = [6, 7].iter().map(|p| first_node(&rec, *p)).collect();
    for (p, n) in [6, 7].iter().zip(&hit) {
        assert_bound_during_the_wait(&rec, *p, n, vf);
    }
    assert_ne!(hit[0], hit[1]);
    let untouched: Vec<&String> = olds.iter().filter(|n| !hit.contains(n)).collect();
    // Single-node runs in the same loop iteration: the node with the fewest pods (highest
    // savings ratio) is deleted after a second 15 s wait, with no 10 s poll in between.
    let cmds = commands(&rec);
    assert!(cmds.iter().all(|c| secs(c) > secs(vf)));
    let c = cmds[0];
    assert_eq!(c["method"], "single-node");
    assert_eq!(c["decision"], "delete");
    assert_eq!(names(c), vec![untouched[0].clone()]);
    let gap = secs(c) - secs(vf);
    assert!(
        (15.0..16.0).contains(&gap),
        "single-node started {gap} s later"
    );
    assert_eq!(
        node(&rec, untouched[0]).termination_reason.as_deref(),
        Some("underutilized")
    );
}

/// One m5.4xlarge (pool of m5 sizes, consolidateAfter 0s, held to 10 min) whose 14-cpu pod
/// ends by 340 s, leaving a 500m pod; one more pod (`late`, the columns after `arrival`)
/// arrives at 605 s, during the 15 s wait of the first decision.
fn replace_with_a_late_pod(late: &str, pdbs: Option<&str>) -> (RunSummary, MemoryRecorder) {
    sim(
        &[pool(
            "default",
            "m5.large, m5.xlarge, m5.2xlarge, m5.4xlarge",
            "on-demand",
            &underutilized_0s_held_10m(),
            "",
        )],
        &format!("0,300,,14,256Mi,,,\n0,,,500m,256Mi,,,\n605,{late}\n"),
        pdbs,
        "30m",
        "",
    )
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "should wait for the node TTL for non-empty nodes before consolidating"
#[test]
fn v1_delete_waits_15s_after_the_decision() {
    // Two m5.xlarge nodes (see `two_node_rows`), consolidateAfter 0s, held to 10 min: the
    // decision falls at the first poll at or after 600 s, the delete 15 s later.
    let (s, rec) = sim(
        &[pool(
            "default",
            "m5.xlarge",
            "on-demand",
            &underutilized_0s_held_10m(),
            "",
        )],
        &two_node_rows(None, 0.0),
        None,
        "30m",
        "",
    );
    let (n0, n1) = assert_two_nodes_setup(&rec);
    let cmds = commands(&rec);
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    let t = secs(cmds[0]);
    assert!((615.0..=625.1).contains(&t), "delete started at {t} s");
    assert_eq!(cmds[0]["method"], "single-node");
    assert_eq!(cmds[0]["decision"], "delete");
    assert_eq!(names(cmds[0]), vec![n1.clone()]);
    // Both nodes existed through the wait.
    assert!(node(&rec, &n1).terminated_ms.unwrap() as f64 / 1000.0 >= t);
    assert!(node(&rec, &n0).terminated_ms.is_none());
    assert_eq!(s.pods_evicted, 1);
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "should wait for the node TTL for non-empty nodes before consolidating"
// (the other bound: once the node is Consolidatable the command follows the next poll's
// decision by 15 s. Karpenter does not call a method that has no candidates (`disrupt`
// returns first), so the polls while the node is still inside its consolidateAfter window
// leave no "consolidated" memo behind.)
#[test]
fn v1_delete_follows_consolidatable_by_one_poll_and_the_wait() {
    // An unmanaged m5.xlarge is full with pod 0 until ~570 s. Pods 1 (3000m, ends ~555 s) and
    // 2 (450m) get a Karpenter node. Pod 0 ends while that node is still inside its 30 s
    // window after pod 1 ended: the polls in between have no candidate. When the window ends,
    // pod 2 fits on the unmanaged node: delete at the next poll plus 15 s.
    let (_, rec) = sim(
        &[pool(
            "default",
            "m5.xlarge",
            "on-demand",
            UNDERUTILIZED_30S,
            "",
        )],
        "0,570,,3900m,256Mi,,,\n10,500,,3000m,256Mi,,,\n10,,,450m,256Mi,,,\n",
        None,
        "1h",
        "existing_nodes:\n  - {instance_type: m5.xlarge}\n",
    );
    let end = |id: u32| pod(&rec, id).ended_ms.unwrap() as f64 / 1000.0;
    let (end_a, end_b) = (end(0), end(1));
    assert!(
        end_b <= end_a && end_a < end_b + 30.0,
        "setup: pod 0 must end inside the node's window ({end_a} vs {end_b})"
    );
    let managed = rec.nodes.iter().find(|n| n.nodepool == "default").unwrap();
    let c = commands(&rec)[0];
    assert_eq!(names(c), vec![managed.name.clone()]);
    assert_eq!(c["decision"], "delete");
    let ready = end_b + 30.0;
    let t = secs(c);
    assert!(
        t >= ready + 15.0 && t <= ready + 10.0 + 15.0 + 0.1,
        "Consolidatable at {ready} s, delete at {t} s"
    );
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "should not consolidate if the action picks different instance types after the node TTL wait"
#[test]
fn v2_no_command_when_the_replacement_options_change_during_the_wait() {
    // The decision replaces the node with {m5.large, m5.xlarge, m5.2xlarge}; a 2-cpu pod binds
    // during the wait, after which 2.5 cpu no longer fits m5.large.
    let (_, rec) = replace_with_a_late_pod(",,2,256Mi,,,", None);
    let n = rec.nodes[0].name.clone();
    assert_eq!(rec.nodes[0].instance_type, "m5.4xlarge");
    let vf = only_validation_failure(&rec);
    assert_eq!(vf["method"], "single-node");
    assert_eq!(candidates(vf), vec![n.clone()]);
    assert_eq!(vf["reason"], "scheduling: the replacement options changed");
    assert_bound_during_the_wait(&rec, 2, &n, vf);
    // No command then; a later poll decides afresh, without m5.large.
    let cmds = commands(&rec);
    assert!(cmds.iter().all(|c| secs(c) >= secs(vf) + 10.0), "{cmds:?}");
    let later = cmds[0];
    assert_eq!(later["decision"], "replace");
    let opts = later["cheapest_replacement_options"].as_array().unwrap();
    assert!(!opts.iter().any(|o| o == "m5.large"), "{later}");
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "should not consolidate if the action becomes invalid during the node TTL wait"
#[test]
fn v3_no_emptiness_when_the_node_gets_a_pod_during_the_wait() {
    let d = with_budgets(
        "    consolidationPolicy: WhenEmpty\n    consolidateAfter: 0s",
        &format!("      - nodes: \"100%\"\n{HOLD_10M}"),
    );
    // The node empties by 340 s; a do-not-disrupt pod arrives at 605 s, during the wait.
    let (s, rec) = sim(
        &[pool("default", "m5.large", "on-demand", &d, "")],
        "0,300,,500m,256Mi,,,\n605,,,500m,256Mi,,,true\n",
        None,
        "30m",
        "",
    );
    let n = rec.nodes[0].name.clone();
    let vf = only_validation_failure(&rec);
    assert_eq!(vf["method"], "emptiness");
    assert_eq!(candidates(vf), vec![n.clone()]);
    assert_bound_during_the_wait(&rec, 1, &n, vf);
    assert!(commands(&rec).is_empty(), "{:?}", commands(&rec));
    assert!(rec.nodes[0].terminated_ms.is_none());
    assert_eq!(count(&s, "empty"), 0);
}

/// V4/V5: a pod that makes the candidate ineligible binds during the wait.
fn assert_no_replace_after_a_blocking_pod(rec: &MemoryRecorder, s: &RunSummary) {
    let n = rec.nodes[0].name.clone();
    let vf = only_validation_failure(rec);
    assert_eq!(vf["method"], "single-node");
    assert_eq!(candidates(vf), vec![n.clone()]);
    assert!(vf["reason"].as_str().unwrap().starts_with("churn"), "{vf}");
    assert_bound_during_the_wait(rec, 2, &n, vf);
    assert!(commands(rec).is_empty(), "{:?}", commands(rec));
    assert_eq!(s.nodes_launched, 1);
    assert_eq!(s.pods_evicted, 0);
    assert!(rec.nodes[0].terminated_ms.is_none());
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "should not replace node if a pod schedules with karpenter.sh/do-not-disrupt set to true during the TTL wait"
#[test]
fn v4_no_replace_when_a_do_not_disrupt_pod_binds_during_the_wait() {
    let (s, rec) = replace_with_a_late_pod(",,100m,256Mi,,,true", None);
    assert_no_replace_after_a_blocking_pod(&rec, &s);
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "should not replace node if a pod schedules with a blocking PDB during the TTL wait"
#[test]
fn v5_no_replace_when_a_pdb_blocked_pod_binds_during_the_wait() {
    let (s, rec) = replace_with_a_late_pod(
        ",default,100m,256Mi,app=test,,",
        Some(&blocking_pdb("default")),
    );
    assert_no_replace_after_a_blocking_pod(&rec, &s);
}

// ---------------------------------------------------------------------------------------------
// Multi-node delete, ordering, budgets
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/disruption/suite_test.go "should fire metrics for multi-node delete disruption"
#[test]
fn mn9_multi_node_deletes_the_largest_valid_prefix() {
    // Three m5.large nodes (the pool's only type), each left with one 400m pod. Prefix 2 is a
    // DELETE (two pods fit on the third node); prefix 3 needs one new m5.large, which the
    // same-type filter rejects. So one multi-node command deletes two nodes.
    let rows = "0,300,,1400m,256Mi,,,\n0,,,400m,256Mi,,,\n60,300,,1400m,256Mi,,,\n60,,,400m,256Mi,,,\n120,300,,1400m,256Mi,,,\n120,,,400m,256Mi,,,\n";
    let (s, rec) = sim(
        &[pool(
            "default",
            "m5.large",
            "on-demand",
            &underutilized_0s_held_10m(),
            "",
        )],
        rows,
        None,
        "30m",
        "",
    );
    let olds: Vec<String> = [1, 3, 5].iter().map(|p| first_node(&rec, *p)).collect();
    let cmds = commands(&rec);
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert_eq!(cmds[0]["method"], "multi-node");
    assert_eq!(cmds[0]["decision"], "delete");
    let gone = names(cmds[0]);
    assert_eq!(gone.len(), 2);
    let kept: Vec<&String> = olds.iter().filter(|n| !gone.contains(n)).collect();
    assert_eq!(kept.len(), 1);
    for p in [1, 3, 5] {
        assert_eq!(pod(&rec, p).node.as_deref(), Some(kept[0].as_str()));
    }
    assert_eq!(s.nodes_launched, 3);
    assert_eq!(count(&s, "underutilized"), 2);
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "should consolidate the node with best savings ratio first"
#[test]
fn o1_best_savings_ratio_first_not_the_soonest_to_expire() {
    // expireAfter 20m. node0 (launched at 0) ends up with 2 small pods, node1 (launched at
    // ~500 s) with 1. Both are m5.xlarge: node1 has the better savings ratio and goes, although
    // node0, far closer to expiry, is cheaper to disrupt under the pre-v1.14 order.
    let rows = "0,700,,3000m,256Mi,,,\n0,,,450m,256Mi,,,\n0,,,450m,256Mi,,,\n500,240,,3000m,256Mi,,,\n500,,,450m,256Mi,,,\n";
    let (_, rec) = sim(
        &[pool(
            "default",
            "m5.xlarge",
            "on-demand",
            UNDERUTILIZED_30S,
            "      expireAfter: 20m\n",
        )],
        rows,
        None,
        "19m",
        "",
    );
    let n0 = first_node(&rec, 1);
    let n1 = first_node(&rec, 4);
    assert_ne!(n0, n1);
    assert_eq!(first_node(&rec, 2), n0);
    let c = commands(&rec)[0];
    assert_eq!(c["method"], "single-node");
    assert_eq!(c["decision"], "delete");
    assert_eq!(names(c), vec![n1.clone()]);
    let t = secs(c) * 1000.0;
    let (r0, r1) = (node(&rec, &n0), node(&rec, &n1));
    assert!(
        t < (r0.launched_ms + 1_200_000) as f64,
        "node0 expired first"
    );
    // The legacy order (pods × remaining lifetime, ascending) would have taken node0.
    let life = |launched: u64| 1.0 - (t - launched as f64) / 1_200_000.0;
    assert!(2.0 * life(r0.launched_ms) < life(r1.launched_ms));
    assert_eq!(pod(&rec, 4).node.as_deref(), Some(n0.as_str()));
}

// karpenter: pkg/controllers/disruption/consolidation_test.go "should only allow 3 nodes to be deleted in multi node consolidation delete"
#[test]
fn b7_budget_limits_a_multi_node_delete_to_3_of_10() {
    // Ten m5.large nodes, each left with one 400m pod; budget 30% (and the 10 min hold).
    let rows: String = (0..10)
        .map(|_| "0,300,,1400m,256Mi,,,\n0,,,400m,256Mi,,,\n")
        .collect();
    let d = with_budgets(
        "    consolidationPolicy: WhenEmptyOrUnderutilized\n    consolidateAfter: 0s",
        &format!("      - nodes: \"30%\"\n{HOLD_10M}"),
    );
    let (_, rec) = sim(
        &[pool("default", "m5.large", "on-demand", &d, "")],
        &rows,
        None,
        "30m",
        "",
    );
    assert_eq!(rec.nodes.len(), 10);
    assert!(rec.nodes.iter().all(|n| n.ready_ms.unwrap() < 600_000));
    let cmds = commands(&rec);
    let c = cmds[0];
    assert_eq!(c["method"], "multi-node");
    assert_eq!(c["decision"], "delete");
    assert_eq!(names(c).len(), 3, "ceil(30% × 10) = 3: {c}");
    for n in names(c) {
        assert_eq!(
            node(&rec, &n).termination_reason.as_deref(),
            Some("underutilized")
        );
    }
}

// karpenter: pkg/controllers/disruption/suite_test.go "should consider nodes with a deletion timestamp set and MarkedForDeletion to the disruption count"
#[test]
fn b14_a_deleting_node_consumes_the_budget_whatever_the_reason() {
    // expireAfter 10m. Node A holds a pod that a PodDisruptionBudget keeps: A expires at ~600 s
    // and drains forever. Node B (launched at ~400 s) empties at ~640 s. With budget "1" the
    // draining A uses it up: B is not deleted as empty and goes when it expires itself; with
    // budget "2" Emptiness deletes B.
    let run = |budget: &str| {
        let d = with_budgets(
            "    consolidationPolicy: WhenEmpty\n    consolidateAfter: 0s",
            &format!("      - nodes: \"{budget}\""),
        );
        sim(
            &[pool(
                "default",
                "m5.large",
                "on-demand",
                &d,
                "      expireAfter: 10m\n",
            )],
            "0,,default,1500m,256Mi,app=test,,\n400,200,,1500m,256Mi,,,\n",
            Some(PDB_MIN_AVAILABLE),
            "20m",
            "",
        )
    };
    let (_, rec) = run("1");
    let (a, b) = (first_node(&rec, 0), first_node(&rec, 1));
    assert_ne!(a, b);
    assert!(node(&rec, &a).terminated_ms.is_none(), "A drains forever");
    let deleted = decisions(&rec, "nodeclaim-deleted");
    assert!(
        deleted
            .iter()
            .any(|d| d["nodeclaim"] == a.as_str() && d["reason"] == "expired")
    );
    assert!(commands(&rec).is_empty(), "{:?}", commands(&rec));
    let b_empty = pod(&rec, 1).ended_ms.unwrap() as f64 / 1000.0;
    let b_gone = node(&rec, &b).terminated_ms.unwrap() as f64 / 1000.0;
    assert_eq!(
        node(&rec, &b).termination_reason.as_deref(),
        Some("expired")
    );
    assert!(
        decisions(&rec, "disruption-blocked")
            .iter()
            .any(|d| d["method"] == "emptiness" && secs(d) > b_empty && secs(d) < b_gone)
    );
    let (_, rec) = run("2");
    let b = first_node(&rec, 1);
    assert_eq!(node(&rec, &b).termination_reason.as_deref(), Some("empty"));
    assert_eq!(commands(&rec).len(), 1);
}
