//! Capacity, overhead and allocatable of an instance type (provisioning.md §5;
//! `aws: pkg/providers/instancetype/types.go` computeCapacity, kubeReservedResources,
//! evictionThreshold, pods; `aws: pkg/providers/amifamily/*` feature flags and default block
//! devices; `core: pkg/cloudprovider/types.go` computeAllocatable).

use super::InstanceTypeInfo;
use crate::resources::{GIB_MILLI, MIB_MILLI, ResourceName, Resources};
use crate::units::parse_quantity_milli;
use std::collections::BTreeMap;

/// Karpenter's default `--vm-memory-overhead-percent`.
pub const VM_MEMORY_OVERHEAD_PERCENT: f64 = 0.075;

/// An EC2NodeClass AMI family (`spec.amiFamily`, or the family of an `amiSelectorTerms` alias).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AmiFamily {
    AL2,
    AL2023,
    Bottlerocket,
    Windows2019,
    Windows2022,
    Windows2025,
    Custom,
}

impl AmiFamily {
    /// Every family.
    pub const ALL: [AmiFamily; 7] = [
        AmiFamily::AL2,
        AmiFamily::AL2023,
        AmiFamily::Bottlerocket,
        AmiFamily::Windows2019,
        AmiFamily::Windows2022,
        AmiFamily::Windows2025,
        AmiFamily::Custom,
    ];

    /// Parses an `amiFamily` value (`AL2023`, `Bottlerocket`, ...) or an alias
    /// (`al2023@latest`, `bottlerocket@v1.20.0`, `windows2022@latest`); case-insensitive.
    pub fn parse(s: &str) -> Option<AmiFamily> {
        let s = s.trim();
        let family = s.split_once('@').map_or(s, |(f, _)| f);
        AmiFamily::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(family))
    }

    /// The `amiFamily` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AmiFamily::AL2 => "AL2",
            AmiFamily::AL2023 => "AL2023",
            AmiFamily::Bottlerocket => "Bottlerocket",
            AmiFamily::Windows2019 => "Windows2019",
            AmiFamily::Windows2022 => "Windows2022",
            AmiFamily::Windows2025 => "Windows2025",
            AmiFamily::Custom => "Custom",
        }
    }

    /// A Windows family.
    pub fn is_windows(self) -> bool {
        matches!(
            self,
            AmiFamily::Windows2019 | AmiFamily::Windows2022 | AmiFamily::Windows2025
        )
    }

    /// `node.kubernetes.io/windows-build` of a Windows family.
    pub fn windows_build(self) -> Option<&'static str> {
        match self {
            AmiFamily::Windows2019 => Some("10.0.17763"),
            AmiFamily::Windows2022 => Some("10.0.20348"),
            AmiFamily::Windows2025 => Some("10.0.26100"),
            _ => None,
        }
    }

    /// Feature flag `UsesENILimitedMemoryOverhead`: kube-reserved memory uses the ENI-limited
    /// pod count (AL2, AL2023, Custom) rather than max-pods (Bottlerocket, Windows).
    pub fn uses_eni_limited_memory_overhead(self) -> bool {
        !(self == AmiFamily::Bottlerocket || self.is_windows())
    }

    /// Feature flag `PodsPerCoreEnabled` (not Bottlerocket).
    pub fn pods_per_core_enabled(self) -> bool {
        self != AmiFamily::Bottlerocket
    }

    /// Feature flag `SupportsENILimitedPodDensity` (not Windows: they get 110).
    pub fn supports_eni_limited_pod_density(self) -> bool {
        !self.is_windows()
    }

    /// Size of the default ephemeral block device in GiB: 50 for Windows (`/dev/sda1`), 20
    /// otherwise (AL2/AL2023 `/dev/xvda`, Bottlerocket `/dev/xvdb`, Custom: Karpenter's
    /// `DefaultEBS`).
    pub fn default_ephemeral_gib(self) -> i64 {
        if self.is_windows() { 50 } else { 20 }
    }
}

/// The EC2NodeClass `spec.kubelet` fields that change capacity or overhead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeletSettings {
    pub max_pods: Option<i64>,
    pub pods_per_core: Option<i64>,
    /// Resource name → milli-value; replaces the computed default of that resource.
    pub kube_reserved: BTreeMap<String, i64>,
    /// Resource name → milli-value (empty by default).
    pub system_reserved: BTreeMap<String, i64>,
    /// Signal → threshold (`memory.available` / `nodefs.available` are used; a quantity such
    /// as `500Mi` or a percentage of capacity such as `10%`; `100%` means 0).
    pub eviction_hard: BTreeMap<String, String>,
}

impl KubeletSettings {
    /// Checks the `eviction_hard` values this module reads (Karpenter's CRD validation would
    /// reject the same). Invalid values are otherwise ignored by the computations.
    pub fn validate(&self) -> Result<(), String> {
        for key in [MEMORY_AVAILABLE, NODEFS_AVAILABLE] {
            if let Some(v) = self.eviction_hard.get(key)
                && eviction_signal(0, v).is_none()
            {
                return Err(format!(
                    "evictionHard `{key}`: `{v}` is neither a quantity nor a percentage"
                ));
            }
        }
        Ok(())
    }
}

const MEMORY_AVAILABLE: &str = "memory.available";
const NODEFS_AVAILABLE: &str = "nodefs.available";

/// The three parts of Karpenter's `InstanceTypeOverhead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Overhead {
    pub kube_reserved: Resources,
    pub system_reserved: Resources,
    pub eviction_threshold: Resources,
}

impl Overhead {
    /// The sum of the three.
    pub fn total(&self) -> Resources {
        self.kube_reserved
            .add(&self.system_reserved)
            .add(&self.eviction_threshold)
    }
}

/// Ephemeral-storage capacity (milli-bytes) from the root volume: `root_volume_gib` GiB, or the
/// AMI family's default block device (20 GiB; 50 GiB on Windows).
pub fn default_ephemeral_storage(family: AmiFamily, root_volume_gib: Option<i64>) -> i64 {
    root_volume_gib
        .unwrap_or_else(|| family.default_ephemeral_gib())
        .max(0)
        .saturating_mul(GIB_MILLI)
}

/// Ephemeral-storage capacity (milli-bytes) under `instanceStorePolicy: RAID0`: the local NVMe
/// total in decimal GB, as Karpenter reads `TotalSizeInGB`; `None` without instance storage.
pub fn raid0_ephemeral_storage(it: &InstanceTypeInfo) -> Option<i64> {
    (it.local_nvme_gib > 0).then(|| it.local_nvme_gib.saturating_mul(1_000_000_000_000))
}

/// Memory capacity in MiB: EC2 memory, minus 64 MiB on arm64, minus ceil(7.5 %) VM overhead.
fn memory_mib(it: &InstanceTypeInfo) -> i64 {
    let mut mib = it.memory_mib;
    if it.is_arm64() {
        mib -= 64;
    }
    // Same float operations, in the same order, as Karpenter (bytes × pct / 1024 / 1024).
    let bytes = mib as f64 * 1024.0 * 1024.0;
    let overhead = (bytes * VM_MEMORY_OVERHEAD_PERCENT / 1024.0 / 1024.0).ceil() as i64;
    mib - overhead
}

/// Pod capacity (§5.1): `max_pods` if set; else the ENI-limited count (not Windows: 110);
/// then min with `pods_per_core × vCPU` when `pods_per_core > 0` (not Bottlerocket).
pub fn pods(it: &InstanceTypeInfo, family: AmiFamily, kubelet: &KubeletSettings) -> i64 {
    let mut count = match kubelet.max_pods {
        Some(m) => m,
        None if family.supports_eni_limited_pod_density() => it.eni_limited_pods(),
        None => 110,
    };
    if let Some(ppc) = kubelet.pods_per_core
        && ppc > 0
        && family.pods_per_core_enabled()
    {
        count = count.min(ppc.saturating_mul(it.vcpu));
    }
    count
}

/// Default kube-reserved CPU (millicores) for a CPU capacity in millicores: 6 % of the first
/// core, 1 % of the second, 0.5 % of the next two, 0.25 % above four, each band truncated.
pub fn kube_reserved_cpu_millis(cpu_millis: i64) -> i64 {
    const BANDS: [(i64, i64, f64); 4] = [
        (0, 1000, 0.06),
        (1000, 2000, 0.01),
        (2000, 4000, 0.005),
        (4000, 1 << 31, 0.0025),
    ];
    let mut total = 0;
    for (start, end, pct) in BANDS {
        if cpu_millis >= start {
            let r = if cpu_millis < end {
                cpu_millis - start
            } else {
                end - start
            };
            total += (r as f64 * pct) as i64;
        }
    }
    total
}

/// Capacity (§5.1) with the root volume of `root_volume_gib` GiB (`None` = the AMI family's
/// default block device).
pub fn capacity(
    it: &InstanceTypeInfo,
    family: AmiFamily,
    kubelet: &KubeletSettings,
    root_volume_gib: Option<i64>,
) -> Resources {
    capacity_with_storage(
        it,
        family,
        kubelet,
        default_ephemeral_storage(family, root_volume_gib),
    )
}

/// Capacity with an explicit ephemeral-storage capacity in milli-bytes (e.g. from
/// [`raid0_ephemeral_storage`] or a block-device-mapping quantity).
pub fn capacity_with_storage(
    it: &InstanceTypeInfo,
    family: AmiFamily,
    kubelet: &KubeletSettings,
    ephemeral_storage_milli: i64,
) -> Resources {
    let mut r = Resources::ZERO;
    r.set(ResourceName::Cpu, it.vcpu.saturating_mul(1000));
    r.set(
        ResourceName::Memory,
        memory_mib(it).saturating_mul(MIB_MILLI),
    );
    r.set(
        ResourceName::Pods,
        pods(it, family, kubelet).saturating_mul(1000),
    );
    r.set(ResourceName::EphemeralStorage, ephemeral_storage_milli);
    r.set(ResourceName::NvidiaGpu, it.alloc_nvidia_gpu * 1000);
    r.set(ResourceName::AmdGpu, it.alloc_amd_gpu * 1000);
    r.set(ResourceName::Neuron, it.alloc_neuron * 1000);
    r.set(ResourceName::NeuronCore, it.alloc_neuroncore * 1000);
    r.set(ResourceName::PodEni, it.alloc_pod_eni * 1000);
    r.set(ResourceName::Efa, it.alloc_efa * 1000);
    r
}

/// Overhead (§5.2) with the root volume of `root_volume_gib` GiB.
pub fn overhead(
    it: &InstanceTypeInfo,
    family: AmiFamily,
    kubelet: &KubeletSettings,
    root_volume_gib: Option<i64>,
) -> Overhead {
    overhead_with_storage(
        it,
        family,
        kubelet,
        default_ephemeral_storage(family, root_volume_gib),
    )
}

/// Overhead (§5.2) with an explicit ephemeral-storage capacity in milli-bytes.
pub fn overhead_with_storage(
    it: &InstanceTypeInfo,
    family: AmiFamily,
    kubelet: &KubeletSettings,
    ephemeral_storage_milli: i64,
) -> Overhead {
    // kube-reserved defaults, then per-resource replacement.
    let p = if family.uses_eni_limited_memory_overhead() {
        it.eni_limited_pods()
    } else {
        pods(it, family, kubelet)
    };
    let mut kube = Resources::ZERO;
    kube.set(
        ResourceName::Cpu,
        kube_reserved_cpu_millis(it.vcpu.saturating_mul(1000)),
    );
    kube.set(
        ResourceName::Memory,
        (11 * p + 255).saturating_mul(MIB_MILLI),
    );
    kube.set(ResourceName::EphemeralStorage, GIB_MILLI);
    apply_entries(&mut kube, &kubelet.kube_reserved);

    let mut system = Resources::ZERO;
    apply_entries(&mut system, &kubelet.system_reserved);

    // Eviction thresholds: 100Mi memory, ceil(10 %) of storage; evictionHard overrides.
    let storage_bytes = ceil_div_1000(ephemeral_storage_milli);
    let mut eviction = Resources::ZERO;
    eviction.set(ResourceName::Memory, 100 * MIB_MILLI);
    eviction.set(
        ResourceName::EphemeralStorage,
        ((storage_bytes as f64 / 100.0 * 10.0).ceil() as i64).saturating_mul(1000),
    );
    if let Some(v) = kubelet.eviction_hard.get(MEMORY_AVAILABLE) {
        let mem_bytes = memory_mib(it).saturating_mul(1024 * 1024);
        if let Some(m) = eviction_signal(mem_bytes, v) {
            eviction.set(ResourceName::Memory, m);
        }
    }
    if let Some(v) = kubelet.eviction_hard.get(NODEFS_AVAILABLE)
        && let Some(m) = eviction_signal(storage_bytes, v)
    {
        eviction.set(ResourceName::EphemeralStorage, m);
    }
    Overhead {
        kube_reserved: kube,
        system_reserved: system,
        eviction_threshold: eviction,
    }
}

/// Allocatable = capacity − (kube-reserved + system-reserved + eviction threshold), not
/// clamped (as in Karpenter, a huge reservation makes it negative and nothing fits).
pub fn allocatable(
    it: &InstanceTypeInfo,
    family: AmiFamily,
    kubelet: &KubeletSettings,
    root_volume_gib: Option<i64>,
) -> Resources {
    allocatable_with_storage(
        it,
        family,
        kubelet,
        default_ephemeral_storage(family, root_volume_gib),
    )
}

/// Allocatable with an explicit ephemeral-storage capacity in milli-bytes.
pub fn allocatable_with_storage(
    it: &InstanceTypeInfo,
    family: AmiFamily,
    kubelet: &KubeletSettings,
    ephemeral_storage_milli: i64,
) -> Resources {
    let cap = capacity_with_storage(it, family, kubelet, ephemeral_storage_milli);
    let oh = overhead_with_storage(it, family, kubelet, ephemeral_storage_milli);
    cap.sub(&oh.total())
}

/// Sets every entry whose name is a resource karpsim tracks (others, e.g. `pid`, are
/// ignored: they cannot change what fits).
fn apply_entries(r: &mut Resources, entries: &BTreeMap<String, i64>) {
    for (k, v) in entries {
        match ResourceName::parse(k) {
            Some(ResourceName::Other) | None => {}
            Some(n) => r.set(n, *v),
        }
    }
}

fn ceil_div_1000(milli: i64) -> i64 {
    milli.div_euclid(1000) + i64::from(milli.rem_euclid(1000) != 0)
}

/// An eviction signal's threshold in milli-units: a percentage of `capacity_bytes`
/// (ceil; `100%` = 0) or a quantity. `None` if `value` is neither.
fn eviction_signal(capacity_bytes: i64, value: &str) -> Option<i64> {
    let v = value.trim();
    if v.ends_with('%') {
        let p: f64 = v.trim_matches('%').trim().parse().ok()?;
        if !p.is_finite() {
            return None;
        }
        let p = if p == 100.0 { 0.0 } else { p };
        let bytes = (capacity_bytes as f64 / 100.0 * p).ceil();
        Some((bytes as i64).saturating_mul(1000))
    } else {
        parse_quantity_milli(v).ok()
    }
}
