//! Karpenter v1 manifests: `karpenter.sh/v1` NodePool and `karpenter.k8s.aws/v1`
//! EC2NodeClass, with the validation of their CRD schemas, CEL rules and webhooks.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

use super::docs::read_documents;
use super::error::{ConfigError, ConfigErrors, closest};
use super::k8s::{
    NodeSelectorRequirement, ObjectMeta, ReqFlavor, Taint, check_duplicate_taints, parse_meta,
    parse_requirement, parse_taint,
};
use super::labels::{label_value_error, nodepool_key_restriction, qualified_name_error};
use super::pos::{Pos, join_index, join_key};
use super::walk::{At, Ctx, DurSyntax, Obj};
use crate::units::MaybeNever;

/// A `karpenter.sh/v1` NodePool.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePool {
    /// `metadata.name`.
    pub name: String,
    pub metadata: ObjectMeta,
    pub spec: NodePoolSpec,
    /// The manifest as written (for `changes`/`variants` edits and re-validation).
    pub raw: Value,
}

/// `NodePool.spec`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePoolSpec {
    pub template: NodeClaimTemplate,
    pub disruption: Disruption,
    /// Resource name → milli-value (`cpu: 1000` → 1_000_000; `nodes: 10` → 10_000).
    pub limits: BTreeMap<String, i64>,
    /// 1..=100; `None` is treated as 0.
    pub weight: Option<i32>,
    /// Static NodePool node count (alpha).
    pub replicas: Option<i64>,
}

/// `spec.template`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeClaimTemplate {
    /// `spec.template.metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `spec.template.metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    pub spec: NodeClaimTemplateSpec,
}

/// `spec.template.spec`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeClaimTemplateSpec {
    pub requirements: Vec<NodeSelectorRequirement>,
    pub taints: Vec<Taint>,
    pub startup_taints: Vec<Taint>,
    pub node_class_ref: NodeClassRef,
    /// Default 720h.
    pub expire_after: MaybeNever,
    /// Milliseconds; `None` waits for pods forever.
    pub termination_grace_period_ms: Option<u64>,
}

/// `spec.template.spec.nodeClassRef`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeClassRef {
    pub group: String,
    pub kind: String,
    pub name: String,
}

/// `spec.disruption.consolidationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsolidationPolicy {
    WhenEmpty,
    WhenEmptyOrUnderutilized,
    /// Karpenter v1.14's cost/disruption-balanced policy.
    Balanced,
}

/// `spec.disruption.consolidateWhen` (an experimental Karpenter field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsolidateWhen {
    WhenEmpty,
    WhenEmptyOrUnderutilized,
    WhenCostJustifiesDisruption,
}

/// `spec.disruption`.
#[derive(Debug, Clone, PartialEq)]
pub struct Disruption {
    /// Default `WhenEmptyOrUnderutilized`.
    pub consolidation_policy: ConsolidationPolicy,
    /// Default 0s.
    pub consolidate_after: MaybeNever,
    /// Default one budget of `nodes: 10%`.
    pub budgets: Vec<Budget>,
    pub consolidate_when: Option<ConsolidateWhen>,
    pub decision_ratio_threshold: Option<f64>,
}

impl Default for Disruption {
    fn default() -> Self {
        Disruption {
            consolidation_policy: ConsolidationPolicy::WhenEmptyOrUnderutilized,
            consolidate_after: MaybeNever::After(0),
            budgets: vec![Budget::default()],
            consolidate_when: None,
            decision_ratio_threshold: None,
        }
    }
}

/// A disruption reason a budget can be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DisruptionReason {
    Empty,
    Drifted,
    Underutilized,
}

/// `nodes` of a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetNodes {
    Count(u32),
    /// 0..=100.
    Percent(u8),
}

/// One disruption budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Default `10%`.
    pub nodes: BudgetNodes,
    /// 5-field cron (UTC) or `@daily`-style macro; set together with `duration_ms`.
    pub schedule: Option<String>,
    pub duration_ms: Option<u64>,
    /// `None` applies to every reason.
    pub reasons: Option<Vec<DisruptionReason>>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            nodes: BudgetNodes::Percent(10),
            schedule: None,
            duration_ms: None,
            reasons: None,
        }
    }
}

/// A `karpenter.k8s.aws/v1` EC2NodeClass.
#[derive(Debug, Clone, PartialEq)]
pub struct EC2NodeClass {
    pub name: String,
    pub metadata: ObjectMeta,
    pub spec: EC2NodeClassSpec,
    /// The manifest as written.
    pub raw: Value,
}

/// `amiFamily`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmiFamily {
    AL2,
    AL2023,
    Bottlerocket,
    Custom,
    Windows2019,
    Windows2022,
    Windows2025,
}

const AMI_FAMILIES: &[(&str, AmiFamily)] = &[
    ("AL2", AmiFamily::AL2),
    ("AL2023", AmiFamily::AL2023),
    ("Bottlerocket", AmiFamily::Bottlerocket),
    ("Custom", AmiFamily::Custom),
    ("Windows2019", AmiFamily::Windows2019),
    ("Windows2022", AmiFamily::Windows2022),
    ("Windows2025", AmiFamily::Windows2025),
];

/// Alias family prefixes and their families.
const ALIAS_FAMILIES: &[(&str, AmiFamily)] = &[
    ("al2", AmiFamily::AL2),
    ("al2023", AmiFamily::AL2023),
    ("bottlerocket", AmiFamily::Bottlerocket),
    ("windows2019", AmiFamily::Windows2019),
    ("windows2022", AmiFamily::Windows2022),
    ("windows2025", AmiFamily::Windows2025),
];

/// One `amiSelectorTerms` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AmiSelectorTerm {
    /// `family@version`, e.g. `al2023@latest`.
    pub alias: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub ssm_parameter: Option<String>,
}

/// One subnet or security-group selector term.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelectorTerm {
    pub tags: BTreeMap<String, String>,
    pub id: Option<String>,
    /// Security groups only.
    pub name: Option<String>,
}

/// One `capacityReservationSelectorTerms` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapacityReservationSelectorTerm {
    pub tags: BTreeMap<String, String>,
    pub id: Option<String>,
    pub owner_id: Option<String>,
    /// `open` or `targeted`.
    pub instance_match_criteria: Option<String>,
}

/// `placementGroupSelector`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlacementGroupSelector {
    pub name: Option<String>,
    pub id: Option<String>,
}

/// A kubelet eviction threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EvictionThreshold {
    /// Percent of the resource, 0..=100.
    Percent(f64),
    /// Absolute milli-value.
    Quantity(i64),
}

/// `spec.kubelet`: the fields Karpenter reads, plus any other upstream kubelet setting.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KubeletConfiguration {
    pub max_pods: Option<i32>,
    pub pods_per_core: Option<i32>,
    /// Resource (`cpu`, `memory`, `ephemeral-storage`, `pid`) → milli-value.
    pub system_reserved: BTreeMap<String, i64>,
    pub kube_reserved: BTreeMap<String, i64>,
    /// Signal (`memory.available`, ...) → threshold.
    pub eviction_hard: BTreeMap<String, EvictionThreshold>,
    pub eviction_soft: BTreeMap<String, EvictionThreshold>,
    /// Signal → milliseconds.
    pub eviction_soft_grace_period: BTreeMap<String, u64>,
    pub eviction_max_pod_grace_period: Option<i32>,
    pub image_gc_high_threshold_percent: Option<i32>,
    pub image_gc_low_threshold_percent: Option<i32>,
    pub cpu_cfs_quota: Option<bool>,
    pub cluster_dns: Vec<String>,
    /// Other upstream `KubeletConfiguration` fields, passed through unread.
    pub other: BTreeMap<String, Value>,
}

/// An EBS volume of a block device mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockDevice {
    pub delete_on_termination: Option<bool>,
    pub encrypted: Option<bool>,
    pub iops: Option<i64>,
    pub kms_key_id: Option<String>,
    pub snapshot_id: Option<String>,
    pub throughput: Option<i64>,
    pub volume_initialization_rate: Option<i64>,
    /// Milli-bytes.
    pub volume_size: Option<i64>,
    pub volume_type: Option<String>,
}

/// One `blockDeviceMappings` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockDeviceMapping {
    pub device_name: Option<String>,
    pub ebs: Option<BlockDevice>,
    pub root_volume: bool,
}

/// `metadataOptions`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataOptions {
    pub http_endpoint: Option<String>,
    pub http_protocol_ipv6: Option<String>,
    pub http_put_response_hop_limit: Option<i64>,
    pub http_tokens: Option<String>,
}

/// One `networkInterfaces` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkInterface {
    pub network_card_index: i64,
    pub device_index: i64,
    /// `interface` or `efa-only`.
    pub interface_type: String,
}

/// `connectionTracking`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionTracking {
    pub tcp_established_timeout: Option<i64>,
    pub udp_stream_timeout: Option<i64>,
    pub udp_timeout: Option<i64>,
}

/// `EC2NodeClass.spec`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EC2NodeClassSpec {
    pub ami_family: Option<AmiFamily>,
    pub ami_selector_terms: Vec<AmiSelectorTerm>,
    pub subnet_selector_terms: Vec<SelectorTerm>,
    pub security_group_selector_terms: Vec<SelectorTerm>,
    pub capacity_reservation_selector_terms: Vec<CapacityReservationSelectorTerm>,
    pub placement_group_selector: Option<PlacementGroupSelector>,
    pub associate_public_ip_address: Option<bool>,
    pub ip_prefix_count: Option<i64>,
    pub role: Option<String>,
    pub instance_profile: Option<String>,
    pub user_data: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub kubelet: Option<KubeletConfiguration>,
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    /// Only `RAID0` exists.
    pub instance_store_policy: Option<String>,
    pub network_interfaces: Vec<NetworkInterface>,
    pub detailed_monitoring: Option<bool>,
    pub metadata_options: Option<MetadataOptions>,
    pub connection_tracking: Option<ConnectionTracking>,
    pub context: Option<String>,
    /// `cpuOptions.nestedVirtualization` (`enabled`/`disabled`).
    pub cpu_nested_virtualization: Option<String>,
}

impl EC2NodeClass {
    /// The AMI family in effect: `amiFamily`, else the alias's family, else `Custom`
    /// (Karpenter's `AMIFamily()`).
    pub fn effective_ami_family(&self) -> AmiFamily {
        if let Some(f) = self.spec.ami_family {
            return f;
        }
        self.spec
            .ami_selector_terms
            .iter()
            .find_map(|t| t.alias.as_deref().and_then(alias_family))
            .unwrap_or(AmiFamily::Custom)
    }
}

fn alias_family(alias: &str) -> Option<AmiFamily> {
    let fam = alias.split('@').next()?;
    ALIAS_FAMILIES
        .iter()
        .find(|(n, _)| *n == fam)
        .map(|(_, f)| *f)
}

/// Parses multi-document Karpenter YAML (as `kubectl apply -f` takes it) into NodePools and
/// EC2NodeClasses. Every problem in the file is reported. `kind: List` is unwrapped; other
/// kinds are errors.
pub fn parse_manifests(
    text: &str,
    file: &Path,
) -> Result<(Vec<NodePool>, Vec<EC2NodeClass>), ConfigErrors> {
    let mut errors = Vec::new();
    let (pools, classes) = parse_manifests_into(text, file, &mut errors);
    ConfigErrors::result(errors, (pools, classes))
}

/// Like [`parse_manifests`], appending problems to `errors` and returning what parsed.
pub(crate) fn parse_manifests_into(
    text: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> (Vec<NodePool>, Vec<EC2NodeClass>) {
    parse_manifests_sited(text, file, errors, &mut Sites::default())
}

/// Source positions of parsed objects, parallel to the returned lists.
#[derive(Debug, Default)]
pub(crate) struct Sites {
    /// Per NodePool: (`metadata.name`, `spec.template.spec.nodeClassRef.name`).
    pub pools: Vec<(Option<Pos>, Option<Pos>)>,
    /// Per EC2NodeClass: `metadata.name`.
    pub classes: Vec<Option<Pos>>,
}

/// Like [`parse_manifests_into`], also recording where each object's name is.
pub(crate) fn parse_manifests_sited(
    text: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
    sites: &mut Sites,
) -> (Vec<NodePool>, Vec<EC2NodeClass>) {
    let mut pools = Vec::new();
    let mut classes = Vec::new();
    let docs = read_documents(text, file, errors);
    for doc in &docs {
        let mut ctx = Ctx::new(file, doc.pos.as_ref(), errors);
        manifest_object(&mut ctx, &doc.value, "", &mut pools, &mut classes, sites);
    }
    (pools, classes)
}

const KINDS: &[&str] = &["NodePool", "EC2NodeClass", "List"];

fn manifest_object(
    ctx: &mut Ctx,
    v: &Value,
    path: &str,
    pools: &mut Vec<NodePool>,
    classes: &mut Vec<EC2NodeClass>,
    sites: &mut Sites,
) {
    if v.is_null() {
        return; // empty document
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
    let kind = m.get("kind").and_then(Value::as_str);
    let api = m.get("apiVersion").and_then(Value::as_str);
    let kpath = join_key(path, "kind");
    match kind {
        None => ctx.error(
            if path.is_empty() { "kind" } else { &kpath },
            At::Key,
            "missing `kind` (expected NodePool or EC2NodeClass)",
            None,
        ),
        Some("NodePool") => {
            check_api(ctx, api, "karpenter.sh/v1", path);
            if let Some(p) = parse_nodepool_value(ctx, v, path) {
                if pools.iter().any(|q| q.name == p.name) {
                    let np = join_key(&join_key(path, "metadata"), "name");
                    ctx.err(
                        &np,
                        format!("NodePool `{}` is defined more than once", p.name),
                    );
                }
                let at = |q: &str| {
                    ctx.pos.and_then(|i| {
                        i.value(&format!(
                            "{}{q}",
                            if path.is_empty() {
                                String::new()
                            } else {
                                format!("{path}.")
                            }
                        ))
                    })
                };
                sites.pools.push((
                    at("metadata.name"),
                    at("spec.template.spec.nodeClassRef.name"),
                ));
                pools.push(p);
            }
        }
        Some("EC2NodeClass") => {
            check_api(ctx, api, "karpenter.k8s.aws/v1", path);
            if let Some(c) = parse_nodeclass_value(ctx, v, path) {
                if classes.iter().any(|q| q.name == c.name) {
                    let np = join_key(&join_key(path, "metadata"), "name");
                    ctx.err(
                        &np,
                        format!("EC2NodeClass `{}` is defined more than once", c.name),
                    );
                }
                let np = join_key(&join_key(path, "metadata"), "name");
                sites.classes.push(ctx.pos.and_then(|i| i.value(&np)));
                classes.push(c);
            }
        }
        Some("List") => {
            let o = ctx.obj(v, path, &["apiVersion", "kind", "metadata", "items"]);
            if let Some(items) = o.get("items") {
                let ipath = o.path("items");
                if let Value::Sequence(seq) = items {
                    for (i, item) in seq.iter().enumerate() {
                        manifest_object(ctx, item, &join_index(&ipath, i), pools, classes, sites);
                    }
                } else {
                    ctx.err(&ipath, "expected a list");
                }
            }
        }
        Some(other) => {
            let sugg = closest(other, KINDS.iter().copied());
            ctx.error(
                &kpath,
                At::Value,
                format!(
                    "kind `{other}` is not supported here: a nodepools file holds only NodePool \
                     (karpenter.sh/v1) and EC2NodeClass (karpenter.k8s.aws/v1) objects"
                ),
                sugg,
            );
        }
    }
}

fn check_api(ctx: &mut Ctx, api: Option<&str>, want: &str, path: &str) {
    let p = join_key(path, "apiVersion");
    match api {
        Some(a) if a == want => {}
        Some(a) => ctx.error(
            &p,
            At::Value,
            format!(
                "apiVersion `{a}` is not supported: karpsim reads Karpenter's v1 API (`{want}`)"
            ),
            Some(want.to_string()),
        ),
        None => ctx.error(
            &p,
            At::Key,
            format!("missing `apiVersion` (expected `{want}`)"),
            None,
        ),
    }
}

const TOP_KEYS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];

/// Parses one NodePool object (already known to be of kind NodePool).
pub(crate) fn parse_nodepool_value(ctx: &mut Ctx, v: &Value, path: &str) -> Option<NodePool> {
    let top = ctx.obj(v, path, TOP_KEYS);
    let metadata = match top.get("metadata") {
        Some(m) => parse_meta(ctx, m, &top.path("metadata"), true),
        None => {
            ctx.missing(&top, "metadata");
            ObjectMeta::default()
        }
    };
    let spec = match top.get("spec") {
        Some(s) => parse_nodepool_spec(ctx, s, &top.path("spec")),
        None => {
            ctx.missing(&top, "spec");
            None
        }
    };
    Some(NodePool {
        name: metadata.name.clone()?,
        metadata,
        spec: spec?,
        raw: v.clone(),
    })
}

fn parse_nodepool_spec(ctx: &mut Ctx, v: &Value, path: &str) -> Option<NodePoolSpec> {
    let o = ctx.obj(
        v,
        path,
        &["template", "disruption", "limits", "weight", "replicas"],
    );
    let template = match o.get("template") {
        Some(t) => parse_template(ctx, t, &o.path("template")),
        None => {
            ctx.missing(&o, "template");
            None
        }
    };
    let disruption = match o.get("disruption") {
        Some(d) => parse_disruption(ctx, d, &o.path("disruption")),
        None => Disruption::default(),
    };
    let limits = ctx.quantity_map(&o, "limits");
    for k in limits.keys() {
        if let Some(e) = qualified_name_error(k) {
            ctx.error(
                &join_key(&o.path("limits"), k),
                At::Key,
                format!("invalid resource name: {e}"),
                None,
            );
        }
    }
    let weight = ctx.int(&o, "weight", 1, 100).map(|w| w as i32);
    let replicas = ctx.int(&o, "replicas", 0, i64::MAX);
    if replicas.is_some() {
        if o.has("weight") {
            ctx.err(
                &o.path("weight"),
                "'weight' is not supported on static NodePools (replicas is set)",
            );
        }
        if limits.keys().any(|k| k != "nodes") {
            ctx.err(
                &o.path("limits"),
                "only 'limits.nodes' is supported on static NodePools (replicas is set)",
            );
        }
    }
    Some(NodePoolSpec {
        template: template?,
        disruption,
        limits,
        weight,
        replicas,
    })
}

fn parse_template(ctx: &mut Ctx, v: &Value, path: &str) -> Option<NodeClaimTemplate> {
    let o = ctx.obj(v, path, &["metadata", "spec"]);
    let mut labels = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    if let Some(m) = o.get("metadata") {
        let mo = ctx.obj(m, &o.path("metadata"), &["labels", "annotations"]);
        labels = ctx.str_map(&mo, "labels");
        let lpath = mo.path("labels");
        for (k, val) in &labels {
            let p = join_key(&lpath, k);
            if let Some(e) = qualified_name_error(k) {
                ctx.error(&p, At::Key, format!("invalid label key: {e}"), None);
            } else if let Some(e) = nodepool_key_restriction(k) {
                ctx.error(&p, At::Key, e, None);
            }
            if let Some(e) = label_value_error(val) {
                ctx.err(&p, format!("invalid label value: {e}"));
            }
        }
        annotations = ctx.str_map(&mo, "annotations");
    }
    let spec = match o.get("spec") {
        Some(s) => parse_template_spec(ctx, s, &o.path("spec")),
        None => {
            ctx.missing(&o, "spec");
            None
        }
    };
    Some(NodeClaimTemplate {
        labels,
        annotations,
        spec: spec?,
    })
}

fn parse_template_spec(ctx: &mut Ctx, v: &Value, path: &str) -> Option<NodeClaimTemplateSpec> {
    let o = ctx.obj(
        v,
        path,
        &[
            "taints",
            "startupTaints",
            "requirements",
            "nodeClassRef",
            "terminationGracePeriod",
            "expireAfter",
        ],
    );
    let taints = ctx.list(&o, "taints", parse_taint);
    let startup_taints = ctx.list(&o, "startupTaints", parse_taint);
    check_duplicate_taints(
        ctx,
        &[
            (&o.path("taints"), &taints),
            (&o.path("startupTaints"), &startup_taints),
        ],
    );
    if !o.has("requirements") {
        ctx.missing(&o, "requirements");
    }
    let requirements = ctx.list(&o, "requirements", |c, v, p| {
        parse_requirement(c, v, p, ReqFlavor::NodePool)
    });
    if let Some(Value::Sequence(s)) = o.get("requirements")
        && s.len() > 100
    {
        ctx.err(
            &o.path("requirements"),
            "at most 100 requirements are allowed",
        );
    }
    let node_class_ref = match o.get("nodeClassRef") {
        Some(r) => parse_node_class_ref(ctx, r, &o.path("nodeClassRef")),
        None => {
            ctx.missing(&o, "nodeClassRef");
            None
        }
    };
    let expire_after = ctx
        .maybe_never(&o, "expireAfter", true)
        .unwrap_or(MaybeNever::After(720 * 3_600_000));
    let termination_grace_period_ms = ctx.duration(&o, "terminationGracePeriod", DurSyntax::Whole);
    Some(NodeClaimTemplateSpec {
        requirements,
        taints,
        startup_taints,
        node_class_ref: node_class_ref?,
        expire_after,
        termination_grace_period_ms,
    })
}

fn parse_node_class_ref(ctx: &mut Ctx, v: &Value, path: &str) -> Option<NodeClassRef> {
    let o = ctx.obj(v, path, &["group", "kind", "name"]);
    o.map?;
    let group = ctx.req_string(&o, "group");
    let kind = ctx.req_string(&o, "kind");
    let name = ctx.req_string(&o, "name");
    if let Some(g) = &group {
        if g.contains('/') {
            ctx.err(
                &o.path("group"),
                format!("`{g}` is not an API group (it may not contain '/'; drop the version)"),
            );
        } else if g != "karpenter.k8s.aws" {
            ctx.error(
                &o.path("group"),
                At::Value,
                format!("group `{g}` is not simulated: karpsim models the AWS provider (group karpenter.k8s.aws)"),
                Some("karpenter.k8s.aws".into()),
            );
        }
    }
    if let Some(k) = &kind
        && k != "EC2NodeClass"
    {
        ctx.error(
            &o.path("kind"),
            At::Value,
            format!(
                "kind `{k}` is not simulated: karpsim models the AWS provider (kind EC2NodeClass)"
            ),
            Some("EC2NodeClass".into()),
        );
    }
    Some(NodeClassRef {
        group: group?,
        kind: kind?,
        name: name?,
    })
}

fn parse_disruption(ctx: &mut Ctx, v: &Value, path: &str) -> Disruption {
    let o = ctx.obj(
        v,
        path,
        &[
            "consolidateAfter",
            "consolidationPolicy",
            "budgets",
            "consolidateWhen",
            "decisionRatioThreshold",
        ],
    );
    let mut d = Disruption::default();
    if let Some(p) = ctx.enumv(
        &o,
        "consolidationPolicy",
        &[
            ("WhenEmpty", ConsolidationPolicy::WhenEmpty),
            (
                "WhenEmptyOrUnderutilized",
                ConsolidationPolicy::WhenEmptyOrUnderutilized,
            ),
            ("Balanced", ConsolidationPolicy::Balanced),
        ],
    ) {
        d.consolidation_policy = p;
    }
    if let Some(a) = ctx.maybe_never(&o, "consolidateAfter", true) {
        d.consolidate_after = a;
    }
    d.consolidate_when = ctx.enumv(
        &o,
        "consolidateWhen",
        &[
            ("WhenEmpty", ConsolidateWhen::WhenEmpty),
            (
                "WhenEmptyOrUnderutilized",
                ConsolidateWhen::WhenEmptyOrUnderutilized,
            ),
            (
                "WhenCostJustifiesDisruption",
                ConsolidateWhen::WhenCostJustifiesDisruption,
            ),
        ],
    );
    d.decision_ratio_threshold = ctx.float(&o, "decisionRatioThreshold");
    if let Some(t) = d.decision_ratio_threshold
        && t <= 0.0
    {
        ctx.err(&o.path("decisionRatioThreshold"), "must be greater than 0");
    }
    if o.has("budgets") {
        d.budgets = ctx.list(&o, "budgets", parse_budget);
        if let Some(Value::Sequence(s)) = o.get("budgets")
            && s.len() > 50
        {
            ctx.err(&o.path("budgets"), "at most 50 budgets are allowed");
        }
    }
    d
}

const CRON_MACROS: &[&str] = &[
    "@annually",
    "@yearly",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// Checks a budget schedule the way Karpenter's CRD pattern and cron parser would.
pub(crate) fn cron_error(s: &str) -> Option<(String, Option<String>)> {
    let t = s.trim();
    if t.starts_with('@') {
        if CRON_MACROS.contains(&t) {
            return None;
        }
        return Some((
            format!(
                "`{s}` is not a supported schedule macro ({})",
                CRON_MACROS.join(", ")
            ),
            closest(t, CRON_MACROS.iter().copied()),
        ));
    }
    let fields: Vec<&str> = t.split_whitespace().collect();
    if fields.len() != 5 {
        return Some((
            format!(
                "`{s}` has {} fields: a schedule is 5 cron fields (minute hour day-of-month month \
                 day-of-week, UTC) or a macro such as @daily",
                fields.len()
            ),
            None,
        ));
    }
    match t.parse::<croner::Cron>() {
        Ok(_) => None,
        Err(e) => Some((format!("`{s}` is not a valid cron schedule: {e}"), None)),
    }
}

fn parse_budget(ctx: &mut Ctx, v: &Value, path: &str) -> Option<Budget> {
    let o = ctx.obj(v, path, &["nodes", "schedule", "duration", "reasons"]);
    o.map?;
    let mut b = Budget::default();
    if let Some(n) = o.get("nodes") {
        let np = o.path("nodes");
        let s = match n {
            Value::String(s) => Some(s.clone()),
            Value::Number(num) => {
                ctx.err(
                    &np,
                    format!("expected a string, got an integer (quote it: \"{num}\")"),
                );
                None
            }
            other => {
                ctx.err(
                    &np,
                    format!("expected a string, got {}", super::walk::type_name(other)),
                );
                None
            }
        };
        if let Some(s) = s {
            match parse_budget_nodes(&s) {
                Some(n) => b.nodes = n,
                None => ctx.err(
                    &np,
                    format!(
                        "`{s}` is not valid: nodes must be a count (\"5\") or a percentage from 0% \
                         to 100% (\"10%\"), matching ^((100|[0-9]{{1,2}})%|[0-9]+)$"
                    ),
                ),
            }
        }
    }
    b.schedule = ctx.string(&o, "schedule");
    if let Some(s) = &b.schedule
        && let Some((msg, sugg)) = cron_error(s)
    {
        ctx.error(&o.path("schedule"), At::Value, msg, sugg);
    }
    b.duration_ms = ctx.duration(&o, "duration", DurSyntax::HoursMinutes);
    if o.has("schedule") != o.has("duration") {
        ctx.err(&o.path, "'schedule' must be set with 'duration'");
    }
    if o.has("reasons") {
        let reasons = ctx.list(&o, "reasons", |c, v, p| {
            c.v_enum(
                v,
                p,
                &[
                    ("Underutilized", DisruptionReason::Underutilized),
                    ("Empty", DisruptionReason::Empty),
                    ("Drifted", DisruptionReason::Drifted),
                ],
            )
        });
        b.reasons = Some(reasons);
    }
    Some(b)
}

/// Parses a budget's `nodes` (`^((100|[0-9]{1,2})%|[0-9]+)$`).
pub fn parse_budget_nodes(s: &str) -> Option<BudgetNodes> {
    if let Some(p) = s.strip_suffix('%') {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if p.len() == 3 && p != "100" {
            return None;
        }
        return p
            .parse::<u8>()
            .ok()
            .filter(|v| *v <= 100)
            .map(BudgetNodes::Percent);
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Huge counts are equivalent to "unbounded".
    Some(BudgetNodes::Count(s.parse::<u32>().unwrap_or(u32::MAX)))
}

// ---------------------------------------------------------------- EC2NodeClass

const NODECLASS_SPEC_KEYS: &[&str] = &[
    "amiFamily",
    "amiSelectorTerms",
    "subnetSelectorTerms",
    "securityGroupSelectorTerms",
    "capacityReservationSelectorTerms",
    "placementGroupSelector",
    "associatePublicIPAddress",
    "ipPrefixCount",
    "role",
    "instanceProfile",
    "userData",
    "tags",
    "kubelet",
    "blockDeviceMappings",
    "instanceStorePolicy",
    "networkInterfaces",
    "detailedMonitoring",
    "metadataOptions",
    "connectionTracking",
    "context",
    "cpuOptions",
];

/// Parses one EC2NodeClass object.
pub(crate) fn parse_nodeclass_value(ctx: &mut Ctx, v: &Value, path: &str) -> Option<EC2NodeClass> {
    let top = ctx.obj(v, path, TOP_KEYS);
    let metadata = match top.get("metadata") {
        Some(m) => parse_meta(ctx, m, &top.path("metadata"), true),
        None => {
            ctx.missing(&top, "metadata");
            ObjectMeta::default()
        }
    };
    let spec = match top.get("spec") {
        Some(s) => Some(parse_nodeclass_spec(ctx, s, &top.path("spec"))),
        None => {
            ctx.missing(&top, "spec");
            None
        }
    };
    Some(EC2NodeClass {
        name: metadata.name.clone()?,
        metadata,
        spec: spec?,
        raw: v.clone(),
    })
}

fn tag_map(ctx: &mut Ctx, o: &Obj, key: &str) -> BTreeMap<String, String> {
    let tags = ctx.str_map(o, key);
    let base = o.path(key);
    for (k, v) in &tags {
        if k.is_empty() || v.is_empty() {
            ctx.err(
                &join_key(&base, k),
                "empty tag keys or values aren't supported",
            );
        }
    }
    tags
}

fn check_pattern(ctx: &mut Ctx, o: &Obj, key: &str, value: &Option<String>, prefix: &str) {
    if let Some(s) = value {
        let rest = s.strip_prefix(prefix);
        let ok = rest.is_some_and(|r| {
            !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if !ok {
            ctx.err(
                &o.path(key),
                format!("`{s}` is not a valid id (expected {prefix}[0-9a-z]+)"),
            );
        }
    }
}

fn parse_nodeclass_spec(ctx: &mut Ctx, v: &Value, path: &str) -> EC2NodeClassSpec {
    let o = ctx.obj(v, path, NODECLASS_SPEC_KEYS);
    let mut s = EC2NodeClassSpec {
        ami_family: ctx.enumv(&o, "amiFamily", AMI_FAMILIES),
        ..Default::default()
    };

    // amiSelectorTerms
    if !o.has("amiSelectorTerms") {
        ctx.missing(&o, "amiSelectorTerms");
    }
    s.ami_selector_terms = ctx.list(&o, "amiSelectorTerms", |c, v, p| {
        let t = c.obj(v, p, &["alias", "tags", "id", "name", "owner", "ssmParameter"]);
        t.map?;
        let term = AmiSelectorTerm {
            alias: c.string(&t, "alias"),
            tags: tag_map(c, &t, "tags"),
            id: c.string(&t, "id"),
            name: c.string(&t, "name"),
            owner: c.string(&t, "owner"),
            ssm_parameter: c.string(&t, "ssmParameter"),
        };
        check_pattern(c, &t, "id", &term.id, "ami-");
        if let Some(a) = &term.alias {
            check_alias(c, &t.path("alias"), a);
            if term.id.is_some() || !term.tags.is_empty() || term.name.is_some() || term.owner.is_some() {
                c.err(p, "'alias' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms");
            }
        }
        if term.id.is_some() && (!term.tags.is_empty() || term.name.is_some() || term.owner.is_some()) {
            c.err(p, "'id' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms");
        }
        if term.alias.is_none() && term.tags.is_empty() && term.id.is_none() && term.name.is_none() && term.ssm_parameter.is_none() {
            c.err(p, "expected at least one, got none, ['tags', 'id', 'name', 'alias', 'ssmParameter']");
        }
        Some(term)
    });
    let alias_term = s.ami_selector_terms.iter().find_map(|t| t.alias.clone());
    if alias_term.is_some() && s.ami_selector_terms.len() != 1 {
        ctx.err(&o.path("amiSelectorTerms"), "'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms");
    }
    if matches!(o.get("amiSelectorTerms"), Some(Value::Sequence(q)) if q.is_empty()) {
        ctx.err(
            &o.path("amiSelectorTerms"),
            "amiSelectorTerms must have at least one term",
        );
    }
    match (&alias_term, s.ami_family) {
        (None, None) if o.has("amiSelectorTerms") => {
            ctx.error(
                &o.path("amiFamily"),
                At::Key,
                "must specify amiFamily if amiSelectorTerms does not contain an alias",
                None,
            );
        }
        (Some(a), Some(f)) => {
            if let Some(af) = alias_family(a)
                && f != af
                && f != AmiFamily::Custom
            {
                ctx.err(
                    &o.path("amiFamily"),
                    format!(
                        "if set, amiFamily must be '{af:?}' or 'Custom' when using a {af:?} alias"
                    ),
                );
            }
        }
        _ => {}
    }

    // subnets and security groups
    for (key, allow_name, prefix) in [
        ("subnetSelectorTerms", false, "subnet-"),
        ("securityGroupSelectorTerms", true, "sg-"),
    ] {
        if !o.has(key) {
            ctx.missing(&o, key);
        }
        let keys: &[&str] = if allow_name {
            &["tags", "id", "name"]
        } else {
            &["tags", "id"]
        };
        let terms = ctx.list(&o, key, |c, v, p| {
            let t = c.obj(v, p, keys);
            t.map?;
            let term = SelectorTerm {
                tags: tag_map(c, &t, "tags"),
                id: c.string(&t, "id"),
                name: if allow_name {
                    c.string(&t, "name")
                } else {
                    None
                },
            };
            check_pattern(c, &t, "id", &term.id, prefix);
            let n = usize::from(!term.tags.is_empty())
                + usize::from(term.id.is_some())
                + usize::from(term.name.is_some());
            if n == 0 {
                c.err(
                    p,
                    format!(
                        "expected at least one, got none, {}",
                        if allow_name {
                            "['tags', 'id', 'name']"
                        } else {
                            "['tags', 'id']"
                        }
                    ),
                );
            } else if n > 1 && (term.id.is_some() || term.name.is_some()) {
                c.err(
                    p,
                    "'id' and 'name' are mutually exclusive with other fields of a selector term",
                );
            }
            Some(term)
        });
        if o.has(key)
            && terms.is_empty()
            && matches!(o.get(key), Some(Value::Sequence(q)) if q.is_empty())
        {
            ctx.err(&o.path(key), format!("{key} cannot be empty"));
        }
        if allow_name {
            s.security_group_selector_terms = terms;
        } else {
            s.subnet_selector_terms = terms;
        }
    }

    s.capacity_reservation_selector_terms = ctx.list(&o, "capacityReservationSelectorTerms", |c, v, p| {
        let t = c.obj(v, p, &["tags", "id", "ownerID", "instanceMatchCriteria"]);
        t.map?;
        let term = CapacityReservationSelectorTerm {
            tags: tag_map(c, &t, "tags"),
            id: c.string(&t, "id"),
            owner_id: c.string(&t, "ownerID"),
            instance_match_criteria: c.enumv(&t, "instanceMatchCriteria", &[("open", "open"), ("targeted", "targeted")]).map(str::to_string),
        };
        check_pattern(c, &t, "id", &term.id, "cr-");
        if let Some(owner) = &term.owner_id
            && (owner.len() != 12 || !owner.bytes().all(|b| b.is_ascii_digit()))
        {
            c.err(&t.path("ownerID"), format!("`{owner}` is not a 12-digit AWS account id"));
        }
        if term.tags.is_empty() && term.id.is_none() && term.instance_match_criteria.is_none() {
            c.err(p, "expected at least one, got none, ['tags', 'id', 'instanceMatchCriteria']");
        }
        if term.id.is_some() && (!term.tags.is_empty() || term.owner_id.is_some() || term.instance_match_criteria.is_some()) {
            c.err(p, "'id' is mutually exclusive, cannot be set along with other fields in a capacity reservation selector term");
        }
        Some(term)
    });

    if let Some(pg) = o.get("placementGroupSelector") {
        let t = ctx.obj(pg, &o.path("placementGroupSelector"), &["name", "id"]);
        let sel = PlacementGroupSelector {
            name: ctx.string(&t, "name"),
            id: ctx.string(&t, "id"),
        };
        check_pattern(ctx, &t, "id", &sel.id, "pg-");
        match (&sel.name, &sel.id) {
            (None, None) => ctx.err(&t.path, "expected at least one, got none, ['name', 'id']"),
            (Some(_), Some(_)) => ctx.err(&t.path, "'name' and 'id' are mutually exclusive"),
            _ => {}
        }
        s.placement_group_selector = Some(sel);
    }

    s.associate_public_ip_address = ctx.bool(&o, "associatePublicIPAddress");
    s.ip_prefix_count = ctx.int(&o, "ipPrefixCount", 0, i32::MAX as i64);
    s.role = ctx.string(&o, "role");
    s.instance_profile = ctx.string(&o, "instanceProfile");
    if s.role.as_deref() == Some("") {
        ctx.err(&o.path("role"), "role cannot be empty");
    }
    if s.instance_profile.as_deref() == Some("") {
        ctx.err(
            &o.path("instanceProfile"),
            "instanceProfile cannot be empty",
        );
    }
    if o.has("role") == o.has("instanceProfile") {
        ctx.error(
            &o.path,
            At::Key,
            "must specify exactly one of ['role', 'instanceProfile']",
            None,
        );
    }
    s.user_data = ctx.string(&o, "userData");
    s.tags = tag_map(ctx, &o, "tags");
    let tpath = o.path("tags");
    for k in s.tags.keys() {
        let restricted = k == "eks:eks-cluster-name"
            || k.starts_with("kubernetes.io/cluster")
            || k == "karpenter.sh/nodepool"
            || k == "karpenter.sh/nodeclaim"
            || k == "karpenter.k8s.aws/ec2nodeclass";
        if restricted {
            ctx.error(
                &join_key(&tpath, k),
                At::Key,
                format!("tag contains a restricted tag matching {k}"),
                None,
            );
        }
    }
    if let Some(k) = o.get("kubelet") {
        s.kubelet = Some(parse_kubelet(ctx, k, &o.path("kubelet")));
    }
    s.block_device_mappings = ctx.list(&o, "blockDeviceMappings", parse_block_device_mapping);
    if s.block_device_mappings
        .iter()
        .filter(|b| b.root_volume)
        .count()
        > 1
    {
        ctx.err(
            &o.path("blockDeviceMappings"),
            "must have only one blockDeviceMappings with rootVolume",
        );
    }
    s.instance_store_policy = ctx
        .enumv(&o, "instanceStorePolicy", &[("RAID0", "RAID0")])
        .map(str::to_string);
    s.network_interfaces = ctx.list(&o, "networkInterfaces", |c, v, p| {
        let t = c.obj(v, p, &["networkCardIndex", "deviceIndex", "interfaceType"]);
        t.map?;
        for k in ["networkCardIndex", "deviceIndex", "interfaceType"] {
            if !t.has(k) {
                c.missing(&t, k);
            }
        }
        Some(NetworkInterface {
            network_card_index: c.int(&t, "networkCardIndex", 0, i32::MAX as i64)?,
            device_index: c.int(&t, "deviceIndex", 0, i32::MAX as i64)?,
            interface_type: c
                .enumv(
                    &t,
                    "interfaceType",
                    &[("interface", "interface"), ("efa-only", "efa-only")],
                )?
                .to_string(),
        })
    });
    if !s.network_interfaces.is_empty()
        && !s.network_interfaces.iter().any(|n| {
            n.device_index == 0 && n.network_card_index == 0 && n.interface_type == "interface"
        })
    {
        ctx.err(
            &o.path("networkInterfaces"),
            "networkInterfaces must include a primary interface with interfaceType='interface'",
        );
    }
    s.detailed_monitoring = ctx.bool(&o, "detailedMonitoring");
    if let Some(m) = o.get("metadataOptions") {
        let t = ctx.obj(
            m,
            &o.path("metadataOptions"),
            &[
                "httpEndpoint",
                "httpProtocolIPv6",
                "httpPutResponseHopLimit",
                "httpTokens",
            ],
        );
        let ed = &[("enabled", "enabled"), ("disabled", "disabled")];
        s.metadata_options = Some(MetadataOptions {
            http_endpoint: ctx.enumv(&t, "httpEndpoint", ed).map(str::to_string),
            http_protocol_ipv6: ctx.enumv(&t, "httpProtocolIPv6", ed).map(str::to_string),
            http_put_response_hop_limit: ctx.int(&t, "httpPutResponseHopLimit", 1, 64),
            http_tokens: ctx
                .enumv(
                    &t,
                    "httpTokens",
                    &[("required", "required"), ("optional", "optional")],
                )
                .map(str::to_string),
        });
    }
    if let Some(m) = o.get("connectionTracking") {
        let t = ctx.obj(
            m,
            &o.path("connectionTracking"),
            &["tcpEstablishedTimeout", "udpStreamTimeout", "udpTimeout"],
        );
        let ct = ConnectionTracking {
            tcp_established_timeout: ctx.int(&t, "tcpEstablishedTimeout", 60, 432_000),
            udp_stream_timeout: ctx.int(&t, "udpStreamTimeout", 60, 180),
            udp_timeout: ctx.int(&t, "udpTimeout", 30, 60),
        };
        if !t.has("tcpEstablishedTimeout") && !t.has("udpStreamTimeout") && !t.has("udpTimeout") {
            ctx.err(&t.path, "at least one of tcpEstablishedTimeout, udpStreamTimeout, or udpTimeout must be set");
        }
        s.connection_tracking = Some(ct);
    }
    s.context = ctx.string(&o, "context");
    if let Some(c) = o.get("cpuOptions") {
        let t = ctx.obj(c, &o.path("cpuOptions"), &["nestedVirtualization"]);
        s.cpu_nested_virtualization = ctx
            .enumv(
                &t,
                "nestedVirtualization",
                &[("enabled", "enabled"), ("disabled", "disabled")],
            )
            .map(str::to_string);
    }
    s
}

fn check_alias(ctx: &mut Ctx, path: &str, alias: &str) {
    let Some((fam, ver)) = alias.split_once('@') else {
        ctx.err(
            path,
            format!(
                "'alias' `{alias}` is improperly formatted, must match the format 'family@version'"
            ),
        );
        return;
    };
    if fam.is_empty() || !fam.bytes().all(|b| b.is_ascii_alphanumeric()) || ver.is_empty() {
        ctx.err(
            path,
            format!(
                "'alias' `{alias}` is improperly formatted, must match the format 'family@version'"
            ),
        );
        return;
    }
    if alias_family(alias).is_none() {
        let sugg =
            closest(fam, ALIAS_FAMILIES.iter().map(|(n, _)| *n)).map(|f| format!("{f}@{ver}"));
        ctx.error(
            path,
            At::Value,
            format!("family `{fam}` is not supported, must be one of the following: 'al2', 'al2023', 'bottlerocket', 'windows2019', 'windows2022', 'windows2025'"),
            sugg,
        );
        return;
    }
    if fam.starts_with("windows") && ver != "latest" {
        ctx.err(path, "windows families may only specify version 'latest'");
    }
}

fn parse_block_device_mapping(ctx: &mut Ctx, v: &Value, path: &str) -> Option<BlockDeviceMapping> {
    let o = ctx.obj(v, path, &["deviceName", "ebs", "rootVolume"]);
    o.map?;
    let mut b = BlockDeviceMapping {
        device_name: ctx.string(&o, "deviceName"),
        ebs: None,
        root_volume: ctx.bool(&o, "rootVolume").unwrap_or(false),
    };
    if let Some(e) = o.get("ebs") {
        let t = ctx.obj(
            e,
            &o.path("ebs"),
            &[
                "deleteOnTermination",
                "encrypted",
                "iops",
                "kmsKeyID",
                "snapshotID",
                "throughput",
                "volumeInitializationRate",
                "volumeSize",
                "volumeType",
            ],
        );
        let dev = BlockDevice {
            delete_on_termination: ctx.bool(&t, "deleteOnTermination"),
            encrypted: ctx.bool(&t, "encrypted"),
            iops: ctx.int(&t, "iops", 0, i64::MAX),
            kms_key_id: ctx.string(&t, "kmsKeyID"),
            snapshot_id: ctx.string(&t, "snapshotID"),
            throughput: ctx.int(&t, "throughput", 0, i64::MAX),
            volume_initialization_rate: ctx.int(&t, "volumeInitializationRate", 100, 300),
            volume_size: ctx.quantity(&t, "volumeSize"),
            volume_type: ctx
                .enumv(
                    &t,
                    "volumeType",
                    &[
                        ("standard", "standard"),
                        ("io1", "io1"),
                        ("io2", "io2"),
                        ("gp2", "gp2"),
                        ("sc1", "sc1"),
                        ("st1", "st1"),
                        ("gp3", "gp3"),
                    ],
                )
                .map(str::to_string),
        };
        if !t.has("snapshotID") && !t.has("volumeSize") {
            ctx.err(&t.path, "snapshotID or volumeSize must be defined");
        }
        if let Some(sz) = dev.volume_size {
            // 1Gi ..= 64000G (the CRD pattern's range)
            const GI: i64 = 1 << 30;
            if sz < GI.saturating_mul(1000) || sz > 64_000_000_000_000i64.saturating_mul(1000) {
                ctx.err(
                    &t.path("volumeSize"),
                    "volumeSize must be between 1Gi and 64000G (64T)",
                );
            }
        }
        b.ebs = Some(dev);
    }
    Some(b)
}

const KUBELET_KEYS: &[&str] = &[
    "maxPods",
    "podsPerCore",
    "systemReserved",
    "kubeReserved",
    "evictionHard",
    "evictionSoft",
    "evictionSoftGracePeriod",
    "evictionMaxPodGracePeriod",
    "imageGCHighThresholdPercent",
    "imageGCLowThresholdPercent",
    "cpuCFSQuota",
    "clusterDNS",
];

/// Other upstream `KubeletConfiguration` (kubelet.config.k8s.io/v1beta1) fields, which
/// recent Karpenter versions pass through to the node's kubelet.
pub const KUBELET_PASSTHROUGH_KEYS: &[&str] = &[
    "enableServer",
    "staticPodPath",
    "podLogsDir",
    "syncFrequency",
    "fileCheckFrequency",
    "httpCheckFrequency",
    "staticPodURL",
    "staticPodURLHeader",
    "address",
    "port",
    "readOnlyPort",
    "tlsCertFile",
    "tlsPrivateKeyFile",
    "tlsCipherSuites",
    "tlsMinVersion",
    "rotateCertificates",
    "serverTLSBootstrap",
    "authentication",
    "authorization",
    "registryPullQPS",
    "registryBurst",
    "imagePullCredentialsVerificationPolicy",
    "preloadedImagesVerificationAllowlist",
    "eventRecordQPS",
    "eventBurst",
    "enableDebuggingHandlers",
    "enableContentionProfiling",
    "healthzPort",
    "healthzBindAddress",
    "oomScoreAdj",
    "clusterDomain",
    "streamingConnectionIdleTimeout",
    "nodeStatusUpdateFrequency",
    "nodeStatusReportFrequency",
    "nodeLeaseDurationSeconds",
    "imageMinimumGCAge",
    "imageMaximumGCAge",
    "volumeStatsAggPeriod",
    "kubeletCgroups",
    "systemCgroups",
    "cgroupRoot",
    "cgroupsPerQOS",
    "cgroupDriver",
    "cpuManagerPolicy",
    "singleProcessOOMKill",
    "cpuManagerPolicyOptions",
    "cpuManagerReconcilePeriod",
    "memoryManagerPolicy",
    "topologyManagerPolicy",
    "topologyManagerScope",
    "topologyManagerPolicyOptions",
    "qosReserved",
    "runtimeRequestTimeout",
    "hairpinMode",
    "podCIDR",
    "podPidsLimit",
    "resolvConf",
    "runOnce",
    "cpuCFSQuotaPeriod",
    "nodeStatusMaxImages",
    "maxOpenFiles",
    "contentType",
    "kubeAPIQPS",
    "kubeAPIBurst",
    "serializeImagePulls",
    "maxParallelImagePulls",
    "evictionPressureTransitionPeriod",
    "evictionMinimumReclaim",
    "mergeDefaultEvictionSettings",
    "enableControllerAttachDetach",
    "protectKernelDefaults",
    "makeIPTablesUtilChains",
    "iptablesMasqueradeBit",
    "iptablesDropBit",
    "featureGates",
    "failSwapOn",
    "memorySwap",
    "containerLogMaxSize",
    "containerLogMaxFiles",
    "containerLogMaxWorkers",
    "containerLogMonitorInterval",
    "configMapAndSecretChangeDetectionStrategy",
    "reservedSystemCPUs",
    "showHiddenMetricsForVersion",
    "systemReservedCgroup",
    "kubeReservedCgroup",
    "enforceNodeAllocatable",
    "allowedUnsafeSysctls",
    "volumePluginDir",
    "providerID",
    "kernelMemcgNotification",
    "logging",
    "enableSystemLogHandler",
    "enableSystemLogQuery",
    "shutdownGracePeriod",
    "shutdownGracePeriodCriticalPods",
    "shutdownGracePeriodByPodPriority",
    "crashLoopBackOff",
    "reservedMemory",
    "enableProfilingHandler",
    "enableDebugFlagsHandler",
    "seccompDefault",
    "memoryThrottlingFactor",
    "registerNode",
    "tracing",
    "localStorageCapacityIsolation",
    "containerRuntimeEndpoint",
    "imageServiceEndpoint",
    "failCgroupV1",
    "userNamespaces",
];

const EVICTION_SIGNALS: &[&str] = &[
    "memory.available",
    "nodefs.available",
    "nodefs.inodesFree",
    "imagefs.available",
    "imagefs.inodesFree",
    "pid.available",
];

fn parse_threshold_map(ctx: &mut Ctx, o: &Obj, key: &str) -> BTreeMap<String, EvictionThreshold> {
    let mut out = BTreeMap::new();
    let Some(v) = o.get(key) else { return out };
    let base = o.path(key);
    for (k, val) in ctx.entries(v, &base) {
        let p = join_key(&base, &k);
        if !EVICTION_SIGNALS.contains(&k.as_str()) {
            ctx.error(
                &p,
                At::Key,
                format!(
                    "`{k}` is not an eviction signal ({})",
                    EVICTION_SIGNALS.join(", ")
                ),
                closest(&k, EVICTION_SIGNALS.iter().copied()),
            );
            continue;
        }
        let Some(s) = ctx.v_string(val, &p) else {
            continue;
        };
        if let Some(pct) = s.strip_suffix('%') {
            match pct.parse::<f64>() {
                Ok(f) if (0.0..=100.0).contains(&f) => {
                    out.insert(k, EvictionThreshold::Percent(f));
                }
                _ => ctx.err(
                    &p,
                    format!("`{s}` must be a percentage (0-100%) or a resource quantity"),
                ),
            }
        } else {
            match crate::units::parse_quantity_milli(&s) {
                Ok(q) if q >= 0 => {
                    out.insert(k, EvictionThreshold::Quantity(q));
                }
                _ => ctx.err(
                    &p,
                    format!("`{s}` must be a percentage or a non-negative resource quantity"),
                ),
            }
        }
    }
    out
}

fn parse_kubelet(ctx: &mut Ctx, v: &Value, path: &str) -> KubeletConfiguration {
    let o = ctx.obj_ignoring(v, path, KUBELET_KEYS, KUBELET_PASSTHROUGH_KEYS);
    let mut k = KubeletConfiguration {
        max_pods: ctx.int(&o, "maxPods", 0, i32::MAX as i64).map(|n| n as i32),
        pods_per_core: ctx
            .int(&o, "podsPerCore", 0, i32::MAX as i64)
            .map(|n| n as i32),
        ..Default::default()
    };
    for (key, target) in [("systemReserved", 0), ("kubeReserved", 1)] {
        let m = ctx.quantity_map(&o, key);
        let base = o.path(key);
        for (r, q) in &m {
            if !["cpu", "memory", "ephemeral-storage", "pid"].contains(&r.as_str()) {
                ctx.error(
                    &join_key(&base, r),
                    At::Key,
                    format!("`{r}` cannot be reserved (use cpu, memory, ephemeral-storage or pid)"),
                    closest(r, ["cpu", "memory", "ephemeral-storage", "pid"]),
                );
            } else if *q < 0 {
                ctx.err(&join_key(&base, r), "reserved amounts may not be negative");
            }
        }
        if target == 0 {
            k.system_reserved = m;
        } else {
            k.kube_reserved = m;
        }
    }
    k.eviction_hard = parse_threshold_map(ctx, &o, "evictionHard");
    k.eviction_soft = parse_threshold_map(ctx, &o, "evictionSoft");
    if let Some(g) = o.get("evictionSoftGracePeriod") {
        let base = o.path("evictionSoftGracePeriod");
        for (sig, val) in ctx.entries(g, &base) {
            let p = join_key(&base, &sig);
            if !EVICTION_SIGNALS.contains(&sig.as_str()) {
                ctx.error(
                    &p,
                    At::Key,
                    format!("`{sig}` is not an eviction signal"),
                    closest(&sig, EVICTION_SIGNALS.iter().copied()),
                );
                continue;
            }
            if let Some(ms) = ctx.v_duration(val, &p, DurSyntax::Go) {
                k.eviction_soft_grace_period.insert(sig, ms);
            }
        }
    }
    for sig in k.eviction_soft.keys() {
        if !k.eviction_soft_grace_period.contains_key(sig) {
            ctx.err(
                &join_key(&o.path("evictionSoft"), sig),
                format!("evictionSoft {sig} needs a matching evictionSoftGracePeriod"),
            );
        }
    }
    for sig in k.eviction_soft_grace_period.keys() {
        if !k.eviction_soft.contains_key(sig) {
            ctx.err(
                &join_key(&o.path("evictionSoftGracePeriod"), sig),
                format!("evictionSoftGracePeriod {sig} needs a matching evictionSoft"),
            );
        }
    }
    k.eviction_max_pod_grace_period = ctx
        .int(
            &o,
            "evictionMaxPodGracePeriod",
            i32::MIN as i64,
            i32::MAX as i64,
        )
        .map(|n| n as i32);
    k.image_gc_high_threshold_percent = ctx
        .int(&o, "imageGCHighThresholdPercent", 0, 100)
        .map(|n| n as i32);
    k.image_gc_low_threshold_percent = ctx
        .int(&o, "imageGCLowThresholdPercent", 0, 100)
        .map(|n| n as i32);
    if let (Some(h), Some(l)) = (
        k.image_gc_high_threshold_percent,
        k.image_gc_low_threshold_percent,
    ) && h <= l
    {
        ctx.err(
            &o.path("imageGCHighThresholdPercent"),
            "imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent",
        );
    }
    k.cpu_cfs_quota = ctx.bool(&o, "cpuCFSQuota");
    k.cluster_dns = ctx.str_list(&o, "clusterDNS");
    if let Some(m) = o.map {
        for (key, val) in m {
            if let Some(name) = key.as_str()
                && KUBELET_PASSTHROUGH_KEYS.contains(&name)
                && !val.is_null()
            {
                k.other.insert(name.to_string(), val.clone());
            }
        }
    }
    k
}

/// Parses the position index-free value of a NodePool (for re-validation after edits).
pub(crate) fn reparse_nodepool(
    raw: &Value,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<NodePool> {
    let mut ctx = Ctx::new(file, None, errors);
    parse_nodepool_value(&mut ctx, raw, "")
}

/// Parses the value of an EC2NodeClass (for re-validation after edits).
pub(crate) fn reparse_nodeclass(
    raw: &Value,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<EC2NodeClass> {
    let mut ctx = Ctx::new(file, None, errors);
    parse_nodeclass_value(&mut ctx, raw, "")
}
