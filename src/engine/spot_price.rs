//! Spot prices that move during the run (`spot_prices: varying`).
//!
//! Model. Every Spot pool (instance type × zone) the run's NodePools can launch starts at its
//! catalog price (the Advisor's saving spread over the zones, see pricing-data/README.md).
//! At each whole simulated hour a pool's price changes with probability 1 − e^(−1 h / interval);
//! a change moves the log price by a normal step and pulls it back towards the catalog price:
//! `log m ← (1 − reversion) · log m + step · N(0, 1)`, never above the pool's on-demand price
//! (AWS caps Spot at on-demand). The draws come from the pool's own seeded stream, one per
//! pool and hour whatever the cluster does, so every variant of a compare sees the same prices.
//!
//! Calibration (the 2022 price sample, 5.7 h of `describe-spot-price-history` changes): about
//! 1,640 Linux price changes per hour over at least 31,000 pools, so one change per pool every
//! ~19 h; consecutive changes of one pool have a log step with standard deviation 0.7 %. How
//! fast prices return to their level cannot be measured on 5.7 h; a 10 % pull per change keeps a
//! pool within a few percent of its catalog price over a month, as the Advisor's monthly saving
//! implies.
//!
//! Effects, as in Karpenter: launches and consolidation read the current prices (Karpenter's
//! pricing provider refreshes Spot prices from EC2), and a Spot node is billed at its pool's
//! price of the moment, so its cost is the integral of the price over its life.
//!
//! Owns: the price paths and repricing the running Spot nodes. May not: choose or move nodes.

use super::{Engine, Ev, SimRng, stream};
use crate::labels::{self, Sym};
use rand::RngExt;
use rand_distr::Distribution;
use std::collections::BTreeMap;

/// One hour: the price walk's step.
pub const PRICE_STEP_MS: u64 = 3_600_000;

/// `spot_prices: varying` lowered.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceWalk {
    /// Probability that a pool's price changes in one hour.
    pub change_per_hour: f64,
    /// Standard deviation of one change of the log price.
    pub step: f64,
    /// Share of the log price's distance to the catalog price closed at each change.
    pub reversion: f64,
}

impl PriceWalk {
    /// From the scenario's mean interval between changes.
    pub fn new(change_interval_ms: u64, step: f64, reversion: f64) -> PriceWalk {
        let hours = change_interval_ms.max(1) as f64 / PRICE_STEP_MS as f64;
        PriceWalk {
            change_per_hour: 1.0 - (-1.0 / hours).exp(),
            step,
            reversion,
        }
    }
}

/// A Spot pool whose price walks.
#[derive(Debug)]
pub struct PricePool {
    pub instance_type: Sym,
    pub zone: Sym,
    /// Catalog price and the cap (the pool's on-demand price, or infinity when unknown).
    pub base: f64,
    pub cap: f64,
    pub log_m: f64,
    pub rng: SimRng,
}

impl PricePool {
    /// One hour of the walk; the new price when it changed.
    pub fn step(&mut self, w: &PriceWalk) -> Option<f64> {
        let u: f64 = self.rng.random::<f64>();
        if u >= w.change_per_hour {
            return None;
        }
        let z: f64 = rand_distr::StandardNormal.sample(&mut self.rng);
        self.log_m = (1.0 - w.reversion) * self.log_m + w.step * z;
        Some((self.base * self.log_m.exp()).min(self.cap))
    }
}

impl Engine<'_> {
    /// Builds the price pools from every NodePool view's Spot offerings, in name order.
    pub(super) fn init_spot_prices(&mut self) {
        if self.setup.settings.spot_prices.is_none() {
            return;
        }
        let mut pools: BTreeMap<(&str, &str), (Sym, Sym, f64, f64)> = BTreeMap::new();
        let views = std::iter::once(&self.setup.templates)
            .chain(self.setup.changes.iter().map(|c| &c.templates));
        for templates in views {
            for t in templates {
                for it in t.instance_types.iter() {
                    for o in &it.offerings {
                        if o.capacity_type != labels::SPOT || !o.available {
                            continue;
                        }
                        let cap = it
                            .offerings
                            .iter()
                            .filter(|d| d.capacity_type == labels::ON_DEMAND && d.zone == o.zone)
                            .map(|d| d.price)
                            .fold(f64::INFINITY, f64::min);
                        pools
                            .entry((it.name.as_str(), o.zone.as_str()))
                            .or_insert((it.name, o.zone, o.price, cap));
                    }
                }
            }
        }
        if pools.is_empty() {
            return;
        }
        let seed = self.setup.seed;
        self.price_pools = pools
            .into_values()
            .map(|(it, zone, base, cap)| PricePool {
                instance_type: it,
                zone,
                base,
                cap,
                log_m: 0.0,
                rng: stream(seed, &format!("spot-price/{it}/{zone}")),
            })
            .collect();
        self.push(PRICE_STEP_MS, Ev::SpotPrices);
    }

    /// One hour of every pool's walk; running Spot nodes of the pools that changed are billed
    /// at the new price from now on.
    pub(super) fn on_spot_prices(&mut self) {
        let Some(walk) = self.setup.settings.spot_prices.clone() else {
            return;
        };
        let mut changed = false;
        for p in &mut self.price_pools {
            if let Some(price) = p.step(&walk) {
                self.market.spot.insert((p.instance_type, p.zone), price);
                changed = true;
            }
        }
        if changed {
            self.market.version += 1;
            for i in 0..self.nodes.len() {
                let n = &self.nodes[i];
                if !n.alive() || n.capacity_type != labels::SPOT {
                    continue;
                }
                let Some(it) = n.it.as_ref() else { continue };
                if let Some(&p) = self.market.spot.get(&(it.name, n.zone))
                    && p != n.price
                {
                    self.reprice(i, p);
                }
            }
        }
        if self.more_to_come() {
            self.push(self.now + PRICE_STEP_MS, Ev::SpotPrices);
        }
    }

    /// Node `i` costs `price` per hour from now on.
    fn reprice(&mut self, i: usize, price: f64) {
        self.flush_attribution(i);
        let now = self.now;
        let n = &mut self.nodes[i];
        let since = n.price_since_ms.max(n.launched_ms);
        n.cost_before += n.price * (now.saturating_sub(since) as f64 / 3_600_000.0);
        n.price_since_ms = now;
        self.counts.cost_per_hour += price - n.price;
        self.counts.cost_per_hour_by_type[1] += price - n.price;
        n.price = price;
    }
}
