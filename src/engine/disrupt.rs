//! Karpenter's disruption loop: Emptiness (`emptiness.go`) with consolidateAfter, budgets and
//! the 15 s validation, and Drift (`drift.go`). Consolidation of underutilized nodes lives in
//! `consolidate.rs`; expiration and the drain in the engine proper.
//!
//! Owns: the 10 s poll, candidate eligibility for Emptiness (`types.go` NewCandidate), the
//! Consolidatable timing (`nodeclaim/disruption/consolidation.go`), budget accounting
//! (`helpers.go` BuildDisruptionBudgetMapping) and the emptiness command's validation
//! (`validation.go`).

use super::{Engine, Ev, NodeState, secs};
use crate::disruption::budgets::Reason;
use crate::labels::Sym;

/// The disruption loop's polling period.
pub const POLL_MS: u64 = 10_000;
/// `commandValidationDelay`.
pub const VALIDATION_MS: u64 = 15_000;
/// How long a node a pass planned pods onto is excluded from disruption (`2 × batch max`, ≥10 s).
pub const NOMINATION_MS: u64 = 20_000;

impl Engine<'_> {
    /// Base eligibility plus the Emptiness filter for node `i` at the current time.
    fn empty_candidate(&self, i: usize) -> bool {
        let now = self.now;
        let n = &self.nodes[i];
        let Some(t) = n.template else { return false };
        let Some(ps) = self.pool_settings().get(t) else {
            return false;
        };
        if n.state != NodeState::Ready || n.deleting.is_some() || n.nominated_until_ms > now {
            return false;
        }
        if !self.consolidatable(i, ps) {
            return false;
        }
        // An active do-not-disrupt pod blocks every method; a node is empty when no pod
        // would have to be rescheduled (its RescheduleDisruptionCost is 1).
        n.dnd == 0 && n.movable == 0
    }

    /// The `Consolidatable` condition: consolidateAfter (not `Never`) has passed since the last
    /// pod event, or since initialization (`nodeclaim/disruption/consolidation.go`).
    pub(super) fn consolidatable(&self, i: usize, ps: &crate::engine::PoolSettings) -> bool {
        let n = &self.nodes[i];
        let Some(after) = ps.consolidate_after_ms else {
            return false;
        };
        let t0 = n.last_pod_event_ms.or(n.ready_ms).unwrap_or(0);
        self.now >= t0 + after
    }

    /// Per template: (nodes counted by budgets, nodes already disrupting): initialized and not
    /// terminating; deleting ones count and are disrupting. Kept up to date by the engine.
    fn budget_counts(&self) -> Vec<(u32, u32)> {
        self.pool_counts.clone()
    }

    fn remaining_budget(&self, counts: &[(u32, u32)], t: usize, reason: Reason) -> u32 {
        let (num, disrupting) = counts[t];
        self.pool_settings()[t]
            .budgets
            .remaining(self.now, num, disrupting, reason)
    }

    /// Selects the empty nodes within budget, most expensive first (SavingsRatio = price when
    /// nothing has to move; ties by name).
    fn select_empty(&self) -> (Vec<usize>, bool) {
        let mut cands: Vec<usize> = self
            .empty_nodes
            .iter()
            .copied()
            .filter(|i| self.empty_candidate(*i))
            .collect();
        cands.sort_by(|a, b| {
            let (x, y) = (&self.nodes[*a], &self.nodes[*b]);
            y.price
                .total_cmp(&x.price)
                .then_with(|| x.name.as_str().cmp(y.name.as_str()))
        });
        if cands.is_empty() {
            return (Vec::new(), false);
        }
        let counts = self.budget_counts();
        let mut left: Vec<u32> = (0..self.templates().len())
            .map(|t| self.remaining_budget(&counts, t, Reason::Empty))
            .collect();
        let mut chosen = Vec::new();
        let mut blocked = false;
        for i in cands {
            let t = self.nodes[i].template.unwrap_or(0);
            if left[t] == 0 {
                blocked = true;
                continue;
            }
            left[t] -= 1;
            chosen.push(i);
        }
        (chosen, blocked)
    }

    /// One iteration of the disruption loop: Emptiness, Drift, then multi-node and
    /// single-node consolidation. Emptiness and consolidation block the loop for their 15 s
    /// validation; a drift command starts at once and the loop runs again.
    pub(super) fn on_disruption_tick(&mut self) {
        let (chosen, blocked) = self.select_empty();
        if !chosen.is_empty() {
            self.pending_empty = chosen;
            self.push(self.now + VALIDATION_MS, Ev::EmptinessValidate);
            return;
        }
        if blocked {
            self.rec.decision(&serde_json::json!({
                "time": secs(self.now), "kind": "disruption-blocked", "method": "emptiness",
                "reason": "disruption budget: no node of the pool may be disrupted now",
            }));
        }
        let mut spent = 0u64;
        if self.drift(&mut spent) {
            self.push(self.now + spent, Ev::DisruptionTick);
            return;
        }
        self.try_consolidation_after(false, spent);
    }

    /// Base eligibility for the Drift method (`types.go` NewCandidate, eventual class): a
    /// drifted, initialized NodeClaim nobody is deleting or planning pods onto. Without a
    /// terminationGracePeriod a do-not-disrupt pod or a PDB that allows no eviction blocks it.
    fn drift_candidate(&self, i: usize) -> bool {
        let n = &self.nodes[i];
        if n.template.is_none()
            || n.drifted.is_none()
            || n.state != NodeState::Ready
            || n.deleting.is_some()
            || n.in_command
            || n.nominated_until_ms > self.now
        {
            return false;
        }
        self.eventual(i) || (n.dnd == 0 && !n.pods.iter().any(|p| self.pdb_blocks(*p)))
    }

    /// The NodeClaim carries a terminationGracePeriod (copied at creation): drift takes it as
    /// an eventual-class candidate and plans nothing for pods that cannot be evicted now.
    fn eventual(&self, i: usize) -> bool {
        let n = &self.nodes[i];
        n.template.is_some_and(|t| {
            self.view_settings(n.view)
                .get(t)
                .is_some_and(|p| p.termination_grace_ms.is_some())
        })
    }

    /// The Drift method (`drift.go`): candidates oldest drift first, those with nothing to
    /// reschedule ahead of the rest; the first whose pods all fit elsewhere (no destination
    /// rule) within its pool's `Drifted` budget becomes one command, with every new NodeClaim
    /// the simulation asked for as replacements and no price check. Starts it; returns whether
    /// it did.
    fn drift(&mut self, spent: &mut u64) -> bool {
        if self.drifted.is_empty() {
            return false;
        }
        let nodes = &self.nodes;
        self.drifted.retain(|i| nodes[*i].alive());
        let mut cands: Vec<usize> = self
            .drifted
            .iter()
            .copied()
            .filter(|i| self.drift_candidate(*i))
            .collect();
        if cands.is_empty() {
            return false;
        }
        cands.sort_by(|a, b| {
            let (x, y) = (&self.nodes[*a], &self.nodes[*b]);
            let since = |n: &super::Node| n.drifted.map_or(0, |(t, _)| t);
            since(x)
                .cmp(&since(y))
                .then_with(|| x.name.as_str().cmp(y.name.as_str()))
        });
        let (empty, busy): (Vec<usize>, Vec<usize>) =
            cands.into_iter().partition(|i| self.nodes[*i].movable == 0);
        let counts = self.budget_counts();
        let mut blocked_budget = Vec::new();
        for i in empty.into_iter().chain(busy) {
            let t = self.nodes[i].template.unwrap_or(0);
            if self.remaining_budget(&counts, t, Reason::Drifted) == 0 {
                blocked_budget.push(self.nodes[i].name);
                continue;
            }
            let eventual = self.eventual(i);
            let Some(claims) = self.simulate(&[i], spent, false, eventual) else {
                self.rec.decision(&serde_json::json!({
                    "time": secs(self.now), "kind": "disruption-blocked", "method": "drift",
                    "nodes": [self.nodes[i].name.as_str()],
                    "reason": "scheduling: not every pod of the node can be rescheduled",
                }));
                continue;
            };
            self.start_drift(i, claims);
            return true;
        }
        if !blocked_budget.is_empty() {
            self.rec.decision(&serde_json::json!({
                "time": secs(self.now), "kind": "disruption-blocked", "method": "drift",
                "nodes": blocked_budget.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "reason": "disruption budget: no node of the pool may be disrupted for Drifted now",
            }));
        }
        false
    }

    /// Starts a drift command: a plain delete, or the replacements first and the node deleted
    /// once all of them are initialized (the orchestration queue).
    fn start_drift(&mut self, i: usize, claims: Vec<crate::scheduler::PlannedClaim>) {
        let name = self.nodes[i].name;
        let why = self.nodes[i].drifted.map_or("", |(_, w)| w);
        if claims.is_empty() {
            self.rec.decision(&serde_json::json!({
                "time": secs(self.now), "kind": "disruption", "method": "drift", "reason": "Drifted",
                "drift_reason": why, "decision": "delete", "nodes": [name.as_str()],
                "savings_per_hour": self.nodes[i].price,
            }));
            *self
                .summary
                .disrupted_by_reason
                .entry("drifted".into())
                .or_insert(0) += 1;
            self.delete_node(i, "drifted");
            return;
        }
        self.mark_in_command(i, true);
        let mut replacements = Vec::new();
        let mut names = Vec::new();
        for c in claims {
            replacements.push(self.nodes.len());
            names.push(self.create_claim(c));
        }
        self.rec.decision(&serde_json::json!({
            "time": secs(self.now), "kind": "disruption", "method": "drift", "reason": "Drifted",
            "drift_reason": why, "decision": "replace", "nodes": [name.as_str()],
            "replacement_nodeclaims": names, "source_price_per_hour": self.nodes[i].price,
        }));
        self.queue.push(super::consolidate::Queued {
            replacements,
            cands: vec![i],
            started_ms: self.now,
            reason: "drifted",
        });
        self.push(self.now + 1_000, Ev::QueueCheck);
    }

    /// Runs the consolidation methods (from Single when Multi's command just failed
    /// validation); schedules the next poll when nothing is found.
    ///
    /// The loop is single-threaded: the simulated time its scheduling simulations take
    /// (1 ms per simulated pod plus 5 ms each, Karpenter's own Solve cost) delays everything
    /// after them.
    fn try_consolidation(&mut self, from_single: bool) {
        self.try_consolidation_after(from_single, 0);
    }

    /// [`Self::try_consolidation`] after `spent` ms of simulations already run this iteration.
    fn try_consolidation_after(&mut self, from_single: bool, mut spent: u64) {
        match self.consolidation_methods(from_single, &mut spent) {
            Some(cmd) => {
                self.pending_cons = Some(cmd);
                self.push(self.now + spent + VALIDATION_MS, Ev::ConsolidationValidate);
            }
            None => self.push(self.now + spent.max(POLL_MS), Ev::DisruptionTick),
        }
    }

    /// Validation of a consolidation command; on success the command starts and the loop runs
    /// again at once; on failure the next method is tried.
    pub(super) fn on_consolidation_validate(&mut self) {
        let Some(cmd) = self.pending_cons.take() else {
            self.push(self.now + POLL_MS, Ev::DisruptionTick);
            return;
        };
        match self.validate_consolidation(&cmd) {
            Ok(()) => {
                self.start_consolidation(cmd);
                self.push(self.now, Ev::DisruptionTick);
            }
            Err(why) => {
                self.rec.decision(&serde_json::json!({
                    "time": secs(self.now), "kind": "disruption-validation-failed",
                    "method": if cmd.method == super::consolidate::Method::Multi { "multi-node" } else { "single-node" },
                    "candidates": cmd.cands.iter().map(|c| self.nodes[*c].name.as_str()).collect::<Vec<_>>(),
                    "reason": why,
                }));
                if cmd.method == super::consolidate::Method::Multi {
                    self.try_consolidation(true);
                } else {
                    self.push(self.now + POLL_MS, Ev::DisruptionTick);
                }
            }
        }
    }

    /// Validation after 15 s (`validation.go`, emptiness variant): keep the candidates that
    /// are still empty, consolidatable and within budget; delete them.
    pub(super) fn on_emptiness_validate(&mut self) {
        let cands = std::mem::take(&mut self.pending_empty);
        let counts = self.budget_counts();
        let mut left: Vec<u32> = (0..self.templates().len())
            .map(|t| self.remaining_budget(&counts, t, Reason::Empty))
            .collect();
        let mut survivors = Vec::new();
        let mut dropped: Vec<Sym> = Vec::new();
        for i in cands {
            let t = self.nodes[i].template.unwrap_or(0);
            if self.empty_candidate(i) && left[t] > 0 {
                left[t] -= 1;
                survivors.push(i);
            } else {
                dropped.push(self.nodes[i].name);
            }
        }
        if survivors.is_empty() {
            self.rec.decision(&serde_json::json!({
                "time": secs(self.now), "kind": "disruption-validation-failed", "method": "emptiness",
                "candidates": dropped.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "reason": "no candidate was still empty, consolidatable and within budget after 15 s",
            }));
            self.push(self.now + POLL_MS, Ev::DisruptionTick);
            return;
        }
        self.rec.decision(&serde_json::json!({
            "time": secs(self.now), "kind": "disruption", "method": "emptiness", "reason": "Empty",
            "nodes": survivors.iter().map(|i| self.nodes[*i].name.as_str()).collect::<Vec<_>>(),
            "savings_per_hour": survivors.iter().map(|i| self.nodes[*i].price).sum::<f64>(),
            "dropped_at_validation": dropped.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        }));
        for i in survivors {
            self.summary
                .disrupted_by_reason
                .entry("empty".into())
                .and_modify(|c| *c += 1)
                .or_insert(1);
            self.delete_node(i, "empty");
        }
        // A command was started: the loop runs again at once.
        self.push(self.now, Ev::DisruptionTick);
    }
}
