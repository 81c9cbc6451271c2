//! First fit over the cluster's nodes in a pass's order, in O(log n) per placement.
//!
//! The provisioning scheduler places a plain pod (no node selector, affinity, topology or host
//! port) on the first existing node, in pass order, whose free resources hold it, whose taints
//! it tolerates and, for a pod moved by consolidation, that is not inside its consolidateAfter
//! window. [`FitIndex`] answers that query with a segment tree of the free cpu, memory and pod
//! slots (over all nodes and over the nodes outside their window), so a consolidation pass can
//! replay the scheduler's placements for every candidate without walking every node.
//!
//! Owns: the tree and its undo log. May not: decide anything; the caller replays and judges.

use crate::model::{Taint, Toleration, untolerated};
use crate::resources::Resources;

/// The dimensions the tree prunes on (cpu, memory, pods); leaves check every resource.
const DIMS: usize = 3;
const NONE: [i64; DIMS] = [i64::MIN; DIMS];

/// One node in pass order.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// Engine node index.
    pub node: usize,
    pub free: Resources,
    pub taints: Vec<Taint>,
    /// Inside its consolidateAfter window: a moved pod may not land here.
    pub cooling: bool,
    /// Initialized (Ready).
    pub initialized: bool,
    /// Out of this replay (a candidate).
    pub excluded: bool,
}

/// The index of one consolidation pass (valid while the cluster state and time are unchanged).
#[derive(Debug, Default)]
pub struct FitIndex {
    /// (state version, layout version, time) the index was built for.
    pub key: Option<(u64, u64, u64)>,
    pub leaves: Vec<Leaf>,
    /// Engine node index → leaf.
    pub leaf_of: rustc_hash::FxHashMap<usize, usize>,
    size: usize,
    all: Vec<[i64; DIMS]>,
    warm: Vec<[i64; DIMS]>,
    /// (leaf, previous free, previous excluded) for [`FitIndex::undo`].
    log: Vec<(usize, Resources, bool)>,
    /// [`FitIndex::fits_at_build`] answers of this pass.
    at_build: rustc_hash::FxHashMap<(Resources, bool), bool>,
}

fn dims(r: &Resources) -> [i64; DIMS] {
    [r.0[0], r.0[1], r.0[2]]
}

fn max3(a: [i64; DIMS], b: [i64; DIMS]) -> [i64; DIMS] {
    [a[0].max(b[0]), a[1].max(b[1]), a[2].max(b[2])]
}

fn covers(agg: [i64; DIMS], req: [i64; DIMS]) -> bool {
    agg[0] >= req[0] && agg[1] >= req[1] && agg[2] >= req[2]
}

impl FitIndex {
    /// Builds the index over `leaves` (in pass order) for `key`.
    pub fn build(&mut self, key: (u64, u64, u64), leaves: Vec<Leaf>) {
        let size = leaves.len().next_power_of_two().max(1);
        self.size = size;
        self.all = vec![NONE; 2 * size];
        self.warm = vec![NONE; 2 * size];
        self.leaf_of = leaves
            .iter()
            .enumerate()
            .map(|(k, l)| (l.node, k))
            .collect();
        for (k, l) in leaves.iter().enumerate() {
            let (a, w) = Self::leaf_aggs(l);
            self.all[size + k] = a;
            self.warm[size + k] = w;
        }
        for v in (1..size).rev() {
            self.all[v] = max3(self.all[2 * v], self.all[2 * v + 1]);
            self.warm[v] = max3(self.warm[2 * v], self.warm[2 * v + 1]);
        }
        self.leaves = leaves;
        self.log.clear();
        self.at_build.clear();
        self.key = Some(key);
    }

    fn leaf_aggs(l: &Leaf) -> ([i64; DIMS], [i64; DIMS]) {
        if l.excluded {
            return (NONE, NONE);
        }
        let d = dims(&l.free);
        (d, if l.cooling { NONE } else { d })
    }

    fn refresh(&mut self, k: usize) {
        let (a, w) = Self::leaf_aggs(&self.leaves[k]);
        let mut v = self.size + k;
        self.all[v] = a;
        self.warm[v] = w;
        while v > 1 {
            v /= 2;
            self.all[v] = max3(self.all[2 * v], self.all[2 * v + 1]);
            self.warm[v] = max3(self.warm[2 * v], self.warm[2 * v + 1]);
        }
    }

    /// Takes leaf `k` out of the replay (until [`FitIndex::undo`]).
    pub fn exclude(&mut self, k: usize) {
        let l = &self.leaves[k];
        self.log.push((k, l.free, l.excluded));
        self.leaves[k].excluded = true;
        self.refresh(k);
    }

    /// Places `req` on leaf `k` (until [`FitIndex::undo`]).
    pub fn take(&mut self, k: usize, req: &Resources) {
        let l = &self.leaves[k];
        self.log.push((k, l.free, l.excluded));
        self.leaves[k].free.sub_assign(req);
        self.refresh(k);
    }

    /// Restores every leaf changed since the build or the last undo.
    pub fn undo(&mut self) {
        while let Some((k, free, excluded)) = self.log.pop() {
            self.leaves[k].free = free;
            self.leaves[k].excluded = excluded;
            self.refresh(k);
        }
    }

    /// The first leaf, in pass order, that holds `req`, whose taints `tolerations` tolerate,
    /// and that is not cooling when `moving`.
    pub fn first_fit(
        &self,
        req: &Resources,
        tolerations: &[Toleration],
        moving: bool,
    ) -> Option<usize> {
        if self.leaves.is_empty() {
            return None;
        }
        let tree = if moving { &self.warm } else { &self.all };
        let need = dims(req);
        // Depth-first, left to right, pruning subtrees whose maxima cannot hold the request.
        // The stack never holds more than one pending right sibling per level.
        let mut stack = [0usize; 2 * usize::BITS as usize];
        let mut top = 1;
        stack[0] = 1;
        while top > 0 {
            top -= 1;
            let v = stack[top];
            if !covers(tree[v], need) {
                continue;
            }
            if v >= self.size {
                let k = v - self.size;
                let l = &self.leaves[k];
                if !(l.excluded || moving && l.cooling)
                    && req.fits(&l.free)
                    && untolerated(&l.taints, tolerations).is_none()
                {
                    return Some(k);
                }
                continue;
            }
            stack[top] = 2 * v + 1;
            stack[top + 1] = 2 * v;
            top += 2;
        }
        None
    }

    /// Whether `req` (from a pod without tolerations) fits some leaf of the index as built,
    /// before any exclusion or placement: a request that fits nowhere then fits nowhere in any
    /// replay of the pass either (replays only take capacity away). Cached per pass.
    pub fn fits_at_build(&mut self, req: &Resources, moving: bool) -> bool {
        debug_assert!(self.log.is_empty());
        if let Some(&f) = self.at_build.get(&(*req, moving)) {
            return f;
        }
        let f = self.first_fit(req, &[], moving).is_some();
        self.at_build.insert((*req, moving), f);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn res(cpu: i64, mem: i64, pods: i64) -> Resources {
        let mut r = Resources::ZERO;
        r.0[0] = cpu;
        r.0[1] = mem;
        r.0[2] = pods;
        r
    }

    /// The linear first fit the scheduler performs.
    fn linear(leaves: &[Leaf], req: &Resources, moving: bool) -> Option<usize> {
        leaves
            .iter()
            .position(|l| !(l.excluded || moving && l.cooling) && req.fits(&l.free))
    }

    proptest! {
        /// Random nodes, exclusions and placements: the tree finds the same node as a walk
        /// over the nodes in order, and undo restores every answer.
        #[test]
        fn tree_first_fit_equals_the_linear_walk(
            nodes in prop::collection::vec((0i64..8, 0i64..8, 0i64..4, any::<bool>(), any::<bool>()), 0..40),
            ops in prop::collection::vec((0i64..6, 0i64..6, 0i64..3, any::<bool>(), 0usize..40), 0..60),
        ) {
            let leaves: Vec<Leaf> = nodes
                .iter()
                .enumerate()
                .map(|(i, (c, m, p, cooling, excluded))| Leaf {
                    node: i,
                    free: res(*c, *m, *p),
                    taints: Vec::new(),
                    cooling: *cooling,
                    initialized: true,
                    excluded: *excluded,
                })
                .collect();
            let mut ix = FitIndex::default();
            ix.build((0, 0, 0), leaves.clone());
            let before: Vec<Option<usize>> = ops
                .iter()
                .map(|(c, m, p, mv, _)| ix.first_fit(&res(*c, *m, *p), &[], *mv))
                .collect();
            let mut shadow = leaves.clone();
            for (c, m, p, mv, x) in &ops {
                let req = res(*c, *m, *p);
                let got = ix.first_fit(&req, &[], *mv);
                prop_assert_eq!(got, linear(&shadow, &req, *mv));
                if let Some(k) = got {
                    ix.take(k, &req);
                    shadow[k].free.sub_assign(&req);
                } else if !shadow.is_empty() {
                    let k = x % shadow.len();
                    ix.exclude(k);
                    shadow[k].excluded = true;
                }
            }
            ix.undo();
            let after: Vec<Option<usize>> = ops
                .iter()
                .map(|(c, m, p, mv, _)| ix.first_fit(&res(*c, *m, *p), &[], *mv))
                .collect();
            prop_assert_eq!(before, after);
        }
    }
}
