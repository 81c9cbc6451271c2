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
}

impl KubeState {
    pub(super) fn on_bind(&mut self, _nodes: &[Node], _node: usize) {}
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
        self.kube.node_reqs.entry(idx).or_insert_with(|| Requirements::from_labels(&n.labels))
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
        if c.host_ports.iter().any(|p| n.host_ports.iter().any(|q| p.conflicts(q))) {
            return false;
        }
        if c.node_selector.iter().any(|(k, v)| node_label(n, *k) != Some(*v)) {
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
    fn domain_counts(&self, key: Sym, pred: &dyn Fn(&PodInfo) -> bool, node_ok: &dyn Fn(&Node) -> bool) -> FxHashMap<Sym, i64> {
        let mut out: FxHashMap<Sym, i64> = FxHashMap::default();
        for n in &self.nodes {
            if !matches!(n.state, NodeState::Ready | NodeState::Launched) || !node_ok(n) {
                continue;
            }
            let Some(d) = node_label(n, key) else { continue };
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
        let ns_ok = |term_ns: &[Sym], all: bool, other: &PodInfo| all || if term_ns.is_empty() { other.namespace == pod.namespace } else { term_ns.contains(&other.namespace) };
        for term in &c.anti_required {
            let Some(d) = node_label(n, term.key) else { continue };
            let Some(sel) = &term.selector else { continue };
            let counts = self.domain_counts(term.key, &|o| ns_ok(&term.namespaces, term.all_namespaces, o) && sel.matches(&o.labels), &|_| true);
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
                    let Some(o) = self.pods.get(pid) else { continue };
                    for term in &o.arrival.info.constraints.anti_required {
                        let Some(sel) = &term.selector else { continue };
                        let nsok = term.all_namespaces
                            || if term.namespaces.is_empty() { pod.namespace == o.arrival.info.namespace } else { term.namespaces.contains(&pod.namespace) };
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
            let Some(sel) = &term.selector else { return false };
            let counts = self.domain_counts(term.key, &|o| ns_ok(&term.namespaces, term.all_namespaces, o) && sel.matches(&o.labels), &|_| true);
            let here = node_label(n, term.key).and_then(|d| counts.get(&d).copied()).unwrap_or(0);
            if here == 0 {
                let any = counts.values().any(|v| *v > 0);
                let self_match = ns_ok(&term.namespaces, term.all_namespaces, pod) && sel.matches(&pod.labels);
                if any || !self_match || node_label(n, term.key).is_none() {
                    return false;
                }
            }
        }
        for s in c.spreads.iter().filter(|s| s.when == WhenUnsatisfiable::DoNotSchedule) {
            if !self.spread_ok(pod, s, idx) {
                return false;
            }
        }
        true
    }

    fn spread_ok(&mut self, pod: &PodInfo, s: &SpreadConstraint, idx: usize) -> bool {
        let Some(sel) = s.selector.clone() else { return true };
        let mut sel = sel;
        for k in &s.match_label_keys {
            if let Some(v) = label_value(&pod.labels, *k) {
                sel.exprs.push((*k, crate::model::SelOp::In, vec![v]));
            }
        }
        let Some(d) = node_label(&self.nodes[idx], s.key) else { return false };
        let c = pod.constraints.clone();
        let honor = s.honor_affinity;
        let node_ok = |n: &Node| {
            if !honor {
                return true;
            }
            if c.node_selector.iter().any(|(k, v)| node_label(n, *k) != Some(*v)) {
                return false;
            }
            if c.required_terms.is_empty() {
                return true;
            }
            let r = Requirements::from_labels(&n.labels);
            c.required_terms.iter().any(|t| r.compatible(t, false).is_ok())
        };
        let counts = self.domain_counts(s.key, &|o| o.namespace == pod.namespace && sel.matches(&o.labels), &node_ok);
        let min = if s.min_domains.is_some_and(|m| (counts.len() as i32) < m) { 0 } else { counts.values().copied().min().unwrap_or(0) };
        let here = counts.get(&d).copied().unwrap_or(0);
        let self_match = i64::from(sel.matches(&pod.labels));
        here + self_match - min <= i64::from(s.max_skew)
    }

    fn kube_fit(&mut self, pod: &PodInfo, idx: usize) -> bool {
        self.kube_static_fit(pod, idx) && (!pod.constraints.has_topology() && self.anti_affinity_bound == 0 || self.kube_topology_fit(pod, idx))
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
                Scoring::LeastAllocated => ((alloc - requested).max(0) as i128 * 100 / alloc as i128) as i64,
                Scoring::MostAllocated => (requested.min(alloc) as i128 * 100 / alloc as i128) as i64,
            };
            total += s;
        }
        total / 2
    }

    /// The best Ready node for a pod, over every node.
    pub(super) fn kube_find_node(&mut self, id: u32) -> Option<usize> {
        let pod = self.pods.get(&id)?.arrival.info.clone();
        let mut best: Option<(i64, usize)> = None;
        for i in 0..self.nodes.len() {
            if self.nodes[i].state != NodeState::Ready || !self.kube_fit(&pod, i) {
                continue;
            }
            let s = self.kube_score(&pod, i);
            let better = match best {
                None => true,
                Some((bs, bi)) => s > bs || (s == bs && self.nodes[i].name.as_str() < self.nodes[bi].name.as_str()),
            };
            if better {
                best = Some((s, i));
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
            || self.pending.iter().any(|(_, _, pid)| self.pods.get(pid).is_some_and(|p| p.arrival.info.constraints.has_topology()));
        let mut failed_classes: FxHashSet<(usize, crate::resources::Resources)> = FxHashSet::default();
        let mut cursor = self.pending.iter().next().copied();
        while let Some(key) = cursor {
            cursor = self.pending.range((Excluded(key), Unbounded)).next().copied();
            let id = key.2;
            let Some(p) = self.pods.get(&id) else { continue };
            let pod = p.arrival.info.clone();
            let constrained = pod.constraints.has_topology() || self.anti_affinity_bound > 0;
            let target = match changed {
                Some(c) if !constrained => {
                    let class = (std::sync::Arc::as_ptr(&pod.constraints) as usize, pod.requests);
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
                self.pending.remove(&key);
                self.bind(id, n);
            } else if let Some(c) = changed
                && !any_constrained
            {
                // Stop once the node cannot hold even a minimal pod.
                let n = &self.nodes[c];
                let free = n.allocatable.sub(&n.used);
                if free.get(ResourceName::Pods) < 1000 || free.cpu() <= 0 || n.state != NodeState::Ready {
                    break;
                }
            }
        }
    }
}
