//! Lowering: the parsed scenario (`config`) and the EC2 catalog (`catalog`) become the engine's
//! typed, interned inputs ([`SimSetup`]) and the trace rows become [`Arrival`]s.
//!
//! Owns: per-NodeClass instance types (allocatable from the NodeClass's AMI family and kubelet
//! settings, offerings per scenario zone and capacity type), NodePool templates, DaemonSet
//! overhead pods, pod templates and the per-row pod constraints. May not: simulate or write.

use crate::catalog::{self, Catalog, InstanceTypeInfo, KubeletSettings};
use crate::config::{self, LoadedScenario};
use crate::disruption::drift::DriftKey;
use crate::engine::{Arrival, ExistingSpec, Latency, Scoring, Settings, SimSetup};
use crate::labels::{self, Sym};
use crate::model::{
    AffinityTerm, Effect, HostPort, LabelSelector, PodConstraints, PodInfo, SelOp,
    SpreadConstraint, Taint, Toleration, WhenUnsatisfiable,
};
use crate::requirements::{Op, Requirement, Requirements};
use crate::resources::{ResourceName, Resources};
use crate::scheduler::{
    DaemonSetPod, InstanceType, LimitKey, NodePoolSpecLite, NodePoolTemplate, Offering,
    build_domain_groups, build_template, sort_templates,
};
use crate::workload::{TraceRow, TraceToleration};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A problem found while lowering (not a parse error: those come from `config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn sym(s: &str) -> Sym {
    Sym::new(s)
}

fn op(o: config::Operator) -> Op {
    match o {
        config::Operator::In => Op::In,
        config::Operator::NotIn => Op::NotIn,
        config::Operator::Exists => Op::Exists,
        config::Operator::DoesNotExist => Op::DoesNotExist,
        config::Operator::Gt => Op::Gt,
        config::Operator::Lt => Op::Lt,
        config::Operator::Gte => Op::Gte,
        config::Operator::Lte => Op::Lte,
    }
}

/// A NodePool requirement list as [`Requirements`].
pub fn requirements(list: &[config::NodeSelectorRequirement]) -> Requirements {
    Requirements::from_list(list.iter().map(|r| {
        let vals: Vec<Sym> = r.values.iter().map(|v| sym(v)).collect();
        Requirement::new(sym(&r.key), op(r.operator), &vals).with_min_values(r.min_values)
    }))
}

fn effect(e: config::TaintEffect) -> Effect {
    match e {
        config::TaintEffect::NoSchedule => Effect::NoSchedule,
        config::TaintEffect::PreferNoSchedule => Effect::PreferNoSchedule,
        config::TaintEffect::NoExecute => Effect::NoExecute,
    }
}

/// Taints in model form.
pub fn taints(list: &[config::Taint]) -> Vec<Taint> {
    list.iter()
        .map(|t| Taint {
            key: sym(&t.key),
            value: t.value.as_deref().map(sym),
            effect: effect(t.effect),
        })
        .collect()
}

fn tolerations(list: &[config::Toleration]) -> Vec<Toleration> {
    list.iter()
        .map(|t| Toleration {
            key: t.key.as_deref().filter(|k| !k.is_empty()).map(sym),
            exists: t.operator == config::TolerationOperator::Exists,
            value: t.value.as_deref().map(sym),
            effect: t.effect.map(effect),
        })
        .collect()
}

fn selector(s: &config::LabelSelector) -> LabelSelector {
    LabelSelector {
        match_labels: s
            .match_labels
            .iter()
            .map(|(k, v)| (sym(k), sym(v)))
            .collect(),
        exprs: s
            .match_expressions
            .iter()
            .map(|e| {
                let o = match e.operator {
                    config::SelectorOperator::In => SelOp::In,
                    config::SelectorOperator::NotIn => SelOp::NotIn,
                    config::SelectorOperator::Exists => SelOp::Exists,
                    config::SelectorOperator::DoesNotExist => SelOp::DoesNotExist,
                };
                (sym(&e.key), o, e.values.iter().map(|v| sym(v)).collect())
            })
            .collect(),
    }
}

fn affinity_term(t: &config::PodAffinityTerm) -> AffinityTerm {
    let all = t
        .namespace_selector
        .as_ref()
        .is_some_and(|s| s.match_labels.is_empty() && s.match_expressions.is_empty());
    AffinityTerm {
        selector: t.label_selector.as_ref().map(selector),
        namespaces: t.namespaces.iter().map(|n| sym(n)).collect(),
        all_namespaces: all,
        key: sym(labels::normalize_key(&t.topology_key)),
    }
}

/// The scheduling constraints of a pod spec.
pub fn constraints(spec: &config::PodSpec) -> PodConstraints {
    let mut c = PodConstraints {
        node_selector: spec
            .node_selector
            .iter()
            .map(|(k, v)| (sym(labels::normalize_key(k)), sym(v)))
            .collect(),
        tolerations: tolerations(&spec.tolerations),
        ignored: spec.karpenter_ignore_reason(),
        ..PodConstraints::default()
    };
    if let Some(a) = &spec.affinity {
        if let Some(na) = &a.node_affinity {
            c.required_terms = na
                .required
                .iter()
                .map(|t| requirements(&t.match_expressions))
                .collect();
            c.preferred_terms = na
                .preferred
                .iter()
                .map(|p| (p.weight, requirements(&p.preference.match_expressions)))
                .collect();
        }
        if let Some(pa) = &a.pod_affinity {
            c.affinity_required = pa.required.iter().map(affinity_term).collect();
            c.affinity_preferred = pa
                .preferred
                .iter()
                .map(|w| (w.weight, affinity_term(&w.term)))
                .collect();
        }
        if let Some(pa) = &a.pod_anti_affinity {
            c.anti_required = pa.required.iter().map(affinity_term).collect();
            c.anti_preferred = pa
                .preferred
                .iter()
                .map(|w| (w.weight, affinity_term(&w.term)))
                .collect();
        }
    }
    c.spreads = spec
        .topology_spread_constraints
        .iter()
        .map(|t| SpreadConstraint {
            max_skew: t.max_skew,
            key: sym(labels::normalize_key(&t.topology_key)),
            when: match t.when_unsatisfiable {
                config::WhenUnsatisfiable::DoNotSchedule => WhenUnsatisfiable::DoNotSchedule,
                config::WhenUnsatisfiable::ScheduleAnyway => WhenUnsatisfiable::ScheduleAnyway,
            },
            selector: t.label_selector.as_ref().map(selector),
            min_domains: t.min_domains,
            honor_affinity: t.node_affinity_policy != Some(config::NodeInclusionPolicy::Ignore),
            honor_taints: t.node_taints_policy == Some(config::NodeInclusionPolicy::Honor),
            match_label_keys: t.match_label_keys.iter().map(|k| sym(k)).collect(),
        })
        .collect();
    // A pod that requires `karpenter.sh/nodepool DoesNotExist` (nodeSelector ∩ required term[0]
    // ∩ heaviest preferred term) opts out of Karpenter (`validateKarpenterManagedLabelCanExist`).
    if c.ignored.is_none()
        && c.requirements(false)
            .get(labels::NODEPOOL)
            .is_some_and(|q| q.operator() == Op::DoesNotExist)
    {
        c.ignored = Some("configured to not run on a Karpenter provisioned node (karpenter.sh/nodepool DoesNotExist)".into());
    }
    c.host_ports = spec
        .host_ports()
        .into_iter()
        .map(|(ip, port, proto)| HostPort {
            ip: (ip != "0.0.0.0" && ip != "::" && !ip.is_empty()).then(|| sym(&ip)),
            port: port.clamp(0, 65535) as u16,
            protocol: sym(match proto {
                config::Protocol::Tcp => "TCP",
                config::Protocol::Udp => "UDP",
                config::Protocol::Sctp => "SCTP",
            }),
        })
        .collect();
    c
}

/// A resource map (name → milli-value) as [`Resources`], plus `pods: 1`.
pub fn pod_requests(map: &BTreeMap<String, i64>) -> Resources {
    let mut r = Resources::ZERO;
    for (k, v) in map {
        if let Some(n) = ResourceName::parse(k) {
            let cur = r.get(n);
            r.set(n, cur.saturating_add(*v));
        }
    }
    r.set(ResourceName::Pods, 1000);
    r
}

/// Whether a type is "exotic" for the AWS launch filter (metal, GPUs, accelerators).
fn exotic(it: &InstanceTypeInfo) -> bool {
    it.size.contains("metal")
        || it
            .gpu_manufacturer
            .as_deref()
            .is_some_and(|m| m == "nvidia" || m == "amd")
        || it.accelerator_count > 0
}

/// The resolved NodeClass settings that shape instance types.
#[derive(Debug, Clone)]
pub struct NodeClassShape {
    pub family: catalog::AmiFamily,
    pub kubelet: KubeletSettings,
    pub root_volume_gib: Option<i64>,
}

/// Reads the AMI family (explicit, or from an `alias`), kubelet settings and root volume.
pub fn nodeclass_shape(nc: &config::EC2NodeClass) -> NodeClassShape {
    let from_alias = nc
        .spec
        .ami_selector_terms
        .iter()
        .find_map(|t| t.alias.as_deref())
        .and_then(|a| {
            let fam = a.split('@').next().unwrap_or("");
            match fam {
                "al2" => Some(catalog::AmiFamily::AL2),
                "al2023" => Some(catalog::AmiFamily::AL2023),
                "bottlerocket" => Some(catalog::AmiFamily::Bottlerocket),
                "windows2019" => Some(catalog::AmiFamily::Windows2019),
                "windows2022" => Some(catalog::AmiFamily::Windows2022),
                "windows2025" => Some(catalog::AmiFamily::Windows2025),
                _ => None,
            }
        });
    let family = nc
        .spec
        .ami_family
        .map(|f| match f {
            config::AmiFamily::AL2 => catalog::AmiFamily::AL2,
            config::AmiFamily::AL2023 => catalog::AmiFamily::AL2023,
            config::AmiFamily::Bottlerocket => catalog::AmiFamily::Bottlerocket,
            config::AmiFamily::Custom => catalog::AmiFamily::Custom,
            config::AmiFamily::Windows2019 => catalog::AmiFamily::Windows2019,
            config::AmiFamily::Windows2022 => catalog::AmiFamily::Windows2022,
            config::AmiFamily::Windows2025 => catalog::AmiFamily::Windows2025,
        })
        .or(from_alias)
        .unwrap_or(catalog::AmiFamily::AL2023);
    let mut kubelet = KubeletSettings::default();
    if let Some(k) = &nc.spec.kubelet {
        kubelet.max_pods = k.max_pods.map(i64::from);
        kubelet.pods_per_core = k.pods_per_core.map(i64::from);
        kubelet.kube_reserved = k.kube_reserved.clone();
        kubelet.system_reserved = k.system_reserved.clone();
        kubelet.eviction_hard = k
            .eviction_hard
            .iter()
            .map(|(s, t)| {
                let v = match t {
                    config::EvictionThreshold::Quantity(q) => format!("{}m", q),
                    config::EvictionThreshold::Percent(p) => format!("{p}%"),
                };
                (s.clone(), v)
            })
            .collect();
    }
    let root_volume_gib = nc
        .spec
        .block_device_mappings
        .iter()
        .find(|b| b.root_volume)
        .or_else(|| nc.spec.block_device_mappings.first())
        .and_then(|b| b.ebs.as_ref())
        .and_then(|e| e.volume_size)
        .map(|milli| (milli / 1000) / (1 << 30));
    NodeClassShape {
        family,
        kubelet,
        root_volume_gib,
    }
}

/// The instance types of a NodeClass in a region and zones.
pub fn instance_types(
    cat: &Catalog,
    region: &str,
    zones: &[String],
    shape: &NodeClassShape,
) -> Vec<InstanceType> {
    let zone_syms: Vec<Sym> = zones.iter().map(|z| sym(z)).collect();
    let region_sym = sym(region);
    let mut out = Vec::new();
    for info in &cat.instance_types {
        let Some(od) = cat.on_demand_price(region, &info.name) else {
            continue;
        };
        let advice = cat.spot_advisor(region, &info.name);
        let mut offerings = Vec::new();
        for (z, zs) in zones.iter().zip(&zone_syms) {
            if let Some(sp) = cat.spot_price(region, &info.name, z) {
                offerings.push(Offering {
                    zone: *zs,
                    capacity_type: labels::SPOT,
                    price: sp,
                    available: true,
                    interruption_band: advice.as_ref().map(|a| a.band),
                });
            }
            offerings.push(Offering {
                zone: *zs,
                capacity_type: labels::ON_DEMAND,
                price: od,
                available: true,
                interruption_band: None,
            });
        }
        let mut reqs = Requirements::new();
        for (k, v) in catalog::well_known_labels_for(info, shape.family) {
            let key = sym(k);
            match v {
                Some(v) => reqs.add(Requirement::single(key, sym(&v))),
                None => reqs.add(Requirement::does_not_exist(key)),
            }
        }
        reqs.add(Requirement::in_values(labels::ZONE, &zone_syms));
        reqs.add(Requirement::single(labels::REGION, region_sym));
        let mut cts = vec![labels::ON_DEMAND];
        if advice.is_some() {
            cts.push(labels::SPOT);
        }
        reqs.add(Requirement::in_values(labels::CAPACITY_TYPE, &cts));
        out.push(InstanceType {
            name: sym(&info.name),
            requirements: reqs,
            capacity: catalog::capacity(info, shape.family, &shape.kubelet, shape.root_volume_gib),
            allocatable: catalog::allocatable(
                info,
                shape.family,
                &shape.kubelet,
                shape.root_volume_gib,
            ),
            offerings,
            exotic: exotic(info),
        });
    }
    out
}

fn limits(map: &BTreeMap<String, i64>) -> Option<Vec<(LimitKey, i64)>> {
    if map.is_empty() {
        return None;
    }
    Some(
        map.iter()
            .filter_map(|(k, v)| {
                if k == "nodes" {
                    Some((LimitKey::Nodes, v / 1000))
                } else {
                    ResourceName::parse(k).map(|r| (LimitKey::Resource(r), *v))
                }
            })
            .collect(),
    )
}

/// Pod templates by name, lowered once.
#[derive(Debug, Clone)]
pub struct CompiledTemplate {
    pub labels: Vec<(Sym, Sym)>,
    pub constraints: PodConstraints,
    pub requests: BTreeMap<String, i64>,
    pub priority: i32,
    pub do_not_disrupt: bool,
    pub namespace: Option<String>,
    /// `terminationGracePeriodSeconds`, in ms.
    pub termination_grace_ms: Option<u64>,
}

/// The lowered scenario.
pub struct Compiled {
    pub setup: SimSetup,
    pub templates: BTreeMap<String, CompiledTemplate>,
    pub region: String,
    pub zones: Vec<String>,
    /// Notes for the report (assumptions made while lowering).
    pub notes: Vec<String>,
}

/// Lowers a loaded scenario over a catalog.
pub fn compile(ls: &LoadedScenario, cat: &Catalog) -> Result<Compiled, Vec<CompileError>> {
    let sc = &ls.scenario;
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let region = sc.region.clone();
    let zones = match &sc.zones {
        Some(z) => z.clone(),
        None => match Catalog::default_zones(&region) {
            Some(z) => z,
            None => {
                errors.push(CompileError {
                    field: "region".into(),
                    message: format!("unknown region `{region}`"),
                });
                Vec::new()
            }
        },
    };
    if let Some(known) = Catalog::region_zones(&region) {
        for z in &zones {
            if !known.contains(z) {
                errors.push(CompileError {
                    field: "zones".into(),
                    message: format!(
                        "zone `{z}` is not a zone of {region} (known: {})",
                        known.join(", ")
                    ),
                });
            }
        }
    }
    // A generator's template must be one of the scenario's templates.
    for (i, g) in sc.workload.generate.iter().flatten().enumerate() {
        if let Some(t) = &g.pod.template
            && !ls.templates.iter().any(|pt| pt.name == *t)
        {
            let names: Vec<&str> = ls.templates.iter().map(|pt| pt.name.as_str()).collect();
            let hint = crate::config::closest(t, names.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            errors.push(CompileError {
                field: format!("workload.generate[{i}].template"),
                message: if names.is_empty() {
                    format!("template `{t}`: the scenario has no `workload.templates`")
                } else {
                    format!(
                        "there is no template named `{t}`{hint} (templates: {})",
                        names.join(", ")
                    )
                },
            });
        }
    }
    // DaemonSets.
    let daemonsets: Vec<DaemonSetPod> = ls
        .daemonsets
        .iter()
        .map(|d| DaemonSetPod {
            name: sym(&d.name),
            namespace: sym(d.metadata.namespace.as_deref().unwrap_or("default")),
            constraints: constraints(&d.spec),
            requests: pod_requests(&d.spec.effective_requests()),
        })
        .collect();
    let env = PoolEnv {
        cat,
        region: &region,
        zones: &zones,
        daemonsets: &daemonsets,
        start: sc.start,
    };
    let base = compile_pools(&ls.nodepools, &ls.nodeclasses, &env, &mut notes);
    // `changes`: the NodePools and classes from each change on. Karpenter's NodePool order
    // (weight) and the set of usable NodePools must stay as they were.
    let mut changes = Vec::new();
    match ls.change_states() {
        Err(e) => {
            for err in e.0 {
                errors.push(CompileError {
                    field: format!("changes: {}", err.field),
                    message: err.message,
                });
            }
        }
        Ok(states) => {
            for st in &states {
                let mut ignored = Vec::new();
                let v = compile_pools(&st.nodepools, &st.nodeclasses, &env, &mut ignored);
                let names = |p: &CompiledPools| -> Vec<Sym> {
                    p.templates.iter().map(|t| t.name).collect()
                };
                if names(&v) != names(&base) {
                    errors.push(CompileError {
                        field: format!("changes (at {} s)", st.at_ms / 1000),
                        message: format!(
                            "this change turns the usable NodePools, in Karpenter's weight order, \
                             from [{}] into [{}]; changes that add, remove or reorder NodePools \
                             mid-run are not built yet: edit one NodePool's template, \
                             requirements, disruption settings or its EC2NodeClass instead",
                            names(&base)
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                            names(&v)
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                    });
                    continue;
                }
                changes.push(crate::engine::PoolView {
                    at_ms: st.at_ms,
                    templates: v.templates,
                    domain_groups: v.domain_groups,
                    pool_settings: v.pool_settings,
                    drift: v.drift,
                    tolerate_prefer_no_schedule: v.tolerate_pns,
                });
            }
        }
    }
    let CompiledPools {
        templates,
        skipped,
        domain_groups,
        pool_settings,
        drift,
        tolerate_pns,
    } = base;
    let pdbs: Vec<crate::engine::PdbSpec> = ls
        .pdbs
        .iter()
        .filter_map(|b| {
            use crate::engine::PdbBudget;
            let budget = match (&b.min_available, &b.max_unavailable) {
                (Some(config::IntOrPercent::Int(n)), _) => PdbBudget::MinAvailable(*n),
                (Some(config::IntOrPercent::Percent(p)), _) => {
                    PdbBudget::MinAvailablePercent(i64::from(*p))
                }
                (None, Some(config::IntOrPercent::Int(n))) => PdbBudget::MaxUnavailable(*n),
                (None, Some(config::IntOrPercent::Percent(p))) => {
                    PdbBudget::MaxUnavailablePercent(i64::from(*p))
                }
                (None, None) => return None,
            };
            Some(crate::engine::PdbSpec {
                namespace: sym(&b.namespace),
                // A PDB without a selector selects no pod (policy/v1).
                selector: b.selector.as_ref().map(selector)?,
                budget,
            })
        })
        .collect();
    // Pod templates.
    let mut ptemplates = BTreeMap::new();
    for pt in &ls.templates {
        let c = constraints(&pt.spec);
        ptemplates.insert(
            pt.name.clone(),
            CompiledTemplate {
                labels: pt
                    .metadata
                    .labels
                    .iter()
                    .map(|(k, v)| (sym(k), sym(v)))
                    .collect(),
                constraints: c,
                requests: pt.spec.effective_requests(),
                priority: pt.spec.priority.unwrap_or(0),
                do_not_disrupt: pt
                    .metadata
                    .annotations
                    .get("karpenter.sh/do-not-disrupt")
                    .is_some_and(|v| v == "true"),
                namespace: pt.metadata.namespace.clone(),
                termination_grace_ms: pt
                    .spec
                    .termination_grace_period_seconds
                    .filter(|s| *s > 0)
                    .map(|s| s as u64 * 1000),
            },
        );
    }
    // Existing nodes.
    let mut existing = Vec::new();
    let default_shape = NodeClassShape {
        family: catalog::AmiFamily::AL2023,
        kubelet: KubeletSettings::default(),
        root_volume_gib: None,
    };
    let mut rr = 0usize;
    for (gi, g) in sc.existing_nodes.iter().enumerate() {
        let Some(info) = cat.instance_type(&g.instance_type) else {
            errors.push(CompileError {
                field: format!("existing_nodes[{gi}].instance_type"),
                message: format!("unknown instance type `{}`", g.instance_type),
            });
            continue;
        };
        let one = instance_types_one(cat, info, &region, &zones, &default_shape);
        let price = match g.capacity_type {
            config::CapacityType::Spot => cat.spot_price(
                &region,
                &info.name,
                zones.first().map(String::as_str).unwrap_or(""),
            ),
            _ => cat.on_demand_price(&region, &info.name),
        }
        .unwrap_or(0.0);
        for k in 0..g.count {
            let zone = g.zone.clone().unwrap_or_else(|| {
                zones
                    .get(rr % zones.len().max(1))
                    .cloned()
                    .unwrap_or_default()
            });
            rr += 1;
            let name = sym(&format!("existing-{}-{:03}", gi, k + 1));
            let mut lbls: Vec<(Sym, Sym)> = one
                .requirements
                .iter()
                .filter_map(|q| q.single_value().map(|v| (q.key, v)))
                .collect();
            lbls.retain(|(k, _)| *k != labels::ZONE && *k != labels::CAPACITY_TYPE);
            lbls.push((labels::ZONE, sym(&zone)));
            lbls.push((labels::CAPACITY_TYPE, sym(g.capacity_type.as_str())));
            for (k, v) in &g.labels {
                lbls.retain(|(x, _)| x.as_str() != k);
                lbls.push((sym(k), sym(v)));
            }
            lbls.push((labels::HOSTNAME, name));
            existing.push(ExistingSpec {
                name,
                instance_type: one.clone(),
                zone: sym(&zone),
                capacity_type: sym(g.capacity_type.as_str()),
                price,
                labels: lbls,
                taints: taints(&g.taints),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let k = &sc.karpenter;
    let settings = Settings {
        batch_idle_ms: k.batch_idle_duration_ms,
        batch_max_ms: k.batch_max_duration_ms,
        launch_latency: match k.launch_latency.distribution {
            config::LatencyDistribution::Constant => Latency::Constant(k.launch_latency.median_ms),
            config::LatencyDistribution::Lognormal => Latency::LogNormal {
                median_ms: k.launch_latency.median_ms,
                p90_ms: k.launch_latency.p90_ms,
            },
        },
        create_fleet_ms: 2_000,
        pod_startup_ms: k.pod_startup_ms,
        scoring: match sc.kube_scheduler.scoring {
            config::Scoring::LeastAllocated => Scoring::LeastAllocated,
            config::Scoring::MostAllocated => Scoring::MostAllocated,
        },
        spot_ice_probability: sc.interruptions.insufficient_capacity,
        min_values_best_effort: false,
        ignore_preferences: false,
        spot_to_spot: k.feature_gate("SpotToSpotConsolidation"),
        interruptions: interruption_settings(&sc.interruptions),
        spot_prices: match sc.spot_prices.model {
            config::SpotPriceModel::Constant => None,
            config::SpotPriceModel::Varying => Some(crate::engine::spot_price::PriceWalk::new(
                sc.spot_prices.change_interval_ms,
                sc.spot_prices.step,
                sc.spot_prices.reversion,
            )),
        },
    };
    for (name, why) in &skipped {
        notes.push(format!("NodePool {name} skipped: {why}"));
    }
    if !ls.nodepools.is_empty() {
        notes.push(
            "disruption: Emptiness, drift, multi- and single-node consolidation \
             (WhenEmptyOrUnderutilized and Balanced), budgets, expiration and termination are \
             simulated"
                .into(),
        );
    }
    Ok(Compiled {
        setup: SimSetup {
            name: sc.name.clone(),
            seed: sc.seed,
            horizon_ms: sc.duration_ms,
            templates,
            skipped_pools: skipped,
            domain_groups,
            daemonsets,
            existing,
            settings,
            tolerate_prefer_no_schedule: tolerate_pns
                || changes.iter().any(|c| c.tolerate_prefer_no_schedule),
            drift,
            changes,
            pool_settings,
            pdbs,
            consolidation_precheck: true,
        },
        templates: ptemplates,
        region,
        zones,
        notes,
    })
}

/// `interruptions` as the engine runs it: hazards per hour, already scaled by
/// `rate_multiplier` (which scales the reclaim events too).
fn interruption_settings(i: &config::Interruptions) -> crate::engine::spot::InterruptionSettings {
    use crate::engine::spot::{Hazard, InterruptionSettings, MONTH_HOURS, band_hourly_rate};
    let m = i.rate_multiplier;
    InterruptionSettings {
        hazard: match i.model {
            config::InterruptionModel::None => Hazard::None,
            config::InterruptionModel::SpotAdvisor => {
                Hazard::Bands([0u8, 1, 2, 3, 4].map(|b| band_hourly_rate(b) * m))
            }
            config::InterruptionModel::Constant => {
                Hazard::Constant(i.constant_monthly_rate.unwrap_or(0.0) / MONTH_HOURS * m)
            }
        },
        notice_ms: i.notice_ms,
        reclaim: i
            .reclaim_events
            .map(|r| (r.monthly_rate / MONTH_HOURS * m, r.fraction)),
    }
}

/// What lowering NodePools needs besides the objects.
struct PoolEnv<'a> {
    cat: &'a Catalog,
    region: &'a str,
    zones: &'a [String],
    daemonsets: &'a [DaemonSetPod],
    start: chrono::DateTime<chrono::Utc>,
}

/// NodePools and EC2NodeClasses lowered: templates in Karpenter's order and, per template, its
/// settings and drift key.
struct CompiledPools {
    templates: Vec<NodePoolTemplate>,
    skipped: Vec<(String, String)>,
    domain_groups: FxHashMap<Sym, crate::scheduler::topology::DomainGroup>,
    pool_settings: Vec<crate::engine::PoolSettings>,
    drift: Vec<DriftKey>,
    tolerate_pns: bool,
}

fn compile_pools(
    nodepools: &[config::NodePool],
    nodeclasses: &[config::EC2NodeClass],
    env: &PoolEnv,
    notes: &mut Vec<String>,
) -> CompiledPools {
    // NodeClasses → instance types.
    let mut class_types: BTreeMap<String, Arc<Vec<InstanceType>>> = BTreeMap::new();
    for nc in nodeclasses {
        let shape = nodeclass_shape(nc);
        let its = instance_types(env.cat, env.region, env.zones, &shape);
        if its.is_empty() {
            notes.push(format!(
                "EC2NodeClass {}: no instance type has an on-demand price in {}",
                nc.name, env.region
            ));
        }
        class_types.insert(nc.name.clone(), Arc::new(its));
    }
    let mut templates: Vec<NodePoolTemplate> = Vec::new();
    let mut skipped = Vec::new();
    let mut tolerate_pns = false;
    for np in nodepools {
        let t = &np.spec.template;
        let Some(its) = class_types.get(&t.spec.node_class_ref.name) else {
            skipped.push((
                np.name.clone(),
                format!(
                    "EC2NodeClass `{}` not found: the NodePool is not Ready",
                    t.spec.node_class_ref.name
                ),
            ));
            continue;
        };
        if np.spec.replicas.is_some() {
            skipped.push((
                np.name.clone(),
                "static NodePools (spec.replicas) are not provisioned by the batch scheduler"
                    .into(),
            ));
            continue;
        }
        let lite = NodePoolSpecLite {
            name: np.name.clone(),
            weight: np.spec.weight.unwrap_or(0),
            requirements: requirements(&t.spec.requirements),
            labels: t.labels.iter().map(|(k, v)| (sym(k), sym(v))).collect(),
            taints: taints(&t.spec.taints),
            startup_taints: taints(&t.spec.startup_taints),
            limits: limits(&np.spec.limits),
            node_class: Some(t.spec.node_class_ref.name.clone()),
        };
        if lite
            .taints
            .iter()
            .any(|x| x.effect == Effect::PreferNoSchedule)
        {
            tolerate_pns = true;
        }
        match build_template(&lite, its.clone(), env.daemonsets, false) {
            Ok(tpl) => {
                if tpl.requirements.allows(labels::CAPACITY_TYPE, labels::SPOT) {
                    let no_spot = tpl
                        .candidates
                        .iter()
                        .filter(|i| {
                            !tpl.instance_types[**i as usize]
                                .offerings
                                .iter()
                                .any(|o| o.capacity_type == labels::SPOT)
                        })
                        .count();
                    if no_spot > 0 {
                        notes.push(format!(
                            "NodePool {}: {no_spot} of its {} instance types have no Spot Instance \
                             Advisor entry in {}: assumed to have no Spot offering (on-demand only)",
                            np.name,
                            tpl.candidates.len(),
                            env.region
                        ));
                    }
                }
                templates.push(tpl);
            }
            Err(why) => skipped.push((np.name.clone(), why)),
        }
    }
    sort_templates(&mut templates);
    let domain_groups = build_domain_groups(&templates);
    let pool_of = |name: Sym| nodepools.iter().find(|n| n.name == name.as_str());
    // End-of-life settings of each template's NodePool, in template order.
    let pool_settings: Vec<crate::engine::PoolSettings> = templates
        .iter()
        .map(|t| {
            let np = pool_of(t.name);
            crate::engine::PoolSettings {
                consolidates_underutilized: np.is_some_and(|n| {
                    n.spec.disruption.consolidation_policy != config::ConsolidationPolicy::WhenEmpty
                }),
                balanced: np.is_some_and(|n| {
                    n.spec.disruption.consolidation_policy == config::ConsolidationPolicy::Balanced
                }),
                consolidate_after_ms: np.and_then(|n| n.spec.disruption.consolidate_after.ms()),
                budgets: Arc::new(match np {
                    Some(n) => crate::disruption::budgets::Budgets::for_pool(n, env.start),
                    None => crate::disruption::budgets::Budgets::new(&[], env.start),
                }),
                expire_after_ms: np.and_then(|n| n.spec.template.spec.expire_after.ms()),
                termination_grace_ms: np
                    .and_then(|n| n.spec.template.spec.termination_grace_period_ms),
            }
        })
        .collect();
    let drift = templates
        .iter()
        .filter_map(|t| {
            let np = pool_of(t.name)?;
            let nc = nodeclasses
                .iter()
                .find(|c| c.name == np.spec.template.spec.node_class_ref.name)?;
            Some(DriftKey::new(np, nc))
        })
        .collect();
    CompiledPools {
        templates,
        skipped,
        domain_groups,
        pool_settings,
        drift,
        tolerate_pns,
    }
}

fn instance_types_one(
    cat: &Catalog,
    info: &InstanceTypeInfo,
    region: &str,
    zones: &[String],
    shape: &NodeClassShape,
) -> InstanceType {
    let mut reqs = Requirements::new();
    for (k, v) in catalog::well_known_labels_for(info, shape.family) {
        match v {
            Some(v) => reqs.add(Requirement::single(sym(k), sym(&v))),
            None => reqs.add(Requirement::does_not_exist(sym(k))),
        }
    }
    reqs.add(Requirement::single(labels::REGION, sym(region)));
    let _ = (cat, zones);
    InstanceType {
        name: sym(&info.name),
        requirements: reqs,
        capacity: catalog::capacity(info, shape.family, &shape.kubelet, shape.root_volume_gib),
        allocatable: catalog::allocatable(
            info,
            shape.family,
            &shape.kubelet,
            shape.root_volume_gib,
        ),
        offerings: Vec::new(),
        exotic: exotic(info),
    }
}

/// Rows with the same template, node selector and tolerations share their constraints.
type ShapeKey = (Option<String>, Vec<(String, String)>, Vec<String>);

/// Turns trace rows into arrivals, sharing constraints between rows of the same shape.
pub struct ArrivalBuilder<'c> {
    templates: &'c BTreeMap<String, CompiledTemplate>,
    cache: FxHashMap<ShapeKey, Arc<PodConstraints>>,
}

impl<'c> ArrivalBuilder<'c> {
    pub fn new(templates: &'c BTreeMap<String, CompiledTemplate>) -> ArrivalBuilder<'c> {
        ArrivalBuilder {
            templates,
            cache: FxHashMap::default(),
        }
    }

    /// Lowers one row. Errors name the column.
    pub fn arrival(&mut self, row: &TraceRow) -> Result<Arrival, String> {
        let tpl = match &row.template {
            Some(name) => Some(self.templates.get(name).ok_or_else(|| {
                let names: Vec<&str> = self.templates.keys().map(String::as_str).collect();
                let hint = config::closest(name, names.iter().copied())
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                format!("column template: no pod template named `{name}`{hint}")
            })?),
            None => None,
        };
        let tol_key: Vec<String> = row.tolerations.iter().map(tol_string).collect();
        let key = (row.template.clone(), row.node_selector.clone(), tol_key);
        let constraints = match self.cache.get(&key) {
            Some(c) => c.clone(),
            None => {
                let mut c = tpl.map(|t| t.constraints.clone()).unwrap_or_default();
                for (k, v) in &row.node_selector {
                    let k = sym(labels::normalize_key(k));
                    c.node_selector.retain(|(x, _)| *x != k);
                    c.node_selector.push((k, sym(v)));
                }
                if c.ignored.is_none() {
                    for (k, _) in &row.node_selector {
                        if let Some(r) = labels::restricted_reason(labels::normalize_key(k)) {
                            c.ignored = Some(format!("nodeSelector: {r}"));
                        }
                    }
                }
                for t in &row.tolerations {
                    c.tolerations.push(Toleration {
                        key: t.key.as_deref().map(sym),
                        exists: t.operator_exists,
                        value: t.value.as_deref().map(sym),
                        effect: t.effect.as_deref().and_then(Effect::parse),
                    });
                }
                let arc = Arc::new(c);
                self.cache.insert(key, arc.clone());
                arc
            }
        };
        let mut req_map = tpl.map(|t| t.requests.clone()).unwrap_or_default();
        if let Some(cpu) = row.cpu_milli {
            req_map.insert("cpu".into(), cpu);
        }
        if let Some(m) = row.memory_milli {
            req_map.insert("memory".into(), m);
        }
        if let Some(g) = row.gpu {
            req_map.insert("nvidia.com/gpu".into(), g.saturating_mul(1000));
        }
        if !req_map.contains_key("cpu") && !req_map.contains_key("memory") && tpl.is_none() {
            return Err(
                "columns cpu and memory: the row has no requests and no template supplies them"
                    .into(),
            );
        }
        let mut lbls: Vec<(Sym, Sym)> = tpl.map(|t| t.labels.clone()).unwrap_or_default();
        for (k, v) in &row.labels {
            let k = sym(k);
            lbls.retain(|(x, _)| *x != k);
            lbls.push((k, sym(v)));
        }
        let namespace = if row.namespace == crate::workload::DEFAULT_NAMESPACE {
            tpl.and_then(|t| t.namespace.clone())
                .unwrap_or_else(|| row.namespace.clone())
        } else {
            row.namespace.clone()
        };
        let id = u32::try_from(row.index)
            .map_err(|_| "trace too long (more than 4 billion rows)".to_string())?;
        let owner = row.owner.as_deref().map(sym);
        let name = format!(
            "{}-{}",
            row.owner
                .as_deref()
                .or(row.template.as_deref())
                .unwrap_or("pod"),
            row.index
        );
        Ok(Arrival {
            info: PodInfo {
                id,
                namespace: sym(&namespace),
                labels: lbls.into(),
                requests: pod_requests(&req_map),
                constraints,
                created: row.arrival_ms,
                priority: row.priority.or(tpl.map(|t| t.priority)).unwrap_or(0),
            },
            name,
            owner,
            duration_ms: row.duration_ms,
            do_not_disrupt: row.do_not_disrupt || tpl.is_some_and(|t| t.do_not_disrupt),
            termination_grace_ms: tpl.and_then(|t| t.termination_grace_ms),
        })
    }
}

fn tol_string(t: &TraceToleration) -> String {
    format!(
        "{:?}|{}|{:?}|{:?}",
        t.key, t.operator_exists, t.value, t.effect
    )
}
