//! Resource vectors: requests, capacity and allocatable as fixed arrays of milli-values.
//!
//! Owns: the resource names karpsim understands and arithmetic on them. Every amount is the
//! Kubernetes milli-value (`MilliValue()`): cpu in millicores, memory in milli-bytes, pods in
//! milli-pods. May not: know pods, nodes or the catalog.

use std::fmt;

/// The resources karpsim tracks, in a fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(usize)]
pub enum ResourceName {
    Cpu = 0,
    Memory = 1,
    Pods = 2,
    EphemeralStorage = 3,
    NvidiaGpu = 4,
    AmdGpu = 5,
    Neuron = 6,
    NeuronCore = 7,
    PodEni = 8,
    Efa = 9,
    HabanaGaudi = 10,
    /// Any other extended resource: no instance type offers it, so a request never fits.
    Other = 11,
}

/// Number of tracked resource kinds.
pub const NUM_RESOURCES: usize = 12;

impl ResourceName {
    /// Every resource in index order.
    pub const ALL: [ResourceName; NUM_RESOURCES] = [
        ResourceName::Cpu,
        ResourceName::Memory,
        ResourceName::Pods,
        ResourceName::EphemeralStorage,
        ResourceName::NvidiaGpu,
        ResourceName::AmdGpu,
        ResourceName::Neuron,
        ResourceName::NeuronCore,
        ResourceName::PodEni,
        ResourceName::Efa,
        ResourceName::HabanaGaudi,
        ResourceName::Other,
    ];

    /// The Kubernetes resource name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceName::Cpu => "cpu",
            ResourceName::Memory => "memory",
            ResourceName::Pods => "pods",
            ResourceName::EphemeralStorage => "ephemeral-storage",
            ResourceName::NvidiaGpu => "nvidia.com/gpu",
            ResourceName::AmdGpu => "amd.com/gpu",
            ResourceName::Neuron => "aws.amazon.com/neuron",
            ResourceName::NeuronCore => "aws.amazon.com/neuroncore",
            ResourceName::PodEni => "vpc.amazonaws.com/pod-eni",
            ResourceName::Efa => "vpc.amazonaws.com/efa",
            ResourceName::HabanaGaudi => "habana.ai/gaudi",
            ResourceName::Other => "(other)",
        }
    }

    /// Looks a Kubernetes resource name up. Names with a domain that karpsim does not model
    /// map to [`ResourceName::Other`]; `None` for names that are not valid resource names.
    pub fn parse(s: &str) -> Option<ResourceName> {
        Some(match s {
            "cpu" => ResourceName::Cpu,
            "memory" => ResourceName::Memory,
            "pods" => ResourceName::Pods,
            "ephemeral-storage" => ResourceName::EphemeralStorage,
            "nvidia.com/gpu" => ResourceName::NvidiaGpu,
            "amd.com/gpu" => ResourceName::AmdGpu,
            "aws.amazon.com/neuron" => ResourceName::Neuron,
            "aws.amazon.com/neuroncore" => ResourceName::NeuronCore,
            "vpc.amazonaws.com/pod-eni" => ResourceName::PodEni,
            "vpc.amazonaws.com/efa" => ResourceName::Efa,
            "habana.ai/gaudi" => ResourceName::HabanaGaudi,
            other if other.contains('/') && !other.starts_with('/') && !other.ends_with('/') => {
                ResourceName::Other
            }
            _ => return None,
        })
    }

    /// The known names, for "did you mean" suggestions.
    pub fn known_names() -> impl Iterator<Item = &'static str> {
        ResourceName::ALL[..NUM_RESOURCES - 1]
            .iter()
            .map(|r| r.as_str())
    }
}

/// A vector of resource milli-values.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Resources(pub [i64; NUM_RESOURCES]);

impl Resources {
    /// All zero.
    pub const ZERO: Resources = Resources([0; NUM_RESOURCES]);

    /// Builds from (name, milli-value) pairs.
    pub fn from_pairs(pairs: &[(ResourceName, i64)]) -> Resources {
        let mut r = Resources::ZERO;
        for (n, v) in pairs {
            r.0[*n as usize] += v;
        }
        r
    }

    /// cpu in millicores and memory in bytes.
    pub fn cpu_mem(cpu_millis: i64, memory_bytes: i64) -> Resources {
        let mut r = Resources::ZERO;
        r.0[ResourceName::Cpu as usize] = cpu_millis;
        r.0[ResourceName::Memory as usize] = memory_bytes.saturating_mul(1000);
        r
    }

    #[inline]
    pub fn get(&self, n: ResourceName) -> i64 {
        self.0[n as usize]
    }

    #[inline]
    pub fn set(&mut self, n: ResourceName, v: i64) {
        self.0[n as usize] = v;
    }

    /// cpu in millicores.
    #[inline]
    pub fn cpu(&self) -> i64 {
        self.0[0]
    }

    /// memory in milli-bytes.
    #[inline]
    pub fn memory(&self) -> i64 {
        self.0[1]
    }

    /// Element-wise sum (saturating).
    #[inline]
    pub fn add(&self, o: &Resources) -> Resources {
        let mut r = *self;
        r.add_assign(o);
        r
    }

    #[inline]
    pub fn add_assign(&mut self, o: &Resources) {
        for i in 0..NUM_RESOURCES {
            self.0[i] = self.0[i].saturating_add(o.0[i]);
        }
    }

    #[inline]
    pub fn sub_assign(&mut self, o: &Resources) {
        for i in 0..NUM_RESOURCES {
            self.0[i] = self.0[i].saturating_sub(o.0[i]);
        }
    }

    /// Element-wise difference.
    #[inline]
    pub fn sub(&self, o: &Resources) -> Resources {
        let mut r = *self;
        r.sub_assign(o);
        r
    }

    /// True when every entry of `self` is ≤ the same entry of `avail` (Karpenter's `Fits`).
    #[inline]
    pub fn fits(&self, avail: &Resources) -> bool {
        // Every quantity compared without branching: the loop vectorizes.
        let mut ok = true;
        for i in 0..NUM_RESOURCES {
            ok &= self.0[i] <= avail.0[i];
        }
        ok
    }

    /// True when `self + extra` fits in `avail`.
    #[inline]
    pub fn fits_with(&self, extra: &Resources, avail: &Resources) -> bool {
        (0..NUM_RESOURCES).all(|i| self.0[i].saturating_add(extra.0[i]) <= avail.0[i])
    }

    /// Element-wise maximum.
    pub fn max(&self, o: &Resources) -> Resources {
        let mut r = *self;
        for i in 0..NUM_RESOURCES {
            r.0[i] = r.0[i].max(o.0[i]);
        }
        r
    }

    /// Element-wise minimum.
    pub fn min(&self, o: &Resources) -> Resources {
        let mut r = *self;
        for i in 0..NUM_RESOURCES {
            r.0[i] = r.0[i].min(o.0[i]);
        }
        r
    }

    /// Negative entries clamped to zero.
    pub fn clamp_zero(&self) -> Resources {
        let mut r = *self;
        for v in &mut r.0 {
            *v = (*v).max(0);
        }
        r
    }

    /// True when every entry is zero.
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }

    /// Non-zero entries, in index order.
    pub fn nonzero(&self) -> impl Iterator<Item = (ResourceName, i64)> + '_ {
        ResourceName::ALL.iter().filter_map(|n| {
            let v = self.0[*n as usize];
            (v != 0).then_some((*n, v))
        })
    }
}

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (n, v) in self.nonzero() {
            m.entry(&n.as_str(), &v);
        }
        m.finish()
    }
}

/// Milli-bytes in one MiB.
pub const MIB_MILLI: i64 = 1024 * 1024 * 1000;
/// Milli-bytes in one GiB.
pub const GIB_MILLI: i64 = 1024 * MIB_MILLI;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_and_arithmetic() {
        let a = Resources::cpu_mem(500, 1 << 30);
        let b = Resources::cpu_mem(1000, 2 << 30);
        assert!(a.fits(&b));
        assert!(!b.fits(&a));
        assert!(a.fits_with(&a, &b));
        assert!(!a.fits_with(&b, &b));
        assert_eq!(b.sub(&a), a);
        assert_eq!(
            ResourceName::parse("example.com/foo"),
            Some(ResourceName::Other)
        );
        assert_eq!(ResourceName::parse("cpux"), None);
    }
}
