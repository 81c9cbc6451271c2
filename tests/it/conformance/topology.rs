//! Topology spread, pod affinity and pod anti-affinity (notes §13, §14).

use super::harness::*;
use karpsim::model::{AffinityTerm, SpreadConstraint, WhenUnsatisfiable};
use karpsim::requirements::Op;
use karpsim::resources::{ResourceName, Resources};

fn np_t_env() -> Env {
    Env::new().with_pool(NodePool::np_t("default"))
}

fn np_t_zones(zones: &[&str]) -> NodePool {
    NodePool::np_t("default").reqs(vec![req(ZONE, Op::In, zones)])
}

fn l_pods(n: usize, s: &SpreadConstraint) -> Vec<Pod> {
    Pod::new().l().spread(s.clone()).times(n)
}

fn s2() -> Pod {
    Pod::new().label("security", "s2")
}

fn aff_s2(key: &str) -> AffinityTerm {
    aff(key, sel(&[("security", "s2")]))
}

// ---------------------------------------------------------------------------------------------
// §13 Topology spread
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should ignore unknown topology keys" (Topology)
#[test]
fn kp113_unknown_topology_key() {
    let mut env = np_t_env();
    let p = env.provision(vec![Pod::new().l().spread(tsc_l("unknown", 1)), Pod::new()]);
    env.not_scheduled(p[0]);
    env.scheduled(p[1]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should not spread when a nil label selector is defined" (Topology)
#[test]
fn kp140_nil_selector_does_not_spread() {
    let mut env = np_t_env();
    let s = tsc(ZONE, 1, WhenUnsatisfiable::DoNotSchedule, None);
    env.provision(l_pods(2, &s));
    assert_eq!(env.skew("default", ZONE, None), vec![2]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should balance pods across zones (match labels)" (Topology > Zonal)
#[test]
fn kp114_balance_zones() {
    let mut env = np_t_env();
    env.provision(l_pods(4, &tsc_l(ZONE, 1)));
    assert_eq!(env.skew_l(ZONE), vec![1, 1, 2]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should balance pods across zones (match expressions)" (Topology > Zonal)
#[test]
fn kp114b_balance_zones_match_expressions() {
    let mut env = np_t_env();
    let mut selector = karpsim::model::LabelSelector::default();
    selector
        .exprs
        .push((sym("test"), karpsim::model::SelOp::In, vec![sym("test")]));
    let s = tsc(ZONE, 1, WhenUnsatisfiable::DoNotSchedule, Some(selector));
    env.provision(l_pods(4, &s));
    assert_eq!(env.skew_l(ZONE), vec![1, 1, 2]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should respect NodePool zonal constraints (subset) with requirements" (Topology > Zonal)
#[test]
fn kp115_nodepool_zone_subset() {
    let mut env = Env::new().with_pool(np_t_zones(&[Z1, Z2]));
    env.provision(l_pods(4, &tsc_l(ZONE, 1)));
    assert_eq!(env.skew_l(ZONE), vec![2, 2]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should respect NodePool zonal constraints (subset) with labels" (Topology > Zonal)
#[test]
fn kp115b_nodepool_zone_label() {
    let mut env = Env::new().with_pool(NodePool::np_t("default").label(ZONE, Z1));
    env.provision(l_pods(4, &tsc_l(ZONE, 1)));
    assert_eq!(env.skew_l(ZONE), vec![4]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should respect NodePool zonal constraints (subset) with requirements and labels" (Topology > Zonal)
#[test]
fn kp115c_nodepool_zone_requirement_and_label() {
    let mut env = Env::new().with_pool(np_t_zones(&[Z1, Z2]).label(ZONE, Z1));
    env.provision(l_pods(4, &tsc_l(ZONE, 1)));
    assert_eq!(env.skew_l(ZONE), vec![4]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should respect NodePool zonal constraints (subset) with labels across NodePools" (Topology > Zonal)
#[test]
fn kp115d_zone_labels_across_nodepools() {
    let mut env = Env::new()
        .with_pool(np_t_zones(&[Z1, Z2]).label(ZONE, Z1))
        .with_pool(NodePool::new("second").label(ZONE, Z2));
    env.provision(l_pods(4, &tsc_l(ZONE, 1)));
    assert_eq!(env.skew_l(ZONE), vec![2, 2]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should respect NodePool zonal constraints (existing pod)" (Topology > Zonal)
#[test]
fn kp116_existing_pod_outside_nodepool_zones_counts() {
    let mut env = np_t_env();
    let s = tsc_l(ZONE, 1);
    let first = env.provision(vec![Pod::new().l().cpu("1.1").node_selector(ZONE, Z3)]);
    assert_eq!(env.label_of(first[0], ZONE), Some(Z3));
    env.set_pool(np_t_zones(&[Z1, Z2]));
    let p = env.provision(Pod::new().l().cpu("1.1").spread(s).times(6));
    assert_eq!(env.skew_l(ZONE), vec![1, 2, 2]);
    assert_eq!(env.count_scheduled(&p), 4);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should schedule to the non-minimum domain if its all that's available" (Topology > Zonal)
#[test]
fn kp117_non_minimum_domain_when_only_one_available() {
    let mut env = Env::new().with_pool(np_t_zones(&[Z1]));
    let s = tsc_l(ZONE, 5);
    env.provision(vec![Pod::new().l().cpu("1.1").spread(s.clone())]);
    assert_eq!(env.skew_l(ZONE), vec![1]);
    env.set_pool(np_t_zones(&[Z2]));
    env.provision(vec![Pod::new().l().cpu("1.1").spread(s.clone())]);
    assert_eq!(env.skew_l(ZONE), vec![1, 1]);
    env.set_pool(np_t_zones(&[Z3]));
    let p = env.provision(Pod::new().l().cpu("1.1").spread(s).times(10));
    assert_eq!(env.skew_l(ZONE), vec![1, 1, 6]);
    assert_eq!(env.count_scheduled(&p), 6);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should only schedule to minimum domains if already violating max skew" (Topology > Zonal)
#[test]
fn kp118_minimum_domains_when_violating() {
    let mut env = np_t_env();
    let s = tsc_l(ZONE, 1);
    let first = env.provision(Pod::new().l().cpu("1.1").spread(s.clone()).times(9));
    assert_eq!(env.skew_l(ZONE), vec![3, 3, 3]);
    for id in first {
        if env.label_of(id, ZONE) != Some(Z1) {
            env.delete_pod(id);
        }
    }
    assert_eq!(env.skew_l(ZONE), vec![3]);
    env.provision(Pod::new().l().cpu("1.1").spread(s).times(3));
    assert_eq!(env.skew_l(ZONE), vec![1, 2, 3]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should not violate max-skew when unsat = do not schedule" (Topology > Zonal)
#[test]
fn kp119_do_not_schedule_keeps_skew() {
    let mut env = Env::new().with_pool(np_t_zones(&[Z1]));
    let s = tsc_l(ZONE, 1);
    env.provision(vec![Pod::new().l().cpu("1.1").spread(s.clone())]);
    assert_eq!(env.skew_l(ZONE), vec![1]);
    env.set_pool(np_t_zones(&[Z2, Z3]));
    env.provision(Pod::new().l().cpu("1.1").spread(s).times(10));
    assert_eq!(env.skew_l(ZONE), vec![1, 2, 2]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should not violate max-skew when unsat = do not schedule (discover domains)" (Topology > Zonal)
#[test]
fn kp119b_do_not_schedule_discovers_domains() {
    let mut env = Env::new().with_pool(np_t_zones(&[Z1]));
    env.provision(vec![Pod::new().l().cpu("1.1")]);
    env.set_pool(np_t_zones(&[Z2, Z3]));
    env.provision(Pod::new().l().cpu("1.1").spread(tsc_l(ZONE, 1)).times(10));
    assert_eq!(env.skew_l(ZONE), vec![1, 2, 2]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should handle interdependent selectors" (Topology > Zonal)
#[test]
fn kp121_pods_not_matching_own_selector() {
    let mut env = np_t_env();
    let p = env.provision(Pod::new().spread(tsc_l(HOSTNAME, 1)).times(5));
    for id in &p {
        env.scheduled(*id);
    }
    assert_eq!(env.distinct_nodes(&p), 1);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should respect minDomains constraints" (Topology > Zonal)
#[test]
fn kp122_min_domains_caps_each_zone() {
    let mut env = Env::new().with_pool(np_t_zones(&[Z1, Z2]));
    let mut s = tsc_l(ZONE, 1);
    s.min_domains = Some(3);
    env.provision(l_pods(3, &s));
    assert_eq!(env.skew_l(ZONE), vec![1, 1]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "satisfied minDomains constraints (equal) should allow expected pod scheduling" (Topology > Zonal)
#[test]
fn kp122b_min_domains_satisfied() {
    let mut env = Env::new().with_pool(np_t_zones(&[Z1, Z2, Z3]));
    let mut s = tsc_l(ZONE, 1);
    s.min_domains = Some(3);
    env.provision(l_pods(11, &s));
    assert_eq!(env.skew_l(ZONE), vec![3, 4, 4]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should balance pods across nodes" (Topology > Hostname)
#[test]
fn kp123_balance_hostnames() {
    let mut env = np_t_env();
    env.provision(l_pods(4, &tsc_l(HOSTNAME, 1)));
    assert_eq!(env.skew_l(HOSTNAME), vec![1, 1, 1, 1]);
    assert_eq!(env.node_count(), 4);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should balance pods on the same hostname up to maxskew" (Topology > Hostname)
#[test]
fn kp123b_hostname_max_skew_4() {
    let mut env = np_t_env();
    env.provision(l_pods(4, &tsc_l(HOSTNAME, 4)));
    assert_eq!(env.skew_l(HOSTNAME), vec![4]);
    assert_eq!(env.node_count(), 1);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "balance multiple deployments with hostname topology spread" (Topology > Hostname)
#[test]
fn kp124_two_deployments_share_nodes() {
    let mut env = np_t_env();
    let spread = |app: &str| {
        tsc(
            HOSTNAME,
            1,
            WhenUnsatisfiable::DoNotSchedule,
            Some(sel(&[("app", app)])),
        )
    };
    let mut pods = Pod::new()
        .label("app", "app1")
        .spread(spread("app1"))
        .times(2);
    pods.extend(
        Pod::new()
            .label("app", "app2")
            .spread(spread("app2"))
            .times(2),
    );
    let p = env.provision(pods);
    for id in &p {
        env.scheduled(*id);
    }
    assert_eq!(env.node_count(), 2);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "balance multiple deployments with hostname topology spread & varying arch" (Topology > Hostname)
#[test]
fn kp124b_two_deployments_different_arch() {
    let mut env =
        Env::new().with_pool(NodePool::np_t("default").req(req(ARCH, Op::In, &["amd64", "arm64"])));
    let spread = |app: &str| {
        tsc(
            HOSTNAME,
            1,
            WhenUnsatisfiable::DoNotSchedule,
            Some(sel(&[("app", app)])),
        )
    };
    let mut pods = Pod::new()
        .label("app", "app1")
        .spread(spread("app1"))
        .require(vec![req(ARCH, Op::In, &["amd64"])])
        .times(2);
    pods.extend(
        Pod::new()
            .label("app", "app2")
            .spread(spread("app2"))
            .require(vec![req(ARCH, Op::In, &["arm64"])])
            .times(2),
    );
    let p = env.provision(pods);
    for id in &p {
        env.scheduled(*id);
    }
    assert_eq!(env.node_count(), 4);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should balance pods across capacity types" (Topology > CapacityType)
#[test]
fn kp125_balance_capacity_types() {
    let mut env = np_t_env();
    env.provision(l_pods(4, &tsc_l(CT, 1)));
    assert_eq!(env.skew_l(CT), vec![2, 2]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should balance pods across NodePool requirements" (Topology > Combined Hostname and Zonal Topology)
#[test]
fn kp128_spread_on_custom_nodepool_label() {
    let key = "capacity.spread.4-1";
    let mut env = Env::new()
        .with_pool(NodePool::np_t("spot").reqs(vec![
            req(CT, Op::In, &["spot"]),
            req(key, Op::In, &["2", "3", "4", "5"]),
        ]))
        .with_pool(NodePool::np_t("on-demand").reqs(vec![
            req(CT, Op::In, &["on-demand"]),
            req(key, Op::In, &["1"]),
        ]));
    let p = env.provision(l_pods(20, &tsc_l(key, 1)));
    assert_eq!(env.count_scheduled(&p), 20);
    assert_eq!(env.skew_l(key), vec![4, 4, 4, 4, 4]);
    assert_eq!(env.skew_l(CT), vec![4, 16]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should spread pods while respecting both constraints (hostname and zonal)" (Topology > Combined Hostname and Zonal Topology)
#[test]
fn kp129_zone_and_hostname_spread() {
    let mut env = np_t_env();
    let z = tsc_l(ZONE, 1);
    let h = tsc_l(HOSTNAME, 3);
    let pods = |n| Pod::new().l().spread(z.clone()).spread(h.clone()).times(n);
    env.provision(pods(2));
    assert_eq!(env.skew_l(ZONE), vec![1, 1]);
    assert!(env.skew_l(HOSTNAME).iter().all(|c| *c <= 3));
    env.provision(pods(3));
    assert_eq!(env.skew_l(ZONE), vec![1, 2, 2]);
    assert!(env.skew_l(HOSTNAME).iter().all(|c| *c <= 3));
    env.provision(pods(5));
    assert_eq!(env.skew_l(ZONE), vec![3, 3, 4]);
    assert!(env.skew_l(HOSTNAME).iter().all(|c| *c <= 3));
    env.provision(pods(11));
    assert_eq!(env.skew_l(ZONE), vec![7, 7, 7]);
    assert!(env.skew_l(HOSTNAME).iter().all(|c| *c <= 3));
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should spread pods while respecting both constraints" (Topology > Combined Hostname and Zonal Topology; first It, zone + hostname ScheduleAnyway with a limit-0 NodePool)
#[test]
fn kp130_limit_zero_pool_keeps_domain() {
    let mut env = Env::new().with_pool(np_t_zones(&[Z1, Z2])).with_pool(
        NodePool::new("np-b")
            .reqs(vec![req(ZONE, Op::In, &[Z3])])
            .cpu_limit("0"),
    );
    let z = tsc_l(ZONE, 1);
    let h = tsc(
        HOSTNAME,
        1,
        WhenUnsatisfiable::ScheduleAnyway,
        Some(sel_l()),
    );
    let p = env.provision(Pod::new().l().spread(z).spread(h).times(10));
    assert_eq!(env.skew_l(ZONE), vec![1, 1]);
    assert_eq!(env.skew_l(HOSTNAME), vec![1, 1]);
    assert_eq!(env.count_scheduled(&p), 2);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should spread pods while respecting both constraints" (Topology > Combined Hostname and Zonal Topology; second It, capacity type + hostname)
#[test]
fn kp131_capacity_type_and_hostname_spread() {
    let mut env = np_t_env();
    let c = tsc_l(CT, 1);
    let h = tsc_l(HOSTNAME, 3);
    let pods = |n| Pod::new().l().spread(c.clone()).spread(h.clone()).times(n);
    env.provision(pods(2));
    assert_eq!(env.skew_l(CT), vec![1, 1]);
    env.provision(pods(3));
    assert_eq!(env.skew_l(CT), vec![2, 3]);
    env.provision(pods(5));
    assert_eq!(env.skew_l(CT), vec![5, 5]);
    env.provision(pods(11));
    assert_eq!(env.skew_l(CT), vec![10, 11]);
    assert!(env.skew_l(HOSTNAME).iter().all(|c| *c <= 3));
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should support matchLabelKeys" (Topology > MatchLabelKeys)
#[test]
fn kp132_match_label_keys() {
    let mut env = np_t_env();
    let mut s = tsc_l(HOSTNAME, 1);
    s.match_label_keys = vec![sym("test-label")];
    let mut pods = Pod::new()
        .l()
        .label("test-label", "value-a")
        .spread(s.clone())
        .times(2);
    pods.extend(
        Pod::new()
            .l()
            .label("test-label", "value-b")
            .spread(s)
            .times(2),
    );
    env.provision(pods);
    assert_eq!(env.skew_l(HOSTNAME), vec![2, 2]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should ignore unknown labels specified in matchLabelKeys" (Topology > MatchLabelKeys)
#[test]
fn kp132b_match_label_keys_unknown_label() {
    let mut env = np_t_env();
    let mut s = tsc_l(HOSTNAME, 1);
    s.match_label_keys = vec![sym("test-label")];
    env.provision(l_pods(4, &s));
    assert_eq!(env.skew_l(HOSTNAME), vec![1, 1, 1, 1]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should balance pods across a label (NodeAffinityPolicy=ignore)" (Topology > NodeAffinityPolicy)
#[test]
fn kp133_node_affinity_policy_ignore() {
    let (mut env, s) = node_affinity_policy_env(false);
    env.provision(
        Pod::new()
            .l()
            .cpu("1")
            .node_selector("selector", "value")
            .spread(s.clone())
            .times(5),
    );
    assert_eq!(env.skew("default", "fake-label", Some(&sel_l())), vec![1]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should balance pods across a label (NodeAffinityPolicy=honor)" (Topology > NodeAffinityPolicy)
#[test]
fn kp134_node_affinity_policy_honor() {
    let (mut env, s) = node_affinity_policy_env(true);
    env.provision(
        Pod::new()
            .l()
            .cpu("1")
            .node_selector("selector", "value")
            .spread(s.clone())
            .times(5),
    );
    assert_eq!(env.skew("default", "fake-label", Some(&sel_l())), vec![5]);
}

fn node_affinity_policy_env(honor: bool) -> (Env, SpreadConstraint) {
    let mut env = Env::new().with_pool(
        NodePool::np_t("default")
            .label("fake-label", "baz")
            .label("selector", "value"),
    );
    let alloc = Resources::from_pairs(&[(ResourceName::Cpu, q("100m"))]);
    env.add_node(
        Node::custom("node-a", alloc)
            .label("fake-label", "foo")
            .label("selector", "mismatch"),
    );
    env.add_node(
        Node::custom("node-b", alloc)
            .label("fake-label", "bar")
            .label("selector", "mismatch"),
    );
    let mut s = tsc_l("fake-label", 1);
    s.honor_affinity = honor;
    (env, s)
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should limit spread options by nodeSelector" (Topology > Combined Zonal Topology and Node Affinity)
#[test]
fn kp135_spread_limited_by_node_selector() {
    let mut env = np_t_env();
    let s = tsc_l(ZONE, 1);
    let mut pods = Pod::new()
        .l()
        .spread(s.clone())
        .node_selector(ZONE, Z1)
        .times(5);
    pods.extend(Pod::new().l().spread(s).node_selector(ZONE, Z2).times(10));
    env.provision(pods);
    assert_eq!(env.skew_l(ZONE), vec![5, 10]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should limit spread options by required node affinity" (Topology > Combined Zonal Topology and Node Affinity)
#[test]
fn kp136_spread_limited_by_required_affinity() {
    let mut env = Env::new().with_pool(np_t_zones(&[Z1, Z2]));
    let s = tsc_l(ZONE, 1);
    env.provision(
        Pod::new()
            .l()
            .spread(s.clone())
            .require(vec![req(ZONE, Op::In, &[Z1, Z2])])
            .times(6),
    );
    assert_eq!(env.skew_l(ZONE), vec![3, 3]);
    env.set_pool(np_t_zones(&[Z1, Z2, Z3]));
    env.provision(vec![Pod::new().l().spread(s.clone()).require(vec![req(
        ZONE,
        Op::In,
        &[Z2, Z3],
    )])]);
    assert_eq!(env.skew_l(ZONE), vec![1, 3, 3]);
    env.provision(l_pods(5, &s));
    assert_eq!(env.skew_l(ZONE), vec![4, 4, 4]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should not limit spread options by preferred node affinity" (Topology > Combined Zonal Topology and Node Affinity)
#[test]
fn kp137_preferred_affinity_does_not_limit_spread() {
    let mut env = np_t_env();
    let p = env.provision(
        Pod::new()
            .l()
            .spread(tsc_l(ZONE, 1))
            .preferred(10, term(vec![req(ZONE, Op::In, &[Z1, Z2])]))
            .times(6),
    );
    assert_eq!(env.count_scheduled(&p), 6);
    assert_eq!(env.skew_l(ZONE), vec![2, 2, 2]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should balance pods across zones with in-flight nodes" (In-Flight Nodes > Topology)
#[test]
fn kp138_zone_spread_with_inflight_nodes() {
    let mut env = Env::new().with_pool(NodePool::np_s("default"));
    let s = tsc(
        ZONE,
        1,
        WhenUnsatisfiable::DoNotSchedule,
        Some(sel(&[("foo", "bar")])),
    );
    let pods = |n| Pod::new().label("foo", "bar").spread(s.clone()).times(n);
    env.provision(pods(4));
    assert_eq!(
        env.skew("default", ZONE, Some(&sel(&[("foo", "bar")]))),
        vec![1, 1, 2]
    );
    let nodes_after_first = env.node_count();
    env.provision(pods(5));
    assert_eq!(
        env.skew("default", ZONE, Some(&sel(&[("foo", "bar")]))),
        vec![3, 3, 3]
    );
    assert_eq!(env.node_count(), nodes_after_first);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should balance pods across hostnames with in-flight nodes" (In-Flight Nodes > Topology)
#[test]
fn kp139_hostname_spread_with_inflight_nodes() {
    let mut env = Env::new().with_pool(NodePool::np_s("default"));
    let s = tsc(
        HOSTNAME,
        1,
        WhenUnsatisfiable::DoNotSchedule,
        Some(sel(&[("foo", "bar")])),
    );
    let pods = |n| Pod::new().label("foo", "bar").spread(s.clone()).times(n);
    env.provision(pods(4));
    assert_eq!(
        env.skew("default", HOSTNAME, Some(&sel(&[("foo", "bar")]))),
        vec![1, 1, 1, 1]
    );
    env.provision(pods(5));
    assert_eq!(
        env.skew("default", HOSTNAME, Some(&sel(&[("foo", "bar")]))),
        vec![1; 9]
    );
    assert_eq!(env.node_count(), 9);
}

// ---------------------------------------------------------------------------------------------
// §14 Pod affinity and anti-affinity
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should respect pod affinity (hostname)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp141_pod_affinity_hostname() {
    let mut env = np_t_env();
    let mut pods = l_pods(10, &tsc_l(HOSTNAME, 1));
    pods.push(s2());
    pods.push(Pod::new().affinity(aff_s2(HOSTNAME)));
    let p = env.provision(pods);
    assert_eq!(env.scheduled(p[10]), env.scheduled(p[11]));
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should respect pod affinity (arch)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp142_pod_affinity_arch() {
    let mut env = np_t_env();
    let t = tsc(
        HOSTNAME,
        1,
        WhenUnsatisfiable::DoNotSchedule,
        Some(sel(&[("security", "s2")])),
    );
    let p = env.provision(vec![
        s2().cpu("2").node_selector(ARCH, "arm64").spread(t.clone()),
        s2().cpu("1").spread(t).affinity(aff_s2(ARCH)),
    ]);
    assert_eq!(env.label_of(p[0], ARCH), env.label_of(p[1], ARCH));
    assert_eq!(env.label_of(p[1], ARCH), Some("arm64"));
    assert_ne!(env.scheduled(p[0]), env.scheduled(p[1]));
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should respect self pod affinity (hostname)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp143_self_affinity_hostname() {
    let mut env = np_t_env();
    let p = env.provision(s2().affinity(aff_s2(HOSTNAME)).times(3));
    for id in &p {
        env.scheduled(*id);
    }
    assert_eq!(env.distinct_nodes(&p), 1);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should respect self pod affinity (zone)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp143b_self_affinity_zone() {
    let mut env = np_t_env();
    let p = env.provision(s2().affinity(aff_s2(ZONE)).times(3));
    for id in &p {
        env.scheduled(*id);
    }
    assert_eq!(env.distinct_nodes(&p), 1);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should respect self pod affinity for first empty topology domain only (hostname)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp144_self_affinity_first_empty_domain_only() {
    let mut env = np_t_env();
    let p = env.provision(s2().affinity(aff_s2(HOSTNAME)).times(10));
    assert_eq!(env.count_scheduled(&p), 5);
    assert_eq!(env.distinct_nodes(&p), 1);
    env.delete_pending();
    let q2 = env.provision(s2().affinity(aff_s2(HOSTNAME)).times(10));
    assert_eq!(env.count_scheduled(&q2), 0);
    assert_eq!(env.node_count(), 1);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should respect self pod affinity for first empty topology domain only (hostname/constrained zones)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp145_self_affinity_target_outside_zones() {
    let mut env = np_t_env();
    let a = env.provision(vec![
        s2().node_selector(ZONE, Z1).affinity(aff_s2(HOSTNAME)),
    ]);
    env.scheduled(a[0]);
    let b = env.provision(
        s2().require(vec![req(ZONE, Op::In, &[Z2, Z3])])
            .affinity(aff_s2(HOSTNAME))
            .times(10),
    );
    assert_eq!(env.count_scheduled(&b), 0);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should respect self pod affinity (zone w/ constraint)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp146_self_affinity_zone_with_constraint() {
    let mut env = np_t_env();
    let p = env.provision(
        s2().affinity(aff_s2(ZONE))
            .require(vec![req(ZONE, Op::In, &[Z3])])
            .times(3),
    );
    assert_eq!(env.distinct_nodes(&p), 1);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z3));
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should allow two nodes to be created when two pods with matching affinities have incompatible selectors" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp147_matching_affinities_incompatible_selectors() {
    let mut env = np_t_env();
    let s1 = || {
        Pod::new()
            .label("security", "s1")
            .affinity(aff(ZONE, sel(&[("security", "s1")])))
    };
    let p = env.provision(vec![
        s1().require(vec![req(ZONE, Op::In, &[Z2])]),
        s1().require(vec![req(ZONE, Op::In, &[Z3])]),
    ]);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z2));
    assert_eq!(env.label_of(p[1], ZONE), Some(Z3));
    assert_eq!(env.node_count(), 2);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should allow violation of preferred pod affinity" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp148_preferred_affinity_violation() {
    let mut env = np_t_env();
    let mut pods = l_pods(10, &tsc_l(HOSTNAME, 1));
    pods.push(Pod::new().pref_affinity(50, aff_s2(HOSTNAME)));
    let p = env.provision(pods);
    env.scheduled(p[10]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should allow violation of preferred pod anti-affinity" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp149_preferred_anti_affinity_violation() {
    let mut env = np_t_env();
    let mut pods = l_pods(3, &tsc_l(ZONE, 1));
    pods.extend(Pod::new().pref_anti(50, aff(ZONE, sel_l())).times(10));
    let p = env.provision(pods);
    assert_eq!(env.count_scheduled(&p[3..]), 10);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should separate nodes using simple pod anti-affinity on hostname" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp150_anti_affinity_hostname() {
    let mut env = np_t_env();
    for _ in 0..10 {
        let p = env.provision(vec![Pod::new().anti(aff_s2(HOSTNAME)), s2()]);
        assert_ne!(env.scheduled(p[0]), env.scheduled(p[1]));
    }
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should not violate pod anti-affinity on zone" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp151_anti_affinity_zone() {
    let mut env = np_t_env();
    let p = env.provision(vec![
        s2().cpu("2").node_selector(ZONE, Z1),
        s2().cpu("2").node_selector(ZONE, Z2),
        s2().cpu("2").node_selector(ZONE, Z3),
        Pod::new().anti(aff_s2(ZONE)),
    ]);
    for id in &p[..3] {
        env.scheduled(*id);
    }
    env.not_scheduled(p[3]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should not violate pod anti-affinity on zone (other schedules first)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp152_anti_affinity_zone_other_schedules_first() {
    let mut env = np_t_env();
    let p = env.provision(vec![s2().cpu("2"), Pod::new().anti(aff_s2(ZONE))]);
    env.scheduled(p[0]);
    env.not_scheduled(p[1]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should not violate pod anti-affinity (arch)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp153_anti_affinity_arch() {
    let mut env = np_t_env();
    let t = tsc(
        HOSTNAME,
        1,
        WhenUnsatisfiable::DoNotSchedule,
        Some(sel(&[("security", "s2")])),
    );
    let p = env.provision(vec![
        s2().cpu("2").node_selector(ARCH, "arm64").spread(t.clone()),
        s2().cpu("1").spread(t).anti(aff_s2(ARCH)),
    ]);
    assert_eq!(env.label_of(p[0], ARCH), Some("arm64"));
    assert_eq!(env.label_of(p[1], ARCH), Some("amd64"));
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should not violate pod anti-affinity on zone (inverse)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp154_inverse_anti_affinity_zone() {
    let mut env = np_t_env();
    let p = env.provision(vec![
        Pod::new()
            .cpu("2")
            .node_selector(ZONE, Z1)
            .anti(aff_s2(ZONE)),
        Pod::new()
            .cpu("2")
            .node_selector(ZONE, Z2)
            .anti(aff_s2(ZONE)),
        Pod::new()
            .cpu("2")
            .node_selector(ZONE, Z3)
            .anti(aff_s2(ZONE)),
        s2(),
    ]);
    for id in &p[..3] {
        env.scheduled(*id);
    }
    env.not_scheduled(p[3]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should violate preferred pod anti-affinity on zone (inverse)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp154b_inverse_preferred_anti_affinity_not_tracked() {
    let mut env = np_t_env();
    let p = env.provision(vec![
        Pod::new()
            .cpu("2")
            .node_selector(ZONE, Z1)
            .pref_anti(10, aff_s2(ZONE)),
        Pod::new()
            .cpu("2")
            .node_selector(ZONE, Z2)
            .pref_anti(10, aff_s2(ZONE)),
        Pod::new()
            .cpu("2")
            .node_selector(ZONE, Z3)
            .pref_anti(10, aff_s2(ZONE)),
        s2(),
    ]);
    for id in &p {
        env.scheduled(*id);
    }
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should not violate pod anti-affinity on zone (Schrödinger)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp155_anti_affinity_schrodinger() {
    let mut env = np_t_env();
    let p = env.provision(vec![Pod::new().cpu("2").anti(aff_s2(ZONE)), s2()]);
    env.scheduled(p[0]);
    env.not_scheduled(p[1]);
    env.run_pass(&p[1..]);
    env.scheduled(p[1]);
    assert_ne!(env.label_of(p[0], ZONE), env.label_of(p[1], ZONE));
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should not violate pod anti-affinity on zone (inverse w/existing nodes)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp156_inverse_anti_affinity_existing_nodes() {
    let mut env = np_t_env();
    let p = env.provision(vec![
        Pod::new()
            .cpu("2")
            .node_selector(ZONE, Z1)
            .anti(aff_s2(ZONE)),
        Pod::new()
            .cpu("2")
            .node_selector(ZONE, Z2)
            .anti(aff_s2(ZONE)),
        Pod::new()
            .cpu("2")
            .node_selector(ZONE, Z3)
            .anti(aff_s2(ZONE)),
    ]);
    for id in &p {
        env.scheduled(*id);
    }
    let b = env.provision(vec![s2()]);
    env.not_scheduled(b[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should violate preferred pod anti-affinity on zone (inverse w/existing nodes)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp156b_inverse_preferred_anti_affinity_existing_nodes() {
    let mut env = np_t_env();
    let p = env.provision(vec![
        Pod::new()
            .cpu("2")
            .node_selector(ZONE, Z1)
            .pref_anti(10, aff_s2(ZONE)),
        Pod::new()
            .cpu("2")
            .node_selector(ZONE, Z2)
            .pref_anti(10, aff_s2(ZONE)),
        Pod::new()
            .cpu("2")
            .node_selector(ZONE, Z3)
            .pref_anti(10, aff_s2(ZONE)),
    ]);
    for id in &p {
        env.scheduled(*id);
    }
    let b = env.provision(vec![s2()]);
    env.scheduled(b[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should allow violation of a pod affinity preference with a conflicting required constraint" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp157_affinity_preference_vs_required_spread() {
    let mut env = np_t_env();
    let mut pods = vec![s2()];
    pods.extend(
        Pod::new()
            .l()
            .spread(tsc_l(HOSTNAME, 1))
            .pref_affinity(50, aff_s2(HOSTNAME))
            .times(3),
    );
    let p = env.provision(pods);
    for id in &p {
        env.scheduled(*id);
    }
    assert_eq!(env.skew_l(HOSTNAME), vec![1, 1, 1]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should support pod anti-affinity with a zone topology" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp158_anti_affinity_zone_one_new_node_per_pass() {
    let mut env = np_t_env();
    let expect = [vec![1], vec![1, 1], vec![1, 1, 1], vec![1, 1, 1]];
    for want in expect {
        env.provision(s2().anti(aff_s2(ZONE)).times(3));
        assert_eq!(env.skew("default", ZONE, None), want);
        env.delete_pending();
    }
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should not schedule pods with affinity to a non-existent pod" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp159_affinity_to_missing_pod() {
    let mut env = np_t_env();
    let p = env.provision(Pod::new().affinity(aff_s2(ZONE)).times(10));
    assert_eq!(env.count_scheduled(&p), 0);
    assert_eq!(env.node_count(), 0);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should support pod affinity with zone topology (unconstrained target)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp160_affinity_zone_unconstrained_target() {
    let mut env = np_t_env();
    let mut pods = Pod::new().affinity(aff_s2(ZONE)).times(10);
    pods.push(s2());
    let p = env.provision(pods);
    env.scheduled(p[10]);
    assert_eq!(env.count_scheduled(&p[..10]), 0);
    assert_eq!(env.skew("default", ZONE, None), vec![1]);
    env.run_pass(&p[..10]);
    assert_eq!(env.count_scheduled(&p[..10]), 10);
    assert_eq!(env.skew("default", ZONE, None), vec![11]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should support pod affinity with zone topology (constrained target)" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp160b_affinity_zone_constrained_target() {
    let mut env = np_t_env();
    let mut pods = Pod::new().affinity(aff_s2(ZONE)).times(10);
    pods.push(s2().require(vec![req(ZONE, Op::In, &[Z1])]));
    let p = env.provision(pods);
    assert_eq!(env.count_scheduled(&p), 11);
    assert_eq!(env.skew("default", ZONE, None), vec![11]);
    assert_eq!(env.label_of(p[0], ZONE), Some(Z1));
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should handle multiple dependent affinities" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp161_dependent_affinity_chain() {
    let to = |t: &str| aff(HOSTNAME, sel(&[("type", t)]));
    // Upstream cleans the cluster after each iteration; identical pods are queued in random UID
    // order, so the iterations here rotate and reverse the creation order to exercise the retries.
    for i in 0..50 {
        let mut env = np_t_env();
        let mut pods = vec![
            Pod::new().label("type", "db"),
            Pod::new().label("type", "web").affinity(to("db")),
            Pod::new().label("type", "cache").affinity(to("web")),
            Pod::new().label("type", "ui").affinity(to("cache")),
        ];
        pods.rotate_left(i % 4);
        if i % 8 >= 4 {
            pods.reverse();
        }
        let p = env.provision(pods);
        for id in &p {
            env.scheduled(*id);
        }
        assert_eq!(env.node_count(), 1);
    }
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should fail to schedule pods with unsatisfiable dependencies" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp162_unsatisfiable_dependency() {
    let mut env = np_t_env();
    let p = env.provision(vec![
        Pod::new()
            .label("type", "db")
            .affinity(aff(HOSTNAME, sel(&[("type", "web")]))),
    ]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should filter pod affinity topologies by namespace, no matching pods" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp163_affinity_namespace_default_own() {
    let mut env = np_t_env();
    let mut pods = l_pods(10, &tsc_l(HOSTNAME, 1));
    pods.push(s2().ns("other-ns-no-match"));
    pods.push(Pod::new().affinity(aff_s2(HOSTNAME)));
    let p = env.provision(pods);
    env.scheduled(p[10]);
    env.not_scheduled(p[11]);
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should filter pod affinity topologies by namespace, matching pods namespace list" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp163b_affinity_namespace_list() {
    let mut env = np_t_env();
    let mut pods = l_pods(10, &tsc_l(HOSTNAME, 1));
    pods.push(s2().ns("other-ns-list"));
    let mut t = aff_s2(HOSTNAME);
    t.namespaces = vec![sym("other-ns-list")];
    pods.push(Pod::new().affinity(t));
    let p = env.provision(pods);
    assert_eq!(env.scheduled(p[10]), env.scheduled(p[11]));
}

// karpenter: pkg/controllers/provisioning/scheduling/topology_test.go "should filter pod affinity topologies by namespace, empty namespace selector" (Topology > Pod Affinity/Anti-Affinity)
#[test]
fn kp163c_affinity_all_namespaces() {
    let mut env = np_t_env();
    let mut pods = l_pods(10, &tsc_l(HOSTNAME, 1));
    pods.push(s2().ns("empty-ns-selector"));
    let mut t = aff_s2(HOSTNAME);
    t.all_namespaces = true;
    pods.push(Pod::new().affinity(t));
    let p = env.provision(pods);
    assert_eq!(env.scheduled(p[10]), env.scheduled(p[11]));
}
