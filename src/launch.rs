//! Launching a NodeClaim on EC2 (`aws: pkg/providers/instance/instance.go`,
//! `pkg/providers/instance/filter/filter.go`, `pkg/cloudprovider/cloudprovider.go`).
//!
//! Owns: the instance-type filter pipeline at launch (compatible-available, exotic, Spot price,
//! truncation to 60), the capacity-type precedence (reserved > spot > on-demand), and a model of
//! EC2 Fleet's allocation (lowest price for on-demand; a price-capacity stand-in for Spot).
//! May not: mutate cluster state; it returns a decision.

use crate::labels::{self, Sym};
use crate::requirements::Requirements;
use crate::resources::Resources;
use crate::scheduler::{InstanceType, Market, SimRng};
use rand::RngExt;

/// The AWS provider's `maxInstanceTypes` for one CreateFleet request.
pub const MAX_LAUNCH_TYPES: usize = 60;

/// What EC2 returned.
#[derive(Debug, Clone)]
pub struct LaunchChoice {
    /// Index into the NodeClass's instance types.
    pub instance_type: u32,
    pub zone: Sym,
    pub capacity_type: Sym,
    pub price: f64,
    /// How many types were left after each filter step, for the decision log.
    pub considered: usize,
    /// The cheapest types left after the filters (at most 10), for the decision log.
    pub cheapest: Vec<Sym>,
    pub why: String,
}

/// Why a launch failed.
#[derive(Debug, Clone)]
pub enum LaunchError {
    /// Every requested offering was unavailable (InsufficientCapacityError): the NodeClaim is
    /// deleted and its pods stay pending.
    InsufficientCapacity(String),
}

/// A candidate override: (type index, offering index, price).
struct Override {
    it: u32,
    off: usize,
    price: f64,
    band: u8,
}

/// Runs the launch pipeline for a NodeClaim with `requirements` (including its instance-type
/// list), `requests` and option list `options`. `ice_draw` returns true when EC2 reports
/// insufficient capacity for a Spot override (the interruption model decides); failed
/// overrides are appended to `iced`. With `prevalidated`, the options are known to be
/// compatible with `requirements` (the scheduler narrowed them), so only fit and offering
/// availability are re-checked.
#[allow(clippy::too_many_arguments)]
pub fn launch(
    prevalidated: bool,
    its: &[InstanceType],
    options: &[u32],
    requirements: &Requirements,
    requests: &Resources,
    market: &Market,
    rng: &mut SimRng,
    ice_draw: &mut dyn FnMut(&mut SimRng, &InstanceType, Sym) -> bool,
    iced: &mut Vec<(Sym, Sym, Sym)>,
) -> Result<LaunchChoice, LaunchError> {
    let min_values = requirements.has_min_values();
    // The zone and capacity-type requirements, looked up once.
    let (zone_req, ct_req) = (
        requirements.get(labels::ZONE),
        requirements.get(labels::CAPACITY_TYPE),
    );
    let offering_ok = |it: &InstanceType, o: &crate::scheduler::Offering| {
        o.available
            && zone_req.is_none_or(|q| q.has(o.zone))
            && ct_req.is_none_or(|q| q.has(o.capacity_type))
            && (market.none_unavailable()
                || !market.is_unavailable(&(it.name, o.zone, o.capacity_type)))
    };
    // 1. compatible, fits, has an available compatible offering — one pass over the options
    // and their offerings, keeping each type's cheapest on-demand and Spot price.
    struct Cand {
        i: u32,
        od: f64,
        spot: f64,
        exotic: bool,
    }
    let mut kept: Vec<Cand> = Vec::with_capacity(options.len());
    for &i in options {
        let it = &its[i as usize];
        if !requests.fits(&it.allocatable)
            || !(prevalidated || it.requirements.intersects(requirements).is_ok())
        {
            continue;
        }
        let (mut od, mut spot, mut any) = (f64::INFINITY, f64::INFINITY, false);
        for o in &it.offerings {
            if !offering_ok(it, o) {
                continue;
            }
            any = true;
            if o.capacity_type == labels::SPOT {
                spot = spot.min(market.price(it.name, o));
            } else if o.capacity_type == labels::ON_DEMAND {
                od = od.min(o.price);
            }
        }
        if any {
            kept.push(Cand {
                i,
                od,
                spot,
                exotic: it.exotic,
            });
        }
    }
    if kept.is_empty() {
        return Err(LaunchError::InsufficientCapacity(
            "all requested instance types were unavailable during launch".into(),
        ));
    }
    // 5. exotic filter (metal, GPUs, accelerators) unless it would leave nothing.
    if !min_values && kept.iter().any(|c| !c.exotic) {
        kept.retain(|c| !c.exotic);
    }
    let allows = |ct: Sym| ct_req.is_none_or(|q| q.has(ct));
    // 6. Spot offerings dearer than the cheapest on-demand offering are dropped.
    let cheapest_od = if allows(labels::SPOT) && allows(labels::ON_DEMAND) && !min_values {
        kept.iter()
            .map(|c| c.od)
            .min_by(f64::total_cmp)
            .filter(|p| p.is_finite())
    } else {
        None
    };
    let offering_allowed = |it: &InstanceType, o: &crate::scheduler::Offering| {
        offering_ok(it, o)
            && !(o.capacity_type == labels::SPOT
                && cheapest_od.is_some_and(|od| market.price(it.name, o) > od))
    };
    // 7. truncate to the 60 cheapest by cheapest remaining offering.
    let mut priced: Vec<(f64, u32)> = kept
        .iter()
        .filter_map(|c| {
            let spot = if cheapest_od.is_some_and(|od| c.spot > od) {
                f64::INFINITY
            } else {
                c.spot
            };
            let p = c.od.min(spot);
            p.is_finite().then_some((p, c.i))
        })
        .collect();
    // Ties keep the NodeClass's catalog order (instance types are listed by name).
    let by_price = |a: &(f64, u32), b: &(f64, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    if priced.len() > MAX_LAUNCH_TYPES {
        priced.select_nth_unstable_by(MAX_LAUNCH_TYPES - 1, by_price);
        priced.truncate(MAX_LAUNCH_TYPES);
    }
    priced.sort_by(by_price);
    let considered = priced.len();
    let cheapest: Vec<Sym> = priced
        .iter()
        .take(10)
        .map(|(_, i)| its[*i as usize].name)
        .collect();
    // 4.4 capacity type: reserved > spot > on-demand, the first with a remaining offering.
    let order = [labels::RESERVED, labels::SPOT, labels::ON_DEMAND];
    let Some(ct) = order.into_iter().find(|ct| {
        allows(*ct)
            && priced.iter().any(|(_, i)| {
                let it = &its[*i as usize];
                it.offerings
                    .iter()
                    .any(|o| o.capacity_type == *ct && offering_allowed(it, o))
            })
    }) else {
        return Err(LaunchError::InsufficientCapacity(
            "no capacity type had an available offering".into(),
        ));
    };
    let mut overrides: Vec<Override> = Vec::new();
    for (_, i) in &priced {
        let it = &its[*i as usize];
        for (oi, o) in it.offerings.iter().enumerate() {
            if o.capacity_type == ct && offering_allowed(it, o) {
                overrides.push(Override {
                    it: *i,
                    off: oi,
                    price: market.price(it.name, o),
                    band: o.interruption_band.unwrap_or(2),
                });
            }
        }
    }
    // EC2 Fleet allocation. On-demand lowest-price: cheapest override, ties drawn at random.
    // Spot price-capacity-optimized stand-in: score = price × (1 + 0.1 × interruption band),
    // lowest score first (cheap pools with spare capacity), ties drawn at random.
    let score = |o: &Override| {
        if ct == labels::SPOT {
            o.price * (1.0 + 0.1 * f64::from(o.band))
        } else {
            o.price
        }
    };
    loop {
        if overrides.is_empty() {
            return Err(LaunchError::InsufficientCapacity(format!(
                "all {} offerings were unavailable (insufficient capacity)",
                ct.as_str()
            )));
        }
        let best = overrides
            .iter()
            .map(&score)
            .min_by(f64::total_cmp)
            .unwrap_or(f64::MAX);
        let mut ties: Vec<usize> = (0..overrides.len())
            .filter(|k| score(&overrides[*k]) <= best)
            .collect();
        ties.sort_by(|a, b| {
            let (x, y) = (&overrides[*a], &overrides[*b]);
            let (ix, iy) = (&its[x.it as usize], &its[y.it as usize]);
            ix.name.as_str().cmp(iy.name.as_str()).then(
                ix.offerings[x.off]
                    .zone
                    .as_str()
                    .cmp(iy.offerings[y.off].zone.as_str()),
            )
        });
        let pick = ties[if ties.len() > 1 {
            rng.random_range(0..ties.len())
        } else {
            0
        }];
        let o = &overrides[pick];
        let it = &its[o.it as usize];
        let off = &it.offerings[o.off];
        if ct == labels::SPOT && ice_draw(rng, it, off.zone) {
            iced.push((it.name, off.zone, ct));
            overrides.remove(pick);
            continue;
        }
        let why = if ct == labels::SPOT {
            format!(
                "spot preferred over on-demand; price-capacity-optimized stand-in picked the lowest price x (1 + 0.1 x interruption band) among {} overrides of {} types",
                overrides.len(),
                considered
            )
        } else {
            format!(
                "{}: lowest-price override among {} overrides of {} types",
                ct.as_str(),
                overrides.len(),
                considered
            )
        };
        return Ok(LaunchChoice {
            instance_type: o.it,
            zone: off.zone,
            capacity_type: ct,
            price: o.price,
            considered,
            cheapest,
            why,
        });
    }
}
