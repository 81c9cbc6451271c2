//! kube-scheduler: binds pods to Ready nodes. Karpenter never binds pods; this actor does, with
//! its own filters and scoring, so pods may land elsewhere than Karpenter planned.
//!
//! Owns: the filter (taints NoSchedule/NoExecute, node selector and required node affinity,
//! resources, host ports, required pod (anti-)affinity, DoNotSchedule topology spread) and the
//! scoring (LeastAllocated or MostAllocated over cpu and memory; ties by node name).

use super::{Engine, Node, NodeState, Scoring};
use crate::labels::{self, Sym};
use crate::model::{Effect, PodInfo, SpreadConstraint, WhenUnsatisfiable, label_value};
use crate::requirements::Requirements;
use crate::resources::ResourceName;
use rustc_hash::{FxHashMap, FxHashSet};

/// kube-scheduler bookkeeping.
#[derive(Debug, Default)]
pub struct KubeState {
    /// Requirements of each node's labels, cached by node index.
    node_reqs: FxHashMap<usize, Requirements>,
    /// A flat copy of every node's free and allocatable cpu/memory/pods, for the fast scan of
    /// pods that only need resources.
    flat: Vec<KNode>,
    /// Ready nodes bucketed by ⌊50 × (free cpu fraction + free memory fraction)⌋, the most a
    /// node's LeastAllocated score can be: a search from the top bucket stops at the first
    /// bucket below the best score found.
    buckets: Vec<Vec<(u32, KNode)>>,
    /// Per bucket: upper bounds of the members' free cpu and memory, and whether they may be
    /// stale (a member with the maximum left); recomputed when next read.
    bucket_max: Vec<(i64, i64, bool)>,
    /// Per bucket: the largest allocatable cpu and memory ever filed there (an upper bound),
    /// which bounds how little a pod's own requests can lower a member's score.
    bucket_alloc: Vec<(i64, i64)>,
    /// Per node: (bucket, index in bucket), bucket = `NO_BUCKET` when not filed.
    pos: Vec<(u8, u32)>,
}

const NO_BUCKET: u8 = u8::MAX;

/// One node as the fast path sees it.
#[derive(Debug, Clone, Copy, Default)]
struct KNode {
    /// Ready, and no NoSchedule/NoExecute taint and no host port in use: a plain pod fits on
    /// resources alone. Nodes that are Ready but not simple take the full filter.
    simple: bool,
    ready: bool,
    free_cpu: i64,
    free_mem: i64,
    free_pods: i64,
    alloc_cpu: i64,
    alloc_mem: i64,
    /// 50 / allocatable, for a cheap upper estimate of the score.
    inv_cpu: f64,
    inv_mem: f64,
    /// The first 16 bytes of the node name, big-endian: orders names without the interner.
    name_key: u128,
}

fn name_key(name: &str) -> u128 {
    let mut b = [0u8; 16];
    for (i, c) in name.bytes().take(16).enumerate() {
        b[i] = c;
    }
    u128::from_be_bytes(b)
}

impl KubeState {
    /// Re-files a node after its usage, taints or readiness changed.
    pub(super) fn reindex(&mut self, nodes: &[Node], node: usize) {
        if self.flat.len() < nodes.len() {
            self.flat.resize(nodes.len(), KNode::default());
        }
        if self.buckets.is_empty() {
            self.buckets = vec![Vec::new(); 101];
            self.bucket_max = vec![(0, 0, false); 101];
            self.bucket_alloc = vec![(0, 0); 101];
        }
        if self.pos.len() < nodes.len() {
            self.pos.resize(nodes.len(), (NO_BUCKET, 0));
        }
        let (b, i) = self.pos[node];
        if b != NO_BUCKET {
            let bucket = &mut self.buckets[b as usize];
            let gone = bucket.swap_remove(i as usize);
            let m = &mut self.bucket_max[b as usize];
            if gone.1.free_cpu >= m.0 || gone.1.free_mem >= m.1 {
                m.2 = true;
            }
            if let Some(moved) = bucket.get(i as usize) {
                self.pos[moved.0 as usize].1 = i;
            }
            self.pos[node] = (NO_BUCKET, 0);
        }
        let n = &nodes[node];
        let ready = n.state == NodeState::Ready && n.deleting.is_none() && !n.in_command;
        if ready {
            let frac = |free: i64, alloc: i64| {
                if alloc <= 0 {
                    0.0
                } else {
                    (free as f64 / alloc as f64).clamp(0.0, 1.0)
                }
            };
            let ub = 50.0
                * (frac(n.allocatable.cpu() - n.used.cpu(), n.allocatable.cpu())
                    + frac(
                        n.allocatable.memory() - n.used.memory(),
                        n.allocatable.memory(),
                    ));
            // Round up so float error can only widen the search.
            let b = (ub + 1e-9).ceil().clamp(0.0, 100.0) as u8;
            self.pos[node] = (b, self.buckets[b as usize].len() as u32);
        }
        self.flat[node] = KNode {
            ready,
            simple: ready
                && n.host_ports.is_empty()
                && n.taints
                    .iter()
                    .all(|t| t.effect == Effect::PreferNoSchedule),
            free_cpu: n.allocatable.cpu() - n.used.cpu(),
            free_mem: n.allocatable.memory() - n.used.memory(),
            free_pods: n.allocatable.get(ResourceName::Pods) - n.used.get(ResourceName::Pods),
            alloc_cpu: n.allocatable.cpu(),
            alloc_mem: n.allocatable.memory(),
            inv_cpu: if n.allocatable.cpu() > 0 {
                50.0 / n.allocatable.cpu() as f64
            } else {
                0.0
            },
            inv_mem: if n.allocatable.memory() > 0 {
                50.0 / n.allocatable.memory() as f64
            } else {
                0.0
            },
            name_key: name_key(n.name.as_str()),
        };
        let (b, _) = self.pos[node];
        if b != NO_BUCKET {
            let k = self.flat[node];
            self.buckets[b as usize].push((node as u32, k));
            let m = &mut self.bucket_max[b as usize];
            m.0 = m.0.max(k.free_cpu);
            m.1 = m.1.max(k.free_mem);
            let a = &mut self.bucket_alloc[b as usize];
            a.0 = a.0.max(k.alloc_cpu);
            a.1 = a.1.max(k.alloc_mem);
        }
    }

    /// Whether some member of bucket `b` may have `cpu` and `mem` free.
    fn bucket_may_fit(&mut self, b: usize, cpu: i64, mem: i64) -> bool {
        let m = self.bucket_max[b];
        if m.2 {
            let (mut c, mut me) = (0, 0);
            for (_, k) in &self.buckets[b] {
                c = c.max(k.free_cpu);
                me = me.max(k.free_mem);
            }
            self.bucket_max[b] = (c, me, false);
            return cpu <= c && mem <= me;
        }
        cpu <= m.0 && mem <= m.1
    }
}

/// `x × 100 / d` without overflow for milli-byte amounts.
fn mul_div_100(x: i64, d: i64) -> i64 {
    match x.checked_mul(100) {
        Some(v) => v / d,
        None => (x as i128 * 100 / d as i128) as i64,
    }
}

fn node_label(n: &Node, key: Sym) -> Option<Sym> {
    if key == labels::HOSTNAME {
        return Some(n.name);
    }
    label_value(&n.labels, key)
}

impl Engine<'_> {
    fn node_reqs(&mut self, idx: usize) -> &Requirements {
        let n = &self.nodes[idx];
        self.kube
            .node_reqs
            .entry(idx)
            .or_insert_with(|| Requirements::from_labels(&n.labels))
    }

    /// Static filters that do not depend on other pods: Ready, taints, node affinity,
    /// resources, host ports.
    fn kube_static_fit(&mut self, pod: &PodInfo, idx: usize) -> bool {
        let n = &self.nodes[idx];
        if n.state != NodeState::Ready {
            return false;
        }
        let c = &pod.constraints;
        for t in &n.taints {
            if t.effect == Effect::PreferNoSchedule {
                continue;
            }
            if !c.tolerations.iter().any(|tol| tol.tolerates(t)) {
                return false;
            }
        }
        if !pod.requests.fits_with(&n.used, &n.allocatable) {
            return false;
        }
        if c.host_ports
            .iter()
            .any(|p| n.host_ports.iter().any(|q| p.conflicts(q)))
        {
            return false;
        }
        if c.node_selector
            .iter()
            .any(|(k, v)| node_label(n, *k) != Some(*v))
        {
            return false;
        }
        if !c.required_terms.is_empty() {
            let terms = c.required_terms.clone();
            let reqs = self.node_reqs(idx);
            if !terms.iter().any(|t| reqs.compatible(t, false).is_ok()) {
                return false;
            }
        }
        true
    }

    /// Pods bound per topology domain of `key` that `sel` selects.
    fn domain_counts(
        &self,
        key: Sym,
        pred: &dyn Fn(&PodInfo) -> bool,
        node_ok: &dyn Fn(&Node) -> bool,
    ) -> FxHashMap<Sym, i64> {
        let mut out: FxHashMap<Sym, i64> = FxHashMap::default();
        for n in &self.nodes {
            if !matches!(n.state, NodeState::Ready | NodeState::Launched) || !node_ok(n) {
                continue;
            }
            let Some(d) = node_label(n, key) else {
                continue;
            };
            let e = out.entry(d).or_insert(0);
            for pid in &n.pods {
                if let Some(p) = self.pods.get(pid)
                    && pred(&p.arrival.info)
                {
                    *e += 1;
                }
            }
        }
        out
    }

    /// Inter-pod and spread filters.
    fn kube_topology_fit(&mut self, pod: &PodInfo, idx: usize) -> bool {
        let c = pod.constraints.clone();
        let n = &self.nodes[idx];
        let ns_ok = |term_ns: &[Sym], all: bool, other: &PodInfo| {
            all || if term_ns.is_empty() {
                other.namespace == pod.namespace
            } else {
                term_ns.contains(&other.namespace)
            }
        };
        for term in &c.anti_required {
            let Some(d) = node_label(n, term.key) else {
                continue;
            };
            let Some(sel) = &term.selector else { continue };
            let counts = self.domain_counts(
                term.key,
                &|o| ns_ok(&term.namespaces, term.all_namespaces, o) && sel.matches(&o.labels),
                &|_| true,
            );
            if counts.get(&d).copied().unwrap_or(0) > 0 {
                return false;
            }
        }
        // Existing pods' required anti-affinity against this pod (symmetry).
        if self.anti_affinity_bound > 0 {
            for m in &self.nodes {
                if !matches!(m.state, NodeState::Ready | NodeState::Launched) {
                    continue;
                }
                for pid in &m.pods {
                    let Some(o) = self.pods.get(pid) else {
                        continue;
                    };
                    for term in &o.arrival.info.constraints.anti_required {
                        let Some(sel) = &term.selector else { continue };
                        let nsok = term.all_namespaces
                            || if term.namespaces.is_empty() {
                                pod.namespace == o.arrival.info.namespace
                            } else {
                                term.namespaces.contains(&pod.namespace)
                            };
                        if nsok && sel.matches(&pod.labels) {
                            let (a, b) = (node_label(m, term.key), node_label(n, term.key));
                            if a.is_some() && a == b {
                                return false;
                            }
                        }
                    }
                }
            }
        }
        for term in &c.affinity_required {
            let Some(sel) = &term.selector else {
                return false;
            };
            let counts = self.domain_counts(
                term.key,
                &|o| ns_ok(&term.namespaces, term.all_namespaces, o) && sel.matches(&o.labels),
                &|_| true,
            );
            let here = node_label(n, term.key)
                .and_then(|d| counts.get(&d).copied())
                .unwrap_or(0);
            if here == 0 {
                let any = counts.values().any(|v| *v > 0);
                let self_match =
                    ns_ok(&term.namespaces, term.all_namespaces, pod) && sel.matches(&pod.labels);
                if any || !self_match || node_label(n, term.key).is_none() {
                    return false;
                }
            }
        }
        for s in c
            .spreads
            .iter()
            .filter(|s| s.when == WhenUnsatisfiable::DoNotSchedule)
        {
            if !self.spread_ok(pod, s, idx) {
                return false;
            }
        }
        true
    }

    fn spread_ok(&mut self, pod: &PodInfo, s: &SpreadConstraint, idx: usize) -> bool {
        let Some(sel) = s.selector.clone() else {
            return true;
        };
        let mut sel = sel;
        for k in &s.match_label_keys {
            if let Some(v) = label_value(&pod.labels, *k) {
                sel.exprs.push((*k, crate::model::SelOp::In, vec![v]));
            }
        }
        let Some(d) = node_label(&self.nodes[idx], s.key) else {
            return false;
        };
        let c = pod.constraints.clone();
        let honor = s.honor_affinity;
        let node_ok = |n: &Node| {
            if !honor {
                return true;
            }
            if c.node_selector
                .iter()
                .any(|(k, v)| node_label(n, *k) != Some(*v))
            {
                return false;
            }
            if c.required_terms.is_empty() {
                return true;
            }
            let r = Requirements::from_labels(&n.labels);
            c.required_terms
                .iter()
                .any(|t| r.compatible(t, false).is_ok())
        };
        let counts = self.domain_counts(
            s.key,
            &|o| o.namespace == pod.namespace && sel.matches(&o.labels),
            &node_ok,
        );
        let min = if s.min_domains.is_some_and(|m| (counts.len() as i32) < m) {
            0
        } else {
            counts.values().copied().min().unwrap_or(0)
        };
        let here = counts.get(&d).copied().unwrap_or(0);
        let self_match = i64::from(sel.matches(&pod.labels));
        here + self_match - min <= i64::from(s.max_skew)
    }

    fn kube_fit(&mut self, pod: &PodInfo, idx: usize) -> bool {
        self.kube_static_fit(pod, idx)
            && (!pod.constraints.has_topology() && self.anti_affinity_bound == 0
                || self.kube_topology_fit(pod, idx))
    }

    fn kube_score(&self, pod: &PodInfo, idx: usize) -> i64 {
        let n = &self.nodes[idx];
        let mut total = 0;
        for r in [ResourceName::Cpu, ResourceName::Memory] {
            let alloc = n.allocatable.get(r);
            if alloc <= 0 {
                continue;
            }
            let requested = n.used.get(r) + pod.requests.get(r);
            let s = match self.setup.settings.scoring {
                // Kubernetes' integer score: (allocatable − requested) × 100 / allocatable.
                Scoring::LeastAllocated => mul_div_100((alloc - requested).max(0), alloc),
                Scoring::MostAllocated => mul_div_100(requested.clamp(0, alloc), alloc),
            };
            total += s;
        }
        total / 2
    }

    /// The best Ready node for a pod: the highest score among every Ready node that fits, ties
    /// by node name.
    pub(super) fn kube_find_node(&mut self, id: u32) -> Option<usize> {
        let pod = self.pods.get(&id)?.arrival.info.clone();
        let mut best: Option<(i64, usize)> = None;
        let consider = |this: &mut Self, best: &mut Option<(i64, usize)>, i: usize| {
            if !this.kube_fit(&pod, i) {
                return;
            }
            let s = this.kube_score(&pod, i);
            let better = match *best {
                None => true,
                Some((bs, bi)) => {
                    s > bs
                        || (s == bs && this.nodes[i].name.as_str() < this.nodes[bi].name.as_str())
                }
            };
            if better {
                *best = Some((s, i));
            }
        };
        // Fast path: a pod whose only needs are resources (and, on untainted nodes, nothing
        // else) is checked against the flat arrays; other nodes take the full filter.
        let c = &pod.constraints;
        let plain = c.node_selector.is_empty()
            && c.required_terms.is_empty()
            && c.host_ports.is_empty()
            && !c.has_topology()
            && self.anti_affinity_bound == 0
            && pod.requests.0[3..].iter().all(|v| *v == 0);
        if plain {
            let (rc, rm, rp) = (
                pod.requests.cpu(),
                pod.requests.memory(),
                pod.requests.get(ResourceName::Pods),
            );
            let least = self.setup.settings.scoring == Scoring::LeastAllocated;
            // LeastAllocated: buckets from the top, stopping below the best score; otherwise
            // every Ready node.
            let order: Vec<u32> = if least {
                Vec::new()
            } else {
                (0..self.kube.flat.len() as u32)
                    .filter(|i| self.kube.flat[*i as usize].ready)
                    .collect()
            };
            let mut bucket = 100usize;
            let mut k_in_bucket = 0usize;
            let mut idx_in_order = 0usize;
            loop {
                let (i, k) = if least {
                    if let Some((bs, _)) = best
                        && (bucket as i64) < bs
                    {
                        break;
                    }
                    // A member of bucket b scores at most b − 50·(rc/alloc_cpu + rm/alloc_mem),
                    // and the bucket's largest allocatable bounds that penalty from below.
                    let below_best = |this: &Self| {
                        best.is_some_and(|(bs, _)| {
                            let (ac, am) = this.kube.bucket_alloc[bucket];
                            let pen = if ac > 0 && am > 0 {
                                50.0 * (rc as f64 / ac as f64 + rm as f64 / am as f64)
                            } else {
                                0.0
                            };
                            (bucket as f64 - pen + 1e-6) < bs as f64
                        })
                    };
                    if k_in_bucket == 0
                        && bucket < self.kube.buckets.len()
                        && (below_best(self) || !self.kube.bucket_may_fit(bucket, rc, rm))
                    {
                        // No member can hold the pod (non-simple members included: their
                        // free resources are bounded the same way).
                        if bucket == 0 {
                            break;
                        }
                        bucket -= 1;
                        continue;
                    }
                    match self
                        .kube
                        .buckets
                        .get(bucket)
                        .and_then(|b| b.get(k_in_bucket))
                    {
                        Some(e) => {
                            k_in_bucket += 1;
                            (e.0 as usize, e.1)
                        }
                        None => {
                            if bucket == 0 {
                                break;
                            }
                            bucket -= 1;
                            k_in_bucket = 0;
                            continue;
                        }
                    }
                } else {
                    match order.get(idx_in_order) {
                        Some(i) => {
                            idx_in_order += 1;
                            (*i as usize, self.kube.flat[*i as usize])
                        }
                        None => break,
                    }
                };
                if !k.ready {
                    continue;
                }
                if !k.simple {
                    consider(self, &mut best, i);
                    continue;
                }
                if rc > k.free_cpu || rm > k.free_mem || rp > k.free_pods {
                    continue;
                }
                // The integer score never exceeds ⌊estimate⌋ (each term is floored): a node whose
                // bound is below the best, or equal to it with a later name, cannot win.
                if least && let Some((bs, bi)) = best {
                    // Both terms are non-negative here (the pod fits), so truncation is floor.
                    let bound = ((k.free_cpu - rc) as f64 * k.inv_cpu
                        + (k.free_mem - rm) as f64 * k.inv_mem
                        + 1e-6) as i64;
                    if bound < bs {
                        continue;
                    }
                    if bound == bs {
                        let bk = self.kube.flat[bi].name_key;
                        if k.name_key > bk
                            || (k.name_key == bk
                                && self.nodes[i].name.as_str() >= self.nodes[bi].name.as_str())
                        {
                            continue;
                        }
                    }
                }
                let score = |free: i64, req: i64, alloc: i64| {
                    if alloc <= 0 {
                        0
                    } else if least {
                        mul_div_100((free - req).max(0), alloc)
                    } else {
                        mul_div_100((alloc - free + req).clamp(0, alloc), alloc)
                    }
                };
                let s =
                    (score(k.free_cpu, rc, k.alloc_cpu) + score(k.free_mem, rm, k.alloc_mem)) / 2;
                let better = match best {
                    None => true,
                    Some((bs, bi)) => {
                        s > bs
                            || (s == bs && {
                                let bk = self.kube.flat[bi].name_key;
                                k.name_key < bk
                                    || (k.name_key == bk
                                        && self.nodes[i].name.as_str()
                                            < self.nodes[bi].name.as_str())
                            })
                    }
                };
                if better {
                    best = Some((s, i));
                }
            }
        } else {
            for i in 0..self.nodes.len() {
                if self.nodes[i].state == NodeState::Ready {
                    consider(self, &mut best, i);
                }
            }
        }
        best.map(|(_, i)| i)
    }

    /// Retries pending pods after capacity appeared on `changed` (a node turned Ready or a pod
    /// left it). A plain pod could not fit any node before, and only `changed` gained room, so
    /// it is tried there only; a pod with topology constraints is tried on every node.
    pub(super) fn kube_retry(&mut self, changed: Option<usize>) {
        if self.pending.is_empty() {
            return;
        }
        use std::ops::Bound::{Excluded, Unbounded};
        let any_constrained = self.anti_affinity_bound > 0
            || self.pending.iter().any(|(_, _, pid)| {
                self.pods
                    .get(pid)
                    .is_some_and(|p| p.arrival.info.constraints.has_topology())
            });
        let mut failed_classes: FxHashSet<(usize, crate::resources::Resources)> =
            FxHashSet::default();
        let mut cursor = self.pending.iter().next().copied();
        while let Some(key) = cursor {
            cursor = self
                .pending
                .range((Excluded(key), Unbounded))
                .next()
                .copied();
            let id = key.2;
            let Some(p) = self.pods.get(&id) else {
                continue;
            };
            let pod = p.arrival.info.clone();
            let constrained = pod.constraints.has_topology() || self.anti_affinity_bound > 0;
            let target = match changed {
                Some(c) if !constrained => {
                    let class = (
                        std::sync::Arc::as_ptr(&pod.constraints) as usize,
                        pod.requests,
                    );
                    if failed_classes.contains(&class) {
                        None
                    } else if self.kube_fit(&pod, c) {
                        Some(c)
                    } else {
                        failed_classes.insert(class);
                        None
                    }
                }
                _ => self.kube_find_node(id),
            };
            if let Some(n) = target {
                self.pending_remove(&key);
                self.bind(id, n);
            } else if let Some(c) = changed
                && !any_constrained
            {
                // Stop once the node cannot hold even a minimal pod.
                let n = &self.nodes[c];
                let free = n.allocatable.sub(&n.used);
                let (min_cpu, min_mem) = self.pending_min();
                if free.get(ResourceName::Pods) < 1000
                    || free.cpu() < min_cpu
                    || free.memory() < min_mem
                    || n.state != NodeState::Ready
                {
                    break;
                }
            }
        }
    }
}
