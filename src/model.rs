//! The compiled scheduling model: taints, tolerations, label selectors and pod constraints in
//! interned form, ready for the scheduler's hot path.
//!
//! Owns: the types the scheduler and kube-scheduler read. They are built once from the parsed
//! configuration (`config`) and trace rows (`workload`) by `compile`. May not: parse files,
//! know time or cluster state.

use crate::labels::Sym;
use crate::requirements::{Op, Requirement, Requirements};
use crate::resources::Resources;
use std::sync::Arc;

/// A taint effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl Effect {
    pub fn parse(s: &str) -> Option<Effect> {
        Some(match s {
            "NoSchedule" => Effect::NoSchedule,
            "PreferNoSchedule" => Effect::PreferNoSchedule,
            "NoExecute" => Effect::NoExecute,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Effect::NoSchedule => "NoSchedule",
            Effect::PreferNoSchedule => "PreferNoSchedule",
            Effect::NoExecute => "NoExecute",
        }
    }
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Taint {
    pub key: Sym,
    pub value: Option<Sym>,
    pub effect: Effect,
}

impl std::fmt::Display for Taint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.value {
            Some(v) => write!(f, "{}={}:{}", self.key, v, self.effect.as_str()),
            None => write!(f, "{}:{}", self.key, self.effect.as_str()),
        }
    }
}

/// A pod toleration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Toleration {
    /// `None` with `exists` tolerates every key.
    pub key: Option<Sym>,
    /// Operator Exists (true) or Equal (false).
    pub exists: bool,
    pub value: Option<Sym>,
    /// `None` matches every effect.
    pub effect: Option<Effect>,
}

impl Toleration {
    /// `ToleratesTaint`.
    pub fn tolerates(&self, t: &Taint) -> bool {
        if let Some(e) = self.effect
            && e != t.effect
        {
            return false;
        }
        match self.key {
            None => self.exists,
            Some(k) if k != t.key => false,
            Some(_) => self.exists || self.value == t.value,
        }
    }
}

/// True when `tolerations` tolerate every taint (every effect, PreferNoSchedule included,
/// as Karpenter's `Taints.Tolerates`). Returns the first taint not tolerated.
pub fn untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints
        .iter()
        .find(|t| !tolerations.iter().any(|tol| tol.tolerates(t)))
}

/// The taint Karpenter puts on nodes it disrupts.
pub fn disrupted_taint() -> Taint {
    Taint {
        key: Sym::new("karpenter.sh/disrupted"),
        value: None,
        effect: Effect::NoSchedule,
    }
}

/// A label-selector expression operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SelOp {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// A Kubernetes label selector (`matchLabels` + `matchExpressions`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LabelSelector {
    pub match_labels: Vec<(Sym, Sym)>,
    pub exprs: Vec<(Sym, SelOp, Vec<Sym>)>,
}

/// Looks a label up in a label list.
#[inline]
pub fn label_value(labels: &[(Sym, Sym)], key: Sym) -> Option<Sym> {
    labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

impl LabelSelector {
    /// Whether the selector matches the labels. An empty selector matches everything.
    pub fn matches(&self, labels: &[(Sym, Sym)]) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| label_value(labels, *k) == Some(*v))
            && self.exprs.iter().all(|(k, op, vals)| {
                let got = label_value(labels, *k);
                match op {
                    SelOp::In => got.is_some_and(|g| vals.contains(&g)),
                    SelOp::NotIn => got.is_none_or(|g| !vals.contains(&g)),
                    SelOp::Exists => got.is_some(),
                    SelOp::DoesNotExist => got.is_none(),
                }
            })
    }
}

/// `whenUnsatisfiable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WhenUnsatisfiable {
    DoNotSchedule,
    ScheduleAnyway,
}

/// A topology spread constraint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpreadConstraint {
    pub max_skew: i32,
    pub key: Sym,
    pub when: WhenUnsatisfiable,
    /// `None` selects no pod.
    pub selector: Option<LabelSelector>,
    pub min_domains: Option<i32>,
    /// nodeAffinityPolicy Honor (default) vs Ignore.
    pub honor_affinity: bool,
    /// nodeTaintsPolicy Honor vs Ignore (default).
    pub honor_taints: bool,
    pub match_label_keys: Vec<Sym>,
}

/// A pod (anti-)affinity term.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AffinityTerm {
    /// `None` selects no pod.
    pub selector: Option<LabelSelector>,
    /// Empty: the pod's own namespace.
    pub namespaces: Vec<Sym>,
    /// `namespaceSelector: {}` selects every namespace.
    pub all_namespaces: bool,
    pub key: Sym,
}

/// A host port a container binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// `None` = 0.0.0.0 / any address.
    pub ip: Option<Sym>,
    pub port: u16,
    pub protocol: Sym,
}

impl HostPort {
    /// Karpenter's `hostportusage.go` conflict rule.
    pub fn conflicts(&self, o: &HostPort) -> bool {
        self.port == o.port
            && self.protocol == o.protocol
            && (self.ip.is_none() || o.ip.is_none() || self.ip == o.ip)
    }
}

/// Scheduling constraints of a pod, shared by the pods of one template or trace shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PodConstraints {
    pub node_selector: Vec<(Sym, Sym)>,
    /// Required node-affinity OR terms, in order.
    pub required_terms: Vec<Requirements>,
    /// Preferred node-affinity terms (weight, preference).
    pub preferred_terms: Vec<(i32, Requirements)>,
    pub tolerations: Vec<Toleration>,
    pub spreads: Vec<SpreadConstraint>,
    pub affinity_required: Vec<AffinityTerm>,
    pub affinity_preferred: Vec<(i32, AffinityTerm)>,
    pub anti_required: Vec<AffinityTerm>,
    pub anti_preferred: Vec<(i32, AffinityTerm)>,
    pub host_ports: Vec<HostPort>,
    /// Why Karpenter ignores this pod entirely (`provisioner.go` Validate), if it does.
    pub ignored: Option<String>,
}

impl PodConstraints {
    /// True when nothing beyond plain resources constrains placement.
    pub fn is_plain(&self) -> bool {
        self.node_selector.is_empty()
            && self.required_terms.is_empty()
            && self.preferred_terms.is_empty()
            && self.spreads.is_empty()
            && self.affinity_required.is_empty()
            && self.affinity_preferred.is_empty()
            && self.anti_required.is_empty()
            && self.anti_preferred.is_empty()
            && self.host_ports.is_empty()
    }

    /// True when the pod has topology (spread/affinity/anti-affinity) constraints.
    pub fn has_topology(&self) -> bool {
        !(self.spreads.is_empty()
            && self.affinity_required.is_empty()
            && self.affinity_preferred.is_empty()
            && self.anti_required.is_empty()
            && self.anti_preferred.is_empty())
    }

    /// Node requirements (`NewPodRequirements`): nodeSelector ∩ required term[0] ∩ (unless
    /// `strict`) the heaviest preferred term.
    pub fn requirements(&self, strict: bool) -> Requirements {
        let mut r = Requirements::from_labels(&self.node_selector);
        if !strict && let Some(best) = self.heaviest_preferred() {
            r.add_all(&self.preferred_terms[best].1);
        }
        if let Some(t) = self.required_terms.first() {
            r.add_all(t);
        }
        r
    }

    fn heaviest_preferred(&self) -> Option<usize> {
        // Go's sort.Slice by weight descending then [0]: for ties we take the first listed.
        let mut best: Option<usize> = None;
        for (i, (w, _)) in self.preferred_terms.iter().enumerate() {
            if best.is_none_or(|b| *w > self.preferred_terms[b].0) {
                best = Some(i);
            }
        }
        best
    }

    /// One relaxation step (`preferences.go` Relax). Returns false when nothing is left.
    pub fn relax(&mut self, tolerate_prefer_no_schedule: bool) -> bool {
        if self.required_terms.len() > 1 {
            self.required_terms.remove(0);
            return true;
        }
        if remove_heaviest(&mut self.affinity_preferred) {
            return true;
        }
        if remove_heaviest(&mut self.anti_preferred) {
            return true;
        }
        if let Some(b) = self.heaviest_preferred() {
            self.preferred_terms.remove(b);
            return true;
        }
        if let Some(i) = self
            .spreads
            .iter()
            .position(|s| s.when == WhenUnsatisfiable::ScheduleAnyway)
        {
            self.spreads.swap_remove(i);
            return true;
        }
        if tolerate_prefer_no_schedule {
            let tol = Toleration {
                key: None,
                exists: true,
                value: None,
                effect: Some(Effect::PreferNoSchedule),
            };
            let probe = Taint {
                key: Sym::new("karpenter.sim/probe"),
                value: None,
                effect: Effect::PreferNoSchedule,
            };
            if !self
                .tolerations
                .iter()
                .any(|t| t.key.is_none() && t.exists && t.tolerates(&probe))
            {
                self.tolerations.push(tol);
                return true;
            }
        }
        false
    }

    /// Drops every preference up front (`PREFERENCE_POLICY=Ignore`).
    pub fn drop_preferences(&mut self) {
        self.preferred_terms.clear();
        self.affinity_preferred.clear();
        self.anti_preferred.clear();
        self.spreads
            .retain(|s| s.when == WhenUnsatisfiable::DoNotSchedule);
    }
}

fn remove_heaviest<T>(v: &mut Vec<(i32, T)>) -> bool {
    if v.is_empty() {
        return false;
    }
    // sort.SliceStable by weight descending, then drop [0]: the first of the heaviest.
    let mut best = 0;
    for i in 1..v.len() {
        if v[i].0 > v[best].0 {
            best = i;
        }
    }
    v.remove(best);
    true
}

/// A pod as the schedulers see it.
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// Dense index of the pod in the run.
    pub id: u32,
    pub namespace: Sym,
    pub labels: Arc<[(Sym, Sym)]>,
    /// Effective requests, `pods: 1` included.
    pub requests: Resources,
    pub constraints: Arc<PodConstraints>,
    /// Creation time (ms).
    pub created: u64,
    pub priority: i32,
}

/// Builds a requirement from a selector-style expression (used for node affinity terms).
pub fn requirement(key: &str, op: Op, values: &[&str]) -> Requirement {
    let vals: Vec<Sym> = values.iter().map(|v| Sym::new(v)).collect();
    Requirement::new(Sym::new(key), op, &vals)
}

#[cfg(test)]
mod tests {
    use super::*;

    // karpenter: pkg/scheduling/taints_test.go (tolerations of every effect)
    #[test]
    fn tolerations() {
        let t = Taint {
            key: Sym::new("k"),
            value: Some(Sym::new("v")),
            effect: Effect::NoSchedule,
        };
        let eq = Toleration {
            key: Some(Sym::new("k")),
            exists: false,
            value: Some(Sym::new("v")),
            effect: None,
        };
        let wrong = Toleration {
            key: Some(Sym::new("k")),
            exists: false,
            value: Some(Sym::new("x")),
            effect: None,
        };
        let exists = Toleration {
            key: Some(Sym::new("k")),
            exists: true,
            value: None,
            effect: Some(Effect::NoSchedule),
        };
        let all = Toleration {
            key: None,
            exists: true,
            value: None,
            effect: None,
        };
        let other_effect = Toleration {
            key: None,
            exists: true,
            value: None,
            effect: Some(Effect::NoExecute),
        };
        assert!(eq.tolerates(&t));
        assert!(!wrong.tolerates(&t));
        assert!(exists.tolerates(&t));
        assert!(all.tolerates(&t));
        assert!(!other_effect.tolerates(&t));
        let pns = Taint {
            key: Sym::new("k"),
            value: None,
            effect: Effect::PreferNoSchedule,
        };
        assert!(
            untolerated(std::slice::from_ref(&pns), &[]).is_some(),
            "PreferNoSchedule must be tolerated too"
        );
    }

    #[test]
    fn selector_matching() {
        let app = Sym::new("app");
        let web = Sym::new("web");
        let s = LabelSelector {
            match_labels: vec![(app, web)],
            exprs: vec![],
        };
        assert!(s.matches(&[(app, web)]));
        assert!(!s.matches(&[]));
        assert!(LabelSelector::default().matches(&[]));
    }

    #[test]
    fn host_port_conflicts() {
        let tcp = Sym::new("TCP");
        let a = HostPort {
            ip: None,
            port: 80,
            protocol: tcp,
        };
        let b = HostPort {
            ip: Some(Sym::new("10.0.0.1")),
            port: 80,
            protocol: tcp,
        };
        let c = HostPort {
            ip: Some(Sym::new("10.0.0.2")),
            port: 80,
            protocol: tcp,
        };
        assert!(a.conflicts(&b));
        assert!(!b.conflicts(&c));
        assert!(!a.conflicts(&HostPort {
            ip: None,
            port: 81,
            protocol: tcp
        }));
    }
}
