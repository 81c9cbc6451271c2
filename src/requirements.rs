//! Karpenter's requirement algebra (`core: pkg/scheduling/requirement.go`, `requirements.go`).
//!
//! Owns: [`Requirement`] (a finite set or a complement set of label values, with optional
//! inclusive integer bounds and `minValues`) and [`Requirements`] (one requirement per key),
//! with intersection, `Compatible` and `Intersects` as Karpenter defines them. May not: know
//! pods, nodes, the catalog or time.

use crate::labels::{self, Sym};
use std::fmt;

/// A node-selector operator, including Karpenter's `Gte`/`Lte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
    Gte,
    Lte,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::In => "In",
            Op::NotIn => "NotIn",
            Op::Exists => "Exists",
            Op::DoesNotExist => "DoesNotExist",
            Op::Gt => "Gt",
            Op::Lt => "Lt",
            Op::Gte => "Gte",
            Op::Lte => "Lte",
        }
    }
}

/// One requirement on one label key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    pub key: Sym,
    complement: bool,
    /// Sorted by symbol id, no duplicates.
    values: Vec<Sym>,
    gte: Option<i64>,
    lte: Option<i64>,
    pub min_values: Option<u32>,
}

fn within(v: Sym, gte: Option<i64>, lte: Option<i64>) -> bool {
    if gte.is_none() && lte.is_none() {
        return true;
    }
    match v.as_int() {
        None => false,
        Some(x) => gte.is_none_or(|g| x >= g) && lte.is_none_or(|l| x <= l),
    }
}

fn sorted(mut v: Vec<Sym>) -> Vec<Sym> {
    v.sort_unstable();
    v.dedup();
    v
}

fn set_intersection(a: &[Sym], b: &[Sym]) -> Vec<Sym> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn set_difference(a: &[Sym], b: &[Sym]) -> Vec<Sym> {
    a.iter()
        .copied()
        .filter(|v| b.binary_search(v).is_err())
        .collect()
}

fn set_union(a: &[Sym], b: &[Sym]) -> Vec<Sym> {
    let mut v: Vec<Sym> = a.iter().chain(b).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl Requirement {
    /// Builds a requirement as `NewRequirementWithFlexibility` does. `Gt`/`Lt`/`Gte`/`Lte`
    /// take the first value as an integer (validated earlier); a non-integer bound yields
    /// `DoesNotExist`, which matches nothing.
    pub fn new(key: Sym, op: Op, values: &[Sym]) -> Requirement {
        let key = Sym::new(labels::normalize_key(key.as_str()));
        let mut r = Requirement {
            key,
            complement: true,
            values: Vec::new(),
            gte: None,
            lte: None,
            min_values: None,
        };
        let bound = || values.first().and_then(|v| v.as_int());
        match op {
            Op::In => {
                r.complement = false;
                r.values = sorted(values.to_vec());
            }
            Op::NotIn => r.values = sorted(values.to_vec()),
            Op::Exists => {}
            Op::DoesNotExist => r.complement = false,
            Op::Gt => match bound() {
                Some(i64::MAX) | None => return Requirement::does_not_exist(key),
                Some(n) => r.gte = Some(n + 1),
            },
            Op::Lt => match bound() {
                Some(i64::MIN) | None => return Requirement::does_not_exist(key),
                Some(n) => r.lte = Some(n - 1),
            },
            Op::Gte => match bound() {
                None => return Requirement::does_not_exist(key),
                Some(n) => r.gte = Some(n),
            },
            Op::Lte => match bound() {
                None => return Requirement::does_not_exist(key),
                Some(n) => r.lte = Some(n),
            },
        }
        r
    }

    /// `key In [values]`.
    pub fn in_values(key: Sym, values: &[Sym]) -> Requirement {
        Requirement::new(key, Op::In, values)
    }

    /// `key In [value]`.
    pub fn single(key: Sym, value: Sym) -> Requirement {
        Requirement {
            key,
            complement: false,
            values: vec![value],
            gte: None,
            lte: None,
            min_values: None,
        }
    }

    /// `key Exists`.
    pub fn exists(key: Sym) -> Requirement {
        Requirement {
            key,
            complement: true,
            values: Vec::new(),
            gte: None,
            lte: None,
            min_values: None,
        }
    }

    /// `key DoesNotExist`.
    pub fn does_not_exist(key: Sym) -> Requirement {
        Requirement {
            key,
            complement: false,
            values: Vec::new(),
            gte: None,
            lte: None,
            min_values: None,
        }
    }

    /// Sets `minValues`.
    pub fn with_min_values(mut self, m: Option<u32>) -> Requirement {
        self.min_values = m;
        self
    }

    /// True for NotIn/Exists (complement sets).
    pub fn is_complement(&self) -> bool {
        self.complement
    }

    /// The explicit values: the allowed set for In, the excluded set for NotIn.
    pub fn values(&self) -> &[Sym] {
        &self.values
    }

    /// The explicit values sorted by their strings (for output and for choices that must not
    /// depend on interning order).
    pub fn values_sorted(&self) -> Vec<Sym> {
        let mut v = self.values.clone();
        v.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        v
    }

    /// Inclusive integer bounds.
    pub fn bounds(&self) -> (Option<i64>, Option<i64>) {
        (self.gte, self.lte)
    }

    /// The operator Karpenter reports for this requirement (`Operator()`).
    pub fn operator(&self) -> Op {
        if self.complement {
            if self.values.is_empty() {
                Op::Exists
            } else {
                Op::NotIn
            }
        } else if self.values.is_empty() {
            Op::DoesNotExist
        } else {
            Op::In
        }
    }

    /// `Len()`: number of allowed values, `usize::MAX - excluded` for complements.
    pub fn len(&self) -> usize {
        if self.complement {
            usize::MAX - self.values.len()
        } else {
            self.values.len()
        }
    }

    /// True when no value is allowed (DoesNotExist).
    pub fn is_empty(&self) -> bool {
        !self.complement && self.values.is_empty()
    }

    /// The single allowed value, when the requirement is `In [v]`.
    pub fn single_value(&self) -> Option<Sym> {
        (!self.complement && self.values.len() == 1).then(|| self.values[0])
    }

    /// `Has(value)`.
    pub fn has(&self, v: Sym) -> bool {
        let member = self.values.binary_search(&v).is_ok();
        (member != self.complement) && within(v, self.gte, self.lte)
    }

    /// The tighter of both sides' inclusive bounds.
    fn merged_bounds(&self, o: &Requirement) -> (Option<i64>, Option<i64>) {
        let gte = match (self.gte, o.gte) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let lte = match (self.lte, o.lte) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (gte, lte)
    }

    /// `Intersection`.
    pub fn intersection(&self, o: &Requirement) -> Requirement {
        let complement = self.complement && o.complement;
        let (gte, lte) = self.merged_bounds(o);
        let min_values = match (self.min_values, o.min_values) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let (Some(g), Some(l)) = (gte, lte)
            && g > l
        {
            return Requirement::does_not_exist(self.key).with_min_values(min_values);
        }
        let mut values = match (self.complement, o.complement) {
            (true, true) => set_union(&self.values, &o.values),
            (true, false) => set_difference(&o.values, &self.values),
            (false, true) => set_difference(&self.values, &o.values),
            (false, false) => set_intersection(&self.values, &o.values),
        };
        if gte.is_some() || lte.is_some() {
            values.retain(|v| within(*v, gte, lte));
        }
        let (gte, lte) = if complement { (gte, lte) } else { (None, None) };
        Requirement {
            key: self.key,
            complement,
            values,
            gte,
            lte,
            min_values,
        }
    }

    /// `HasIntersection`: whether some value satisfies both.
    pub fn has_intersection(&self, o: &Requirement) -> bool {
        let (gte, lte) = self.merged_bounds(o);
        if let (Some(g), Some(l)) = (gte, lte)
            && g > l
        {
            return false;
        }
        match (self.complement, o.complement) {
            (true, true) => true,
            (true, false) => o
                .values
                .iter()
                .any(|v| self.values.binary_search(v).is_err() && within(*v, gte, lte)),
            (false, true) => self
                .values
                .iter()
                .any(|v| o.values.binary_search(v).is_err() && within(*v, gte, lte)),
            (false, false) => {
                if gte.is_none() && lte.is_none() {
                    // merge walk
                    let (a, b) = (&self.values, &o.values);
                    let (mut i, mut j) = (0, 0);
                    while i < a.len() && j < b.len() {
                        match a[i].cmp(&b[j]) {
                            std::cmp::Ordering::Less => i += 1,
                            std::cmp::Ordering::Greater => j += 1,
                            std::cmp::Ordering::Equal => return true,
                        }
                    }
                    false
                } else {
                    self.values
                        .iter()
                        .any(|v| o.values.binary_search(v).is_ok() && within(*v, gte, lte))
                }
            }
        }
    }

    fn is_negative(&self) -> bool {
        matches!(self.operator(), Op::NotIn | Op::DoesNotExist)
    }
}

impl fmt::Debug for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.operator();
        match op {
            Op::Exists | Op::DoesNotExist => write!(f, "{} {}", self.key, op.as_str())?,
            _ => {
                let vals = self.values_sorted();
                let shown: Vec<&str> = vals.iter().take(5).map(|v| v.as_str()).collect();
                write!(f, "{} {} [{}", self.key, op.as_str(), shown.join(" "))?;
                if vals.len() > 5 {
                    write!(f, " and {} others", vals.len() - 5)?;
                }
                f.write_str("]")?;
            }
        }
        if let Some(g) = self.gte {
            write!(f, " >={g}")?;
        }
        if let Some(l) = self.lte {
            write!(f, " <={l}")?;
        }
        if let Some(m) = self.min_values {
            write!(f, " minValues {m}")?;
        }
        Ok(())
    }
}

/// Why two sets of requirements do not fit together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incompatible {
    /// A custom label the incoming side requires is not defined by the other side
    /// ("label does not have known values").
    Undefined(Sym),
    /// Both define the key but no value satisfies both.
    Disjoint(Sym),
}

impl fmt::Display for Incompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Incompatible::Undefined(k) => {
                write!(f, "label {:?} does not have known values", k.as_str())
            }
            Incompatible::Disjoint(k) => write!(f, "no value of {:?} satisfies both", k.as_str()),
        }
    }
}

/// One requirement per key, kept sorted by key symbol.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Requirements(Vec<Requirement>);

impl Requirements {
    pub fn new() -> Requirements {
        Requirements(Vec::new())
    }

    /// Builds from a list, intersecting requirements on the same key.
    pub fn from_list(list: impl IntoIterator<Item = Requirement>) -> Requirements {
        let mut r = Requirements::new();
        for q in list {
            r.add(q);
        }
        r
    }

    /// Labels as `In [value]` requirements (`NewLabelRequirements`).
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a (Sym, Sym)>) -> Requirements {
        Requirements::from_list(labels.into_iter().map(|(k, v)| Requirement::single(*k, *v)))
    }

    /// `Add`: intersects with an existing requirement on the same key.
    pub fn add(&mut self, q: Requirement) {
        match self.0.binary_search_by(|e| e.key.cmp(&q.key)) {
            Ok(i) => {
                let merged = q.intersection(&self.0[i]);
                self.0[i] = merged;
            }
            Err(i) => self.0.insert(i, q),
        }
    }

    /// Adds every requirement of `other`.
    pub fn add_all(&mut self, other: &Requirements) {
        for q in &other.0 {
            self.add(q.clone());
        }
    }

    /// Removes the requirement on `key`.
    pub fn remove(&mut self, key: Sym) {
        if let Ok(i) = self.0.binary_search_by(|e| e.key.cmp(&key)) {
            self.0.remove(i);
        }
    }

    /// The requirement on `key`, if defined.
    #[inline]
    pub fn get(&self, key: Sym) -> Option<&Requirement> {
        self.0
            .binary_search_by(|e| e.key.cmp(&key))
            .ok()
            .map(|i| &self.0[i])
    }

    /// True when `key` is defined.
    #[inline]
    pub fn has(&self, key: Sym) -> bool {
        self.get(key).is_some()
    }

    /// `Get(key).Has(value)`: an undefined key behaves as `Exists`.
    #[inline]
    pub fn allows(&self, key: Sym, value: Sym) -> bool {
        self.get(key).is_none_or(|q| q.has(value))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Requirement> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when some requirement carries `minValues`.
    pub fn has_min_values(&self) -> bool {
        self.0.iter().any(|q| q.min_values.is_some())
    }

    /// `Intersects`: for every key defined on both sides, some value satisfies both, except
    /// that two negative requirements (NotIn/DoesNotExist) never conflict.
    pub fn intersects(&self, incoming: &Requirements) -> Result<(), Incompatible> {
        let (small, large) = if self.0.len() <= incoming.0.len() {
            (self, incoming)
        } else {
            (incoming, self)
        };
        for a in &small.0 {
            let Some(b) = large.get(a.key) else { continue };
            if !a.has_intersection(b) {
                if a.is_negative() && b.is_negative() {
                    continue;
                }
                return Err(Incompatible::Disjoint(a.key));
            }
        }
        Ok(())
    }

    /// `Compatible(self ⟵ incoming)`: every key of `incoming` must be defined by `self` unless
    /// it is NotIn/DoesNotExist or (with `allow_undefined_well_known`) a well-known label; then
    /// [`Requirements::intersects`].
    pub fn compatible(
        &self,
        incoming: &Requirements,
        allow_undefined_well_known: bool,
    ) -> Result<(), Incompatible> {
        for q in &incoming.0 {
            if self.has(q.key) || q.is_negative() {
                continue;
            }
            if allow_undefined_well_known && labels::is_well_known_sym(q.key) {
                continue;
            }
            return Err(Incompatible::Undefined(q.key));
        }
        self.intersects(incoming)
    }

    /// The entries of `self` that `old` lacks or defines differently. `Intersects` is checked
    /// key by key, so a set known to intersect `old` intersects `self` exactly when it
    /// intersects this delta.
    pub fn changed_from(&self, old: &Requirements) -> Requirements {
        Requirements(
            self.0
                .iter()
                .filter(|q| old.get(q.key) != Some(*q))
                .cloned()
                .collect(),
        )
    }

    /// Intersection of both (a new set).
    pub fn merged(&self, other: &Requirements) -> Requirements {
        let mut r = self.clone();
        r.add_all(other);
        r
    }
}

impl fmt::Debug for Requirements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Requirements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self.0.iter().map(|q| q.to_string()).collect();
        parts.sort();
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Sym {
        Sym::new(v)
    }
    fn req(k: &str, op: Op, vals: &[&str]) -> Requirement {
        let v: Vec<Sym> = vals.iter().map(|x| s(x)).collect();
        Requirement::new(s(k), op, &v)
    }

    // karpenter: pkg/scheduling/requirement_test.go "Intersection"
    #[test]
    fn intersection_table() {
        let in_ab = req("k", Op::In, &["a", "b"]);
        let in_bc = req("k", Op::In, &["b", "c"]);
        let notin_a = req("k", Op::NotIn, &["a"]);
        let exists = req("k", Op::Exists, &[]);
        let dne = req("k", Op::DoesNotExist, &[]);
        assert_eq!(in_ab.intersection(&in_bc), req("k", Op::In, &["b"]));
        assert_eq!(in_ab.intersection(&notin_a), req("k", Op::In, &["b"]));
        assert_eq!(
            notin_a.intersection(&req("k", Op::NotIn, &["b"])),
            req("k", Op::NotIn, &["a", "b"])
        );
        assert_eq!(exists.intersection(&in_ab), in_ab);
        assert_eq!(dne.intersection(&exists).operator(), Op::DoesNotExist);
        let gt = req("k", Op::Gt, &["4"]);
        let lt = req("k", Op::Lt, &["33"]);
        let both = gt.intersection(&lt);
        assert_eq!(both.operator(), Op::Exists);
        assert!(both.has(s("5")) && both.has(s("32")));
        assert!(!both.has(s("4")) && !both.has(s("33")) && !both.has(s("abc")));
        let crossing = req("k", Op::Gt, &["10"]).intersection(&req("k", Op::Lt, &["5"]));
        assert_eq!(crossing.operator(), Op::DoesNotExist);
        let filtered = req("k", Op::In, &["3", "7", "x"]).intersection(&gt);
        assert_eq!(filtered, req("k", Op::In, &["7"]));
        assert_eq!(
            req("k", Op::Gt, &[&i64::MAX.to_string()]).operator(),
            Op::DoesNotExist
        );
    }

    // karpenter: pkg/scheduling/requirements_test.go "Compatibility"
    #[test]
    fn compatibility_rules() {
        let node = Requirements::from_list([req("kubernetes.io/arch", Op::In, &["amd64"])]);
        // a custom label undefined on the node side fails unless negative
        let pod_custom = Requirements::from_list([req("team", Op::In, &["a"])]);
        assert_eq!(
            node.compatible(&pod_custom, true),
            Err(Incompatible::Undefined(s("team")))
        );
        let pod_notin = Requirements::from_list([req("team", Op::NotIn, &["a"])]);
        assert!(node.compatible(&pod_notin, true).is_ok());
        let pod_dne = Requirements::from_list([req("team", Op::DoesNotExist, &[])]);
        assert!(node.compatible(&pod_dne, true).is_ok());
        // a well-known label undefined on the node side is allowed when asked
        let pod_zone =
            Requirements::from_list([req("topology.kubernetes.io/zone", Op::In, &["z1"])]);
        assert!(node.compatible(&pod_zone, true).is_ok());
        assert!(node.compatible(&pod_zone, false).is_err());
        // disjoint values
        let pod_arm = Requirements::from_list([req("kubernetes.io/arch", Op::In, &["arm64"])]);
        assert_eq!(
            node.compatible(&pod_arm, true),
            Err(Incompatible::Disjoint(s("kubernetes.io/arch")))
        );
        // two negatives never conflict
        let a = Requirements::from_list([req("k", Op::NotIn, &["a"])]);
        let b = Requirements::from_list([req("k", Op::DoesNotExist, &[])]);
        assert!(a.intersects(&b).is_ok());
        // DoesNotExist vs In conflicts
        let c = Requirements::from_list([req("k", Op::In, &["a"])]);
        assert!(b.intersects(&c).is_err());
    }

    #[test]
    fn normalizes_beta_keys() {
        let r = req("beta.kubernetes.io/arch", Op::In, &["amd64"]);
        assert_eq!(r.key, crate::labels::ARCH);
    }

    #[test]
    fn add_intersects() {
        let mut r = Requirements::new();
        r.add(req("k", Op::In, &["a", "b"]));
        r.add(req("k", Op::NotIn, &["a"]));
        assert_eq!(r.get(s("k")).and_then(|q| q.single_value()), Some(s("b")));
    }

    fn arb_requirement() -> impl proptest::strategy::Strategy<Value = Requirement> {
        use proptest::prelude::*;
        let ops = prop_oneof![
            Just(Op::In),
            Just(Op::NotIn),
            Just(Op::Exists),
            Just(Op::DoesNotExist),
            Just(Op::Gt),
            Just(Op::Lt),
        ];
        (0usize..3, ops, proptest::collection::vec(0u8..5, 1..3)).prop_map(|(k, op, vals)| {
            let vals: Vec<String> = vals.iter().map(|v| v.to_string()).collect();
            let vals: Vec<&str> = match op {
                Op::Exists | Op::DoesNotExist => Vec::new(),
                Op::Gt | Op::Lt => vec![vals[0].as_str()],
                _ => vals.iter().map(String::as_str).collect(),
            };
            req(["k0", "k1", "k2"][k], op, &vals)
        })
    }

    fn arb_requirements() -> impl proptest::strategy::Strategy<Value = Requirements> {
        use proptest::strategy::Strategy;
        proptest::collection::vec(arb_requirement(), 0..4).prop_map(Requirements::from_list)
    }

    proptest::proptest! {
        /// The scheduler narrows a NodeClaim's options by checking only what a pod changed:
        /// for a set that intersects `old`, intersecting `old ∩ pod` and intersecting the
        /// delta must agree.
        #[test]
        fn intersecting_the_delta_equals_intersecting_the_whole(
            old in arb_requirements(),
            pod in arb_requirements(),
            it in arb_requirements(),
        ) {
            proptest::prop_assume!(it.intersects(&old).is_ok());
            let merged = old.merged(&pod);
            let delta = merged.changed_from(&old);
            proptest::prop_assert_eq!(
                it.intersects(&merged).is_ok(),
                it.intersects(&delta).is_ok()
            );
        }
    }
}
