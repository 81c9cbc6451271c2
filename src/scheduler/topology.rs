//! Topology spread, pod affinity and pod anti-affinity during one scheduling pass
//! (`core: pkg/controllers/provisioning/scheduling/topology.go`, `topologygroup.go`,
//! `topologynodefilter.go`, `topologydomaingroup.go`).
//!
//! Owns: topology groups (shared by pods with identical constraints), their domain counts, the
//! inverse anti-affinity groups of pods that are already placed, and the domain choice for a pod
//! on a candidate node. May not: know instance types or mutate cluster state.

use super::SimRng;
use crate::labels::{self, Sym};
use crate::model::{
    AffinityTerm, LabelSelector, PodConstraints, PodInfo, SpreadConstraint, Taint, Toleration,
    untolerated,
};
use crate::requirements::{Op, Requirement, Requirements};
use rand::RngExt;
use rustc_hash::FxHashMap;

/// The three kinds of topology group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopoKind {
    Spread,
    Affinity,
    AntiAffinity,
}

impl TopoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TopoKind::Spread => "topology spread",
            TopoKind::Affinity => "pod affinity",
            TopoKind::AntiAffinity => "pod anti-affinity",
        }
    }
}

/// Which namespaces a group counts pods in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Namespaces {
    All,
    List(Vec<Sym>),
}

impl Namespaces {
    fn has(&self, ns: Sym) -> bool {
        match self {
            Namespaces::All => true,
            Namespaces::List(v) => v.contains(&ns),
        }
    }
}

/// Which nodes a spread constraint counts (`TopologyNodeFilter`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct NodeFilter {
    /// OR-alternatives: nodeSelector ∩ each required term. Empty with `honor_affinity` false.
    pub requirements: Vec<Requirements>,
    pub honor_affinity: bool,
    pub honor_taints: bool,
    pub tolerations: Vec<Toleration>,
}

impl NodeFilter {
    fn for_pod(c: &PodConstraints, s: &SpreadConstraint) -> NodeFilter {
        let base = Requirements::from_labels(&c.node_selector);
        let requirements = if c.required_terms.is_empty() {
            vec![base]
        } else {
            c.required_terms.iter().map(|t| base.merged(t)).collect()
        };
        NodeFilter {
            requirements,
            honor_affinity: s.honor_affinity,
            honor_taints: s.honor_taints,
            tolerations: c.tolerations.clone(),
        }
    }

    /// `Matches(taints, requirements)`; well-known labels may be undefined when
    /// `allow_undefined` (new NodeClaims).
    pub fn matches(&self, taints: &[Taint], reqs: &Requirements, allow_undefined: bool) -> bool {
        let aff = !self.honor_affinity
            || self.requirements.is_empty()
            || self
                .requirements
                .iter()
                .any(|r| reqs.compatible(r, allow_undefined).is_ok());
        let tai = !self.honor_taints || untolerated(taints, &self.tolerations).is_none();
        aff && tai
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    kind: TopoKind,
    key: Sym,
    namespaces: Namespaces,
    max_skew: i32,
    min_domains: Option<i32>,
    filter: Option<NodeFilter>,
    selector: Option<LabelSelector>,
}

/// One topology group.
#[derive(Debug, Clone)]
pub struct TopoGroup {
    pub kind: TopoKind,
    pub key: Sym,
    max_skew: i32,
    min_domains: Option<i32>,
    namespaces: Namespaces,
    selector: Option<LabelSelector>,
    filter: Option<NodeFilter>,
    /// Domain → pod count. Domains are listed in `order` for deterministic iteration.
    counts: FxHashMap<Sym, i32>,
    order: Vec<Sym>,
    nonzero: usize,
    /// For inverse groups: the ids of pods that own the group.
    owners: Vec<u32>,
}

impl TopoGroup {
    fn new(k: &GroupKey) -> TopoGroup {
        TopoGroup {
            kind: k.kind,
            key: k.key,
            max_skew: k.max_skew,
            min_domains: k.min_domains,
            namespaces: k.namespaces.clone(),
            selector: k.selector.clone(),
            filter: k.filter.clone(),
            counts: FxHashMap::default(),
            order: Vec::new(),
            nonzero: 0,
            owners: Vec::new(),
        }
    }

    fn selects(&self, ns: Sym, labels: &[(Sym, Sym)]) -> bool {
        self.namespaces.has(ns) && self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }

    fn counts_pod(
        &self,
        pod: &PodInfo,
        taints: &[Taint],
        reqs: &Requirements,
        allow_undefined: bool,
    ) -> bool {
        self.selects(pod.namespace, &pod.labels)
            && self
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(taints, reqs, allow_undefined))
    }

    fn register(&mut self, d: Sym) {
        if let std::collections::hash_map::Entry::Vacant(e) = self.counts.entry(d) {
            e.insert(0);
            self.order.push(d);
        }
    }

    fn record(&mut self, d: Sym) {
        let c = self.counts.entry(d).or_insert_with(|| {
            self.order.push(d);
            0
        });
        if *c == 0 {
            self.nonzero += 1;
        }
        *c += 1;
    }

    fn count(&self, d: Sym) -> i32 {
        self.counts.get(&d).copied().unwrap_or(0)
    }

    fn domain_min_count(&self, pod_domains: &Requirement) -> i32 {
        if self.key == labels::HOSTNAME {
            return 0;
        }
        let mut min = i32::MAX;
        let mut supported = 0;
        for d in &self.order {
            if pod_domains.has(*d) {
                supported += 1;
                min = min.min(self.counts[d]);
            }
        }
        if self.min_domains.is_some_and(|m| supported < m) {
            min = 0;
        }
        min
    }

    fn next_spread(
        &self,
        pod: &PodInfo,
        pod_domains: &Requirement,
        node_domains: &Requirement,
        rng: &mut SimRng,
    ) -> Requirement {
        let self_selecting = self.selects(pod.namespace, &pod.labels);
        if self.key == labels::HOSTNAME
            && let Some(host) = node_domains.single_value()
        {
            let count = self.count(host) + i32::from(self_selecting);
            return if count <= self.max_skew {
                Requirement::single(self.key, host)
            } else {
                Requirement::does_not_exist(self.key)
            };
        }
        let min = self.domain_min_count(pod_domains);
        let mut best: Vec<Sym> = Vec::new();
        let mut best_count = i32::MAX;
        let mut consider = |d: Sym, count: i32| {
            let c = count + i32::from(self_selecting);
            if c - min <= self.max_skew {
                if c < best_count {
                    best_count = c;
                    best.clear();
                    best.push(d);
                } else if c == best_count {
                    best.push(d);
                }
            }
        };
        if node_domains.operator() == Op::In {
            for d in node_domains.values() {
                if let Some(c) = self.counts.get(d) {
                    consider(*d, *c);
                }
            }
        } else {
            for d in &self.order {
                if node_domains.has(*d) {
                    consider(*d, self.counts[d]);
                }
            }
        }
        match pick(best, rng) {
            Some(d) => Requirement::single(self.key, d),
            None => Requirement::does_not_exist(self.key),
        }
    }

    fn any_compatible_pod_domain(&self, pod_domains: &Requirement) -> bool {
        self.order
            .iter()
            .any(|d| pod_domains.has(*d) && self.counts[d] > 0)
    }

    fn next_affinity(
        &self,
        pod: &PodInfo,
        pod_domains: &Requirement,
        node_domains: &Requirement,
        rng: &mut SimRng,
    ) -> Requirement {
        let bootstrap = || {
            self.selects(pod.namespace, &pod.labels)
                && (self.nonzero == 0 || !self.any_compatible_pod_domain(pod_domains))
        };
        if self.key == labels::HOSTNAME
            && let Some(host) = node_domains.single_value()
        {
            if !pod_domains.has(host) {
                return Requirement::does_not_exist(self.key);
            }
            if self.count(host) > 0 || bootstrap() {
                return Requirement::single(self.key, host);
            }
            return Requirement::does_not_exist(self.key);
        }
        let mut options: Vec<Sym> = Vec::new();
        if node_domains.operator() == Op::In {
            for d in node_domains.values() {
                if pod_domains.has(*d) && self.count(*d) > 0 {
                    options.push(*d);
                }
            }
        } else {
            for d in &self.order {
                if pod_domains.has(*d) && self.counts[d] > 0 && node_domains.has(*d) {
                    options.push(*d);
                }
            }
        }
        if !options.is_empty() {
            return Requirement::in_values(self.key, &options);
        }
        if bootstrap() {
            // Karpenter picks one arbitrary domain compatible with both sides (map order: RANDOM),
            // plus one arbitrary domain the pod allows; we draw both from the seeded stream.
            let both = pod_domains.intersection(node_domains);
            let a: Vec<Sym> = self
                .order
                .iter()
                .copied()
                .filter(|d| both.has(*d))
                .collect();
            let b: Vec<Sym> = self
                .order
                .iter()
                .copied()
                .filter(|d| pod_domains.has(*d))
                .collect();
            if let Some(d) = pick(a, rng) {
                options.push(d);
            }
            if let Some(d) = pick(b, rng)
                && !options.contains(&d)
            {
                options.push(d);
            }
            if !options.is_empty() {
                return Requirement::in_values(self.key, &options);
            }
        }
        Requirement::does_not_exist(self.key)
    }

    fn next_anti_affinity(
        &self,
        pod_domains: &Requirement,
        node_domains: &Requirement,
    ) -> Requirement {
        if self.key == labels::HOSTNAME
            && let Some(host) = node_domains.single_value()
        {
            return if self.count(host) == 0 {
                Requirement::single(self.key, host)
            } else {
                Requirement::does_not_exist(self.key)
            };
        }
        let mut options = Vec::new();
        if node_domains.operator() == Op::In {
            for d in node_domains.values() {
                if self.counts.get(d) == Some(&0) && pod_domains.has(*d) {
                    options.push(*d);
                }
            }
        } else {
            for d in &self.order {
                if self.counts[d] == 0 && node_domains.has(*d) && pod_domains.has(*d) {
                    options.push(*d);
                }
            }
        }
        if options.is_empty() {
            Requirement::does_not_exist(self.key)
        } else {
            Requirement::in_values(self.key, &options)
        }
    }
}

/// Picks one of `v` (sorted by string first, so the draw does not depend on interning order).
fn pick(mut v: Vec<Sym>, rng: &mut SimRng) -> Option<Sym> {
    match v.len() {
        0 => None,
        1 => Some(v[0]),
        n => {
            v.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            Some(v[rng.random_range(0..n)])
        }
    }
}

/// A pod already bound in the cluster, as topology counting sees it.
#[derive(Debug, Clone, Copy)]
pub struct PlacedPod<'a> {
    pub pod: &'a PodInfo,
    pub node: usize,
}

/// A node of the cluster, as topology counting sees it.
#[derive(Debug, Clone)]
pub struct TopoNode {
    pub labels: std::sync::Arc<Requirements>,
    pub taints: Vec<Taint>,
    pub hostname: Sym,
}

/// Domain universe of one topology key: domain → taint sets of the NodePools offering it.
#[derive(Debug, Clone, Default)]
pub struct DomainGroup {
    pub domains: Vec<(Sym, Vec<Vec<Taint>>)>,
}

impl DomainGroup {
    /// `TopologyDomainGroup.Insert`.
    pub fn insert(&mut self, d: Sym, taints: &[Taint]) {
        match self.domains.iter_mut().find(|(x, _)| *x == d) {
            None => self.domains.push((d, vec![taints.to_vec()])),
            Some((_, groups)) => {
                if taints.is_empty() {
                    *groups = vec![Vec::new()];
                } else if !groups[0].is_empty() {
                    groups.push(taints.to_vec());
                }
            }
        }
    }
}

/// The topology state of one pass.
pub struct Topology<'d> {
    groups: Vec<TopoGroup>,
    index: FxHashMap<GroupKey, usize>,
    inverse: Vec<TopoGroup>,
    inverse_index: FxHashMap<GroupKey, usize>,
    domain_groups: &'d FxHashMap<Sym, DomainGroup>,
    /// Cluster nodes and their bound pods, used to count domains when a group is created.
    nodes: Vec<TopoNode>,
    placed: Vec<(u32, PodInfo, usize)>,
}

impl<'d> Topology<'d> {
    /// Builds the pass's topology from the domain universe, the cluster's nodes and pods bound
    /// to them (pods of this batch excluded by the caller), tracking the inverse anti-affinity
    /// of every bound pod with required anti-affinity.
    pub fn new(
        domain_groups: &'d FxHashMap<Sym, DomainGroup>,
        nodes: Vec<TopoNode>,
        placed: Vec<(PodInfo, usize)>,
    ) -> Topology<'d> {
        let mut t = Topology {
            groups: Vec::new(),
            index: FxHashMap::default(),
            inverse: Vec::new(),
            inverse_index: FxHashMap::default(),
            domain_groups,
            nodes,
            placed: placed.into_iter().map(|(p, n)| (p.id, p, n)).collect(),
        };
        for i in 0..t.placed.len() {
            let (_, pod, node) = t.placed[i].clone();
            if !pod.constraints.anti_required.is_empty() {
                let labels = t.nodes[node].labels.clone();
                let host = t.nodes[node].hostname;
                t.add_inverse(&pod, |key| {
                    if key == labels::HOSTNAME {
                        Some(host)
                    } else {
                        labels.get(key).and_then(|r| r.single_value())
                    }
                });
            }
        }
        t
    }

    /// The kind of group `g`.
    pub fn group_kind(&self, g: usize) -> TopoKind {
        self.groups[g].kind
    }

    /// The topology key of group `g`.
    pub fn group_key(&self, g: usize) -> Sym {
        self.groups[g].key
    }

    /// True when the pass has no topology group at all (fast path for plain pods).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.inverse.is_empty()
    }

    /// True when some inverse anti-affinity group selects this pod.
    pub fn inverse_selects(&self, pod: &PodInfo) -> bool {
        self.inverse
            .iter()
            .any(|g| g.selects(pod.namespace, &pod.labels))
    }

    fn namespaces_of(pod: &PodInfo, term: &AffinityTerm) -> Namespaces {
        if term.all_namespaces {
            Namespaces::All
        } else if term.namespaces.is_empty() {
            Namespaces::List(vec![pod.namespace])
        } else {
            Namespaces::List(term.namespaces.clone())
        }
    }

    fn add_inverse(&mut self, pod: &PodInfo, domain_of: impl Fn(Sym) -> Option<Sym>) {
        for term in &pod.constraints.anti_required {
            let key = GroupKey {
                kind: TopoKind::AntiAffinity,
                key: term.key,
                namespaces: Topology::namespaces_of(pod, term),
                max_skew: i32::MAX,
                min_domains: None,
                filter: None,
                selector: term.selector.clone(),
            };
            let gi = match self.inverse_index.get(&key) {
                Some(i) => *i,
                None => {
                    let mut g = TopoGroup::new(&key);
                    self.seed_domains(&mut g, pod);
                    self.inverse.push(g);
                    self.inverse_index.insert(key, self.inverse.len() - 1);
                    self.inverse.len() - 1
                }
            };
            let g = &mut self.inverse[gi];
            if let Some(d) = domain_of(term.key) {
                g.record(d);
            }
            if !g.owners.contains(&pod.id) {
                g.owners.push(pod.id);
            }
        }
    }

    fn seed_domains(&self, g: &mut TopoGroup, pod: &PodInfo) {
        if let Some(dg) = self.domain_groups.get(&g.key) {
            let honor = g.filter.as_ref().is_some_and(|f| f.honor_taints);
            for (d, taint_sets) in &dg.domains {
                if !honor
                    || taint_sets
                        .iter()
                        .any(|ts| untolerated(ts, &pod.constraints.tolerations).is_none())
                {
                    g.register(*d);
                }
            }
        }
    }

    /// Registers the pod's own groups (`Update`) and returns their indexes.
    pub fn groups_for(&mut self, pod: &PodInfo, c: &PodConstraints) -> Vec<usize> {
        let mut out = Vec::new();
        for s in &c.spreads {
            let mut selector = s.selector.clone();
            if let Some(sel) = selector.as_mut() {
                for k in &s.match_label_keys {
                    if let Some(v) = crate::model::label_value(&pod.labels, *k) {
                        sel.exprs.push((*k, crate::model::SelOp::In, vec![v]));
                    }
                }
            }
            let key = GroupKey {
                kind: TopoKind::Spread,
                key: s.key,
                namespaces: Namespaces::List(vec![pod.namespace]),
                max_skew: s.max_skew,
                min_domains: s.min_domains,
                filter: Some(NodeFilter::for_pod(c, s)),
                selector,
            };
            out.push(self.group_index(key, pod));
        }
        let terms = c
            .affinity_required
            .iter()
            .map(|t| (TopoKind::Affinity, t))
            .chain(
                c.affinity_preferred
                    .iter()
                    .map(|(_, t)| (TopoKind::Affinity, t)),
            )
            .chain(c.anti_required.iter().map(|t| (TopoKind::AntiAffinity, t)))
            .chain(
                c.anti_preferred
                    .iter()
                    .map(|(_, t)| (TopoKind::AntiAffinity, t)),
            );
        let keys: Vec<GroupKey> = terms
            .map(|(kind, t)| GroupKey {
                kind,
                key: t.key,
                namespaces: Topology::namespaces_of(pod, t),
                max_skew: i32::MAX,
                min_domains: None,
                filter: None,
                selector: t.selector.clone(),
            })
            .collect();
        for key in keys {
            out.push(self.group_index(key, pod));
        }
        out
    }

    /// Registers a batch pod's required anti-affinity as inverse groups (before placement).
    pub fn register_batch_inverse(&mut self, pod: &PodInfo) {
        if !pod.constraints.anti_required.is_empty() {
            self.add_inverse(pod, |_| None);
        }
    }

    fn group_index(&mut self, key: GroupKey, pod: &PodInfo) -> usize {
        if let Some(i) = self.index.get(&key) {
            return *i;
        }
        let mut g = TopoGroup::new(&key);
        self.seed_domains(&mut g, pod);
        // countDomains: nodes that carry the key (and pass the filter) are domains; bound pods
        // selected by the group count in their node's domain.
        for n in &self.nodes {
            if g.filter
                .as_ref()
                .is_some_and(|f| !f.matches(&n.taints, &n.labels, false))
            {
                continue;
            }
            let d = if g.key == labels::HOSTNAME {
                Some(n.hostname)
            } else {
                n.labels.get(g.key).and_then(|r| r.single_value())
            };
            if let Some(d) = d {
                g.register(d);
            }
        }
        for (_, p, node) in &self.placed {
            if !g.selects(p.namespace, &p.labels) {
                continue;
            }
            let n = &self.nodes[*node];
            let d = if g.key == labels::HOSTNAME {
                Some(n.hostname)
            } else {
                n.labels.get(g.key).and_then(|r| r.single_value())
            };
            let Some(d) = d else { continue };
            if g.filter
                .as_ref()
                .is_some_and(|f| !f.matches(&n.taints, &n.labels, false))
            {
                continue;
            }
            g.record(d);
        }
        self.groups.push(g);
        self.index.insert(key, self.groups.len() - 1);
        self.groups.len() - 1
    }

    /// `Register(key, domain)` on every group of that key (a new NodeClaim's hostname).
    pub fn register_domain(&mut self, key: Sym, d: Sym) {
        for g in self.groups.iter_mut().chain(self.inverse.iter_mut()) {
            if g.key == key {
                g.register(d);
            }
        }
    }

    /// `AddRequirements`: the topology requirements for placing `pod` (owning `owned` groups)
    /// on a candidate with `node_reqs`. Returns the requirements to merge, or the failing group.
    #[allow(clippy::too_many_arguments)]
    pub fn add_requirements(
        &self,
        pod: &PodInfo,
        owned: &[usize],
        taints: &[Taint],
        strict_pod_reqs: &Requirements,
        node_reqs: &Requirements,
        allow_undefined: bool,
        rng: &mut SimRng,
    ) -> Result<Requirements, TopologyError> {
        // Compute every group's domains first; the node requirements are copied only when all
        // of them can be met (most candidates fail, and fail cheaply).
        let exists = |k: Sym| Requirement::exists(k);
        let matching = owned.iter().map(|i| &self.groups[*i]).chain(
            self.inverse
                .iter()
                .filter(|g| g.counts_pod(pod, taints, node_reqs, allow_undefined)),
        );
        let mut found: Vec<Requirement> = Vec::new();
        for g in matching {
            let pod_owned;
            let pod_domains = match strict_pod_reqs.get(g.key) {
                Some(r) => r,
                None => {
                    pod_owned = exists(g.key);
                    &pod_owned
                }
            };
            let node_owned;
            let node_domains = match node_reqs.get(g.key) {
                Some(r) => r,
                None => {
                    node_owned = exists(g.key);
                    &node_owned
                }
            };
            let domains = match g.kind {
                TopoKind::Spread => g.next_spread(pod, pod_domains, node_domains, rng),
                TopoKind::Affinity => g.next_affinity(pod, pod_domains, node_domains, rng),
                TopoKind::AntiAffinity => g.next_anti_affinity(pod_domains, node_domains),
            };
            if domains.is_empty() {
                return Err(TopologyError {
                    kind: g.kind,
                    key: g.key,
                });
            }
            found.push(domains);
        }
        let mut out = node_reqs.clone();
        for d in found {
            out.add(d);
        }
        Ok(out)
    }

    /// `Record`: counts the pod in every group that selects it, and records its possible
    /// domains in the inverse groups it owns.
    pub fn record(
        &mut self,
        pod: &PodInfo,
        taints: &[Taint],
        reqs: &Requirements,
        allow_undefined: bool,
    ) {
        for g in &mut self.groups {
            if !g.counts_pod(pod, taints, reqs, allow_undefined) {
                continue;
            }
            let Some(domains) = reqs.get(g.key) else {
                continue;
            };
            if g.kind == TopoKind::AntiAffinity {
                if !domains.is_complement() {
                    for d in domains.values().to_vec() {
                        g.record(d);
                    }
                }
            } else if let Some(d) = domains.single_value() {
                g.record(d);
            }
        }
        for g in &mut self.inverse {
            if g.owners.contains(&pod.id)
                && let Some(domains) = reqs.get(g.key)
                && !domains.is_complement()
            {
                for d in domains.values().to_vec() {
                    g.record(d);
                }
            }
        }
    }
}

/// A pod's topology constraint cannot be met on a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyError {
    pub kind: TopoKind,
    pub key: Sym,
}

impl std::fmt::Display for TopologyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unsatisfiable {} constraint, key={}",
            self.kind.as_str(),
            self.key
        )
    }
}
