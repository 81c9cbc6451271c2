//! Pod specs (templates, DaemonSets) and PodDisruptionBudgets.
//!
//! Every field the scheduler reads is typed. Every other real Kubernetes `PodSpec` and
//! `Container` field is accepted and ignored ([`PODSPEC_IGNORED_FIELDS`],
//! [`CONTAINER_IGNORED_FIELDS`]); a key that is no Kubernetes field is an error, as with
//! `kubectl apply --validate=strict`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

use super::docs::read_documents;
use super::error::{ConfigError, closest};
use super::k8s::{
    IntOrPercent, LabelSelector, NodeSelectorRequirement, ObjectMeta, Operator, ReqFlavor,
    Toleration, parse_int_or_percent, parse_label_selector, parse_labels, parse_meta,
    parse_requirement, parse_toleration,
};
use super::labels::{label_value_error, pod_key_restriction, qualified_name_error};
use super::pos::{join_index, join_key};
use super::walk::{At, Ctx, Obj};

/// `PodSpec` fields karpsim reads.
pub const PODSPEC_FIELDS: &[&str] = &[
    "containers",
    "initContainers",
    "overhead",
    "nodeSelector",
    "affinity",
    "tolerations",
    "topologySpreadConstraints",
    "priorityClassName",
    "priority",
    "terminationGracePeriodSeconds",
    "hostNetwork",
    "resources",
    "nodeName",
];

/// Real `PodSpec` fields that are accepted and ignored.
pub const PODSPEC_IGNORED_FIELDS: &[&str] = &[
    "volumes",
    "ephemeralContainers",
    "restartPolicy",
    "activeDeadlineSeconds",
    "dnsPolicy",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "hostPID",
    "hostIPC",
    "shareProcessNamespace",
    "securityContext",
    "imagePullSecrets",
    "hostname",
    "subdomain",
    "schedulerName",
    "hostAliases",
    "dnsConfig",
    "readinessGates",
    "runtimeClassName",
    "enableServiceLinks",
    "preemptionPolicy",
    "setHostnameAsFQDN",
    "os",
    "hostUsers",
    "schedulingGates",
    "resourceClaims",
    "hostnameOverride",
];

/// `Container` fields karpsim reads.
pub const CONTAINER_FIELDS: &[&str] = &["name", "resources", "ports", "restartPolicy"];

/// Real `Container` fields that are accepted and ignored.
pub const CONTAINER_IGNORED_FIELDS: &[&str] = &[
    "image",
    "command",
    "args",
    "workingDir",
    "envFrom",
    "env",
    "resizePolicy",
    "restartPolicyRules",
    "volumeMounts",
    "volumeDevices",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
];

/// A container port protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

/// One `ports` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    pub container_port: i32,
    /// With `hostNetwork: true` this defaults to `container_port`, as the API server does.
    pub host_port: Option<i32>,
    pub host_ip: Option<String>,
    /// Default TCP.
    pub protocol: Protocol,
}

/// A container (or init container).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Container {
    pub name: String,
    /// Resource name → milli-value. A resource with a limit but no request gets the limit
    /// as its request (Kubernetes defaulting).
    pub requests: BTreeMap<String, i64>,
    pub limits: BTreeMap<String, i64>,
    pub ports: Vec<ContainerPort>,
    /// `Some("Always")` on an init container makes it a sidecar.
    pub restart_policy: Option<String>,
}

impl Container {
    /// True for a restartable init container (a sidecar).
    pub fn is_sidecar(&self) -> bool {
        self.restart_policy.as_deref() == Some("Always")
    }
}

/// A node selector term (OR-ed with the other terms).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeSelectorTerm {
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// Karpenter ignores pods that use `matchFields`.
    pub match_fields: Vec<NodeSelectorRequirement>,
}

/// A weighted preferred node selector term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferredSchedulingTerm {
    /// 1..=100.
    pub weight: i32,
    pub preference: NodeSelectorTerm,
}

/// `affinity.nodeAffinity`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeAffinity {
    /// `requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`; empty = none.
    pub required: Vec<NodeSelectorTerm>,
    /// `preferredDuringSchedulingIgnoredDuringExecution`.
    pub preferred: Vec<PreferredSchedulingTerm>,
}

/// A pod (anti-)affinity term.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodAffinityTerm {
    pub label_selector: Option<LabelSelector>,
    pub namespaces: Vec<String>,
    pub namespace_selector: Option<LabelSelector>,
    pub topology_key: String,
    pub match_label_keys: Vec<String>,
    pub mismatch_label_keys: Vec<String>,
}

/// A weighted preferred pod (anti-)affinity term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedPodAffinityTerm {
    /// 1..=100.
    pub weight: i32,
    pub term: PodAffinityTerm,
}

/// `affinity.podAffinity` or `affinity.podAntiAffinity`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodAffinity {
    pub required: Vec<PodAffinityTerm>,
    pub preferred: Vec<WeightedPodAffinityTerm>,
}

/// `affinity`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Affinity {
    pub node_affinity: Option<NodeAffinity>,
    pub pod_affinity: Option<PodAffinity>,
    pub pod_anti_affinity: Option<PodAffinity>,
}

/// `whenUnsatisfiable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnsatisfiable {
    DoNotSchedule,
    ScheduleAnyway,
}

/// `nodeAffinityPolicy` / `nodeTaintsPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeInclusionPolicy {
    Honor,
    Ignore,
}

/// A topology spread constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologySpreadConstraint {
    pub max_skew: i32,
    pub topology_key: String,
    pub when_unsatisfiable: WhenUnsatisfiable,
    pub label_selector: Option<LabelSelector>,
    pub min_domains: Option<i32>,
    /// Unset means Honor.
    pub node_affinity_policy: Option<NodeInclusionPolicy>,
    /// Unset means Ignore.
    pub node_taints_policy: Option<NodeInclusionPolicy>,
    pub match_label_keys: Vec<String>,
}

/// The scheduling-relevant part of a Kubernetes `PodSpec`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodSpec {
    pub containers: Vec<Container>,
    pub init_containers: Vec<Container>,
    /// `overhead` (RuntimeClass overhead), milli-values.
    pub overhead: BTreeMap<String, i64>,
    pub node_selector: BTreeMap<String, String>,
    pub affinity: Option<Affinity>,
    pub tolerations: Vec<Toleration>,
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    pub priority_class_name: Option<String>,
    pub priority: Option<i32>,
    pub termination_grace_period_seconds: Option<i64>,
    pub host_network: bool,
    /// Pod-level `resources.requests` (PodLevelResources); overrides container sums.
    pub pod_requests: BTreeMap<String, i64>,
    pub node_name: Option<String>,
}

fn add_into(acc: &mut BTreeMap<String, i64>, other: &BTreeMap<String, i64>) {
    for (k, v) in other {
        let e = acc.entry(k.clone()).or_insert(0);
        *e = e.saturating_add(*v);
    }
}

fn max_into(acc: &mut BTreeMap<String, i64>, other: &BTreeMap<String, i64>) {
    for (k, v) in other {
        let e = acc.entry(k.clone()).or_insert(0);
        *e = (*e).max(*v);
    }
}

impl PodSpec {
    /// The pod's effective requests with Kubernetes semantics: the larger of (app containers
    /// plus sidecars) and (each regular init container plus the sidecars started before it),
    /// per resource; pod-level requests replace that where set; then `overhead` is added.
    /// The implicit `pods: 1` is not included.
    pub fn effective_requests(&self) -> BTreeMap<String, i64> {
        let mut reqs = BTreeMap::new();
        for c in &self.containers {
            add_into(&mut reqs, &c.requests);
        }
        let mut sidecars = BTreeMap::new();
        let mut init_max = BTreeMap::new();
        for c in &self.init_containers {
            if c.is_sidecar() {
                add_into(&mut reqs, &c.requests);
                add_into(&mut sidecars, &c.requests);
                max_into(&mut init_max, &sidecars);
            } else {
                let mut step = c.requests.clone();
                add_into(&mut step, &sidecars);
                max_into(&mut init_max, &step);
            }
        }
        max_into(&mut reqs, &init_max);
        for (k, v) in &self.pod_requests {
            reqs.insert(k.clone(), *v);
        }
        add_into(&mut reqs, &self.overhead);
        reqs.retain(|_, v| *v != 0);
        reqs
    }

    /// Host ports the pod claims: (hostIP, port, protocol) for every container and init
    /// container port with a host port.
    pub fn host_ports(&self) -> Vec<(String, i32, Protocol)> {
        self.containers
            .iter()
            .chain(self.init_containers.iter())
            .flat_map(|c| c.ports.iter())
            .filter_map(|p| {
                p.host_port.filter(|h| *h > 0).map(|h| {
                    (
                        p.host_ip.clone().unwrap_or_else(|| "0.0.0.0".into()),
                        h,
                        p.protocol,
                    )
                })
            })
            .collect()
    }

    /// Why Karpenter would ignore this pod (its node selection uses `matchFields`, a
    /// restricted label key, or an invalid label value), or `None`.
    pub fn karpenter_ignore_reason(&self) -> Option<String> {
        for (k, v) in &self.node_selector {
            if let Some(r) = pod_key_restriction(k) {
                return Some(format!("nodeSelector: {r}"));
            }
            if let Some(e) = label_value_error(v) {
                return Some(format!("nodeSelector {k}: {e}"));
            }
        }
        let na = self
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref());
        let na = na?;
        // Karpenter validates the nodeSelector and the required terms only
        // (`provisioner.go` validateAffinity); preferred terms are not checked.
        for t in &na.required {
            if !t.match_fields.is_empty() {
                return Some("node affinity uses matchFields".into());
            }
            for r in &t.match_expressions {
                if let Some(reason) = pod_key_restriction(&r.key) {
                    return Some(format!("node affinity: {reason}"));
                }
                if qualified_name_error(&r.key).is_some() {
                    return Some(format!(
                        "node affinity key {} is not a qualified name",
                        r.key
                    ));
                }
                for v in &r.values {
                    if let Some(e) = label_value_error(v) {
                        return Some(format!("node affinity {}: {e}", r.key));
                    }
                }
                if r.operator.is_numeric()
                    && (r.values.len() != 1 || r.values[0].parse::<i64>().map_or(true, |n| n < 0))
                {
                    return Some(format!(
                        "node affinity {} needs one non-negative integer",
                        r.key
                    ));
                }
            }
        }
        None
    }
}

/// One named pod template (a `templates` file entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTemplate {
    pub name: String,
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
}

/// An `apps/v1` DaemonSet.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSet {
    pub name: String,
    pub metadata: ObjectMeta,
    pub selector: LabelSelector,
    /// `spec.template.metadata`.
    pub template_metadata: ObjectMeta,
    /// `spec.template.spec`.
    pub spec: PodSpec,
    pub raw: Value,
}

/// `unhealthyPodEvictionPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnhealthyPodEvictionPolicy {
    IfHealthyBudget,
    AlwaysAllow,
}

/// A `policy/v1` PodDisruptionBudget.
#[derive(Debug, Clone, PartialEq)]
pub struct PodDisruptionBudget {
    pub name: String,
    /// Default `default`.
    pub namespace: String,
    pub metadata: ObjectMeta,
    pub min_available: Option<IntOrPercent>,
    pub max_unavailable: Option<IntOrPercent>,
    /// `None` selects nothing (policy/v1: an empty selector selects every pod of the namespace).
    pub selector: Option<LabelSelector>,
    pub unhealthy_pod_eviction_policy: Option<UnhealthyPodEvictionPolicy>,
    pub raw: Value,
}

fn parse_resources(
    ctx: &mut Ctx,
    v: &Value,
    path: &str,
) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let o = ctx.obj(v, path, &["requests", "limits", "claims"]);
    let mut requests = ctx.quantity_map(&o, "requests");
    let limits = ctx.quantity_map(&o, "limits");
    for (section, m) in [("requests", &requests), ("limits", &limits)] {
        let base = o.path(section);
        for (k, q) in m {
            let p = join_key(&base, k);
            if let Some(e) = qualified_name_error(k) {
                ctx.error(&p, At::Key, format!("invalid resource name: {e}"), None);
            }
            if *q < 0 {
                ctx.err(&p, "must be greater than or equal to 0");
            }
        }
    }
    for (k, l) in &limits {
        match requests.get(k) {
            Some(r) if r > l => {
                ctx.err(
                    &join_key(&o.path("requests"), k),
                    format!("must be less than or equal to {k} limit"),
                );
            }
            Some(_) => {}
            None => {
                requests.insert(k.clone(), *l);
            }
        }
    }
    (requests, limits)
}

fn parse_container(ctx: &mut Ctx, v: &Value, path: &str, init: bool) -> Option<Container> {
    let o = ctx.obj_ignoring(v, path, CONTAINER_FIELDS, CONTAINER_IGNORED_FIELDS);
    o.map?;
    let name = ctx.req_string(&o, "name").unwrap_or_default();
    let (requests, limits) = match o.get("resources") {
        Some(r) => parse_resources(ctx, r, &o.path("resources")),
        None => (BTreeMap::new(), BTreeMap::new()),
    };
    let ports = ctx.list(&o, "ports", |c, v, p| {
        let po = c.obj(
            v,
            p,
            &["containerPort", "hostPort", "hostIP", "protocol", "name"],
        );
        po.map?;
        if !po.has("containerPort") {
            c.missing(&po, "containerPort");
        }
        let container_port = c.int(&po, "containerPort", 1, 65535)? as i32;
        let host_port = c
            .int(&po, "hostPort", 0, 65535)
            .map(|n| n as i32)
            .filter(|n| *n > 0);
        let host_ip = c.string(&po, "hostIP").filter(|s| !s.is_empty());
        let protocol = c
            .enumv(
                &po,
                "protocol",
                &[
                    ("TCP", Protocol::Tcp),
                    ("UDP", Protocol::Udp),
                    ("SCTP", Protocol::Sctp),
                ],
            )
            .unwrap_or(Protocol::Tcp);
        Some(ContainerPort {
            container_port,
            host_port,
            host_ip,
            protocol,
        })
    });
    let restart_policy = match o.get("restartPolicy") {
        Some(v) => {
            let rp = ctx
                .v_enum(v, &o.path("restartPolicy"), &[("Always", "Always")])
                .map(str::to_string);
            if !init {
                ctx.err(
                    &o.path("restartPolicy"),
                    "restartPolicy may only be set on init containers",
                );
            }
            rp
        }
        None => None,
    };
    Some(Container {
        name,
        requests,
        limits,
        ports,
        restart_policy,
    })
}

fn parse_selector_term(ctx: &mut Ctx, v: &Value, path: &str) -> Option<NodeSelectorTerm> {
    let o = ctx.obj(v, path, &["matchExpressions", "matchFields"]);
    o.map?;
    let match_expressions = ctx.list(&o, "matchExpressions", |c, v, p| {
        parse_requirement(c, v, p, ReqFlavor::Pod)
    });
    let match_fields = ctx.list(&o, "matchFields", |c, v, p| {
        let r = parse_requirement(c, v, p, ReqFlavor::Pod)?;
        if r.key != "metadata.name" {
            c.err(
                &join_key(p, "key"),
                format!(
                    "`{}` is not a supported field selector: only metadata.name",
                    r.key
                ),
            );
        }
        if !matches!(r.operator, Operator::In | Operator::NotIn) || r.values.len() != 1 {
            c.err(
                p,
                "matchFields on metadata.name need operator In or NotIn with exactly one value",
            );
        }
        Some(r)
    });
    Some(NodeSelectorTerm {
        match_expressions,
        match_fields,
    })
}

fn parse_affinity_term(ctx: &mut Ctx, v: &Value, path: &str) -> Option<PodAffinityTerm> {
    let o = ctx.obj(
        v,
        path,
        &[
            "labelSelector",
            "namespaces",
            "namespaceSelector",
            "topologyKey",
            "matchLabelKeys",
            "mismatchLabelKeys",
        ],
    );
    o.map?;
    let label_selector = o
        .get("labelSelector")
        .map(|s| parse_label_selector(ctx, s, &o.path("labelSelector")));
    let namespace_selector = o
        .get("namespaceSelector")
        .map(|s| parse_label_selector(ctx, s, &o.path("namespaceSelector")));
    let namespaces = ctx.str_list(&o, "namespaces");
    let topology_key = ctx.req_string(&o, "topologyKey");
    if let Some(k) = &topology_key
        && let Some(e) = qualified_name_error(k)
    {
        ctx.err(&o.path("topologyKey"), format!("invalid topology key: {e}"));
    }
    let match_label_keys = ctx.str_list(&o, "matchLabelKeys");
    let mismatch_label_keys = ctx.str_list(&o, "mismatchLabelKeys");
    Some(PodAffinityTerm {
        label_selector,
        namespaces,
        namespace_selector,
        topology_key: topology_key?,
        match_label_keys,
        mismatch_label_keys,
    })
}

const REQ_KEY: &str = "requiredDuringSchedulingIgnoredDuringExecution";
const PREF_KEY: &str = "preferredDuringSchedulingIgnoredDuringExecution";

fn parse_weight(ctx: &mut Ctx, o: &Obj) -> Option<i32> {
    if !o.has("weight") {
        ctx.missing(o, "weight");
    }
    ctx.int(o, "weight", 1, 100).map(|w| w as i32)
}

fn parse_pod_affinity(ctx: &mut Ctx, v: &Value, path: &str) -> PodAffinity {
    let o = ctx.obj(v, path, &[REQ_KEY, PREF_KEY]);
    let required = ctx.list(&o, REQ_KEY, parse_affinity_term);
    let preferred = ctx.list(&o, PREF_KEY, |c, v, p| {
        let w = c.obj(v, p, &["weight", "podAffinityTerm"]);
        w.map?;
        let weight = parse_weight(c, &w);
        let term = match w.get("podAffinityTerm") {
            Some(t) => parse_affinity_term(c, t, &w.path("podAffinityTerm")),
            None => {
                c.missing(&w, "podAffinityTerm");
                None
            }
        };
        Some(WeightedPodAffinityTerm {
            weight: weight?,
            term: term?,
        })
    });
    PodAffinity {
        required,
        preferred,
    }
}

fn parse_affinity(ctx: &mut Ctx, v: &Value, path: &str) -> Affinity {
    let o = ctx.obj(v, path, &["nodeAffinity", "podAffinity", "podAntiAffinity"]);
    let node_affinity = o.get("nodeAffinity").map(|na| {
        let np = o.path("nodeAffinity");
        let n = ctx.obj(na, &np, &[REQ_KEY, PREF_KEY]);
        let mut out = NodeAffinity::default();
        if let Some(r) = n.get(REQ_KEY) {
            let rp = n.path(REQ_KEY);
            let ro = ctx.obj(r, &rp, &["nodeSelectorTerms"]);
            if !ro.has("nodeSelectorTerms") {
                ctx.missing(&ro, "nodeSelectorTerms");
            }
            out.required = ctx.list(&ro, "nodeSelectorTerms", parse_selector_term);
            if matches!(ro.get("nodeSelectorTerms"), Some(Value::Sequence(s)) if s.is_empty()) {
                ctx.err(
                    &ro.path("nodeSelectorTerms"),
                    "must have at least one node selector term",
                );
            }
        }
        out.preferred = ctx.list(&n, PREF_KEY, |c, v, p| {
            let w = c.obj(v, p, &["weight", "preference"]);
            w.map?;
            let weight = parse_weight(c, &w);
            let preference = match w.get("preference") {
                Some(t) => parse_selector_term(c, t, &w.path("preference")),
                None => {
                    c.missing(&w, "preference");
                    None
                }
            };
            Some(PreferredSchedulingTerm {
                weight: weight?,
                preference: preference?,
            })
        });
        out
    });
    let pod_affinity = o
        .get("podAffinity")
        .map(|pa| parse_pod_affinity(ctx, pa, &o.path("podAffinity")));
    let pod_anti_affinity = o
        .get("podAntiAffinity")
        .map(|pa| parse_pod_affinity(ctx, pa, &o.path("podAntiAffinity")));
    Affinity {
        node_affinity,
        pod_affinity,
        pod_anti_affinity,
    }
}

fn parse_tsc(ctx: &mut Ctx, v: &Value, path: &str) -> Option<TopologySpreadConstraint> {
    let o = ctx.obj(
        v,
        path,
        &[
            "maxSkew",
            "topologyKey",
            "whenUnsatisfiable",
            "labelSelector",
            "minDomains",
            "nodeAffinityPolicy",
            "nodeTaintsPolicy",
            "matchLabelKeys",
        ],
    );
    o.map?;
    if !o.has("maxSkew") {
        ctx.missing(&o, "maxSkew");
    }
    let max_skew = ctx.int(&o, "maxSkew", 1, i32::MAX as i64).map(|n| n as i32);
    let topology_key = ctx.req_string(&o, "topologyKey");
    if let Some(k) = &topology_key
        && let Some(e) = qualified_name_error(k)
    {
        ctx.err(&o.path("topologyKey"), format!("invalid topology key: {e}"));
    }
    if !o.has("whenUnsatisfiable") {
        ctx.missing(&o, "whenUnsatisfiable");
    }
    let when_unsatisfiable = ctx.enumv(
        &o,
        "whenUnsatisfiable",
        &[
            ("DoNotSchedule", WhenUnsatisfiable::DoNotSchedule),
            ("ScheduleAnyway", WhenUnsatisfiable::ScheduleAnyway),
        ],
    );
    let label_selector = o
        .get("labelSelector")
        .map(|s| parse_label_selector(ctx, s, &o.path("labelSelector")));
    let min_domains = ctx
        .int(&o, "minDomains", 1, i32::MAX as i64)
        .map(|n| n as i32);
    if min_domains.is_some() && when_unsatisfiable == Some(WhenUnsatisfiable::ScheduleAnyway) {
        ctx.err(
            &o.path("minDomains"),
            "minDomains can only be set when whenUnsatisfiable is DoNotSchedule",
        );
    }
    let policies = &[
        ("Honor", NodeInclusionPolicy::Honor),
        ("Ignore", NodeInclusionPolicy::Ignore),
    ];
    let node_affinity_policy = ctx.enumv(&o, "nodeAffinityPolicy", policies);
    let node_taints_policy = ctx.enumv(&o, "nodeTaintsPolicy", policies);
    let match_label_keys = ctx.str_list(&o, "matchLabelKeys");
    Some(TopologySpreadConstraint {
        max_skew: max_skew?,
        topology_key: topology_key?,
        when_unsatisfiable: when_unsatisfiable?,
        label_selector,
        min_domains,
        node_affinity_policy,
        node_taints_policy,
        match_label_keys,
    })
}

/// Reads a `PodSpec`. Scheduler-relevant fields are typed and validated; other real
/// Kubernetes fields are accepted and ignored.
pub(crate) fn parse_pod_spec(ctx: &mut Ctx, v: &Value, path: &str) -> PodSpec {
    let o = ctx.obj_ignoring(v, path, PODSPEC_FIELDS, PODSPEC_IGNORED_FIELDS);
    let mut spec = PodSpec {
        containers: ctx.list(&o, "containers", |c, v, p| parse_container(c, v, p, false)),
        init_containers: ctx.list(&o, "initContainers", |c, v, p| {
            parse_container(c, v, p, true)
        }),
        overhead: ctx.quantity_map(&o, "overhead"),
        ..Default::default()
    };
    let mut names: Vec<&str> = Vec::new();
    for (i, c) in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter())
        .enumerate()
    {
        if !c.name.is_empty() && names.contains(&c.name.as_str()) {
            let (list, j) = if i < spec.containers.len() {
                ("containers", i)
            } else {
                ("initContainers", i - spec.containers.len())
            };
            ctx.err(
                &join_key(&join_index(&o.path(list), j), "name"),
                format!("duplicate container name `{}`", c.name),
            );
        }
        names.push(&c.name);
    }
    spec.node_selector = parse_labels(ctx, &o, "nodeSelector");
    spec.affinity = o
        .get("affinity")
        .map(|a| parse_affinity(ctx, a, &o.path("affinity")));
    spec.tolerations = ctx.list(&o, "tolerations", parse_toleration);
    spec.topology_spread_constraints = ctx.list(&o, "topologySpreadConstraints", parse_tsc);
    let mut seen = Vec::new();
    for (i, t) in spec.topology_spread_constraints.iter().enumerate() {
        let k = (t.topology_key.clone(), t.when_unsatisfiable);
        if seen.contains(&k) {
            ctx.err(
                &join_index(&o.path("topologySpreadConstraints"), i),
                "duplicate topologySpreadConstraint for the same topologyKey and whenUnsatisfiable",
            );
        }
        seen.push(k);
    }
    spec.priority_class_name = ctx
        .string(&o, "priorityClassName")
        .filter(|s| !s.is_empty());
    spec.priority = ctx
        .int(&o, "priority", i32::MIN as i64, i32::MAX as i64)
        .map(|n| n as i32);
    spec.termination_grace_period_seconds =
        ctx.int(&o, "terminationGracePeriodSeconds", 0, i64::MAX);
    spec.host_network = ctx.bool(&o, "hostNetwork").unwrap_or(false);
    if spec.host_network {
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut())
        {
            for p in &mut c.ports {
                if p.host_port.is_none() {
                    p.host_port = Some(p.container_port);
                }
            }
        }
    }
    if let Some(r) = o.get("resources") {
        let (requests, _) = parse_resources(ctx, r, &o.path("resources"));
        spec.pod_requests = requests;
    }
    spec.node_name = ctx.string(&o, "nodeName").filter(|s| !s.is_empty());
    spec
}

/// Parses a `templates` file: one YAML list of `{name, metadata, spec}`.
pub(crate) fn parse_templates_into(
    text: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<PodTemplate> {
    let docs = read_documents(text, file, errors);
    let mut out: Vec<PodTemplate> = Vec::new();
    if docs.len() > 1 {
        errors.push(ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            field: String::new(),
            message: "a templates file is one YAML list; found several documents".into(),
            suggestion: None,
        });
    }
    for doc in docs.iter().take(1) {
        let mut ctx = Ctx::new(file, doc.pos.as_ref(), errors);
        let items = ctx.v_list(&doc.value, "", |c, v, p| {
            let o = c.obj(v, p, &["name", "metadata", "spec"]);
            o.map?;
            let name = c.req_string(&o, "name");
            let metadata = match o.get("metadata") {
                Some(m) => parse_meta(c, m, &o.path("metadata"), false),
                None => ObjectMeta::default(),
            };
            let spec = match o.get("spec") {
                Some(s) => parse_pod_spec(c, s, &o.path("spec")),
                None => PodSpec::default(),
            };
            Some((
                p.to_string(),
                PodTemplate {
                    name: name?,
                    metadata,
                    spec,
                },
            ))
        });
        for (p, t) in items {
            if out.iter().any(|x| x.name == t.name) {
                ctx.err(
                    &join_key(&p, "name"),
                    format!("template `{}` is defined more than once", t.name),
                );
            }
            out.push(t);
        }
    }
    out
}

/// Reads a multi-document file of one kind (plus `kind: List` wrappers).
fn parse_kind_docs<T>(
    text: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
    kind: &str,
    api: &str,
    mut parse: impl FnMut(&mut Ctx, &Value, &str) -> Option<T>,
) -> Vec<T> {
    fn walk<T>(
        ctx: &mut Ctx,
        v: &Value,
        path: &str,
        kind: &str,
        api: &str,
        parse: &mut dyn FnMut(&mut Ctx, &Value, &str) -> Option<T>,
        out: &mut Vec<T>,
    ) {
        if v.is_null() {
            return;
        }
        let Value::Mapping(m) = v else {
            ctx.err(
                path,
                format!(
                    "expected a Kubernetes object, got {}",
                    super::walk::type_name(v)
                ),
            );
            return;
        };
        let got_kind = m.get("kind").and_then(Value::as_str);
        let got_api = m.get("apiVersion").and_then(Value::as_str);
        match got_kind {
            Some(k) if k == kind => {
                let ap = join_key(path, "apiVersion");
                match got_api {
                    Some(a) if a == api => {}
                    Some(a) => ctx.error(
                        &ap,
                        At::Value,
                        format!("apiVersion `{a}` is not supported for {kind}: use `{api}`"),
                        Some(api.to_string()),
                    ),
                    None => ctx.error(
                        &ap,
                        At::Key,
                        format!("missing `apiVersion` (expected `{api}`)"),
                        None,
                    ),
                }
                if let Some(t) = parse(ctx, v, path) {
                    out.push(t);
                }
            }
            Some("List") => {
                let o = ctx.obj(v, path, &["apiVersion", "kind", "metadata", "items"]);
                if let Some(Value::Sequence(items)) = o.get("items") {
                    let ip = o.path("items");
                    for (i, item) in items.iter().enumerate() {
                        walk(ctx, item, &join_index(&ip, i), kind, api, parse, out);
                    }
                }
            }
            Some(other) => {
                let sugg = closest(other, [kind]);
                ctx.error(
                    &join_key(path, "kind"),
                    At::Value,
                    format!("kind `{other}` is not supported here: this file holds {kind} ({api}) objects"),
                    sugg,
                );
            }
            None => ctx.error(
                &join_key(path, "kind"),
                At::Key,
                format!("missing `kind` (expected {kind})"),
                None,
            ),
        }
    }
    let docs = read_documents(text, file, errors);
    let mut out = Vec::new();
    for doc in &docs {
        let mut ctx = Ctx::new(file, doc.pos.as_ref(), errors);
        walk(&mut ctx, &doc.value, "", kind, api, &mut parse, &mut out);
    }
    out
}

const OBJECT_KEYS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];

/// Parses `apps/v1` DaemonSet manifests.
pub(crate) fn parse_daemonsets_into(
    text: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<DaemonSet> {
    parse_kind_docs(
        text,
        file,
        errors,
        "DaemonSet",
        "apps/v1",
        |ctx, v, path| {
            let top = ctx.obj(v, path, OBJECT_KEYS);
            let metadata = match top.get("metadata") {
                Some(m) => parse_meta(ctx, m, &top.path("metadata"), true),
                None => {
                    ctx.missing(&top, "metadata");
                    ObjectMeta::default()
                }
            };
            let Some(spec_v) = top.get("spec") else {
                ctx.missing(&top, "spec");
                return None;
            };
            let sp = top.path("spec");
            let so = ctx.obj(
                spec_v,
                &sp,
                &[
                    "selector",
                    "template",
                    "updateStrategy",
                    "minReadySeconds",
                    "revisionHistoryLimit",
                ],
            );
            let selector = match so.get("selector") {
                Some(s) => parse_label_selector(ctx, s, &so.path("selector")),
                None => {
                    ctx.missing(&so, "selector");
                    LabelSelector::default()
                }
            };
            let (template_metadata, spec) = match so.get("template") {
                Some(t) => {
                    let to = ctx.obj(t, &so.path("template"), &["metadata", "spec"]);
                    let tm = match to.get("metadata") {
                        Some(m) => parse_meta(ctx, m, &to.path("metadata"), false),
                        None => ObjectMeta::default(),
                    };
                    let ps = match to.get("spec") {
                        Some(s) => parse_pod_spec(ctx, s, &to.path("spec")),
                        None => {
                            ctx.missing(&to, "spec");
                            PodSpec::default()
                        }
                    };
                    (tm, ps)
                }
                None => {
                    ctx.missing(&so, "template");
                    (ObjectMeta::default(), PodSpec::default())
                }
            };
            if so.has("selector") && so.has("template") {
                if selector.match_labels.is_empty() && selector.match_expressions.is_empty() {
                    ctx.err(
                        &so.path("selector"),
                        "empty selector is invalid for a DaemonSet",
                    );
                } else if !selector.matches(&template_metadata.labels) {
                    ctx.err(
                        &so.path("selector"),
                        "selector does not match template labels",
                    );
                }
            }
            if let Some(u) = so.get("updateStrategy") {
                let uo = ctx.obj(u, &so.path("updateStrategy"), &["type", "rollingUpdate"]);
                ctx.enumv(&uo, "type", &[("RollingUpdate", ()), ("OnDelete", ())]);
            }
            ctx.int(&so, "minReadySeconds", 0, i32::MAX as i64);
            ctx.int(&so, "revisionHistoryLimit", 0, i32::MAX as i64);
            Some(DaemonSet {
                name: metadata.name.clone()?,
                metadata,
                selector,
                template_metadata,
                spec,
                raw: v.clone(),
            })
        },
    )
}

/// Parses `policy/v1` PodDisruptionBudget manifests.
pub(crate) fn parse_pdbs_into(
    text: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<PodDisruptionBudget> {
    parse_kind_docs(
        text,
        file,
        errors,
        "PodDisruptionBudget",
        "policy/v1",
        |ctx, v, path| {
            let top = ctx.obj(v, path, OBJECT_KEYS);
            let metadata = match top.get("metadata") {
                Some(m) => parse_meta(ctx, m, &top.path("metadata"), true),
                None => {
                    ctx.missing(&top, "metadata");
                    ObjectMeta::default()
                }
            };
            let Some(spec_v) = top.get("spec") else {
                ctx.missing(&top, "spec");
                return None;
            };
            let so = ctx.obj(
                spec_v,
                &top.path("spec"),
                &[
                    "minAvailable",
                    "maxUnavailable",
                    "selector",
                    "unhealthyPodEvictionPolicy",
                ],
            );
            let pct = |ctx: &mut Ctx, key: &str| {
                let v = so.get(key)?;
                let p = so.path(key);
                let r = parse_int_or_percent(ctx, v, &p)?;
                if let IntOrPercent::Percent(n) = r
                    && n > 100
                {
                    ctx.err(&p, "a percentage must be between 0% and 100%");
                }
                Some(r)
            };
            let min_available = pct(ctx, "minAvailable");
            let max_unavailable = pct(ctx, "maxUnavailable");
            if so.has("minAvailable") && so.has("maxUnavailable") {
                ctx.err(
                    &so.path("maxUnavailable"),
                    "minAvailable and maxUnavailable cannot be both set",
                );
            }
            let selector = so
                .get("selector")
                .map(|s| parse_label_selector(ctx, s, &so.path("selector")));
            let unhealthy_pod_eviction_policy = ctx.enumv(
                &so,
                "unhealthyPodEvictionPolicy",
                &[
                    (
                        "IfHealthyBudget",
                        UnhealthyPodEvictionPolicy::IfHealthyBudget,
                    ),
                    ("AlwaysAllow", UnhealthyPodEvictionPolicy::AlwaysAllow),
                ],
            );
            Some(PodDisruptionBudget {
                name: metadata.name.clone()?,
                namespace: metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".into()),
                metadata,
                min_available,
                max_unavailable,
                selector,
                unhealthy_pod_eviction_policy,
                raw: v.clone(),
            })
        },
    )
}
