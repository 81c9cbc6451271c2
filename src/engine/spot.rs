//! Spot interruptions: when AWS takes a Spot instance back, and what Karpenter does about it
//! (disruption.md §10, `aws: pkg/controllers/interruption`).
//!
//! Model. Every Spot pool (instance type × zone) has a per-instance hazard: from the Spot
//! Instance Advisor's interruption band (`spot-advisor`) or one rate for all (`constant`),
//! scaled by `rate_multiplier`. A Spot node's interruption time is drawn at launch, from the
//! pool's own seeded stream, so two runs that launch the same nodes into a pool see the same
//! interruptions, whatever their other pools do. Correlated reclaims (`reclaim_events`) are a
//! per-pool Poisson process, also from the pool's own stream and independent of the cluster:
//! every variant of a compare sees the same events at the same times, each taking a share of
//! whatever nodes the pool then runs.
//!
//! Karpenter's handling: the 2-minute warning marks the offering unavailable for 3 minutes and
//! deletes the NodeClaim (taint, drain respecting PDBs, replacement provisioning in parallel,
//! no budgets); at the end of the notice the instance is gone and the pods still on it are
//! killed (they come back as pending pods, counted as killed).
//!
//! Owns: the hazard mapping, the per-pool streams and the interruption events. May not: pick
//! nodes for any other reason.

use super::{Engine, Ev, NodeState, SimRng, secs, stream};
use crate::labels::{self, Sym};
use rand::RngExt;

/// Hours in the month the Advisor's frequencies and `constant_monthly_rate` refer to.
pub const MONTH_HOURS: f64 = 720.0;

/// The Spot Instance Advisor's "frequency of interruption" bands (`<5%`, `5-10%`, `10-15%`,
/// `15-20%`, `>20%`) as the share of instances interrupted in a month: each band's midpoint,
/// and 22.5 % for the open top band (the bottom of the band plus half a band width).
pub const BAND_MONTHLY_SHARE: [f64; 5] = [0.025, 0.075, 0.125, 0.175, 0.225];

/// How long before the interruption warning EC2's rebalance recommendation arrives. AWS says
/// only that it "can arrive sooner" than the warning; karpsim states 10 minutes (or the launch,
/// if later). Karpenter records it and takes no action.
pub const REBALANCE_LEAD_MS: u64 = 600_000;

/// The band assumed for a Spot offering the Advisor does not list: the middle band.
pub const UNKNOWN_BAND: u8 = 2;

/// Per-instance hazard per hour of a pool in `band`: a share p interrupted within a month of
/// exposure is an exponential lifetime with rate −ln(1 − p) / 720 h.
pub fn band_hourly_rate(band: u8) -> f64 {
    let p = BAND_MONTHLY_SHARE[usize::from(band.min(4))];
    -(1.0 - p).ln() / MONTH_HOURS
}

/// The interruption model of a run (rates already scaled by `rate_multiplier`).
#[derive(Debug, Clone, PartialEq)]
pub enum Hazard {
    None,
    /// Per-hour rate by Advisor band 0–4.
    Bands([f64; 5]),
    /// One per-hour rate for every pool.
    Constant(f64),
}

/// `interruptions` lowered.
#[derive(Debug, Clone, PartialEq)]
pub struct InterruptionSettings {
    pub hazard: Hazard,
    pub notice_ms: u64,
    /// Correlated reclaims: events per pool per hour, and the share of the pool's nodes each
    /// takes.
    pub reclaim: Option<(f64, f64)>,
}

impl Default for InterruptionSettings {
    fn default() -> InterruptionSettings {
        InterruptionSettings {
            hazard: Hazard::None,
            notice_ms: 120_000,
            reclaim: None,
        }
    }
}

/// A Spot pool with correlated reclaim events.
#[derive(Debug)]
pub struct ReclaimPool {
    pub instance_type: Sym,
    pub zone: Sym,
    /// The event times (never consumed by anything else, so they do not depend on the
    /// cluster).
    pub rng: SimRng,
    /// Which of the pool's nodes each event takes.
    pub pick: SimRng,
}

/// Milliseconds until the next event of a Poisson process with `per_hour`.
fn exp_gap_ms(rng: &mut SimRng, per_hour: f64) -> u64 {
    let u: f64 = rng.random::<f64>();
    let hours = -(1.0 - u).ln() / per_hour;
    (hours * 3_600_000.0).min(1e18) as u64
}

impl Engine<'_> {
    /// A Spot node launched: draw its interruption from its pool's stream, and start the
    /// pool's reclaim events if it has none yet.
    pub(super) fn spot_launched(&mut self, idx: usize, band: Option<u8>) {
        let n = &self.nodes[idx];
        let (it, zone) = match &n.it {
            Some(it) => (it.name, n.zone),
            None => return,
        };
        let rate = match &self.setup.settings.interruptions.hazard {
            Hazard::None => 0.0,
            Hazard::Bands(r) => r[usize::from(band.unwrap_or(UNKNOWN_BAND).min(4))],
            Hazard::Constant(r) => *r,
        };
        if rate > 0.0 {
            let seed = self.setup.seed;
            let rng = self
                .spot_streams
                .entry((it, zone))
                .or_insert_with(|| stream(seed, &format!("interruption/{it}/{zone}")));
            let at = self.now.saturating_add(exp_gap_ms(rng, rate));
            self.push(at, Ev::Interrupt(idx as u32));
            // The rebalance recommendation comes first (an event only; Karpenter takes no
            // action on it).
            let rebalance = at.saturating_sub(REBALANCE_LEAD_MS).max(self.now);
            self.push(rebalance, Ev::Rebalance(idx as u32));
        }
        if let Some((per_hour, _)) = self.setup.settings.interruptions.reclaim
            && per_hour > 0.0
            && !self.reclaim_pool_of.contains_key(&(it, zone))
        {
            let k = self.reclaim_pools.len();
            let mut rng = stream(self.setup.seed, &format!("reclaim/{it}/{zone}"));
            // The pool's events from time 0, the same in every run: skip those already past.
            let mut at = exp_gap_ms(&mut rng, per_hour);
            while at < self.now {
                at = at.saturating_add(exp_gap_ms(&mut rng, per_hour));
            }
            self.reclaim_pools.push(ReclaimPool {
                instance_type: it,
                zone,
                rng,
                pick: stream(self.setup.seed, &format!("reclaim-pick/{it}/{zone}")),
            });
            self.reclaim_pool_of.insert((it, zone), k);
            self.push(at, Ev::PoolReclaim(k as u32));
        }
    }

    /// A correlated reclaim event of pool `k`: each of its running Spot nodes (by name) is
    /// interrupted with the configured share; then the pool's next event.
    pub(super) fn on_pool_reclaim(&mut self, k: usize) {
        let Some((per_hour, fraction)) = self.setup.settings.interruptions.reclaim else {
            return;
        };
        let (it, zone) = (
            self.reclaim_pools[k].instance_type,
            self.reclaim_pools[k].zone,
        );
        let mut members: Vec<usize> = (0..self.nodes.len())
            .filter(|i| {
                let n = &self.nodes[*i];
                n.alive()
                    && n.interrupted_ms.is_none()
                    && n.capacity_type == labels::SPOT
                    && n.zone == zone
                    && n.it.as_ref().is_some_and(|t| t.name == it)
            })
            .collect();
        members.sort_by(|a, b| {
            self.nodes[*a]
                .name
                .as_str()
                .cmp(self.nodes[*b].name.as_str())
        });
        let mut taken = Vec::new();
        for i in members {
            let u: f64 = self.reclaim_pools[k].pick.random::<f64>();
            if u < fraction {
                taken.push(i);
            }
        }
        self.rec.decision(&serde_json::json!({
            "time": secs(self.now), "kind": "spot-reclaim-event",
            "instance_type": it.as_str(), "zone": zone.as_str(),
            "nodes": taken.iter().map(|i| self.nodes[*i].name.as_str()).collect::<Vec<_>>(),
        }));
        for i in taken {
            self.on_interrupt(i);
        }
        let gap = exp_gap_ms(&mut self.reclaim_pools[k].rng, per_hour);
        self.push(self.now.saturating_add(gap), Ev::PoolReclaim(k as u32));
    }

    /// EC2's rebalance recommendation for node `idx` (`rebalance_recommendation`): recorded,
    /// no action (disruption.md §10).
    pub(super) fn on_rebalance(&mut self, idx: usize) {
        let n = &self.nodes[idx];
        if !n.alive() || n.interrupted_ms.is_some() || n.deleting.is_some() {
            return;
        }
        self.summary.spot_rebalance_recommendations += 1;
        self.rec.decision(&serde_json::json!({
            "time": secs(self.now), "kind": "spot-rebalance-recommendation",
            "nodeclaim": n.name.as_str(), "action": "none",
        }));
    }

    /// The 2-minute Spot interruption warning for node `idx` (`spot_interrupted`): the
    /// offering is unavailable for 3 minutes and the NodeClaim is deleted now (forceful: no
    /// budgets, no pre-spun replacement); the instance goes at the end of the notice.
    pub(super) fn on_interrupt(&mut self, idx: usize) {
        let n = &self.nodes[idx];
        if !n.alive() || n.interrupted_ms.is_some() {
            return;
        }
        let Some(it) = n.it.as_ref().map(|t| t.name) else {
            return;
        };
        let (zone, name) = (n.zone, n.name);
        self.nodes[idx].interrupted_ms = Some(self.now);
        self.summary.spot_interruptions += 1;
        *self
            .summary
            .spot_interruptions_by_pool
            .entry(format!("{it}/{zone}"))
            .or_insert(0) += 1;
        self.rec.decision(&serde_json::json!({
            "time": secs(self.now), "kind": "spot-interruption", "nodeclaim": name.as_str(),
            "instance_type": it.as_str(), "zone": zone.as_str(),
            "pods": self.nodes[idx].pods.iter().map(|p| self.pod_name(*p)).collect::<Vec<_>>(),
            "reclaimed_at": secs(self.now + self.setup.settings.interruptions.notice_ms),
        }));
        self.mark_unavailable((it, zone, labels::SPOT));
        if self.nodes[idx].deleting.is_none() {
            *self
                .summary
                .disrupted_by_reason
                .entry("interrupted".into())
                .or_insert(0) += 1;
            self.delete_node(idx, "interrupted");
        }
        let at = self.now + self.setup.settings.interruptions.notice_ms;
        self.push(at, Ev::Reclaim(idx as u32));
    }

    /// The end of the notice: EC2 takes the instance; pods still on it are killed.
    pub(super) fn on_reclaim(&mut self, idx: usize) {
        let n = &self.nodes[idx];
        if !n.alive() || n.state == NodeState::Terminated {
            return;
        }
        // Bound pods and evicted pods still shutting down die with the instance.
        let victims: Vec<u32> = n
            .pods
            .iter()
            .copied()
            .chain(n.terminating.iter().map(|t| t.0))
            .collect();
        let killed: Vec<String> = victims.iter().map(|p| self.pod_name(*p)).collect();
        self.summary.spot_pods_killed += killed.len() as u64;
        for pid in victims {
            if let Some(p) = self.pods.get_mut(&pid) {
                p.killed += 1;
            }
        }
        self.rec.decision(&serde_json::json!({
            "time": secs(self.now), "kind": "spot-reclaimed", "nodeclaim": n.name.as_str(),
            "pods_killed": killed,
        }));
        self.on_terminate(idx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_rates_follow_the_advisor_bands() {
        // <5 %: 2.5 % a month.
        assert!((band_hourly_rate(0) * MONTH_HOURS - 0.02532).abs() < 1e-4);
        let r: Vec<f64> = (0..5).map(band_hourly_rate).collect();
        assert!(r.windows(2).all(|w| w[0] < w[1]));
        // >20 %: 22.5 % a month.
        assert!((1.0 - (-r[4] * MONTH_HOURS).exp() - 0.225).abs() < 1e-9);
    }
}
