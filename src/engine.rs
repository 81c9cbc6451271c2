//! The discrete-event engine: pod arrivals, kube-scheduler, Karpenter's batcher and
//! provisioner, launches, registration, pod lifetimes, costs.
//!
//! Owns: simulated time (integer milliseconds), the event queue ordered by (time, sequence),
//! the seeded RNG streams (one per subsystem), cluster state, and the records it hands to a
//! [`Recorder`]. May not: parse files, print, or read the wall clock.

pub mod consolidate;
pub mod disrupt;
pub mod fit;
pub mod kube;
pub mod spot;
pub mod spot_price;

use crate::labels::{self, Sym};
use crate::launch::{self, LaunchError};
use crate::model::{HostPort, PodInfo, Taint, untolerated};
use crate::requirements::{Requirement, Requirements};
use crate::resources::{ResourceName, Resources};
use crate::scheduler::topology::DomainGroup;
use crate::scheduler::{
    DaemonSetPod, ExistingNode, InstanceType, LimitKey, Limits, Market, NodePoolTemplate,
    Scheduler, SimRng, SolveInput,
};
use rand::{RngExt, SeedableRng};
use rand_distr::Distribution;
use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::sync::Arc;

/// Karpenter's pod requeue period while a pod stays provisionable.
pub const REQUEUE_MS: u64 = 10_000;
/// The ICE cache TTL (`UnavailableOfferingsTTL`).
pub const ICE_TTL_MS: u64 = 180_000;
/// Timeline resolution.
pub const TIMELINE_STEP_MS: u64 = 60_000;

/// A latency distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    Constant(u64),
    /// Log-normal with the given median and 90th percentile (ms).
    LogNormal {
        median_ms: u64,
        p90_ms: u64,
    },
}

impl Latency {
    /// Draws one latency in whole milliseconds.
    pub fn sample(&self, rng: &mut SimRng) -> u64 {
        match *self {
            Latency::Constant(ms) => ms,
            Latency::LogNormal { median_ms, p90_ms } => {
                let mu = (median_ms.max(1) as f64).ln();
                let sigma =
                    ((p90_ms.max(median_ms).max(1) as f64).ln() - mu) / 1.281_551_565_544_600_4;
                match rand_distr::LogNormal::new(mu, sigma.max(0.0)) {
                    Ok(d) => d.sample(rng).round().clamp(0.0, 86_400_000.0) as u64,
                    Err(_) => median_ms,
                }
            }
        }
    }
}

/// kube-scheduler's scoring strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scoring {
    LeastAllocated,
    MostAllocated,
}

/// Controller settings (every default is Karpenter's own).
#[derive(Debug, Clone)]
pub struct Settings {
    pub batch_idle_ms: u64,
    pub batch_max_ms: u64,
    /// NodeClaim created → node Ready.
    pub launch_latency: Latency,
    /// NodeClaim created → instance launched (CreateFleet returned).
    pub create_fleet_ms: u64,
    /// Node Ready → pod Running.
    pub pod_startup_ms: u64,
    pub scoring: Scoring,
    /// Probability that EC2 reports insufficient capacity for one Spot override.
    pub spot_ice_probability: f64,
    pub min_values_best_effort: bool,
    pub ignore_preferences: bool,
    /// Feature gate `SpotToSpotConsolidation`.
    pub spot_to_spot: bool,
    /// The Spot interruption model.
    pub interruptions: spot::InterruptionSettings,
    /// `spot_prices: varying`; `None` keeps the catalog prices.
    pub spot_prices: Option<spot_price::PriceWalk>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            batch_idle_ms: 1_000,
            batch_max_ms: 10_000,
            launch_latency: Latency::LogNormal {
                median_ms: 40_000,
                p90_ms: 70_000,
            },
            create_fleet_ms: 2_000,
            pod_startup_ms: 5_000,
            scoring: Scoring::LeastAllocated,
            spot_ice_probability: 0.0,
            min_values_best_effort: false,
            ignore_preferences: false,
            spot_to_spot: false,
            interruptions: spot::InterruptionSettings::default(),
            spot_prices: None,
        }
    }
}

/// A node that exists before the run (not managed by Karpenter).
#[derive(Debug, Clone)]
pub struct ExistingSpec {
    pub name: Sym,
    pub instance_type: InstanceType,
    pub zone: Sym,
    pub capacity_type: Sym,
    pub price: f64,
    pub labels: Vec<(Sym, Sym)>,
    pub taints: Vec<Taint>,
}

/// Everything compiled from the scenario that the engine needs.
#[derive(Debug, Clone)]
pub struct SimSetup {
    pub name: String,
    pub seed: u64,
    /// End of the run; `None` = when the trace is exhausted and nothing is left to happen.
    pub horizon_ms: Option<u64>,
    /// NodePool templates in Karpenter's order.
    pub templates: Vec<NodePoolTemplate>,
    /// NodePools Karpenter skips, with the reason.
    pub skipped_pools: Vec<(String, String)>,
    pub domain_groups: FxHashMap<Sym, DomainGroup>,
    pub daemonsets: Vec<DaemonSetPod>,
    pub existing: Vec<ExistingSpec>,
    pub settings: Settings,
    pub tolerate_prefer_no_schedule: bool,
    /// Per template (same order): the NodePool's disruption-related settings.
    pub pool_settings: Vec<PoolSettings>,
    pub pdbs: Vec<PdbSpec>,
    /// Per template (same order): what its NodeClaims remember for drift detection.
    pub drift: Vec<crate::disruption::drift::DriftKey>,
    /// The NodePools as `changes` edit them mid-run, in time order: the same templates, in
    /// the same order, with new contents.
    pub changes: Vec<PoolView>,
    /// Answer hopeless consolidation candidates without a full scheduling simulation (the
    /// answer is the same; tests turn it off to prove it).
    pub consolidation_precheck: bool,
}

/// One view's NodePools, borrowed from the setup.
#[derive(Clone, Copy)]
struct ViewRef<'a> {
    templates: &'a [NodePoolTemplate],
    settings: &'a [PoolSettings],
    domain_groups: &'a FxHashMap<Sym, DomainGroup>,
    drift: &'a [crate::disruption::drift::DriftKey],
}

/// The NodePools in effect from `at_ms` on (after a `changes` entry).
#[derive(Debug, Clone)]
pub struct PoolView {
    pub at_ms: u64,
    pub templates: Vec<NodePoolTemplate>,
    pub domain_groups: FxHashMap<Sym, DomainGroup>,
    pub pool_settings: Vec<PoolSettings>,
    pub drift: Vec<crate::disruption::drift::DriftKey>,
    pub tolerate_prefer_no_schedule: bool,
}

/// The NodePool settings that govern a node's end of life.
#[derive(Clone)]
pub struct PoolSettings {
    /// `WhenEmptyOrUnderutilized` or `Balanced`: underutilized nodes are consolidated too.
    pub consolidates_underutilized: bool,
    /// `Balanced`: a move must save at least half as much (relative to the pool's cost) as it
    /// disrupts (relative to the pool's disruption).
    pub balanced: bool,
    /// `consolidateAfter` (`None` = Never: never a consolidation or emptiness source).
    pub consolidate_after_ms: Option<u64>,
    pub budgets: Arc<crate::disruption::budgets::Budgets>,
    /// `expireAfter` (`None` = Never).
    pub expire_after_ms: Option<u64>,
    /// `terminationGracePeriod` (`None` = unset: a blocked drain can wait forever).
    pub termination_grace_ms: Option<u64>,
}

impl std::fmt::Debug for PoolSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolSettings")
            .field("consolidate_after_ms", &self.consolidate_after_ms)
            .field("expire_after_ms", &self.expire_after_ms)
            .field("termination_grace_ms", &self.termination_grace_ms)
            .finish_non_exhaustive()
    }
}

/// A PodDisruptionBudget.
#[derive(Debug, Clone)]
pub struct PdbSpec {
    pub namespace: Sym,
    pub selector: crate::model::LabelSelector,
    pub budget: PdbBudget,
}

/// `minAvailable` or `maxUnavailable`, as a count or a percentage (rounded up, as Kubernetes).
#[derive(Debug, Clone, Copy)]
pub enum PdbBudget {
    MinAvailable(i64),
    MinAvailablePercent(i64),
    MaxUnavailable(i64),
    MaxUnavailablePercent(i64),
}

/// One pod of the trace, ready to arrive.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub info: PodInfo,
    pub name: String,
    pub owner: Option<Sym>,
    pub duration_ms: Option<u64>,
    pub do_not_disrupt: bool,
    /// The pod's own `terminationGracePeriodSeconds`, when its template sets one: once evicted
    /// it keeps running on its node, holding its requests, for all of it (it has shutdown work
    /// to do, which is why it sets one). Pods without one stop at once.
    pub termination_grace_ms: Option<u64>,
}

/// Final record of a pod (a `pods.csv` row).
#[derive(Debug, Clone, PartialEq)]
pub struct PodRecord {
    pub id: u32,
    pub name: String,
    pub namespace: String,
    pub owner: String,
    pub arrival_ms: u64,
    pub scheduled_ms: Option<u64>,
    pub running_ms: Option<u64>,
    pub ended_ms: Option<u64>,
    pub node: Option<String>,
    pub evictions: u32,
    pub outcome: &'static str,
}

/// Final record of a node (a `nodes.csv` row).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRecord {
    pub name: String,
    pub nodepool: String,
    pub instance_type: String,
    pub zone: String,
    pub capacity_type: String,
    pub price_per_hour: f64,
    pub launched_ms: u64,
    pub ready_ms: Option<u64>,
    pub terminated_ms: Option<u64>,
    pub termination_reason: Option<String>,
    pub cost: f64,
}

/// One timeline sample (a `timeline.csv` row).
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    pub time_ms: u64,
    pub nodes_on_demand: u32,
    pub nodes_spot: u32,
    pub nodes_reserved: u32,
    pub nodes_not_ready: u32,
    pub cost_per_hour: f64,
    /// `cost_per_hour` split by capacity type (not in `timeline.csv`; for the plots).
    pub cost_per_hour_on_demand: f64,
    pub cost_per_hour_spot: f64,
    pub cost_per_hour_reserved: f64,
    /// Nodes alive (launched, Ready or not) per NodePool, in the order of
    /// `RunSummary::nodepools` (not in `timeline.csv`; for the plots).
    pub nodes_by_nodepool: Vec<u32>,
    pub pending_pods: u32,
    pub cpu_requested_millis: i64,
    pub cpu_allocatable_millis: i64,
    pub memory_requested_bytes: i64,
    pub memory_allocatable_bytes: i64,
}

/// Where the engine sends what it produces. The engine never touches files.
pub trait Recorder {
    fn pod(&mut self, rec: &PodRecord);
    fn node(&mut self, rec: &NodeRecord);
    fn timeline(&mut self, row: &TimelineRow);
    fn decision(&mut self, d: &serde_json::Value);
    /// One stay of a pod on a node, [from, to) in ms (every bind, including after evictions).
    fn binding(&mut self, _pod: u32, _node: &str, _from_ms: u64, _to_ms: u64) {}
    /// One line of the cost attribution, at the end of the run (`attribution.csv`).
    fn attribution(&mut self, _row: &crate::attribution::AttributionRow) {}
}

/// A recorder that keeps everything in memory (tests, compare).
#[derive(Debug, Default, Clone)]
pub struct MemoryRecorder {
    pub pods: Vec<PodRecord>,
    /// (pod, node, from, to) of every stay.
    pub bindings: Vec<(u32, String, u64, u64)>,
    pub nodes: Vec<NodeRecord>,
    pub timeline: Vec<TimelineRow>,
    pub decisions: Vec<serde_json::Value>,
    pub attribution: Vec<crate::attribution::AttributionRow>,
}

impl Recorder for MemoryRecorder {
    fn pod(&mut self, rec: &PodRecord) {
        self.pods.push(rec.clone());
    }
    fn node(&mut self, rec: &NodeRecord) {
        self.nodes.push(rec.clone());
    }
    fn timeline(&mut self, row: &TimelineRow) {
        self.timeline.push(row.clone());
    }
    fn decision(&mut self, d: &serde_json::Value) {
        self.decisions.push(d.clone());
    }
    fn binding(&mut self, pod: u32, node: &str, from_ms: u64, to_ms: u64) {
        self.bindings.push((pod, node.to_string(), from_ms, to_ms));
    }
    fn attribution(&mut self, row: &crate::attribution::AttributionRow) {
        self.attribution.push(row.clone());
    }
}

/// The figures of a finished run (the input of `summary.json`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    pub simulated_ms: u64,
    pub events_processed: u64,
    pub cost_total: f64,
    pub cost_on_demand: f64,
    pub cost_spot: f64,
    pub cost_reserved: f64,
    pub cost_by_nodepool: BTreeMap<String, f64>,
    /// Node cost split over pods (DaemonSet pods included) by requests (see
    /// [`crate::attribution`]), with an `(idle)` line; by namespace and by `namespace/owner`.
    pub cost_by_namespace: BTreeMap<String, f64>,
    pub cost_by_owner: BTreeMap<String, f64>,
    pub pods_total: u64,
    pub pods_scheduled: u64,
    pub pods_never_scheduled: u64,
    pub pods_evicted: u64,
    pub pods_unschedulable: u64,
    /// Pending latencies (running − arrival) in ms of every pod that ran, sorted.
    pub pending_ms: Vec<u64>,
    pub nodes_launched: u64,
    pub nodes_peak: u64,
    /// The NodePool names behind `TimelineRow::nodes_by_nodepool`: the templates in order,
    /// then `(existing)`.
    pub nodepools: Vec<String>,
    pub terminated_by_reason: BTreeMap<String, u64>,
    pub spot_interruptions: u64,
    /// Pods still on a Spot instance when EC2 took it back.
    pub spot_pods_killed: u64,
    /// Rebalance recommendations received (events only).
    pub spot_rebalance_recommendations: u64,
    /// Node-hours (launch to termination or the end), all and Spot.
    pub node_hours: f64,
    pub node_hours_spot: f64,
    /// What the Spot node-hours would have cost more at the on-demand price of the same type
    /// and zone.
    pub spot_saving_vs_on_demand: f64,
    /// Interruptions per Spot pool (`instance-type/zone`).
    pub spot_interruptions_by_pool: BTreeMap<String, u64>,
    /// `karpenter_nodeclaims_disrupted_total` by reason (graceful methods and expiration).
    pub disrupted_by_reason: BTreeMap<String, u64>,
    pub spot_ice_errors: u64,
    pub cpu_requested_ms: f64,
    pub cpu_allocatable_ms: f64,
    pub memory_requested_ms: f64,
    pub memory_allocatable_ms: f64,
    pub provisioning_passes: u64,
    pub nodeclaims_created: u64,
    pub warnings: Vec<String>,
}

impl RunSummary {
    /// The q-th percentile (0–100) of pending latency in seconds (nearest rank).
    pub fn pending_percentile(&self, q: f64) -> f64 {
        if self.pending_ms.is_empty() {
            return 0.0;
        }
        let n = self.pending_ms.len();
        let rank = ((q / 100.0) * n as f64).ceil().max(1.0) as usize;
        self.pending_ms[rank.min(n) - 1] as f64 / 1000.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival,
    PodEnd(u32),
    WindowCheck,
    Launch(u32),
    Ready(u32),
    Sample,
    IceExpire,
    /// One drain pass over a deleting node.
    Drain(u32),
    /// The instance of a drained node is terminated.
    Terminate(u32),
    /// The NodeClaim reached `expireAfter`.
    Expire(u32),
    /// One iteration of the disruption loop.
    DisruptionTick,
    /// The emptiness command's validation, 15 s after it was computed.
    EmptinessValidate,
    /// A consolidation command's validation, 15 s after it was computed.
    ConsolidationValidate,
    /// The orchestration queue's 1 s poll.
    QueueCheck,
    /// A `changes` entry takes effect (index into `SimSetup::changes`).
    Change(u32),
    /// The 2-minute Spot interruption warning for a node.
    Interrupt(u32),
    /// The end of a node's interruption notice: EC2 takes the instance.
    Reclaim(u32),
    /// A correlated reclaim event of a Spot pool (index into the engine's reclaim pools).
    PoolReclaim(u32),
    /// An evicted pod finished its grace period on a node: (node, pod).
    TerminatingEnd(u32, u32),
    /// EC2's rebalance recommendation for a Spot node (an event only).
    Rebalance(u32),
    /// The hourly step of the Spot price walk (`spot_prices: varying`).
    SpotPrices,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeState {
    /// NodeClaim created; CreateFleet not returned yet.
    Created,
    /// Instance running; node not Ready yet.
    Launched,
    Ready,
    /// The launch failed; the NodeClaim was deleted.
    Failed,
    /// The instance is gone (after a drain, or reclaimed).
    Terminated,
}

#[derive(Debug, Clone)]
struct Node {
    name: Sym,
    /// Template index, `None` for existing (unmanaged) nodes.
    template: Option<usize>,
    state: NodeState,
    launched_ms: u64,
    ready_ms: Option<u64>,
    it: Option<InstanceType>,
    zone: Sym,
    capacity_type: Sym,
    price: f64,
    labels: Vec<(Sym, Sym)>,
    /// `labels` as requirements (hostname included), shared with every pass.
    reqs: Arc<Requirements>,
    taints: Vec<Taint>,
    allocatable: Resources,
    capacity: Resources,
    /// Requests of bound pods + DaemonSet overhead.
    used: Resources,
    ds_overhead: Resources,
    pods: Vec<u32>,
    /// Counts the changes to `pods` (a consolidation plan made at a version stays valid).
    pods_version: u64,
    host_ports: Vec<HostPort>,
    /// Planned claim data kept until launch.
    plan: Option<Box<crate::scheduler::PlannedClaim>>,
    ready_at_ms: u64,
    /// NodeClaim creation (expiration counts from it).
    created_ms: u64,
    /// A provisioning pass planned pods onto this node: not disruptable until then.
    nominated_until_ms: u64,
    /// Bound pods that would have to be rescheduled (positive eviction cost), and bound pods
    /// with the do-not-disrupt annotation.
    movable: u32,
    dnd: u32,
    /// Bound pods with a priority other than 0 (their eviction cost is not 1).
    prioritized: u32,
    /// Candidate of a started consolidation command: tainted, waiting for its replacement.
    in_command: bool,
    /// Karpenter's `lastPodEventTime` (bind, terminal, terminating; deduplicated to 10 s).
    last_pod_event_ms: Option<u64>,
    /// The NodePool view the NodeClaim was created under (what it remembers for drift).
    view: usize,
    /// When the node got its Spot interruption warning.
    interrupted_ms: Option<u64>,
    /// Evicted pods still shutting down here (their grace period), holding their requests:
    /// (pod, requests, until).
    terminating: Vec<(u32, Resources, u64)>,
    /// Since when the NodeClaim is `Drifted`, and why.
    drifted: Option<(u64, &'static str)>,
    /// Set once the NodeClaim is deleted: why, when, and the drain deadline (TGP).
    deleting: Option<Deleting>,
    terminated_ms: Option<u64>,
    termination_reason: Option<&'static str>,
    /// Cost accrued at earlier Spot prices, and since when `price` applies.
    cost_before: f64,
    price_since_ms: u64,
    /// Cost attribution: requests of the pods here per (namespace, owner), and the time the
    /// node's cost was last charged to them.
    shares: crate::attribution::NodeShares,
    attr_last_ms: u64,
}

/// A NodeClaim being deleted.
#[derive(Debug, Clone, Copy)]
struct Deleting {
    since_ms: u64,
    /// Empty, underutilized, drifted, expired, interrupted.
    reason: &'static str,
    /// `terminationGracePeriod` deadline: pods still there are deleted at once.
    deadline_ms: Option<u64>,
    /// When the node was first seen empty after the drain started.
    drained_ms: Option<u64>,
}

impl Node {
    /// A node with nothing on it yet: created now, no instance, no pods.
    fn blank(name: Sym, template: Option<usize>, state: NodeState, now: u64) -> Node {
        Node {
            name,
            template,
            state,
            launched_ms: 0,
            ready_ms: None,
            it: None,
            zone: labels::ZONE,
            capacity_type: labels::ON_DEMAND,
            price: 0.0,
            cost_before: 0.0,
            price_since_ms: 0,
            labels: Vec::new(),
            reqs: Arc::new(Requirements::new()),
            taints: Vec::new(),
            allocatable: Resources::ZERO,
            capacity: Resources::ZERO,
            used: Resources::ZERO,
            ds_overhead: Resources::ZERO,
            pods: Vec::new(),
            pods_version: 0,
            host_ports: Vec::new(),
            plan: None,
            ready_at_ms: 0,
            created_ms: now,
            nominated_until_ms: 0,
            movable: 0,
            dnd: 0,
            prioritized: 0,
            in_command: false,
            view: 0,
            interrupted_ms: None,
            terminating: Vec::new(),
            drifted: None,
            last_pod_event_ms: None,
            deleting: None,
            terminated_ms: None,
            termination_reason: None,
            shares: Default::default(),
            attr_last_ms: now,
        }
    }

    /// Records a pod event for consolidateAfter (`podevents` controller: at most one write
    /// per 10 s).
    fn touch_pod_event(&mut self, now: u64) {
        if self.last_pod_event_ms.is_none_or(|l| now >= l + 10_000) {
            self.last_pod_event_ms = Some(now);
        }
    }

    fn alive(&self) -> bool {
        matches!(self.state, NodeState::Launched | NodeState::Ready)
    }
}

#[derive(Debug, Clone)]
struct PodState {
    arrival: Arrival,
    bound_ms: Option<u64>,
    node: Option<u32>,
    running_ms: Option<u64>,
    window_mark: u64,
    last_error: Option<String>,
    /// When the pod's current run ends (a `PodEnd` at another time is stale).
    end_at_ms: Option<u64>,
    /// Run time still owed after an eviction (the replacement pod runs what is left).
    remaining_ms: Option<u64>,
    /// First bind and first Running, for the report.
    first_bound_ms: Option<u64>,
    first_running_ms: Option<u64>,
    evictions: u32,
    /// The node the pod last ran on (for the report, after an eviction).
    last_node: Option<u32>,
    /// Times the pod was killed with a reclaimed Spot instance.
    killed: u32,
}

#[derive(Debug, Default)]
struct Batcher {
    open: bool,
    start_ms: u64,
    idle_deadline_ms: u64,
    window_id: u64,
    check_scheduled: bool,
}

/// Running node counts for the timeline.
#[derive(Debug, Default, Clone)]
struct NodeCounts {
    deleting: u32,
    on_demand: u32,
    spot: u32,
    reserved: u32,
    not_ready: u32,
    cost_per_hour: f64,
    /// Per capacity type: on-demand, spot, reserved.
    cost_per_hour_by_type: [f64; 3],
    /// Per template, then one entry for existing nodes (`RunSummary::nodepools`).
    by_pool: Vec<u32>,
}

/// Named RNG streams, one per subsystem, each derived from (seed, name).
pub struct Rngs {
    pub provisioning: SimRng,
    pub launch: SimRng,
    pub latency: SimRng,
    pub interruption: SimRng,
    pub disruption: SimRng,
}

/// Derives a subsystem's generator from the run seed and the subsystem name.
pub fn stream(seed: u64, name: &str) -> SimRng {
    // FNV-1a of the name, mixed with the seed through SplitMix64 (in seed_from_u64).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    SimRng::seed_from_u64(seed ^ h.rotate_left(17))
}

impl Rngs {
    pub fn new(seed: u64) -> Rngs {
        Rngs {
            provisioning: stream(seed, "provisioning"),
            launch: stream(seed, "launch"),
            latency: stream(seed, "latency"),
            interruption: stream(seed, "interruption"),
            disruption: stream(seed, "disruption"),
        }
    }
}

/// A trace source: arrivals in non-decreasing arrival time.
pub type ArrivalSource<'a> = Box<dyn Iterator<Item = Result<Arrival, String>> + 'a>;

/// A progress observer: called with (simulated time in ms, events processed so far) every
/// `every` events and once more when the run ends. Simulated time never decreases from one
/// call to the next. The engine itself never prints: the CLI draws progress from this.
pub type ProgressFn<'a> = &'a mut dyn FnMut(u64, u64);

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Trace(String),
    #[error("trace is not sorted by arrival: a pod at {0} ms follows one at {1} ms")]
    Unsorted(u64, u64),
}

/// The simulation.
pub struct Engine<'a> {
    setup: &'a SimSetup,
    rec: &'a mut dyn Recorder,
    now: u64,
    seq: u64,
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    trace: ArrivalSource<'a>,
    next_arrival: Option<Arrival>,
    last_arrival_ms: u64,
    trace_done: bool,
    pods: FxHashMap<u32, PodState>,
    /// kube-scheduler's queue of unbound pods: (priority desc, creation, id).
    pending: BTreeSet<(Reverse<i32>, u64, u32)>,
    /// Multisets of the pending pods' cpu and memory requests (their minimums bound searches).
    pending_cpu: BTreeMap<i64, u32>,
    pending_mem: BTreeMap<i64, u32>,
    nodes: Vec<Node>,
    unlaunched: usize,
    batcher: Batcher,
    requeue: VecDeque<(u64, u32)>,
    rngs: Rngs,
    ice: BTreeMap<(Sym, Sym, Sym), u64>,
    market: Market,
    /// Spot pools whose prices walk (`spot_prices: varying`).
    price_pools: Vec<spot_price::PricePool>,
    hostnames: Vec<Sym>,
    summary: RunSummary,
    alive_nodes: u64,
    /// Integration of utilization: last time and current sums.
    util_last_ms: u64,
    bound_requests: Resources,
    ready_allocatable: Resources,
    anti_affinity_bound: usize,
    node_seq: FxHashMap<usize, u64>,
    attribution: crate::attribution::Ledger,
    kube: kube::KubeState,
    counts: NodeCounts,
    /// Nodes with an instance in a pass's order (initialized first, then by name); rebuilt
    /// when a node launches, turns Ready or goes away.
    pass_order: Vec<usize>,
    /// How many entries at the front of `pass_order` are Ready (initialized) nodes.
    pass_ready: usize,
    /// Emptiness candidates waiting for their validation.
    pending_empty: Vec<usize>,
    /// Managed, initialized, not deleting nodes with no pod to reschedule.
    empty_nodes: BTreeSet<usize>,
    /// Per template: (initialized nodes not yet terminated, of which deleting).
    pool_counts: Vec<(u32, u32)>,
    /// Per template: the names of the instance types its NodePool offers.
    pool_types: Vec<FxHashSet<Sym>>,
    /// Started REPLACE commands waiting for their replacement.
    queue: Vec<consolidate::Queued>,
    /// A consolidation command waiting for its validation.
    pending_cons: Option<consolidate::Command>,
    /// "Already consolidated" memo of Multi (0) and Single (1): (state version, time).
    memo: [Option<(u64, u64)>; 2],
    /// Bumped on every pod bind/removal and node creation, readiness and deletion.
    state_version: u64,
    /// Placeholder hostnames for consolidation simulations.
    hostnames_sim: Vec<Sym>,
    /// The NodePools in effect: 0 = as loaded, k = after `setup.changes[k - 1]`.
    view: usize,
    /// Nodes with an instance that are being deleted or are candidates of a started command:
    /// their pods join every disruption simulation.
    disrupting: BTreeSet<usize>,
    /// Nodes whose NodeClaim is `Drifted` (terminated ones are dropped lazily).
    drifted: BTreeSet<usize>,
    /// Per Spot pool (instance type, zone): the stream its interruption times come from.
    spot_streams: FxHashMap<(Sym, Sym), SimRng>,
    /// Spot pools with correlated reclaim events, and their index.
    reclaim_pools: Vec<spot::ReclaimPool>,
    reclaim_pool_of: FxHashMap<(Sym, Sym), usize>,
    /// First fit over the pass order for consolidation passes, and a counter bumped whenever
    /// a node enters or leaves the pass order or a pod the pending queue (with
    /// `state_version` and the time, its key).
    fit: fit::FitIndex,
    layout_version: u64,
    /// The pass's pending and deleting pods in queue order, and whether all are plain, for
    /// the first-fit replay (keyed like `fit`).
    fast_base: Option<consolidate::FastBase>,
    /// Per node, its pods as the consolidation fast path replays them.
    node_plans: Vec<Option<consolidate::NodePlan>>,
    /// Per node, what last ended it as a single consolidation candidate before a replay.
    stranded_by: Vec<Option<consolidate::StrandedBy>>,
    /// Nodes changed since the first-fit index was last brought up to date.
    fit_changed: Vec<usize>,
    /// The (pass order version, view) the first-fit index was last built or reordered for;
    /// `None` until the next full build (also after too many changes piled up).
    fit_basis: Option<(u64, usize)>,
    /// Counts the changes to the pass order.
    order_version: u64,
    /// Per template of the current view, its instance types as [`consolidate::CheapTypes`].
    cheap_types: Option<consolidate::CheapTypes>,
    /// Work events still queued (ends, launches, readiness) — the run ends when none is left
    /// and the trace is exhausted, unless a horizon is set.
    work: u64,
    /// The progress observer, its interval in events and the events left until its next call.
    progress: Option<(ProgressFn<'a>, u64)>,
    progress_left: u64,
}

impl<'a> Engine<'a> {
    /// Prepares a run.
    pub fn new(
        setup: &'a SimSetup,
        trace: ArrivalSource<'a>,
        rec: &'a mut dyn Recorder,
    ) -> Engine<'a> {
        let mut e = Engine {
            setup,
            rec,
            now: 0,
            seq: 0,
            heap: BinaryHeap::new(),
            trace,
            next_arrival: None,
            last_arrival_ms: 0,
            trace_done: false,
            pods: FxHashMap::default(),
            pending: BTreeSet::new(),
            pending_cpu: BTreeMap::new(),
            pending_mem: BTreeMap::new(),
            nodes: Vec::new(),
            unlaunched: 0,
            batcher: Batcher::default(),
            requeue: VecDeque::new(),
            rngs: Rngs::new(setup.seed),
            ice: BTreeMap::new(),
            market: Market::default(),
            price_pools: Vec::new(),
            hostnames: Vec::new(),
            summary: RunSummary {
                nodepools: setup
                    .templates
                    .iter()
                    .map(|t| t.name.as_str().to_string())
                    .chain(std::iter::once("(existing)".to_string()))
                    .collect(),
                ..RunSummary::default()
            },
            alive_nodes: 0,
            util_last_ms: 0,
            bound_requests: Resources::ZERO,
            ready_allocatable: Resources::ZERO,
            anti_affinity_bound: 0,
            node_seq: FxHashMap::default(),
            attribution: Default::default(),
            kube: kube::KubeState::default(),
            work: 0,
            counts: NodeCounts {
                by_pool: vec![0; setup.templates.len() + 1],
                ..NodeCounts::default()
            },
            pass_order: Vec::new(),
            pass_ready: 0,
            pending_empty: Vec::new(),
            empty_nodes: BTreeSet::new(),
            pool_counts: vec![(0, 0); setup.templates.len()],
            pool_types: pool_types(&setup.templates),
            view: 0,
            disrupting: BTreeSet::new(),
            drifted: BTreeSet::new(),
            spot_streams: FxHashMap::default(),
            reclaim_pools: Vec::new(),
            reclaim_pool_of: FxHashMap::default(),
            fit: fit::FitIndex::default(),
            layout_version: 0,
            fast_base: None,
            node_plans: Vec::new(),
            stranded_by: Vec::new(),
            fit_changed: Vec::new(),
            fit_basis: None,
            order_version: 0,
            cheap_types: None,
            queue: Vec::new(),
            pending_cons: None,
            memo: [None, None],
            state_version: 0,
            hostnames_sim: Vec::new(),
            progress: None,
            progress_left: u64::MAX,
        };
        for x in &setup.existing {
            let (ds, running) = e.daemon_overhead(&x.labels, &x.taints);
            let mut node = Node::blank(x.name, None, NodeState::Ready, 0);
            node.ready_ms = Some(0);
            node.it = Some(x.instance_type.clone());
            node.zone = x.zone;
            node.capacity_type = x.capacity_type;
            node.price = x.price;
            node.labels = x.labels.clone();
            node.reqs = Arc::new(Requirements::from_labels(&x.labels));
            node.taints = x.taints.clone();
            node.allocatable = x.instance_type.allocatable;
            node.capacity = x.instance_type.capacity;
            node.used = ds;
            node.ds_overhead = ds;
            e.ready_allocatable.add_assign(&node.allocatable);
            e.nodes.push(node);
            e.share_daemons(e.nodes.len() - 1, &running);
            e.alive_nodes += 1;
        }
        e.summary.nodes_peak = e.alive_nodes;
        for i in 0..e.nodes.len() {
            e.kube.reindex(&e.nodes, i);
            e.count_alive(i, true);
            e.order_insert(i, true);
        }
        e
    }

    /// Calls `observer` with (simulated ms, events processed) every `every` events (at least 1)
    /// and once when the run ends. Without an observer the run pays one counter per event.
    pub fn with_progress(mut self, every: u64, observer: ProgressFn<'a>) -> Engine<'a> {
        let every = every.max(1);
        self.progress = Some((observer, every));
        self.progress_left = every;
        self
    }

    /// Counts one processed event and calls the progress observer when its interval is up.
    #[inline]
    fn count_event(&mut self) {
        self.summary.events_processed += 1;
        self.progress_left -= 1;
        if self.progress_left == 0 {
            self.progress_left = u64::MAX;
            if let Some((f, every)) = self.progress.as_mut() {
                f(self.now, self.summary.events_processed);
                self.progress_left = *every;
            }
        }
    }

    /// The NodePools of view `k`: 0 as loaded, k after `setup.changes[k - 1]`.
    fn view_of(&self, k: usize) -> ViewRef<'a> {
        let setup: &'a SimSetup = self.setup;
        match k {
            0 => ViewRef {
                templates: &setup.templates,
                settings: &setup.pool_settings,
                domain_groups: &setup.domain_groups,
                drift: &setup.drift,
            },
            k => {
                let v = &setup.changes[k - 1];
                ViewRef {
                    templates: &v.templates,
                    settings: &v.pool_settings,
                    domain_groups: &v.domain_groups,
                    drift: &v.drift,
                }
            }
        }
    }

    /// The NodePool templates in effect now, in Karpenter's order.
    fn templates(&self) -> &'a [NodePoolTemplate] {
        self.view_of(self.view).templates
    }

    fn view_templates(&self, view: usize) -> &'a [NodePoolTemplate] {
        self.view_of(view).templates
    }

    /// The NodePools' disruption settings in effect now (budgets, policy, consolidateAfter).
    fn pool_settings(&self) -> &'a [PoolSettings] {
        self.view_of(self.view).settings
    }

    /// The settings a NodeClaim copied at creation (expireAfter, terminationGracePeriod) come
    /// from the view it was created under.
    fn view_settings(&self, view: usize) -> &'a [PoolSettings] {
        self.view_of(view).settings
    }

    fn domain_groups(&self) -> &'a FxHashMap<Sym, DomainGroup> {
        self.view_of(self.view).domain_groups
    }

    /// A `changes` entry takes effect: NodePools and classes are replaced in place (same
    /// templates, same order), behavioural settings apply at once, and every launched NodeClaim
    /// is checked for drift, as the drift controller does on a NodePool or NodeClass event.
    fn on_change(&mut self, k: usize) {
        self.view = k + 1;
        self.pool_types = pool_types(self.templates());
        self.state_version += 1;
        for i in 0..self.nodes.len() {
            if matches!(self.nodes[i].state, NodeState::Launched | NodeState::Ready) {
                self.check_drift(i);
            }
        }
        self.rec.decision(&serde_json::json!({
            "time": secs(self.now), "kind": "change", "index": k,
            "drifted": self.nodes.iter().filter(|n| n.alive() && n.deleting.is_none()
                && n.drifted.is_some_and(|(t, _)| t == self.now)).count(),
        }));
    }

    /// Sets or clears node `i`'s `Drifted` condition against the current NodePools.
    fn check_drift(&mut self, i: usize) {
        let n = &self.nodes[i];
        let Some(t) = n.template else { return };
        let (Some(old), Some(cur)) = (
            self.view_of(n.view).drift.get(t),
            self.view_of(self.view).drift.get(t),
        ) else {
            return;
        };
        let why = old.drifted(cur, &n.reqs);
        let n = &mut self.nodes[i];
        match (why, n.drifted) {
            (Some(w), None) => n.drifted = Some((self.now, w)),
            (Some(w), Some((since, _))) => n.drifted = Some((since, w)),
            (None, _) => n.drifted = None,
        }
        if n.drifted.is_some() {
            self.drifted.insert(i);
        } else {
            self.drifted.remove(&i);
        }
    }

    fn push(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        if matches!(
            ev,
            Ev::PodEnd(_) | Ev::Launch(_) | Ev::Ready(_) | Ev::IceExpire
        ) {
            self.work += 1;
        }
        self.heap.push(Reverse((t, self.seq, ev)));
    }

    fn pull_arrival(&mut self) -> Result<(), EngineError> {
        if self.trace_done || self.next_arrival.is_some() {
            return Ok(());
        }
        match self.trace.next() {
            None => self.trace_done = true,
            Some(Err(e)) => return Err(EngineError::Trace(e)),
            Some(Ok(a)) => {
                if a.info.created < self.last_arrival_ms {
                    return Err(EngineError::Unsorted(a.info.created, self.last_arrival_ms));
                }
                self.last_arrival_ms = a.info.created;
                let t = a.info.created;
                self.next_arrival = Some(a);
                self.push(t, Ev::Arrival);
            }
        }
        Ok(())
    }

    /// Runs to the end and returns the summary.
    pub fn run(mut self) -> Result<RunSummary, EngineError> {
        self.pull_arrival()?;
        self.push(0, Ev::Sample);
        self.push(0, Ev::DisruptionTick);
        self.init_spot_prices();
        for (k, c) in self.setup.changes.iter().enumerate() {
            self.push(c.at_ms, Ev::Change(k as u32));
        }
        loop {
            // Merge the requeue FIFO (monotone times) with the heap.
            let heap_next = self.heap.peek().map(|Reverse((t, _, _))| *t);
            let rq_next = self.requeue.front().map(|(t, _)| *t);
            let next_t = match (heap_next, rq_next) {
                (None, None) => break,
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
            };
            if let Some(h) = self.setup.horizon_ms
                && next_t > h
            {
                break;
            }
            // Without a horizon the run ends when the trace is exhausted and nothing can change
            // any more: no pod will end, no node will launch or turn Ready, no offering comes
            // back from the ICE cache and no batch window is open. Pods still pending then
            // would only be retried against the same cluster, forever.
            if self.setup.horizon_ms.is_none()
                && self.trace_done
                && self.work == 0
                && !self.batcher.open
            {
                break;
            }
            self.advance(next_t);
            if rq_next == Some(next_t) && heap_next.is_none_or(|h| h > next_t) {
                let (_, pod) = self.requeue.pop_front().unwrap_or((0, 0));
                self.count_event();
                self.on_requeue(pod);
                continue;
            }
            let Some(Reverse((_, _, ev))) = self.heap.pop() else {
                break;
            };
            self.count_event();
            if matches!(
                ev,
                Ev::PodEnd(_) | Ev::Launch(_) | Ev::Ready(_) | Ev::IceExpire
            ) {
                self.work -= 1;
            }
            match ev {
                Ev::Arrival => {
                    if let Some(a) = self.next_arrival.take() {
                        self.on_arrival(a);
                    }
                    self.pull_arrival()?;
                }
                Ev::PodEnd(p) => self.on_pod_end(p),
                Ev::WindowCheck => self.on_window_check(),
                Ev::Launch(n) => self.on_launch(n as usize),
                Ev::Ready(n) => self.on_ready(n as usize),
                Ev::Sample => {
                    self.sample();
                    if self.more_to_come() {
                        self.push(self.now + TIMELINE_STEP_MS, Ev::Sample);
                    }
                }
                Ev::SpotPrices => self.on_spot_prices(),
                Ev::IceExpire => self.on_ice_expire(),
                Ev::Drain(n) => self.on_drain(n as usize),
                Ev::Terminate(n) => self.on_terminate(n as usize),
                Ev::DisruptionTick => self.on_disruption_tick(),
                Ev::EmptinessValidate => self.on_emptiness_validate(),
                Ev::ConsolidationValidate => self.on_consolidation_validate(),
                Ev::QueueCheck => self.on_queue_check(),
                Ev::Change(k) => self.on_change(k as usize),
                Ev::Interrupt(n) => self.on_interrupt(n as usize),
                Ev::Reclaim(n) => self.on_reclaim(n as usize),
                Ev::PoolReclaim(k) => self.on_pool_reclaim(k as usize),
                Ev::TerminatingEnd(n, p) => self.on_terminating_end(n as usize, p),
                Ev::Rebalance(n) => self.on_rebalance(n as usize),
                Ev::Expire(n) => {
                    let n = n as usize;
                    if self.nodes[n].alive() && self.nodes[n].deleting.is_none() {
                        *self
                            .summary
                            .disrupted_by_reason
                            .entry("expired".into())
                            .or_insert(0) += 1;
                        self.delete_node(n, "expired");
                    }
                }
            }
        }
        let end = self.setup.horizon_ms.unwrap_or(self.now);
        self.advance(end.max(self.now));
        if let Some((f, _)) = self.progress.as_mut() {
            f(self.now, self.summary.events_processed);
        }
        Ok(self.finish())
    }

    /// Whether a periodic event (timeline sample, price step) should come again: the run has
    /// a horizon, or something can still change.
    fn more_to_come(&self) -> bool {
        self.setup.horizon_ms.is_some() || !self.trace_done || self.work > 0 || self.batcher.open
    }

    /// Moves simulated time forward, integrating utilization.
    fn advance(&mut self, t: u64) {
        if t > self.util_last_ms {
            let dt = (t - self.util_last_ms) as f64;
            self.summary.cpu_requested_ms += self.bound_requests.cpu() as f64 * dt;
            self.summary.cpu_allocatable_ms += self.ready_allocatable.cpu() as f64 * dt;
            self.summary.memory_requested_ms += self.bound_requests.memory() as f64 / 1000.0 * dt;
            self.summary.memory_allocatable_ms +=
                self.ready_allocatable.memory() as f64 / 1000.0 * dt;
            self.util_last_ms = t;
        }
        self.now = t.max(self.now);
    }

    fn on_arrival(&mut self, a: Arrival) {
        let id = a.info.id;
        self.summary.pods_total += 1;
        let key = (Reverse(a.info.priority), a.info.created, id);
        self.pods.insert(
            id,
            PodState {
                remaining_ms: a.duration_ms,
                arrival: a,
                bound_ms: None,
                node: None,
                running_ms: None,
                window_mark: 0,
                last_error: None,
                end_at_ms: None,
                first_bound_ms: None,
                first_running_ms: None,
                evictions: 0,
                last_node: None,
                killed: 0,
            },
        );
        // kube-scheduler tries first; only a pod it marks Unschedulable reaches Karpenter.
        if let Some(n) = self.kube_find_node(id) {
            self.bind(id, n);
        } else {
            self.pending_insert(key);
            self.trigger(id);
            self.requeue.push_back((self.now + REQUEUE_MS, id));
        }
    }

    fn pending_insert(&mut self, key: (Reverse<i32>, u64, u32)) {
        self.layout_version += 1;
        if self.pending.insert(key)
            && let Some(p) = self.pods.get(&key.2)
        {
            let r = p.arrival.info.requests;
            *self.pending_cpu.entry(r.cpu()).or_insert(0) += 1;
            *self.pending_mem.entry(r.memory()).or_insert(0) += 1;
        }
    }

    pub(crate) fn pending_remove(&mut self, key: &(Reverse<i32>, u64, u32)) {
        self.layout_version += 1;
        if self.pending.remove(key)
            && let Some(p) = self.pods.get(&key.2)
        {
            let r = p.arrival.info.requests;
            for (m, v) in [
                (&mut self.pending_cpu, r.cpu()),
                (&mut self.pending_mem, r.memory()),
            ] {
                if let Some(c) = m.get_mut(&v) {
                    *c -= 1;
                    if *c == 0 {
                        m.remove(&v);
                    }
                }
            }
        }
    }

    /// The smallest cpu and memory requests among pending pods.
    pub(crate) fn pending_min(&self) -> (i64, i64) {
        (
            self.pending_cpu.keys().next().copied().unwrap_or(i64::MAX),
            self.pending_mem.keys().next().copied().unwrap_or(i64::MAX),
        )
    }

    fn on_requeue(&mut self, id: u32) {
        let still = self.pods.get(&id).is_some_and(|p| p.bound_ms.is_none());
        if still {
            self.trigger(id);
            self.requeue.push_back((self.now + REQUEUE_MS, id));
        }
    }

    /// The batcher's trigger (`batcher.go`): the first trigger opens a window; a new UID in an
    /// open window pushes the idle deadline.
    fn trigger(&mut self, id: u32) {
        let s = &self.setup.settings;
        let Some(p) = self.pods.get_mut(&id) else {
            return;
        };
        if !self.batcher.open {
            self.batcher.open = true;
            self.batcher.window_id += 1;
            self.batcher.start_ms = self.now;
            self.batcher.idle_deadline_ms = self.now + s.batch_idle_ms;
            p.window_mark = self.batcher.window_id;
            if !self.batcher.check_scheduled {
                self.batcher.check_scheduled = true;
                let t = (self.batcher.start_ms + s.batch_max_ms).min(self.batcher.idle_deadline_ms);
                self.push(t, Ev::WindowCheck);
            }
        } else if p.window_mark != self.batcher.window_id {
            p.window_mark = self.batcher.window_id;
            self.batcher.idle_deadline_ms = self.now + s.batch_idle_ms;
        }
    }

    fn on_window_check(&mut self) {
        self.batcher.check_scheduled = false;
        if !self.batcher.open {
            return;
        }
        let s = &self.setup.settings;
        let deadline = (self.batcher.start_ms + s.batch_max_ms).min(self.batcher.idle_deadline_ms);
        if self.now < deadline {
            self.batcher.check_scheduled = true;
            self.push(deadline, Ev::WindowCheck);
            return;
        }
        self.batcher.open = false;
        self.provision();
    }

    /// One provisioning pass (`provisioner.go` Reconcile → Schedule → CreateNodeClaims).
    fn provision(&mut self) {
        // Sync gate: every NodeClaim must have launched.
        if self.unlaunched > 0 {
            self.rec.decision(&serde_json::json!({
                "time": secs(self.now), "kind": "provisioning-skipped",
                "reason": "cluster state not synced: a NodeClaim has not launched yet",
                "unlaunched_nodeclaims": self.unlaunched,
            }));
            return;
        }
        let pending: Vec<u32> = self.pending.iter().map(|(_, _, id)| *id).collect();
        if pending.is_empty() {
            return;
        }
        self.summary.provisioning_passes += 1;
        let batch: Vec<PodInfo> = pending
            .iter()
            .filter_map(|id| self.pods.get(id).map(|p| p.arrival.info.clone()))
            .collect();
        let needs_topology =
            self.anti_affinity_bound > 0 || batch.iter().any(|p| p.constraints.has_topology());
        // The smallest request among the pending pods: a node that cannot hold it takes no pod
        // in this pass, so (without topology to count) it is left out of the pass's node list.
        let mut min_req = Resources([i64::MAX; crate::resources::NUM_RESOURCES]);
        for p in &batch {
            min_req = min_req.min(&p.requests);
        }
        // kube-scheduler has already tried every pending pod on every Ready node (at arrival and
        // whenever a node gained room) and Karpenter's fit on an existing node is never looser
        // than kube-scheduler's for a pod without node selection, host ports or topology; so
        // when the batch holds only such pods, no Ready node can take one and the pass needs
        // the in-flight nodes alone.
        let in_flight_only =
            !needs_topology && batch.iter().all(|p| kube_equivalent(&p.constraints));
        let (node_idx, existing, placed) =
            self.pass_nodes(&[], needs_topology, in_flight_only, &min_req, false);
        let batch_refs: Vec<&PodInfo> = batch.iter().collect();
        let remaining = self.remaining_limits(&[]);
        let result = self.solve(&existing, placed, remaining, None, &batch_refs, false);
        for (pid, err) in &result.errors {
            if let Some(p) = self.pods.get_mut(pid) {
                p.last_error = Some(err.clone());
            }
        }
        for (pid, ni) in &result.existing {
            if let Some(p) = self.pods.get_mut(pid) {
                p.last_error = None;
            }
            // The pass nominated this node: disruption leaves it alone for a while.
            if let Some(&idx) = node_idx.get(*ni) {
                self.nodes[idx].nominated_until_ms = self.now + disrupt::NOMINATION_MS;
            }
        }
        let nominated = result.existing.len();
        let errors_total = result.errors.len();
        let first_errors: Vec<serde_json::Value> = result
            .errors
            .iter()
            .take(5)
            .map(|(pid, e)| serde_json::json!({"pod": self.pod_name(*pid), "error": e}))
            .collect();
        let mut created = Vec::new();
        for claim in result.claims {
            for pid in &claim.pods {
                if let Some(p) = self.pods.get_mut(pid) {
                    p.last_error = None;
                }
            }
            // Create-time limit check: launched usage strictly greater than a limit fails.
            let t = &self.templates()[claim.template];
            if let Some(lim) = &t.limits {
                let mut over = None;
                for (k, v) in lim {
                    let used: i64 = self
                        .nodes
                        .iter()
                        .filter(|n| {
                            n.template == Some(claim.template)
                                && matches!(n.state, NodeState::Launched | NodeState::Ready)
                        })
                        .map(|n| match k {
                            LimitKey::Resource(r) => n.capacity.get(*r),
                            LimitKey::Nodes => 1,
                        })
                        .sum();
                    if used > *v {
                        over = Some(limit_name(*k));
                    }
                }
                if let Some(r) = over {
                    self.rec.decision(&serde_json::json!({
                        "time": secs(self.now), "kind": "nodeclaim-create-failed",
                        "nodepool": t.name.as_str(), "reason": format!("nodepool {r} limit exceeded"),
                        "pods": claim.pods.iter().map(|p| self.pod_name(*p)).collect::<Vec<_>>(),
                    }));
                    continue;
                }
            }
            created.push(self.create_claim(claim));
        }
        if created.is_empty() && errors_total == 0 {
            // Every pending pod fits capacity that exists or is launching: nothing to decide.
            return;
        }
        self.rec.decision(&serde_json::json!({
            "time": secs(self.now), "kind": "provisioning-pass",
            "pending_pods": pending.len(), "nominated_to_existing": nominated,
            "nodeclaims_created": created, "pods_failed": errors_total, "failures": first_errors,
        }));
    }

    /// The existing nodes of a pass (initialized first, then by name), leaving out `exclude`,
    /// with the pods bound to them when topology has to be counted. `cooling` marks nodes
    /// inside their NodePool's consolidateAfter window (for consolidation simulations).
    fn pass_nodes(
        &self,
        exclude: &[usize],
        needs_topology: bool,
        in_flight_only: bool,
        min_req: &Resources,
        cooling: bool,
    ) -> (Vec<usize>, Vec<ExistingNode>, Vec<(PodInfo, usize)>) {
        let from = if in_flight_only { self.pass_ready } else { 0 };
        let node_idx: Vec<usize> = self.pass_order[from..]
            .iter()
            .copied()
            .filter(|i| {
                let n = &self.nodes[*i];
                !exclude.contains(i)
                    && (needs_topology || min_req.fits_with(&n.used, &n.allocatable))
            })
            .collect();
        self.existing_nodes(node_idx, needs_topology, cooling)
    }

    /// The taints the scheduler sees on node `i`: an uninitialized managed node's startup
    /// taints are ignored (`StateNode.Taints`).
    fn effective_taints(&self, i: usize) -> Vec<Taint> {
        let n = &self.nodes[i];
        match (n.state, n.template) {
            (NodeState::Launched, Some(t)) => {
                let startup = &self.view_templates(n.view)[t].startup_taints;
                n.taints
                    .iter()
                    .filter(|x| !startup.contains(x))
                    .cloned()
                    .collect()
            }
            _ => n.taints.clone(),
        }
    }

    /// [`Self::pass_nodes`] over an explicit list of nodes, already in pass order.
    fn existing_nodes(
        &self,
        node_idx: Vec<usize>,
        needs_topology: bool,
        cooling: bool,
    ) -> (Vec<usize>, Vec<ExistingNode>, Vec<(PodInfo, usize)>) {
        let existing: Vec<ExistingNode> = node_idx
            .iter()
            .map(|i| {
                let n = &self.nodes[*i];
                let taints = self.effective_taints(*i);
                ExistingNode {
                    name: n.name,
                    initialized: n.state == NodeState::Ready,
                    requirements: n.reqs.clone(),
                    taints,
                    available: n.allocatable.sub(&n.used),
                    host_ports: n.host_ports.clone(),
                    cooling: cooling && self.cooling(*i),
                }
            })
            .collect();
        let mut placed = Vec::new();
        if needs_topology {
            let pos: FxHashMap<usize, usize> =
                node_idx.iter().enumerate().map(|(k, i)| (*i, k)).collect();
            for i in &node_idx {
                for pid in &self.nodes[*i].pods {
                    if let Some(p) = self.pods.get(pid) {
                        placed.push((p.arrival.info.clone(), pos[i]));
                    }
                }
            }
        }
        (node_idx, existing, placed)
    }

    /// Runs one scheduling pass over this cluster and its settings: a provisioning pass, or
    /// (`simulation`) a disruption simulation with its own RNG stream and placeholder names.
    fn solve(
        &mut self,
        existing: &[ExistingNode],
        placed: Vec<(PodInfo, usize)>,
        remaining: Vec<Option<Limits>>,
        moving: Option<&FxHashSet<u32>>,
        batch: &[&PodInfo],
        simulation: bool,
    ) -> crate::scheduler::SolveResult {
        let (mut rng, mut hostnames) = if simulation {
            (
                self.rngs.disruption.clone(),
                std::mem::take(&mut self.hostnames_sim),
            )
        } else {
            (
                self.rngs.provisioning.clone(),
                std::mem::take(&mut self.hostnames),
            )
        };
        let result = {
            let input = SolveInput {
                templates: self.templates(),
                existing,
                placed,
                remaining,
                market: &self.market,
                domain_groups: self.domain_groups(),
                tolerate_prefer_no_schedule: self.setup.tolerate_prefer_no_schedule,
                min_values_best_effort: self.setup.settings.min_values_best_effort,
                ignore_preferences: self.setup.settings.ignore_preferences,
                moving,
            };
            Scheduler::new(&input, batch, &mut rng, &mut hostnames).solve(batch)
        };
        if simulation {
            self.rngs.disruption = rng;
            self.hostnames_sim = hostnames;
        } else {
            self.rngs.provisioning = rng;
            self.hostnames = hostnames;
        }
        result
    }

    /// Remaining NodePool limits for a pass: limits − capacity of the pool's active nodes
    /// (not marked for deletion, not in `exclude`).
    fn remaining_limits(&self, exclude: &[usize]) -> Vec<Option<Limits>> {
        self.templates()
            .iter()
            .enumerate()
            .map(|(ti, t)| {
                t.limits.as_ref().map(|lim| {
                    let mut rem = lim.clone();
                    for (i, n) in self.nodes.iter().enumerate() {
                        if n.template == Some(ti)
                            && n.alive()
                            && n.deleting.is_none()
                            && !n.in_command
                            && !exclude.contains(&i)
                        {
                            for (k, v) in rem.iter_mut() {
                                *v -= match k {
                                    LimitKey::Resource(r) => n.capacity.get(*r),
                                    LimitKey::Nodes => 1,
                                };
                            }
                        }
                    }
                    rem
                })
            })
            .collect()
    }

    /// Whether node `i` is inside its NodePool's consolidateAfter window (`0s` and `Never`
    /// never count).
    fn cooling(&self, i: usize) -> bool {
        self.now < self.cool_until(i)
    }

    /// When node `i`'s consolidateAfter window ends (0 when it has none).
    fn cool_until(&self, i: usize) -> u64 {
        let n = &self.nodes[i];
        let Some(t) = n.template else { return 0 };
        match self
            .pool_settings()
            .get(t)
            .and_then(|p| p.consolidate_after_ms)
        {
            Some(after) if after > 0 => n.last_pod_event_ms.or(n.ready_ms).unwrap_or(0) + after,
            _ => 0,
        }
    }

    fn pod_name(&self, id: u32) -> String {
        self.pods
            .get(&id)
            .map(|p| p.arrival.name.clone())
            .unwrap_or_default()
    }

    fn create_claim(&mut self, claim: crate::scheduler::PlannedClaim) -> String {
        let t = &self.templates()[claim.template];
        let seq = self.node_seq.entry(claim.template).or_insert(0);
        *seq += 1;
        let name = Sym::new(&format!("{}-{:05}", t.name, seq));
        self.summary.nodeclaims_created += 1;
        let idx = self.nodes.len();
        let mut node = Node::blank(name, Some(claim.template), NodeState::Created, self.now);
        node.plan = Some(Box::new(claim));
        node.view = self.view;
        self.nodes.push(node);
        self.unlaunched += 1;
        let latency = self
            .setup
            .settings
            .launch_latency
            .sample(&mut self.rngs.latency);
        let fleet = self.setup.settings.create_fleet_ms;
        self.nodes[idx].ready_at_ms = self.now + latency.max(fleet + 1_000);
        self.push(self.now + fleet, Ev::Launch(idx as u32));
        name.as_str().to_string()
    }

    /// CreateFleet returns: pick the offering, or fail with ICE and delete the NodeClaim.
    fn on_launch(&mut self, idx: usize) {
        self.unlaunched -= 1;
        let Some(plan) = self.nodes[idx].plan.take() else {
            return;
        };
        // The NodeClaim launches as it was created, even if its NodePool changed since.
        let view = self.nodes[idx].view;
        let t = &self.view_templates(view)[plan.template];
        let mut reqs = plan.requirements.clone();
        let names: Vec<Sym> = plan
            .options
            .iter()
            .map(|i| t.instance_types[*i as usize].name)
            .collect();
        reqs.add(Requirement::in_values(labels::INSTANCE_TYPE, &names));
        let p_ice = self.setup.settings.spot_ice_probability;
        let mut ice_draw = |rng: &mut SimRng, _it: &InstanceType, _z: Sym| {
            p_ice > 0.0 && rng.random::<f64>() < p_ice
        };
        let mut iced = Vec::new();
        let result = launch::launch(
            true,
            &t.instance_types,
            &plan.options,
            &reqs,
            &plan.requests,
            &self.market,
            &mut self.rngs.launch,
            &mut ice_draw,
            &mut iced,
        );
        for key in iced {
            self.summary.spot_ice_errors += 1;
            self.mark_unavailable(key);
        }
        let pods: Vec<String> = plan.pods.iter().map(|p| self.pod_name(*p)).collect();
        match result {
            Err(LaunchError::InsufficientCapacity(why)) => {
                self.nodes[idx].state = NodeState::Failed;
                self.rec.decision(&serde_json::json!({
                    "time": secs(self.now), "kind": "launch-failed", "nodeclaim": self.nodes[idx].name.as_str(),
                    "nodepool": t.name.as_str(), "reason": format!("InsufficientCapacityError: {why}"),
                    "pods": pods,
                }));
                // Pods stay pending; the next pass (requeue) retries without the ICE'd offerings.
            }
            Ok(choice) => {
                let it = t.instance_types[choice.instance_type as usize].clone();
                let labels = self.node_labels(
                    &t.labels,
                    &plan.requirements,
                    t.name,
                    &it,
                    choice.zone,
                    choice.capacity_type,
                    self.nodes[idx].name,
                );
                let mut taints = t.taints.clone();
                taints.extend(t.startup_taints.iter().cloned());
                let (ds, running) = self.daemon_overhead(&labels, &t.taints);
                let options: Vec<&str> = choice.cheapest.iter().map(|n| n.as_str()).collect();
                self.rec.decision(&serde_json::json!({
                    "time": secs(self.now), "kind": "launch", "nodeclaim": self.nodes[idx].name.as_str(),
                    "nodepool": t.name.as_str(), "pods": pods,
                    "requests": resources_json(&plan.requests),
                    "instance_type_options": plan.options.len(),
                    "cheapest_options": options,
                    "chosen": {"instance_type": it.name.as_str(), "zone": choice.zone.as_str(),
                               "capacity_type": choice.capacity_type.as_str(), "price_per_hour": choice.price},
                    "why": choice.why,
                }));
                let n = &mut self.nodes[idx];
                n.state = NodeState::Launched;
                n.launched_ms = self.now;
                n.price_since_ms = self.now;
                n.attr_last_ms = self.now;
                n.zone = choice.zone;
                n.capacity_type = choice.capacity_type;
                n.price = choice.price;
                n.allocatable = it.allocatable;
                n.capacity = it.capacity;
                n.it = Some(it);
                n.reqs = Arc::new(Requirements::from_labels(&labels));
                n.labels = labels;
                n.taints = taints;
                n.used = ds;
                n.ds_overhead = ds;
                let ready = n.ready_at_ms.max(self.now);
                self.share_daemons(idx, &running);
                self.summary.nodes_launched += 1;
                self.order_insert(idx, false);
                // A NodeClaim with a provider ID enters cluster state as a new state node: the
                // "already consolidated" memos no longer hold (core: state/cluster.go,
                // triggerConsolidationOnChange on an empty state node).
                self.state_version += 1;
                self.count_alive(idx, false);
                self.alive_nodes += 1;
                self.summary.nodes_peak = self.summary.nodes_peak.max(self.alive_nodes);
                self.push(ready, Ev::Ready(idx as u32));
                // expireAfter counts from the NodeClaim's creation; forceful, no budgets.
                if view != self.view {
                    self.check_drift(idx);
                }
                if choice.capacity_type == labels::SPOT {
                    let band = self.nodes[idx].it.as_ref().and_then(|it| {
                        it.offerings
                            .iter()
                            .find(|o| o.zone == choice.zone && o.capacity_type == labels::SPOT)
                            .and_then(|o| o.interruption_band)
                    });
                    self.spot_launched(idx, band);
                }
                if let Some(exp) = self
                    .view_settings(view)
                    .get(plan.template)
                    .and_then(|p| p.expire_after_ms)
                {
                    let at = self.nodes[idx].created_ms + exp;
                    self.push(at.max(self.now), Ev::Expire(idx as u32));
                }
            }
        }
    }

    fn mark_unavailable(&mut self, key: (Sym, Sym, Sym)) {
        self.ice.insert(key, self.now + ICE_TTL_MS);
        self.market.unavailable.insert(key);
        self.market.version += 1;
        self.push(self.now + ICE_TTL_MS, Ev::IceExpire);
    }

    fn on_ice_expire(&mut self) {
        let now = self.now;
        let expired: Vec<(Sym, Sym, Sym)> = self
            .ice
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            self.ice.remove(&k);
            self.market.unavailable.remove(&k);
            self.market.version += 1;
        }
    }

    /// Node labels at launch (`instanceToNodeClaim` + NodeClaim labels): single-valued
    /// instance-type labels, zone, capacity type, NodePool, template labels, hostname, and a
    /// concrete value for each custom requirement.
    #[allow(clippy::too_many_arguments)]
    fn node_labels(
        &mut self,
        tlabels: &[(Sym, Sym)],
        reqs: &Requirements,
        pool: Sym,
        it: &InstanceType,
        zone: Sym,
        ct: Sym,
        name: Sym,
    ) -> Vec<(Sym, Sym)> {
        let mut out: Vec<(Sym, Sym)> = Vec::new();
        let set = |out: &mut Vec<(Sym, Sym)>, k: Sym, v: Sym| {
            if let Some(e) = out.iter_mut().find(|(x, _)| *x == k) {
                e.1 = v;
            } else {
                out.push((k, v));
            }
        };
        for q in it.requirements.iter() {
            if let Some(v) = q.single_value() {
                set(&mut out, q.key, v);
            }
        }
        set(&mut out, labels::ZONE, zone);
        set(&mut out, labels::CAPACITY_TYPE, ct);
        set(&mut out, labels::NODEPOOL, pool);
        for (k, v) in tlabels {
            set(&mut out, *k, *v);
        }
        for q in reqs.iter() {
            if labels::is_well_known_sym(q.key)
                || q.key == labels::HOSTNAME
                || q.key == labels::REGISTERED
                || q.key == labels::INITIALIZED
                || out.iter().any(|(k, _)| *k == q.key)
            {
                continue;
            }
            let v = match q.operator() {
                crate::requirements::Op::In => {
                    let vals = q.values_sorted();
                    let i = self.rngs.provisioning.random_range(0..vals.len());
                    Some(vals[i])
                }
                crate::requirements::Op::NotIn | crate::requirements::Op::Exists => {
                    let (lo, hi) = q.bounds();
                    let lo = lo.unwrap_or(0);
                    let hi = hi.unwrap_or(lo + 1_000_000);
                    let mut v = None;
                    for _ in 0..16 {
                        let x = Sym::new(
                            &self
                                .rngs
                                .provisioning
                                .random_range(lo..=hi.max(lo))
                                .to_string(),
                        );
                        if q.has(x) {
                            v = Some(x);
                            break;
                        }
                    }
                    v
                }
                _ => None,
            };
            if let Some(v) = v {
                set(&mut out, q.key, v);
            }
        }
        set(&mut out, labels::HOSTNAME, name);
        out
    }

    /// Σ requests of the DaemonSets that run on a node with these labels and taints, and their
    /// indexes.
    fn daemon_overhead(
        &self,
        node_labels: &[(Sym, Sym)],
        taints: &[Taint],
    ) -> (Resources, Vec<usize>) {
        let reqs = Requirements::from_labels(node_labels);
        let mut total = Resources::ZERO;
        let mut running = Vec::new();
        for (k, ds) in self.setup.daemonsets.iter().enumerate() {
            if untolerated(taints, &ds.constraints.tolerations)
                .is_some_and(|t| t.effect != crate::model::Effect::PreferNoSchedule)
            {
                continue;
            }
            let mut c = ds.constraints.clone();
            let ok = loop {
                if reqs.compatible(&c.requirements(true), false).is_ok() {
                    break true;
                }
                if c.required_terms.len() > 1 {
                    c.required_terms.remove(0);
                } else {
                    break false;
                }
            };
            if ok {
                total.add_assign(&ds.requests);
                running.push(k);
            }
        }
        (total, running)
    }

    /// The DaemonSet pods running on node `idx` are charged to their namespaces (as OpenCost
    /// charges DaemonSet pods), from the node's launch to its termination.
    fn share_daemons(&mut self, idx: usize, running: &[usize]) {
        for &k in running {
            let ds = &self.setup.daemonsets[k];
            let key = self.attribution.key(ds.namespace, Some(ds.name));
            self.nodes[idx].shares.add(key, &ds.requests);
        }
    }

    fn on_ready(&mut self, idx: usize) {
        let tpls = self.view_templates(self.nodes[idx].view);
        let n = &mut self.nodes[idx];
        if n.state != NodeState::Launched || n.deleting.is_some() {
            return;
        }
        n.state = NodeState::Ready;
        n.ready_ms = Some(self.now);
        self.counts.not_ready -= 1;
        // Registration removes Karpenter's unregistered taint; initialization waits for the
        // startup taints, which their owners remove as the node turns Ready.
        if let Some(ti) = n.template {
            let startup = &tpls[ti].startup_taints;
            n.taints.retain(|t| !startup.contains(t));
        }
        let alloc = n.allocatable;
        self.order_remove(idx, false);
        self.order_insert(idx, true);
        self.ready_allocatable.add_assign(&alloc);
        self.bound_requests.add_assign(&self.nodes[idx].ds_overhead);
        self.reindex(idx);
        self.refresh_empty(idx);
        self.state_version += 1;
        if let Some(t) = self.nodes[idx].template {
            self.pool_counts[t].0 += 1;
        }
        self.kube_retry(Some(idx));
    }

    fn bind(&mut self, id: u32, node: usize) {
        let startup = self.setup.settings.pod_startup_ms;
        let now = self.now;
        let Some(p) = self.pods.get_mut(&id) else {
            return;
        };
        let req = p.arrival.info.requests;
        p.bound_ms = Some(now);
        p.node = Some(node as u32);
        p.running_ms = Some(now + startup);
        p.last_error = None;
        let first = p.first_bound_ms.is_none();
        if first {
            p.first_bound_ms = Some(now);
            p.first_running_ms = Some(now + startup);
        }
        let end = p.remaining_ms.map(|d| now + startup + d);
        p.end_at_ms = end;
        let movable = moves_cost(p.arrival.info.priority);
        let prio = p.arrival.info.priority != 0;
        let dnd = p.arrival.do_not_disrupt;
        let anti = !p.arrival.info.constraints.anti_required.is_empty();
        let key = self
            .attribution
            .key(p.arrival.info.namespace, p.arrival.owner);
        let ports = p.arrival.info.constraints.host_ports.clone();
        self.flush_attribution(node);
        let n = &mut self.nodes[node];
        n.used.add_assign(&req);
        n.pods.push(id);
        n.pods_version += 1;
        self.plan_pod_changed(node, id, true);
        let n = &mut self.nodes[node];
        n.host_ports.extend(ports);
        n.touch_pod_event(now);
        n.movable += u32::from(movable);
        n.prioritized += u32::from(prio);
        n.dnd += u32::from(dnd);
        n.shares.add(key, &req);
        self.bound_requests.add_assign(&req);
        if anti {
            self.anti_affinity_bound += 1;
        }
        self.refresh_empty(node);
        if first {
            self.summary.pods_scheduled += 1;
            self.summary
                .pending_ms
                .push(startup + now - self.pods[&id].arrival.info.created);
        }
        if let Some(end) = end {
            self.push(end, Ev::PodEnd(id));
        }
        self.reindex(node);
        self.state_version += 1;
    }

    /// Takes a bound pod off its node (the pod stays known). Returns the node.
    fn unbind(&mut self, id: u32) -> Option<usize> {
        let (node, req, key, ports, anti, movable, dnd, prio) = {
            let p = self.pods.get(&id)?;
            let node = p.node? as usize;
            if let Some(from) = p.bound_ms {
                self.rec
                    .binding(id, self.nodes[node].name.as_str(), from, self.now);
            }
            let (ns, owner) = (p.arrival.info.namespace, p.arrival.owner);
            (
                node,
                p.arrival.info.requests,
                self.attribution.key(ns, owner),
                p.arrival.info.constraints.host_ports.clone(),
                !p.arrival.info.constraints.anti_required.is_empty(),
                moves_cost(p.arrival.info.priority),
                p.arrival.do_not_disrupt,
                p.arrival.info.priority != 0,
            )
        };
        self.flush_attribution(node);
        let now = self.now;
        let n = &mut self.nodes[node];
        n.used.sub_assign(&req);
        if let Some(k) = n.pods.iter().position(|x| *x == id) {
            n.pods.swap_remove(k);
            n.pods_version += 1;
            self.plan_pod_changed(node, id, false);
        }
        let n = &mut self.nodes[node];
        for hp in &ports {
            if let Some(i) = n.host_ports.iter().position(|x| x == hp) {
                n.host_ports.remove(i);
            }
        }
        n.touch_pod_event(now);
        n.movable -= u32::from(movable);
        n.prioritized -= u32::from(prio);
        n.dnd -= u32::from(dnd);
        n.shares.remove(key, &req);
        self.bound_requests.sub_assign(&req);
        self.reindex(node);
        if anti {
            self.anti_affinity_bound -= 1;
        }
        if let Some(p) = self.pods.get_mut(&id) {
            p.node = None;
            p.bound_ms = None;
            p.end_at_ms = None;
        }
        self.refresh_empty(node);
        self.state_version += 1;
        Some(node)
    }

    fn on_pod_end(&mut self, id: u32) {
        if self.pods.get(&id).and_then(|p| p.end_at_ms) != Some(self.now) {
            return; // evicted since this end was scheduled
        }
        let Some(node) = self.unbind(id) else {
            return;
        };
        let Some(p) = self.pods.remove(&id) else {
            return;
        };
        let mut rec = self.pod_record(&p, Some(self.now), "completed");
        rec.node = Some(self.nodes[node].name.as_str().to_string());
        self.rec.pod(&rec);
        self.kube_retry(Some(node));
    }

    /// Evicts a bound pod: it leaves its node and, as its controller's replacement, becomes a
    /// pending pod that owes the rest of its run time.
    /// The end of an evicted pod's grace period on node `n`: its requests are freed and a
    /// drain waiting for it goes on.
    fn on_terminating_end(&mut self, n: usize, id: u32) {
        let Some(k) = self.nodes[n].terminating.iter().position(|t| t.0 == id) else {
            return;
        };
        let (_, req, _) = self.nodes[n].terminating.swap_remove(k);
        if !self.nodes[n].alive() {
            return;
        }
        self.flush_attribution(n);
        self.nodes[n].shares.remove_terminating(id, &req);
        self.nodes[n].used.sub_assign(&req);
        self.reindex(n);
        self.state_version += 1;
        if self.nodes[n].deleting.is_some() {
            self.push(self.now, Ev::Drain(n as u32));
        } else {
            self.kube_retry(Some(n));
        }
    }

    fn evict(&mut self, id: u32) {
        self.evict_as(id, true);
    }

    /// Takes pod `id` off its node; `graceful`: the pod shuts down there for its grace period
    /// (an eviction), or not at all (the instance is gone).
    fn evict_as(&mut self, id: u32, graceful: bool) {
        let now = self.now;
        let Some(p) = self.pods.get_mut(&id) else {
            return;
        };
        p.remaining_ms = match (p.end_at_ms, p.running_ms) {
            (Some(end), Some(run)) if run <= now => Some(end.saturating_sub(now)),
            _ => p.remaining_ms,
        };
        p.evictions += 1;
        p.last_node = p.node;
        let grace = if graceful {
            p.arrival.termination_grace_ms
        } else {
            None
        };
        self.summary.pods_evicted += 1;
        let from = self.unbind(id);
        // The evicted pod shuts down on its node for its grace period, holding its requests;
        // its controller's new pod is pending at once.
        if let (Some(g), Some(n)) = (grace, from)
            && self.nodes[n].alive()
        {
            let p = &self.pods[&id];
            let req = p.arrival.info.requests;
            let key = self
                .attribution
                .key(p.arrival.info.namespace, p.arrival.owner);
            // Still charged to its owner while it shuts down (unbind just charged up to now).
            self.nodes[n].shares.add_terminating(id, key, &req);
            self.nodes[n].used.add_assign(&req);
            self.nodes[n].terminating.push((id, req, self.now + g));
            self.reindex(n);
            self.push(self.now + g, Ev::TerminatingEnd(n as u32, id));
        }
        if let Some(p) = self.pods.get_mut(&id) {
            p.running_ms = None;
        }
        let key = {
            let p = &self.pods[&id];
            (Reverse(p.arrival.info.priority), p.arrival.info.created, id)
        };
        if let Some(n) = self.kube_find_node(id) {
            self.bind(id, n);
        } else {
            self.pending_insert(key);
            self.trigger(id);
            self.requeue.push_back((self.now + REQUEUE_MS, id));
        }
    }

    /// Karpenter deletes a NodeClaim: the node is tainted `karpenter.sh/disrupted:NoSchedule`,
    /// leaves every scheduling candidate list and starts draining.
    fn delete_node(&mut self, idx: usize, reason: &'static str) {
        let now = self.now;
        let tgp = self.nodes[idx]
            .template
            .and_then(|t| self.view_settings(self.nodes[idx].view).get(t))
            .and_then(|p| p.termination_grace_ms);
        let was_ready = self.nodes[idx].state == NodeState::Ready;
        {
            let n = &mut self.nodes[idx];
            if !n.alive() || n.deleting.is_some() {
                return;
            }
            // A candidate of a started consolidation command that is deleted another way
            // (e.g. it expires) leaves the command; it is counted as deleting from now on.
            if n.in_command {
                n.in_command = false;
                if let Some(t) = n.template
                    && was_ready
                {
                    self.pool_counts[t].1 -= 1;
                }
            }
            self.disrupting.insert(idx);
            n.deleting = Some(Deleting {
                since_ms: now,
                reason,
                deadline_ms: tgp.map(|g| now + g),
                drained_ms: None,
            });
            n.taints.push(crate::model::disrupted_taint());
        }
        self.order_remove(idx, was_ready);
        self.reindex(idx);
        self.refresh_empty(idx);
        self.state_version += 1;
        self.counts.deleting += 1;
        if was_ready && let Some(t) = self.nodes[idx].template {
            self.pool_counts[t].1 += 1;
        }
        let n = &self.nodes[idx];
        self.rec.decision(&serde_json::json!({
            "time": secs(now), "kind": "nodeclaim-deleted", "nodeclaim": n.name.as_str(),
            "nodepool": n.template.map(|t| self.templates()[t].name.as_str()).unwrap_or("(existing)"),
            "reason": reason, "pods": n.pods.iter().map(|p| self.pod_name(*p)).collect::<Vec<_>>(),
        }));
        self.push(now, Ev::Drain(idx as u32));
    }

    /// One drain pass (`terminator.go`): evicts every pod that may go now; pods with an active
    /// do-not-disrupt annotation or blocked by a PodDisruptionBudget wait, unless the
    /// terminationGracePeriod deadline has passed. An empty node terminates once 5 s have
    /// passed since the drain started (`MinDrainTime`).
    fn on_drain(&mut self, idx: usize) {
        let now = self.now;
        let Some(d) = self.nodes[idx].deleting else {
            return;
        };
        if self.nodes[idx].state == NodeState::Terminated {
            return;
        }
        let force = d.deadline_ms.is_some_and(|dl| now >= dl);
        let pods = self.nodes[idx].pods.clone();
        for pid in pods {
            let dnd = self
                .pods
                .get(&pid)
                .is_some_and(|p| p.arrival.do_not_disrupt);
            if !force && (dnd || self.pdb_blocks(pid)) {
                continue;
            }
            self.evict(pid);
        }
        // Evicted pods still shutting down hold the node (until the deadline, if any).
        if self.nodes[idx].pods.is_empty() && !self.nodes[idx].terminating.is_empty() && !force {
            // `TerminatingEnd` drains again when the last one stops.
            if let Some(dl) = d.deadline_ms {
                self.push(dl, Ev::Drain(idx as u32));
            }
            return;
        }
        if !self.nodes[idx].pods.is_empty() {
            let next = match d.deadline_ms {
                Some(dl) if dl > now => (now + 1_000).min(dl),
                _ => now + 1_000,
            };
            self.push(next, Ev::Drain(idx as u32));
            return;
        }
        let drained = d.drained_ms.unwrap_or(now);
        if let Some(dd) = self.nodes[idx].deleting.as_mut() {
            dd.drained_ms = Some(drained);
        }
        let min_drain = d.since_ms + 5_000;
        if now < min_drain {
            self.push(min_drain, Ev::Drain(idx as u32));
            return;
        }
        // Instance termination is polled every 5 s until EC2 reports it gone.
        self.push(now + 5_000, Ev::Terminate(idx as u32));
    }

    fn on_terminate(&mut self, idx: usize) {
        let now = self.now;
        let was_ready = self.nodes[idx].state == NodeState::Ready;
        if !self.nodes[idx].alive() {
            return;
        }
        if let Some(p) = self.node_plans.get_mut(idx) {
            *p = None;
        }
        // Pods still bound, and pods still shutting down, die with the instance.
        let left = self.nodes[idx].pods.clone();
        for pid in left {
            self.evict_as(pid, false);
        }
        self.flush_attribution(idx);
        let ghosts = std::mem::take(&mut self.nodes[idx].terminating);
        for (_, req, _) in ghosts {
            self.nodes[idx].used.sub_assign(&req);
        }
        self.nodes[idx].shares.clear();
        let reason = self.nodes[idx]
            .deleting
            .map(|d| d.reason)
            .unwrap_or("terminated");
        {
            let n = &mut self.nodes[idx];
            n.state = NodeState::Terminated;
            self.disrupting.remove(&idx);
            n.terminated_ms = Some(now);
            n.termination_reason = Some(reason);
        }
        let n = &self.nodes[idx];
        let c = &mut self.counts;
        let ct = if n.capacity_type == labels::SPOT {
            c.spot -= 1;
            1
        } else if n.capacity_type == labels::RESERVED {
            c.reserved -= 1;
            2
        } else {
            c.on_demand -= 1;
            0
        };
        c.cost_per_hour_by_type[ct] -= n.price;
        let pool = n.template.unwrap_or(c.by_pool.len() - 1);
        c.by_pool[pool] -= 1;
        if !was_ready {
            c.not_ready -= 1;
        }
        c.deleting -= 1;
        c.cost_per_hour -= n.price;
        if was_ready {
            self.ready_allocatable.sub_assign(&n.allocatable);
            self.bound_requests.sub_assign(&n.ds_overhead);
        }
        if was_ready && let Some(t) = self.nodes[idx].template {
            let deleting = u32::from(self.nodes[idx].deleting.is_some());
            self.pool_counts[t].0 -= 1;
            self.pool_counts[t].1 -= deleting;
        }
        self.alive_nodes -= 1;
        *self
            .summary
            .terminated_by_reason
            .entry(reason.to_string())
            .or_insert(0) += 1;
        self.reindex(idx);
        // The NodeClaim and its Node leave cluster state (core: state/cluster.go,
        // cleanupNodeClaim / cleanupNode mark the cluster unconsolidated).
        self.state_version += 1;
    }

    /// Whether evicting `pid` now would violate a PodDisruptionBudget (the Eviction API's 429):
    /// more than one PDB selects it, or its PDB allows no disruption.
    fn pdb_blocks(&self, pid: u32) -> bool {
        if self.setup.pdbs.is_empty() {
            return false;
        }
        let Some(p) = self.pods.get(&pid) else {
            return false;
        };
        let info = &p.arrival.info;
        let matching: Vec<&PdbSpec> = self
            .setup
            .pdbs
            .iter()
            .filter(|b| b.namespace == info.namespace && b.selector.matches(&info.labels))
            .collect();
        match matching.len() {
            0 => false,
            1 => {
                let b = matching[0];
                let (mut expected, mut healthy) = (0i64, 0i64);
                for q in self.pods.values() {
                    if q.arrival.info.namespace == b.namespace
                        && b.selector.matches(&q.arrival.info.labels)
                    {
                        expected += 1;
                        if q.node.is_some()
                            && q.bound_ms.is_some()
                            && q.running_ms.is_some_and(|r| r <= self.now)
                        {
                            healthy += 1;
                        }
                    }
                }
                let desired = match b.budget {
                    PdbBudget::MinAvailable(n) => n,
                    PdbBudget::MinAvailablePercent(pct) => (expected * pct + 99) / 100,
                    PdbBudget::MaxUnavailable(n) => expected - n,
                    PdbBudget::MaxUnavailablePercent(pct) => expected - (expected * pct + 99) / 100,
                };
                healthy - desired <= 0
            }
            _ => true,
        }
    }

    fn pod_record(&self, p: &PodState, ended: Option<u64>, outcome: &'static str) -> PodRecord {
        PodRecord {
            id: p.arrival.info.id,
            name: p.arrival.name.clone(),
            namespace: p.arrival.info.namespace.as_str().to_string(),
            owner: p
                .arrival
                .owner
                .map(|o| o.as_str().to_string())
                .unwrap_or_default(),
            arrival_ms: p.arrival.info.created,
            scheduled_ms: p.first_bound_ms,
            running_ms: p.first_running_ms.filter(|r| *r <= self.now),
            ended_ms: ended,
            node: p
                .node
                .or(p.last_node)
                .map(|n| self.nodes[n as usize].name.as_str().to_string()),
            evictions: p.evictions,
            outcome,
        }
    }

    fn flush_attribution(&mut self, node: usize) {
        let now = self.now;
        let n = &mut self.nodes[node];
        if !matches!(n.state, NodeState::Launched | NodeState::Ready) || now <= n.attr_last_ms {
            n.attr_last_ms = n.attr_last_ms.max(now);
            return;
        }
        self.attribution
            .charge(now - n.attr_last_ms, n.price, &n.capacity, &n.shares);
        n.attr_last_ms = now;
    }

    fn sample(&mut self) {
        let c = &self.counts;
        let row = TimelineRow {
            time_ms: self.now,
            nodes_on_demand: c.on_demand,
            nodes_spot: c.spot,
            nodes_reserved: c.reserved,
            nodes_not_ready: c.not_ready,
            cost_per_hour: c.cost_per_hour,
            cost_per_hour_on_demand: c.cost_per_hour_by_type[0],
            cost_per_hour_spot: c.cost_per_hour_by_type[1],
            cost_per_hour_reserved: c.cost_per_hour_by_type[2],
            nodes_by_nodepool: c.by_pool.clone(),
            pending_pods: self.pending.len() as u32,
            cpu_requested_millis: self.bound_requests.cpu(),
            cpu_allocatable_millis: self.ready_allocatable.cpu(),
            memory_requested_bytes: self.bound_requests.memory() / 1000,
            memory_allocatable_bytes: self.ready_allocatable.memory() / 1000,
        };
        self.rec.timeline(&row);
    }

    /// Node `i` changed what kube-scheduler and the first-fit index see of it.
    fn reindex(&mut self, i: usize) {
        self.kube.reindex(&self.nodes, i);
        // Kept only while the index can be updated in place; a long list costs a rebuild.
        if self.fit_basis.is_some() {
            if self.fit_changed.len() > 4 * self.pass_order.len() + 64 {
                self.fit_changed.clear();
                self.fit_basis = None;
            } else {
                self.fit_changed.push(i);
            }
        }
    }

    /// Files a node in the pass order: the Ready section (front) or the uninitialized one,
    /// each sorted by name.
    fn order_insert(&mut self, idx: usize, ready: bool) {
        self.layout_version += 1;
        self.order_version += 1;
        let name = self.nodes[idx].name.as_str();
        let (lo, hi) = if ready {
            (0, self.pass_ready)
        } else {
            (self.pass_ready, self.pass_order.len())
        };
        let nodes = &self.nodes;
        let at = lo + self.pass_order[lo..hi].partition_point(|j| nodes[*j].name.as_str() < name);
        self.pass_order.insert(at, idx);
        if ready {
            self.pass_ready += 1;
        }
    }

    /// Takes a node out of the pass order.
    fn order_remove(&mut self, idx: usize, ready: bool) {
        self.layout_version += 1;
        self.order_version += 1;
        let (lo, hi) = if ready {
            (0, self.pass_ready)
        } else {
            (self.pass_ready, self.pass_order.len())
        };
        if let Some(k) = self.pass_order[lo..hi].iter().position(|j| *j == idx) {
            self.pass_order.remove(lo + k);
            if ready {
                self.pass_ready -= 1;
            }
        }
    }

    /// Files or unfiles a node in the set Emptiness looks at.
    fn refresh_empty(&mut self, idx: usize) {
        let n = &self.nodes[idx];
        if n.template.is_some()
            && n.state == NodeState::Ready
            && n.deleting.is_none()
            && n.movable == 0
        {
            self.empty_nodes.insert(idx);
        } else {
            self.empty_nodes.remove(&idx);
        }
    }

    /// Counts a node that now has an instance (launched or existing).
    fn count_alive(&mut self, idx: usize, ready: bool) {
        let n = &self.nodes[idx];
        let c = &mut self.counts;
        let ct = if n.capacity_type == labels::SPOT {
            c.spot += 1;
            1
        } else if n.capacity_type == labels::RESERVED {
            c.reserved += 1;
            2
        } else {
            c.on_demand += 1;
            0
        };
        c.cost_per_hour_by_type[ct] += n.price;
        let pool = n.template.unwrap_or(c.by_pool.len() - 1);
        c.by_pool[pool] += 1;
        if !ready {
            c.not_ready += 1;
        }
        c.cost_per_hour += n.price;
    }

    fn finish(mut self) -> RunSummary {
        let end = self.now;
        self.summary.simulated_ms = end;
        // Pods still alive.
        let mut ids: Vec<u32> = self.pods.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let p = &self.pods[&id];
            let outcome = if p.bound_ms.is_some() {
                "running_at_end"
            } else if p.last_error.is_some() {
                "unschedulable"
            } else {
                "pending_at_end"
            };
            // `pods_never_scheduled` is derived from `pods_scheduled` below.
            if outcome == "unschedulable" {
                self.summary.pods_unschedulable += 1;
            }
            if let (Some(n), Some(from)) = (p.node, p.bound_ms) {
                self.rec
                    .binding(id, self.nodes[n as usize].name.as_str(), from, end);
            }
            let rec = self.pod_record(p, None, outcome);
            self.rec.pod(&rec);
        }
        for i in 0..self.nodes.len() {
            self.flush_attribution(i);
        }
        for n in &self.nodes {
            if !matches!(
                n.state,
                NodeState::Launched | NodeState::Ready | NodeState::Terminated
            ) {
                continue;
            }
            let stop = n.terminated_ms.unwrap_or(end).min(end);
            let hours = stop.saturating_sub(n.launched_ms) as f64 / 3_600_000.0;
            // Billed at each price for the time it applied (one price unless Spot prices walk).
            let since = n.price_since_ms.max(n.launched_ms);
            let cost = n.cost_before + n.price * (stop.saturating_sub(since) as f64 / 3_600_000.0);
            let pool = match n.template {
                Some(t) => self.templates()[t].name.as_str().to_string(),
                None => "(existing)".to_string(),
            };
            self.summary.cost_total += cost;
            if n.capacity_type == labels::SPOT {
                self.summary.cost_spot += cost;
            } else if n.capacity_type == labels::RESERVED {
                self.summary.cost_reserved += cost;
            } else {
                self.summary.cost_on_demand += cost;
            }
            *self
                .summary
                .cost_by_nodepool
                .entry(pool.clone())
                .or_insert(0.0) += cost;
            self.summary.node_hours += hours;
            if n.capacity_type == labels::SPOT {
                self.summary.node_hours_spot += hours;
                // What the same hours would have cost on-demand, in the node's zone.
                let od = n.it.as_ref().and_then(|it| {
                    it.offerings
                        .iter()
                        .find(|o| o.zone == n.zone && o.capacity_type == labels::ON_DEMAND)
                        .map(|o| o.price)
                });
                if let Some(od) = od {
                    self.summary.spot_saving_vs_on_demand += od * hours - cost;
                }
            }
            let rec = NodeRecord {
                name: n.name.as_str().to_string(),
                nodepool: pool,
                instance_type: n
                    .it
                    .as_ref()
                    .map(|i| i.name.as_str().to_string())
                    .unwrap_or_default(),
                zone: n.zone.as_str().to_string(),
                capacity_type: n.capacity_type.as_str().to_string(),
                // A node repriced by the Spot price walk: its average price over its life.
                price_per_hour: if since > n.launched_ms && hours > 0.0 {
                    cost / hours
                } else {
                    n.price
                },
                launched_ms: n.launched_ms,
                ready_ms: n.ready_ms,
                terminated_ms: n.terminated_ms,
                termination_reason: n.termination_reason.map(str::to_string),
                cost,
            };
            self.rec.node(&rec);
        }
        let attribution = self.attribution.finish();
        for row in &attribution.rows {
            self.rec.attribution(row);
        }
        self.summary.cost_by_namespace = attribution.by_namespace;
        self.summary.cost_by_owner = attribution.by_owner;
        for r in [
            "empty",
            "underutilized",
            "drifted",
            "expired",
            "interrupted",
        ] {
            self.summary
                .terminated_by_reason
                .entry(r.to_string())
                .or_insert(0);
        }
        self.summary.pods_never_scheduled = self.summary.pods_total - self.summary.pods_scheduled;
        self.summary.pending_ms.sort_unstable();
        self.summary
    }
}

/// Whether a pod's eviction cost is positive: clamp(1 + priority / 2^25, −10, 10) > 0
/// (`core: pkg/utils/disruption/disruption.go`; pod-deletion-cost is not modelled).
fn moves_cost(priority: i32) -> bool {
    1.0 + f64::from(priority) / 33_554_432.0 > 0.0
}

/// A pod whose placement on an existing node depends only on resources and taints.
pub(super) fn kube_equivalent(c: &crate::model::PodConstraints) -> bool {
    c.node_selector.is_empty()
        && c.required_terms.is_empty()
        && c.preferred_terms.is_empty()
        && c.host_ports.is_empty()
        && !c.has_topology()
        && c.ignored.is_none()
}

fn limit_name(k: LimitKey) -> &'static str {
    match k {
        LimitKey::Resource(r) => r.as_str(),
        LimitKey::Nodes => "nodes",
    }
}

/// Milliseconds as seconds for JSON.
/// Per template: the names of the instance types its NodePool offers.
fn pool_types(templates: &[NodePoolTemplate]) -> Vec<FxHashSet<Sym>> {
    templates
        .iter()
        .map(|t| {
            t.candidates
                .iter()
                .map(|i| t.instance_types[*i as usize].name)
                .collect()
        })
        .collect()
}

pub fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// A resource vector as a JSON object of Kubernetes quantities.
pub fn resources_json(r: &Resources) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (n, v) in r.nonzero() {
        let s = match n {
            ResourceName::Memory | ResourceName::EphemeralStorage => {
                let bytes = v / 1000;
                if bytes % (1 << 20) == 0 {
                    format!("{}Mi", bytes >> 20)
                } else {
                    bytes.to_string()
                }
            }
            _ => crate::units::format_milli(v),
        };
        m.insert(n.as_str().to_string(), serde_json::Value::String(s));
    }
    serde_json::Value::Object(m)
}
