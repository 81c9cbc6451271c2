//! The well-known labels an instance type defines, as Karpenter's AWS provider builds its
//! instance-type requirements (`aws: pkg/providers/instancetype/types.go` computeRequirements,
//! keys from `aws: pkg/apis/v1/labels.go`). Each key maps to one value (`In [v]`) or to `None`
//! (`DoesNotExist`: a pod requiring the key `Exists` does not match the type).
//!
//! Left out, because they depend on the offering or the EC2NodeClass rather than the type:
//! `topology.kubernetes.io/zone`, `topology.k8s.aws/zone-id`, `topology.kubernetes.io/region`,
//! `karpenter.sh/capacity-type`, `karpenter.k8s.aws/capacity-reservation-{id,type,interruptible}`
//! (DoesNotExist without reservations), `karpenter.k8s.aws/instance-tenancy` (always
//! `In [default, dedicated]`, two values), and `karpenter.k8s.aws/nitro-sandbox` (EC2's Nitro
//! Enclaves support flag, which the catalog does not carry).

use super::{AmiFamily, InstanceTypeInfo};

pub const LABEL_INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
pub const LABEL_ARCH: &str = "kubernetes.io/arch";
pub const LABEL_OS: &str = "kubernetes.io/os";
pub const LABEL_WINDOWS_BUILD: &str = "node.kubernetes.io/windows-build";
pub const LABEL_INSTANCE_CATEGORY: &str = "karpenter.k8s.aws/instance-category";
pub const LABEL_INSTANCE_FAMILY: &str = "karpenter.k8s.aws/instance-family";
pub const LABEL_INSTANCE_GENERATION: &str = "karpenter.k8s.aws/instance-generation";
pub const LABEL_INSTANCE_SIZE: &str = "karpenter.k8s.aws/instance-size";
pub const LABEL_CPU: &str = "karpenter.k8s.aws/instance-cpu";
pub const LABEL_CPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-cpu-manufacturer";
pub const LABEL_CPU_SUSTAINED_CLOCK_SPEED_MHZ: &str =
    "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz";
pub const LABEL_MEMORY: &str = "karpenter.k8s.aws/instance-memory";
pub const LABEL_EBS_BANDWIDTH: &str = "karpenter.k8s.aws/instance-ebs-bandwidth";
pub const LABEL_NETWORK_BANDWIDTH: &str = "karpenter.k8s.aws/instance-network-bandwidth";
pub const LABEL_HYPERVISOR: &str = "karpenter.k8s.aws/instance-hypervisor";
pub const LABEL_ENCRYPTION_IN_TRANSIT_SUPPORTED: &str =
    "karpenter.k8s.aws/instance-encryption-in-transit-supported";
pub const LABEL_CAPABILITY_FLEX: &str = "karpenter.k8s.aws/instance-capability-flex";
pub const LABEL_LOCAL_NVME: &str = "karpenter.k8s.aws/instance-local-nvme";
pub const LABEL_GPU_NAME: &str = "karpenter.k8s.aws/instance-gpu-name";
pub const LABEL_GPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-gpu-manufacturer";
pub const LABEL_GPU_COUNT: &str = "karpenter.k8s.aws/instance-gpu-count";
pub const LABEL_GPU_MEMORY: &str = "karpenter.k8s.aws/instance-gpu-memory";
pub const LABEL_ACCELERATOR_NAME: &str = "karpenter.k8s.aws/instance-accelerator-name";
pub const LABEL_ACCELERATOR_MANUFACTURER: &str =
    "karpenter.k8s.aws/instance-accelerator-manufacturer";
pub const LABEL_ACCELERATOR_COUNT: &str = "karpenter.k8s.aws/instance-accelerator-count";

/// The keys [`well_known_labels`] returns, in its order.
pub const WELL_KNOWN_LABEL_KEYS: [&str; 25] = [
    LABEL_INSTANCE_TYPE,
    LABEL_ARCH,
    LABEL_OS,
    LABEL_WINDOWS_BUILD,
    LABEL_INSTANCE_CATEGORY,
    LABEL_INSTANCE_FAMILY,
    LABEL_INSTANCE_GENERATION,
    LABEL_INSTANCE_SIZE,
    LABEL_CPU,
    LABEL_CPU_MANUFACTURER,
    LABEL_CPU_SUSTAINED_CLOCK_SPEED_MHZ,
    LABEL_MEMORY,
    LABEL_EBS_BANDWIDTH,
    LABEL_NETWORK_BANDWIDTH,
    LABEL_HYPERVISOR,
    LABEL_ENCRYPTION_IN_TRANSIT_SUPPORTED,
    LABEL_CAPABILITY_FLEX,
    LABEL_LOCAL_NVME,
    LABEL_GPU_NAME,
    LABEL_GPU_MANUFACTURER,
    LABEL_GPU_COUNT,
    LABEL_GPU_MEMORY,
    LABEL_ACCELERATOR_NAME,
    LABEL_ACCELERATOR_MANUFACTURER,
    LABEL_ACCELERATOR_COUNT,
];

/// `family.size` split at the dot, when the name has exactly one dot (Karpenter's rule for the
/// family and size labels).
pub fn split_instance_type_name(name: &str) -> Option<(&str, &str)> {
    let (family, size) = name.split_once('.')?;
    (!size.contains('.')).then_some((family, size))
}

/// The type's well-known labels for a Linux AMI family (AL2, AL2023, Bottlerocket, Custom).
/// See [`well_known_labels_for`].
pub fn well_known_labels(it: &InstanceTypeInfo) -> Vec<(&'static str, Option<String>)> {
    well_known_labels_for(it, AmiFamily::AL2023)
}

/// The type's well-known labels under an AMI family: the keys of [`WELL_KNOWN_LABEL_KEYS`] in
/// that order, each with its single value or `None` (DoesNotExist). Windows families set
/// `kubernetes.io/os=windows` (arm64 types: no OS value, so they never match) and
/// `node.kubernetes.io/windows-build`.
pub fn well_known_labels_for(
    it: &InstanceTypeInfo,
    family: AmiFamily,
) -> Vec<(&'static str, Option<String>)> {
    let os = if family.is_windows() {
        (!it.is_arm64()).then(|| "windows".to_string())
    } else {
        Some(it.os.clone())
    };
    let (fam, size) = match split_instance_type_name(&it.name) {
        Some(_) => (Some(it.family.clone()), Some(it.size.clone())),
        None => (None, None),
    };
    let has_gpu = it.gpu_name.is_some();
    let has_accel = it.accelerator_name.is_some();
    let s = |v: i64| Some(v.to_string());
    vec![
        (LABEL_INSTANCE_TYPE, Some(it.name.clone())),
        (LABEL_ARCH, Some(it.arch.clone())),
        (LABEL_OS, os),
        (
            LABEL_WINDOWS_BUILD,
            family.windows_build().map(str::to_string),
        ),
        (LABEL_INSTANCE_CATEGORY, it.category.clone()),
        (LABEL_INSTANCE_FAMILY, fam),
        (LABEL_INSTANCE_GENERATION, it.generation.and_then(s)),
        (LABEL_INSTANCE_SIZE, size),
        (LABEL_CPU, s(it.vcpu)),
        (LABEL_CPU_MANUFACTURER, it.cpu_manufacturer.clone()),
        (
            LABEL_CPU_SUSTAINED_CLOCK_SPEED_MHZ,
            it.cpu_sustained_clock_mhz.and_then(s),
        ),
        (LABEL_MEMORY, s(it.memory_mib)),
        (LABEL_EBS_BANDWIDTH, it.ebs_bandwidth_mbps.and_then(s)),
        (
            LABEL_NETWORK_BANDWIDTH,
            it.network_bandwidth_mbps.and_then(s),
        ),
        // Karpenter always sets `In [hypervisor]`; bare-metal types get the empty string.
        (
            LABEL_HYPERVISOR,
            Some(it.hypervisor.clone().unwrap_or_default()),
        ),
        (
            LABEL_ENCRYPTION_IN_TRANSIT_SUPPORTED,
            Some(it.encryption_in_transit_supported.to_string()),
        ),
        (LABEL_CAPABILITY_FLEX, Some(it.capability_flex.to_string())),
        (
            LABEL_LOCAL_NVME,
            (it.local_nvme_gib > 0).then(|| it.local_nvme_gib.to_string()),
        ),
        (
            LABEL_GPU_NAME,
            has_gpu.then(|| it.gpu_name.clone()).flatten(),
        ),
        (
            LABEL_GPU_MANUFACTURER,
            has_gpu.then(|| it.gpu_manufacturer.clone().unwrap_or_default()),
        ),
        (LABEL_GPU_COUNT, has_gpu.then(|| it.gpu_count.to_string())),
        (
            LABEL_GPU_MEMORY,
            has_gpu.then(|| it.gpu_memory_mib.to_string()),
        ),
        (LABEL_ACCELERATOR_NAME, it.accelerator_name.clone()),
        (
            LABEL_ACCELERATOR_MANUFACTURER,
            has_accel.then(|| it.accelerator_manufacturer.clone().unwrap_or_default()),
        ),
        (
            LABEL_ACCELERATOR_COUNT,
            has_accel.then(|| it.accelerator_count.to_string()),
        ),
    ]
}
