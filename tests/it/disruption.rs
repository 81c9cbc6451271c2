//! Karpenter's own disruption tests (kubernetes-sigs/karpenter at 2266468, see
//! docs/research/karpenter-disruption-tests.md), ported to karpsim's world: real EC2 types from
//! the embedded catalog instead of the fake catalog, and timed traces instead of clock steps.
//! Nodes only exist because pods made Karpenter launch them, and `Consolidatable` is earned
//! (consolidateAfter after the last pod event) rather than preset, so each port states when the
//! decision may happen relative to the pod events that set it up. Production method order and
//! the 15 s validation are always on (guide §4 item 3).

use karpsim::cli::{prepare, simulate_in_memory};
use karpsim::engine::{MemoryRecorder, RunSummary};
use serde_json::Value;

use crate::NODECLASS;

/// Trace header used by every test: a subset of the contract's columns, in its order.
const H: &str = "arrival,duration,namespace,cpu,memory,labels,node_selector,do_not_disrupt\n";

/// A NodePool limited to `types` (instance-type names, or a raw requirement line when it starts
/// with `-`) and `caps` capacity types. `template` is extra lines at `spec.template.spec` level.
fn pool(name: &str, types: &str, caps: &str, disruption: &str, template: &str) -> String {
    let types = if types.trim_start().starts_with('-') {
        types.to_string()
    } else {
        format!(
            "        - {{key: node.kubernetes.io/instance-type, operator: In, values: [{types}]}}"
        )
    };
    format!(
        "apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: {name}
spec:
  template:
    spec:
      requirements:
{types}
        - {{key: karpenter.sh/capacity-type, operator: In, values: [{caps}]}}
      nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}
{template}  disruption:
{disruption}
"
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
    let d = dir.path();
    std::fs::write(
        d.join("np.yaml"),
        format!("{NODECLASS}---\n{}", pools.join("---\n")),
    )
    .unwrap();
    std::fs::write(d.join("trace.csv"), format!("{H}{rows}")).unwrap();
    let pdb_line = match pdbs {
        Some(p) => {
            std::fs::write(d.join("pdbs.yaml"), p).unwrap();
            ", pdbs: pdbs.yaml"
        }
        None => "",
    };
    let path = d.join("s.yaml");
    std::fs::write(
        &path,
        format!(
            "name: disruption\nseed: 1\nstart: 2024-01-01T00:00:00Z\nduration: {duration}\nnodepools: np.yaml\nworkload: {{pods: trace.csv{pdb_line}}}\n{extra}"
        ),
    )
    .unwrap();
    let p = prepare(&path).unwrap_or_else(|e| panic!("prepare failed: {e:?}"));
    simulate_in_memory(&p, &p.compiled.setup).unwrap()
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
