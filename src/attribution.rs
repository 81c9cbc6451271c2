//! Cost attribution: each node's cost split over the pods on it by their resource requests, the
//! way OpenCost allocates, with the node's idle capacity as a line of its own.
//!
//! The rule, per node and per stretch of time in which nothing on the node changes:
//!
//! 1. **The node's hourly price is split into per-unit rates.** OpenCost, when it knows a
//!    node's total price but not its parts, divides the price over the node's *capacity* in the
//!    proportion of its default list prices: $0.031611 per vCPU-hour, $0.004237 per GiB-hour
//!    and $0.95 per GPU-hour. So with `c` vCPUs, `m` GiB and `g` GPUs the memory rate is
//!    `price / (c·0.031611/0.004237 + m + g·0.95/0.004237)` per GiB-hour, and the vCPU and GPU
//!    rates are that times the same ratios. The rates add back up to the price: a node whose
//!    whole capacity were requested would be charged exactly its price. GPUs are
//!    `nvidia.com/gpu`, `amd.com/gpu`, `aws.amazon.com/neuron` and `habana.ai/gaudi` devices.
//! 2. **A pod is charged its requests at those rates** (cpu cores × vCPU rate + memory GiB ×
//!    memory rate + GPUs × GPU rate) for as long as it is bound to the node, including the
//!    grace period of an evicted pod that is still shutting down there. A simulation has no
//!    usage figures, so OpenCost's `max(request, usage)` is the request.
//! 3. **DaemonSet pods are pods too**: each DaemonSet that runs on a node (`workload.daemonsets`)
//!    is charged its requests in its own namespace (owner: the DaemonSet), from the node's launch
//!    to its termination, as OpenCost charges DaemonSet pods.
//! 4. **`(idle)`** is the rest of the node's cost: allocatable capacity no pod requested, what
//!    the node keeps for itself (kubelet and system reservations, eviction threshold: capacity −
//!    allocatable; OpenCost counts it as idle too, since no pod can request it), and the price
//!    of a node before anything runs on it.
//!
//! So for every run, the namespaces plus `(idle)` add up to `cost.total` (to floating-point
//! rounding, far below a cent). Pods are keyed by namespace and by owner (`namespace/owner`; a
//! pod without an owner counts under `namespace/(none)`).
//!
//! Owns: the rates and the running sums. The engine calls [`Ledger::charge`] whenever a
//! node's pods change; the report writes the rows. May not: print or touch files.

use crate::labels::Sym;
use crate::resources::{GIB_MILLI, ResourceName, Resources};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// OpenCost's default price of a vCPU-hour (its `configs/default.json`); only its ratio to
/// the other two matters here.
pub const CPU_USD_PER_CORE_HOUR: f64 = 0.031611;
/// OpenCost's default price of a GiB-hour of memory.
pub const RAM_USD_PER_GIB_HOUR: f64 = 0.004237;
/// OpenCost's default price of a GPU-hour.
pub const GPU_USD_PER_GPU_HOUR: f64 = 0.95;

/// The key of unrequested capacity in `cost.by_namespace` and `cost.by_owner`.
pub const IDLE: &str = "(idle)";
/// The owner of pods whose trace row names none.
pub const NO_OWNER: &str = "(none)";

const MS_PER_HOUR: f64 = 3_600_000.0;

fn cores(r: &Resources) -> f64 {
    r.cpu() as f64 / 1000.0
}

fn gib(r: &Resources) -> f64 {
    r.memory() as f64 / GIB_MILLI as f64
}

fn gpus(r: &Resources) -> f64 {
    [
        ResourceName::NvidiaGpu,
        ResourceName::AmdGpu,
        ResourceName::Neuron,
        ResourceName::HabanaGaudi,
    ]
    .iter()
    .map(|n| r.get(*n) as f64 / 1000.0)
    .sum()
}

/// A node's hourly price as per-unit rates (rule 1 of the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub usd_per_core_hour: f64,
    pub usd_per_gib_hour: f64,
    pub usd_per_gpu_hour: f64,
}

impl Rates {
    /// Splits `price_per_hour` over `capacity` in OpenCost's default proportions. A node
    /// without cpu, memory or GPUs has zero rates (its whole cost is idle).
    pub fn of_node(price_per_hour: f64, capacity: &Resources) -> Rates {
        let cpu_to_ram = CPU_USD_PER_CORE_HOUR / RAM_USD_PER_GIB_HOUR;
        let gpu_to_ram = GPU_USD_PER_GPU_HOUR / RAM_USD_PER_GIB_HOUR;
        let ram_units = cores(capacity) * cpu_to_ram + gib(capacity) + gpus(capacity) * gpu_to_ram;
        if ram_units <= 0.0 || !price_per_hour.is_finite() {
            return Rates {
                usd_per_core_hour: 0.0,
                usd_per_gib_hour: 0.0,
                usd_per_gpu_hour: 0.0,
            };
        }
        let ram = price_per_hour / ram_units;
        Rates {
            usd_per_core_hour: ram * cpu_to_ram,
            usd_per_gib_hour: ram,
            usd_per_gpu_hour: ram * gpu_to_ram,
        }
    }

    /// What `r` costs per hour at these rates.
    pub fn hourly(&self, r: &Resources) -> f64 {
        cores(r) * self.usd_per_core_hour
            + gib(r) * self.usd_per_gib_hour
            + gpus(r) * self.usd_per_gpu_hour
    }
}

/// The requests on one node, summed per (namespace, owner) key: (key, requests, pods).
#[derive(Debug, Clone, Default)]
pub struct NodeShares {
    entries: Vec<(u32, Resources, u32)>,
    /// Evicted pods still shutting down on the node, and their key.
    terminating: Vec<(u32, u32)>,
}

impl NodeShares {
    /// A pod of `key` with requests `req` arrives on the node.
    pub fn add(&mut self, key: u32, req: &Resources) {
        match self.entries.iter_mut().find(|e| e.0 == key) {
            Some(e) => {
                e.1.add_assign(req);
                e.2 += 1;
            }
            None => self.entries.push((key, *req, 1)),
        }
    }

    /// A pod of `key` with requests `req` leaves the node.
    pub fn remove(&mut self, key: u32, req: &Resources) {
        if let Some(k) = self.entries.iter().position(|e| e.0 == key) {
            let e = &mut self.entries[k];
            e.1.sub_assign(req);
            e.2 = e.2.saturating_sub(1);
            if e.2 == 0 {
                self.entries.remove(k);
            }
        }
    }

    /// Evicted pod `pod` of `key` goes on holding `req` on the node for its grace period.
    pub fn add_terminating(&mut self, pod: u32, key: u32, req: &Resources) {
        self.terminating.push((pod, key));
        self.add(key, req);
    }

    /// The grace period of evicted pod `pod` (holding `req`) ends.
    pub fn remove_terminating(&mut self, pod: u32, req: &Resources) {
        if let Some(k) = self.terminating.iter().position(|t| t.0 == pod) {
            let (_, key) = self.terminating.swap_remove(k);
            self.remove(key, req);
        }
    }

    /// Nothing on the node any more (it is gone).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.terminating.clear();
    }
}

/// Running sums of one line of the attribution.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Acc {
    cost: f64,
    cpu_core_hours: f64,
    memory_gib_hours: f64,
    gpu_hours: f64,
    pod_hours: f64,
}

impl Acc {
    fn add(&mut self, cost: f64, r: &Resources, hours: f64, pods: u32) {
        self.cost += cost;
        self.cpu_core_hours += cores(r) * hours;
        self.memory_gib_hours += gib(r) * hours;
        self.gpu_hours += gpus(r) * hours;
        self.pod_hours += f64::from(pods) * hours;
    }
}

/// One line of `attribution.csv`: a (namespace, owner) pair, or the `(idle)` line (whose
/// namespace is the key and whose owner is empty).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionRow {
    pub namespace: String,
    pub owner: String,
    /// USD.
    pub cost: f64,
    /// Requested cores × hours (for `(idle)`: the node's cores nobody requested, reservations
    /// included).
    pub cpu_core_hours: f64,
    pub memory_gib_hours: f64,
    pub gpu_hours: f64,
    /// Pods × hours bound (0 for `(idle)`).
    pub pod_hours: f64,
}

/// The attribution of a finished run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attribution {
    /// Sorted by namespace then owner, then `(idle)`.
    pub rows: Vec<AttributionRow>,
    /// Namespaces plus `(idle)`.
    pub by_namespace: BTreeMap<String, f64>,
    /// `namespace/owner` plus `(idle)`.
    pub by_owner: BTreeMap<String, f64>,
}

/// The run's attribution so far.
#[derive(Debug, Default)]
pub struct Ledger {
    ids: FxHashMap<(Sym, Option<Sym>), u32>,
    keys: Vec<(Sym, Option<Sym>)>,
    accs: Vec<Acc>,
    idle: Acc,
}

impl Ledger {
    /// The key of pods of `namespace` owned by `owner`.
    pub fn key(&mut self, namespace: Sym, owner: Option<Sym>) -> u32 {
        let owner = owner.filter(|o| !o.as_str().is_empty());
        if let Some(k) = self.ids.get(&(namespace, owner)) {
            return *k;
        }
        let k = self.keys.len() as u32;
        self.ids.insert((namespace, owner), k);
        self.keys.push((namespace, owner));
        self.accs.push(Acc::default());
        k
    }

    /// Charges `ms` milliseconds of a node priced `price_per_hour` with this `capacity` and
    /// pods (`shares`, DaemonSet pods included).
    pub fn charge(
        &mut self,
        ms: u64,
        price_per_hour: f64,
        capacity: &Resources,
        shares: &NodeShares,
    ) {
        if ms == 0 {
            return;
        }
        let hours = ms as f64 / MS_PER_HOUR;
        let cost = price_per_hour * hours;
        let rates = Rates::of_node(price_per_hour, capacity);
        let mut charged = 0.0;
        let mut requested = Resources::ZERO;
        for (key, req, pods) in &shares.entries {
            let c = rates.hourly(req) * hours;
            self.accs[*key as usize].add(c, req, hours, *pods);
            charged += c;
            requested.add_assign(req);
        }
        let idle = capacity.sub(&requested).clamp_zero();
        // The remainder, so that the lines add up to the node's cost exactly.
        self.idle.add(cost - charged, &idle, hours, 0);
    }

    /// The rows and the two rolled-up maps.
    pub fn finish(&self) -> Attribution {
        let mut order: Vec<usize> = (0..self.keys.len()).collect();
        let owner_of = |k: usize| self.keys[k].1.map_or(NO_OWNER, |o| o.as_str());
        order.sort_by(|a, b| {
            (self.keys[*a].0.as_str(), owner_of(*a)).cmp(&(self.keys[*b].0.as_str(), owner_of(*b)))
        });
        let row = |namespace: &str, owner: &str, a: &Acc| AttributionRow {
            namespace: namespace.to_string(),
            owner: owner.to_string(),
            cost: a.cost,
            cpu_core_hours: a.cpu_core_hours,
            memory_gib_hours: a.memory_gib_hours,
            gpu_hours: a.gpu_hours,
            pod_hours: a.pod_hours,
        };
        let mut out = Attribution::default();
        for k in order {
            let ns = self.keys[k].0.as_str();
            let owner = owner_of(k);
            let a = &self.accs[k];
            out.rows.push(row(ns, owner, a));
            *out.by_namespace.entry(ns.to_string()).or_insert(0.0) += a.cost;
            *out.by_owner.entry(format!("{ns}/{owner}")).or_insert(0.0) += a.cost;
        }
        out.rows.push(row(IDLE, "", &self.idle));
        out.by_namespace.insert(IDLE.to_string(), self.idle.cost);
        out.by_owner.insert(IDLE.to_string(), self.idle.cost);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::MIB_MILLI;

    fn res(cpu_millis: i64, mem_mib: i64, gpu: i64) -> Resources {
        let mut r = Resources::ZERO;
        r.set(ResourceName::Cpu, cpu_millis);
        r.set(ResourceName::Memory, mem_mib * MIB_MILLI);
        r.set(ResourceName::NvidiaGpu, gpu * 1000);
        r
    }

    #[test]
    fn rates_add_back_up_to_the_price() {
        for (price, cap) in [
            (0.096, res(2000, 8192, 0)),
            (0.384, res(8000, 32768, 0)),
            (1.006, res(4000, 16384, 1)),
            (32.77, res(96000, 786432, 8)),
        ] {
            let r = Rates::of_node(price, &cap);
            assert!((r.hourly(&cap) - price).abs() < 1e-12, "{price}: {r:?}");
            // OpenCost's proportions: a vCPU costs 0.031611/0.004237 GiB of memory.
            assert!(
                (r.usd_per_core_hour / r.usd_per_gib_hour
                    - CPU_USD_PER_CORE_HOUR / RAM_USD_PER_GIB_HOUR)
                    .abs()
                    < 1e-9
            );
        }
        // m5.large ($0.096/h, 2 vCPU, 8 GiB): 2·7.4607 + 8 = 22.921 GiB-units, so a GiB-hour
        // is $0.0041883 and a vCPU-hour $0.031248.
        let r = Rates::of_node(0.096, &res(2000, 8192, 0));
        assert!((r.usd_per_gib_hour - 0.096 / (2.0 * 0.031611 / 0.004237 + 8.0)).abs() < 1e-15);
        assert_eq!(
            Rates::of_node(1.0, &Resources::ZERO).hourly(&res(1000, 1, 0)),
            0.0
        );
    }

    #[test]
    fn lines_add_up_to_the_node_cost() {
        let mut l = Ledger::default();
        let (web, batch) = (Sym::new("web"), Sym::new("batch"));
        let a = l.key(web, Some(Sym::new("frontend")));
        let b = l.key(batch, None);
        assert_eq!(l.key(web, Some(Sym::new("frontend"))), a);
        let cap = res(2000, 8192, 0);
        let agent = l.key(Sym::new("kube-system"), Some(Sym::new("node-agent")));
        let mut s = NodeShares::default();
        s.add(agent, &res(100, 128, 0));
        s.add(a, &res(500, 1024, 0));
        s.add(a, &res(500, 1024, 0));
        s.add(b, &res(250, 512, 0));
        l.charge(1_800_000, 0.096, &cap, &s);
        s.remove(a, &res(500, 1024, 0));
        l.charge(1_800_000, 0.096, &cap, &s);
        let out = l.finish();
        let total: f64 = out.by_namespace.values().sum();
        assert!((total - 0.096).abs() < 1e-12, "{out:?}");
        let by_owner: f64 = out.by_owner.values().sum();
        assert!((by_owner - 0.096).abs() < 1e-12);
        let r = Rates::of_node(0.096, &cap);
        // web: 1 core + 2 GiB for half an hour, then half of that for the other half.
        let web_cost = r.hourly(&res(1000, 2048, 0)) * 0.5 + r.hourly(&res(500, 1024, 0)) * 0.5;
        assert!((out.by_namespace["web"] - web_cost).abs() < 1e-12);
        assert_eq!(
            out.by_owner.keys().collect::<Vec<_>>(),
            [
                "(idle)",
                "batch/(none)",
                "kube-system/node-agent",
                "web/frontend"
            ]
        );
        let web_row = out.rows.iter().find(|r| r.namespace == "web").unwrap();
        assert!((web_row.cpu_core_hours - 0.75).abs() < 1e-12);
        assert!((web_row.memory_gib_hours - 1.5).abs() < 1e-12);
        assert!((web_row.pod_hours - 1.5).abs() < 1e-12);
        // The DaemonSet's pod is charged its requests in its namespace for the whole hour.
        let agent_row = out
            .rows
            .iter()
            .find(|r| r.namespace == "kube-system")
            .unwrap();
        assert!((agent_row.cpu_core_hours - 0.1).abs() < 1e-12);
        assert!((agent_row.cost - r.hourly(&res(100, 128, 0))).abs() < 1e-12);
        // (idle): the rest, the node's reservations included.
        let idle = out.rows.last().unwrap();
        assert_eq!(idle.namespace, IDLE);
        let used = web_cost + out.by_namespace["batch"] + agent_row.cost;
        assert!((idle.cost - (0.096 - used)).abs() < 1e-12);
    }
}
