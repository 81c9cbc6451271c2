//! A small fake-cloud harness that reproduces Karpenter's provisioning test harness
//! (`pkg/cloudprovider/fake`, `pkg/test`, `ExpectProvisioned`; see
//! /work/notes/karpenter-provisioning-tests.md §0.5–0.7) on top of `karpsim::scheduler`.
//!
//! One [`Env`] is one test cluster: a catalog of fake instance types, NodePools, DaemonSets,
//! nodes and pods. [`Env::provision`] is `ExpectProvisioned`: it creates the given pods, runs
//! one scheduling pass over every pending pod, "launches" each planned NodeClaim as the fake
//! cloud provider does (cheapest fitting type, first compatible offering in list order) and
//! binds only the pods passed to that call.
//!
//! Substitutions (karpsim tracks a fixed set of resource names):
//! * `fake.com/vendor-a` → `nvidia.com/gpu` ([`GPU_A`]), `fake.com/vendor-b` → `amd.com/gpu`
//!   ([`GPU_B`]). Prices still add 1.0 per GPU key, as the fake does.
//! * the fake labels `size`, `special`, `integer` are registered as extra well-known labels
//!   through `labels::register_extra_well_known`, as the fake's `init` does.

#![allow(dead_code)]

use karpsim::labels::{self, Sym};
use karpsim::model::{
    AffinityTerm, Effect, HostPort, LabelSelector, PodConstraints, PodInfo, SpreadConstraint,
    Taint, Toleration, WhenUnsatisfiable,
};
use karpsim::requirements::{Op, Requirement, Requirements};
use karpsim::resources::{ResourceName, Resources};
use karpsim::scheduler::{
    DaemonSetPod, ExistingNode, InstanceType, LimitKey, Limits, Market, NodePoolSpecLite,
    NodePoolTemplate, Offering, PlannedClaim, Scheduler, SimRng, SolveInput, build_domain_groups,
    build_template, sort_templates,
};
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::sync::{Arc, Once};

/// Stands in for the fake's `fake.com/vendor-a` GPU resource.
pub const GPU_A: ResourceName = ResourceName::NvidiaGpu;
/// Stands in for the fake's `fake.com/vendor-b` GPU resource.
pub const GPU_B: ResourceName = ResourceName::AmdGpu;

pub const Z1: &str = "test-zone-1";
pub const Z2: &str = "test-zone-2";
pub const Z3: &str = "test-zone-3";
pub const ZONE: &str = "topology.kubernetes.io/zone";
pub const IT: &str = "node.kubernetes.io/instance-type";
pub const ARCH: &str = "kubernetes.io/arch";
pub const OS: &str = "kubernetes.io/os";
pub const CT: &str = "karpenter.sh/capacity-type";
pub const NODEPOOL: &str = "karpenter.sh/nodepool";
pub const HOSTNAME: &str = "kubernetes.io/hostname";

pub fn sym(s: &str) -> Sym {
    Sym::new(s)
}

/// A Kubernetes quantity as a milli-value (`"1.5"` → 1500, `"1Gi"` → 1073741824000).
pub fn q(s: &str) -> i64 {
    karpsim::units::parse_quantity_milli(s).unwrap_or_else(|e| panic!("bad quantity {s:?}: {e:?}"))
}

fn register_fake_well_known() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for k in ["size", "special", "integer"] {
            labels::register_extra_well_known(k);
        }
    });
}

// ------------------------------------------------------------------------------------------
// Requirements, selectors, taints
// ------------------------------------------------------------------------------------------

/// One requirement.
pub fn req(key: &str, op: Op, values: &[&str]) -> Requirement {
    let v: Vec<Sym> = values.iter().map(|x| sym(x)).collect();
    Requirement::new(sym(key), op, &v)
}

/// One node-selector term (requirements on the same key are intersected).
pub fn term(list: Vec<Requirement>) -> Requirements {
    Requirements::from_list(list)
}

/// `matchLabels` selector.
pub fn sel(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: pairs.iter().map(|(k, v)| (sym(k), sym(v))).collect(),
        exprs: vec![],
    }
}

/// The `{test: test}` selector used by the topology suite ("L").
pub fn sel_l() -> LabelSelector {
    sel(&[("test", "test")])
}

pub fn taint(key: &str, value: Option<&str>, effect: Effect) -> Taint {
    Taint {
        key: sym(key),
        value: value.map(sym),
        effect,
    }
}

pub fn tol_exists(key: Option<&str>, effect: Option<Effect>) -> Toleration {
    Toleration {
        key: key.map(sym),
        exists: true,
        value: None,
        effect,
    }
}

pub fn tol_equal(key: &str, value: Option<&str>, effect: Option<Effect>) -> Toleration {
    Toleration {
        key: Some(sym(key)),
        exists: false,
        value: value.map(sym),
        effect,
    }
}

/// A topology spread constraint with selector `selector` (None = nil selector).
pub fn tsc(
    key: &str,
    max_skew: i32,
    when: WhenUnsatisfiable,
    selector: Option<LabelSelector>,
) -> SpreadConstraint {
    SpreadConstraint {
        max_skew,
        key: sym(key),
        when,
        selector,
        min_domains: None,
        honor_affinity: true,
        honor_taints: false,
        match_label_keys: vec![],
    }
}

/// `TSC(key, skew, DoNotSchedule)` selecting L.
pub fn tsc_l(key: &str, max_skew: i32) -> SpreadConstraint {
    tsc(
        key,
        max_skew,
        WhenUnsatisfiable::DoNotSchedule,
        Some(sel_l()),
    )
}

/// A pod (anti-)affinity term in the pod's own namespace.
pub fn aff(key: &str, selector: LabelSelector) -> AffinityTerm {
    AffinityTerm {
        selector: Some(selector),
        namespaces: vec![],
        all_namespaces: false,
        key: sym(key),
    }
}

// ------------------------------------------------------------------------------------------
// Fake instance types (`fake.NewInstanceType`)
// ------------------------------------------------------------------------------------------

/// Options of `fake.NewInstanceType`.
#[derive(Clone)]
pub struct ItSpec {
    pub name: String,
    /// Milli-values; cpu/memory/pods of 0 take the defaults 4 / 4Gi / 5.
    pub resources: Vec<(ResourceName, i64)>,
    pub arch: String,
    pub os: Vec<String>,
    /// (zone, capacity type, price, available); empty = the five default offerings.
    pub offerings: Vec<(String, String, f64, bool)>,
}

impl ItSpec {
    pub fn new(name: &str) -> ItSpec {
        ItSpec {
            name: name.into(),
            resources: vec![],
            arch: String::new(),
            os: vec![],
            offerings: vec![],
        }
    }
    pub fn cpu(mut self, c: &str) -> Self {
        self.resources.push((ResourceName::Cpu, q(c)));
        self
    }
    pub fn mem(mut self, m: &str) -> Self {
        self.resources.push((ResourceName::Memory, q(m)));
        self
    }
    pub fn pods(mut self, p: i64) -> Self {
        self.resources.push((ResourceName::Pods, p * 1000));
        self
    }
    pub fn res(mut self, r: ResourceName, whole: i64) -> Self {
        self.resources.push((r, whole * 1000));
        self
    }
    pub fn arch(mut self, a: &str) -> Self {
        self.arch = a.into();
        self
    }
    pub fn os(mut self, os: &[&str]) -> Self {
        self.os = os.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn offering(mut self, zone: &str, ct: &str, price: f64) -> Self {
        self.offerings.push((zone.into(), ct.into(), price, true));
        self
    }

    /// Builds the instance type as `fake.NewInstanceType` does.
    pub fn build(self) -> InstanceType {
        register_fake_well_known();
        let mut cap = Resources::from_pairs(&self.resources);
        if cap.get(ResourceName::Cpu) == 0 {
            cap.set(ResourceName::Cpu, 4000);
        }
        if cap.get(ResourceName::Memory) == 0 {
            cap.set(ResourceName::Memory, q("4Gi"));
        }
        if cap.get(ResourceName::Pods) == 0 {
            cap.set(ResourceName::Pods, 5000);
        }
        let price = price_from_resources(&cap);
        let offerings: Vec<Offering> = if self.offerings.is_empty() {
            [
                (Z1, "spot"),
                (Z2, "spot"),
                (Z1, "on-demand"),
                (Z2, "on-demand"),
                (Z3, "on-demand"),
            ]
            .iter()
            .map(|(z, ct)| Offering {
                zone: sym(z),
                capacity_type: sym(ct),
                price,
                available: true,
                interruption_band: None,
            })
            .collect()
        } else {
            self.offerings
                .iter()
                .map(|(z, ct, p, a)| Offering {
                    zone: sym(z),
                    capacity_type: sym(ct),
                    price: *p,
                    available: *a,
                    interruption_band: None,
                })
                .collect()
        };
        let arch = if self.arch.is_empty() {
            "amd64".to_string()
        } else {
            self.arch
        };
        let os: Vec<String> = if self.os.is_empty() {
            vec!["linux".into(), "windows".into(), "darwin".into()]
        } else {
            self.os
        };
        let zones: Vec<Sym> = offerings
            .iter()
            .filter(|o| o.available)
            .map(|o| o.zone)
            .collect();
        let cts: Vec<Sym> = offerings
            .iter()
            .filter(|o| o.available)
            .map(|o| o.capacity_type)
            .collect();
        let os_syms: Vec<Sym> = os.iter().map(|o| sym(o)).collect();
        // integer = cpu.Value(), which rounds a fractional core up.
        let cores = (cap.get(ResourceName::Cpu) + 999) / 1000;
        let large = cap.get(ResourceName::Cpu) > 4000 && cap.get(ResourceName::Memory) > q("8Gi");
        let mut r = Requirements::from_list([
            Requirement::in_values(labels::INSTANCE_TYPE, &[sym(&self.name)]),
            Requirement::in_values(labels::ARCH, &[sym(&arch)]),
            Requirement::in_values(labels::OS, &os_syms),
            Requirement::in_values(labels::ZONE, &zones),
            Requirement::in_values(labels::CAPACITY_TYPE, &cts),
            Requirement::in_values(sym("integer"), &[sym(&cores.to_string())]),
        ]);
        if large {
            r.add(Requirement::in_values(sym("size"), &[sym("large")]));
            r.add(Requirement::in_values(sym("special"), &[sym("optional")]));
        } else {
            r.add(Requirement::in_values(sym("size"), &[sym("small")]));
            r.add(Requirement::does_not_exist(sym("special")));
        }
        let overhead =
            Resources::from_pairs(&[(ResourceName::Cpu, 100), (ResourceName::Memory, q("10Mi"))]);
        let allocatable = cap.sub(&overhead);
        InstanceType {
            name: sym(&self.name),
            requirements: r,
            capacity: cap,
            allocatable,
            offerings,
            exotic: false,
        }
    }
}

/// `fake.PriceFromResources`: 0.1/core + 0.1/GB + 1.0 per GPU key.
pub fn price_from_resources(cap: &Resources) -> f64 {
    let mut p = 0.1 * cap.get(ResourceName::Cpu) as f64 / 1000.0;
    p += 0.1 * (cap.get(ResourceName::Memory) as f64 / 1000.0) / 1e9;
    if cap.get(GPU_A) != 0 {
        p += 1.0;
    }
    if cap.get(GPU_B) != 0 {
        p += 1.0;
    }
    p
}

/// The default catalog "D6" (what `GetInstanceTypes` returns when no list was set).
pub fn d6() -> Vec<InstanceType> {
    vec![
        ItSpec::new("default-instance-type").build(),
        ItSpec::new("small-instance-type")
            .cpu("2")
            .mem("2Gi")
            .build(),
        ItSpec::new("gpu-vendor-instance-type")
            .res(GPU_A, 2)
            .build(),
        ItSpec::new("gpu-vendor-b-instance-type")
            .res(GPU_B, 2)
            .build(),
        ItSpec::new("arm-instance-type")
            .cpu("16")
            .mem("128Gi")
            .arch("arm64")
            .os(&["ios", "linux", "windows", "darwin"])
            .build(),
        ItSpec::new("single-pod-instance-type").pods(1).build(),
    ]
}

/// `fake.InstanceTypes(n)`.
pub fn fake_n(n: usize) -> Vec<InstanceType> {
    (0..n).map(|i| fake_n_spec(i).build()).collect()
}

pub fn fake_n_spec(i: usize) -> ItSpec {
    ItSpec::new(&format!("fake-it-{i}"))
        .cpu(&format!("{}", i + 1))
        .mem(&format!("{}Gi", (i + 1) * 2))
        .pods(10 * (i as i64 + 1))
}

/// `fake.InstanceTypesAssorted()` (1,344 types, one offering each), in generation order.
pub fn assorted() -> Vec<InstanceType> {
    let mut out = Vec::new();
    for cpu in [1, 2, 4, 8, 16, 32, 64] {
        for mem in [1, 2, 4, 8, 16, 32, 64, 128] {
            for zone in [Z1, Z2, Z3] {
                for ct in ["spot", "on-demand"] {
                    for os in ["linux", "windows"] {
                        for arch in ["amd64", "arm64"] {
                            let c = format!("{cpu}");
                            let m = format!("{mem}Gi");
                            let mut cap = Resources::ZERO;
                            cap.set(ResourceName::Cpu, q(&c));
                            cap.set(ResourceName::Memory, q(&m));
                            let price = price_from_resources(&cap);
                            out.push(
                                ItSpec::new(&format!(
                                    "{cpu}-cpu-{mem}-mem-{arch}-{os}-{zone}-{ct}"
                                ))
                                .cpu(&c)
                                .mem(&m)
                                .arch(arch)
                                .os(&[os])
                                .offering(zone, ct, price)
                                .build(),
                            );
                        }
                    }
                }
            }
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// NodePools, pods, DaemonSets
// ------------------------------------------------------------------------------------------

/// A NodePool as the tests write it.
#[derive(Clone)]
pub struct NodePool {
    pub spec: NodePoolSpecLite,
    pub ready: bool,
}

impl NodePool {
    /// `test.NodePool()`: no requirements, default limits cpu 2000.
    pub fn new(name: &str) -> NodePool {
        NodePool {
            spec: NodePoolSpecLite {
                name: name.into(),
                limits: Some(vec![(LimitKey::Resource(ResourceName::Cpu), q("2000"))]),
                ..Default::default()
            },
            ready: true,
        }
    }
    /// NP-S: `capacity-type In [spot, on-demand, reserved]`.
    pub fn np_s(name: &str) -> NodePool {
        NodePool::new(name).req(req(CT, Op::In, &["spot", "on-demand", "reserved"]))
    }
    /// NP-T: `capacity-type Exists`.
    pub fn np_t(name: &str) -> NodePool {
        NodePool::new(name).req(req(CT, Op::Exists, &[]))
    }
    /// NP-I: `capacity-type In [spot, on-demand]`, `arch In [arm64, amd64]`.
    pub fn np_i(name: &str) -> NodePool {
        NodePool::new(name)
            .req(req(CT, Op::In, &["spot", "on-demand"]))
            .req(req(ARCH, Op::In, &["arm64", "amd64"]))
    }
    pub fn req(mut self, r: Requirement) -> Self {
        self.spec.requirements.add(r);
        self
    }
    /// Replaces every requirement (the upstream tests assign the list).
    pub fn reqs(mut self, list: Vec<Requirement>) -> Self {
        self.spec.requirements = Requirements::from_list(list);
        self
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.spec.labels.push((sym(k), sym(v)));
        self
    }
    pub fn taint(mut self, t: Taint) -> Self {
        self.spec.taints.push(t);
        self
    }
    pub fn startup_taint(mut self, t: Taint) -> Self {
        self.spec.startup_taints.push(t);
        self
    }
    pub fn weight(mut self, w: i32) -> Self {
        self.spec.weight = w;
        self
    }
    /// Replaces the limits with one entry (use [`NodePool::limit`] to add more).
    pub fn limits(mut self, l: Limits) -> Self {
        self.spec.limits = Some(l);
        self
    }
    pub fn cpu_limit(self, c: &str) -> Self {
        self.limits(vec![(LimitKey::Resource(ResourceName::Cpu), q(c))])
    }
    pub fn not_ready(mut self) -> Self {
        self.ready = false;
        self
    }
}

/// A pod as the tests write it (`test.UnschedulablePod`).
#[derive(Clone)]
pub struct Pod {
    pub ns: String,
    pub labels: Vec<(String, String)>,
    pub requests: Resources,
    pub c: PodConstraints,
}

impl Default for Pod {
    fn default() -> Self {
        Pod::new()
    }
}

impl Pod {
    /// A tiny pod: no requests (only `pods: 1`).
    pub fn new() -> Pod {
        Pod {
            ns: "default".into(),
            labels: vec![],
            requests: Resources::from_pairs(&[(ResourceName::Pods, 1000)]),
            c: PodConstraints::default(),
        }
    }
    /// A pod from a config `PodSpec`, lowered by karpsim's own `compile` (requests with
    /// init containers and overhead, validation that makes Karpenter ignore a pod).
    pub fn from_spec(spec: &karpsim::config::PodSpec) -> Pod {
        let mut p = Pod::new();
        p.c = karpsim::compile::constraints(spec);
        p.requests = karpsim::compile::pod_requests(&spec.effective_requests());
        p
    }
    pub fn cpu(mut self, c: &str) -> Self {
        self.requests.set(ResourceName::Cpu, q(c));
        self
    }
    pub fn mem(mut self, m: &str) -> Self {
        self.requests.set(ResourceName::Memory, q(m));
        self
    }
    pub fn res(mut self, r: ResourceName, whole: i64) -> Self {
        self.requests.set(r, whole * 1000);
        self
    }
    pub fn ns(mut self, ns: &str) -> Self {
        self.ns = ns.into();
        self
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.push((k.into(), v.into()));
        self
    }
    /// Labels L (`test=test`).
    pub fn l(self) -> Self {
        self.label("test", "test")
    }
    pub fn node_selector(mut self, k: &str, v: &str) -> Self {
        self.c
            .node_selector
            .push((sym(labels::normalize_key(k)), sym(v)));
        self
    }
    /// Required node affinity: OR-ed terms, in order.
    pub fn required(mut self, terms: Vec<Requirements>) -> Self {
        self.c.required_terms = terms;
        self
    }
    /// A single required term built from `reqs`.
    pub fn require(self, reqs: Vec<Requirement>) -> Self {
        self.required(vec![term(reqs)])
    }
    pub fn preferred(mut self, weight: i32, t: Requirements) -> Self {
        self.c.preferred_terms.push((weight, t));
        self
    }
    pub fn tolerate(mut self, t: Toleration) -> Self {
        self.c.tolerations.push(t);
        self
    }
    pub fn spread(mut self, s: SpreadConstraint) -> Self {
        self.c.spreads.push(s);
        self
    }
    pub fn affinity(mut self, t: AffinityTerm) -> Self {
        self.c.affinity_required.push(t);
        self
    }
    pub fn pref_affinity(mut self, w: i32, t: AffinityTerm) -> Self {
        self.c.affinity_preferred.push((w, t));
        self
    }
    pub fn anti(mut self, t: AffinityTerm) -> Self {
        self.c.anti_required.push(t);
        self
    }
    pub fn pref_anti(mut self, w: i32, t: AffinityTerm) -> Self {
        self.c.anti_preferred.push((w, t));
        self
    }
    pub fn host_port(mut self, port: u16) -> Self {
        self.c.host_ports.push(HostPort {
            ip: None,
            port,
            protocol: sym("TCP"),
        });
        self
    }
    /// `n` copies.
    pub fn times(self, n: usize) -> Vec<Pod> {
        vec![self; n]
    }
}

// ------------------------------------------------------------------------------------------
// Cluster state
// ------------------------------------------------------------------------------------------

/// A node in the cluster (launched by the harness or added by a test).
#[derive(Clone, Debug)]
pub struct Node {
    pub name: Sym,
    pub pool: Option<Sym>,
    pub instance_type: Option<Sym>,
    pub labels: Vec<(Sym, Sym)>,
    pub taints: Vec<Taint>,
    pub startup_taints: Vec<Taint>,
    pub initialized: bool,
    pub managed: bool,
    pub capacity: Resources,
    pub allocatable: Resources,
    pub deleted: bool,
}

impl Node {
    /// A node a test adds directly (`test.Node`/`test.NodeClaim` with the given allocatable).
    pub fn custom(name: &str, allocatable: Resources) -> Node {
        Node {
            name: sym(name),
            pool: None,
            instance_type: None,
            labels: vec![(labels::HOSTNAME, sym(name))],
            taints: vec![],
            startup_taints: vec![],
            initialized: true,
            managed: false,
            capacity: allocatable,
            allocatable,
            deleted: false,
        }
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.retain(|(x, _)| *x != sym(k));
        self.labels.push((sym(k), sym(v)));
        self
    }
    /// Managed by `pool` (adds the nodepool label).
    pub fn managed_by(mut self, pool: &str) -> Self {
        self.managed = true;
        self.pool = Some(sym(pool));
        self.label(NODEPOOL, pool)
    }
    pub fn capacity(mut self, c: Resources) -> Self {
        self.capacity = c;
        self
    }
    pub fn get(&self, key: &str) -> Option<&'static str> {
        let k = sym(key);
        self.labels
            .iter()
            .find(|(x, _)| *x == k)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct PodRec {
    pub info: PodInfo,
    pub node: Option<usize>,
    pub deleted: bool,
    /// A DaemonSet-owned pod (bound by the test, never provisioned).
    pub daemon: bool,
}

/// One call to the fake `Create`.
#[derive(Clone, Debug)]
pub struct CreateCall {
    pub pool: Sym,
    /// The NodeClaim's `instance-type In` list (options, cheapest first).
    pub instance_types: Vec<Sym>,
    pub requests: Resources,
    pub requirements: Requirements,
    /// The node it produced, if a type fitted.
    pub node: Option<usize>,
}

/// Pod handle: index into [`Env::pods`].
pub type PodId = usize;

/// A fake cluster.
pub struct Env {
    pub catalog: Arc<Vec<InstanceType>>,
    pub pools: Vec<NodePool>,
    pub daemonsets: Vec<DaemonSetPod>,
    pub nodes: Vec<Node>,
    pub pods: Vec<PodRec>,
    pub create_calls: Vec<CreateCall>,
    /// Errors of the last pass, by pod id.
    pub last_errors: BTreeMap<usize, String>,
    pub min_values_best_effort: bool,
    rng: SimRng,
    hostnames: Vec<Sym>,
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

impl Env {
    /// An empty cluster with the D6 catalog.
    pub fn new() -> Env {
        register_fake_well_known();
        Env {
            catalog: Arc::new(d6()),
            pools: vec![],
            daemonsets: vec![],
            nodes: vec![],
            pods: vec![],
            create_calls: vec![],
            last_errors: BTreeMap::new(),
            min_values_best_effort: false,
            rng: SimRng::seed_from_u64(42),
            hostnames: vec![],
        }
    }

    pub fn with_catalog(mut self, c: Vec<InstanceType>) -> Env {
        self.catalog = Arc::new(c);
        self
    }

    pub fn with_pool(mut self, p: NodePool) -> Env {
        self.pools.push(p);
        self
    }

    pub fn add_pool(&mut self, p: NodePool) {
        self.pools.push(p);
    }

    /// Replaces the pool of that name (as a test re-applying a NodePool).
    pub fn set_pool(&mut self, p: NodePool) {
        let name = p.spec.name.clone();
        self.pools.retain(|x| x.spec.name != name);
        self.pools.push(p);
    }

    /// Adds a DaemonSet whose pod template is `p`.
    pub fn add_daemonset(&mut self, name: &str, p: Pod) {
        self.daemonsets.push(DaemonSetPod {
            name: sym(name),
            namespace: sym("kube-system"),
            constraints: p.c,
            requests: p.requests,
        });
    }

    pub fn add_node(&mut self, n: Node) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    /// Creates pods without scheduling them.
    pub fn create(&mut self, pods: Vec<Pod>) -> Vec<PodId> {
        pods.into_iter()
            .map(|p| self.create_one(p, false))
            .collect()
    }

    fn create_one(&mut self, p: Pod, daemon: bool) -> PodId {
        let id = self.pods.len();
        let labels: Vec<(Sym, Sym)> = p.labels.iter().map(|(k, v)| (sym(k), sym(v))).collect();
        let info = PodInfo {
            id: id as u32,
            namespace: sym(&p.ns),
            labels: labels.into(),
            requests: p.requests,
            constraints: Arc::new(p.c),
            created: 0,
            priority: 0,
        };
        self.pods.push(PodRec {
            info,
            node: None,
            deleted: false,
            daemon,
        });
        id
    }

    /// Binds `p` to node `n` directly (a pod that already runs there).
    pub fn bind_new(&mut self, p: Pod, n: usize) -> PodId {
        let id = self.create_one(p, false);
        self.pods[id].node = Some(n);
        id
    }

    /// Binds a DaemonSet-owned pod to node `n`.
    pub fn bind_daemon_pod(&mut self, p: Pod, n: usize) -> PodId {
        let id = self.create_one(p, true);
        self.pods[id].node = Some(n);
        id
    }

    pub fn delete_pod(&mut self, id: PodId) {
        self.pods[id].deleted = true;
    }

    pub fn delete_node(&mut self, n: usize) {
        self.nodes[n].deleted = true;
        for p in &mut self.pods {
            if p.node == Some(n) {
                p.deleted = true;
            }
        }
    }

    /// Deletes every pod that is still pending.
    pub fn delete_pending(&mut self) {
        for p in &mut self.pods {
            if p.node.is_none() {
                p.deleted = true;
            }
        }
    }

    /// `ExpectProvisioned`: create `pods`, run one pass over every pending pod, launch the
    /// planned NodeClaims and bind only `pods`.
    pub fn provision(&mut self, pods: Vec<Pod>) -> Vec<PodId> {
        let ids = self.create(pods);
        self.run_pass(&ids);
        ids
    }

    /// One pass binding `bind` (already created).
    pub fn run_pass(&mut self, bind: &[PodId]) {
        // Templates of the Ready NodePools, in Karpenter's order.
        let mut templates: Vec<NodePoolTemplate> = Vec::new();
        let mut pool_of_template: Vec<usize> = Vec::new();
        for (pi, p) in self.pools.iter().enumerate() {
            if !p.ready {
                continue;
            }
            if let Ok(t) = build_template(
                &p.spec,
                self.catalog.clone(),
                &self.daemonsets,
                self.min_values_best_effort,
            ) {
                templates.push(t);
                pool_of_template.push(pi);
            }
        }
        sort_templates(&mut templates);
        let tolerate_pns = self.pools.iter().any(|p| {
            p.spec
                .taints
                .iter()
                .any(|t| t.effect == Effect::PreferNoSchedule)
        });

        // Existing nodes: initialized first, then by name.
        let mut order: Vec<usize> = (0..self.nodes.len())
            .filter(|i| !self.nodes[*i].deleted)
            .collect();
        order.sort_by(|a, b| {
            let (x, y) = (&self.nodes[*a], &self.nodes[*b]);
            y.initialized
                .cmp(&x.initialized)
                .then(x.name.as_str().cmp(y.name.as_str()))
        });
        let mut pos_of = vec![usize::MAX; self.nodes.len()];
        for (pos, n) in order.iter().enumerate() {
            pos_of[*n] = pos;
        }
        let existing: Vec<ExistingNode> = order.iter().map(|n| self.existing_node(*n)).collect();
        let placed: Vec<(PodInfo, usize)> = self
            .pods
            .iter()
            .filter(|p| !p.deleted && p.node.is_some_and(|n| !self.nodes[n].deleted))
            .map(|p| (p.info.clone(), pos_of[p.node.unwrap()]))
            .collect();
        let remaining: Vec<Option<Limits>> = templates
            .iter()
            .map(|t| {
                let lim = self
                    .pools
                    .iter()
                    .find(|p| sym(&p.spec.name) == t.name)?
                    .spec
                    .limits
                    .clone()?;
                let mine: Vec<&Node> = self
                    .nodes
                    .iter()
                    .filter(|n| !n.deleted && n.pool == Some(t.name))
                    .collect();
                Some(
                    lim.into_iter()
                        .map(|(k, v)| match k {
                            LimitKey::Resource(r) => {
                                (k, v - mine.iter().map(|n| n.capacity.get(r)).sum::<i64>())
                            }
                            LimitKey::Nodes => (k, v - mine.len() as i64),
                        })
                        .collect(),
                )
            })
            .collect();
        let domain_groups = build_domain_groups(&templates);
        let market = Market::default();
        let input = SolveInput {
            templates: &templates,
            existing: &existing,
            placed,
            remaining,
            market: &market,
            domain_groups: &domain_groups,
            tolerate_prefer_no_schedule: tolerate_pns,
            min_values_best_effort: self.min_values_best_effort,
            ignore_preferences: false,
            moving: None,
        };
        let pending: Vec<&PodInfo> = self
            .pods
            .iter()
            .filter(|p| !p.deleted && p.node.is_none() && !p.daemon)
            .map(|p| &p.info)
            .collect();
        let result =
            Scheduler::new(&input, &pending, &mut self.rng, &mut self.hostnames).solve(&pending);
        drop(pending);
        self.last_errors = result
            .errors
            .iter()
            .map(|(id, e)| (*id as usize, e.clone()))
            .collect();
        let binds = |id: u32| bind.contains(&(id as usize));
        for (pid, pos) in &result.existing {
            if binds(*pid) {
                self.pods[*pid as usize].node = Some(order[*pos]);
            }
        }
        for claim in &result.claims {
            let t = &templates[claim.template];
            let node = self.launch(t, claim);
            if let Some(n) = node {
                for pid in &claim.pods {
                    if binds(*pid) {
                        self.pods[*pid as usize].node = Some(n);
                    }
                }
            }
        }
    }

    fn existing_node(&self, n: usize) -> ExistingNode {
        let node = &self.nodes[n];
        // An uninitialized managed node ignores ephemeral and startup taints (StateNode.Taints).
        let taints: Vec<Taint> = if node.managed && !node.initialized {
            node.taints
                .iter()
                .filter(|t| {
                    !is_ephemeral(t)
                        && !node
                            .startup_taints
                            .iter()
                            .any(|s| s.key == t.key && s.effect == t.effect)
                })
                .cloned()
                .collect()
        } else {
            node.taints.clone()
        };
        let mut available = node.allocatable;
        let mut host_ports = Vec::new();
        let mut ds_bound = Resources::ZERO;
        for p in self.pods.iter().filter(|p| !p.deleted && p.node == Some(n)) {
            available.sub_assign(&p.info.requests);
            host_ports.extend(p.info.constraints.host_ports.iter().copied());
            if p.daemon {
                ds_bound.add_assign(&p.info.requests);
            }
        }
        // Remaining DaemonSet overhead: compatible DaemonSets minus DaemonSet pods already there.
        let node_reqs = Requirements::from_labels(&node.labels);
        let mut ds = Resources::ZERO;
        for d in &self.daemonsets {
            if karpsim::model::untolerated(&taints, &d.constraints.tolerations).is_some() {
                continue;
            }
            if node_reqs
                .compatible(&d.constraints.requirements(true), false)
                .is_err()
            {
                continue;
            }
            ds.add_assign(&d.requests);
        }
        available.sub_assign(&ds.sub(&ds_bound).clamp_zero());
        let mut requirements = node_reqs;
        requirements.add(Requirement::single(labels::HOSTNAME, node.name));
        ExistingNode {
            name: node.name,
            initialized: node.initialized,
            requirements: Arc::new(requirements),
            taints,
            available,
            host_ports,
            cooling: false,
        }
    }

    /// The fake cloud provider's `Create`: cheapest compatible fitting type (catalog order on
    /// ties), first compatible available offering in list order.
    fn launch(&mut self, t: &NodePoolTemplate, claim: &PlannedClaim) -> Option<usize> {
        let its = &t.instance_types;
        let none = Market::default();
        let price = |i: usize| {
            its[i]
                .cheapest(&claim.requirements, &none)
                .map(|o| o.price)
                .unwrap_or(f64::MAX)
        };
        let mut listed: Vec<u32> = claim.options.clone();
        listed.sort_by(|a, b| {
            price(*a as usize)
                .total_cmp(&price(*b as usize))
                .then(a.cmp(b))
        });
        let mut kept: Vec<usize> = (0..its.len())
            .filter(|i| {
                let it = &its[*i];
                claim.options.contains(&(*i as u32))
                    && it.requirements.intersects(&claim.requirements).is_ok()
                    && it
                        .offerings
                        .iter()
                        .any(|o| it.offering_ok(o, &claim.requirements, &none))
                    && claim.requests.fits(&it.allocatable)
            })
            .collect();
        kept.sort_by(|a, b| price(*a).total_cmp(&price(*b))); // stable: ties keep catalog order
        let mut call = CreateCall {
            pool: t.name,
            instance_types: listed.iter().map(|i| its[*i as usize].name).collect(),
            requests: claim.requests,
            requirements: claim.requirements.clone(),
            node: None,
        };
        let Some(&chosen) = kept.first() else {
            self.create_calls.push(call);
            return None;
        };
        let it = &its[chosen];
        let off = it
            .offerings
            .iter()
            .find(|o| it.offering_ok(o, &claim.requirements, &none))
            .unwrap();
        let name = sym(&format!("node-{:03}", self.nodes.len()));
        let mut lbl: BTreeMap<Sym, Sym> = BTreeMap::new();
        for r in it.requirements.iter() {
            if r.operator() == Op::In {
                lbl.insert(r.key, r.values_sorted()[0]);
            }
        }
        lbl.insert(labels::ZONE, off.zone);
        lbl.insert(labels::CAPACITY_TYPE, off.capacity_type);
        lbl.insert(labels::NODEPOOL, t.name);
        for (k, v) in &t.labels {
            lbl.insert(*k, *v);
        }
        for r in claim.requirements.iter() {
            let k = r.key;
            if labels::is_well_known_sym(k)
                || labels::restricted_reason(k.as_str()).is_some()
                || k == labels::REGISTERED
                || k == labels::INITIALIZED
                || k == labels::HOSTNAME
            {
                continue;
            }
            if let Some(v) = any_value(r) {
                lbl.insert(k, v);
            }
        }
        lbl.insert(labels::REGISTERED, labels::TRUE);
        lbl.insert(labels::HOSTNAME, name);
        let mut taints = t.taints.clone();
        taints.extend(t.startup_taints.iter().cloned());
        self.nodes.push(Node {
            name,
            pool: Some(t.name),
            instance_type: Some(it.name),
            labels: lbl.into_iter().collect(),
            taints,
            startup_taints: t.startup_taints.clone(),
            initialized: false,
            managed: true,
            capacity: it.capacity,
            allocatable: it.allocatable,
            deleted: false,
        });
        call.node = Some(self.nodes.len() - 1);
        self.create_calls.push(call);
        Some(self.nodes.len() - 1)
    }

    /// Marks a node initialized (`ExpectMakeNodesInitialized`).
    pub fn make_initialized(&mut self, n: usize) {
        self.nodes[n].initialized = true;
        let v = labels::TRUE;
        self.nodes[n]
            .labels
            .retain(|(k, _)| *k != labels::INITIALIZED);
        self.nodes[n].labels.push((labels::INITIALIZED, v));
    }

    // ------------------------------ assertions ------------------------------

    /// `ExpectScheduled`: the pod is bound; returns its node index.
    #[track_caller]
    pub fn scheduled(&self, id: PodId) -> usize {
        match self.pods[id].node {
            Some(n) => n,
            None => panic!("pod {id} is not scheduled: {:?}", self.last_errors.get(&id)),
        }
    }

    /// `ExpectNotScheduled`.
    #[track_caller]
    pub fn not_scheduled(&self, id: PodId) {
        if let Some(n) = self.pods[id].node {
            panic!(
                "pod {id} was scheduled to {:?} ({:?})",
                self.nodes[n].name, self.nodes[n].labels
            );
        }
    }

    pub fn is_scheduled(&self, id: PodId) -> bool {
        self.pods[id].node.is_some()
    }

    /// The node a pod is bound to.
    #[track_caller]
    pub fn node_of(&self, id: PodId) -> &Node {
        &self.nodes[self.scheduled(id)]
    }

    /// A label of the pod's node.
    #[track_caller]
    pub fn label_of(&self, id: PodId, key: &str) -> Option<&'static str> {
        self.node_of(id).get(key)
    }

    /// Live nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.iter().filter(|n| !n.deleted).count()
    }

    pub fn live_nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| !n.deleted)
    }

    /// Number of scheduled pods among `ids`.
    pub fn count_scheduled(&self, ids: &[PodId]) -> usize {
        ids.iter().filter(|i| self.is_scheduled(**i)).count()
    }

    /// Distinct nodes the given pods are bound to.
    pub fn distinct_nodes(&self, ids: &[PodId]) -> usize {
        let mut v: Vec<usize> = ids.iter().filter_map(|i| self.pods[*i].node).collect();
        v.sort();
        v.dedup();
        v.len()
    }

    /// `ExpectSkew`: bound pods in `ns` matching `selector` (None = every pod), counted per value
    /// of the node label `key` (node name for hostname); sorted ascending (a multiset).
    pub fn skew(&self, ns: &str, key: &str, selector: Option<&LabelSelector>) -> Vec<i32> {
        let mut counts: BTreeMap<&'static str, i32> = BTreeMap::new();
        for p in &self.pods {
            let Some(n) = p.node else { continue };
            if p.deleted || p.daemon || p.info.namespace != sym(ns) || self.nodes[n].deleted {
                continue;
            }
            if selector.is_some_and(|s| !s.matches(&p.info.labels)) {
                continue;
            }
            let node = &self.nodes[n];
            let d = if key == HOSTNAME {
                Some(node.name.as_str())
            } else {
                node.get(key)
            };
            if let Some(d) = d {
                *counts.entry(d).or_default() += 1;
            }
        }
        let mut v: Vec<i32> = counts.into_values().collect();
        v.sort();
        v
    }

    /// Skew of pods labelled L in `default`.
    pub fn skew_l(&self, key: &str) -> Vec<i32> {
        self.skew("default", key, Some(&sel_l()))
    }

    /// The price of the pod's node: the cheapest offering of its type compatible with its labels.
    pub fn node_price(&self, n: usize) -> f64 {
        let node = &self.nodes[n];
        let it = self
            .catalog
            .iter()
            .find(|i| Some(i.name) == node.instance_type)
            .expect("node has a catalog type");
        let zone = node.get(ZONE).map(sym);
        let ct = node.get(CT).map(sym);
        it.offerings
            .iter()
            .filter(|o| o.available && Some(o.zone) == zone && Some(o.capacity_type) == ct)
            .map(|o| o.price)
            .fold(f64::MAX, f64::min)
    }

    /// The catalog entry of a node's type.
    pub fn node_type(&self, n: usize) -> &InstanceType {
        let node = &self.nodes[n];
        self.catalog
            .iter()
            .find(|i| Some(i.name) == node.instance_type)
            .expect("node has a catalog type")
    }
}

fn is_ephemeral(t: &Taint) -> bool {
    let k = t.key.as_str();
    (k == "node.kubernetes.io/not-ready"
        && matches!(t.effect, Effect::NoSchedule | Effect::NoExecute))
        || (k == "node.kubernetes.io/unreachable" && t.effect == Effect::NoSchedule)
        || (k == "node.cloudprovider.kubernetes.io/uninitialized" && t.effect == Effect::NoSchedule)
        || (k == "karpenter.sh/unregistered" && t.effect == Effect::NoExecute)
}

/// `Requirement.Any()`: a value for a custom label. In → its first value; a complement → the
/// smallest non-negative integer it allows (Karpenter draws a random one); DoesNotExist → none.
fn any_value(r: &Requirement) -> Option<Sym> {
    match r.operator() {
        Op::In => r.values_sorted().first().copied(),
        Op::DoesNotExist => None,
        _ => {
            let (gte, _) = r.bounds();
            let start = gte.unwrap_or(0).max(0);
            (start..start + 10_000)
                .map(|i| sym(&i.to_string()))
                .find(|v| r.has(*v))
        }
    }
}

/// Node capacity helpers for assertions.
pub fn cpu_of(r: &Resources) -> i64 {
    r.get(ResourceName::Cpu)
}
pub fn mem_of(r: &Resources) -> i64 {
    r.get(ResourceName::Memory)
}

/// Resources from (name, quantity-string) pairs.
pub fn res(pairs: &[(ResourceName, &str)]) -> Resources {
    Resources::from_pairs(&pairs.iter().map(|(n, v)| (*n, q(v))).collect::<Vec<_>>())
}
