//! Drift: `changes:` edit NodePools and EC2NodeClasses mid-run, the NodeClaims that no longer
//! match drift, and the Drift method replaces them within budgets (disruption.md §5.3, §8.1).
//! Karpenter's drift tests (kubernetes-sigs/karpenter `pkg/controllers/disruption/drift_test.go`,
//! catalogued in docs/research/karpenter-disruption-tests.md §3.I) preset the `Drifted`
//! condition; here it is earned the way a user earns it, by editing the objects in `changes:`.

use karpsim::cli::prepare;
use karpsim::engine::{MemoryRecorder, RunSummary};
use serde_json::Value;

/// An EC2NodeClass named `name` on AMI `ami`.
fn class(name: &str, ami: &str) -> String {
    format!(
        "apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: {name}
spec:
  amiFamily: AL2023
  role: KarpenterNodeRole-test
  subnetSelectorTerms:
    - tags: {{karpenter.sh/discovery: test}}
  securityGroupSelectorTerms:
    - tags: {{karpenter.sh/discovery: test}}
  amiSelectorTerms:
    - alias: al2023@{ami}
"
    )
}

/// A NodePool over class `class`, limited to `types` on-demand; `spec` is extra lines at
/// `spec` level (weight, disruption), `tspec` at `spec.template.spec` level.
fn pool(name: &str, class: &str, types: &str, tspec: &str, spec: &str) -> String {
    crate::nodepool_yaml(
        name,
        class,
        &crate::types_and_caps(types, "on-demand"),
        tspec,
        spec,
    )
}

/// consolidateAfter Never keeps Emptiness and consolidation out, as the drift suite does.
const NEVER: &str = "  disruption:\n    consolidateAfter: Never\n";

const H: &str = "arrival,duration,namespace,cpu,memory,labels,node_selector,do_not_disrupt\n";

/// Runs `docs` (classes and pools) over the trace rows with `extra` top-level scenario YAML
/// (its `changes:`).
fn sim(
    docs: &[String],
    rows: &str,
    pdbs: Option<&str>,
    duration: &str,
    extra: &str,
) -> (RunSummary, MemoryRecorder) {
    let dir = tempfile::tempdir().unwrap();
    crate::run_scenario_files(
        dir.path(),
        &docs.join("---\n"),
        &format!("{H}{rows}"),
        pdbs,
        &format!("name: drift\nseed: 1\nduration: {duration}\n"),
        extra,
    )
}

/// A change of class `class`'s AMI at `at`.
fn ami_change(at: &str, class: &str, ami: &str) -> String {
    format!(
        "changes:\n  - at: {at}\n    nodeclasses:\n      - {{name: {class}, set: {{spec.amiSelectorTerms: [{{alias: al2023@{ami}}}]}}}}\n"
    )
}

/// Drift commands started, in time order.
fn drifts(rec: &MemoryRecorder) -> Vec<&Value> {
    rec.decisions
        .iter()
        .filter(|d| d["kind"] == "disruption" && d["method"] == "drift")
        .collect()
}

fn node<'a>(rec: &'a MemoryRecorder, name: &str) -> &'a karpsim::engine::NodeRecord {
    rec.nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

fn first_node_of(d: &Value) -> String {
    d["nodes"][0].as_str().unwrap().to_string()
}

/// The scenario: an AMI rollout in `changes:` drifts every node of the class, and no
/// more than the budget are disrupted at any moment.
// karpenter: pkg/controllers/disruption/drift_test.go "should disrupt 3 nodes, taking into account commands in progress"
#[test]
fn ami_change_drifts_every_node_of_the_class_within_the_budget() {
    let docs = vec![
        class("default", "v20240101"),
        pool(
            "general",
            "default",
            "m5.large",
            "",
            "  disruption:\n    consolidationPolicy: WhenEmpty\n    consolidateAfter: 30s\n    budgets:\n      - nodes: \"2\"\n",
        ),
    ];
    // Eight long-running pods of 1.5 cpu: one m5.large each.
    let rows: String = (0..8).map(|_| "0,,,1500m,1Gi,,,\n").collect();
    let (s, rec) = sim(
        &docs,
        &rows,
        None,
        "4h",
        &ami_change("1h", "default", "v20251201"),
    );
    let originals: Vec<&karpsim::engine::NodeRecord> = rec
        .nodes
        .iter()
        .filter(|n| n.launched_ms < 3_600_000)
        .collect();
    assert_eq!(originals.len(), 8);
    // Every original node drifted and was replaced; nothing else terminated.
    for n in &originals {
        assert_eq!(n.termination_reason.as_deref(), Some("drifted"), "{n:?}");
    }
    assert_eq!(s.terminated_by_reason.get("drifted"), Some(&8));
    assert_eq!(s.disrupted_by_reason.get("drifted"), Some(&8));
    let cmds = drifts(&rec);
    assert_eq!(cmds.len(), 8);
    for c in &cmds {
        assert_eq!(c["drift_reason"], "AMIDrift");
        assert!(c["time"].as_f64().unwrap() >= 3600.0);
    }
    // Each command's simulation also reschedules the pods of the nodes already being
    // replaced; a replacement still launching offers no capacity yet, so some commands ask
    // for an extra NodeClaim (Karpenter does the same), and a later command may then be a
    // plain delete onto it.
    assert_eq!(cmds[0]["decision"], "replace");
    // At no instant are more than 2 nodes between their command and their termination.
    let spans: Vec<(u64, u64)> = cmds
        .iter()
        .map(|c| {
            let start = (c["time"].as_f64().unwrap() * 1000.0).round() as u64;
            (start, node(&rec, &first_node_of(c)).terminated_ms.unwrap())
        })
        .collect();
    let max_overlap = spans
        .iter()
        .map(|(t, _)| spans.iter().filter(|(a, b)| a <= t && t < b).count())
        .max()
        .unwrap();
    assert_eq!(max_overlap, 2, "{spans:?}");
    // The replacements run the pods at the end, on the new image (none of them drifted); the
    // spare ones went empty and Emptiness removed them.
    let alive: Vec<&karpsim::engine::NodeRecord> = rec
        .nodes
        .iter()
        .filter(|n| n.terminated_ms.is_none())
        .collect();
    assert_eq!(alive.len(), 8);
    assert!(alive.iter().all(|n| n.launched_ms >= 3_600_000));
    assert!(
        rec.nodes
            .iter()
            .filter(|n| n.launched_ms >= 3_600_000)
            .all(|n| n.termination_reason.as_deref() != Some("drifted"))
    );
}

/// A change to a behavioural field (budgets, policy) applies at once and drifts nothing.
// karpenter: pkg/controllers/nodeclaim/disruption/drift_test.go NodePool Static Drift (behavioural fields are not hashed)
#[test]
fn budget_change_applies_without_drift() {
    let docs = vec![
        class("default", "v20240101"),
        pool(
            "general",
            "default",
            "m5.large",
            "",
            "  disruption:\n    consolidationPolicy: WhenEmpty\n    consolidateAfter: 30s\n    budgets:\n      - nodes: \"0\"\n",
        ),
    ];
    // A pod ends at 10 min: its node is empty, but the budget is 0 until the change at 1 h.
    let (s, rec) = sim(
        &docs,
        "0,600,,1500m,1Gi,,,\n",
        None,
        "2h",
        "changes:\n  - at: 1h\n    nodepools:\n      - {name: general, set: {spec.disruption.budgets: [{nodes: \"1\"}]}}\n",
    );
    assert!(drifts(&rec).is_empty());
    assert_eq!(s.terminated_by_reason.get("empty"), Some(&1));
    let t = rec.nodes[0].terminated_ms.unwrap();
    assert!((3_600_000..3_700_000).contains(&t), "terminated at {t}");
}

// karpenter: pkg/controllers/disruption/drift_test.go "should replace drifted nodes"
#[test]
fn d12_replace_a_drifted_node() {
    let docs = vec![
        class("default", "v20240101"),
        pool("default", "default", "m5.large", "", NEVER),
    ];
    let (_, rec) = sim(
        &docs,
        "0,,,1500m,1Gi,,,\n",
        None,
        "2h",
        &ami_change("30m", "default", "v2"),
    );
    let cmds = drifts(&rec);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0]["decision"], "replace");
    assert_eq!(
        cmds[0]["time"], 1800.0,
        "drift starts at once, with no 15 s validation"
    );
    let replacement = cmds[0]["replacement_nodeclaims"][0].as_str().unwrap();
    assert_ne!(replacement, rec.nodes[0].name);
    assert_eq!(rec.nodes[0].termination_reason.as_deref(), Some("drifted"));
    // The candidate is deleted only once its replacement is initialized.
    let r = node(&rec, replacement);
    assert!(rec.nodes[0].terminated_ms.unwrap() > r.ready_ms.unwrap());
    let p = rec.pods.iter().find(|p| p.id == 0).unwrap();
    assert_eq!(p.node.as_deref(), Some(replacement));
    assert_eq!(p.evictions, 1);
}

/// Two pools: `a` (weight 10, m5.large, class `a`) takes the first pod; `b` (m5.2xlarge, class
/// `b`) takes a pod that selects it, and has room for the first.
fn two_pools(tspec_a: &str) -> Vec<String> {
    vec![
        class("a", "v20240101"),
        class("b", "v20240101"),
        pool(
            "a",
            "a",
            "m5.large",
            tspec_a,
            &format!("  weight: 10\n{NEVER}"),
        ),
        pool("b", "b", "m5.2xlarge", "", NEVER),
    ]
}

const TWO_POOL_ROWS: &str = "0,,,1,1Gi,,,\n60,,,1,1Gi,,karpenter.sh/nodepool=b,\n";

// karpenter: pkg/controllers/disruption/drift_test.go "should delete drifted nodes"
#[test]
fn d13_delete_a_drifted_node_whose_pods_fit_elsewhere() {
    let (_, rec) = sim(
        &two_pools(""),
        TWO_POOL_ROWS,
        None,
        "2h",
        &ami_change("30m", "a", "v2"),
    );
    assert_eq!(rec.nodes.len(), 2, "no replacement is launched");
    assert_eq!(rec.nodes[0].nodepool, "a");
    let cmds = drifts(&rec);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0]["decision"], "delete");
    assert_eq!(first_node_of(cmds[0]), rec.nodes[0].name);
    assert_eq!(rec.nodes[0].termination_reason.as_deref(), Some("drifted"));
    // The node of pool b did not drift (its class did not change).
    assert!(rec.nodes[1].terminated_ms.is_none());
    let p = rec.pods.iter().find(|p| p.id == 0).unwrap();
    assert_eq!(p.node.as_deref(), Some(rec.nodes[1].name.as_str()));
}

// karpenter: pkg/controllers/disruption/drift_test.go "should not create replacements for drifted nodes that have pods with the karpenter.sh/do-not-disrupt annotation set to true"
#[test]
fn d6_do_not_disrupt_pod_blocks_drift_without_tgp() {
    let docs = vec![
        class("default", "v20240101"),
        pool("default", "default", "m5.large", "", NEVER),
    ];
    let (s, rec) = sim(
        &docs,
        "0,,,1500m,1Gi,,,true\n",
        None,
        "2h",
        &ami_change("30m", "default", "v2"),
    );
    assert!(drifts(&rec).is_empty());
    assert_eq!(s.nodes_launched, 1);
    assert!(rec.nodes[0].terminated_ms.is_none());
}

// karpenter: pkg/controllers/disruption/drift_test.go "should delete drifted nodes when they are empty and consolidation is disabled"
#[test]
fn d14_empty_drifted_node_with_consolidation_disabled() {
    let docs = vec![
        class("default", "v20240101"),
        pool("default", "default", "m5.large", "", NEVER),
    ];
    let (s, rec) = sim(
        &docs,
        "0,600,,1500m,1Gi,,,\n",
        None,
        "2h",
        &ami_change("30m", "default", "v2"),
    );
    let cmds = drifts(&rec);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0]["decision"], "delete");
    assert_eq!(s.nodes_launched, 1);
    assert_eq!(rec.nodes[0].termination_reason.as_deref(), Some("drifted"));
}

// karpenter: pkg/controllers/disruption/drift_test.go "should drift empty nodes before non-empty nodes"
#[test]
fn d15_empty_drifted_nodes_go_first() {
    let docs = vec![
        class("default", "v20240101"),
        pool("default", "default", "m5.large", "", NEVER),
    ];
    // Node 0's pod stays; node 1's pod ends at 10 min. The default 10 % budget of 2 nodes
    // allows one at a time.
    let (_, rec) = sim(
        &docs,
        "0,,,1500m,1Gi,,,\n0,600,,1500m,1Gi,,,\n",
        None,
        "2h",
        &ami_change("30m", "default", "v2"),
    );
    let cmds = drifts(&rec);
    assert!(cmds.len() >= 2, "{cmds:?}");
    let empty = rec
        .pods
        .iter()
        .find(|p| p.id == 1)
        .and_then(|p| p.node.clone())
        .unwrap();
    assert_eq!(first_node_of(cmds[0]), empty, "the empty node goes first");
    assert_eq!(cmds[0]["decision"], "delete");
    assert_eq!(cmds[1]["decision"], "replace");
}

// karpenter: pkg/controllers/disruption/drift_test.go "should continue to the next drifted node if the first cannot reschedule all pods"
#[test]
fn d1_skip_a_drift_candidate_whose_pods_cannot_move() {
    // Pool `general` allows m5.large and m5.4xlarge. A 15-cpu pod gets an m5.4xlarge (first,
    // oldest), a 1-cpu pod later gets an m5.large. Then the requirements drop m5.4xlarge: both
    // nodes drift (requirements for the big one; the small one by its template hash, as
    // a label is added). The big node's pod fits no allowed type: skipped, and the small one
    // is replaced in the same iteration.
    let docs = vec![
        class("default", "v20240101"),
        pool("general", "default", "m5.large, m5.4xlarge", "", NEVER),
    ];
    let change = "changes:
  - at: 1h
    nodepools:
      - name: general
        set:
          spec.template.spec.requirements:
            - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}
            - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
          spec.template.metadata.labels: {rollout: \"2\"}
";
    let (_, rec) = sim(&docs, "0,,,15,1Gi,,,\n120,,,1,1Gi,,,\n", None, "2h", change);
    assert_eq!(rec.nodes[0].instance_type, "m5.4xlarge");
    assert_eq!(rec.nodes[1].instance_type, "m5.large");
    let blocked: Vec<&Value> = rec
        .decisions
        .iter()
        .filter(|d| d["kind"] == "disruption-blocked" && d["method"] == "drift")
        .collect();
    assert!(
        blocked
            .iter()
            .any(|d| d["nodes"][0] == rec.nodes[0].name.as_str()),
        "{blocked:?}"
    );
    let cmds = drifts(&rec);
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert_eq!(first_node_of(cmds[0]), rec.nodes[1].name);
    assert_eq!(cmds[0]["drift_reason"], "NodePoolDrifted");
    assert_eq!(cmds[0]["time"], 3600.0);
    assert!(rec.nodes[0].terminated_ms.is_none());
}

// karpenter: pkg/controllers/disruption/drift_test.go "can replace drifted nodes with multiple nodes"
#[test]
fn d18_drift_may_launch_several_replacements() {
    // An m5.2xlarge (8 cpu) runs three 2-cpu pods; the requirements then allow only m5.large
    // (2 cpu, 1.93 allocatable after overhead... so one 1.5-cpu pod each): three replacements,
    // with no price check.
    let docs = vec![
        class("default", "v20240101"),
        pool("general", "default", "m5.2xlarge, m5.large", "", NEVER),
    ];
    let change = "changes:
  - at: 1h
    nodepools:
      - name: general
        set:
          spec.template.spec.requirements:
            - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}
            - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
";
    let (_, rec) = sim(
        &docs,
        "0,,,1500m,1Gi,,,\n0,,,1500m,1Gi,,,\n0,,,1500m,1Gi,,,\n",
        None,
        "2h",
        change,
    );
    assert_eq!(rec.nodes[0].instance_type, "m5.2xlarge");
    let cmds = drifts(&rec);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0]["drift_reason"], "RequirementsDrifted");
    assert_eq!(
        cmds[0]["replacement_nodeclaims"].as_array().unwrap().len(),
        3
    );
    assert_eq!(rec.nodes.len(), 4);
    assert!(rec.nodes[1..].iter().all(|n| n.instance_type == "m5.large"));
    assert_eq!(rec.nodes[0].termination_reason.as_deref(), Some("drifted"));
}

// karpenter: pkg/controllers/disruption/drift_test.go "should drift one non-empty node at a time, starting with the earliest drift"
#[test]
fn d19_oldest_drift_first() {
    // Node 0 drifts at 1 h (a template label); node 1, launched after that, drifts at 2 h (the
    // AMI). A zero Drifted budget holds both until 3 h; then node 0 goes first.
    let docs = vec![
        class("default", "v20240101"),
        pool(
            "general",
            "default",
            "m5.large",
            "",
            "  disruption:\n    consolidateAfter: Never\n    budgets:\n      - nodes: \"0\"\n        schedule: \"0 0 * * *\"\n        duration: 3h\n        reasons: [Drifted]\n      - nodes: \"100%\"\n",
        ),
    ];
    let change = "changes:
  - at: 1h
    nodepools:
      - {name: general, set: {spec.template.metadata.labels: {rollout: \"2\"}}}
  - at: 2h
    nodeclasses:
      - {name: default, set: {spec.amiSelectorTerms: [{alias: al2023@v2}]}}
";
    let (_, rec) = sim(
        &docs,
        "0,,,1500m,1Gi,,,\n5400,,,1500m,1Gi,,,\n",
        None,
        "4h",
        change,
    );
    let cmds = drifts(&rec);
    assert!(cmds.len() >= 2, "{cmds:?}");
    assert_eq!(first_node_of(cmds[0]), rec.nodes[0].name);
    assert_eq!(cmds[0]["drift_reason"], "NodePoolDrifted");
    assert_eq!(cmds[0]["time"], 10800.0);
    assert_eq!(first_node_of(cmds[1]), rec.nodes[1].name);
    assert_eq!(cmds[1]["drift_reason"], "AMIDrift");
}

// karpenter: pkg/controllers/disruption/drift_test.go "should untaint nodes when drift replacement fails"
#[test]
fn d17_roll_back_when_the_replacement_fails() {
    // The node is on-demand; the requirements then allow only Spot, and every Spot launch
    // fails with insufficient capacity: the replacement fails, the command is rolled back and
    // the node keeps running.
    let docs = vec![
        class("default", "v20240101"),
        pool("general", "default", "m5.large", "", NEVER),
    ];
    let change = "interruptions: {model: none, insufficient_capacity: 1.0}
changes:
  - at: 1h
    nodepools:
      - name: general
        set:
          spec.template.spec.requirements:
            - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}
            - {key: karpenter.sh/capacity-type, operator: In, values: [spot]}
";
    let (_, rec) = sim(&docs, "0,,,1500m,1Gi,,,\n", None, "2h", change);
    let cmds = drifts(&rec);
    assert!(!cmds.is_empty());
    assert_eq!(cmds[0]["decision"], "replace");
    let replacement = cmds[0]["replacement_nodeclaims"][0].as_str().unwrap();
    let rolled: Vec<&Value> = rec
        .decisions
        .iter()
        .filter(|d| d["kind"] == "disruption-rolled-back")
        .collect();
    assert!(!rolled.is_empty());
    assert_eq!(rolled[0]["replacements"][0], replacement);
    assert!(
        rec.nodes[0].terminated_ms.is_none(),
        "the node is untainted and stays"
    );
    let p = rec.pods.iter().find(|p| p.id == 0).unwrap();
    assert_eq!(p.evictions, 0);
}

/// With a terminationGracePeriod, drift may take a node whose pod a PDB protects; the blocked
/// pod gets no capacity in the simulation, so the command is a plain delete, and the drain
/// ends at the grace period.
// karpenter: pkg/controllers/disruption/drift_test.go "should not create replacements for drifted nodes that have pods with the blocking PDBs when the NodePool's TerminationGracePeriod is not nil"
#[test]
fn d8_tgp_lets_drift_take_a_pdb_blocked_node_without_replacement() {
    let docs = vec![
        class("default", "v20240101"),
        pool(
            "default",
            "default",
            "m5.large",
            "      terminationGracePeriod: 5m\n",
            NEVER,
        ),
    ];
    let pdb = "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: pdb, namespace: default}
spec:
  maxUnavailable: 0
  selector: {matchLabels: {app: test}}
";
    let (_, rec) = sim(
        &docs,
        "0,,default,1500m,1Gi,app=test,,\n",
        Some(pdb),
        "2h",
        &ami_change("30m", "default", "v2"),
    );
    let cmds = drifts(&rec);
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert_eq!(cmds[0]["decision"], "delete");
    assert_eq!(cmds[0]["time"], 1800.0);
    // The PDB holds the pod until the grace period forces it off at 30 min + 5 min.
    let t = rec.nodes[0].terminated_ms.unwrap();
    assert!((2_100_000..2_110_000).contains(&t), "terminated at {t}");
}

/// A change that reorders NodePools is refused with a message that says so.
#[test]
fn reordering_nodepools_in_changes_is_an_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("np.yaml"), two_pools("").join("---\n")).unwrap();
    std::fs::write(d.join("trace.csv"), format!("{H}0,,,1,1Gi,,,\n")).unwrap();
    let path = d.join("s.yaml");
    std::fs::write(
        &path,
        "name: x\nnodepools: np.yaml\nworkload: {pods: trace.csv}\nchanges:\n  - at: 1h\n    nodepools:\n      - {name: b, set: {spec.weight: 50}}\n",
    )
    .unwrap();
    let err = format!("{:?}", prepare(&path).err().expect("must fail"));
    assert!(err.contains("reorder"), "{err}");
}
