//! The scenario file (contract section 1) and [`load_scenario`], which reads it and every
//! manifest file it names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_yaml::Value;

use super::docs::read_documents;
use super::edit::{apply_edit, deep_merge};
use super::error::{ConfigError, ConfigErrors, closest};
use super::k8s::{Taint, parse_labels, parse_taint};
use super::karpenter::{
    EC2NodeClass, NodePool, Sites, parse_manifests_sited, reparse_nodeclass, reparse_nodepool,
};
use super::pod::{
    DaemonSet, PodDisruptionBudget, PodTemplate, parse_daemonsets_into, parse_pdbs_into,
    parse_templates_into,
};
use super::pos::{PosIndex, join_index, join_key};
use super::walk::{At, Ctx, DurSyntax, Obj};

/// `catalog`: paths of the pricing snapshot files (`None` = the snapshot built into the binary).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogPaths {
    pub instance_types: Option<PathBuf>,
    pub on_demand_prices: Option<PathBuf>,
    pub spot: Option<PathBuf>,
}

/// `workload`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Workload {
    /// The pod trace CSV (not read by this module).
    pub pods: Option<PathBuf>,
    /// `generate:`: the synthetic workload's generators (contract section 3).
    pub generate: Option<Vec<crate::generate::Generator>>,
    pub templates: Option<PathBuf>,
    pub daemonsets: Option<PathBuf>,
    pub pdbs: Option<PathBuf>,
}

/// A capacity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CapacityType {
    OnDemand,
    Spot,
    Reserved,
}

impl CapacityType {
    /// The `karpenter.sh/capacity-type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityType::OnDemand => "on-demand",
            CapacityType::Spot => "spot",
            CapacityType::Reserved => "reserved",
        }
    }
}

/// One `existing_nodes` entry: `count` static nodes not managed by Karpenter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingNodes {
    pub instance_type: String,
    /// Default 1.
    pub count: u32,
    /// Default on-demand.
    pub capacity_type: CapacityType,
    pub labels: BTreeMap<String, String>,
    /// `None`: round-robin over the scenario's zones.
    pub zone: Option<String>,
    pub taints: Vec<Taint>,
}

/// `interruptions.model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptionModel {
    None,
    SpotAdvisor,
    Constant,
}

/// `interruptions`: the Spot model.
#[derive(Debug, Clone, PartialEq)]
pub struct Interruptions {
    /// Default `none`.
    pub model: InterruptionModel,
    /// Default 1.0.
    pub rate_multiplier: f64,
    /// Required with `model: constant`.
    pub constant_monthly_rate: Option<f64>,
    /// Default 2m.
    pub notice_ms: u64,
    /// Probability in [0, 1] that a Spot launch fails; default 0.
    pub insufficient_capacity: f64,
    /// Correlated reclaims (karpsim's extension): each Spot pool (instance type × zone) has
    /// reclaim events at this many per month, each taking `fraction` of the pool's nodes.
    pub reclaim_events: Option<ReclaimEvents>,
}

/// `interruptions.reclaim_events`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReclaimEvents {
    /// Events per pool per month (30 days).
    pub monthly_rate: f64,
    /// Share of the pool's running nodes each event reclaims, in (0, 1].
    pub fraction: f64,
}

impl Default for Interruptions {
    fn default() -> Self {
        Interruptions {
            model: InterruptionModel::None,
            rate_multiplier: 1.0,
            constant_monthly_rate: None,
            notice_ms: 120_000,
            insufficient_capacity: 0.0,
            reclaim_events: None,
        }
    }
}

/// `spot_prices.model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpotPriceModel {
    /// Each Spot pool keeps its catalog price for the whole run.
    Constant,
    /// Each Spot pool's price moves in small seeded steps around its catalog price.
    Varying,
}

/// `spot_prices` (karpsim's extension): whether Spot prices move during the run.
#[derive(Debug, Clone, PartialEq)]
pub struct SpotPrices {
    /// Default `constant`.
    pub model: SpotPriceModel,
    /// Mean time between two price changes of one pool; default 19h (measured on the 2022
    /// sample, see pricing-data/README.md).
    pub change_interval_ms: u64,
    /// Standard deviation of one change of the log price; default 0.007 (0.7 %).
    pub step: f64,
    /// Share of the gap between the log price and the catalog price's log closed at each
    /// change; default 0.1.
    pub reversion: f64,
}

impl Default for SpotPrices {
    fn default() -> Self {
        SpotPrices {
            model: SpotPriceModel::Constant,
            change_interval_ms: 19 * 3_600_000,
            step: 0.007,
            reversion: 0.1,
        }
    }
}

/// `karpenter.launch_latency.distribution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyDistribution {
    Lognormal,
    Constant,
}

/// `karpenter.launch_latency`: request → node Ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchLatency {
    /// Default lognormal.
    pub distribution: LatencyDistribution,
    /// Default 40s (the constant value for `constant`).
    pub median_ms: u64,
    /// Default 70s (unused for `constant`).
    pub p90_ms: u64,
}

impl Default for LaunchLatency {
    fn default() -> Self {
        LaunchLatency {
            distribution: LatencyDistribution::Lognormal,
            median_ms: 40_000,
            p90_ms: 70_000,
        }
    }
}

/// Karpenter's feature gates and their defaults.
pub const FEATURE_GATES: &[(&str, bool)] = &[
    ("NodeRepair", false),
    ("ReservedCapacity", true),
    ("SpotToSpotConsolidation", false),
    ("NodeOverlay", false),
    ("StaticCapacity", false),
    ("CapacityBuffer", false),
];

/// `karpenter`: controller settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KarpenterSettings {
    /// Default 1s.
    pub batch_idle_duration_ms: u64,
    /// Default 10s.
    pub batch_max_duration_ms: u64,
    /// Gates given in the scenario; see [`KarpenterSettings::feature_gate`] for defaults.
    pub feature_gates: BTreeMap<String, bool>,
    pub launch_latency: LaunchLatency,
    /// Node Ready → pod Running; default 5s.
    pub pod_startup_ms: u64,
}

impl Default for KarpenterSettings {
    fn default() -> Self {
        KarpenterSettings {
            batch_idle_duration_ms: 1_000,
            batch_max_duration_ms: 10_000,
            feature_gates: BTreeMap::new(),
            launch_latency: LaunchLatency::default(),
            pod_startup_ms: 5_000,
        }
    }
}

impl KarpenterSettings {
    /// Whether a feature gate is on (the scenario's value, else Karpenter's default; unknown
    /// names are off).
    pub fn feature_gate(&self, name: &str) -> bool {
        self.feature_gates
            .get(name)
            .copied()
            .or_else(|| {
                FEATURE_GATES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, d)| *d)
            })
            .unwrap_or(false)
    }
}

/// `kube_scheduler.scoring`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scoring {
    #[default]
    LeastAllocated,
    MostAllocated,
}

/// `kube_scheduler`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KubeScheduler {
    pub scoring: Scoring,
}

/// A `set` edit of one named NodePool or EC2NodeClass.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectEdit {
    pub name: String,
    /// Dotted path → new value, in file order of keys (sorted).
    pub set: BTreeMap<String, Value>,
    /// Line of the entry in the scenario file.
    pub line: Option<usize>,
}

/// One `changes` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Simulated time of the change, ms.
    pub at_ms: u64,
    pub nodeclasses: Vec<ObjectEdit>,
    pub nodepools: Vec<ObjectEdit>,
}

/// One `variants` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub name: String,
    pub seed: Option<u64>,
    pub nodepools: Vec<ObjectEdit>,
    pub nodeclasses: Vec<ObjectEdit>,
    /// Partial overrides, merged over the base sections.
    pub interruptions: Option<Value>,
    pub spot_prices: Option<Value>,
    pub karpenter: Option<Value>,
    pub kube_scheduler: Option<Value>,
}

/// A scenario file with defaults applied and paths resolved against its folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// Default 0.
    pub seed: u64,
    /// `None` when the trace defines the end.
    pub duration_ms: Option<u64>,
    /// Simulated time 0; default 2024-01-01T00:00:00Z.
    pub start: DateTime<Utc>,
    /// Default us-east-1.
    pub region: String,
    /// `None`: the region's first three zones.
    pub zones: Option<Vec<String>>,
    pub catalog: CatalogPaths,
    /// NodePool/EC2NodeClass manifest files.
    pub nodepools: Vec<PathBuf>,
    pub workload: Workload,
    pub existing_nodes: Vec<ExistingNodes>,
    pub interruptions: Interruptions,
    pub spot_prices: SpotPrices,
    pub karpenter: KarpenterSettings,
    pub kube_scheduler: KubeScheduler,
    pub changes: Vec<Change>,
    pub variants: Vec<Variant>,
    /// `check`: the tolerances `karpsim check` uses, by key (only those given; see
    /// [`crate::check`] for the keys, their syntax and defaults).
    pub check: BTreeMap<String, crate::check::Tolerance>,
    /// The file as written.
    pub raw: Value,
}

/// A scenario and everything it names, parsed and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedScenario {
    pub path: PathBuf,
    pub scenario: Scenario,
    pub nodepools: Vec<NodePool>,
    pub nodeclasses: Vec<EC2NodeClass>,
    pub templates: Vec<PodTemplate>,
    pub daemonsets: Vec<DaemonSet>,
    pub pdbs: Vec<PodDisruptionBudget>,
}

/// The scenario file's top-level keys.
pub const TOP_KEYS: &[&str] = &[
    "name",
    "seed",
    "duration",
    "start",
    "region",
    "zones",
    "catalog",
    "nodepools",
    "workload",
    "existing_nodes",
    "interruptions",
    "spot_prices",
    "karpenter",
    "kube_scheduler",
    "changes",
    "variants",
    "check",
];

fn resolve(dir: &Path, p: &str) -> PathBuf {
    dir.join(p)
}

fn path_field(ctx: &mut Ctx, o: &Obj, key: &str, dir: &Path) -> Option<PathBuf> {
    let s = ctx.string_lenient(o, key)?;
    if s.trim().is_empty() {
        ctx.err(&o.path(key), "path may not be empty");
        return None;
    }
    Some(resolve(dir, &s))
}

fn parse_spot_prices(ctx: &mut Ctx, v: &Value, path: &str) -> SpotPrices {
    let o = ctx.obj(v, path, &["model", "change_interval", "step", "reversion"]);
    let mut sp = SpotPrices::default();
    if let Some(m) = ctx.enumv(
        &o,
        "model",
        &[
            ("constant", SpotPriceModel::Constant),
            ("varying", SpotPriceModel::Varying),
        ],
    ) {
        sp.model = m;
    }
    if let Some(d) = ctx.duration(&o, "change_interval", DurSyntax::Go) {
        if d == 0 {
            ctx.err(&o.path("change_interval"), "must be more than 0");
        } else {
            sp.change_interval_ms = d;
        }
    }
    if let Some(x) = ctx.float(&o, "step") {
        if !(0.0..=1.0).contains(&x) {
            ctx.err(
                &o.path("step"),
                format!("{x} is not a share: give the standard deviation of one change of the log price, from 0 to 1 (0.007 = 0.7 %)"),
            );
        } else {
            sp.step = x;
        }
    }
    if let Some(x) = ctx.float(&o, "reversion") {
        if !(0.0..=1.0).contains(&x) {
            ctx.err(
                &o.path("reversion"),
                format!("{x} is not a share: must be from 0 to 1"),
            );
        } else {
            sp.reversion = x;
        }
    }
    sp
}

fn parse_interruptions(ctx: &mut Ctx, v: &Value, path: &str, partial: bool) -> Interruptions {
    let o = ctx.obj(
        v,
        path,
        &[
            "model",
            "rate_multiplier",
            "constant_monthly_rate",
            "notice",
            "insufficient_capacity",
            "reclaim_events",
        ],
    );
    let mut i = Interruptions::default();
    if let Some(m) = ctx.enumv(
        &o,
        "model",
        &[
            ("none", InterruptionModel::None),
            ("spot-advisor", InterruptionModel::SpotAdvisor),
            ("constant", InterruptionModel::Constant),
        ],
    ) {
        i.model = m;
    }
    if let Some(r) = ctx.float(&o, "rate_multiplier") {
        if r < 0.0 {
            ctx.err(&o.path("rate_multiplier"), "must be 0 or more");
        } else {
            i.rate_multiplier = r;
        }
    }
    i.constant_monthly_rate = ctx.float(&o, "constant_monthly_rate");
    if let Some(r) = i.constant_monthly_rate
        && r < 0.0
    {
        ctx.err(&o.path("constant_monthly_rate"), "must be 0 or more");
    }
    if !partial && i.model == InterruptionModel::Constant && i.constant_monthly_rate.is_none() {
        ctx.error(
            &o.path("model"),
            At::Value,
            "model `constant` needs `constant_monthly_rate` (interruptions per instance per month)",
            None,
        );
    }
    if let Some(n) = ctx.duration(&o, "notice", DurSyntax::Go) {
        i.notice_ms = n;
    }
    if let Some(r) = o.get("reclaim_events") {
        let rp = o.path("reclaim_events");
        let ro = ctx.obj(r, &rp, &["monthly_rate", "fraction"]);
        let rate = ctx.float(&ro, "monthly_rate");
        let fraction = ctx.float(&ro, "fraction");
        match (rate, fraction) {
            (Some(r), Some(f)) if r >= 0.0 && f > 0.0 && f <= 1.0 => {
                i.reclaim_events = Some(ReclaimEvents {
                    monthly_rate: r,
                    fraction: f,
                });
            }
            (Some(r), _) if r < 0.0 => ctx.err(&ro.path("monthly_rate"), "must be 0 or more"),
            (_, Some(f)) if !(f > 0.0 && f <= 1.0) => ctx.err(
                &ro.path("fraction"),
                format!("{f} is not a share of the pool: must be more than 0 and at most 1"),
            ),
            _ => {
                if !partial {
                    ctx.error(
                        &rp,
                        At::Value,
                        "`reclaim_events` needs `monthly_rate` (events per pool per month) and `fraction` (share of the pool's nodes each event takes)",
                        None,
                    );
                }
            }
        }
    }
    if let Some(p) = ctx.float(&o, "insufficient_capacity") {
        if (0.0..=1.0).contains(&p) {
            i.insufficient_capacity = p;
        } else {
            ctx.err(
                &o.path("insufficient_capacity"),
                format!("{p} is not a probability: must be between 0 and 1"),
            );
        }
    }
    i
}

fn parse_karpenter(ctx: &mut Ctx, v: &Value, path: &str, partial: bool) -> KarpenterSettings {
    let o = ctx.obj(
        v,
        path,
        &[
            "batch_idle_duration",
            "batch_max_duration",
            "feature_gates",
            "launch_latency",
            "pod_startup",
        ],
    );
    let mut k = KarpenterSettings::default();
    if let Some(d) = ctx.duration(&o, "batch_idle_duration", DurSyntax::Go) {
        k.batch_idle_duration_ms = d;
    }
    if let Some(d) = ctx.duration(&o, "batch_max_duration", DurSyntax::Go) {
        k.batch_max_duration_ms = d;
    }
    if !partial && k.batch_idle_duration_ms > k.batch_max_duration_ms {
        ctx.err(
            &o.path("batch_idle_duration"),
            "batch_idle_duration may not exceed batch_max_duration",
        );
    }
    if let Some(g) = o.get("feature_gates") {
        let gp = o.path("feature_gates");
        for (name, val) in ctx.entries(g, &gp) {
            let p = join_key(&gp, &name);
            if !FEATURE_GATES.iter().any(|(n, _)| *n == name) {
                let sugg = closest(&name, FEATURE_GATES.iter().map(|(n, _)| *n));
                let known: Vec<&str> = FEATURE_GATES.iter().map(|(n, _)| *n).collect();
                ctx.error(
                    &p,
                    At::Key,
                    format!(
                        "unknown feature gate `{name}` (known: {})",
                        known.join(", ")
                    ),
                    sugg,
                );
                continue;
            }
            if let Some(b) = ctx.v_bool(val, &p) {
                k.feature_gates.insert(name, b);
            }
        }
    }
    if let Some(l) = o.get("launch_latency") {
        let lo = ctx.obj(
            l,
            &o.path("launch_latency"),
            &["distribution", "median", "p90"],
        );
        if let Some(d) = ctx.enumv(
            &lo,
            "distribution",
            &[
                ("lognormal", LatencyDistribution::Lognormal),
                ("constant", LatencyDistribution::Constant),
            ],
        ) {
            k.launch_latency.distribution = d;
        }
        if let Some(m) = ctx.duration(&lo, "median", DurSyntax::Go) {
            k.launch_latency.median_ms = m;
        }
        if let Some(p) = ctx.duration(&lo, "p90", DurSyntax::Go) {
            k.launch_latency.p90_ms = p;
        } else if k.launch_latency.distribution == LatencyDistribution::Constant {
            k.launch_latency.p90_ms = k.launch_latency.median_ms;
        }
        let ll = &k.launch_latency;
        if !partial && ll.distribution == LatencyDistribution::Lognormal {
            if ll.median_ms == 0 {
                ctx.err(
                    &lo.path("median"),
                    "a lognormal median must be greater than 0",
                );
            } else if ll.p90_ms < ll.median_ms {
                ctx.err(&lo.path("p90"), "p90 may not be below the median");
            }
        }
    }
    if let Some(d) = ctx.duration(&o, "pod_startup", DurSyntax::Go) {
        k.pod_startup_ms = d;
    }
    k
}

fn parse_kube_scheduler(ctx: &mut Ctx, v: &Value, path: &str) -> KubeScheduler {
    let o = ctx.obj(v, path, &["scoring"]);
    KubeScheduler {
        scoring: ctx
            .enumv(
                &o,
                "scoring",
                &[
                    ("LeastAllocated", Scoring::LeastAllocated),
                    ("MostAllocated", Scoring::MostAllocated),
                ],
            )
            .unwrap_or_default(),
    }
}

/// `check`: tolerance keys, each `N%`, an amount or `none`.
fn parse_check(ctx: &mut Ctx, v: &Value, path: &str) -> BTreeMap<String, crate::check::Tolerance> {
    let names = crate::check::tolerance_key_names();
    let o = ctx.obj(v, path, &names);
    let mut out = BTreeMap::new();
    for key in names {
        let Some(val) = o.get(key) else { continue };
        let text = match val {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                ctx.err(
                    &o.path(key),
                    "expected a tolerance: a percentage (`2%`), an amount (`0.5`) or `none`",
                );
                continue;
            }
        };
        match crate::check::parse_tolerance(&text) {
            Ok(t) => {
                out.insert(key.to_string(), t);
            }
            Err(e) => ctx.err(&o.path(key), e),
        }
    }
    out
}

fn parse_edits(ctx: &mut Ctx, o: &Obj, key: &str) -> Vec<ObjectEdit> {
    ctx.list(o, key, |c, v, p| {
        let e = c.obj(v, p, &["name", "set"]);
        e.map?;
        let name = c.req_string(&e, "name");
        let mut set = BTreeMap::new();
        match e.get("set") {
            Some(s) => {
                let sp = e.path("set");
                let entries = c.entries(s, &sp);
                if entries.is_empty() {
                    c.err(&sp, "`set` needs at least one `dotted.path: value`");
                }
                for (k, val) in entries {
                    set.insert(k, val.clone());
                }
            }
            None => c.missing(&e, "set"),
        }
        let line = c.pos.and_then(|idx| idx.key(p)).map(|pp| pp.line);
        Some(ObjectEdit {
            name: name?,
            set,
            line,
        })
    })
}

fn parse_scenario_doc(ctx: &mut Ctx, v: &Value, dir: &Path) -> Option<Scenario> {
    let o = ctx.obj(v, "", TOP_KEYS);
    if o.map.is_none() {
        if v.is_null() {
            ctx.err("", "the scenario file is empty");
        }
        return None;
    }
    let name = ctx.string_lenient(&o, "name");
    match &name {
        None if !o.has("name") => ctx.missing(&o, "name"),
        Some(n)
            if n.is_empty()
                || n == "."
                || n == ".."
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) =>
        {
            ctx.err(
                &o.path("name"),
                format!("`{n}` cannot name a report folder: use letters, digits, '-', '_' and '.'"),
            );
        }
        _ => {}
    }
    let seed = ctx.int(&o, "seed", 0, i64::MAX).map_or(0, |s| s as u64);
    let duration_ms = ctx.duration(&o, "duration", DurSyntax::Go);
    let start = match o.get("start") {
        Some(v) => match ctx.v_string_lenient(v, &o.path("start")) {
            Some(s) => match DateTime::parse_from_rfc3339(s.trim()) {
                Ok(t) => t.with_timezone(&Utc),
                Err(e) => {
                    ctx.err(
                        &o.path("start"),
                        format!("`{s}` is not an RFC 3339 time such as 2024-01-01T00:00:00Z ({e})"),
                    );
                    default_start()
                }
            },
            None => default_start(),
        },
        None => default_start(),
    };
    let region = ctx
        .string_lenient(&o, "region")
        .unwrap_or_else(|| "us-east-1".into());
    let region_ok = {
        let parts: Vec<&str> = region.split('-').collect();
        parts.len() >= 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
            && parts
                .last()
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
    };
    if !region_ok {
        ctx.err(
            &o.path("region"),
            format!("`{region}` is not an AWS region name such as us-east-1"),
        );
    }
    let zones = if o.has("zones") {
        let zs = ctx.list(&o, "zones", |c, v, p| c.v_string_lenient(v, p));
        let zp = o.path("zones");
        if zs.is_empty() {
            ctx.err(
                &zp,
                "zones may not be empty (omit the key for the region's default zones)",
            );
        }
        for (i, z) in zs.iter().enumerate() {
            if !z.starts_with(&region) || z.len() == region.len() {
                ctx.err(
                    &join_index(&zp, i),
                    format!("zone `{z}` is not in region `{region}`"),
                );
            }
            if zs[..i].contains(z) {
                ctx.err(&join_index(&zp, i), format!("zone `{z}` is listed twice"));
            }
        }
        Some(zs)
    } else {
        None
    };

    let mut catalog = CatalogPaths::default();
    if let Some(c) = o.get("catalog") {
        let co = ctx.obj(
            c,
            &o.path("catalog"),
            &["instance_types", "on_demand_prices", "spot"],
        );
        catalog.instance_types = path_field(ctx, &co, "instance_types", dir);
        catalog.on_demand_prices = path_field(ctx, &co, "on_demand_prices", dir);
        catalog.spot = path_field(ctx, &co, "spot", dir);
    }

    let nodepools = match o.get("nodepools") {
        None => {
            ctx.missing(&o, "nodepools");
            Vec::new()
        }
        Some(Value::Sequence(_)) => ctx.list(&o, "nodepools", |c, v, p| {
            let s = c.v_string_lenient(v, p)?;
            Some(resolve(dir, &s))
        }),
        Some(v) => ctx
            .v_string_lenient(v, &o.path("nodepools"))
            .map(|s| vec![resolve(dir, &s)])
            .unwrap_or_default(),
    };

    let mut workload = Workload::default();
    if let Some(w) = o.get("workload") {
        let wo = ctx.obj(
            w,
            &o.path("workload"),
            &["pods", "generate", "templates", "daemonsets", "pdbs"],
        );
        workload.pods = path_field(ctx, &wo, "pods", dir);
        workload.generate = wo
            .get("generate")
            .map(|g| crate::generate::parse_section(ctx, g, &wo.path("generate"), duration_ms));
        if wo.has("pods") && wo.has("generate") {
            ctx.err(
                &wo.path("generate"),
                "`pods` and `generate` are alternatives: give one",
            );
        }
        workload.templates = path_field(ctx, &wo, "templates", dir);
        workload.daemonsets = path_field(ctx, &wo, "daemonsets", dir);
        workload.pdbs = path_field(ctx, &wo, "pdbs", dir);
    }
    if duration_ms.is_none() && !o.has("duration") && workload.pods.is_none() {
        ctx.missing(&o, "duration");
    }

    let existing_nodes = ctx.list(&o, "existing_nodes", |c, v, p| {
        let e = c.obj(
            v,
            p,
            &[
                "instance_type",
                "count",
                "capacity_type",
                "labels",
                "zone",
                "taints",
            ],
        );
        e.map?;
        let instance_type = c.req_string(&e, "instance_type");
        let count = c
            .int(&e, "count", 0, u32::MAX as i64)
            .map_or(1, |n| n as u32);
        let capacity_type = c
            .enumv(
                &e,
                "capacity_type",
                &[
                    ("on-demand", CapacityType::OnDemand),
                    ("spot", CapacityType::Spot),
                    ("reserved", CapacityType::Reserved),
                ],
            )
            .unwrap_or(CapacityType::OnDemand);
        let labels = parse_labels(c, &e, "labels");
        let zone = c.string_lenient(&e, "zone");
        if let (Some(z), Some(zs)) = (&zone, &zones)
            && !zs.contains(z)
        {
            let sugg = closest(z, zs.iter().map(String::as_str));
            c.error(
                &e.path("zone"),
                At::Value,
                format!("zone `{z}` is not one of the scenario's zones"),
                sugg,
            );
        } else if let Some(z) = &zone
            && zones.is_none()
            && !z.starts_with(&region)
        {
            c.err(
                &e.path("zone"),
                format!("zone `{z}` is not in region `{region}`"),
            );
        }
        let taints = c.list(&e, "taints", parse_taint);
        Some(ExistingNodes {
            instance_type: instance_type?,
            count,
            capacity_type,
            labels,
            zone,
            taints,
        })
    });

    let interruptions = match o.get("interruptions") {
        Some(i) => parse_interruptions(ctx, i, &o.path("interruptions"), false),
        None => Interruptions::default(),
    };
    let spot_prices = match o.get("spot_prices") {
        Some(i) => parse_spot_prices(ctx, i, &o.path("spot_prices")),
        None => SpotPrices::default(),
    };
    let karpenter = match o.get("karpenter") {
        Some(k) => parse_karpenter(ctx, k, &o.path("karpenter"), false),
        None => KarpenterSettings::default(),
    };
    let kube_scheduler = match o.get("kube_scheduler") {
        Some(k) => parse_kube_scheduler(ctx, k, &o.path("kube_scheduler")),
        None => KubeScheduler::default(),
    };

    let changes = ctx.list(&o, "changes", |c, v, p| {
        let e = c.obj(v, p, &["at", "nodeclasses", "nodepools"]);
        e.map?;
        if !e.has("at") {
            c.missing(&e, "at");
        }
        let at_ms = c.duration(&e, "at", DurSyntax::Go);
        let nodeclasses = parse_edits(c, &e, "nodeclasses");
        let nodepools = parse_edits(c, &e, "nodepools");
        if let (Some(at), Some(d)) = (at_ms, duration_ms)
            && at > d
        {
            c.err(
                &e.path("at"),
                "this change comes after the end of the run (`duration`)",
            );
        }
        Some(Change {
            at_ms: at_ms?,
            nodeclasses,
            nodepools,
        })
    });

    let variants = ctx.list(&o, "variants", |c, v, p| {
        let e = c.obj(
            v,
            p,
            &[
                "name",
                "seed",
                "nodepools",
                "nodeclasses",
                "interruptions",
                "spot_prices",
                "karpenter",
                "kube_scheduler",
            ],
        );
        e.map?;
        let name = c.req_string(&e, "name");
        let seed = c.int(&e, "seed", 0, i64::MAX).map(|s| s as u64);
        let nodepools = parse_edits(c, &e, "nodepools");
        let nodeclasses = parse_edits(c, &e, "nodeclasses");
        let interruptions = e.get("interruptions").map(|x| {
            parse_interruptions(c, x, &e.path("interruptions"), true);
            x.clone()
        });
        let spot_prices = e.get("spot_prices").map(|x| {
            parse_spot_prices(c, x, &e.path("spot_prices"));
            x.clone()
        });
        let karpenter = e.get("karpenter").map(|x| {
            parse_karpenter(c, x, &e.path("karpenter"), true);
            x.clone()
        });
        let kube_scheduler = e.get("kube_scheduler").map(|x| {
            parse_kube_scheduler(c, x, &e.path("kube_scheduler"));
            x.clone()
        });
        Some(Variant {
            name: name?,
            seed,
            nodepools,
            nodeclasses,
            interruptions,
            spot_prices,
            karpenter,
            kube_scheduler,
        })
    });
    let check = match o.get("check") {
        Some(c) => parse_check(ctx, c, &o.path("check")),
        None => BTreeMap::new(),
    };
    for (i, v) in variants.iter().enumerate() {
        if variants[..i].iter().any(|w| w.name == v.name) {
            ctx.err(
                &join_key(&join_index("variants", i), "name"),
                format!("variant `{}` is defined more than once", v.name),
            );
        }
    }

    Some(Scenario {
        name: name?,
        seed,
        duration_ms,
        start,
        region,
        zones,
        catalog,
        nodepools,
        workload,
        existing_nodes,
        interruptions,
        spot_prices,
        karpenter,
        kube_scheduler,
        changes,
        variants,
        check,
        raw: v.clone(),
    })
}

fn default_start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200, 0).unwrap_or_default()
}

impl Scenario {
    /// The scenario with a variant's section overrides (`seed`, `interruptions`, `spot_prices`, `karpenter`,
    /// `kube_scheduler`) merged over the base. NodePool/EC2NodeClass edits are applied by
    /// [`LoadedScenario::variant`].
    pub fn with_variant(&self, v: &Variant) -> Result<Scenario, ConfigErrors> {
        let mut out = self.clone();
        let mut errors = Vec::new();
        let file = PathBuf::from(format!("variant `{}`", v.name));
        let raw = self.raw.as_mapping();
        let base = |k: &str| raw.and_then(|m| m.get(k)).cloned().unwrap_or(Value::Null);
        let mut ctx = Ctx::new(&file, None, &mut errors);
        if let Some(seed) = v.seed {
            out.seed = seed;
        }
        if let Some(o) = &v.interruptions {
            out.interruptions = parse_interruptions(
                &mut ctx,
                &deep_merge(&base("interruptions"), o),
                "interruptions",
                false,
            );
        }
        if let Some(o) = &v.spot_prices {
            out.spot_prices = parse_spot_prices(
                &mut ctx,
                &deep_merge(&base("spot_prices"), o),
                "spot_prices",
            );
        }
        if let Some(o) = &v.karpenter {
            out.karpenter = parse_karpenter(
                &mut ctx,
                &deep_merge(&base("karpenter"), o),
                "karpenter",
                false,
            );
        }
        if let Some(o) = &v.kube_scheduler {
            out.kube_scheduler = parse_kube_scheduler(
                &mut ctx,
                &deep_merge(&base("kube_scheduler"), o),
                "kube_scheduler",
            );
        }
        ConfigErrors::result(errors, out)
    }
}

/// Applies `set` edits to copies of the named NodePools and EC2NodeClasses and re-validates
/// them. Errors name the edited object; their `file` is `origin`.
pub fn apply_object_edits(
    nodepools: &[NodePool],
    nodeclasses: &[EC2NodeClass],
    nodepool_edits: &[ObjectEdit],
    nodeclass_edits: &[ObjectEdit],
    origin: &Path,
) -> Result<(Vec<NodePool>, Vec<EC2NodeClass>), ConfigErrors> {
    let mut errors = Vec::new();
    let mut pools = nodepools.to_vec();
    let mut classes = nodeclasses.to_vec();
    edit_objects(&mut pools, nodepool_edits, origin, "", &mut errors, None);
    edit_objects(&mut classes, nodeclass_edits, origin, "", &mut errors, None);
    ConfigErrors::result(errors, (pools, classes))
}

/// Relocates an error from re-validating an edited object onto the scenario's `set` entry.
fn relocate(
    e: ConfigError,
    origin: &Path,
    edit_path: &str,
    edit: &ObjectEdit,
    kind: &str,
    pos: Option<&PosIndex>,
) -> ConfigError {
    // The set key this error is under, if any.
    let key = edit
        .set
        .keys()
        .filter(|k| {
            e.field == **k
                || e.field.starts_with(&format!("{k}."))
                || e.field.starts_with(&format!("{k}["))
                || k.starts_with(&e.field)
        })
        .max_by_key(|k| k.len())
        .cloned();
    let set_path = join_key(edit_path, "set");
    let at = match &key {
        Some(k) => join_key(&set_path, k),
        None => set_path.clone(),
    };
    let p = pos.and_then(|idx| idx.value(&at));
    ConfigError {
        file: origin.to_path_buf(),
        line: p.map(|p| p.line).or(edit.line),
        column: p.map(|p| p.col),
        field: if edit_path.is_empty() {
            e.field
        } else {
            format!("{set_path}.{}", e.field)
        },
        message: format!("{kind} `{}` after this edit: {}", edit.name, e.message),
        suggestion: e.suggestion,
    }
}

/// A manifest object that scenario edits (`variants`, `changes`) may patch by name.
trait Editable: Sized {
    const KIND: &'static str;
    fn name(&self) -> &str;
    fn raw(&self) -> &Value;
    /// Re-validates the patched document, as the manifest loader would.
    fn reparse(raw: &Value, origin: &Path, errors: &mut Vec<ConfigError>) -> Option<Self>;
}

impl Editable for NodePool {
    const KIND: &'static str = "NodePool";
    fn name(&self) -> &str {
        &self.name
    }
    fn raw(&self) -> &Value {
        &self.raw
    }
    fn reparse(raw: &Value, origin: &Path, errors: &mut Vec<ConfigError>) -> Option<Self> {
        reparse_nodepool(raw, origin, errors)
    }
}

impl Editable for EC2NodeClass {
    const KIND: &'static str = "EC2NodeClass";
    fn name(&self) -> &str {
        &self.name
    }
    fn raw(&self) -> &Value {
        &self.raw
    }
    fn reparse(raw: &Value, origin: &Path, errors: &mut Vec<ConfigError>) -> Option<Self> {
        reparse_nodeclass(raw, origin, errors)
    }
}

/// Applies `edits` to the objects they name; every error names the edit's place.
fn edit_objects<T: Editable>(
    objects: &mut [T],
    edits: &[ObjectEdit],
    origin: &Path,
    base_path: &str,
    errors: &mut Vec<ConfigError>,
    pos: Option<&PosIndex>,
) {
    for (i, edit) in edits.iter().enumerate() {
        let ep = if base_path.is_empty() {
            String::new()
        } else {
            join_index(base_path, i)
        };
        let Some(target) = objects.iter_mut().find(|o| o.name() == edit.name) else {
            let names: Vec<String> = objects.iter().map(|o| o.name().to_string()).collect();
            push_unknown(errors, origin, &ep, edit, T::KIND, &names, pos);
            continue;
        };
        let Some(raw) = apply_all(target.raw(), edit, origin, &ep, errors, pos) else {
            continue;
        };
        let mut errs = Vec::new();
        match T::reparse(&raw, origin, &mut errs) {
            Some(o) if errs.is_empty() => *target = o,
            _ => errors.extend(
                errs.into_iter()
                    .map(|e| relocate(e, origin, &ep, edit, T::KIND, pos)),
            ),
        }
    }
}

fn push_unknown(
    errors: &mut Vec<ConfigError>,
    origin: &Path,
    ep: &str,
    edit: &ObjectEdit,
    kind: &str,
    names: &[String],
    pos: Option<&PosIndex>,
) {
    let np = join_key(ep, "name");
    let p = pos.and_then(|idx| idx.value(&np));
    errors.push(ConfigError {
        file: origin.to_path_buf(),
        line: p.map(|p| p.line).or(edit.line),
        column: p.map(|p| p.col),
        field: np,
        message: format!("there is no {kind} named `{}`", edit.name),
        suggestion: closest(&edit.name, names.iter().map(String::as_str)),
    });
}

fn apply_all(
    raw: &Value,
    edit: &ObjectEdit,
    origin: &Path,
    ep: &str,
    errors: &mut Vec<ConfigError>,
    pos: Option<&PosIndex>,
) -> Option<Value> {
    let mut cur = raw.clone();
    let mut ok = true;
    for (k, v) in &edit.set {
        match apply_edit(&cur, k, v) {
            Ok(next) => cur = next,
            Err(msg) => {
                ok = false;
                let kp = join_key(&join_key(ep, "set"), k);
                let p = pos.and_then(|idx| idx.key(&kp));
                errors.push(ConfigError {
                    file: origin.to_path_buf(),
                    line: p.map(|p| p.line).or(edit.line),
                    column: p.map(|p| p.col),
                    field: kp,
                    message: msg,
                    suggestion: None,
                });
            }
        }
    }
    ok.then_some(cur)
}

/// The NodePools and EC2NodeClasses in effect from `at_ms` on, after a `changes` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeState {
    pub at_ms: u64,
    pub nodepools: Vec<NodePool>,
    pub nodeclasses: Vec<EC2NodeClass>,
}

impl LoadedScenario {
    /// The objects after each `changes` entry, in time order (entries at the same time in file
    /// order), each applied on top of the previous ones.
    pub fn change_states(&self) -> Result<Vec<ChangeState>, ConfigErrors> {
        let mut order: Vec<&Change> = self.scenario.changes.iter().collect();
        order.sort_by_key(|c| c.at_ms);
        let mut pools = self.nodepools.clone();
        let mut classes = self.nodeclasses.clone();
        let mut out = Vec::new();
        for ch in order {
            (pools, classes) =
                apply_object_edits(&pools, &classes, &ch.nodepools, &ch.nodeclasses, &self.path)?;
            out.push(ChangeState {
                at_ms: ch.at_ms,
                nodepools: pools.clone(),
                nodeclasses: classes.clone(),
            });
        }
        Ok(out)
    }

    /// The scenario as a named variant sees it: section overrides merged and the variant's
    /// NodePool/EC2NodeClass edits applied.
    pub fn variant(&self, name: &str) -> Result<LoadedScenario, ConfigErrors> {
        let Some(v) = self.scenario.variants.iter().find(|v| v.name == name) else {
            return Err(ConfigErrors(vec![ConfigError {
                file: self.path.clone(),
                line: None,
                column: None,
                field: "variants".into(),
                message: format!("there is no variant named `{name}`"),
                suggestion: closest(name, self.scenario.variants.iter().map(|v| v.name.as_str())),
            }]));
        };
        let scenario = self.scenario.with_variant(v)?;
        let (nodepools, nodeclasses) = apply_object_edits(
            &self.nodepools,
            &self.nodeclasses,
            &v.nodepools,
            &v.nodeclasses,
            &self.path,
        )?;
        Ok(LoadedScenario {
            scenario,
            nodepools,
            nodeclasses,
            ..self.clone()
        })
    }
}

fn read_file(
    scenario: &Path,
    pos: Option<&PosIndex>,
    field: &str,
    path: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(not_utf8(path, &e));
                None
            }
        },
        Err(e) => {
            missing_file(scenario, pos, field, path, &e.to_string(), errors);
            None
        }
    }
}

/// The error for a file that is not UTF-8, located at its first bad byte.
fn not_utf8(path: &Path, e: &std::string::FromUtf8Error) -> ConfigError {
    let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
    let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
    ConfigError {
        file: path.to_path_buf(),
        line: Some(good.iter().filter(|b| **b == b'\n').count() + 1),
        column: Some(col),
        field: String::new(),
        message: "the file is not UTF-8 text".into(),
        suggestion: None,
    }
}

fn missing_file(
    scenario: &Path,
    pos: Option<&PosIndex>,
    field: &str,
    path: &Path,
    why: &str,
    errors: &mut Vec<ConfigError>,
) {
    let p = pos.and_then(|idx| idx.value(field));
    errors.push(ConfigError {
        file: scenario.to_path_buf(),
        line: p.map(|p| p.line),
        column: p.map(|p| p.col),
        field: field.to_string(),
        message: format!("cannot read `{}`: {why}", path.display()),
        suggestion: None,
    });
}

/// Parses scenario text (no file access). `dir` resolves relative paths.
pub(crate) fn parse_scenario_text(
    text: &str,
    file: &Path,
    dir: &Path,
    errors: &mut Vec<ConfigError>,
) -> (Option<Scenario>, Option<PosIndex>) {
    let mut docs = read_documents(text, file, errors);
    if docs.len() > 1 {
        errors.push(ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            field: String::new(),
            message: "a scenario file holds one YAML document; found several".into(),
            suggestion: None,
        });
    }
    if docs.is_empty() {
        if errors.is_empty() {
            errors.push(ConfigError {
                file: file.to_path_buf(),
                line: None,
                column: None,
                field: String::new(),
                message: "the scenario file is empty".into(),
                suggestion: None,
            });
        }
        return (None, None);
    }
    let doc = docs.swap_remove(0);
    let mut ctx = Ctx::new(file, doc.pos.as_ref(), errors);
    let s = parse_scenario_doc(&mut ctx, &doc.value, dir);
    (s, doc.pos)
}

/// Reads a scenario file and every file it names (NodePool/EC2NodeClass manifests,
/// templates, DaemonSets, PDBs), validating all of them and collecting every problem. The
/// pod trace and catalog CSVs are not read; their existence is checked.
pub fn load_scenario(path: &Path) -> Result<LoadedScenario, ConfigErrors> {
    let mut errors = Vec::new();
    let text = match std::fs::read(path).map(String::from_utf8) {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(ConfigErrors(vec![not_utf8(path, &e)])),
        Err(e) => {
            return Err(ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                field: String::new(),
                message: format!("cannot read the scenario: {e}"),
                suggestion: None,
            }]));
        }
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let (scenario, pos) = parse_scenario_text(&text, path, &dir, &mut errors);
    load_named_files(path, scenario, pos.as_ref(), errors)
}

/// Like [`load_scenario`], for a scenario given as a YAML value rather than read from `path`
/// (`karpsim sweep` edits the file's contents in memory): relative paths resolve against
/// `path`'s folder and errors name `path` and the field, without line numbers.
pub fn load_scenario_value(raw: &Value, path: &Path) -> Result<LoadedScenario, ConfigErrors> {
    let mut errors = Vec::new();
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let scenario = {
        let mut ctx = Ctx::new(path, None, &mut errors);
        parse_scenario_doc(&mut ctx, raw, &dir)
    };
    load_named_files(path, scenario, None, errors)
}

/// Reads and validates every file a parsed scenario names (see [`load_scenario`]).
fn load_named_files(
    path: &Path,
    scenario: Option<Scenario>,
    pos: Option<&PosIndex>,
    mut errors: Vec<ConfigError>,
) -> Result<LoadedScenario, ConfigErrors> {
    let Some(scenario) = scenario else {
        return Err(ConfigErrors::from_vec(errors));
    };
    // Variant sections were checked field by field; their merged form is only checked
    // (for cross-field rules) when that found nothing, so no problem is reported twice.
    let scenario_ok = errors.is_empty();

    // Files that are only checked for existence.
    let mut exists_checks: Vec<(String, PathBuf)> = Vec::new();
    if let Some(p) = &scenario.workload.pods {
        exists_checks.push(("workload.pods".into(), p.clone()));
    }
    for (k, p) in [
        ("instance_types", &scenario.catalog.instance_types),
        ("on_demand_prices", &scenario.catalog.on_demand_prices),
        ("spot", &scenario.catalog.spot),
    ] {
        if let Some(p) = p {
            exists_checks.push((format!("catalog.{k}"), p.clone()));
        }
    }
    for (field, p) in &exists_checks {
        if !p.is_file() {
            missing_file(path, pos, field, p, "no such file", &mut errors);
        }
    }

    let mut nodepools = Vec::new();
    let mut nodeclasses = Vec::new();
    let mut pool_sites: Vec<(PathBuf, Option<super::pos::Pos>)> = Vec::new();
    let single = !matches!(scenario.raw.get("nodepools"), Some(Value::Sequence(_)));
    for (i, f) in scenario.nodepools.iter().enumerate() {
        let field = if single {
            "nodepools".to_string()
        } else {
            join_index("nodepools", i)
        };
        if let Some(text) = read_file(path, pos, &field, f, &mut errors) {
            let mut sites = Sites::default();
            let (p, c) = parse_manifests_sited(&text, f, &mut errors, &mut sites);
            for (j, np) in p.into_iter().enumerate() {
                let (name_pos, ref_pos) = sites.pools.get(j).copied().unwrap_or((None, None));
                if nodepools.iter().any(|q: &NodePool| q.name == np.name) {
                    errors.push(ConfigError {
                        file: f.clone(),
                        line: name_pos.map(|p| p.line),
                        column: name_pos.map(|p| p.col),
                        field: "metadata.name".into(),
                        message: format!(
                            "NodePool `{}` is also defined in an earlier nodepools file",
                            np.name
                        ),
                        suggestion: None,
                    });
                }
                pool_sites.push((f.clone(), ref_pos));
                nodepools.push(np);
            }
            for (j, nc) in c.into_iter().enumerate() {
                let name_pos = sites.classes.get(j).copied().flatten();
                if nodeclasses.iter().any(|q: &EC2NodeClass| q.name == nc.name) {
                    errors.push(ConfigError {
                        file: f.clone(),
                        line: name_pos.map(|p| p.line),
                        column: name_pos.map(|p| p.col),
                        field: "metadata.name".into(),
                        message: format!(
                            "EC2NodeClass `{}` is also defined in an earlier nodepools file",
                            nc.name
                        ),
                        suggestion: None,
                    });
                }
                nodeclasses.push(nc);
            }
        }
    }
    // Every nodeClassRef must name a loaded EC2NodeClass.
    let class_names: Vec<&str> = nodeclasses.iter().map(|c| c.name.as_str()).collect();
    for (np, (file, site)) in nodepools.iter().zip(pool_sites.iter()) {
        let r = &np.spec.template.spec.node_class_ref;
        if !class_names.contains(&r.name.as_str()) {
            errors.push(ConfigError {
                file: file.clone(),
                line: site.map(|p| p.line),
                column: site.map(|p| p.col),
                field: "spec.template.spec.nodeClassRef.name".into(),
                message: format!(
                    "NodePool `{}` references EC2NodeClass `{}`, which none of the nodepools files defines",
                    np.name, r.name
                ),
                suggestion: closest(&r.name, class_names.iter().copied()),
            });
        }
    }

    let mut templates = Vec::new();
    if let Some(f) = &scenario.workload.templates
        && let Some(text) = read_file(path, pos, "workload.templates", f, &mut errors)
    {
        templates = parse_templates_into(&text, f, &mut errors);
    }
    let mut daemonsets = Vec::new();
    if let Some(f) = &scenario.workload.daemonsets
        && let Some(text) = read_file(path, pos, "workload.daemonsets", f, &mut errors)
    {
        daemonsets = parse_daemonsets_into(&text, f, &mut errors);
    }
    let mut pdbs = Vec::new();
    if let Some(f) = &scenario.workload.pdbs
        && let Some(text) = read_file(path, pos, "workload.pdbs", f, &mut errors)
    {
        pdbs = parse_pdbs_into(&text, f, &mut errors);
    }

    // Changes apply cumulatively in time order; variants apply to the base. They are only
    // checked against valid manifests (otherwise every manifest error would repeat).
    let manifests_ok = !errors.iter().any(|e| scenario.nodepools.contains(&e.file));
    let mut order: Vec<usize> = (0..scenario.changes.len()).collect();
    order.sort_by_key(|i| scenario.changes[*i].at_ms);
    let mut state_p = nodepools.clone();
    let mut state_c = nodeclasses.clone();
    for i in order {
        let ch = &scenario.changes[i];
        let cp = join_index("changes", i);
        if manifests_ok {
            edit_objects(
                &mut state_c,
                &ch.nodeclasses,
                path,
                &join_key(&cp, "nodeclasses"),
                &mut errors,
                pos,
            );
            edit_objects(
                &mut state_p,
                &ch.nodepools,
                path,
                &join_key(&cp, "nodepools"),
                &mut errors,
                pos,
            );
        }
    }
    for (i, v) in scenario.variants.iter().enumerate() {
        let vp = join_index("variants", i);
        let mut p = nodepools.clone();
        let mut c = nodeclasses.clone();
        if manifests_ok {
            edit_objects(
                &mut c,
                &v.nodeclasses,
                path,
                &join_key(&vp, "nodeclasses"),
                &mut errors,
                pos,
            );
            edit_objects(
                &mut p,
                &v.nodepools,
                path,
                &join_key(&vp, "nodepools"),
                &mut errors,
                pos,
            );
        }
        if let Err(e) = scenario.with_variant(v).map_err(|e| {
            if scenario_ok {
                e
            } else {
                ConfigErrors::default()
            }
        }) {
            for mut err in e.0 {
                err.file = path.to_path_buf();
                let fp = format!("{vp}.{}", err.field);
                let p = pos.and_then(|idx| idx.key(&fp));
                err.line = p.map(|p| p.line);
                err.column = p.map(|p| p.col);
                err.field = fp;
                errors.push(err);
            }
        }
    }

    ConfigErrors::result(
        errors,
        LoadedScenario {
            path: path.to_path_buf(),
            scenario,
            nodepools,
            nodeclasses,
            templates,
            daemonsets,
            pdbs,
        },
    )
}
