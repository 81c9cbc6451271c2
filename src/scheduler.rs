//! Karpenter's provisioning scheduler: one `Solve` pass over the pending pods
//! (`core: pkg/controllers/provisioning/scheduling/scheduler.go`, `nodeclaim.go`,
//! `existingnode.go`, `queue.go`, `preferences.go`).
//!
//! Owns: the queue order, relaxation, placement onto existing nodes, onto the pass's in-flight
//! NodeClaims and onto new NodeClaims per NodePool template, instance-type narrowing, daemon
//! overhead, limits, minValues and the 600-type truncation. Returns a plan; it never mutates
//! cluster state, reads no clock and does no I/O.

pub mod topology;

use crate::labels::{self, Sym};
use crate::model::{HostPort, PodConstraints, PodInfo, Taint, Toleration, untolerated};
use crate::requirements::{Requirement, Requirements};
use crate::resources::{ResourceName, Resources};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeSet;
use std::sync::Arc;
use topology::{DomainGroup, TopoNode, Topology};

/// The named generator used for every random draw in the simulator.
pub type SimRng = rand::rngs::Xoshiro256PlusPlus;

/// Karpenter's `MaxInstanceTypes` for a NodeClaim written by the scheduler.
pub const MAX_INSTANCE_TYPES: usize = 600;

/// One purchasable (zone, capacity type) of an instance type.
#[derive(Debug, Clone, PartialEq)]
pub struct Offering {
    pub zone: Sym,
    pub capacity_type: Sym,
    /// USD per hour in the catalog (read the current price through [`Market::price`]).
    pub price: f64,
    /// Static availability (a price exists and the zone is offered).
    pub available: bool,
    /// Spot interruption band from the Advisor (0–4), when known.
    pub interruption_band: Option<u8>,
}

/// An instance type as a NodeClass resolves it (allocatable depends on the NodeClass).
#[derive(Debug, Clone)]
pub struct InstanceType {
    pub name: Sym,
    pub requirements: Requirements,
    pub capacity: Resources,
    pub allocatable: Resources,
    pub offerings: Vec<Offering>,
    /// Metal or accelerator type, dropped at launch unless nothing else is left.
    pub exotic: bool,
}

/// What the offerings are worth and whether they can be had right now: the offerings made
/// unavailable at run time (the ICE cache) and, under `spot_prices: varying`, the current Spot
/// prices. An offering's `price` is its catalog price; read prices through [`Market::price`].
#[derive(Debug, Default, Clone)]
pub struct Market {
    /// (instance type, zone, capacity type) launches failed with insufficient capacity.
    pub unavailable: FxHashSet<(Sym, Sym, Sym)>,
    /// Current Spot prices by (instance type, zone); empty when prices are constant.
    pub spot: rustc_hash::FxHashMap<(Sym, Sym), f64>,
    /// Bumped at every change of the two above (caches of prices and availability key on it).
    pub version: u64,
}

impl Market {
    /// No offering is in the ICE cache.
    #[inline]
    pub fn none_unavailable(&self) -> bool {
        self.unavailable.is_empty()
    }

    #[inline]
    pub fn is_unavailable(&self, key: &(Sym, Sym, Sym)) -> bool {
        self.unavailable.contains(key)
    }

    /// Offering `o` of instance type `it`: its price per hour now.
    #[inline]
    pub fn price(&self, it: Sym, o: &Offering) -> f64 {
        if self.spot.is_empty() || o.capacity_type != labels::SPOT {
            return o.price;
        }
        self.spot.get(&(it, o.zone)).copied().unwrap_or(o.price)
    }
}

impl InstanceType {
    /// Whether offering `o` is available now and allowed by `reqs` (zone, capacity type).
    #[inline]
    pub fn offering_ok(&self, o: &Offering, reqs: &Requirements, market: &Market) -> bool {
        o.available
            && reqs.allows(labels::ZONE, o.zone)
            && reqs.allows(labels::CAPACITY_TYPE, o.capacity_type)
            && (market.none_unavailable()
                || !market.is_unavailable(&(self.name, o.zone, o.capacity_type)))
    }

    /// Cheapest available offering compatible with `reqs`, at today's prices.
    pub fn cheapest(&self, reqs: &Requirements, market: &Market) -> Option<&Offering> {
        self.offerings
            .iter()
            .filter(|o| self.offering_ok(o, reqs, market))
            .min_by(|a, b| {
                market
                    .price(self.name, a)
                    .total_cmp(&market.price(self.name, b))
            })
    }

    /// The price of [`InstanceType::cheapest`].
    pub fn cheapest_price(&self, reqs: &Requirements, market: &Market) -> Option<f64> {
        self.cheapest(reqs, market)
            .map(|o| market.price(self.name, o))
    }
}

/// DaemonSet overhead shared by the instance types that run the same DaemonSets.
#[derive(Debug, Clone, Default)]
pub struct DaemonGroup {
    pub overhead: Resources,
    pub host_ports: Vec<HostPort>,
    /// False for the group of types that run no DaemonSet.
    pub has_daemons: bool,
}

/// A limit key of a NodePool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKey {
    Resource(ResourceName),
    Nodes,
}

/// Remaining NodePool limits (only the keys the NodePool limits).
pub type Limits = Vec<(LimitKey, i64)>;

/// A NodePool's NodeClaim template (`nodeclaimtemplate.go`), built once per run.
#[derive(Debug, Clone)]
pub struct NodePoolTemplate {
    pub name: Sym,
    pub weight: i32,
    /// NodePool requirements ∩ template labels ∩ nodepool ∩ nodeclass ∩ registered/initialized.
    pub requirements: Requirements,
    pub labels: Vec<(Sym, Sym)>,
    pub taints: Vec<Taint>,
    pub startup_taints: Vec<Taint>,
    /// The instance types of this template's NodeClass.
    pub instance_types: Arc<Vec<InstanceType>>,
    /// Indexes of the types compatible with the template (pre-filter).
    pub candidates: Vec<u32>,
    /// Per resource, the most any candidate offers after DaemonSet overhead: a fresh
    /// NodeClaim's quick-reject bound while no offering is unavailable.
    pub candidates_bound: Resources,
    pub daemon_groups: Vec<DaemonGroup>,
    /// Per entry of `instance_types`: its daemon group.
    pub it_group: Vec<u16>,
    /// Limits as configured.
    pub limits: Option<Limits>,
}

/// A node that exists (registered, or launched and not yet registered) at the start of a pass.
#[derive(Debug, Clone)]
pub struct ExistingNode {
    pub name: Sym,
    pub initialized: bool,
    /// The node's labels as `In [value]` requirements, hostname included.
    pub requirements: Arc<Requirements>,
    pub taints: Vec<Taint>,
    /// Allocatable − requests of bound pods − DaemonSet overhead not yet running there.
    pub available: Resources,
    pub host_ports: Vec<HostPort>,
    /// Inside its NodePool's consolidateAfter window: a consolidation simulation may not move
    /// a bound pod onto it (`SolveInput::moving`).
    pub cooling: bool,
}

/// Everything one pass reads.
pub struct SolveInput<'a> {
    /// Templates in Karpenter's order (weight descending, name descending).
    pub templates: &'a [NodePoolTemplate],
    pub existing: &'a [ExistingNode],
    /// Pods bound to existing nodes (for topology counting), with the node index.
    pub placed: Vec<(PodInfo, usize)>,
    /// Remaining limits per template (same order as `templates`).
    pub remaining: Vec<Option<Limits>>,
    pub market: &'a Market,
    pub domain_groups: &'a FxHashMap<Sym, DomainGroup>,
    pub tolerate_prefer_no_schedule: bool,
    pub min_values_best_effort: bool,
    pub ignore_preferences: bool,
    /// In a consolidation simulation: the bound pods of the candidates, which may not land on
    /// a `cooling` existing node (Karpenter v1.14's destination rule).
    pub moving: Option<&'a FxHashSet<u32>>,
}

/// A NodeClaim the pass decided to create.
#[derive(Debug, Clone)]
pub struct PlannedClaim {
    pub template: usize,
    pub requirements: Requirements,
    /// Instance-type options (indexes into the template's `instance_types`), ≤600 cheapest.
    pub options: Vec<u32>,
    /// Σ pod requests + minimum daemon overhead.
    pub requests: Resources,
    pub pods: Vec<u32>,
    pub hostname: Sym,
}

/// The result of a pass.
#[derive(Debug, Default)]
pub struct SolveResult {
    /// (pod id, existing node index).
    pub existing: Vec<(u32, usize)>,
    pub claims: Vec<PlannedClaim>,
    /// (pod id, why it could not be placed).
    pub errors: Vec<(u32, String)>,
}

struct Claim {
    template: usize,
    hostname: Sym,
    requirements: Requirements,
    options: Vec<u32>,
    requests: Resources,
    pods: Vec<u32>,
    host_ports: Vec<HostPort>,
    /// Element-wise max over options of (allocatable − group overhead): a quick upper bound.
    bound: Resources,
    count: u32,
    seq: i64,
}

struct Existing {
    cooling: bool,
    requirements: Arc<Requirements>,
    taints: Vec<Taint>,
    remaining: Resources,
    host_ports: Vec<HostPort>,
}

/// Per-pod data computed once per attempt.
struct PodData {
    reqs: Requirements,
    strict: Requirements,
    owned: Vec<usize>,
    /// Unrelaxed, and every owned topology group is anti-affinity: adding pods to a NodeClaim
    /// can then only make this pod fit worse (resources shrink, requirements narrow,
    /// anti-affinity counts grow), so a rejection holds for the rest of the pass.
    monotone: bool,
}

/// Pods that schedule alike: (constraints pointer, namespace, requests, labels).
type PodClass = (usize, Sym, Resources, Vec<(Sym, Sym)>);

/// One scheduling pass.
pub struct Scheduler<'a> {
    input: &'a SolveInput<'a>,
    existing: Vec<Existing>,
    claims: Vec<Claim>,
    /// In-flight NodeClaims ordered as Karpenter's stable re-sort by pod count leaves them.
    order: BTreeSet<(u32, i64, usize)>,
    seq_front: i64,
    seq_back: i64,
    topology: Topology<'a>,
    remaining: Vec<Option<Limits>>,
    rng: &'a mut SimRng,
    /// Candidates per template with an offering available in this pass.
    candidates: Vec<Vec<u32>>,
    /// Placeholder hostnames of this pass, reused across passes.
    hostnames: &'a mut Vec<Sym>,
    /// Per template: the bound of a fresh NodeClaim over this pass's candidates.
    template_bound: Vec<Option<Resources>>,
    /// NodeClaims that rejected a monotone pod class (bitset by claim index).
    reject_memo: FxHashMap<PodClass, Vec<u64>>,
    /// Topology groups of unrelaxed pods, by (constraints ptr, namespace).
    groups_cache: FxHashMap<(usize, Sym), Vec<usize>>,
    /// For plain pods: (constraints ptr, requests) → first existing node worth trying.
    first_fit_hint: FxHashMap<(usize, bool, Resources), usize>,
}

impl<'a> Scheduler<'a> {
    /// Prepares a pass. `hostnames` caches placeholder hostname symbols between passes.
    pub fn new(
        input: &'a SolveInput<'a>,
        batch: &[&PodInfo],
        rng: &'a mut SimRng,
        hostnames: &'a mut Vec<Sym>,
    ) -> Scheduler<'a> {
        // Topology needs the cluster's nodes only when some pod has topology constraints or a
        // placed pod carries required anti-affinity.
        let needs_topology =
            !input.placed.is_empty() || batch.iter().any(|p| p.constraints.has_topology());
        let nodes: Vec<TopoNode> = if needs_topology {
            input
                .existing
                .iter()
                .map(|n| TopoNode {
                    labels: n.requirements.clone(),
                    taints: n.taints.clone(),
                    hostname: n.name,
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut topology = Topology::new(input.domain_groups, nodes, input.placed.clone());
        let existing: Vec<Existing> = input
            .existing
            .iter()
            .map(|n| {
                if needs_topology {
                    topology.register_domain(labels::HOSTNAME, n.name);
                }
                Existing {
                    cooling: n.cooling,
                    requirements: n.requirements.clone(),
                    taints: n.taints.clone(),
                    remaining: n.available,
                    host_ports: n.host_ports.clone(),
                }
            })
            .collect();
        for p in batch {
            topology.register_batch_inverse(p);
        }
        // `NewTopology` runs `Update` for every pod of the batch before the first placement, so
        // each topology group exists, and counts every pod placed in this pass, from the start.
        // (Created lazily, a group would miss the batch pods placed before its owner's turn.)
        let mut seen: FxHashSet<(usize, Sym, usize)> = FxHashSet::default();
        for p in batch {
            if p.constraints.ignored.is_some() || !p.constraints.has_topology() {
                continue;
            }
            let labels_ptr = Arc::as_ptr(&p.labels) as *const u8 as usize;
            let key = (
                Arc::as_ptr(&p.constraints) as usize,
                p.namespace,
                labels_ptr,
            );
            if !seen.insert(key) {
                continue;
            }
            if input.ignore_preferences {
                let mut c = (*p.constraints).clone();
                c.drop_preferences();
                topology.groups_for(p, &c);
            } else {
                topology.groups_for(p, &p.constraints);
            }
        }
        let candidates = input
            .templates
            .iter()
            .map(|t| {
                if input.market.none_unavailable() {
                    t.candidates.clone()
                } else {
                    let its = &t.instance_types;
                    t.candidates
                        .iter()
                        .copied()
                        .filter(|i| {
                            let it = &its[*i as usize];
                            it.offerings
                                .iter()
                                .any(|o| it.offering_ok(o, &t.requirements, input.market))
                        })
                        .collect()
                }
            })
            .collect();
        Scheduler {
            input,
            existing,
            claims: Vec::new(),
            order: BTreeSet::new(),
            seq_front: 0,
            seq_back: 0,
            topology,
            remaining: input.remaining.clone(),
            rng,
            candidates,
            hostnames,
            first_fit_hint: FxHashMap::default(),
            groups_cache: FxHashMap::default(),
            reject_memo: FxHashMap::default(),
            template_bound: input
                .templates
                .iter()
                .map(|t| {
                    input
                        .market
                        .none_unavailable()
                        .then_some(t.candidates_bound)
                })
                .collect(),
        }
    }

    /// `Solve`: places every pod it can; returns the plan.
    pub fn solve(mut self, pods: &[&PodInfo]) -> SolveResult {
        // Queue order (queue.go): cpu desc, memory desc, creation asc, uid (our pod id) asc.
        let mut queue: std::collections::VecDeque<&PodInfo> = pods.iter().copied().collect();
        queue
            .make_contiguous()
            .sort_by_key(|p| queue_key(&p.requests, p.created, p.id));
        let mut last_len: FxHashMap<u32, usize> = FxHashMap::default();
        let mut errors: FxHashMap<u32, String> = FxHashMap::default();
        let mut existing_assign: Vec<(u32, usize)> = Vec::new();
        while let Some(pod) = queue.front().copied() {
            if last_len.get(&pod.id) == Some(&queue.len()) {
                break;
            }
            queue.pop_front();
            match self.try_schedule(pod) {
                Ok(Placement::Existing(n)) => {
                    errors.remove(&pod.id);
                    existing_assign.push((pod.id, n));
                }
                Ok(Placement::Claim) => {
                    errors.remove(&pod.id);
                }
                Err(e) => {
                    errors.insert(pod.id, e);
                    queue.push_back(pod);
                    last_len.insert(pod.id, queue.len());
                }
            }
        }
        // A pod placed on an existing node and later re-queued cannot happen (a placed pod is
        // never retried), so assignments are final.
        let mut claims = Vec::with_capacity(self.claims.len());
        for c in std::mem::take(&mut self.claims) {
            claims.push(self.finalize(c));
        }
        let mut errs: Vec<(u32, String)> = errors.into_iter().collect();
        errs.sort_by_key(|(id, _)| *id);
        let claims: Vec<PlannedClaim> = claims.into_iter().flatten().collect();
        SolveResult {
            existing: existing_assign,
            claims,
            errors: errs,
        }
    }

    fn pod_data(&mut self, pod: &PodInfo, c: &PodConstraints, relaxed: bool) -> PodData {
        let reqs = c.requirements(false);
        let strict = if c.preferred_terms.is_empty() {
            reqs.clone()
        } else {
            c.requirements(true)
        };
        let owned = if !c.has_topology() {
            Vec::new()
        } else if relaxed || c.spreads.iter().any(|s| !s.match_label_keys.is_empty()) {
            self.topology.groups_for(pod, c)
        } else {
            // Pods sharing constraints (and namespace) share their groups.
            let key = (Arc::as_ptr(&pod.constraints) as usize, pod.namespace);
            match self.groups_cache.get(&key) {
                Some(g) => g.clone(),
                None => {
                    let g = self.topology.groups_for(pod, c);
                    self.groups_cache.insert(key, g.clone());
                    g
                }
            }
        };
        // Hostname spreads compare a host's own count with maxSkew (the global minimum is 0),
        // so they are as monotone as anti-affinity.
        let monotone = !relaxed
            && owned.iter().all(|g| match self.topology.group_kind(*g) {
                topology::TopoKind::AntiAffinity => true,
                topology::TopoKind::Spread => self.topology.group_key(*g) == labels::HOSTNAME,
                topology::TopoKind::Affinity => false,
            });
        PodData {
            monotone,
            reqs,
            strict,
            owned,
        }
    }

    /// `trySchedule`: relax one step at a time from the un-relaxed pod until it fits.
    fn try_schedule(&mut self, pod: &PodInfo) -> Result<Placement, String> {
        if let Some(reason) = &pod.constraints.ignored {
            return Err(format!("ignoring pod: {reason}"));
        }
        let mut c: std::borrow::Cow<PodConstraints> = std::borrow::Cow::Borrowed(&pod.constraints);
        if self.input.ignore_preferences {
            c.to_mut().drop_preferences();
        }
        loop {
            let relaxed = matches!(c, std::borrow::Cow::Owned(_));
            let data = self.pod_data(pod, &c, relaxed);
            match self.add(pod, &c, &data) {
                Ok(p) => return Ok(p),
                Err(e) => {
                    if !c.to_mut().relax(self.input.tolerate_prefer_no_schedule) {
                        return Err(e);
                    }
                }
            }
        }
    }

    fn add(
        &mut self,
        pod: &PodInfo,
        c: &PodConstraints,
        data: &PodData,
    ) -> Result<Placement, String> {
        if let Some(n) = self.add_to_existing(pod, c, data) {
            return Ok(Placement::Existing(n));
        }
        if self.add_to_inflight(pod, c, data) {
            return Ok(Placement::Claim);
        }
        if self.input.templates.is_empty() {
            return Err(
                "nodepool requirements filtered out all available instance types".to_string(),
            );
        }
        self.add_to_new(pod, c, data).map(|_| Placement::Claim)
    }

    fn topology_free(&self, pod: &PodInfo, data: &PodData) -> bool {
        data.owned.is_empty() && (self.topology.is_empty() || !self.topology.inverse_selects(pod))
    }

    fn add_to_existing(
        &mut self,
        pod: &PodInfo,
        c: &PodConstraints,
        data: &PodData,
    ) -> Option<usize> {
        if self.existing.is_empty() {
            return None;
        }
        let plain = self.topology_free(pod, data);
        // A moving pod skips cooling nodes that a pending pod of the same shape may use, so
        // the two keep separate first-fit hints.
        let moving = self.input.moving.is_some_and(|m| m.contains(&pod.id));
        let hint_key = (Arc::as_ptr(&pod.constraints) as usize, moving, pod.requests);
        let start = if plain {
            self.first_fit_hint.get(&hint_key).copied().unwrap_or(0)
        } else {
            0
        };
        for i in start..self.existing.len() {
            let n = &self.existing[i];
            if moving && n.cooling {
                continue;
            }
            if untolerated(&n.taints, &c.tolerations).is_some() {
                continue;
            }
            if c.host_ports
                .iter()
                .any(|p| n.host_ports.iter().any(|q| p.conflicts(q)))
            {
                continue;
            }
            if !pod.requests.fits(&n.remaining) {
                continue;
            }
            if n.requirements.compatible(&data.reqs, false).is_err() {
                continue;
            }
            let mut merged = if data.reqs.is_empty() {
                None
            } else {
                Some(n.requirements.merged(&data.reqs))
            };
            if !plain {
                let base = merged.as_ref().unwrap_or(&n.requirements);
                let Ok(topo) = self.topology.add_requirements(
                    pod,
                    &data.owned,
                    &n.taints,
                    &data.strict,
                    base,
                    false,
                    self.rng,
                ) else {
                    continue;
                };
                if base.compatible(&topo, false).is_err() {
                    continue;
                }
                merged = Some(base.merged(&topo));
            }
            // Accept.
            if plain {
                self.first_fit_hint.insert(hint_key, i);
            }
            let n = &mut self.existing[i];
            n.remaining.sub_assign(&pod.requests);
            if let Some(m) = merged
                && m != *n.requirements
            {
                n.requirements = Arc::new(m);
            }
            n.host_ports.extend(c.host_ports.iter().copied());
            if !self.topology.is_empty() {
                let (taints, reqs) = (n.taints.clone(), n.requirements.clone());
                self.topology.record(pod, &taints, &reqs, false);
            }
            return Some(i);
        }
        if plain {
            self.first_fit_hint.insert(hint_key, self.existing.len());
        }
        None
    }

    fn add_to_inflight(&mut self, pod: &PodInfo, c: &PodConstraints, data: &PodData) -> bool {
        // `can_add` never touches the order or the memo, so both are lent out while walked.
        let order = std::mem::take(&mut self.order);
        let mut memo = std::mem::take(&mut self.reject_memo);
        let mut bits = if data.monotone {
            let key = (
                Arc::as_ptr(&pod.constraints) as usize,
                pod.namespace,
                pod.requests,
                pod.labels.to_vec(),
            );
            Some(memo.entry(key).or_default())
        } else {
            None
        };
        let mut chosen = None;
        for key in order.iter() {
            let ci = key.2;
            if let Some(b) = bits.as_ref()
                && b.get(ci / 64).is_some_and(|w| w & (1 << (ci % 64)) != 0)
            {
                continue;
            }
            match self.can_add(ci, pod, c, data, false) {
                Ok(upd) => {
                    chosen = Some((ci, upd));
                    break;
                }
                Err(_) => {
                    if let Some(b) = bits.as_deref_mut() {
                        if b.len() <= ci / 64 {
                            b.resize(ci / 64 + 1, 0);
                        }
                        b[ci / 64] |= 1 << (ci % 64);
                    }
                }
            }
        }
        self.order = order;
        self.reject_memo = memo;
        match chosen {
            Some((ci, upd)) => {
                self.commit(ci, pod, c, upd);
                true
            }
            None => false,
        }
    }

    fn add_to_new(
        &mut self,
        pod: &PodInfo,
        c: &PodConstraints,
        data: &PodData,
    ) -> Result<(), String> {
        let mut errs: Vec<String> = Vec::new();
        for ti in 0..self.input.templates.len() {
            let t = &self.input.templates[ti];
            let mut candidates: Vec<u32> = self.candidates[ti].clone();
            if candidates.is_empty() {
                errs.push(format!(
                    "no instance type of nodepool {} has an available offering",
                    t.name
                ));
                continue;
            }
            if let Some(rem) = &self.remaining[ti] {
                if rem.iter().any(|(k, v)| *k == LimitKey::Nodes && *v == 0) {
                    errs.push(format!(
                        "node limits have been exhausted for nodepool {}",
                        t.name
                    ));
                    continue;
                }
                candidates.retain(|i| {
                    let cap = &t.instance_types[*i as usize].capacity;
                    rem.iter().all(|(k, v)| match k {
                        LimitKey::Resource(r) => cap.get(*r) <= *v,
                        LimitKey::Nodes => 0 <= *v,
                    })
                });
                if candidates.is_empty() {
                    errs.push(format!(
                        "all available instance types exceed limits for nodepool {}",
                        t.name
                    ));
                    continue;
                }
            }
            let n = self.claims.len();
            if self.hostnames.len() <= n {
                self.hostnames
                    .push(Sym::new(&format!("hostname-placeholder-{:04}", n + 1)));
            }
            let hostname = self.hostnames[n];
            let mut requirements = t.requirements.clone();
            requirements.add(Requirement::single(labels::HOSTNAME, hostname));
            let mut claim = Claim {
                template: ti,
                hostname,
                requirements,
                options: candidates,
                requests: Resources::ZERO,
                pods: Vec::new(),
                host_ports: Vec::new(),
                bound: Resources::ZERO,
                count: 0,
                seq: 0,
            };
            // A fresh claim's bound depends only on the template's candidates: computed once
            // per pass unless limits filtered them.
            claim.bound = if self.remaining[ti].is_some() {
                self.bound_of(&claim)
            } else {
                match self.template_bound[ti] {
                    Some(b) => b,
                    None => {
                        let b = self.bound_of(&claim);
                        self.template_bound[ti] = Some(b);
                        b
                    }
                }
            };
            self.claims.push(claim);
            let ci = self.claims.len() - 1;
            match self.can_add(ci, pod, c, data, self.input.min_values_best_effort) {
                Ok(upd) => {
                    // Limits: subtract the max capacity over the options at this moment.
                    if let Some(rem) = self.remaining[ti].as_mut() {
                        let opts = &upd.options;
                        for (k, v) in rem.iter_mut() {
                            if let LimitKey::Resource(r) = k {
                                let max = opts
                                    .iter()
                                    .map(|i| t.instance_types[*i as usize].capacity.get(*r))
                                    .max()
                                    .unwrap_or(0);
                                *v -= max;
                            }
                        }
                    }
                    self.topology.register_domain(labels::HOSTNAME, hostname);
                    self.commit(ci, pod, c, upd);
                    return Ok(());
                }
                Err(e) => {
                    self.claims.pop();
                    errs.push(format!(
                        "incompatible with nodepool {:?}: {e}",
                        t.name.as_str()
                    ));
                }
            }
        }
        Err(errs.join("; "))
    }

    fn bound_of(&self, claim: &Claim) -> Resources {
        let t = &self.input.templates[claim.template];
        let mut b = Resources([i64::MIN; crate::resources::NUM_RESOURCES]);
        for i in &claim.options {
            let it = &t.instance_types[*i as usize];
            let g = &t.daemon_groups[t.it_group[*i as usize] as usize];
            b = b.max(&it.allocatable.sub(&g.overhead));
        }
        b
    }

    /// `NodeClaim.CanAdd`.
    fn can_add(
        &mut self,
        ci: usize,
        pod: &PodInfo,
        c: &PodConstraints,
        data: &PodData,
        relax_min_values: bool,
    ) -> Result<ClaimUpdate, Reject> {
        let t = &self.input.templates[self.claims[ci].template];
        let claim = &self.claims[ci];
        // Quick reject on resources: no option can hold the union.
        if !claim.requests.fits_with(&pod.requests, &claim.bound) {
            return Err(Reject::NoType(
                "no instance type has enough resources",
                claim.requests.add(&pod.requests),
            ));
        }
        if let Some(taint) = untolerated(&t.taints, &c.tolerations) {
            return Err(Reject::Taint(taint.clone()));
        }
        claim
            .requirements
            .compatible(&data.reqs, true)
            .map_err(Reject::Requirements)?;
        let plain = self.topology_free(pod, data);
        let mut merged = if data.reqs.is_empty() {
            None
        } else {
            Some(claim.requirements.merged(&data.reqs))
        };
        if !plain {
            let base = merged.as_ref().unwrap_or(&claim.requirements);
            let topo = self
                .topology
                .add_requirements(
                    pod,
                    &data.owned,
                    &t.taints,
                    &data.strict,
                    base,
                    true,
                    self.rng,
                )
                .map_err(Reject::Topology)?;
            base.compatible(&topo, true).map_err(Reject::Requirements)?;
            merged = Some(base.merged(&topo));
        }
        let claim = &self.claims[ci];
        let reqs_changed = merged.as_ref().is_some_and(|m| *m != claim.requirements);
        let reqs = merged.as_ref().unwrap_or(&claim.requirements);
        let total = claim.requests.add(&pod.requests);
        // Every option already intersects the claim's requirements and has an offering they
        // allow, so only the entries the pod changed need checking.
        let delta = if reqs_changed {
            reqs.changed_from(&claim.requirements)
        } else {
            Requirements::new()
        };
        let offers_changed = delta.has(labels::ZONE) || delta.has(labels::CAPACITY_TYPE);
        let mut survivors = Vec::with_capacity(claim.options.len());
        // The survivors' bound, for the quick reject of the next pod.
        let mut bound = Resources([i64::MIN; crate::resources::NUM_RESOURCES]);
        let (mut any_compat, mut any_fit, mut any_offer) = (false, false, false);
        for &i in &claim.options {
            let g = &t.daemon_groups[t.it_group[i as usize] as usize];
            if !c.host_ports.is_empty()
                && c.host_ports.iter().any(|p| {
                    g.host_ports
                        .iter()
                        .chain(&claim.host_ports)
                        .any(|q| p.conflicts(q))
                })
            {
                continue;
            }
            let it = &t.instance_types[i as usize];
            let compat = delta.is_empty() || it.requirements.intersects(&delta).is_ok();
            let fits = total.fits_with(&g.overhead, &it.allocatable);
            let offer = !offers_changed
                || it
                    .offerings
                    .iter()
                    .any(|o| it.offering_ok(o, reqs, self.input.market));
            any_compat |= compat;
            any_fit |= fits;
            any_offer |= offer;
            if compat && fits && offer {
                survivors.push(i);
                bound = bound.max(&it.allocatable.sub(&g.overhead));
            }
        }
        let mut relaxed: Option<Requirements> = None;
        if reqs.has_min_values() {
            let its = &t.instance_types;
            if let Err((key, need, have)) = satisfies_min_values(its, &survivors, reqs) {
                if relax_min_values {
                    let mut r = reqs.clone();
                    relax_min_values_to(&mut r, its, &survivors);
                    relaxed = Some(r);
                } else {
                    return Err(Reject::MinValues(key, need, have));
                }
            }
        }
        if survivors.is_empty() {
            let why = match (any_compat, any_fit, any_offer) {
                (false, _, _) => "no instance type met all requirements",
                (_, false, _) => "no instance type has enough resources",
                (_, _, false) => "no instance type has the required offering",
                _ => "no instance type met the requirements/resources/offering tuple",
            };
            return Err(Reject::NoType(why, total));
        }
        Ok(ClaimUpdate {
            requirements: relaxed.or(merged),
            options: survivors,
            bound,
        })
    }

    fn commit(&mut self, ci: usize, pod: &PodInfo, c: &PodConstraints, upd: ClaimUpdate) {
        let was_new = self.claims[ci].count == 0;
        {
            let claim = &mut self.claims[ci];
            claim.pods.push(pod.id);
            if claim.options.len() != upd.options.len() {
                claim.options = upd.options;
            }
            claim.bound = upd.bound;
            claim.requests.add_assign(&pod.requests);
            if let Some(r) = upd.requirements {
                claim.requirements = r;
            }
            claim.host_ports.extend(c.host_ports.iter().copied());
        }
        if !self.topology.is_empty() {
            let t = &self.input.templates[self.claims[ci].template];
            let reqs = self.claims[ci].requirements.clone();
            self.topology.record(pod, &t.taints, &reqs, true);
        }
        // Maintain the order of a stable sort by pod count.
        let claim = &mut self.claims[ci];
        if was_new {
            claim.count = 1;
            self.seq_back += 1;
            claim.seq = self.seq_back;
        } else {
            self.order.remove(&(claim.count, claim.seq, ci));
            claim.count += 1;
            self.seq_front -= 1;
            claim.seq = self.seq_front;
        }
        self.order.insert((claim.count, claim.seq, ci));
    }

    /// `FinalizeScheduling` + `TruncateInstanceTypes(600)`.
    fn finalize(&mut self, mut c: Claim) -> Option<PlannedClaim> {
        let t = &self.input.templates[c.template];
        c.requirements.remove(labels::HOSTNAME);
        // Minimum daemon overhead over groups with a surviving type.
        let mut min: Option<Resources> = None;
        let mut seen = vec![false; t.daemon_groups.len()];
        for i in &c.options {
            seen[t.it_group[*i as usize] as usize] = true;
        }
        for (gi, g) in t.daemon_groups.iter().enumerate() {
            if !seen[gi] || !g.has_daemons {
                continue;
            }
            min = Some(match min {
                None => g.overhead,
                Some(m) => m.min(&g.overhead),
            });
        }
        if let Some(m) = min {
            c.requests.add_assign(&m);
        }
        // Truncate to the 600 cheapest by cheapest compatible available offering.
        let market = self.input.market;
        let price = |i: &u32| {
            let it = &t.instance_types[*i as usize];
            it.cheapest_price(&c.requirements, market)
                .unwrap_or(f64::MAX)
        };
        if c.options.len() > MAX_INSTANCE_TYPES {
            let mut priced: Vec<(f64, u32)> = c.options.iter().map(|i| (price(i), *i)).collect();
            priced.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            priced.truncate(MAX_INSTANCE_TYPES);
            c.options = priced.into_iter().map(|(_, i)| i).collect();
            if c.requirements.has_min_values()
                && satisfies_min_values(&t.instance_types, &c.options, &c.requirements).is_err()
            {
                return None;
            }
        }
        Some(PlannedClaim {
            template: c.template,
            requirements: c.requirements,
            options: c.options,
            requests: c.requests,
            pods: c.pods,
            hostname: c.hostname,
        })
    }
}

/// Why a pod does not fit a NodeClaim (formatted only when reported).
#[derive(Debug)]
enum Reject {
    Taint(Taint),
    Requirements(crate::requirements::Incompatible),
    Topology(topology::TopologyError),
    MinValues(Sym, u32, u32),
    NoType(&'static str, Resources),
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::Taint(t) => write!(f, "did not tolerate taint {t}"),
            Reject::Requirements(e) => write!(f, "incompatible requirements, {e}"),
            Reject::Topology(e) => write!(f, "{e}"),
            Reject::MinValues(k, need, have) => {
                write!(
                    f,
                    "minValues requirement is not met for {k} (need {need}, have {have})"
                )
            }
            Reject::NoType(why, total) => write!(f, "{why}, resources={total:?}"),
        }
    }
}

enum Placement {
    Existing(usize),
    Claim,
}

struct ClaimUpdate {
    requirements: Option<Requirements>,
    options: Vec<u32>,
    /// Per resource, the most any of `options` offers after DaemonSet overhead.
    bound: Resources,
}

/// `SatisfiesMinValues`: for each requirement with minValues, the options must span that many
/// distinct values of the key. Returns (key, needed, available) of the first failure.
/// The scheduler's queue order (`queue.go`): cpu descending, memory descending, creation,
/// then uid (karpsim's pod id).
pub fn queue_key(
    requests: &Resources,
    created: u64,
    id: u32,
) -> (std::cmp::Reverse<i64>, std::cmp::Reverse<i64>, u64, u32) {
    use std::cmp::Reverse;
    (
        Reverse(requests.cpu()),
        Reverse(requests.memory()),
        created,
        id,
    )
}

pub fn satisfies_min_values(
    its: &[InstanceType],
    options: &[u32],
    reqs: &Requirements,
) -> Result<(), (Sym, u32, u32)> {
    for q in reqs.iter() {
        let Some(need) = q.min_values else { continue };
        let have = distinct_values(its, options, q) as u32;
        if have < need {
            return Err((q.key, need, have));
        }
    }
    Ok(())
}

fn distinct_values(its: &[InstanceType], options: &[u32], q: &Requirement) -> usize {
    let mut vals: FxHashSet<Sym> = FxHashSet::default();
    for i in options {
        if let Some(r) = its[*i as usize].requirements.get(q.key) {
            for v in r.values() {
                if q.has(*v) {
                    vals.insert(*v);
                }
            }
        }
    }
    vals.len()
}

fn relax_min_values_to(reqs: &mut Requirements, its: &[InstanceType], options: &[u32]) {
    let keys: Vec<(Sym, u32)> = reqs
        .iter()
        .filter_map(|q| {
            q.min_values
                .map(|m| (q.key, m.min(distinct_values(its, options, q) as u32)))
        })
        .collect();
    for (k, m) in keys {
        if let Some(q) = reqs.get(k).cloned() {
            reqs.remove(k);
            reqs.add(q.with_min_values(Some(m)));
        }
    }
}

/// Whether a DaemonSet pod runs on a template's instance type (`isDaemonPodCompatible`).
pub fn daemon_compatible(
    template_reqs: &Requirements,
    template_taints: &[Taint],
    it: &InstanceType,
    ds: &PodConstraints,
) -> bool {
    let mut tolerations: Vec<Toleration> = ds.tolerations.clone();
    tolerations.push(Toleration {
        key: None,
        exists: true,
        value: None,
        effect: Some(crate::model::Effect::PreferNoSchedule),
    });
    if untolerated(template_taints, &tolerations).is_some() {
        return false;
    }
    let mut c = ds.clone();
    loop {
        let r = c.requirements(true);
        if template_reqs.compatible(&r, true).is_ok() && it.requirements.intersects(&r).is_ok() {
            return true;
        }
        if c.required_terms.len() > 1 {
            c.required_terms.remove(0);
        } else {
            return false;
        }
    }
}

/// A DaemonSet as the scheduler sees it: its pod's constraints, requests and host ports.
#[derive(Debug, Clone)]
pub struct DaemonSetPod {
    pub name: Sym,
    /// The DaemonSet's namespace (cost attribution charges its pods there).
    pub namespace: Sym,
    pub constraints: PodConstraints,
    /// Requests including `pods: 1`.
    pub requests: Resources,
}

/// The parts of a NodePool that make its NodeClaim template.
#[derive(Debug, Clone, Default)]
pub struct NodePoolSpecLite {
    pub name: String,
    pub weight: i32,
    pub requirements: Requirements,
    pub labels: Vec<(Sym, Sym)>,
    pub taints: Vec<Taint>,
    pub startup_taints: Vec<Taint>,
    pub limits: Option<Limits>,
    /// The NodeClass label value (`karpenter.k8s.aws/ec2nodeclass`), when known.
    pub node_class: Option<String>,
}

/// Builds a NodePool's template: `NewNodeClaimTemplate`, the pre-filter of `NewScheduler` and
/// `buildDaemonOverheadGroups`. Returns the reason when no instance type is compatible
/// (Karpenter skips such a NodePool).
pub fn build_template(
    np: &NodePoolSpecLite,
    instance_types: Arc<Vec<InstanceType>>,
    daemonsets: &[DaemonSetPod],
    min_values_best_effort: bool,
) -> Result<NodePoolTemplate, String> {
    let name = Sym::new(&np.name);
    let mut requirements = np.requirements.clone();
    requirements.add_all(&Requirements::from_labels(&np.labels));
    requirements.add(Requirement::single(labels::NODEPOOL, name));
    if let Some(nc) = &np.node_class {
        requirements.add(Requirement::single(labels::NODECLASS, Sym::new(nc)));
    }
    requirements.add(Requirement::single(labels::REGISTERED, labels::TRUE));
    requirements.add(Requirement::single(labels::INITIALIZED, labels::TRUE));
    let none = Market::default();
    let mut candidates: Vec<u32> = Vec::new();
    for (i, it) in instance_types.iter().enumerate() {
        if it.requirements.intersects(&requirements).is_ok()
            && it
                .offerings
                .iter()
                .any(|o| it.offering_ok(o, &requirements, &none))
        {
            candidates.push(i as u32);
        }
    }
    if requirements.has_min_values()
        && !min_values_best_effort
        && let Err((k, need, have)) =
            satisfies_min_values(&instance_types, &candidates, &requirements)
    {
        return Err(format!(
            "nodepool requirements filtered out all instance types (minValues for {k}: need {need}, have {have})"
        ));
    }
    if candidates.is_empty() {
        return Err("nodepool requirements filtered out all instance types".to_string());
    }
    // Daemon overhead groups, keyed by the set of compatible DaemonSets.
    let mut groups: Vec<(Vec<usize>, DaemonGroup)> = Vec::new();
    let mut it_group = vec![u16::MAX; instance_types.len()];
    for &i in &candidates {
        let it = &instance_types[i as usize];
        let set: Vec<usize> = daemonsets
            .iter()
            .enumerate()
            .filter(|(_, ds)| daemon_compatible(&requirements, &np.taints, it, &ds.constraints))
            .map(|(j, _)| j)
            .collect();
        let gi = match groups.iter().position(|(s, _)| *s == set) {
            Some(g) => g,
            None => {
                let mut overhead = Resources::ZERO;
                let mut host_ports = Vec::new();
                for j in &set {
                    overhead.add_assign(&daemonsets[*j].requests);
                    host_ports.extend(daemonsets[*j].constraints.host_ports.iter().copied());
                }
                groups.push((
                    set.clone(),
                    DaemonGroup {
                        overhead,
                        host_ports,
                        has_daemons: !set.is_empty(),
                    },
                ));
                groups.len() - 1
            }
        };
        it_group[i as usize] = gi as u16;
    }
    let daemon_groups: Vec<DaemonGroup> = groups.into_iter().map(|(_, g)| g).collect();
    let mut candidates_bound = Resources([i64::MIN; crate::resources::NUM_RESOURCES]);
    for &i in &candidates {
        let g = &daemon_groups[it_group[i as usize] as usize];
        candidates_bound =
            candidates_bound.max(&instance_types[i as usize].allocatable.sub(&g.overhead));
    }
    Ok(NodePoolTemplate {
        name,
        weight: np.weight,
        requirements,
        labels: np.labels.clone(),
        taints: np.taints.clone(),
        startup_taints: np.startup_taints.clone(),
        instance_types,
        candidates,
        candidates_bound,
        daemon_groups,
        it_group,
        limits: np.limits.clone(),
    })
}

/// Sorts templates as Karpenter orders NodePools: weight descending, then name descending.
pub fn sort_templates(templates: &mut [NodePoolTemplate]) {
    templates.sort_by(|a, b| {
        b.weight
            .cmp(&a.weight)
            .then_with(|| b.name.as_str().cmp(a.name.as_str()))
    });
}

/// The domain universe per topology key (`buildDomainGroups`): values of every NodePool's
/// requirements ∩ labels ∩ instance-type requirements, plus the NodePool's own `In` values.
pub fn build_domain_groups(templates: &[NodePoolTemplate]) -> FxHashMap<Sym, DomainGroup> {
    let mut out: FxHashMap<Sym, DomainGroup> = FxHashMap::default();
    for t in templates {
        // The template requirements without Karpenter's internal registered/initialized keys.
        for &i in &t.candidates {
            let it = &t.instance_types[i as usize];
            let merged = t.requirements.merged(&it.requirements);
            for q in merged.iter() {
                if q.key == labels::REGISTERED || q.key == labels::INITIALIZED {
                    continue;
                }
                let g = out.entry(q.key).or_default();
                if !q.is_complement() {
                    for v in q.values() {
                        g.insert(*v, &t.taints);
                    }
                }
            }
        }
        for q in t.requirements.iter() {
            if q.operator() == crate::requirements::Op::In {
                let g = out.entry(q.key).or_default();
                for v in q.values() {
                    g.insert(*v, &t.taints);
                }
            }
        }
    }
    out
}
