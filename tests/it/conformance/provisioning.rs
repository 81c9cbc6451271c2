//! NodePool order and weights, PreferNoSchedule pools, limits and DaemonSet overhead
//! (notes §4–§7).

use super::harness::*;
use karpsim::model::{Effect, WhenUnsatisfiable};
use karpsim::requirements::Op;
use karpsim::resources::{ResourceName, Resources};
use karpsim::scheduler::LimitKey;

/// Capacity (cpu millis, memory milli-bytes) of the pod's node type.
fn capacity_of(env: &Env, pod: PodId) -> (i64, i64) {
    let c = env.node_type(env.scheduled(pod)).capacity;
    (cpu_of(&c), mem_of(&c))
}

fn pod_1cpu_1gi() -> Pod {
    Pod::new().cpu("1").mem("1Gi")
}

fn ds_2cpu_2gi() -> Pod {
    Pod::new().cpu("2").mem("2Gi")
}

// ---------------------------------------------------------------------------------------------
// §4/§5 Multiple NodePools, weights, order
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/provisioning/suite_test.go "should not match NodePool with PreferNoSchedule taint when other NodePool match" (Provisioning > Multiple NodePools)
#[test]
fn kp044_prefer_no_schedule_pool_not_chosen_first() {
    // Random names upstream: check both name orders.
    for (pns, plain) in [("a-pool", "b-pool"), ("b-pool", "a-pool")] {
        let mut env = Env::new()
            .with_pool(NodePool::new(pns).taint(taint(
                "foo",
                Some("bar"),
                Effect::PreferNoSchedule,
            )))
            .with_pool(NodePool::new(plain));
        let p = env.provision(vec![Pod::new()]);
        assert_eq!(
            env.label_of(p[0], NODEPOOL),
            Some(plain),
            "PreferNoSchedule pool {pns} was chosen"
        );
    }
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should schedule to the nodepool with the highest priority always" (Provisioning > Multiple NodePools > Weighted NodePools)
#[test]
fn kp045_highest_weight_pool() {
    let mut env = Env::new()
        .with_pool(NodePool::new("np-unweighted"))
        .with_pool(NodePool::new("np-20").weight(20))
        .with_pool(NodePool::new("np-100").weight(100));
    let p = env.provision(Pod::new().times(3));
    for id in &p {
        assert_eq!(env.label_of(*id, NODEPOOL), Some("np-100"));
    }
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should schedule to explicitly selected nodepool even if other nodePools are higher priority" (Provisioning > Multiple NodePools > Weighted NodePools)
#[test]
fn kp046_explicit_nodepool_selector_beats_weight() {
    let mut env = Env::new()
        .with_pool(NodePool::new("np-unweighted"))
        .with_pool(NodePool::new("np-20").weight(20))
        .with_pool(NodePool::new("np-100").weight(100));
    let p = env.provision(vec![Pod::new().node_selector(NODEPOOL, "np-unweighted")]);
    assert_eq!(env.label_of(p[0], NODEPOOL), Some("np-unweighted"));
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should schedule to a NodePool by labels" (Provisioning > Multiple NodePools)
#[test]
fn kp047_select_pool_by_label() {
    for (x, plain) in [("a-pool", "b-pool"), ("b-pool", "a-pool")] {
        let mut env = Env::new()
            .with_pool(NodePool::new(x).label("foo", "bar"))
            .with_pool(NodePool::new(plain));
        let p = env.provision(vec![Pod::new().node_selector("foo", "bar")]);
        assert_eq!(env.label_of(p[0], NODEPOOL), Some(x));
    }
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should schedule to an explicitly selected NodePool" (Provisioning > Multiple NodePools)
#[test]
fn kp047b_select_pool_by_name() {
    let mut env = Env::new()
        .with_pool(NodePool::new("a-pool"))
        .with_pool(NodePool::new("b-pool"));
    let p = env.provision(vec![Pod::new().node_selector(NODEPOOL, "a-pool")]);
    assert_eq!(env.label_of(p[0], NODEPOOL), Some("a-pool"));
}

// karpenter: pkg/utils/nodepool/suite_test.go "should order the NodePools by name when the weights are the same" (NodePoolUtils > OrderByWeight; derived end-to-end port)
#[test]
fn kp048_equal_weights_reverse_name_order() {
    let mut env = Env::new()
        .with_pool(NodePool::new("a-pool"))
        .with_pool(NodePool::new("b-pool"));
    let p = env.provision(vec![Pod::new()]);
    assert_eq!(env.label_of(p[0], NODEPOOL), Some("b-pool"));
    let mut env = Env::new()
        .with_pool(NodePool::new("pool-3").weight(10))
        .with_pool(NodePool::new("pool-9").weight(10))
        .with_pool(NodePool::new("pool-1").weight(10));
    let p = env.provision(vec![Pod::new()]);
    assert_eq!(env.label_of(p[0], NODEPOOL), Some("pool-9"));
}

// ---------------------------------------------------------------------------------------------
// §6 Limits
// ---------------------------------------------------------------------------------------------

fn anti_foo(cpu: &str) -> Pod {
    Pod::new()
        .label("app", "foo")
        .cpu(cpu)
        .anti(aff(HOSTNAME, sel(&[("app", "foo")])))
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should not schedule when limits are exceeded" (Provisioning > Resource Limits)
#[test]
fn kp049_limits_counted_on_existing_capacity() {
    let mut env = Env::new().with_pool(NodePool::new("np-0").cpu_limit("20"));
    // A launched NodeClaim of the pool with capacity cpu 100 and no Node (nothing allocatable).
    let claim = Node::custom("claim-1", Resources::ZERO)
        .managed_by("np-0")
        .capacity(Resources::from_pairs(&[(ResourceName::Cpu, q("100"))]));
    let mut claim = claim;
    claim.initialized = false;
    env.add_node(claim);
    let p = env.provision(vec![Pod::new()]);
    env.not_scheduled(p[0]);
    assert_eq!(env.node_count(), 1);
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should schedule if limits would be met" (Provisioning > Resource Limits)
#[test]
fn kp050_limits_met() {
    let mut env = Env::new().with_pool(NodePool::new("np-0").cpu_limit("2"));
    let p = env.provision(vec![Pod::new().cpu("1.75")]);
    assert_eq!(env.label_of(p[0], IT), Some("small-instance-type"));
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should not schedule if limits would be exceeded" (Provisioning > Resource Limits)
#[test]
fn kp051_limits_exceeded() {
    let mut env = Env::new().with_pool(NodePool::new("np-0").cpu_limit("2"));
    let p = env.provision(vec![Pod::new().cpu("2.1")]);
    env.not_scheduled(p[0]);
    assert_eq!(env.node_count(), 0);
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should partially schedule if limits would be exceeded" (Provisioning > Resource Limits)
#[test]
fn kp052_partial_schedule_within_limits() {
    let mut env = Env::new().with_pool(NodePool::new("np-0").cpu_limit("3"));
    let p = env.provision(vec![anti_foo("1.5"), anti_foo("1.5")]);
    assert_eq!(env.count_scheduled(&p), 1);
    assert_eq!(env.node_count(), 1);
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should not schedule to a nodepool after a scheduling round if limits would be exceeded" (Provisioning > Resource Limits)
#[test]
fn kp053_limits_across_rounds() {
    let mut env = Env::new().with_pool(NodePool::new("np-0").cpu_limit("2"));
    let a = env.provision(vec![Pod::new().cpu("1.75")]);
    env.scheduled(a[0]);
    let b = env.provision(vec![Pod::new().cpu("1.75")]);
    env.not_scheduled(b[0]);
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should not schedule if limits would be exceeded (node)" (Provisioning > Resource Limits)
#[test]
fn kp054_node_count_limit() {
    let mut env = Env::new().with_pool(NodePool::new("np-0").limits(vec![(LimitKey::Nodes, 2)]));
    let a = env.provision(vec![anti_foo("1.5")]);
    env.scheduled(a[0]);
    let b = env.provision(vec![anti_foo("1.5")]);
    env.scheduled(b[0]);
    let c = env.provision(vec![anti_foo("1.5")]);
    env.not_scheduled(c[0]);
    assert_eq!(env.node_count(), 2);
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should not schedule if limits would be exceeded (GPU)" (Provisioning > Resource Limits)
#[test]
fn kp055_pods_limit_compared_to_capacity() {
    let mut env = Env::new().with_pool(
        NodePool::new("np-0").limits(vec![(LimitKey::Resource(ResourceName::Pods), q("1"))]),
    );
    let p = env.provision(vec![Pod::new().res(GPU_A, 1)]);
    env.not_scheduled(p[0]);
}

// ---------------------------------------------------------------------------------------------
// §7 DaemonSet overhead
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/provisioning/suite_test.go "should account for daemonsets" (Provisioning > Daemonsets)
#[test]
fn kp056_daemonset_overhead() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    env.add_daemonset("ds", ds_2cpu_2gi());
    let p = env.provision(vec![pod_1cpu_1gi()]);
    assert_eq!(capacity_of(&env, p[0]), (q("4"), q("4Gi")));
    assert_eq!(env.label_of(p[0], IT), Some("default-instance-type"));
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should create a nodeclaim with resource requests with daemon overhead" (Provisioning > NodeClaim Creation)
#[test]
fn kp057_nodeclaim_requests_include_daemon_overhead() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    env.add_daemonset("ds", Pod::new().cpu("1").mem("1Mi"));
    let p = env.provision(vec![Pod::new().cpu("1").mem("1Mi")]);
    env.scheduled(p[0]);
    assert_eq!(env.create_calls.len(), 1);
    let r = env.create_calls[0].requests;
    assert_eq!(
        r,
        res(&[
            (ResourceName::Cpu, "2"),
            (ResourceName::Memory, "2Mi"),
            (ResourceName::Pods, "2")
        ])
    );
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should not double-count daemon overhead when multiple pods are scheduled to the same nodeclaim" (Provisioning > NodeClaim Creation)
#[test]
fn kp058_daemon_overhead_added_once() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    env.add_daemonset("ds", Pod::new().cpu("1").mem("1Mi"));
    let p = env.provision(Pod::new().cpu("1").mem("1Mi").times(2));
    env.scheduled(p[0]);
    env.scheduled(p[1]);
    assert_eq!(env.create_calls.len(), 1);
    let r = env.create_calls[0].requests;
    assert_eq!(
        r,
        res(&[
            (ResourceName::Cpu, "3"),
            (ResourceName::Memory, "3Mi"),
            (ResourceName::Pods, "3")
        ])
    );
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should account for daemonset hostports" (Provisioning > Daemonsets)
#[test]
fn kp059_daemonset_host_ports() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    env.add_daemonset("ds", ds_2cpu_2gi().host_port(8080));
    let p = env.provision(vec![pod_1cpu_1gi().host_port(8080)]);
    env.not_scheduled(p[0]);
    assert_eq!(env.node_count(), 0);
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should account for daemonsets (with startup taint)" (Provisioning > Daemonsets)
#[test]
fn kp060_daemonset_with_startup_taint() {
    let mut env = Env::new().with_pool(NodePool::new("np-0").startup_taint(taint(
        "foo.com/taint",
        None,
        Effect::NoSchedule,
    )));
    env.add_daemonset("ds", ds_2cpu_2gi());
    let p = env.provision(vec![pod_1cpu_1gi()]);
    assert_eq!(capacity_of(&env, p[0]), (q("4"), q("4Gi")));
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should not schedule if daemonset overhead is too large" (Provisioning > Daemonsets)
#[test]
fn kp061_daemonset_overhead_too_large() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    env.add_daemonset("ds", Pod::new().cpu("10000").mem("10000Gi"));
    let p = env.provision(vec![Pod::new()]);
    env.not_scheduled(p[0]);
    assert_eq!(env.node_count(), 0);
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should ignore daemonsets without matching tolerations" (Provisioning > Daemonsets)
#[test]
fn kp063_daemonset_not_tolerating_pool_taint() {
    let mut env = Env::new().with_pool(NodePool::new("np-0").taint(taint(
        "foo",
        Some("bar"),
        Effect::NoSchedule,
    )));
    env.add_daemonset("ds", ds_2cpu_2gi());
    let p = env.provision(vec![pod_1cpu_1gi().tolerate(tol_exists(None, None))]);
    assert_eq!(capacity_of(&env, p[0]), (q("2"), q("2Gi")));
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should ignore daemonsets with an invalid selector" (Provisioning > Daemonsets)
#[test]
fn kp064_daemonset_invalid_selector() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    env.add_daemonset("ds", ds_2cpu_2gi().node_selector("node", "invalid"));
    let p = env.provision(vec![pod_1cpu_1gi()]);
    assert_eq!(capacity_of(&env, p[0]), (q("2"), q("2Gi")));
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should ignore daemonsets when no instance types meet the daemonset requirements" (Provisioning > Daemonsets)
#[test]
fn kp064b_daemonset_matching_no_instance_type() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    env.add_daemonset(
        "ds",
        ds_2cpu_2gi().require(vec![req(IT, Op::In, &["non-existent-instance-type"])]),
    );
    let p = env.provision(vec![pod_1cpu_1gi()]);
    assert_eq!(capacity_of(&env, p[0]), (q("2"), q("2Gi")));
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should account for daemonsets with a custom label nodeSelector that matches the nodepool" (Provisioning > Daemonsets)
#[test]
fn kp065_daemonset_custom_label_selector() {
    let mut env = Env::new().with_pool(NodePool::new("np-0").label("purpose", "monitoring"));
    env.add_daemonset("ds", ds_2cpu_2gi().node_selector("purpose", "monitoring"));
    let p = env.provision(vec![pod_1cpu_1gi()]);
    assert_eq!(capacity_of(&env, p[0]), (q("4"), q("4Gi")));
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should filter out daemonsets based on instance type requirements" (Provisioning > Daemonsets)
#[test]
fn kp066_daemonset_overhead_per_instance_type() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    env.add_daemonset(
        "ds-small",
        Pod::new()
            .cpu("1")
            .require(vec![req("size", Op::In, &["small"])]),
    );
    env.add_daemonset(
        "ds-large",
        Pod::new()
            .cpu("10")
            .require(vec![req("size", Op::In, &["large"])]),
    );
    let p = env.provision(vec![pod_1cpu_1gi()]);
    assert_eq!(capacity_of(&env, p[0]), (q("4"), q("4Gi")));
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should account daemonsets with NotIn operator and unspecified key" (Provisioning > Daemonsets)
#[test]
fn kp067_daemonset_notin_undefined_key_counts() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    env.add_daemonset(
        "ds",
        ds_2cpu_2gi().require(vec![req("foo", Op::NotIn, &["bar"])]),
    );
    let p = env.provision(vec![pod_1cpu_1gi().require(vec![req(ZONE, Op::In, &[Z2])])]);
    assert_eq!(capacity_of(&env, p[0]), (q("4"), q("4Gi")));
    assert_eq!(env.label_of(p[0], ZONE), Some(Z2));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not subtract daemonset overhead that is not strictly compatible with an existing node" (Existing Nodes > Daemonsets)
#[test]
fn kp068_daemonset_strict_compat_with_existing_node() {
    let mut env = Env::new().with_pool(NodePool::np_s("default"));
    let alloc = Resources::from_pairs(&[
        (ResourceName::Cpu, q("1")),
        (ResourceName::Memory, q("1Gi")),
        (ResourceName::Pods, q("110")),
    ]);
    let mut existing = Node::custom("existing", alloc).managed_by("default");
    existing.initialized = true;
    let n = env.add_node(existing);
    env.add_daemonset(
        "ds",
        Pod::new()
            .cpu("100")
            .mem("100Gi")
            .require(vec![req(ZONE, Op::In, &[Z1])]),
    );
    let a = env.provision(vec![pod_1cpu_1gi()]);
    assert_eq!(env.scheduled(a[0]), n);
    let b = env.provision(vec![pod_1cpu_1gi()]);
    env.not_scheduled(b[0]);
    assert_eq!(env.node_count(), 1);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should track daemonset usage separately so we know how many DS resources are remaining to be scheduled" (In-Flight Nodes > Daemonsets)
#[test]
fn kp069_bound_daemon_pods_reduce_remaining_overhead() {
    let mut env = Env::new().with_pool(NodePool::np_s("default"));
    env.add_daemonset("ds", Pod::new().cpu("1").mem("1Gi"));
    let a = env.provision(vec![Pod::new().cpu("8")]);
    let n = env.scheduled(a[0]);
    assert_eq!(env.label_of(a[0], IT), Some("arm-instance-type"));
    env.delete_pod(a[0]);
    env.bind_daemon_pod(Pod::new().cpu("1").mem("2Gi").label("app", "ds"), n);
    let b = env.provision(vec![Pod::new().cpu("14.9")]);
    assert_eq!(env.scheduled(b[0]), n);
    assert_eq!(env.node_count(), 1);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should not violate max-skew when unsat = do not schedule (capacity type)" (Topology > CapacityType)
// (kept here because it drives NodePool requirement changes between passes)
#[test]
fn kp126_capacity_type_skew_do_not_schedule() {
    let mut env =
        Env::new().with_pool(NodePool::np_t("default").reqs(vec![req(CT, Op::In, &["spot"])]));
    let s = tsc_l(CT, 1);
    env.provision(vec![Pod::new().l().cpu("1.1").spread(s.clone())]);
    assert_eq!(env.skew_l(CT), vec![1]);
    env.set_pool(NodePool::np_t("default").reqs(vec![req(CT, Op::In, &["on-demand"])]));
    env.provision(Pod::new().l().cpu("1.1").spread(s).times(5));
    assert_eq!(env.skew_l(CT), vec![1, 2]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should violate max-skew when unsat = schedule anyway (capacity type)" (Topology > CapacityType)
#[test]
fn kp127_capacity_type_skew_schedule_anyway() {
    let mut env =
        Env::new().with_pool(NodePool::np_t("default").reqs(vec![req(CT, Op::In, &["spot"])]));
    let s = tsc(CT, 1, WhenUnsatisfiable::ScheduleAnyway, Some(sel_l()));
    env.provision(vec![Pod::new().l().cpu("1.1").spread(s.clone())]);
    assert_eq!(env.skew_l(CT), vec![1]);
    env.set_pool(NodePool::np_t("default").reqs(vec![req(CT, Op::In, &["on-demand"])]));
    env.provision(Pod::new().l().cpu("1.1").spread(s).times(5));
    assert_eq!(env.skew_l(CT), vec![1, 5]);
}
