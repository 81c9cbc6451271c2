//! Instance-type selection and bin-packing, the assorted catalog, minValues (notes §8–§10).

use super::harness::*;
use karpsim::config;
use karpsim::requirements::Op;
use karpsim::resources::ResourceName;
use karpsim::scheduler::InstanceType;

fn np_s_env() -> Env {
    Env::new().with_pool(NodePool::np_s("default"))
}

fn it_name(env: &Env, id: PodId) -> &'static str {
    env.label_of(id, IT).expect("node has an instance type")
}

/// A fixed permutation of the catalog (upstream shuffles it randomly in its BeforeEach).
fn shuffled(v: Vec<InstanceType>) -> Vec<InstanceType> {
    let n = v.len();
    let mut idx: Vec<usize> = (0..n).map(|i| (i * 7919 + 13) % n).collect();
    idx.dedup();
    assert_eq!(idx.len(), n);
    let mut slots: Vec<Option<InstanceType>> = v.into_iter().map(Some).collect();
    idx.into_iter()
        .map(|i| slots[i].take().expect("a permutation"))
        .collect()
}

const MIN_PRICE: f64 = 0.2073741824;

fn assert_min_price(env: &Env, id: PodId) {
    let p = env.node_price(env.scheduled(id));
    assert!(
        (p - MIN_PRICE).abs() < 1e-9,
        "node price {p} is not the cheapest {MIN_PRICE}"
    );
}

/// Every type the first Create call listed satisfies `f`.
fn all_listed(env: &Env, f: impl Fn(&InstanceType) -> bool) {
    let call = &env.create_calls[0];
    assert!(!call.instance_types.is_empty());
    for name in &call.instance_types {
        let it = env.catalog.iter().find(|i| i.name == *name).unwrap();
        assert!(
            f(it),
            "listed type {name:?} does not satisfy the constraint"
        );
    }
}

fn has(it: &InstanceType, key: &str, value: &str) -> bool {
    it.requirements
        .get(sym(key))
        .is_some_and(|r| r.has(sym(value)))
}

fn has_offering(it: &InstanceType, zone: &str, ct: &str) -> bool {
    it.offerings
        .iter()
        .any(|o| o.available && o.zone == sym(zone) && o.capacity_type == sym(ct))
}

fn assorted_env(pool: NodePool) -> Env {
    Env::new()
        .with_catalog(shuffled(assorted()))
        .with_pool(pool)
}

// ---------------------------------------------------------------------------------------------
// §8 D6 / Fn / custom catalogs
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule a small pod on the smallest instance" (Binpacking)
#[test]
fn kp070_small_pod_smallest_instance() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().mem("100M")]);
    assert_eq!(it_name(&env, p[0]), "small-instance-type");
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule a small pod on the smallest possible instance type" (Binpacking)
#[test]
fn kp070b_2000m_still_fits_small() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().mem("2000M")]);
    assert_eq!(it_name(&env, p[0]), "small-instance-type");
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should take pod runtime class into consideration" (Binpacking)
// The RuntimeClass overhead is applied by the pod spec lowering (`overhead`).
#[test]
fn kp071_runtime_class_overhead() {
    let mut env = np_s_env();
    let spec = config::PodSpec {
        containers: vec![config::Container {
            requests: [("cpu".to_string(), q("1"))].into_iter().collect(),
            ..Default::default()
        }],
        overhead: [("cpu".to_string(), q("2"))].into_iter().collect(),
        ..Default::default()
    };
    let p = env.provision(vec![Pod::from_spec(&spec)]);
    assert_eq!(it_name(&env, p[0]), "default-instance-type");
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule multiple small pods on the smallest possible instance type" (Binpacking)
#[test]
fn kp072_five_small_pods_one_small_node() {
    let mut env = np_s_env();
    let p = env.provision(Pod::new().mem("10M").times(5));
    assert_eq!(env.distinct_nodes(&p), 1);
    assert_eq!(env.count_scheduled(&p), 5);
    assert_eq!(it_name(&env, p[0]), "small-instance-type");
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should create new nodes when a node is at capacity" (Binpacking)
#[test]
fn kp073_new_nodes_at_capacity() {
    let mut env = np_s_env();
    let p = env.provision(
        Pod::new()
            .mem("1.8G")
            .node_selector(ARCH, "amd64")
            .times(40),
    );
    assert_eq!(env.count_scheduled(&p), 40);
    assert_eq!(env.node_count(), 20);
    assert!(
        env.live_nodes()
            .all(|n| n.instance_type == Some(sym("default-instance-type")))
    );
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should pack small and large pods together" (Binpacking)
#[test]
fn kp074_pack_small_and_large() {
    let mut env = np_s_env();
    let mut pods = Pod::new()
        .mem("1.8G")
        .node_selector(ARCH, "amd64")
        .times(40);
    pods.extend(
        Pod::new()
            .mem("400M")
            .node_selector(ARCH, "amd64")
            .times(20),
    );
    let p = env.provision(pods);
    assert_eq!(env.count_scheduled(&p), 60);
    assert_eq!(env.node_count(), 20);
    assert!(
        env.live_nodes()
            .all(|n| n.instance_type == Some(sym("default-instance-type")))
    );
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should create new nodes when a node is at capacity due to pod limits per node" (Binpacking)
#[test]
fn kp075_pods_capacity_per_node() {
    let mut env = np_s_env();
    let p = env.provision(
        Pod::new()
            .cpu("1m")
            .mem("1m")
            .node_selector(ARCH, "amd64")
            .times(25),
    );
    assert_eq!(env.count_scheduled(&p), 25);
    assert_eq!(env.node_count(), 5);
    assert!(
        env.live_nodes()
            .all(|n| n.instance_type == Some(sym("small-instance-type")))
    );
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should pack nodes tightly" (Binpacking)
#[test]
fn kp076_pack_tightly() {
    let mut env = Env::new()
        .with_catalog(fake_n(5))
        .with_pool(NodePool::np_s("default"));
    let p = env.provision(vec![Pod::new().cpu("4.5"), Pod::new().cpu("1")]);
    assert_ne!(env.scheduled(p[0]), env.scheduled(p[1]));
    assert_eq!(it_name(&env, p[0]), "fake-it-4");
    assert_eq!(it_name(&env, p[1]), "fake-it-1");
}

fn init_container_spec(init_mem: &str) -> config::PodSpec {
    let c = |cpu: &str, mem: &str| config::Container {
        requests: [("cpu".to_string(), q(cpu)), ("memory".to_string(), q(mem))]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    config::PodSpec {
        containers: vec![c("1", "1Gi")],
        init_containers: vec![c("2", init_mem)],
        ..Default::default()
    }
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should take into account initContainer resource requests when binpacking" (Binpacking)
#[test]
fn kp077_init_container_requests() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::from_spec(&init_container_spec("1Gi"))]);
    assert_eq!(it_name(&env, p[0]), "default-instance-type");
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule pods when initContainer resource requests are greater than available instance types" (Binpacking)
#[test]
fn kp077b_init_container_too_large() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::from_spec(&init_container_spec("1Ti"))]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should select for valid instance types, regardless of price" (Binpacking)
#[test]
fn kp078_all_fitting_types_passed_to_provider() {
    let od = |name: &str, cpu: &str, mem: &str, price: f64| {
        ItSpec::new(name)
            .cpu(cpu)
            .mem(mem)
            .offering("test-zone-1a", "on-demand", price)
            .build()
    };
    let catalog = vec![
        od("medium", "2", "2Gi", 3.0),
        od("small", "1", "1Gi", 2.0),
        od("large", "4", "4Gi", 1.0),
    ];
    let mut env = Env::new()
        .with_catalog(catalog)
        .with_pool(NodePool::np_s("default"));
    let p = env.provision(vec![Pod::new().cpu("1m").mem("1Mi")]);
    assert_eq!(it_name(&env, p[0]), "large");
    let mut listed: Vec<&str> = env.create_calls[0]
        .instance_types
        .iter()
        .map(|s| s.as_str())
        .collect();
    listed.sort();
    assert_eq!(listed, vec!["large", "medium", "small"]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule if requesting more resources than any instance type has" (Instance Type Compatibility)
#[test]
fn kp079_too_much_cpu() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().cpu("512")]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule pods that exceed every instance type's capacity" (Binpacking)
#[test]
fn kp079b_too_much_memory() {
    let mut env = np_s_env();
    let p = env.provision(vec![Pod::new().mem("2Ti")]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should launch pods with different archs on different instances" (Instance Type Compatibility)
#[test]
fn kp080_different_archs_different_nodes() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").reqs(vec![req(
        ARCH,
        Op::In,
        &["arm64", "amd64"],
    )]));
    let p = env.provision(vec![
        Pod::new().node_selector(ARCH, "amd64"),
        Pod::new().node_selector(ARCH, "arm64"),
    ]);
    assert_ne!(env.scheduled(p[0]), env.scheduled(p[1]));
    assert_eq!(env.label_of(p[0], ARCH), Some("amd64"));
    assert_eq!(env.label_of(p[1], ARCH), Some("arm64"));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should launch pods with different zone selectors on different instances" (Instance Type Compatibility)
#[test]
fn kp080b_different_zones_different_nodes() {
    let mut env = np_s_env();
    let p = env.provision(vec![
        Pod::new().node_selector(ZONE, Z1),
        Pod::new().node_selector(ZONE, Z2),
    ]);
    assert_ne!(env.scheduled(p[0]), env.scheduled(p[1]));
    assert_eq!(env.label_of(p[0], ZONE), Some(Z1));
    assert_eq!(env.label_of(p[1], ZONE), Some(Z2));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should launch pods with different instance type node selectors on different instances" (Instance Type Compatibility)
#[test]
fn kp080c_different_instance_types_different_nodes() {
    let mut env = np_s_env();
    let p = env.provision(vec![
        Pod::new().node_selector(IT, "small-instance-type"),
        Pod::new().node_selector(IT, "default-instance-type"),
    ]);
    assert_ne!(env.scheduled(p[0]), env.scheduled(p[1]));
    assert_eq!(it_name(&env, p[0]), "small-instance-type");
    assert_eq!(it_name(&env, p[1]), "default-instance-type");
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should launch pods with different operating systems on different instances" (Instance Type Compatibility)
#[test]
fn kp080d_different_os_different_nodes() {
    let mut env = Env::new().with_pool(NodePool::np_s("default").reqs(vec![req(
        ARCH,
        Op::In,
        &["arm64", "amd64"],
    )]));
    let p = env.provision(vec![
        Pod::new().node_selector(OS, "linux"),
        Pod::new().node_selector(OS, "windows"),
    ]);
    assert_ne!(env.scheduled(p[0]), env.scheduled(p[1]));
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should exclude instance types that are not supported by the pod constraints (node affinity/instance type)" (Instance Type Compatibility)
#[test]
fn kp081_pod_instance_type_outside_pool_arch() {
    let mut env =
        Env::new().with_pool(NodePool::np_s("default").reqs(vec![req(ARCH, Op::In, &["amd64"])]));
    let p = env.provision(vec![Pod::new().require(vec![req(
        IT,
        Op::In,
        &["arm-instance-type"],
    )])]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should exclude instance types that are not supported by the pod constraints (node affinity/operating system)" (Instance Type Compatibility)
#[test]
fn kp081b_pod_os_only_on_excluded_arch() {
    let mut env =
        Env::new().with_pool(NodePool::np_s("default").reqs(vec![req(ARCH, Op::In, &["amd64"])]));
    let p = env.provision(vec![Pod::new().require(vec![req(OS, Op::In, &["ios"])])]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should exclude instance types that are not supported by the provider constraints (arch)" (Instance Type Compatibility)
#[test]
fn kp081c_cpu_only_on_excluded_arch() {
    let mut env =
        Env::new().with_pool(NodePool::np_s("default").reqs(vec![req(ARCH, Op::In, &["amd64"])]));
    let p = env.provision(vec![Pod::new().cpu("14")]);
    env.not_scheduled(p[0]);
}

fn gpu_catalog() -> Vec<InstanceType> {
    // karpenter.sh/super-great-gpu → aws.amazon.com/neuron, karpenter.sh/even-better-gpu →
    // aws.amazon.com/neuroncore (karpsim tracks a fixed set of resource names).
    let mut specs: Vec<ItSpec> = (0..5).map(fake_n_spec).collect();
    specs[0] = specs[0].clone().res(ResourceName::Neuron, 25);
    specs[1] = specs[1].clone().res(ResourceName::NeuronCore, 25);
    specs.into_iter().map(|s| s.build()).collect()
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should launch pods with resources that aren't on any single instance type on different instances" (Instance Type Compatibility)
#[test]
fn kp082_extended_resources_on_different_types() {
    let mut env = Env::new()
        .with_catalog(gpu_catalog())
        .with_pool(NodePool::np_s("default"));
    let p = env.provision(vec![
        Pod::new().res(ResourceName::Neuron, 1),
        Pod::new().res(ResourceName::NeuronCore, 1),
    ]);
    assert_ne!(env.scheduled(p[0]), env.scheduled(p[1]));
    assert_eq!(it_name(&env, p[0]), "fake-it-0");
    assert_eq!(it_name(&env, p[1]), "fake-it-1");
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should fail to schedule a pod with resources requests that aren't on a single instance type" (Instance Type Compatibility)
#[test]
fn kp082b_extended_resources_not_on_one_type() {
    let mut env = Env::new()
        .with_catalog(gpu_catalog())
        .with_pool(NodePool::np_s("default"));
    let p = env.provision(vec![
        Pod::new()
            .res(ResourceName::Neuron, 1)
            .res(ResourceName::NeuronCore, 1),
    ]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should provision nodes for accelerators"
#[test]
fn kp083_accelerators() {
    let mut env = Env::new().with_pool(NodePool::new("np-0"));
    let p = env.provision(vec![Pod::new().res(GPU_A, 1), Pod::new().res(GPU_B, 1)]);
    assert_eq!(it_name(&env, p[0]), "gpu-vendor-instance-type");
    assert_eq!(it_name(&env, p[1]), "gpu-vendor-b-instance-type");
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should provision multiple nodes when maxPods is set"
#[test]
fn kp084_max_pods_one() {
    let mut env = Env::new().with_pool(NodePool::new("np-0").reqs(vec![req(
        IT,
        Op::In,
        &["single-pod-instance-type"],
    )]));
    let p = env.provision(Pod::new().times(3));
    assert_eq!(env.count_scheduled(&p), 3);
    assert_eq!(env.node_count(), 3);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should filter instance types that match labels" (Instance Type Compatibility > Provider Specific Labels)
#[test]
fn kp085_provider_label_size() {
    let mut env = Env::new()
        .with_catalog(fake_n(5))
        .with_pool(NodePool::np_s("default"));
    let p = env.provision(vec![
        Pod::new().node_selector("size", "large"),
        Pod::new().node_selector("size", "small"),
    ]);
    assert_eq!(it_name(&env, p[0]), "fake-it-4");
    assert_eq!(it_name(&env, p[1]), "fake-it-0");
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should not schedule with incompatible labels" (Instance Type Compatibility > Provider Specific Labels)
#[test]
fn kp085b_provider_label_incompatible() {
    let mut env = Env::new()
        .with_catalog(fake_n(5))
        .with_pool(NodePool::np_s("default"));
    let p = env.provision(vec![
        Pod::new()
            .node_selector("size", "large")
            .node_selector(IT, "fake-it-0"),
        Pod::new()
            .node_selector("size", "small")
            .node_selector(IT, "fake-it-4"),
    ]);
    env.not_scheduled(p[0]);
    env.not_scheduled(p[1]);
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule optional labels" (Instance Type Compatibility > Provider Specific Labels)
#[test]
fn kp085c_optional_label_exists() {
    let mut env = Env::new()
        .with_catalog(fake_n(5))
        .with_pool(NodePool::np_s("default"));
    let p = env.provision(vec![Pod::new().require(vec![req(
        "special",
        Op::Exists,
        &[],
    )])]);
    assert_eq!(it_name(&env, p[0]), "fake-it-4");
    assert!(env.label_of(p[0], "special").is_some());
}

// karpenter: pkg/controllers/provisioning/scheduling/suite_test.go "should schedule without optional labels if disallowed" (Instance Type Compatibility > Provider Specific Labels)
#[test]
fn kp085d_optional_label_does_not_exist() {
    let mut env = Env::new()
        .with_catalog(fake_n(5))
        .with_pool(NodePool::new("np-0"));
    let p = env.provision(vec![Pod::new().require(vec![req(
        "special",
        Op::DoesNotExist,
        &[],
    )])]);
    assert_eq!(env.label_of(p[0], "special"), None);
    assert_ne!(it_name(&env, p[0]), "fake-it-4");
}

// ---------------------------------------------------------------------------------------------
// §9 Assorted catalog
// ---------------------------------------------------------------------------------------------

// karpenter: pkg/controllers/provisioning/scheduling/instance_selection_test.go "should schedule on one of the cheapest instances"
#[test]
fn kp086_cheapest() {
    let mut env = assorted_env(NodePool::np_i("default"));
    let p = env.provision(vec![Pod::new()]);
    assert_min_price(&env, p[0]);
}

// karpenter: pkg/controllers/provisioning/scheduling/instance_selection_test.go "should schedule on one of the cheapest instances (pod arch = arm64)"
#[test]
fn kp087_cheapest_arm64() {
    let mut env = assorted_env(NodePool::np_i("default"));
    let p = env.provision(vec![Pod::new().require(vec![req(
        ARCH,
        Op::In,
        &["arm64"],
    )])]);
    assert_min_price(&env, p[0]);
    all_listed(&env, |it| has(it, ARCH, "arm64"));
}

// karpenter: pkg/controllers/provisioning/scheduling/instance_selection_test.go "should schedule on one of the cheapest instances (prov ct = ondemand, prov zone = test-zone-1)"
#[test]
fn kp088_cheapest_pool_on_demand_zone1() {
    let mut env = assorted_env(NodePool::np_i("default").reqs(vec![
        req(CT, Op::In, &["on-demand"]),
        req(ZONE, Op::In, &[Z1]),
    ]));
    let p = env.provision(vec![Pod::new()]);
    assert_min_price(&env, p[0]);
    all_listed(&env, |it| has_offering(it, Z1, "on-demand"));
}

// karpenter: pkg/controllers/provisioning/scheduling/instance_selection_test.go "should schedule on one of the cheapest instances (prov ct = ondemand/test-zone-1/arm64/windows)"
#[test]
fn kp089_cheapest_pool_od_z1_arm_windows() {
    let mut env = assorted_env(NodePool::np_i("default").reqs(vec![
        req(ARCH, Op::In, &["arm64"]),
        req(OS, Op::In, &["windows"]),
        req(CT, Op::In, &["on-demand"]),
        req(ZONE, Op::In, &[Z1]),
    ]));
    let p = env.provision(vec![Pod::new()]);
    assert_min_price(&env, p[0]);
    all_listed(&env, |it| {
        has_offering(it, Z1, "on-demand") && has(it, OS, "windows") && has(it, ARCH, "arm64")
    });
}

// karpenter: pkg/controllers/provisioning/scheduling/instance_selection_test.go "should schedule on one of the cheapest instances (pod ct = spot/test-zone-2/amd64/linux)"
#[test]
fn kp090_cheapest_pod_spot_z2_amd_linux() {
    let mut env = assorted_env(NodePool::np_i("default"));
    let p = env.provision(vec![Pod::new().require(vec![
        req(ARCH, Op::In, &["amd64"]),
        req(OS, Op::In, &["linux"]),
        req(CT, Op::In, &["spot"]),
        req(ZONE, Op::In, &[Z2]),
    ])]);
    assert_min_price(&env, p[0]);
    all_listed(&env, |it| {
        has_offering(it, Z2, "spot") && has(it, OS, "linux") && has(it, ARCH, "amd64")
    });
}

// karpenter: pkg/controllers/provisioning/scheduling/instance_selection_test.go "should not schedule if no instance type matches selector (pod arch = arm zone=test-zone-2)"
#[test]
fn kp091_no_matching_type_no_create_call() {
    let catalog: Vec<InstanceType> = assorted()
        .into_iter()
        .filter(|it| !(has(it, ARCH, "arm64") && has(it, ZONE, Z2)))
        .collect();
    let mut env = Env::new()
        .with_catalog(shuffled(catalog))
        .with_pool(NodePool::np_i("default"));
    let p = env.provision(vec![Pod::new().require(vec![
        req(ARCH, Op::In, &["arm64"]),
        req(ZONE, Op::In, &[Z2]),
    ])]);
    env.not_scheduled(p[0]);
    assert!(env.create_calls.is_empty());
}

// karpenter: pkg/controllers/provisioning/scheduling/instance_selection_test.go "should schedule on cheaper on-demand instance even when spot price ordering would place other instance types first"
#[test]
fn kp092_price_from_compatible_offerings_only() {
    let t = |name: &str, od: f64, spot: f64| {
        ItSpec::new(name)
            .arch("amd64")
            .os(&["linux"])
            .cpu("1")
            .mem("1Gi")
            .offering("test-zone-1a", "on-demand", od)
            .offering("test-zone-1a", "spot", spot)
            .build()
    };
    let mut env = Env::new()
        .with_catalog(vec![
            t("test-instance1", 1.0, 0.2),
            t("test-instance2", 1.3, 0.1),
        ])
        .with_pool(NodePool::np_i("default").reqs(vec![req(CT, Op::In, &["on-demand"])]));
    let p = env.provision(vec![Pod::new()]);
    assert_eq!(it_name(&env, p[0]), "test-instance1");
}

// karpenter: pkg/controllers/provisioning/scheduling/instance_selection_test.go "should schedule on an instance with enough resources"
#[test]
fn kp093_enough_resources() {
    let catalog = shuffled(assorted());
    for cpu in ["0.1", "1.0", "2.0", "2.5", "4.0", "8.0", "16.0"] {
        for mem in [
            "0.1Gi", "1.0Gi", "2.0Gi", "4.0Gi", "8.0Gi", "16.0Gi", "32.0Gi",
        ] {
            let mut env = Env::new()
                .with_catalog(catalog.clone())
                .with_pool(NodePool::np_i("default"));
            let p = env.provision(Pod::new().cpu(cpu).mem(mem).times(3));
            assert_eq!(env.count_scheduled(&p), 3, "cpu {cpu} mem {mem}");
            assert_eq!(env.distinct_nodes(&p), 1, "cpu {cpu} mem {mem}");
            let (c3, m3) = (3 * q(cpu) + 100, 3 * q(mem) + q("10Mi"));
            all_listed(&env, |it| {
                cpu_of(&it.capacity) > c3 && mem_of(&it.capacity) > m3
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// §10 minValues
// ---------------------------------------------------------------------------------------------

fn min_values_catalog() -> Vec<InstanceType> {
    vec![
        ItSpec::new("instance-type-1")
            .arch("arm64")
            .os(&["linux"])
            .cpu("1")
            .mem("1Gi")
            .offering("test-zone-1-spot", "spot", 0.52)
            .build(),
        ItSpec::new("instance-type-2")
            .arch("arm64")
            .os(&["linux"])
            .cpu("4")
            .mem("4Gi")
            .offering("test-zone-1-spot", "spot", 1.0)
            .build(),
    ]
}

// karpenter: pkg/controllers/provisioning/scheduling/instance_selection_test.go "should schedule respecting the minValues from instance-type requirements" (Instance Type Selection > MinValues)
#[test]
fn kp094_min_values_forces_second_claim() {
    let pool = NodePool::np_i("default").reqs(vec![
        req(IT, Op::In, &["instance-type-1", "instance-type-2"]).with_min_values(Some(2)),
    ]);
    let mut env = Env::new()
        .with_catalog(min_values_catalog())
        .with_pool(pool);
    let p = env.provision(Pod::new().cpu("0.9").mem("0.9Gi").times(2));
    assert_ne!(env.scheduled(p[0]), env.scheduled(p[1]));
    assert!(env.create_calls[0].instance_types.len() >= 2);
}

// karpenter: pkg/controllers/provisioning/scheduling/instance_selection_test.go "schedule should fail if minimum number of InstanceTypes is not met as per the minValues in the requirement" (Instance Type Selection > MinValues)
#[test]
fn kp095_min_values_more_than_catalog() {
    let catalog: Vec<InstanceType> = shuffled(assorted()).into_iter().take(10).collect();
    let pool =
        NodePool::np_i("default").reqs(vec![req(IT, Op::Exists, &[]).with_min_values(Some(11))]);
    let mut env = Env::new().with_catalog(catalog).with_pool(pool);
    let p = env.provision(vec![Pod::new()]);
    env.not_scheduled(p[0]);
    assert!(env.create_calls.is_empty());
}

// karpenter: pkg/controllers/provisioning/scheduling/instance_selection_test.go "schedule should fail if minimum number of InstanceTypes is not met as per the minValues in the requirement after truncation" (Instance Type Selection > MinValues)
// karpsim's MaxInstanceTypes is the fixed 600, so this port truncates 700 types to 600 and asks
// for 601 distinct instance types: the NodeClaim must be dropped at finalization.
#[test]
fn kp096_min_values_broken_by_truncation() {
    let catalog: Vec<InstanceType> = (0..700)
        .map(|i| ItSpec::new(&format!("t-{i:03}")).build())
        .collect();
    let pool =
        NodePool::np_s("default").reqs(vec![req(IT, Op::Exists, &[]).with_min_values(Some(601))]);
    let mut env = Env::new().with_catalog(catalog).with_pool(pool);
    let p = env.provision(vec![Pod::new().cpu("0.9").mem("0.9Gi")]);
    env.not_scheduled(p[0]);
    assert!(env.create_calls.is_empty());
}

fn min_values_policy_env(best_effort: bool) -> Env {
    let t = |name: &str, zone: &str| {
        ItSpec::new(name)
            .arch("arm64")
            .os(&["linux"])
            .cpu("4")
            .mem("4Gi")
            .offering(zone, "spot", 0.52)
            .build()
    };
    let pool = NodePool::new("default").weight(100).reqs(vec![
        req(
            IT,
            Op::In,
            &["instance-type-1", "instance-type-2", "instance-type-3"],
        )
        .with_min_values(Some(3)),
    ]);
    let mut env = Env::new()
        .with_catalog(vec![
            t("instance-type-1", "test-zone-1-spot"),
            t("instance-type-2", "test-zone-2-spot"),
        ])
        .with_pool(pool);
    env.min_values_best_effort = best_effort;
    env
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should not schedule when minValues requirement is not met" (MinValuesPolicy > with MinValuesPolicy set to Strict)
#[test]
fn kp097_min_values_strict() {
    let mut env = min_values_policy_env(false);
    let p = env.provision(vec![Pod::new().cpu("0.9").mem("0.9Gi")]);
    env.not_scheduled(p[0]);
}

// karpenter: pkg/controllers/provisioning/suite_test.go "should schedule even when minValues requirement is not met" (MinValuesPolicy > with MinValuesPolicy set to BestEffort)
#[test]
fn kp098_min_values_best_effort() {
    let mut env = min_values_policy_env(true);
    let p = env.provision(vec![Pod::new().cpu("0.9").mem("0.9Gi")]);
    assert_eq!(it_name(&env, p[0]), "instance-type-1");
    let call = &env.create_calls[0];
    let mut listed: Vec<&str> = call.instance_types.iter().map(|s| s.as_str()).collect();
    listed.sort();
    assert_eq!(listed, vec!["instance-type-1", "instance-type-2"]);
    let r = call
        .requirements
        .get(sym(IT))
        .expect("instance-type requirement");
    assert_eq!(r.min_values, Some(2));
}
