//! Label keys and values: interning and Karpenter's well-known labels.
//!
//! Owns: the process-wide string interner behind [`Sym`], the well-known label keys of
//! Karpenter core and the AWS provider, key normalization (`beta.kubernetes.io/arch` →
//! `kubernetes.io/arch`) and the restricted-label rule. May not: know pods, nodes or the catalog.
//!
//! A [`Sym`]'s numeric id depends on the order strings were first seen, which can differ
//! between runs in parallel; ids are therefore only compared for equality and used inside
//! sets, never to order anything that reaches a decision or an output (use [`Sym::as_str`]).

use rustc_hash::FxHashMap;
use std::fmt;
use std::sync::{OnceLock, RwLock};

/// An interned string (label key or value).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(u32);

struct Interner {
    ids: FxHashMap<&'static str, u32>,
    len: u32,
}

/// Symbols per chunk of the lock-free read table.
const CHUNK: usize = 4096;
/// Chunks: room for 268 million symbols.
const CHUNKS: usize = 65536;

/// The read side: `SLOTS[id / CHUNK][id % CHUNK]` holds the string and its integer value.
/// Slots are written once, under the interner's lock, before the id is handed out, so reads
/// need no lock.
type Slot = OnceLock<(&'static str, Option<i64>)>;
static SLOTS: [OnceLock<Box<[Slot]>>; CHUNKS] = [const { OnceLock::new() }; CHUNKS];

fn slot(id: u32) -> &'static Slot {
    let (c, i) = (id as usize / CHUNK, id as usize % CHUNK);
    let chunk = SLOTS[c].get_or_init(|| (0..CHUNK).map(|_| OnceLock::new()).collect());
    &chunk[i]
}

fn push(i: &mut Interner, s: &'static str) -> u32 {
    let id = i.len;
    i.len += 1;
    i.ids.insert(s, id);
    let _ = slot(id).set((s, s.parse().ok()));
    id
}

fn interner() -> &'static RwLock<Interner> {
    static I: OnceLock<RwLock<Interner>> = OnceLock::new();
    I.get_or_init(|| {
        let mut i = Interner {
            ids: FxHashMap::default(),
            len: 0,
        };
        for k in PREINTERNED {
            push(&mut i, k);
        }
        RwLock::new(i)
    })
}

impl Sym {
    /// Interns `s`.
    pub fn new(s: &str) -> Sym {
        let lock = interner();
        if let Some(id) = lock.read().unwrap_or_else(|e| e.into_inner()).ids.get(s) {
            return Sym(*id);
        }
        let mut w = lock.write().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = w.ids.get(s) {
            return Sym(*id);
        }
        assert!(
            (w.len as usize) < CHUNK * CHUNKS,
            "more than {} distinct label strings",
            CHUNK * CHUNKS
        );
        let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
        Sym(push(&mut w, leaked))
    }

    /// The string.
    pub fn as_str(self) -> &'static str {
        // Make sure the preinterned symbols exist before any constant is read.
        let _ = interner();
        slot(self.0).get().map(|x| x.0).unwrap_or("")
    }

    /// The value parsed as an integer, for Gt/Lt bounds.
    pub fn as_int(self) -> Option<i64> {
        let _ = interner();
        slot(self.0).get().and_then(|x| x.1)
    }

    const fn pre(i: u32) -> Sym {
        Sym(i)
    }
}

impl fmt::Debug for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Strings interned first, so their [`Sym`]s are constants.
const PREINTERNED: &[&str] = &[
    "karpenter.sh/nodepool",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "karpenter.sh/capacity-type",
    "node.kubernetes.io/windows-build",
    "kubernetes.io/hostname",
    "karpenter.sh/registered",
    "karpenter.sh/initialized",
    "true",
    "spot",
    "on-demand",
    "reserved",
    "karpenter.k8s.aws/ec2nodeclass",
];

pub const NODEPOOL: Sym = Sym::pre(0);
pub const ZONE: Sym = Sym::pre(1);
pub const REGION: Sym = Sym::pre(2);
pub const INSTANCE_TYPE: Sym = Sym::pre(3);
pub const ARCH: Sym = Sym::pre(4);
pub const OS: Sym = Sym::pre(5);
pub const CAPACITY_TYPE: Sym = Sym::pre(6);
pub const WINDOWS_BUILD: Sym = Sym::pre(7);
pub const HOSTNAME: Sym = Sym::pre(8);
pub const REGISTERED: Sym = Sym::pre(9);
pub const INITIALIZED: Sym = Sym::pre(10);
pub const TRUE: Sym = Sym::pre(11);
pub const SPOT: Sym = Sym::pre(12);
pub const ON_DEMAND: Sym = Sym::pre(13);
pub const RESERVED: Sym = Sym::pre(14);
pub const NODECLASS: Sym = Sym::pre(15);

/// Karpenter core's well-known labels (`core: pkg/apis/v1/labels.go` WellKnownLabels).
pub const CORE_WELL_KNOWN: &[&str] = &[
    "karpenter.sh/nodepool",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "karpenter.sh/capacity-type",
    "node.kubernetes.io/windows-build",
];

/// The AWS provider's additional well-known labels (`aws: pkg/apis/v1/labels.go`).
pub const AWS_WELL_KNOWN: &[&str] = &[
    "karpenter.k8s.aws/instance-hypervisor",
    "karpenter.k8s.aws/instance-encryption-in-transit-supported",
    "karpenter.k8s.aws/instance-category",
    "karpenter.k8s.aws/instance-family",
    "karpenter.k8s.aws/instance-generation",
    "karpenter.k8s.aws/instance-local-nvme",
    "karpenter.k8s.aws/instance-size",
    "karpenter.k8s.aws/instance-cpu",
    "karpenter.k8s.aws/instance-cpu-manufacturer",
    "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz",
    "karpenter.k8s.aws/instance-memory",
    "karpenter.k8s.aws/instance-ebs-bandwidth",
    "karpenter.k8s.aws/instance-network-bandwidth",
    "karpenter.k8s.aws/instance-gpu-name",
    "karpenter.k8s.aws/instance-gpu-manufacturer",
    "karpenter.k8s.aws/instance-gpu-count",
    "karpenter.k8s.aws/instance-gpu-memory",
    "karpenter.k8s.aws/instance-accelerator-name",
    "karpenter.k8s.aws/instance-accelerator-manufacturer",
    "karpenter.k8s.aws/instance-accelerator-count",
    "karpenter.k8s.aws/instance-tenancy",
    "karpenter.k8s.aws/instance-capability-flex",
    "karpenter.k8s.aws/capacity-reservation-id",
    "karpenter.k8s.aws/capacity-reservation-type",
    "karpenter.k8s.aws/capacity-reservation-interruptible",
    "karpenter.k8s.aws/placement-group-id",
    "karpenter.k8s.aws/placement-group-partition",
    "karpenter.k8s.aws/nitro-sandbox",
    "topology.k8s.aws/zone-id",
];

/// True for a key that NodeClaims may leave undefined (`AllowUndefinedWellKnownLabels`).
pub fn is_well_known(key: &str) -> bool {
    CORE_WELL_KNOWN.contains(&key)
        || AWS_WELL_KNOWN.contains(&key)
        || (HAS_EXTRA_WELL_KNOWN.load(std::sync::atomic::Ordering::Acquire)
            && is_extra_well_known(Sym::new(key)))
}

static HAS_EXTRA_WELL_KNOWN: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

fn extra_well_known() -> &'static RwLock<Vec<Sym>> {
    static E: OnceLock<RwLock<Vec<Sym>>> = OnceLock::new();
    E.get_or_init(|| RwLock::new(Vec::new()))
}

#[inline]
fn is_extra_well_known(key: Sym) -> bool {
    HAS_EXTRA_WELL_KNOWN.load(std::sync::atomic::Ordering::Acquire)
        && extra_well_known()
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
}

/// Test hook: adds `key` to the well-known set for the rest of the process, as Karpenter's
/// fake cloud provider does for its `size`, `special` and `integer` labels (`fake/instancetype.go`
/// `init`). Used only by the conformance tests; the simulator itself never calls it.
pub fn register_extra_well_known(key: &str) {
    let k = Sym::new(key);
    let mut w = extra_well_known()
        .write()
        .unwrap_or_else(|e| e.into_inner());
    if !w.contains(&k) {
        w.push(k);
    }
    HAS_EXTRA_WELL_KNOWN.store(true, std::sync::atomic::Ordering::Release);
}

/// Interned well-known keys, for fast checks.
pub fn well_known_syms() -> &'static [Sym] {
    static W: OnceLock<Vec<Sym>> = OnceLock::new();
    W.get_or_init(|| {
        CORE_WELL_KNOWN
            .iter()
            .chain(AWS_WELL_KNOWN)
            .map(|k| Sym::new(k))
            .collect()
    })
}

/// True when `key` is a well-known label (by symbol).
#[inline]
pub fn is_well_known_sym(key: Sym) -> bool {
    well_known_syms().contains(&key) || is_extra_well_known(key)
}

/// Maps deprecated aliases to their stable keys (`NormalizedLabels`).
pub fn normalize_key(key: &str) -> &str {
    match key {
        "failure-domain.beta.kubernetes.io/zone" => "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region" => "topology.kubernetes.io/region",
        "beta.kubernetes.io/arch" => "kubernetes.io/arch",
        "beta.kubernetes.io/os" => "kubernetes.io/os",
        "beta.kubernetes.io/instance-type" => "node.kubernetes.io/instance-type",
        other => other,
    }
}

/// Why a label key may not be used in a NodePool requirement or a pod's node selection
/// (`IsRestrictedLabel`, core and AWS). `None` when the key is allowed.
pub fn restricted_reason(key: &str) -> Option<String> {
    if is_well_known(key) {
        return None;
    }
    let domain = key.split_once('/').map(|(d, _)| d).unwrap_or("");
    for restricted in ["karpenter.sh", "karpenter.k8s.aws"] {
        if domain == restricted || domain.ends_with(&format!(".{restricted}")) {
            return Some(format!(
                "label `{key}` is restricted: the `{restricted}` domain is reserved for Karpenter's \
                 own labels (use a well-known label or a custom label outside that domain)"
            ));
        }
    }
    if key == "kubernetes.io/hostname" {
        return Some(
            "label `kubernetes.io/hostname` is restricted: Karpenter does not allow it in requirements"
                .to_string(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preinterned_constants() {
        assert_eq!(ZONE.as_str(), "topology.kubernetes.io/zone");
        assert_eq!(Sym::new("topology.kubernetes.io/zone"), ZONE);
        assert_eq!(ON_DEMAND.as_str(), "on-demand");
        assert_eq!(NODECLASS.as_str(), "karpenter.k8s.aws/ec2nodeclass");
        let a = Sym::new("team-a");
        assert_eq!(Sym::new("team-a"), a);
        assert_eq!(a.as_str(), "team-a");
    }

    // karpenter: pkg/apis/v1/labels.go IsRestrictedLabel
    #[test]
    fn restricted_labels() {
        assert!(restricted_reason("kubernetes.io/hostname").is_some());
        assert!(restricted_reason("karpenter.sh/foo").is_some());
        assert!(restricted_reason("sub.karpenter.sh/foo").is_some());
        assert!(restricted_reason("karpenter.k8s.aws/foo").is_some());
        assert!(restricted_reason("karpenter.sh/capacity-type").is_none());
        assert!(restricted_reason("karpenter.k8s.aws/instance-family").is_none());
        assert!(restricted_reason("team").is_none());
    }
}
