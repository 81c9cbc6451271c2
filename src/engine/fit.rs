//! First fit over the cluster's nodes in a pass's order, in O(log n) per placement.
//!
//! The provisioning scheduler places a plain pod (no node selector, affinity, topology or host
//! port) on the first existing node, in pass order, whose free resources hold it, whose taints
//! it tolerates and, for a pod moved by consolidation, that is not inside its consolidateAfter
//! window. [`FitIndex`] answers that query with a segment tree of the free cpu, memory and pod
//! slots (over all nodes and over the nodes outside their window), so a consolidation pass can
//! replay the scheduler's placements for every candidate without walking every node. The
//! requests of pods without tolerations (pods come in few shapes) get exact pruning: each tree
//! node keeps a bit per such request, set when some leaf below holds it, so a query goes
//! straight down to its first fit, or stops at the root; per-shape counts of the leaves that
//! hold each request (all, outside their window, and of those the initialized ones) answer
//! "does any other node hold this pod" without a walk.
//!
//! The index lives across passes: the engine marks the nodes it changes, and the next pass
//! updates those leaves in place (same pass order) or rebuilds the tree from the kept leaves
//! and the changed ones (new order); a full build happens only when the NodePool view changes
//! or too many changes piled up. Debug builds check every kept leaf against the node.
//!
//! Owns: the tree, the leaves, the shape bits and counts, and the undo log. May not: decide
//! anything; the caller replays and judges.

use crate::model::{Taint, Toleration, untolerated};
use crate::resources::Resources;

/// The dimensions the tree prunes on (cpu, memory, pods); leaves check every resource.
const DIMS: usize = 3;
const NONE: [i64; DIMS] = [i64::MIN; DIMS];

/// Shapes with exact pruning per pass (one bit each).
const MAX_SHAPES: usize = 64;

/// One node in pass order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Leaf {
    /// Engine node index.
    pub node: usize,
    pub free: Resources,
    pub taints: Vec<Taint>,
    /// Inside its consolidateAfter window: a moved pod may not land here.
    pub cooling: bool,
    /// When the window ends (0: no window).
    pub cool_until: u64,
    /// Initialized (Ready).
    pub initialized: bool,
    /// Out of this replay (a candidate).
    pub excluded: bool,
}

/// What a tree node knows of the leaves below it: the maxima of free cpu, memory and pod
/// slots, and the shapes some leaf holds; over all leaves and over leaves outside their
/// window. One cache line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Agg {
    all: [i64; DIMS],
    warm: [i64; DIMS],
    mask_all: u64,
    mask_warm: u64,
}

const EMPTY: Agg = Agg {
    all: NONE,
    warm: NONE,
    mask_all: 0,
    mask_warm: 0,
};

impl Agg {
    fn join(a: &Agg, b: &Agg) -> Agg {
        Agg {
            all: max3(a.all, b.all),
            warm: max3(a.warm, b.warm),
            mask_all: a.mask_all | b.mask_all,
            mask_warm: a.mask_warm | b.mask_warm,
        }
    }
}

/// A leaf as it was before a change, for [`FitIndex::undo`].
#[derive(Debug, Clone, Copy)]
struct Logged {
    leaf: usize,
    free: Resources,
    excluded: bool,
    agg: Agg,
    /// Shapes registered when it was logged (later ones are recomputed on undo).
    shapes: usize,
}

/// The first-fit index of a consolidation pass (its `key` says for which state and time).
#[derive(Debug, Default)]
pub struct FitIndex {
    /// (state version, layout version, time) the index was built for.
    pub key: Option<(u64, u64, u64)>,
    /// Leaf data by engine node index (meaningful for the nodes of `order`).
    slots: Vec<Leaf>,
    /// The pass order: leaf position → engine node index.
    order: Vec<usize>,
    /// By node: when its window ends while it is cooling (else 0), and whether it is
    /// initialized (dense copies of the leaf's fields, for the passes over every leaf).
    cool: Vec<u64>,
    ready: Vec<bool>,
    /// By node: the `epoch` of the last order that held it.
    seen: Vec<u32>,
    epoch: u32,
    /// Engine node index → leaf + 1 (0: not in this build).
    leaf_of: Vec<u32>,
    size: usize,
    tree: Vec<Agg>,
    log: Vec<Logged>,
    /// Requests with a bit in the masks (pods without tolerations), at most [`MAX_SHAPES`].
    shapes: Vec<Resources>,
    /// Every request seen in the run, numbered once ([`FitIndex::intern`]); kept across builds.
    interned: rustc_hash::FxHashMap<Resources, u32>,
    /// The interned requests by number.
    requests: Vec<Resources>,
    /// Per interned request, this build's bit + 1 (0: not asked yet; [`NO_BIT`]: none left).
    bit_of: Vec<u8>,
    /// The interned number of each shape with a bit.
    shape_ids: Vec<u32>,
    /// The bits asked about since the build.
    asked: u64,
    /// The last build's tree, kept for its allocation.
    spare_tree: Vec<Agg>,
    /// Per leaf: a pod without tolerations may land there (no untolerated taint).
    untainted: Vec<bool>,
    /// Per shape: how many leaves hold it (all leaves; leaves outside their window; those
    /// of them that are initialized).
    count_all: Vec<u32>,
    count_warm: Vec<u32>,
    count_ready: Vec<u32>,
}

/// Which leaves [`FitIndex::held_elsewhere`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Among {
    /// Every leaf (a pending pod).
    All,
    /// Leaves outside their consolidateAfter window (a moved pod).
    Warm,
    /// Initialized leaves outside their window (where a moved pod may land without failing
    /// the simulation).
    WarmReady,
}

fn dims(r: &Resources) -> [i64; DIMS] {
    [r.0[0], r.0[1], r.0[2]]
}

/// [`FitIndex::bit_of`]'s mark of a request asked after every bit was taken.
const NO_BIT: u8 = u8::MAX;

/// The aggregate of `l` (`untainted`: a pod without tolerations may land there) over `shapes`.
fn agg_for(l: &Leaf, untainted: bool, shapes: &[Resources]) -> Agg {
    if l.excluded {
        return EMPTY;
    }
    let d = dims(&l.free);
    let mut mask = 0u64;
    if untainted {
        for (b, req) in shapes.iter().enumerate() {
            mask |= u64::from(req.fits(&l.free)) << b;
        }
    }
    Agg {
        all: d,
        warm: if l.cooling { NONE } else { d },
        mask_all: mask,
        mask_warm: if l.cooling { 0 } else { mask },
    }
}

/// Per-shape counts after a leaf's bits went from `was` to `now`.
fn recount(counts: &mut [u32], was: u64, now: u64) {
    let mut bits = was ^ now;
    while bits != 0 {
        let b = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        if now & (1 << b) != 0 {
            counts[b] += 1;
        } else {
            counts[b] -= 1;
        }
    }
}

fn max3(a: [i64; DIMS], b: [i64; DIMS]) -> [i64; DIMS] {
    [a[0].max(b[0]), a[1].max(b[1]), a[2].max(b[2])]
}

fn covers(agg: [i64; DIMS], req: [i64; DIMS]) -> bool {
    agg[0] >= req[0] && agg[1] >= req[1] && agg[2] >= req[2]
}

impl FitIndex {
    /// Files `leaf` under its node (with whether a pod without tolerations may land there).
    fn put(&mut self, leaf: Leaf) {
        let node = leaf.node;
        if self.slots.len() <= node {
            self.slots.resize(node + 1, Leaf::default());
            self.untainted.resize(node + 1, false);
            self.cool.resize(node + 1, 0);
            self.ready.resize(node + 1, false);
            self.seen.resize(node + 1, 0);
        }
        self.untainted[node] = untolerated(&leaf.taints, &[]).is_none();
        self.cool[node] = if leaf.cooling { leaf.cool_until } else { 0 };
        self.ready[node] = leaf.initialized;
        self.slots[node] = leaf;
    }

    /// Points every node of `order` at its position (and the nodes of the last order at
    /// none), then takes `order` as the pass order.
    fn set_order(&mut self, order: Vec<usize>) {
        for &node in &self.order {
            self.leaf_of[node] = 0;
        }
        for (k, &node) in order.iter().enumerate() {
            if self.leaf_of.len() <= node {
                self.leaf_of.resize(node + 1, 0);
            }
            self.leaf_of[node] = k as u32 + 1;
        }
        self.order = order;
    }

    fn clear_counts(&mut self) {
        for counts in [
            &mut self.count_all,
            &mut self.count_warm,
            &mut self.count_ready,
        ] {
            counts.clear();
            counts.resize(MAX_SHAPES, 0);
        }
    }

    /// The per-shape counts after a leaf's aggregate went from `was` to `now` (`ready`: the
    /// leaf is initialized).
    fn count(&mut self, was: &Agg, now: &Agg, ready: bool) {
        recount(&mut self.count_all, was.mask_all, now.mask_all);
        recount(&mut self.count_warm, was.mask_warm, now.mask_warm);
        if ready {
            recount(&mut self.count_ready, was.mask_warm, now.mask_warm);
        }
    }

    /// Sets the tree's inner nodes (and empty padding leaves) from its leaf aggregates at
    /// positions `0..n`.
    fn finish(&mut self, n: usize) {
        let size = self.size;
        for k in n..size {
            self.tree[size + k] = EMPTY;
        }
        for v in (1..size).rev() {
            self.tree[v] = Agg::join(&self.tree[2 * v], &self.tree[2 * v + 1]);
        }
    }

    /// Builds the index over `leaves` (in pass order) for `key`. The requests asked about
    /// since the last build keep their bits, registered in the same pass over the leaves (a
    /// pass asks about the same few shapes as the one before).
    pub fn build(&mut self, key: (u64, u64, u64), leaves: Vec<Leaf>) {
        let kept: Vec<(u32, Resources)> = (0..self.shapes.len())
            .filter(|b| self.asked & (1u64 << b) != 0)
            .map(|b| (self.shape_ids[b], self.shapes[b]))
            .collect();
        self.bit_of.clear();
        self.shapes.clear();
        self.shape_ids.clear();
        self.asked = 0;
        for (id, req) in kept {
            let id = id as usize;
            if self.bit_of.len() <= id {
                self.bit_of.resize(id + 1, 0);
            }
            self.bit_of[id] = self.shapes.len() as u8 + 1;
            self.shapes.push(req);
            self.shape_ids.push(id as u32);
        }
        self.clear_counts();
        let size = leaves.len().next_power_of_two().max(1);
        self.size = size;
        // The allocation of the last build is reused; every slot is written below.
        self.tree.resize(2 * size, EMPTY);
        let order: Vec<usize> = leaves.iter().map(|l| l.node).collect();
        for leaf in leaves {
            self.put(leaf);
        }
        self.set_order(order);
        for k in 0..self.order.len() {
            let agg = self.agg_of(k);
            self.count(&EMPTY, &agg, self.ready[self.order[k]]);
            self.tree[size + k] = agg;
        }
        self.finish(self.order.len());
        self.log.clear();
        self.key = Some(key);
    }

    /// The leaf at position `k` of the pass order.
    pub fn at(&self, k: usize) -> &Leaf {
        &self.slots[self.order[k]]
    }

    /// The leaves in pass order.
    pub fn leaves(&self) -> impl Iterator<Item = &Leaf> {
        self.order.iter().map(|n| &self.slots[*n])
    }

    /// The leaf of engine node `node`, if it is in this build.
    pub fn leaf(&self, node: usize) -> Option<usize> {
        match self.leaf_of.get(node) {
            Some(&k) if k > 0 => Some(k as usize - 1),
            _ => None,
        }
    }

    /// Whether an index has been built.
    pub fn built(&self) -> bool {
        self.key.is_some()
    }

    /// Leaf `k`'s aggregate from its own data and the registered shapes.
    fn agg_of(&self, k: usize) -> Agg {
        let node = self.order[k];
        agg_for(&self.slots[node], self.untainted[node], &self.shapes)
    }

    /// How many requests have bits.
    pub fn shape_count(&self) -> usize {
        self.shapes.len()
    }

    /// Rebuilds the index for `key` at time `now` over the nodes of `order` (a new pass
    /// order) from the last build: `fresh` holds the leaves of the nodes that are new or
    /// changed since; every other node keeps its leaf and aggregate, its window ended if
    /// `now` is past it. The shapes keep their bits.
    pub fn reorder(&mut self, key: (u64, u64, u64), now: u64, order: &[usize], fresh: Vec<Leaf>) {
        // The counts follow: out with the leaves that leave the order or change, in with the
        // changed and new ones; kept leaves count as before unless their window ended.
        let old_size = self.size;
        self.epoch = self.epoch.wrapping_add(1).max(1);
        for &node in order {
            if self.seen.len() <= node {
                self.seen.resize(node + 1, 0);
            }
            self.seen[node] = self.epoch;
        }
        for k in 0..self.order.len() {
            let node = self.order[k];
            if self.seen[node] != self.epoch {
                let was = self.tree[old_size + k];
                self.count(&was, &EMPTY, self.ready[node]);
            }
        }
        // Fresh nodes are told apart by their old position: none, for this call.
        for l in &fresh {
            if let Some(k) = self.leaf(l.node) {
                let was = self.tree[old_size + k];
                self.count(&was, &EMPTY, self.ready[l.node]);
                self.leaf_of[l.node] = 0;
                self.order[k] = usize::MAX;
            }
        }
        for leaf in fresh {
            self.put(leaf);
        }
        let size = order.len().next_power_of_two().max(1);
        let mut tree = std::mem::take(&mut self.spare_tree);
        tree.resize(2 * size, EMPTY);
        for (k, &node) in order.iter().enumerate() {
            tree[size + k] = match self.leaf_of.get(node) {
                Some(&old) if old > 0 => {
                    let agg = self.tree[old_size + old as usize - 1];
                    let until = self.cool[node];
                    if until != 0 && now >= until {
                        self.cool[node] = 0;
                        self.slots[node].cooling = false;
                        let ended = agg_for(&self.slots[node], self.untainted[node], &self.shapes);
                        self.count(&agg, &ended, self.ready[node]);
                        ended
                    } else {
                        agg
                    }
                }
                _ => {
                    let agg = agg_for(&self.slots[node], self.untainted[node], &self.shapes);
                    self.count(&EMPTY, &agg, self.ready[node]);
                    agg
                }
            };
        }
        self.order.retain(|n| *n != usize::MAX);
        self.set_order(order.to_vec());
        self.spare_tree = std::mem::replace(&mut self.tree, tree);
        self.size = size;
        self.finish(order.len());
        self.log.clear();
        self.key = Some(key);
    }

    /// Replaces leaf `k`'s node data (same node, same place in the order).
    pub fn update_leaf(&mut self, k: usize, leaf: Leaf) {
        // Out with the old counts (under the old flags), in with the new.
        self.set_leaf(k, EMPTY);
        self.put(leaf);
        let agg = self.agg_of(k);
        self.set_leaf(k, agg);
    }

    /// Moves the index to `key` at time `now` once the changed leaves are updated: leaves
    /// whose consolidateAfter window has ended since are no longer cooling.
    pub fn advance(&mut self, key: (u64, u64, u64), now: u64) {
        for k in 0..self.order.len() {
            let node = self.order[k];
            let until = self.cool[node];
            if until != 0 && now >= until {
                self.set_leaf(k, EMPTY);
                self.cool[node] = 0;
                self.slots[node].cooling = false;
                let agg = self.agg_of(k);
                self.set_leaf(k, agg);
            }
        }
        self.log.clear();
        self.key = Some(key);
    }

    /// Whether every aggregate and count is what the leaves make (a check for tests of
    /// builds kept up to date in place).
    pub fn consistent(&self) -> bool {
        let mut counts = [[0u32; MAX_SHAPES]; 3];
        for k in 0..self.order.len() {
            let a = self.agg_of(k);
            if self.tree[self.size + k] != a {
                return false;
            }
            let ready = if self.slots[self.order[k]].initialized {
                a.mask_warm
            } else {
                0
            };
            for (c, mask) in counts.iter_mut().zip([a.mask_all, a.mask_warm, ready]) {
                recount(c, 0, mask);
            }
        }
        let inner_ok = (1..self.size)
            .all(|v| self.tree[v] == Agg::join(&self.tree[2 * v], &self.tree[2 * v + 1]));
        inner_ok
            && counts[0][..] == self.count_all[..]
            && counts[1][..] == self.count_warm[..]
            && counts[2][..] == self.count_ready[..]
    }

    /// Writes leaf `k`'s aggregate and updates its ancestors (stopping where nothing changes).
    fn set_leaf(&mut self, k: usize, agg: Agg) {
        let mut v = self.size + k;
        let old = self.tree[v];
        self.count(&old, &agg, self.ready[self.order[k]]);
        self.tree[v] = agg;
        while v > 1 {
            v /= 2;
            let joined = Agg::join(&self.tree[2 * v], &self.tree[2 * v + 1]);
            if joined == self.tree[v] {
                break; // nothing above changes either
            }
            self.tree[v] = joined;
        }
    }

    fn logged(&self, k: usize) -> Logged {
        let l = &self.slots[self.order[k]];
        Logged {
            leaf: k,
            free: l.free,
            excluded: l.excluded,
            agg: self.tree[self.size + k],
            shapes: self.shapes.len(),
        }
    }

    /// The run-wide number of request `req` (the same number for equal requests).
    pub fn intern(&mut self, req: &Resources) -> u32 {
        let next = self.interned.len() as u32;
        let id = *self.interned.entry(*req).or_insert(next);
        if id == next {
            self.requests.push(*req);
        }
        id
    }

    /// The request interned as `id`.
    pub fn request(&self, id: u32) -> Resources {
        self.requests[id as usize]
    }

    /// The bit of interned request `id` (= `req`), registering it (one pass over the leaves)
    /// while bits are left.
    fn shape(&mut self, id: u32, req: &Resources) -> Option<u32> {
        let id = id as usize;
        if self.bit_of.len() <= id {
            self.bit_of.resize(id + 1, 0);
        }
        match self.bit_of[id] {
            0 => {}
            NO_BIT => return None,
            b => {
                self.asked |= 1 << (b - 1);
                return Some(u32::from(b) - 1);
            }
        }
        if self.shapes.len() >= MAX_SHAPES {
            self.bit_of[id] = NO_BIT;
            return None;
        }
        self.bit_of[id] = self.shapes.len() as u8 + 1;
        let b = self.shapes.len() as u32;
        self.asked |= 1 << b;
        self.shapes.push(*req);
        self.shape_ids.push(id as u32);
        for k in 0..self.order.len() {
            let node = self.order[k];
            let l = &self.slots[node];
            if !l.excluded && self.untainted[node] && req.fits(&l.free) {
                let a = &mut self.tree[self.size + k];
                a.mask_all |= 1 << b;
                self.count_all[b as usize] += 1;
                if !l.cooling {
                    a.mask_warm |= 1 << b;
                    self.count_warm[b as usize] += 1;
                    if l.initialized {
                        self.count_ready[b as usize] += 1;
                    }
                }
            }
        }
        for v in (1..self.size).rev() {
            let (l, r) = (self.tree[2 * v], self.tree[2 * v + 1]);
            let a = &mut self.tree[v];
            a.mask_all = l.mask_all | r.mask_all;
            a.mask_warm = l.mask_warm | r.mask_warm;
        }
        Some(b)
    }

    /// Takes leaf `k` out of the replay (until [`FitIndex::undo`]).
    pub fn exclude(&mut self, k: usize) {
        self.log.push(self.logged(k));
        let node = self.order[k];
        self.slots[node].excluded = true;
        self.set_leaf(k, EMPTY);
    }

    /// Places `req` on leaf `k` (until [`FitIndex::undo`]).
    pub fn take(&mut self, k: usize, req: &Resources) {
        self.log.push(self.logged(k));
        let node = self.order[k];
        let l = &mut self.slots[node];
        l.free.sub_assign(req);
        let (free, cooling) = (l.free, l.cooling);
        let d = dims(&free);
        // Less room: only shapes that fitted before can still fit.
        let mut mask = self.tree[self.size + k].mask_all;
        let mut bits = mask;
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if !self.shapes[b].fits(&free) {
                mask &= !(1 << b);
            }
        }
        self.set_leaf(
            k,
            Agg {
                all: d,
                warm: if cooling { NONE } else { d },
                mask_all: mask,
                mask_warm: if cooling { 0 } else { mask },
            },
        );
    }

    /// Restores every leaf changed since the build or the last undo.
    pub fn undo(&mut self) {
        while let Some(e) = self.log.pop() {
            let k = e.leaf;
            let node = self.order[k];
            self.slots[node].free = e.free;
            self.slots[node].excluded = e.excluded;
            let mut agg = e.agg;
            let l = &self.slots[node];
            if e.shapes < self.shapes.len() && !l.excluded && self.untainted[node] {
                // Shapes registered since: their bits for the restored leaf.
                for b in e.shapes..self.shapes.len() {
                    if self.shapes[b].fits(&l.free) {
                        agg.mask_all |= 1 << b;
                        if !l.cooling {
                            agg.mask_warm |= 1 << b;
                        }
                    }
                }
            }
            self.set_leaf(k, agg);
        }
    }

    /// For a pod without tolerations: whether some leaf of `among` other than `except` holds
    /// `req` (interned as `id`), counted without walking the tree. `None` when `req` gets no
    /// shape bit.
    pub fn held_elsewhere(
        &mut self,
        id: u32,
        req: &Resources,
        among: Among,
        except: &[usize],
    ) -> Option<bool> {
        let b = self.shape(id, req)? as usize;
        let count = match among {
            Among::All => self.count_all[b],
            Among::Warm => self.count_warm[b],
            Among::WarmReady => self.count_ready[b],
        };
        // The leaves of `except` matter only when they could be all the holders.
        if count == 0 || count as usize > except.len() {
            return Some(count > 0);
        }
        let own = except
            .iter()
            .filter(|k| {
                let a = &self.tree[self.size + **k];
                let mask = match among {
                    Among::All => a.mask_all,
                    Among::Warm => a.mask_warm,
                    Among::WarmReady if self.slots[self.order[**k]].initialized => a.mask_warm,
                    Among::WarmReady => 0,
                };
                mask & (1 << b) != 0
            })
            .count() as u32;
        Some(count > own)
    }

    /// The first leaf, in pass order, that holds `req` (interned as `id`), whose taints
    /// `tolerations` tolerate, and that is not cooling when `moving`.
    pub fn first_fit(
        &mut self,
        id: u32,
        req: &Resources,
        tolerations: &[Toleration],
        moving: bool,
    ) -> Option<usize> {
        if self.order.is_empty() {
            return None;
        }
        if tolerations.is_empty()
            && let Some(b) = self.shape(id, req)
        {
            let bit = 1u64 << b;
            let has = |a: &Agg| (if moving { a.mask_warm } else { a.mask_all }) & bit != 0;
            if !has(&self.tree[1]) {
                return None;
            }
            let mut v = 1;
            while v < self.size {
                v = if has(&self.tree[2 * v]) {
                    2 * v
                } else {
                    2 * v + 1
                };
            }
            return Some(v - self.size);
        }
        self.first_fit_walk(req, tolerations, moving)
    }

    /// First fit by walking the tree with the cpu/memory/pods maxima (pods with tolerations,
    /// or beyond the shapes with bits).
    fn first_fit_walk(
        &self,
        req: &Resources,
        tolerations: &[Toleration],
        moving: bool,
    ) -> Option<usize> {
        let need = dims(req);
        // Depth-first, left to right, pruning subtrees whose maxima cannot hold the request.
        // The stack never holds more than one pending right sibling per level.
        let mut stack = [0usize; 2 * usize::BITS as usize];
        let mut top = 1;
        stack[0] = 1;
        while top > 0 {
            top -= 1;
            let v = stack[top];
            let a = &self.tree[v];
            if !covers(if moving { a.warm } else { a.all }, need) {
                continue;
            }
            if v >= self.size {
                let k = v - self.size;
                let l = &self.slots[self.order[k]];
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

    /// Node `i` with free (cpu, memory, pods), a window ending at `until` and readiness, as
    /// a leaf at time `now`.
    fn node_leaf(
        i: usize,
        (c, m, p, until, initialized): (i64, i64, i64, u64, bool),
        now: u64,
    ) -> Leaf {
        Leaf {
            node: i,
            free: res(c, m, p),
            taints: Vec::new(),
            cooling: now < until,
            cool_until: until,
            initialized,
            excluded: false,
        }
    }

    /// Asks `ix` about every query once (as a moved pod), so each gets a shape bit.
    fn ask(ix: &mut FitIndex, queries: &[(i64, i64, i64)]) {
        for (c, m, p) in queries {
            let r = res(*c, *m, *p);
            let id = ix.intern(&r);
            ix.first_fit(id, &r, &[], true);
        }
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
            nodes in prop::collection::vec((0i64..8, 0i64..8, 0i64..4, any::<bool>(), any::<bool>(), any::<bool>()), 0..40),
            ops in prop::collection::vec((0i64..6, 0i64..6, 0i64..3, any::<bool>(), 0usize..40), 0..60),
            walk in any::<bool>(),
        ) {
            // A pod with a toleration takes the walk; one without, the shape bits (up to 64
            // distinct requests, then the walk again).
            let tol = if walk {
                vec![Toleration { key: None, exists: true, value: None, effect: None }]
            } else {
                Vec::new()
            };
            let leaves: Vec<Leaf> = nodes
                .iter()
                .enumerate()
                .map(|(i, (c, m, p, cooling, excluded, initialized))| Leaf {
                    node: i,
                    free: res(*c, *m, *p),
                    taints: Vec::new(),
                    cooling: *cooling,
                    cool_until: 0,
                    initialized: *initialized,
                    excluded: *excluded,
                })
                .collect();
            let mut ix = FitIndex::default();
            ix.build((0, 0, 0), leaves.clone());
            let before: Vec<Option<usize>> = ops
                .iter()
                .map(|(c, m, p, mv, _)| {
                    let r = res(*c, *m, *p);
                    let id = ix.intern(&r);
                    ix.first_fit(id, &r, &tol, *mv)
                })
                .collect();
            let mut shadow = leaves.clone();
            for (c, m, p, mv, x) in &ops {
                let req = res(*c, *m, *p);
                let id = ix.intern(&req);
                let got = ix.first_fit(id, &req, &tol, *mv);
                prop_assert_eq!(got, linear(&shadow, &req, *mv));
                let among = if *mv { Among::Warm } else { Among::All };
                if let Some(held) = ix.held_elsewhere(id, &req, among, &[]) {
                    prop_assert_eq!(held, got.is_some());
                }
                if let Some(k) = got
                    && let Some(held) = ix.held_elsewhere(id, &req, among, &[k])
                {
                    let others = shadow.iter().enumerate().any(|(i, l)| {
                        i != k && !(l.excluded || *mv && l.cooling) && req.fits(&l.free)
                    });
                    prop_assert_eq!(held, others);
                }
                // Initialized leaves outside their window, with and without the first fit.
                for except in [Vec::new(), got.into_iter().collect::<Vec<_>>()] {
                    if let Some(held) = ix.held_elsewhere(id, &req, Among::WarmReady, &except) {
                        let others = shadow.iter().enumerate().any(|(i, l)| {
                            !except.contains(&i)
                                && !l.excluded
                                && !l.cooling
                                && l.initialized
                                && req.fits(&l.free)
                        });
                        prop_assert_eq!(held, others);
                    }
                }
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
                .map(|(c, m, p, mv, _)| {
                    let r = res(*c, *m, *p);
                    let id = ix.intern(&r);
                    ix.first_fit(id, &r, &tol, *mv)
                })
                .collect();
            prop_assert_eq!(before, after);
            prop_assert!(ix.consistent());
        }

        /// An index rebuilt for a new pass order (some nodes gone, some new, some changed,
        /// the rest kept with their windows ended as the clock says) answers every query as
        /// one built afresh, and its counts and aggregates are what its leaves make.
        #[test]
        fn an_index_reordered_answers_as_a_fresh_build(
            nodes in prop::collection::vec((0i64..8, 0i64..8, 0i64..4, 0u64..20, any::<bool>()), 1..40),
            keep in prop::collection::vec(any::<bool>(), 40),
            changed in prop::collection::vec(any::<bool>(), 40),
            added in prop::collection::vec((0i64..8, 0i64..8, 0i64..4, 0u64..20, any::<bool>()), 0..10),
            shuffle in any::<u64>(),
            queries in prop::collection::vec((0i64..6, 0i64..6, 0i64..3), 1..12),
            now in 0u64..20,
        ) {
            let leaf = node_leaf;
            let first: Vec<Leaf> = nodes.iter().enumerate().map(|(i, n)| leaf(i, *n, 0)).collect();
            let mut ix = FitIndex::default();
            ix.build((0, 0, 0), first.clone());
            ask(&mut ix, &queries);
            // The new order: kept nodes (some changed), then new ones, rotated.
            let mut order: Vec<usize> = (0..nodes.len()).filter(|i| keep[*i]).collect();
            order.extend(nodes.len()..nodes.len() + added.len());
            if !order.is_empty() {
                let r = (shuffle % order.len() as u64) as usize;
                order.rotate_left(r);
            }
            let mut fresh = Vec::new();
            let mut now_leaves: Vec<Leaf> = Vec::new();
            for &i in &order {
                let l = if i >= nodes.len() {
                    let l = leaf(i, added[i - nodes.len()], now);
                    fresh.push(l.clone());
                    l
                } else if changed[i] {
                    let (c, m, p, u, r) = nodes[i];
                    let l = leaf(i, (m, c, p, u / 2, !r), now);
                    fresh.push(l.clone());
                    l
                } else {
                    let mut l = first[i].clone();
                    l.cooling = now < l.cool_until;
                    l
                };
                now_leaves.push(l);
            }
            ix.reorder((1, 0, 0), now, &order, fresh);
            prop_assert!(ix.consistent());
            let mut fresh_ix = FitIndex::default();
            fresh_ix.build((1, 0, 0), now_leaves);
            for (c, m, p) in &queries {
                let r = res(*c, *m, *p);
                for moving in [false, true] {
                    let (a, b) = (ix.intern(&r), fresh_ix.intern(&r));
                    let got = ix.first_fit(a, &r, &[], moving).map(|k| ix.at(k).node);
                    let want = fresh_ix.first_fit(b, &r, &[], moving).map(|k| fresh_ix.at(k).node);
                    prop_assert_eq!(got, want);
                    for among in [Among::All, Among::Warm, Among::WarmReady] {
                        prop_assert_eq!(
                            ix.held_elsewhere(a, &r, among, &[]),
                            fresh_ix.held_elsewhere(b, &r, among, &[])
                        );
                    }
                }
            }
        }

        /// An index updated in place (changed leaves, then the clock moved past some
        /// windows) answers every query as one built afresh from the same leaves.
        #[test]
        fn an_index_updated_in_place_answers_as_a_fresh_build(
            nodes in prop::collection::vec((0i64..8, 0i64..8, 0i64..4, 0u64..20, any::<bool>()), 1..40),
            changes in prop::collection::vec((0usize..40, 0i64..8, 0i64..8, 0i64..4, 0u64..20, any::<bool>()), 0..20),
            queries in prop::collection::vec((0i64..6, 0i64..6, 0i64..3), 1..12),
            now in 0u64..20,
        ) {
            let mut leaves: Vec<Leaf> = nodes
                .iter()
                .enumerate()
                .map(|(i, n)| node_leaf(i, *n, 0))
                .collect();
            let mut ix = FitIndex::default();
            ix.build((0, 0, 0), leaves.clone());
            // Shapes asked before the update keep their bits through it.
            ask(&mut ix, &queries);
            for (k, c, m, p, u, r) in &changes {
                let k = k % leaves.len();
                leaves[k] = node_leaf(k, (*c, *m, *p, *u, *r), 0);
                ix.update_leaf(k, leaves[k].clone());
            }
            ix.advance((1, 0, 0), now);
            prop_assert!(ix.consistent());
            for l in &mut leaves {
                l.cooling = now < l.cool_until;
            }
            let mut fresh = FitIndex::default();
            fresh.build((1, 0, 0), leaves.clone());
            for (c, m, p) in &queries {
                let r = res(*c, *m, *p);
                for moving in [false, true] {
                    let (a, b) = (ix.intern(&r), fresh.intern(&r));
                    prop_assert_eq!(ix.first_fit(a, &r, &[], moving), fresh.first_fit(b, &r, &[], moving));
                    prop_assert_eq!(
                        ix.held_elsewhere(a, &r, Among::WarmReady, &[]),
                        fresh.held_elsewhere(b, &r, Among::WarmReady, &[])
                    );
                }
            }
        }
    }
}
