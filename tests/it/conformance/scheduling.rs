//! Requirement operators, nodeSelector, node affinity and relaxation, taints, ignored pods,
//! existing and in-flight nodes, host ports (notes §1–4, §11, §12).

use super::harness::*;
use karpsim::config;
use karpsim::model::Effect;
use karpsim::requirements::Op;
use karpsim::resources::{ResourceName, Resources};

fn np_s_env() -> Env {
    Env::new().with_pool(NodePool::np_s("default"))
}

fn zone_pool(zones: &[&str]) -> NodePool {
    NodePool::np_s("default").reqs(vec![req(ZONE, Op::In, zones)])
}

// ---------------------------------------------------------------------------------------------
// §1 Requirement operators, nodeSelector, well-known and custom labels
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule unconstrained pods that don't have matching node selectors" (Custom Constraints > NodePool with Labels)
#[test]
fn kp001_unconstrained_pod_gets_nodepool_label() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").label("test-key", "test-value"));
    let p = env.provision(vec![Pod::new()]);
    assert_eq!(env.label_of(p[0], "test-key"), Some("test-value"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule pods that have conflicting node selectors" (Custom Constraints > NodePool with Labels)
#[test]
fn kp002_conflicting_node_selector() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").label("test-key", "test-value"));
    let p = env.provision(vec![
        Pod::new().node_selector("test-key", "different-value"),
    ]);
    env.not_scheduled(p[0]);
    assert_eq!(env.node_count(), 0);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule pods that have node selectors with undefined key" (Custom Constraints > NodePool with Labels)
#[test]
fn kp003_node_selector_undefined_custom_key() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().node_selector("test-key", "test-value")]);
    env.not_scheduled(p[0]);
    assert_eq!(env.node_count(), 0);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule pods that have matching requirements" (Custom Constraints > NodePool with Labels)
#[test]
fn kp004_matching_requirements() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").label("test-key", "test-value"));
    let p = env.provision(vec![Pod::new().require(vec![req(
        "test-key",
        Op::In,
        &["test-value", "another-value"],
    )])]);
    assert_eq!(env.label_of(p[0], "test-key"), Some("test-value"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule pods that have conflicting requirements" (Custom Constraints > NodePool with Labels)
#[test]
fn kp004b_conflicting_requirements() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").label("test-key", "test-value"));
    let p = env.provision(vec![Pod::new().require(vec![req(
        "test-key",
        Op::In,
        &["another-value"],
    )])]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should use NodePool constraints" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp005_nodepool_zone_constraint() {
    let mut env = Env::new().with_pool(zone_pool(&[Z2]));
    let p = env.provision(vec![Pod::new()]);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z2));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should use node selectors" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp006_node_selector_zone() {
    let mut env = Env::new().with_pool(zone_pool(&[Z1, Z2]));
    let p = env.provision(vec![Pod::new().node_selector(ZONE, Z2)]);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z2));
    assert_eq!(env.label_of(p[0], CT), Some("spot"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule if node selector outside of NodePool constraints" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp007_node_selector_outside_nodepool() {
    let mut env = Env::new().with_pool(zone_pool(&[Z1]));
    let p = env.provision(vec![Pod::new().node_selector(ZONE, Z2)]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule the pod if nodeselector unknown" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp008_node_selector_unknown_zone() {
    let mut env = Env::new().with_pool(zone_pool(&[Z1]));
    let p = env.provision(vec![Pod::new().node_selector(ZONE, "unknown")]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule compatible requirements with Operator=In" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp009_operator_in_zone3_on_demand() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().require(vec![req(ZONE, Op::In, &[Z3])])]);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z3));
    assert_eq!(env.label_of(p[0], CT), Some("on-demand"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule compatible requirements with Operator=Gt" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp010_operator_gt() {
    let mut env =
        Env::new().with_pool(NodePool::np_s("default").reqs(vec![req("integer", Op::Gt, &["8"])]));
    let p = env.provision(vec![Pod::new()]);
    assert_eq!(env.label_of(p[0], "integer"), Some("16"));
    assert_eq!(env.label_of(p[0], IT), Some("arm-instance-type"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule compatible requirements with Operator=Lt" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp011_operator_lt() {
    let mut env =
        Env::new().with_pool(NodePool::np_s("default").reqs(vec![req("integer", Op::Lt, &["8"])]));
    let p = env.provision(vec![Pod::new()]);
    assert_eq!(env.label_of(p[0], "integer"), Some("2"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule compatible requirements with Operator=Gte" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp011b_operator_gte() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").reqs(vec![req(
        "integer",
        Op::Gte,
        &["16"],
    )]));
    let p = env.provision(vec![Pod::new()]);
    assert_eq!(env.label_of(p[0], "integer"), Some("16"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule compatible requirements with Operator=Lte" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp011c_operator_lte() {
    let mut env =
        Env::new().with_pool(NodePool::np_s("default").reqs(vec![req("integer", Op::Lte, &["2"])]));
    let p = env.provision(vec![Pod::new()]);
    assert_eq!(env.label_of(p[0], "integer"), Some("2"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule compatible requirements with Operator=NotIn" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp012_operator_notin() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().require(vec![req(
        ZONE,
        Op::NotIn,
        &[Z1, Z2, "unknown"],
    )])]);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z3));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule incompatible preferences and requirements with Operator=NotIn" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp013_operator_notin_everything() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().require(vec![req(
        ZONE,
        Op::NotIn,
        &[Z1, Z2, Z3, "unknown"],
    )])]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule compatible preferences and requirements with Operator=In" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp014_preference_in_is_honoured() {
    let mut env = np_s_env();
    let p = env.provision(vec![
        Pod::new()
            .require(vec![req(ZONE, Op::In, &[Z1, Z2, Z3, "unknown"])])
            .preferred(1, term(vec![req(ZONE, Op::In, &[Z2, "unknown"])])),
    ]);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z2));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule incompatible preferences and requirements with Operator=In" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp015_unsatisfiable_preference_is_relaxed() {
    let mut env = np_s_env();
    let p = env.provision(vec![
        Pod::new()
            .require(vec![req(ZONE, Op::In, &[Z1, Z2, Z3, "unknown"])])
            .preferred(1, term(vec![req(ZONE, Op::In, &["unknown"])])),
    ]);
    env.scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule compatible preferences and requirements with Operator=NotIn" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp016_preference_notin_is_honoured() {
    let mut env = np_s_env();
    let p = env.provision(vec![
        Pod::new()
            .require(vec![req(ZONE, Op::In, &[Z1, Z2, Z3, "unknown"])])
            .preferred(1, term(vec![req(ZONE, Op::NotIn, &[Z1, Z3])])),
    ]);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z2));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should combine multidimensional node selectors, preferences and requirements" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp017_multidimensional() {
    let mut env = np_s_env();
    let p = env.provision(vec![
        Pod::new()
            .node_selector(ZONE, Z3)
            .node_selector(IT, "arm-instance-type")
            .require(vec![
                req(ZONE, Op::In, &[Z1, Z3]),
                req(IT, Op::In, &["default-instance-type", "arm-instance-type"]),
            ])
            .preferred(1, term(vec![req(ZONE, Op::NotIn, &["unknown"])]))
            .preferred(1, term(vec![req(IT, Op::NotIn, &["unknown"])])),
    ]);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z3));
    assert_eq!(env.label_of(p[0], IT), Some("arm-instance-type"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule pods that have node selectors with In operator and undefined key" (Custom Constraints > Scheduling Logic, first block)
#[test]
fn kp018a_in_undefined_key() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().require(vec![req(
        "test-key",
        Op::In,
        &["test-value"],
    )])]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule pods that have node selectors with NotIn operator and undefined key" (Custom Constraints > Scheduling Logic, first block)
#[test]
fn kp018b_notin_undefined_key() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().require(vec![req(
        "test-key",
        Op::NotIn,
        &["test-value"],
    )])]);
    assert_ne!(env.label_of(p[0], "test-key"), Some("test-value"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule pods that have node selectors with Exists operator and undefined key" (Custom Constraints > Scheduling Logic, first block)
#[test]
fn kp018c_exists_undefined_key() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().require(vec![req(
        "test-key",
        Op::Exists,
        &[],
    )])]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule pods that with DoesNotExists operator and undefined key" (Custom Constraints > Scheduling Logic, first block)
#[test]
fn kp018d_does_not_exist_undefined_key() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().require(vec![req(
        "test-key",
        Op::DoesNotExist,
        &[],
    )])]);
    assert_eq!(env.label_of(p[0], "test-key"), None);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule the pod with Exists operator and defined key" (Custom Constraints > Scheduling Logic, first block)
#[test]
fn kp019a_exists_defined_key() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").reqs(vec![req(
        "test-key",
        Op::In,
        &["test-value"],
    )]));
    let p = env.provision(vec![Pod::new().require(vec![req(
        "test-key",
        Op::Exists,
        &[],
    )])]);
    assert_eq!(env.label_of(p[0], "test-key"), Some("test-value"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule the pod with DoesNotExists operator and defined key" (Custom Constraints > Scheduling Logic, first block)
#[test]
fn kp019b_does_not_exist_defined_key() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").reqs(vec![req(
        "test-key",
        Op::In,
        &["test-value"],
    )]));
    let p = env.provision(vec![Pod::new().require(vec![req(
        "test-key",
        Op::DoesNotExist,
        &[],
    )])]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule pods that have node selectors with different value and NotIn operator" (Custom Constraints > Scheduling Logic, first block)
#[test]
fn kp020_notin_different_value() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").reqs(vec![req(
        "test-key",
        Op::In,
        &["test-value"],
    )]));
    let p = env.provision(vec![Pod::new().require(vec![req(
        "test-key",
        Op::NotIn,
        &["another-value"],
    )])]);
    assert_eq!(env.label_of(p[0], "test-key"), Some("test-value"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule compatible pods to the same node" (Custom Constraints > Scheduling Logic, first block)
#[test]
fn kp021_compatible_pods_same_node() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").reqs(vec![req(
        "test-key",
        Op::In,
        &["test-value", "another-value"],
    )]));
    let p = env.provision(vec![
        Pod::new().require(vec![req("test-key", Op::In, &["test-value"])]),
        Pod::new().require(vec![req("test-key", Op::NotIn, &["another-value"])]),
    ]);
    assert_eq!(env.scheduled(p[0]), env.scheduled(p[1]));
    assert_eq!(env.label_of(p[0], "test-key"), Some("test-value"));
    assert_eq!(env.node_count(), 1);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule incompatible pods to the different node" (Custom Constraints > Scheduling Logic, first block)
#[test]
fn kp022_incompatible_pods_different_nodes() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").reqs(vec![req(
        "test-key",
        Op::In,
        &["test-value", "another-value"],
    )]));
    let p = env.provision(vec![
        Pod::new().require(vec![req("test-key", Op::In, &["test-value"])]),
        Pod::new().require(vec![req("test-key", Op::In, &["another-value"])]),
    ]);
    assert_ne!(env.scheduled(p[0]), env.scheduled(p[1]));
    assert_eq!(env.label_of(p[0], "test-key"), Some("test-value"));
    assert_eq!(env.label_of(p[1], "test-key"), Some("another-value"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "Exists operator should not overwrite the existing value" (Custom Constraints > Scheduling Logic, first block)
#[test]
fn kp023_exists_does_not_widen_in() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().require(vec![
        req(ZONE, Op::In, &["non-existent-zone"]),
        req(ZONE, Op::Exists, &[]),
    ])]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule pods that have node selectors with label in wellknown label list" (Custom Constraints > Constraints Validation, first block)
#[test]
fn kp024_well_known_node_selectors() {
    let mut env = np_s_env();
    let p = env.provision(vec![
        Pod::new().node_selector(ZONE, Z1),
        Pod::new().node_selector(IT, "default-instance-type"),
        Pod::new().node_selector(ARCH, "arm64"),
        Pod::new().node_selector(OS, "linux"),
        Pod::new().node_selector(CT, "spot"),
    ]);
    for id in &p {
        env.scheduled(*id);
    }
    assert_eq!(env.label_of(p[0], ZONE), Some(Z1));
    assert_eq!(env.label_of(p[1], IT), Some("default-instance-type"));
    assert_eq!(env.label_of(p[2], ARCH), Some("arm64"));
    assert_eq!(env.label_of(p[4], CT), Some("spot"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule pods that have node selectors with label in the kubernetes domains" (Custom Constraints > Constraints Validation, first block)
#[test]
fn kp025_kubernetes_domain_custom_labels() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").reqs(vec![
        req("kubernetes.io/test", Op::In, &["test-value"]),
        req("k8s.io/test", Op::In, &["test-value"]),
    ]));
    let a = env.provision(vec![
        Pod::new().node_selector("kubernetes.io/test", "test-value"),
    ]);
    assert_eq!(env.label_of(a[0], "kubernetes.io/test"), Some("test-value"));
    let b = env.provision(vec![Pod::new().node_selector("k8s.io/test", "test-value")]);
    assert_eq!(env.label_of(b[0], "k8s.io/test"), Some("test-value"));
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should provision nodes for pods with supported node selectors"
#[test]
fn kp026_supported_and_unsupported_node_selectors() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    let good = env.provision(vec![
        Pod::new().node_selector(NODEPOOL, "np-0"),
        Pod::new().node_selector(ZONE, Z1),
        Pod::new().node_selector(IT, "default-instance-type"),
        Pod::new().node_selector(ARCH, "arm64"),
        Pod::new().node_selector(OS, "linux"),
    ]);
    for id in &good {
        env.scheduled(*id);
    }
    let bad = env.provision(vec![
        Pod::new().node_selector(NODEPOOL, "unknown"),
        Pod::new().node_selector(ZONE, "unknown"),
        Pod::new().node_selector(IT, "unknown"),
        Pod::new().node_selector(ARCH, "unknown"),
        Pod::new().node_selector(OS, "unknown"),
        Pod::new().node_selector(CT, "unknown"),
        Pod::new().node_selector("foo", "bar"),
    ]);
    for id in &bad {
        env.not_scheduled(*id);
    }
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should provision nodes for pods with supported node affinities"
#[test]
fn kp026b_supported_and_unsupported_node_affinities() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    let a = |k: &str, v: &str| Pod::new().require(vec![req(k, Op::In, &[v])]);
    let good = env.provision(vec![
        a(NODEPOOL, "np-0"),
        a(ZONE, Z1),
        a(IT, "default-instance-type"),
        a(ARCH, "arm64"),
        a(OS, "linux"),
    ]);
    for id in &good {
        env.scheduled(*id);
    }
    let bad = env.provision(vec![
        a(NODEPOOL, "unknown"),
        a(ZONE, "unknown"),
        a(IT, "unknown"),
        a(ARCH, "unknown"),
        a(OS, "unknown"),
        a(CT, "unknown"),
        a("foo", "bar"),
    ]);
    for id in &bad {
        env.not_scheduled(*id);
    }
}

// ---------------------------------------------------------------------------------------------
// §2 Pods Karpenter ignores. These pods go through karpsim's own lowering
// (`compile::constraints`), which carries Karpenter's validation.
// ---------------------------------------------------------------------------------------------

fn spec_required(key: &str, values: &[&str]) -> config::PodSpec {
    config::PodSpec {
        affinity: Some(config::Affinity {
            node_affinity: Some(config::NodeAffinity {
                required: vec![config::NodeSelectorTerm {
                    match_expressions: vec![config::NodeSelectorRequirement {
                        key: key.into(),
                        operator: config::Operator::In,
                        values: values.iter().map(|v| v.to_string()).collect(),
                        min_values: None,
                    }],
                    match_fields: vec![],
                }],
                preferred: vec![],
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule pods that have node selectors with restricted labels" (Custom Constraints > Constraints Validation, first block)
#[test]
fn kp027_restricted_label_pod_is_ignored() {
    let mut env = np_s_env();
    let pod = Pod::from_spec(&spec_required(HOSTNAME, &["test"]));
    assert!(
        pod.c.ignored.is_some(),
        "hostname in a required term must make the pod ignored"
    );
    let p = env.provision(vec![pod]);
    env.not_scheduled(p[0]);
    assert_eq!(env.node_count(), 0);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule nodes with a hostname selector" (Custom Constraints > Well Known Labels, first block)
#[test]
fn kp028_hostname_node_selector_is_ignored() {
    let mut env = np_s_env();
    let spec = config::PodSpec {
        node_selector: [(HOSTNAME.to_string(), "red-node".to_string())]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let pod = Pod::from_spec(&spec);
    assert!(pod.c.ignored.is_some());
    let p = env.provision(vec![pod]);
    env.not_scheduled(p[0]);
    assert_eq!(env.node_count(), 0);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule pods that have node selectors with restricted domains" (Custom Constraints > Constraints Validation, first block)
#[test]
fn kp029_restricted_domain_is_ignored() {
    let mut env = np_s_env();
    let pod = Pod::from_spec(&spec_required("karpenter.sh/test", &["test"]));
    assert!(pod.c.ignored.is_some());
    let p = env.provision(vec![pod]);
    env.not_scheduled(p[0]);
    assert_eq!(env.node_count(), 0);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule pods that have node selectors with restricted labels" (Custom Constraints > Constraints Validation; derived variant for matchFields, the other rule of provisioner.go validateNodeSelectorTerm, which no upstream It exercises)
#[test]
fn kp030_match_fields_pod_is_ignored() {
    let mut env = np_s_env();
    let mut spec = spec_required(ZONE, &[Z1]);
    let na = spec
        .affinity
        .as_mut()
        .unwrap()
        .node_affinity
        .as_mut()
        .unwrap();
    na.required.push(config::NodeSelectorTerm {
        match_expressions: vec![],
        match_fields: vec![config::NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: config::Operator::In,
            values: vec!["x".into()],
            min_values: None,
        }],
    });
    let pod = Pod::from_spec(&spec);
    assert!(
        pod.c.ignored.is_some(),
        "a required term with matchFields must make the pod ignored"
    );
    let p = env.provision(vec![pod]);
    env.not_scheduled(p[0]);
    assert_eq!(env.node_count(), 0);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule pods with nodePool which is not ready " (Custom Constraints > Scheduling Logic, first block)
#[test]
fn kp031_nodepool_not_ready() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").not_ready());
    let p = env.provision(vec![Pod::new()]);
    env.not_scheduled(p[0]);
    assert_eq!(env.node_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// §3 Required and preferred node affinity, relaxation, PreferNoSchedule
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not relax the final term" (Preferential Fallback > Required)
#[test]
fn kp032_final_required_term_not_relaxed() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").reqs(vec![
        req(ZONE, Op::In, &[Z1]),
        req(IT, Op::In, &["default-instance-type"]),
    ]));
    let p = env.provision(vec![Pod::new().require(vec![req(
        ZONE,
        Op::In,
        &["invalid"],
    )])]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should relax multiple terms" (Preferential Fallback > Required)
#[test]
fn kp033_relax_multiple_required_terms() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().required(vec![
        term(vec![req(ZONE, Op::In, &["invalid"])]),
        term(vec![req(ZONE, Op::In, &["invalid"])]),
        term(vec![req(ZONE, Op::In, &[Z1])]),
        term(vec![req(ZONE, Op::In, &[Z2])]),
    ])]);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z1));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should relax all terms" (Preferential Fallback > Preferred)
#[test]
fn kp034_relax_all_preferred_terms() {
    let mut env = np_s_env();
    let p = env.provision(vec![
        Pod::new()
            .preferred(1, term(vec![req(ZONE, Op::In, &["invalid"])]))
            .preferred(1, term(vec![req(IT, Op::In, &["invalid"])])),
    ]);
    env.scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should relax to use lighter weights" (Preferential Fallback > Preferred)
#[test]
fn kp035_relax_to_lighter_weights() {
    let mut env = Env::new().with_pool(zone_pool(&[Z1, Z2]));
    let p = env.provision(vec![
        Pod::new()
            .preferred(100, term(vec![req(IT, Op::In, &[Z3])]))
            .preferred(50, term(vec![req(ZONE, Op::In, &[Z2])]))
            .preferred(1, term(vec![req(ZONE, Op::In, &[Z1])])),
    ]);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z2));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule even if preference is conflicting with requirement" (Preferential Fallback > Preferred)
#[test]
fn kp036_preference_conflicting_with_requirement() {
    let mut env = np_s_env();
    let p = env.provision(vec![
        Pod::new()
            .preferred(1, term(vec![req(ZONE, Op::NotIn, &[Z3])]))
            .require(vec![req(ZONE, Op::In, &[Z3])]),
    ]);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z3));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule even if preference requirements are conflicting" (Preferential Fallback > Preferred)
#[test]
fn kp037_self_conflicting_preference() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().preferred(
        1,
        term(vec![
            req(ZONE, Op::In, &["invalid"]),
            req(ZONE, Op::NotIn, &["invalid"]),
        ]),
    )]);
    env.scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should tolerate PreferNoSchedule taint only after trying to relax Affinity terms"
#[test]
fn kp038_prefer_no_schedule_tolerated_last() {
    let mut env = Env::new().with_pool(NodePool::new("np-0").taint(taint(
        "foo",
        Some("bar"),
        Effect::PreferNoSchedule,
    )));
    let p = env.provision(vec![
        Pod::new()
            .preferred(1, term(vec![req(ZONE, Op::In, &["invalid"])]))
            .preferred(1, term(vec![req(IT, Op::In, &["invalid"])])),
    ]);
    let n = env.node_of(p[0]);
    assert!(
        n.taints
            .contains(&taint("foo", Some("bar"), Effect::PreferNoSchedule))
    );
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should ignore node preferredDuringSchedulingIgnoredDuringExecution affinity" (Entry topology.kubernetes.io/zone)
#[test]
fn kp039a_preferred_zone_relaxed_joins_inflight() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    let p = env.provision(vec![
        Pod::new().label("app", "foo").cpu("2"),
        Pod::new()
            .label("app", "baz")
            .cpu("1")
            .preferred(1, term(vec![req(ZONE, Op::In, &["value-1"])])),
    ]);
    assert_eq!(env.scheduled(p[0]), env.scheduled(p[1]));
    assert_eq!(env.node_count(), 1);
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should ignore node preferredDuringSchedulingIgnoredDuringExecution affinity" (Entry kubernetes.io/hostname)
// The preferred term goes through karpsim's lowering: Karpenter validates only required terms
// and the nodeSelector (provisioner.go validateAffinity), so this pod must not be ignored.
#[test]
fn kp039b_preferred_hostname_not_validated() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    let spec = config::PodSpec {
        affinity: Some(config::Affinity {
            node_affinity: Some(config::NodeAffinity {
                required: vec![],
                preferred: vec![config::PreferredSchedulingTerm {
                    weight: 1,
                    preference: config::NodeSelectorTerm {
                        match_expressions: vec![config::NodeSelectorRequirement {
                            key: HOSTNAME.into(),
                            operator: config::Operator::In,
                            values: vec!["value-1".into()],
                            min_values: None,
                        }],
                        match_fields: vec![],
                    },
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pod2 = Pod::from_spec(&spec).label("app", "baz").cpu("1");
    let p = env.provision(vec![Pod::new().label("app", "foo").cpu("2"), pod2]);
    assert_eq!(env.scheduled(p[0]), env.scheduled(p[1]));
}

// ---------------------------------------------------------------------------------------------
// §4 Taints and tolerations
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should taint nodes with NodePool taints" (Taints)
#[test]
fn kp040_node_gets_nodepool_taints() {
    let t = taint("test", Some("bar"), Effect::NoSchedule);
    let mut env = Env::new().with_pool(NodePool::np_t("default").taint(t.clone()));
    let p = env.provision(vec![
        Pod::new().tolerate(tol_exists(Some("test"), Some(Effect::NoSchedule))),
    ]);
    assert!(env.node_of(p[0]).taints.contains(&t));
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should schedule pods that tolerate NodePool constraints" (Taints)
#[test]
fn kp041_tolerations_of_nodepool_taints() {
    let mut env = Env::new().with_pool(NodePool::np_t("default").taint(taint(
        "test-key",
        Some("test-value"),
        Effect::NoSchedule,
    )));
    let ok = env.provision(vec![
        Pod::new().tolerate(tol_exists(Some("test-key"), Some(Effect::NoSchedule))),
        Pod::new().tolerate(tol_equal(
            "test-key",
            Some("test-value"),
            Some(Effect::NoSchedule),
        )),
    ]);
    env.scheduled(ok[0]);
    env.scheduled(ok[1]);
    let bad = env.provision(vec![
        Pod::new(),
        Pod::new().tolerate(tol_exists(Some("invalid"), None)),
        Pod::new().tolerate(tol_equal("test-key", None, Some(Effect::NoSchedule))),
    ]);
    for id in &bad {
        env.not_scheduled(*id);
    }
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should schedule pods that tolerate taints" (Provisioning > Taints)
#[test]
fn kp042_toleration_forms() {
    let mut env = Env::new().with_pool(NodePool::new("np-0").taint(taint(
        "nvidia.com/gpu",
        Some("true"),
        Effect::NoSchedule,
    )));
    let p = env.provision(vec![
        Pod::new().tolerate(tol_equal(
            "nvidia.com/gpu",
            Some("true"),
            Some(Effect::NoSchedule),
        )),
        Pod::new().tolerate(tol_exists(Some("nvidia.com/gpu"), Some(Effect::NoSchedule))),
        Pod::new().tolerate(tol_exists(Some("nvidia.com/gpu"), None)),
        Pod::new().tolerate(tol_exists(None, None)),
    ]);
    for id in &p {
        env.scheduled(*id);
    }
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should provision nodes with taints and schedule pods if the taint is only a startup taint" (Taints)
#[test]
fn kp043_startup_taint_ignored_for_new_claims() {
    let st = taint("ignore-me", Some("nothing-to-see-here"), Effect::NoSchedule);
    let mut env = Env::new().with_pool(NodePool::np_t("default").startup_taint(st.clone()));
    let p = env.provision(vec![Pod::new()]);
    assert!(env.node_of(p[0]).taints.contains(&st));
}

// ---------------------------------------------------------------------------------------------
// §11 Existing and in-flight nodes, §12 host ports
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not launch a second node if there is an in-flight node that can support the pod" (In-Flight Nodes)
#[test]
fn kp099_reuse_inflight_node() {
    let mut env = np_s_env();
    let a = env.provision(vec![Pod::new().cpu("10m")]);
    let b = env.provision(vec![Pod::new().cpu("10m")]);
    assert_eq!(env.scheduled(a[0]), env.scheduled(b[0]));
    assert_eq!(env.node_count(), 1);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not launch a second node if there is an in-flight node that can support the pod (node selectors)" (In-Flight Nodes)
#[test]
fn kp100_reuse_inflight_node_with_selectors() {
    let mut env = np_s_env();
    let a = env.provision(vec![Pod::new().cpu("10m").require(vec![req(
        ZONE,
        Op::In,
        &[Z2],
    )])]);
    assert_eq!(env.label_of(a[0], ZONE), Some(Z2));
    let b = env.provision(vec![Pod::new().cpu("10m").require(vec![req(
        ZONE,
        Op::In,
        &[Z1, Z2],
    )])]);
    assert_eq!(env.scheduled(a[0]), env.scheduled(b[0]));
    let c = env.provision(vec![Pod::new().cpu("10m").require(vec![req(
        ZONE,
        Op::In,
        &[Z1, Z3],
    )])]);
    assert_ne!(env.scheduled(a[0]), env.scheduled(c[0]));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should launch a second node if a pod won't fit on the existingNodes node" (In-Flight Nodes)
#[test]
fn kp101_second_node_when_full() {
    let mut env = np_s_env();
    let a = env.provision(vec![Pod::new().cpu("1001m")]);
    assert_eq!(env.label_of(a[0], IT), Some("small-instance-type"));
    let b = env.provision(vec![Pod::new().cpu("1")]);
    assert_ne!(env.scheduled(a[0]), env.scheduled(b[0]));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should launch a second node if a pod isn't compatible with the existingNodes node (node selector)" (In-Flight Nodes)
#[test]
fn kp101b_second_node_when_incompatible() {
    let mut env = np_s_env();
    let a = env.provision(vec![Pod::new().cpu("10m")]);
    let b = env.provision(vec![Pod::new().cpu("10m").node_selector(ARCH, "arm64")]);
    assert_ne!(env.scheduled(a[0]), env.scheduled(b[0]));
    assert_eq!(env.label_of(b[0], ARCH), Some("arm64"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should launch a second node if an in-flight node is terminating" (In-Flight Nodes)
#[test]
fn kp102_terminating_inflight_node_not_used() {
    let mut env = np_s_env();
    let a = env.provision(vec![Pod::new().cpu("10m")]);
    let n = env.scheduled(a[0]);
    env.delete_node(n);
    let b = env.provision(vec![Pod::new().cpu("10m")]);
    assert_ne!(env.scheduled(b[0]), n);
    assert_eq!(env.node_count(), 1);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should assume pod will schedule to a tainted node with no taints" (In-Flight Nodes > Taints)
#[test]
fn kp103_untainted_node_reused() {
    let mut env = np_s_env();
    let a = env.provision(vec![Pod::new().cpu("8")]);
    let n = env.scheduled(a[0]);
    assert_eq!(env.label_of(a[0], IT), Some("arm-instance-type"));
    env.delete_pod(a[0]);
    env.nodes[n].taints.clear();
    let b = env.provision(vec![Pod::new()]);
    assert_eq!(env.scheduled(b[0]), n);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not assume pod will schedule to a tainted node" (In-Flight Nodes > Taints)
#[test]
fn kp104_initialized_tainted_node_not_used() {
    let mut env = np_s_env();
    let a = env.provision(vec![Pod::new().cpu("8")]);
    let n = env.scheduled(a[0]);
    env.delete_pod(a[0]);
    env.make_initialized(n);
    env.nodes[n].taints = vec![taint("foo.com/taint", Some("tainted"), Effect::NoSchedule)];
    let b = env.provision(vec![Pod::new()]);
    assert_ne!(env.scheduled(b[0]), n);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should assume pod will schedule to a tainted node with a custom startup taint" (In-Flight Nodes > Taints)
#[test]
fn kp105_uninitialized_node_startup_taint_ignored() {
    let st = taint("foo.com/taint", Some("tainted"), Effect::NoSchedule);
    let mut env = Env::new().with_pool(NodePool::np_s("default").startup_taint(st.clone()));
    let a = env.provision(vec![Pod::new().cpu("8")]);
    let n = env.scheduled(a[0]);
    // The API server adds the not-ready taint to every new Node.
    env.nodes[n].taints.push(taint(
        "node.kubernetes.io/not-ready",
        None,
        Effect::NoSchedule,
    ));
    assert!(env.nodes[n].taints.contains(&st));
    env.delete_pod(a[0]);
    let b = env.provision(vec![Pod::new()]);
    assert_eq!(env.scheduled(b[0]), n);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not assume pod will schedule to a node with startup taints after initialization" (In-Flight Nodes > Taints)
#[test]
fn kp106_initialized_node_startup_taint_counts() {
    let st = taint("ignore-me", Some("nothing-to-see-here"), Effect::NoSchedule);
    let mut env = Env::new().with_pool(NodePool::np_s("default").startup_taint(st.clone()));
    let a = env.provision(vec![Pod::new().cpu("8")]);
    let n = env.scheduled(a[0]);
    env.delete_pod(a[0]);
    env.make_initialized(n);
    env.nodes[n].taints = vec![st];
    let b = env.provision(vec![Pod::new()]);
    assert_ne!(env.scheduled(b[0]), n);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should assume pod will schedule to a node with ephemeral taint node.kubernetes.io/not-ready:NoExecute when the node is uninitialized" (In-Flight Nodes > Taints)
#[test]
fn kp107_ephemeral_taint_ignored_until_initialized() {
    let mut env = np_s_env();
    let a = env.provision(vec![Pod::new()]);
    let n = env.scheduled(a[0]);
    env.delete_pod(a[0]);
    env.nodes[n].taints = vec![taint(
        "node.kubernetes.io/not-ready",
        None,
        Effect::NoExecute,
    )];
    let b = env.provision(vec![Pod::new()]);
    assert_eq!(env.scheduled(b[0]), n);
    env.delete_pod(b[0]);
    env.make_initialized(n);
    let c = env.provision(vec![Pod::new()]);
    assert_ne!(env.scheduled(c[0]), n);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should order initialized nodes for scheduling uninitialized nodes" (Existing Nodes)
#[test]
fn kp108_initialized_nodes_first() {
    let mut env = np_s_env();
    let alloc = Resources::from_pairs(&[
        (ResourceName::Cpu, q("10")),
        (ResourceName::Memory, q("10Gi")),
        (ResourceName::Pods, q("110")),
    ]);
    // 100 managed nodes; one chosen by a fixed "random" index is initialized.
    let chosen = 57;
    for i in 0..100 {
        let mut n = Node::custom(&format!("nc-{i:03}"), alloc).managed_by("default");
        n.initialized = i == chosen;
        env.add_node(n);
    }
    let p = env.provision(vec![Pod::new()]);
    assert_eq!(env.scheduled(p[0]), chosen);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule a pod to an existing node unowned by Karpenter" (Existing Nodes)
#[test]
fn kp109_existing_unmanaged_node() {
    let mut env = np_s_env();
    let alloc = Resources::from_pairs(&[
        (ResourceName::Cpu, q("10")),
        (ResourceName::Memory, q("10Gi")),
        (ResourceName::Pods, q("110")),
    ]);
    let n = env.add_node(Node::custom("unmanaged", alloc));
    let p = env.provision(vec![Pod::new().cpu("10m")]);
    assert_eq!(env.scheduled(p[0]), n);
    assert_eq!(env.node_count(), 1);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule multiple pods to an existing node unowned by Karpenter" (Existing Nodes)
#[test]
fn kp109b_many_pods_existing_unmanaged_node() {
    let mut env = np_s_env();
    let alloc = Resources::from_pairs(&[
        (ResourceName::Cpu, q("10")),
        (ResourceName::Memory, q("100Gi")),
        (ResourceName::Pods, q("110")),
    ]);
    let n = env.add_node(Node::custom("unmanaged", alloc));
    let p = env.provision(Pod::new().cpu("10m").times(100));
    for id in &p {
        assert_eq!(env.scheduled(*id), n);
    }
    assert_eq!(env.node_count(), 1);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should consider a pod incompatible with an existing node but compatible with NodePool" (Existing Nodes)
#[test]
fn kp110_existing_node_matching_is_strict() {
    let mut env = Env::new();
    let alloc = Resources::from_pairs(&[
        (ResourceName::Cpu, q("10")),
        (ResourceName::Memory, q("10Gi")),
        (ResourceName::Pods, q("110")),
    ]);
    let mut existing = Node::custom("managed", alloc).managed_by("default");
    existing.initialized = true;
    let n = env.add_node(existing);
    let p = env.provision(vec![Pod::new().require(vec![req(ZONE, Op::In, &[Z1])])]);
    env.not_scheduled(p[0]);
    env.add_pool(NodePool::np_s("default"));
    env.run_pass(&p);
    assert_ne!(env.scheduled(p[0]), n);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z1));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should pack in-flight nodes before launching new nodes" (In-Flight Nodes)
#[test]
fn kp111_pack_inflight_before_launching() {
    let medium = ItSpec::new("medium").cpu("4.25").pods(4).build();
    let mut env = Env::new()
        .with_catalog(vec![medium])
        .with_pool(NodePool::np_s("default"));
    // A fixed pseudo-random sequence of batch sizes in 0..=9 (upstream uses rand.Intn(10)).
    for n in [7usize, 3, 0, 9, 1, 5, 2, 8, 4, 6] {
        let ids = env.provision(Pod::new().cpu("1").times(n));
        for id in &ids {
            env.scheduled(*id);
        }
    }
    let mut with_room = 0;
    for (i, node) in env.nodes.iter().enumerate() {
        let used: i64 = env
            .pods
            .iter()
            .filter(|p| p.node == Some(i))
            .map(|p| p.info.requests.cpu())
            .sum();
        if node.allocatable.cpu() - used >= 1000 {
            with_room += 1;
        }
    }
    assert!(
        with_room <= 1,
        "{with_room} nodes still have ≥1 cpu available"
    );
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule pods with the same host port to different nodes" (In-Flight Nodes)
#[test]
fn kp112_host_port_conflict_separates() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().host_port(8080), Pod::new().host_port(8080)]);
    assert_ne!(env.scheduled(p[0]), env.scheduled(p[1]));
    assert_eq!(env.node_count(), 2);
}
