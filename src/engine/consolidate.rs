//! Consolidation of underutilized nodes: multi-node and single-node (`consolidation.go`,
//! `multinodeconsolidation.go`, `singlenodeconsolidation.go`, `validation.go`, `queue.go`).
//!
//! Owns: consolidation candidates, the scheduling simulation that reuses the provisioning
//! scheduler (with the v1.14 destination rule), the delete/replace decision with its price
//! rules (WorstLaunchPrice, spot-to-spot behind its feature gate and the 15-type rule), the
//! multi-node binary search with the same-type filter, the 15 s validation, and the command
//! queue (replacement first, candidates deleted once it is initialized, rollback on failure).

use super::fit::Among;
use super::{Engine, Ev, NodeState, secs};
use crate::disruption::budgets::Reason;
use crate::labels::{self, Sym};
use crate::model::PodInfo;
use crate::requirements::Requirement;
use crate::resources::Resources;
use crate::scheduler::{
    InstanceType, Market, PlannedClaim, Scheduler, SolveInput, satisfies_min_values,
};
use rustc_hash::FxHashSet;

/// Which consolidation method produced a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Multi,
    Single,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Multi => "multi-node",
            Method::Single => "single-node",
        }
    }
}

/// What a consolidation command does.
#[derive(Debug, Clone)]
pub enum Kind {
    Delete,
    Replace(Box<PlannedClaim>),
}

/// A computed consolidation command.
#[derive(Debug, Clone)]
pub struct Command {
    pub method: Method,
    pub cands: Vec<usize>,
    pub kind: Kind,
}

/// A started REPLACE command waiting for its replacement to initialize.
#[derive(Debug, Clone)]
pub struct Queued {
    /// The replacement NodeClaims (node indexes): all must initialize.
    pub replacements: Vec<usize>,
    pub cands: Vec<usize>,
    pub started_ms: u64,
    /// `underutilized` or `drifted`.
    pub reason: &'static str,
}

/// A pass's pending and deleting pods in queue order, whether all are plain, and the key of
/// the pass (as the first-fit index's).
pub type FastBase = (Option<(u64, u64, u64)>, Vec<PlanItem>, bool);

/// A pod of a simulation's batch, as [`Engine::fast_simulate`] replays it.
#[derive(Debug, Clone)]
pub struct PlanItem {
    requests: Resources,
    constraints: std::sync::Arc<crate::model::PodConstraints>,
    /// 0 pending, 1 moved (a candidate's), 2 on a deleting node.
    kind: u8,
    created: u64,
    id: u32,
    /// The requests' number in the first-fit index ([`super::fit::FitIndex::intern`]).
    shape: u32,
}

impl PlanItem {
    fn of(p: &PodInfo, kind: u8, shape: u32) -> PlanItem {
        PlanItem {
            requests: p.requests,
            constraints: p.constraints.clone(),
            kind,
            created: p.created,
            id: p.id,
            shape,
        }
    }

    /// The scheduler's queue order.
    fn queue_order(a: &PlanItem, b: &PlanItem) -> std::cmp::Ordering {
        crate::scheduler::queue_key(&a.requests, a.created, a.id).cmp(&crate::scheduler::queue_key(
            &b.requests,
            b.created,
            b.id,
        ))
    }
}

/// A node's pods as [`Engine::fast_simulate`] replays them (in queue order), kept while the
/// node's pod list is the same.
#[derive(Debug, Default)]
pub struct NodePlan {
    /// The node's `pods_version` the plan was made at.
    version: u64,
    items: Vec<PlanItem>,
    /// The distinct requests of its pods without tolerations, in queue order of first
    /// appearance: (shape, requests, how many pods).
    shapes: Vec<(u32, Resources, u32)>,
    /// How many of its pods are not plain (their placement depends on more than resources
    /// and taints).
    odd: u32,
}

impl NodePlan {
    /// The distinct requests of `items` without tolerations, in order of first appearance.
    fn shapes_of(items: &[PlanItem]) -> Vec<(u32, Resources, u32)> {
        let mut shapes: Vec<(u32, Resources, u32)> = Vec::new();
        for it in items
            .iter()
            .filter(|it| it.constraints.tolerations.is_empty())
        {
            match shapes.iter_mut().find(|s| s.0 == it.shape) {
                Some(s) => s.2 += 1,
                None => shapes.push((it.shape, it.requests, 1)),
            }
        }
        shapes
    }
}

/// The pod shape that last ended a single candidate before any replay: its pods alone needed
/// a NodeClaim no cheaper type holds (under the cheapest-offering tables of `cheap_key`),
/// while no other initialized node outside its window held one. Cleared when the node's pods
/// change; `moved` is its pod count (the simulation's cost).
#[derive(Debug, Clone, Copy)]
pub struct StrandedBy {
    shape: u32,
    moved: u32,
    cheap_key: (u64, usize, usize),
}

/// Per template of a view, each candidate instance type's cheapest offering the NodePool
/// allows and the market has now, with its DaemonSet overhead and allocatable, cheapest first:
/// what [`CheapTypes::hopeless`] asks, kept while the market and the view are the same.
#[derive(Debug)]
pub struct CheapTypes {
    key: (u64, usize, usize),
    per_template: Vec<Vec<(f64, Resources, Resources)>>,
}

impl CheapTypes {
    /// Pods needing `left` of new capacity in the one NodeClaim a command may have (moved or
    /// deleting pods left over, pending pods that surely get a NodeClaim) cannot make a
    /// command for candidates costing `source`: no instance type holds them with an available
    /// offering its NodePool allows for less. (The caller adds the Spot-to-Spot case: all
    /// candidates Spot, a Spot replacement possible, the gate off.)
    fn hopeless(&self, source: f64, left: &Resources) -> bool {
        !self.per_template.iter().any(|types| {
            types
                .iter()
                .take_while(|(p, _, _)| *p < source)
                .any(|(_, overhead, alloc)| left.fits_with(overhead, alloc))
        })
    }
}

/// What [`Engine::fast_simulate`] found.
enum Fast {
    /// The batch is not made of plain pods: run the full simulation.
    Unknown,
    /// Certainly no command.
    NoCommand,
    /// The simulation's own result.
    Sim(Option<Vec<PlannedClaim>>),
}

/// Karpenter's queue timeout for a command (the 10 min floor).
pub const QUEUE_TIMEOUT_MS: u64 = 600_000;
/// Single-node consolidation gives up after 3 min (`SingleNodeConsolidationTimeoutDuration`).
/// karpsim charges each simulation 1 ms per simulated pod plus 5 ms, the scheduler's cost in
/// Karpenter's own benchmarks, against that budget.
pub const SINGLE_BUDGET_MS: u64 = 180_000;
/// Multi-node consolidation gives up after 1 min.
pub const MULTI_BUDGET_MS: u64 = 60_000;
/// The spot-to-spot rule: a single spot node needs at least this many cheaper spot options.
pub const SPOT_TO_SPOT_MIN_TYPES: usize = 15;
/// How long a fruitless consolidation pass is remembered while nothing changes.
pub const MEMO_MS: u64 = 300_000;
/// The Balanced policy's threshold: 1/k with k = 2.
pub const BALANCED_THRESHOLD: f64 = 0.5;

/// EvictionCost of a pod (`disruption.go`): clamp(1 + priority / 2^25, −10, 10).
fn eviction_cost(priority: i32) -> f64 {
    (1.0 + f64::from(priority) / 33_554_432.0).clamp(-10.0, 10.0)
}

/// Some instance type of template `t` holds `req` with its DaemonSet overhead and has an
/// offering `offer` accepts.
fn holds(
    t: &crate::scheduler::NodePoolTemplate,
    req: &Resources,
    offer: impl Fn(&InstanceType, &crate::scheduler::Offering) -> bool,
) -> bool {
    t.candidates.iter().any(|i| {
        let it = &t.instance_types[*i as usize];
        let g = &t.daemon_groups[t.it_group[*i as usize] as usize];
        req.fits_with(&g.overhead, &it.allocatable) && it.offerings.iter().any(|o| offer(it, o))
    })
}

/// `WorstLaunchPrice`: the most expensive available offering compatible with `reqs`, taken from
/// the first capacity type (reserved, spot, on-demand) that has any.
fn worst_launch_price(
    it: &InstanceType,
    reqs: &crate::requirements::Requirements,
    market: &Market,
) -> Option<f64> {
    for ct in [labels::RESERVED, labels::SPOT, labels::ON_DEMAND] {
        let worst = it
            .offerings
            .iter()
            .filter(|o| o.capacity_type == ct && it.offering_ok(o, reqs, market))
            .map(|o| market.price(it.name, o))
            .max_by(f64::total_cmp);
        if worst.is_some() {
            return worst;
        }
    }
    None
}

impl Engine<'_> {
    /// RescheduleDisruptionCost of node `i`: 1 + Σ positive eviction costs of its pods.
    fn rdc(&self, i: usize) -> f64 {
        let n = &self.nodes[i];
        if n.prioritized == 0 {
            // Every pod costs exactly 1: the same sum, without looking the pods up.
            return 1.0 + n.pods.len() as f64;
        }
        1.0 + self.nodes[i]
            .pods
            .iter()
            .filter_map(|p| self.pods.get(p))
            .map(|p| eviction_cost(p.arrival.info.priority).max(0.0))
            .sum::<f64>()
    }

    /// Base eligibility plus the consolidation filter (`ShouldDisrupt` for Multi/Single).
    pub(super) fn consolidation_candidate(&self, i: usize) -> bool {
        let now = self.now;
        let n = &self.nodes[i];
        let Some(t) = n.template else { return false };
        let Some(ps) = self.pool_settings().get(t) else {
            return false;
        };
        if n.state != NodeState::Ready
            || n.deleting.is_some()
            || n.in_command
            || n.nominated_until_ms > now
        {
            return false;
        }
        if !ps.consolidates_underutilized || n.movable == 0 || n.dnd > 0 {
            return false;
        }
        if !self.consolidatable(i, ps) {
            return false;
        }
        // Its instance type must still be one the NodePool offers.
        if !n
            .it
            .as_ref()
            .is_some_and(|it| self.pool_types[t].contains(&it.name))
        {
            return false;
        }
        // A pod that a PodDisruptionBudget would not let go blocks the node.
        self.setup.pdbs.is_empty() || !n.pods.iter().any(|p| self.pdb_blocks(*p))
    }

    /// Candidates by SavingsRatio (price / RDC) descending, ties by name.
    fn sorted_candidates(&self) -> Vec<usize> {
        // Candidates are initialized nodes outside any command: the Ready part of the pass
        // order holds exactly those (the sort below fixes the order).
        let mut c: Vec<(f64, usize)> = self.pass_order[..self.pass_ready]
            .iter()
            .copied()
            .filter(|i| self.consolidation_candidate(*i))
            .map(|i| (self.nodes[i].price / self.rdc(i), i))
            .collect();
        // The Ready part of the pass order is sorted by name: a stable sort by ratio leaves
        // equal ratios in name order.
        c.sort_by(|a, b| b.0.total_cmp(&a.0));
        c.into_iter().map(|(_, i)| i).collect()
    }

    /// The scheduling simulation of removing `cands` (`SimulateScheduling`): their pods and the
    /// pending pods are scheduled on the rest of the cluster with the provisioning scheduler.
    /// `None` when a candidate's pod cannot be placed, or lands on an uninitialized node.
    fn simulate_removal(
        &mut self,
        cands: &[usize],
        cost_ms: &mut u64,
    ) -> Option<Vec<PlannedClaim>> {
        self.simulate(cands, cost_ms, true, false)
    }

    /// [`Self::simulate_removal`] with its options: `destination_rule` keeps moving pods off
    /// nodes inside their consolidateAfter window (consolidation, not drift); `skip_blocked`
    /// leaves out pods that cannot be evicted now (do-not-disrupt, a PDB that allows no
    /// disruption), as drift does for a NodeClaim with a terminationGracePeriod.
    pub(super) fn simulate(
        &mut self,
        cands: &[usize],
        cost_ms: &mut u64,
        destination_rule: bool,
        skip_blocked: bool,
    ) -> Option<Vec<PlannedClaim>> {
        self.simulate_on(cands, cost_ms, destination_rule, skip_blocked, None)
    }

    /// [`Self::simulate`] with, in `only`, the existing nodes to offer the scheduler (in pass
    /// order) when the caller knows which nodes its pods can reach; `None` offers every node.
    fn simulate_on(
        &mut self,
        cands: &[usize],
        cost_ms: &mut u64,
        destination_rule: bool,
        skip_blocked: bool,
        only: Option<Vec<usize>>,
    ) -> Option<Vec<PlannedClaim>> {
        let mut batch: Vec<PodInfo> = self
            .pending
            .iter()
            .filter_map(|(_, _, id)| self.pods.get(id).map(|p| p.arrival.info.clone()))
            .collect();
        let mut moving: FxHashSet<u32> = FxHashSet::default();
        for c in cands {
            for pid in &self.nodes[*c].pods {
                if let Some(p) = self.pods.get(pid) {
                    if skip_blocked && (p.arrival.do_not_disrupt || self.pdb_blocks(*pid)) {
                        continue;
                    }
                    moving.insert(*pid);
                    batch.push(p.arrival.info.clone());
                }
            }
        }
        // Pods still on nodes being deleted (draining, or candidates of a started command)
        // are rescheduled in the same simulation; they may land on uninitialized nodes (their
        // replacements), but each must land somewhere.
        let mut deleting: FxHashSet<u32> = FxHashSet::default();
        for i in &self.disrupting {
            if !cands.contains(i) {
                for pid in &self.nodes[*i].pods {
                    if let Some(p) = self.pods.get(pid) {
                        deleting.insert(*pid);
                        batch.push(p.arrival.info.clone());
                    }
                }
            }
        }
        *cost_ms += 5 + batch.len() as u64;
        let needs_topology =
            self.anti_affinity_bound > 0 || batch.iter().any(|p| p.constraints.has_topology());
        let mut min_req = Resources([i64::MAX; crate::resources::NUM_RESOURCES]);
        for p in &batch {
            min_req = min_req.min(&p.requests);
        }
        let (_, existing, placed) = match only {
            Some(list) if !needs_topology => {
                self.existing_nodes(list, needs_topology, destination_rule)
            }
            _ => self.pass_nodes(cands, needs_topology, false, &min_req, destination_rule),
        };
        let remaining = self.remaining_limits(cands);
        let refs: Vec<&PodInfo> = batch.iter().collect();
        let input = SolveInput {
            templates: self.templates(),
            existing: &existing,
            placed,
            remaining,
            market: &self.market,
            domain_groups: self.domain_groups(),
            tolerate_prefer_no_schedule: self.setup.tolerate_prefer_no_schedule,
            min_values_best_effort: self.setup.settings.min_values_best_effort,
            ignore_preferences: self.setup.settings.ignore_preferences,
            moving: Some(&moving),
        };
        let result = Scheduler::new(
            &input,
            &refs,
            &mut self.rngs.disruption,
            &mut self.hostnames,
        )
        .solve(&refs);
        if result
            .errors
            .iter()
            .any(|(pid, _)| moving.contains(pid) || deleting.contains(pid))
        {
            return None;
        }
        if result
            .existing
            .iter()
            .any(|(pid, ni)| moving.contains(pid) && !existing[*ni].initialized)
        {
            return None;
        }
        Some(result.claims)
    }

    /// Brings the first-fit index up to date for this pass (the cluster and the time are what
    /// they were when it was built, or it is rebuilt). While the pass order and the NodePool
    /// view are those of the last build, only the nodes changed since are updated in place.
    fn ensure_fit_index(&mut self) {
        let key = (self.state_version, self.layout_version, self.now);
        if self.fit.key == Some(key) {
            return;
        }
        let basis = (self.order_version, self.view);
        let changed = std::mem::take(&mut self.fit_changed);
        if self.fit.built() && self.fit_basis == Some(basis) {
            for i in changed {
                if let Some(k) = self.fit.leaf(i) {
                    let leaf = self.fit_leaf(i);
                    self.fit.update_leaf(k, leaf);
                }
            }
            self.fit.advance(key, self.now);
            debug_assert!(
                self.fit.leaves().all(|l| self.fit_leaf(l.node) == *l),
                "a node changed without being marked for the first-fit index"
            );
            debug_assert!(self.fit.consistent());
            return;
        }
        // A new pass order under the same view: the nodes neither new nor changed keep their
        // leaves (while few enough shapes have bits; a full build drops the unused ones).
        if self.fit.built()
            && self.fit_basis.is_some_and(|b| b.1 == self.view)
            && self.fit.shape_count() <= 48
        {
            let mut changed = changed;
            changed.sort_unstable();
            changed.dedup();
            let fresh: Vec<super::fit::Leaf> = self
                .pass_order
                .iter()
                .filter(|i| self.fit.leaf(**i).is_none() || changed.binary_search(i).is_ok())
                .map(|&i| self.fit_leaf(i))
                .collect();
            self.fit.reorder(key, self.now, &self.pass_order, fresh);
            self.fit_basis = Some(basis);
            debug_assert!(
                self.fit.leaves().all(|l| self.fit_leaf(l.node) == *l),
                "a node changed without being marked for the first-fit index"
            );
            debug_assert!(self.fit.consistent());
            return;
        }
        let leaves = self.pass_order.iter().map(|&i| self.fit_leaf(i)).collect();
        self.fit.build(key, leaves);
        self.fit_basis = Some(basis);
    }

    /// Node `i` as a leaf of the first-fit index now.
    fn fit_leaf(&self, i: usize) -> super::fit::Leaf {
        let n = &self.nodes[i];
        let cool_until = self.cool_until(i);
        super::fit::Leaf {
            node: i,
            free: n.allocatable.sub(&n.used),
            taints: self.effective_taints(i),
            cooling: self.now < cool_until,
            cool_until,
            initialized: n.state == NodeState::Ready,
            excluded: false,
        }
    }

    /// The scheduling simulation of removing `cands`, answered from the first-fit index where
    /// the batch (pending pods, the candidates' pods, the pods of deleting nodes) is made of
    /// plain pods only: no node selector, affinity, topology or host port.
    ///
    /// For such pods the provisioning scheduler places each, in queue order, on the first
    /// existing node in pass order that holds it (skipping cooling nodes for moved pods), and
    /// only then on new NodeClaims. Replaying that first fit gives the nodes the pods reach:
    /// - a moved pod reaching an uninitialized node fails the simulation;
    /// - moved or deleting pods left over that no single instance type cheaper than the
    ///   candidates can hold (or that only a Spot-to-Spot move could take, with the gate off)
    ///   cannot make a command;
    /// - otherwise the scheduler runs with only the reached nodes, in the same order, and
    ///   places every pod exactly where it would have among all nodes (an earlier node that
    ///   did not hold a pod then does not hold it now), so its result is the simulation's.
    ///
    /// Each answer is charged the simulation's cost. `Unknown` sends the caller to the full
    /// simulation. `exact` (validation, which records why a command no longer holds) skips
    /// the shortcuts that only tell that no command follows: the answer is the simulation's.
    fn fast_simulate(&mut self, cands: &[usize], cost_ms: &mut u64, exact: bool) -> Fast {
        if self.anti_affinity_bound > 0 {
            return Fast::Unknown;
        }
        let plain = |p: &PodInfo| super::kube_equivalent(&p.constraints);
        // The pending pods and the pods of deleting nodes are the same for every candidate of
        // the pass: sorted once, in queue order (`queue.go`, as the scheduler sorts).
        self.ensure_fit_index();
        let key = self.fit.key;
        if self.fast_base.as_ref().is_none_or(|b| b.0 != key) {
            let mut base: Vec<PlanItem> = Vec::new();
            let mut all_plain = true;
            for (_, _, id) in &self.pending {
                if let Some(p) = self.pods.get(id) {
                    all_plain &= plain(&p.arrival.info);
                    let shape = self.fit.intern(&p.arrival.info.requests);
                    base.push(PlanItem::of(&p.arrival.info, 0, shape));
                }
            }
            for i in &self.disrupting {
                for pid in &self.nodes[*i].pods {
                    if let Some(p) = self.pods.get(pid) {
                        all_plain &= plain(&p.arrival.info);
                        let shape = self.fit.intern(&p.arrival.info.requests);
                        base.push(PlanItem::of(&p.arrival.info, 2, shape));
                    }
                }
            }
            base.sort_by(PlanItem::queue_order);
            self.fast_base = Some((key, base, all_plain));
        }
        let base_len = match &self.fast_base {
            Some((_, base, true)) => base.len(),
            _ => return Fast::Unknown,
        };
        self.ensure_cheap_types();
        // A single candidate whose pods and prices are as when one of its pod shapes last
        // ended it (below): that shape ends it again while no other initialized node outside
        // its window holds it, read from the per-shape counts without the node's plan.
        if let [c] = cands
            && !exact
            && let Some(m) = self.stranded_by.get(*c).copied().flatten()
            && self
                .cheap_types
                .as_ref()
                .is_some_and(|t| t.key == m.cheap_key)
        {
            let own = self.fit.leaf(*c);
            let req = self.fit.request(m.shape);
            if self
                .fit
                .held_elsewhere(m.shape, &req, Among::WarmReady, own.as_slice())
                == Some(false)
            {
                *cost_ms += 5 + base_len as u64 + u64::from(m.moved);
                return Fast::NoCommand;
            }
        }
        for c in cands {
            self.refresh_plan(*c);
        }
        // The candidates' pods must be plain too; count them for the simulation's cost. A
        // moved pod that no other initialized node outside its window holds even before
        // anything is placed (from the per-shape counts, without a replay) either reaches an
        // uninitialized node, which fails the simulation, or is left over; so, unless the
        // simulation fails anyway, the one NodeClaim a command may have must hold all such
        // pods: when no cheaper instance type can (or, for Spot candidates without
        // Spot-to-Spot, when any NodeClaim is needed), the candidate ends here, once every
        // pod is known to be plain.
        let own_one: [usize; 1];
        let own_many: Vec<usize>;
        let own: &[usize] = match cands {
            [c] => match self.fit.leaf(*c) {
                Some(k) => {
                    own_one = [k];
                    &own_one
                }
                None => &[],
            },
            _ => {
                own_many = cands.iter().filter_map(|c| self.fit.leaf(*c)).collect();
                &own_many
            }
        };
        let mut moved = 0usize;
        for c in cands {
            let Some(plan) = self.node_plans[*c].as_ref() else {
                return Fast::Unknown;
            };
            if plan.odd > 0 {
                return Fast::Unknown;
            }
            moved += plan.items.len();
        }
        let cost = 5 + (base_len + moved) as u64;
        let source: f64 = cands.iter().map(|c| self.nodes[*c].price).sum();
        let s2s_only = self.spot_to_spot_only(cands);
        let hopeless = |cheap: &Option<CheapTypes>, left: &Resources| {
            s2s_only || cheap.as_ref().is_some_and(|c| c.hopeless(source, left))
        };
        // What such pods need only grows as more are found: stop at the first hopeless sum.
        let mut stranded = Resources::ZERO;
        for c in cands.iter().filter(|_| !exact) {
            let Some(plan) = self.node_plans[*c].as_ref() else {
                continue;
            };
            for (shape, req, count) in &plan.shapes {
                if self.fit.held_elsewhere(*shape, req, Among::WarmReady, own) == Some(false) {
                    let alone = stranded == Resources::ZERO;
                    for _ in 0..*count {
                        stranded.add_assign(req);
                    }
                    if hopeless(&self.cheap_types, &stranded) {
                        // One shape's pods were enough: remembered for the next passes.
                        if alone && let ([c], Some(t)) = (cands, &self.cheap_types) {
                            self.stranded_by[*c] = Some(StrandedBy {
                                shape: *shape,
                                moved: moved as u32,
                                cheap_key: t.key,
                            });
                        }
                        *cost_ms += cost;
                        return Fast::NoCommand;
                    }
                }
            }
        }
        let Some((_, base, true)) = &self.fast_base else {
            return Fast::Unknown;
        };
        // The moved pods in queue order: one candidate's are cached so; several are merged.
        let merged: Vec<PlanItem>;
        let mine: &[PlanItem] = if let [c] = cands {
            self.node_plans[*c]
                .as_ref()
                .map(|p| p.items.as_slice())
                .unwrap_or_default()
        } else {
            let mut all: Vec<PlanItem> = cands
                .iter()
                .filter_map(|c| self.node_plans[*c].as_ref())
                .flat_map(|p| p.items.iter().cloned())
                .collect();
            all.sort_by(PlanItem::queue_order);
            merged = all;
            &merged
        };
        for c in cands {
            if let Some(k) = self.fit.leaf(*c) {
                self.fit.exclude(k);
            }
        }
        let mut reached: Vec<usize> = Vec::new();
        let mut left = Resources::ZERO;
        let mut left_pending = false;
        let mut moved_left = false;
        let mut pending_left: Vec<(Resources, Vec<crate::model::Toleration>)> = Vec::new();
        let mut moved_to_uninitialized = false;
        let mut gave_up = false;
        // Both lists are in queue order: replay their merge. Moved pods left over only add to
        // what the one new NodeClaim must hold: once no cheaper type could, the replay ends.
        let (mut i, mut j) = (0, 0);
        while i < base.len() || j < mine.len() {
            let item = if j >= mine.len()
                || (i < base.len()
                    && PlanItem::queue_order(&base[i], &mine[j]) != std::cmp::Ordering::Greater)
            {
                i += 1;
                &base[i - 1]
            } else {
                j += 1;
                &mine[j - 1]
            };
            let (req, tol, kind) = (&item.requests, &item.constraints.tolerations, item.kind);
            match self.fit.first_fit(item.shape, req, tol, kind == 1) {
                Some(k) => {
                    if kind == 1 && !self.fit.at(k).initialized {
                        moved_to_uninitialized = true;
                        break;
                    }
                    self.fit.take(k, req);
                    reached.push(k);
                }
                None => {
                    if kind == 0 {
                        left_pending = true;
                        pending_left.push((*req, tol.to_vec()));
                    } else {
                        moved_left = true;
                        left.add_assign(req);
                        if !exact && hopeless(&self.cheap_types, &left) {
                            gave_up = true;
                            break;
                        }
                    }
                }
            }
        }
        self.fit.undo();
        if moved_to_uninitialized || gave_up {
            *cost_ms += cost;
            // A moved pod on a node that is not initialized fails the simulation itself.
            return if moved_to_uninitialized {
                Fast::Sim(None)
            } else {
                Fast::NoCommand
            };
        }
        // What the new NodeClaims must hold. Moved or deleting pods left over need new
        // NodeClaims (or fail the simulation); so do the pending pods left over that surely get
        // one. A command may have only one new NodeClaim, so it holds all of them: when no
        // instance type holds that much for less than the candidates cost (or only a
        // Spot-to-Spot move could take it, with the gate off), there is no command.
        let mut claimed = moved_left;
        if left_pending {
            for (req, tol) in &pending_left {
                if self.surely_claims(req, tol) {
                    left.add_assign(req);
                    claimed = true;
                }
            }
        }
        if claimed && !exact && hopeless(&self.cheap_types, &left) {
            *cost_ms += cost;
            return Fast::NoCommand;
        }
        reached.sort_unstable();
        reached.dedup();
        let only: Vec<usize> = reached.iter().map(|k| self.fit.at(*k).node).collect();
        Fast::Sim(self.simulate_on(cands, cost_ms, true, false, Some(only)))
    }

    /// Brings node `c`'s cached [`NodePlan`] up to date with its pods.
    fn refresh_plan(&mut self, c: usize) {
        if self.node_plans.len() <= c {
            self.node_plans.resize_with(c + 1, || None);
            self.stranded_by.resize(c + 1, None);
        }
        let version = self.nodes[c].pods_version;
        if self.node_plans[c]
            .as_ref()
            .is_some_and(|p| p.version == version)
        {
            return;
        }
        let mut items = Vec::with_capacity(self.nodes[c].pods.len());
        let mut odd = 0;
        for pid in &self.nodes[c].pods {
            if let Some(p) = self.pods.get(pid) {
                odd += u32::from(!super::kube_equivalent(&p.arrival.info.constraints));
                let shape = self.fit.intern(&p.arrival.info.requests);
                items.push(PlanItem::of(&p.arrival.info, 1, shape));
            }
        }
        items.sort_by(PlanItem::queue_order);
        let shapes = NodePlan::shapes_of(&items);
        self.node_plans[c] = Some(NodePlan {
            version,
            items,
            shapes,
            odd,
        });
    }

    /// Pod `pid` was just bound to (`added`) or taken off node `c`: a plan that was up to date
    /// before follows, so it is not rebuilt from the pods (plans made before stay stale and
    /// are rebuilt when asked).
    pub(super) fn plan_pod_changed(&mut self, c: usize, pid: u32, added: bool) {
        if let Some(m) = self.stranded_by.get_mut(c) {
            *m = None;
        }
        let version = self.nodes[c].pods_version;
        let Some(plan) = self.node_plans.get_mut(c).and_then(Option::as_mut) else {
            return;
        };
        if plan.version + 1 != version {
            return;
        }
        if added {
            let Some(p) = self.pods.get(&pid) else {
                return;
            };
            let shape = self.fit.intern(&p.arrival.info.requests);
            let item = PlanItem::of(&p.arrival.info, 1, shape);
            plan.odd += u32::from(!super::kube_equivalent(&item.constraints));
            let at = plan
                .items
                .partition_point(|x| PlanItem::queue_order(x, &item).is_lt());
            plan.items.insert(at, item);
        } else {
            let Some(k) = plan.items.iter().position(|x| x.id == pid) else {
                return;
            };
            let item = plan.items.remove(k);
            plan.odd -= u32::from(!super::kube_equivalent(&item.constraints));
        }
        plan.shapes = NodePlan::shapes_of(&plan.items);
        plan.version = version;
    }

    /// All candidates are Spot, every NodePool may launch Spot and Spot-to-Spot is off: a
    /// simulation that needs any new NodeClaim cannot make a command.
    fn spot_to_spot_only(&self, cands: &[usize]) -> bool {
        !self.setup.settings.spot_to_spot
            && cands
                .iter()
                .all(|c| self.nodes[*c].capacity_type == labels::SPOT)
            && self
                .templates()
                .iter()
                .all(|t| t.requirements.allows(labels::CAPACITY_TYPE, labels::SPOT))
    }

    /// A plain pending pod with `req` and `tol` that fits no existing node surely gets a new
    /// NodeClaim: some NodePool without limits or minValues, whose taints it tolerates, has an
    /// instance type with an available offering that holds it with the DaemonSet overhead.
    fn surely_claims(&self, req: &Resources, tol: &[crate::model::Toleration]) -> bool {
        self.templates().iter().any(|t| {
            t.limits.is_none()
                && !t.requirements.has_min_values()
                && crate::model::untolerated(&t.taints, tol).is_none()
                && holds(t, req, |it, o| {
                    it.offering_ok(o, &t.requirements, &self.market)
                })
        })
    }

    /// Brings the per-template cheapest-offering tables ([`CheapTypes`]) up to date with the
    /// market and the view.
    fn ensure_cheap_types(&mut self) {
        let templates = self.templates();
        let key = (
            self.market.version,
            templates.as_ptr() as usize,
            templates.len(),
        );
        if self.cheap_types.as_ref().is_some_and(|c| c.key == key) {
            return;
        }
        let per_template = templates
            .iter()
            .map(|t| {
                let mut v: Vec<(f64, Resources, Resources)> = t
                    .candidates
                    .iter()
                    .filter_map(|i| {
                        let it = &t.instance_types[*i as usize];
                        let g = &t.daemon_groups[t.it_group[*i as usize] as usize];
                        it.offerings
                            .iter()
                            .filter(|o| it.offering_ok(o, &t.requirements, &self.market))
                            .map(|o| self.market.price(it.name, o))
                            .min_by(f64::total_cmp)
                            .map(|p| (p, g.overhead, it.allocatable))
                    })
                    .collect();
                v.sort_by(|a, b| a.0.total_cmp(&b.0));
                v
            })
            .collect();
        self.cheap_types = Some(CheapTypes { key, per_template });
    }

    /// The consolidation decision for `cands` (`computeConsolidation`).
    fn consolidate(&mut self, cands: &[usize], single: bool, cost_ms: &mut u64) -> Option<Kind> {
        let fast = if self.setup.consolidation_precheck {
            self.fast_simulate(cands, cost_ms, false)
        } else {
            Fast::Unknown
        };
        let mut claims = match fast {
            Fast::NoCommand => return None,
            Fast::Sim(r) => r?,
            Fast::Unknown => self.simulate_removal(cands, cost_ms)?,
        };
        if claims.is_empty() {
            return Some(Kind::Delete);
        }
        if claims.len() > 1 {
            return None;
        }
        let mut r = claims.pop()?;
        let t = &self.templates()[r.template];
        let its = &t.instance_types;
        let source_price: f64 = cands.iter().map(|c| self.nodes[*c].price).sum();
        let all_spot = cands
            .iter()
            .all(|c| self.nodes[*c].capacity_type == labels::SPOT);
        let allows = |ct: Sym| r.requirements.allows(labels::CAPACITY_TYPE, ct);
        let (spot_ok, od_ok) = (allows(labels::SPOT), allows(labels::ON_DEMAND));
        let market = &self.market;
        let cheaper = |r: &PlannedClaim, i: &u32| {
            worst_launch_price(&its[*i as usize], &r.requirements, market)
                .is_some_and(|w| w < source_price)
        };
        if all_spot && spot_ok {
            // Spot-to-spot, behind its feature gate.
            if !self.setup.settings.spot_to_spot {
                return None;
            }
            r.requirements
                .add(Requirement::single(labels::CAPACITY_TYPE, labels::SPOT));
            let rr = r.clone();
            r.options.retain(|i| cheaper(&rr, i));
            if single {
                if r.options.len() < SPOT_TO_SPOT_MIN_TYPES {
                    return None;
                }
                let mut priced: Vec<(f64, u32)> = r
                    .options
                    .iter()
                    .map(|i| {
                        (
                            its[*i as usize]
                                .cheapest_price(&r.requirements, market)
                                .unwrap_or(f64::MAX),
                            *i,
                        )
                    })
                    .collect();
                priced.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                priced.truncate(SPOT_TO_SPOT_MIN_TYPES);
                r.options = priced.into_iter().map(|(_, i)| i).collect();
            }
        } else {
            let rr = r.clone();
            r.options.retain(|i| cheaper(&rr, i));
            // A replacement that may be Spot or on-demand is forced to Spot, so an ICE on
            // Spot cannot fall back to a dearer on-demand node.
            if spot_ok && od_ok {
                r.requirements
                    .add(Requirement::single(labels::CAPACITY_TYPE, labels::SPOT));
            }
        }
        if r.options.is_empty() {
            return None;
        }
        if r.requirements.has_min_values()
            && satisfies_min_values(its, &r.options, &r.requirements).is_err()
        {
            return None;
        }
        Some(Kind::Replace(Box::new(r)))
    }

    /// Balanced per-pool totals (`balanced.go`): the pool's cost (Σ prices of its nodes) and
    /// disruption (Σ RescheduleDisruptionCost of its nodes).
    fn balanced_totals(&self, t: usize) -> (f64, f64) {
        let mut cost = 0.0;
        let mut disruption = 0.0;
        for (i, n) in self.nodes.iter().enumerate() {
            if n.template == Some(t) && n.alive() {
                cost += n.price;
                disruption += self.rdc(i);
            }
        }
        (cost, disruption)
    }

    /// The Balanced score of moving `cands` with `savings`: every Balanced pool in the move must
    /// score ≥ 0.5 on its share; pools with other policies always pass.
    fn balanced_approves(&self, cands: &[usize], savings: f64) -> bool {
        let source: f64 = cands.iter().map(|c| self.nodes[*c].price).sum();
        let mut pools: Vec<usize> = cands
            .iter()
            .filter_map(|c| self.nodes[*c].template)
            .collect();
        pools.sort_unstable();
        pools.dedup();
        pools.into_iter().all(|t| {
            if !self.pool_settings()[t].balanced {
                return true;
            }
            let in_pool: Vec<usize> = cands
                .iter()
                .copied()
                .filter(|c| self.nodes[*c].template == Some(t))
                .collect();
            let share = in_pool.iter().map(|c| self.nodes[*c].price).sum::<f64>()
                / source.max(f64::MIN_POSITIVE);
            let saved = savings * share;
            let disruption: f64 = in_pool.iter().map(|c| self.rdc(*c)).sum();
            let (total_cost, total_disruption) = self.balanced_totals(t);
            if saved <= 0.0 || total_cost <= 0.0 || total_disruption <= 0.0 || disruption <= 0.0 {
                return false;
            }
            (saved / total_cost) / (disruption / total_disruption) >= BALANCED_THRESHOLD
        })
    }

    /// The price of a replacement's cheapest available offering over its options.
    fn cheapest_option_price(&self, r: &PlannedClaim) -> Option<f64> {
        let t = &self.templates()[r.template];
        r.options
            .iter()
            .filter_map(|i| {
                t.instance_types[*i as usize].cheapest_price(&r.requirements, &self.market)
            })
            .min_by(f64::total_cmp)
    }

    /// EstimatedSavings of a decision: the candidates' prices minus, for a replacement, the
    /// cheapest available offering of its cheapest option.
    fn estimated_savings(&self, cands: &[usize], kind: &Kind) -> f64 {
        let source: f64 = cands.iter().map(|c| self.nodes[*c].price).sum();
        match kind {
            Kind::Delete => source,
            Kind::Replace(r) => source - self.cheapest_option_price(r).unwrap_or(f64::INFINITY),
        }
    }

    /// Multi-node's same-type filter: a replacement option of the same type as a candidate may
    /// cost no more than the cheapest such candidate.
    fn same_type_ok(&self, cands: &[usize], r: &mut PlannedClaim) -> bool {
        let t = &self.templates()[r.template];
        let its = &t.instance_types;
        let names: Vec<Sym> = r.options.iter().map(|i| its[*i as usize].name).collect();
        let cap = cands
            .iter()
            .filter(|c| {
                self.nodes[**c]
                    .it
                    .as_ref()
                    .is_some_and(|it| names.contains(&it.name))
            })
            .map(|c| self.nodes[*c].price)
            .min_by(f64::total_cmp);
        if let Some(cap) = cap {
            let reqs = r.requirements.clone();
            r.options.retain(|i| {
                worst_launch_price(&its[*i as usize], &reqs, &self.market).is_some_and(|w| w < cap)
            });
        }
        !r.options.is_empty()
    }

    fn underutilized_budgets(&self) -> Vec<u32> {
        let counts = self.pool_counts.clone();
        (0..self.templates().len())
            .map(|t| {
                self.pool_settings()[t].budgets.remaining(
                    self.now,
                    counts[t].0,
                    counts[t].1,
                    Reason::Underutilized,
                )
            })
            .collect()
    }

    /// Multi-node consolidation: the largest valid prefix of the sorted candidates (binary
    /// search over 2..=min(n, 101)). Returns the command and whether a budget blocked nodes.
    pub(super) fn multi_node(
        &mut self,
        sorted: &[usize],
        spent_ms: &mut u64,
    ) -> (Option<Command>, bool) {
        let mut left = self.underutilized_budgets();
        let mut blocked = false;
        let mut cands = Vec::new();
        for &i in sorted {
            let t = self.nodes[i].template.unwrap_or(0);
            if left[t] == 0 {
                blocked = true;
                continue;
            }
            left[t] -= 1;
            cands.push(i);
        }
        let n = cands.len();
        if n < 2 {
            return (None, blocked);
        }
        let (mut lo, mut hi) = (1usize, if n <= 100 { n - 1 } else { 100 });
        let mut best: Option<Command> = None;
        let mut cost = 0u64;
        while lo <= hi && cost < MULTI_BUDGET_MS {
            let mid = (lo + hi) / 2;
            let prefix = cands[..mid + 1].to_vec();
            let valid = match self.consolidate(&prefix, false, &mut cost) {
                Some(Kind::Delete) => Some(Kind::Delete),
                Some(Kind::Replace(mut r)) => self
                    .same_type_ok(&prefix, &mut r)
                    .then_some(Kind::Replace(r)),
                None => None,
            }
            .filter(|k| self.balanced_approves(&prefix, self.estimated_savings(&prefix, k)));
            match valid {
                Some(kind) => {
                    best = Some(Command {
                        method: Method::Multi,
                        cands: prefix,
                        kind,
                    });
                    lo = mid + 1;
                }
                None => hi = mid - 1,
            }
        }
        *spent_ms += cost;
        (best, blocked)
    }

    /// Single-node consolidation: the first candidate (savings order, interleaved round-robin
    /// by NodePool) that can be deleted or replaced by one cheaper node.
    pub(super) fn single_node(
        &mut self,
        sorted: &[usize],
        spent_ms: &mut u64,
    ) -> (Option<Command>, bool) {
        let budgets = self.underutilized_budgets();
        // Round-robin across NodePools, in template order.
        let mut by_pool: Vec<Vec<usize>> = vec![Vec::new(); self.templates().len()];
        for &i in sorted {
            by_pool[self.nodes[i].template.unwrap_or(0)].push(i);
        }
        let mut order = Vec::new();
        let longest = by_pool.iter().map(Vec::len).max().unwrap_or(0);
        for k in 0..longest {
            for (t, p) in by_pool.iter().enumerate() {
                if let Some(i) = p.get(k) {
                    order.push((*i, t));
                }
            }
        }
        let mut blocked = false;
        let mut cost = 0u64;
        for (i, t) in order {
            if cost >= SINGLE_BUDGET_MS {
                break;
            }
            if budgets[t] == 0 {
                blocked = true;
                continue;
            }
            // Balanced pre-filter: even deleting the node outright must score.
            if self.pool_settings()[t].balanced {
                let (tc, td) = self.balanced_totals(t);
                if tc > 0.0 && td > 0.0 && !self.balanced_approves(&[i], self.nodes[i].price) {
                    continue;
                }
            }
            if let Some(kind) = self.consolidate(&[i], true, &mut cost) {
                if !self.balanced_approves(&[i], self.estimated_savings(&[i], &kind)) {
                    continue;
                }
                *spent_ms += cost;
                return (
                    Some(Command {
                        method: Method::Single,
                        cands: vec![i],
                        kind,
                    }),
                    blocked,
                );
            }
        }
        *spent_ms += cost;
        (None, blocked)
    }

    /// Validation 15 s after the decision (`validation.go`): the candidates must still be
    /// candidates within budget, and a fresh simulation must reach the same decision.
    pub(super) fn validate_consolidation(&mut self, cmd: &Command) -> Result<(), &'static str> {
        let mut left = self.underutilized_budgets();
        for c in &cmd.cands {
            if !self.consolidation_candidate(*c) {
                return Err("churn: a candidate is no longer consolidatable");
            }
            let t = self.nodes[*c].template.unwrap_or(0);
            if left[t] == 0 {
                return Err("budget: the disruption budget no longer allows it");
            }
            left[t] -= 1;
        }
        let mut cost = 0;
        let fast = if self.setup.consolidation_precheck {
            self.fast_simulate(&cmd.cands, &mut cost, true)
        } else {
            Fast::Unknown
        };
        let fresh = match fast {
            Fast::Sim(r) => r,
            Fast::NoCommand | Fast::Unknown => self.simulate_removal(&cmd.cands, &mut cost),
        }
        .ok_or("scheduling: a pod no longer fits")?;
        match &cmd.kind {
            Kind::Delete if fresh.is_empty() => Ok(()),
            Kind::Replace(r) if fresh.len() == 1 => {
                let t = &self.templates()[r.template];
                let now: FxHashSet<Sym> = fresh[0]
                    .options
                    .iter()
                    .map(|i| t.instance_types[*i as usize].name)
                    .collect();
                if r.options
                    .iter()
                    .all(|i| now.contains(&t.instance_types[*i as usize].name))
                {
                    Ok(())
                } else {
                    Err("scheduling: the replacement options changed")
                }
            }
            _ => Err("scheduling: the decision changed"),
        }
    }

    /// Marks a candidate of a started command (§6): tainted, out of every scheduling list,
    /// disrupting for budgets; its pods keep running until the command completes.
    pub(super) fn mark_in_command(&mut self, i: usize, on: bool) {
        let was = self.nodes[i].in_command;
        if was == on || !self.nodes[i].alive() {
            return;
        }
        let ready = self.nodes[i].state == NodeState::Ready;
        {
            let n = &mut self.nodes[i];
            n.in_command = on;
            if on {
                self.disrupting.insert(i);
                n.taints.push(crate::model::disrupted_taint());
            } else {
                self.disrupting.remove(&i);
                let t = crate::model::disrupted_taint();
                if let Some(k) = n.taints.iter().position(|x| *x == t) {
                    n.taints.remove(k);
                }
            }
        }
        if on {
            self.order_remove(i, ready);
        } else {
            self.order_insert(i, ready);
        }
        if ready && let Some(t) = self.nodes[i].template {
            if on {
                self.pool_counts[t].1 += 1;
            } else {
                self.pool_counts[t].1 -= 1;
            }
        }
        self.reindex(i);
        self.refresh_empty(i);
        self.state_version += 1;
        // Removing the taint is a Node update: kube-scheduler retries its unschedulable pods.
        if !on && ready {
            self.kube_retry(Some(i));
        }
    }

    /// Starts a validated command: DELETE deletes the candidates now; REPLACE launches the
    /// replacement first and deletes the candidates once it is initialized.
    pub(super) fn start_consolidation(&mut self, cmd: Command) {
        let names: Vec<&str> = cmd
            .cands
            .iter()
            .map(|c| self.nodes[*c].name.as_str())
            .collect();
        let source: f64 = cmd.cands.iter().map(|c| self.nodes[*c].price).sum();
        match cmd.kind {
            Kind::Delete => {
                self.rec.decision(&serde_json::json!({
                    "time": secs(self.now), "kind": "disruption", "method": cmd.method.as_str(), "reason": "Underutilized",
                    "decision": "delete", "nodes": names, "savings_per_hour": source,
                }));
                for c in cmd.cands {
                    *self
                        .summary
                        .disrupted_by_reason
                        .entry("underutilized".into())
                        .or_insert(0) += 1;
                    self.delete_node(c, "underutilized");
                }
            }
            Kind::Replace(r) => {
                let t = &self.templates()[r.template];
                let opts: Vec<&str> = r
                    .options
                    .iter()
                    .take(10)
                    .map(|i| t.instance_types[*i as usize].name.as_str())
                    .collect();
                let cheapest = self.cheapest_option_price(&r).unwrap_or(0.0);
                let n_options = r.options.len();
                let opts: Vec<String> = opts.into_iter().map(str::to_string).collect();
                for c in &cmd.cands {
                    self.mark_in_command(*c, true);
                }
                let before = self.nodes.len();
                let replacement = self.create_claim(*r);
                self.rec.decision(&serde_json::json!({
                    "time": secs(self.now), "kind": "disruption", "method": cmd.method.as_str(), "reason": "Underutilized",
                    "decision": "replace", "nodes": names, "replacement_nodeclaim": replacement,
                    "replacement_options": n_options,
                    "cheapest_replacement_options": opts, "source_price_per_hour": source,
                    "estimated_savings_per_hour": source - cheapest,
                }));
                self.queue.push(super::consolidate::Queued {
                    replacements: vec![before],
                    cands: cmd.cands,
                    started_ms: self.now,
                    reason: "underutilized",
                });
                self.push(self.now + 1_000, Ev::QueueCheck);
            }
        }
    }

    /// The orchestration queue (polled every second): delete candidates whose replacement is
    /// initialized; roll back commands whose replacement failed or timed out.
    pub(super) fn on_queue_check(&mut self) {
        let now = self.now;
        let queue = std::mem::take(&mut self.queue);
        let mut keep = Vec::new();
        for q in queue {
            let rs: Vec<&super::Node> = q.replacements.iter().map(|r| &self.nodes[*r]).collect();
            let failed = rs
                .iter()
                .any(|r| matches!(r.state, NodeState::Failed | NodeState::Terminated))
                || now >= q.started_ms + QUEUE_TIMEOUT_MS;
            let done = rs
                .iter()
                .all(|r| r.state == NodeState::Ready && r.deleting.is_none());
            if done {
                for c in &q.cands {
                    if !self.nodes[*c].in_command {
                        continue; // already deleted another way
                    }
                    self.mark_in_command(*c, false);
                    *self
                        .summary
                        .disrupted_by_reason
                        .entry(q.reason.into())
                        .or_insert(0) += 1;
                    self.delete_node(*c, q.reason);
                }
            } else if failed {
                self.rec.decision(&serde_json::json!({
                    "time": secs(now), "kind": "disruption-rolled-back",
                    "replacement": rs.first().map(|r| r.name.as_str()),
                    "replacements": rs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
                    "nodes": q.cands.iter().map(|c| self.nodes[*c].name.as_str()).collect::<Vec<_>>(),
                    "reason": "a replacement did not initialize (launch failure or 10 min timeout)",
                }));
                for c in &q.cands {
                    if self.nodes[*c].in_command {
                        self.mark_in_command(*c, false);
                    }
                }
            } else {
                keep.push(q);
            }
        }
        self.queue = keep;
        if !self.queue.is_empty() {
            self.push(now + 1_000, Ev::QueueCheck);
        }
    }

    /// Multi then Single, each skipped while its last fruitless pass is still valid (no state
    /// change and less than 5 min old). Returns a command to validate, if any, and the modeled
    /// time the passes took (the loop is blocked meanwhile).
    pub(super) fn consolidation_methods(
        &mut self,
        from_single: bool,
        spent_ms: &mut u64,
    ) -> Option<Command> {
        if !self
            .pool_settings()
            .iter()
            .any(|p| p.consolidates_underutilized && p.consolidate_after_ms.is_some())
        {
            return None; // no NodePool consolidates underutilized nodes
        }
        // A method without candidates is skipped (`disrupt` returns before ComputeCommands), so
        // it sets no memo.
        let sorted = self.sorted_candidates();
        if sorted.is_empty() {
            return None;
        }
        let version = self.state_version;
        if !from_single && !self.memo_valid(0, version) {
            let (cmd, blocked) = self.multi_node(&sorted, spent_ms);
            if cmd.is_some() {
                return cmd;
            }
            if !blocked {
                self.memo[0] = Some((version, self.now));
            }
        }
        if !self.memo_valid(1, version) {
            let (cmd, blocked) = self.single_node(&sorted, spent_ms);
            if cmd.is_some() {
                return cmd;
            }
            if !blocked {
                self.memo[1] = Some((version, self.now));
            }
        }
        None
    }

    fn memo_valid(&self, k: usize, version: u64) -> bool {
        self.memo[k].is_some_and(|(v, at)| v == version && self.now < at + MEMO_MS)
    }
}
