//! The EC2 catalog: instance types, on-demand prices, Spot Advisor data, region zones, and the
//! AWS capacity / overhead / allocatable model and well-known labels of an instance type.
//!
//! Owns: parsing the three catalog CSV files (the `pricing-data/` snapshot embedded in the
//! binary with `include_str!`, or files a scenario names instead), `pricing-data/regions.csv`,
//! price look-ups, and the arithmetic of provisioning.md §5 (capacity, kube/system reserved,
//! eviction thresholds, allocatable) and of Karpenter's instance-type requirements
//! (`aws: pkg/providers/instancetype/types.go` computeRequirements).
//!
//! May not: know NodePools, NodeClaims, pods, offerings' availability, the ICE cache or
//! simulated time. Zone, capacity-type and region labels belong to offerings, which other
//! modules build from [`Catalog::on_demand_price`], [`Catalog::spot_price`] and the scenario's
//! zones. Nothing here reads the file system except [`Catalog::from_files`].
//!
//! # Prices
//!
//! * On-demand: `ec2-on-demand-prices.csv`, USD/hour per (region, instance type), the same in
//!   every zone of the region (as in Karpenter).
//! * Spot (first, simple model): `on-demand × (1 − savings_pct / 100)` where `savings_pct` is
//!   the Spot Instance Advisor's savings figure for (region, type), the same in every zone.
//!   A type with no advisor entry (or no on-demand price) in the region has no Spot price and
//!   therefore no Spot offering. A later model may vary the price per zone and over time.
//!
//! # Caching
//!
//! [`Catalog::embedded`] parses the embedded files once per process (a `OnceLock`) and hands
//! out a `&'static Catalog`.

mod csvread;
mod labels;
mod overhead;
/// How Spot prices of one instance type differ between zones: quantiles (0 %, 5 %, …, 100 %)
/// of ln(zone price / the mean over the type's zones), measured on the Spot price sample in
/// `../shared/catalog` (2022-05-31, Linux/UNIX, the last price of each pool in the window,
/// 3,009 region × type pools seen in two or more zones, 8,432 zone prices; the 0 % and 100 %
/// points are the 1 % and 99 % quantiles). Half the zones sit within ±1.5 % of the mean; a
/// tenth are 10–40 % away. The sample itself is not shipped.
const ZONE_LOG_QUANTILES: [f64; 21] = [
    -0.5457, -0.204, -0.1069, -0.0624, -0.035, -0.0148, -0.0024, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0046, 0.0233, 0.0493, 0.0888, 0.165, 0.4034,
];

/// A fixed pseudo-random factor for (instance type, zone): the quantile of
/// [`ZONE_LOG_QUANTILES`] at a position hashed from the names (FNV-1a), linearly interpolated.
/// The same in every run and on every machine.
pub fn zone_spread(instance_type: &str, zone: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in instance_type.bytes().chain([b'/']).chain(zone.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Finalize (splitmix64) so nearby names spread over [0, 1).
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    let u = (h >> 11) as f64 / (1u64 << 53) as f64 * 20.0;
    let i = (u.floor() as usize).min(19);
    let t = u - i as f64;
    let q = ZONE_LOG_QUANTILES[i] * (1.0 - t) + ZONE_LOG_QUANTILES[i + 1] * t;
    q.exp()
}

#[cfg(test)]
mod tests;

pub use labels::{
    LABEL_ACCELERATOR_COUNT, LABEL_ACCELERATOR_MANUFACTURER, LABEL_ACCELERATOR_NAME, LABEL_ARCH,
    LABEL_CAPABILITY_FLEX, LABEL_CPU, LABEL_CPU_MANUFACTURER, LABEL_CPU_SUSTAINED_CLOCK_SPEED_MHZ,
    LABEL_EBS_BANDWIDTH, LABEL_ENCRYPTION_IN_TRANSIT_SUPPORTED, LABEL_GPU_COUNT,
    LABEL_GPU_MANUFACTURER, LABEL_GPU_MEMORY, LABEL_GPU_NAME, LABEL_HYPERVISOR,
    LABEL_INSTANCE_CATEGORY, LABEL_INSTANCE_FAMILY, LABEL_INSTANCE_GENERATION, LABEL_INSTANCE_SIZE,
    LABEL_INSTANCE_TYPE, LABEL_LOCAL_NVME, LABEL_MEMORY, LABEL_NETWORK_BANDWIDTH, LABEL_OS,
    LABEL_WINDOWS_BUILD, WELL_KNOWN_LABEL_KEYS, split_instance_type_name, well_known_labels,
    well_known_labels_for,
};
pub use overhead::{
    AmiFamily, KubeletSettings, Overhead, VM_MEMORY_OVERHEAD_PERCENT, allocatable,
    allocatable_with_storage, capacity, capacity_with_storage, default_ephemeral_storage,
    kube_reserved_cpu_millis, overhead, overhead_with_storage, pods, raid0_ephemeral_storage,
};

use csvread::{Row, read_csv};
use rustc_hash::FxHashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

/// The embedded `pricing-data/ec2-instance-types.csv`.
pub const EMBEDDED_INSTANCE_TYPES_CSV: &str =
    include_str!("../pricing-data/ec2-instance-types.csv");
/// The embedded `pricing-data/ec2-on-demand-prices.csv`.
pub const EMBEDDED_ON_DEMAND_CSV: &str = include_str!("../pricing-data/ec2-on-demand-prices.csv");
/// The embedded `pricing-data/spot-advisor.csv` (Linux rows only).
pub const EMBEDDED_SPOT_ADVISOR_CSV: &str = include_str!("../pricing-data/spot-advisor.csv");
/// The embedded `pricing-data/regions.csv` (region, zone).
pub const EMBEDDED_REGIONS_CSV: &str = include_str!("../pricing-data/regions.csv");

/// How the embedded files are named in error messages and reports.
pub const EMBEDDED_INSTANCE_TYPES_NAME: &str = "pricing-data/ec2-instance-types.csv (built in)";
/// See [`EMBEDDED_INSTANCE_TYPES_NAME`].
pub const EMBEDDED_ON_DEMAND_NAME: &str = "pricing-data/ec2-on-demand-prices.csv (built in)";
/// See [`EMBEDDED_INSTANCE_TYPES_NAME`].
pub const EMBEDDED_SPOT_ADVISOR_NAME: &str = "pricing-data/spot-advisor.csv (built in)";

/// Why a catalog file could not be used. Every variant names the file; row errors name the
/// 1-based line, and cell errors the column as well.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("{file}: cannot read: {message}")]
    Io { file: String, message: String },
    #[error("{file}: the header has no column `{column}`, which is required")]
    MissingColumn { file: String, column: String },
    #[error("{file}:{line}: {message}")]
    Row {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}:{line}: column `{column}`: {message}")]
    Field {
        file: String,
        line: u64,
        column: String,
        message: String,
    },
}

/// One row of `ec2-instance-types.csv`: one EC2 instance type. Column names are the field
/// names. Karpenter label keys in parentheses (`instance-*` = `karpenter.k8s.aws/instance-*`); see `pricing-data/README.md` for units and sources.
///
/// Empty cells: `Option` fields are `None`; for the others the parser fills in what Karpenter
/// would have computed (family/size/category/generation from the name, `capability_flex` from
/// the family, `os` = linux) or 0 for counts (0 = none).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceTypeInfo {
    /// e.g. `m5.large` (label `node.kubernetes.io/instance-type`). Required.
    pub name: String,
    /// e.g. `m5`, `m7i-flex` (label `instance-family`).
    pub family: String,
    /// e.g. `m`, `inf`, `trn` (label `instance-category`); `None` if not derivable from the name.
    pub category: Option<String>,
    /// (label `instance-generation`); `None` if not derivable from the name.
    pub generation: Option<i64>,
    /// e.g. `large`, `metal-24xl` (label `instance-size`).
    pub size: String,
    /// `amd64` or `arm64` (label `kubernetes.io/arch`). Required.
    pub arch: String,
    /// Always `linux` in the shipped data (label `kubernetes.io/os`).
    pub os: String,
    /// vCPUs (label `instance-cpu`). Required, > 0.
    pub vcpu: i64,
    /// Memory as EC2 advertises it, MiB (label `instance-memory`). Required, > 0.
    pub memory_mib: i64,
    /// GPUs per instance; 0 if none (also 0 on fractional-GPU types) (label `instance-gpu-count`).
    pub gpu_count: i64,
    /// e.g. `a100`, `l4` (label `instance-gpu-name`); `None` = no GPU.
    pub gpu_name: Option<String>,
    /// `nvidia` / `amd` (label `instance-gpu-manufacturer`).
    pub gpu_manufacturer: Option<String>,
    /// MiB per GPU; 0 if none (label `instance-gpu-memory`).
    pub gpu_memory_mib: i64,
    /// Inference/training accelerators; 0 if none (label `instance-accelerator-count`).
    pub accelerator_count: i64,
    /// e.g. `inferentia2`, `trainium` (label `instance-accelerator-name`).
    pub accelerator_name: Option<String>,
    /// `aws` / `qualcomm` (label `instance-accelerator-manufacturer`).
    pub accelerator_manufacturer: Option<String>,
    /// `intel` / `amd` / `aws` (label `instance-cpu-manufacturer`).
    pub cpu_manufacturer: Option<String>,
    /// MHz (0 where EC2 publishes no clock speed) (label `instance-cpu-sustained-clock-speed-mhz`).
    pub cpu_sustained_clock_mhz: Option<i64>,
    /// `nitro` / `xen`; `None` (empty) on bare metal (label `instance-hypervisor`).
    pub hypervisor: Option<String>,
    /// The `*-flex` families (label `instance-capability-flex`).
    pub capability_flex: bool,
    /// (label `instance-encryption-in-transit-supported`).
    pub encryption_in_transit_supported: bool,
    /// Maximum EBS megabits/s (label `instance-ebs-bandwidth`).
    pub ebs_bandwidth_mbps: Option<i64>,
    /// Baseline network megabits/s (label `instance-network-bandwidth`).
    pub network_bandwidth_mbps: Option<i64>,
    /// Local NVMe instance storage (EC2 `TotalSizeInGB`); 0 if none (label `instance-local-nvme`).
    pub local_nvme_gib: i64,
    /// Karpenter's allocatable CPU (millicores) for AL2023 defaults.
    pub alloc_cpu_millis: Option<i64>,
    /// Karpenter's allocatable memory (MiB) for AL2023 defaults.
    pub alloc_memory_mib: Option<i64>,
    /// Karpenter's allocatable ephemeral storage (GiB) for AL2023 defaults (20 GiB root).
    pub alloc_ephemeral_storage_gib: Option<i64>,
    /// The ENI-limited pod count (VPC CNI, default network card, no reserved ENIs) = Karpenter's
    /// `pods` for AL2023 defaults.
    pub max_pods: Option<i64>,
    /// `nvidia.com/gpu`.
    pub alloc_nvidia_gpu: i64,
    /// `amd.com/gpu`.
    pub alloc_amd_gpu: i64,
    /// `aws.amazon.com/neuron`.
    pub alloc_neuron: i64,
    /// `aws.amazon.com/neuroncore`.
    pub alloc_neuroncore: i64,
    /// `vpc.amazonaws.com/pod-eni`.
    pub alloc_pod_eni: i64,
    /// `vpc.amazonaws.com/efa`.
    pub alloc_efa: i64,
    /// Network interfaces over **all** network cards (VPC limits `Interface`).
    pub max_enis: Option<i64>,
    /// IPv4 addresses per interface.
    pub ipv4_per_eni: Option<i64>,
    /// Branch interfaces (security groups for pods).
    pub branch_enis: Option<i64>,
    /// Bare-metal type per the VPC limits table.
    pub is_bare_metal: Option<bool>,
}

impl InstanceTypeInfo {
    /// True when the (first) architecture is arm64.
    pub fn is_arm64(&self) -> bool {
        self.arch == "arm64"
    }

    /// Karpenter's `ENILimitedPods` with no reserved ENIs and no EFA-only interfaces.
    ///
    /// Karpenter counts the interfaces of the *default network card* only. The catalog's
    /// `max_enis` counts all cards, so `max_enis × (ipv4_per_eni − 1) + 2` overshoots on the
    /// 59 multi-card types (p4d, p5, trn1, c6in.32xlarge, ...). The `max_pods` column is the
    /// exact value (it is what Karpenter's generated docs list), so it is used when present;
    /// otherwise the formula over `max_enis`, and 110 when neither is known.
    pub fn eni_limited_pods(&self) -> i64 {
        if let Some(p) = self.max_pods {
            return p;
        }
        match (self.max_enis, self.ipv4_per_eni) {
            (Some(0), _) => 0,
            (Some(enis), Some(ips)) => enis * (ips - 1).max(0) + 2,
            _ => 110,
        }
    }

    /// `max_enis × (ipv4_per_eni − 1) + 2` over all network cards, when the ENI data exist.
    pub fn eni_formula_pods(&self) -> Option<i64> {
        match (self.max_enis?, self.ipv4_per_eni?) {
            (0, _) => Some(0),
            (enis, ips) => Some(enis * (ips - 1).max(0) + 2),
        }
    }
}

/// One row of `ec2-on-demand-prices.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct OnDemandPrice {
    pub region: String,
    pub instance_type: String,
    /// USD per hour (Linux, shared tenancy).
    pub usd_per_hour: f64,
    /// Where the figure came from (e.g. `karpenter-aws`); empty if the file has no such column.
    pub source: String,
    /// When it was true (e.g. `2024-01`); empty if unknown.
    pub as_of: String,
}

/// The Spot Instance Advisor's figures for one (region, instance type), Linux.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpotAdvice {
    /// Interruption-frequency band 0–4 (`<5%`, `5-10%`, `10-15%`, `15-20%`, `>20%` of Spot
    /// capacity reclaimed in the previous month).
    pub band: u8,
    /// The band's label, e.g. `5-10%`.
    pub label: String,
    /// Savings against on-demand over the previous 30 days, percent.
    pub savings_pct: u8,
}

impl SpotAdvice {
    /// The advisor feed's label for a band (0–4).
    pub fn band_label(band: u8) -> Option<&'static str> {
        Some(match band {
            0 => "<5%",
            1 => "5-10%",
            2 => "10-15%",
            3 => "15-20%",
            4 => ">20%",
            _ => return None,
        })
    }
}

/// One row of `spot-advisor.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpotAdvisorEntry {
    pub region: String,
    pub instance_type: String,
    pub advice: SpotAdvice,
}

/// Which file each part of a catalog came from (for messages and reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSources {
    pub instance_types: String,
    pub on_demand: String,
    pub spot: String,
}

/// The parsed catalog. Vectors are sorted (instance types by name; prices and advice by
/// region, then type); look-ups go through private hash indexes.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Every instance type, sorted by name.
    pub instance_types: Vec<InstanceTypeInfo>,
    /// Every on-demand price row, sorted by (region, instance type).
    pub on_demand_prices: Vec<OnDemandPrice>,
    /// Every Linux Spot Advisor row, sorted by (region, instance type).
    pub spot_advice: Vec<SpotAdvisorEntry>,
    /// The files used.
    pub sources: CatalogSources,
    by_name: FxHashMap<String, usize>,
    /// Region → its rows of `on_demand_prices` (sorted by type within).
    od_index: FxHashMap<String, Range<usize>>,
    /// Region → its rows of `spot_advice`.
    spot_index: FxHashMap<String, Range<usize>>,
}

/// Region → range of a (region, type)-sorted vector.
fn region_ranges<T>(rows: &[T], region: impl Fn(&T) -> &str) -> FxHashMap<String, Range<usize>> {
    let mut out: FxHashMap<String, Range<usize>> = FxHashMap::default();
    let mut start = 0;
    for i in 1..=rows.len() {
        if i == rows.len() || region(&rows[i]) != region(&rows[start]) {
            out.insert(region(&rows[start]).to_string(), start..i);
            start = i;
        }
    }
    out
}

/// Binary search of `instance_type` within a region's range.
fn find_in<T>(
    rows: &[T],
    index: &FxHashMap<String, Range<usize>>,
    region: &str,
    instance_type: &str,
    key: impl Fn(&T) -> &str,
) -> Option<usize> {
    let range = index.get(region)?.clone();
    let start = range.start;
    rows[range]
        .binary_search_by(|r| key(r).cmp(instance_type))
        .ok()
        .map(|i| start + i)
}

static EMBEDDED: OnceLock<Result<Catalog, CatalogError>> = OnceLock::new();

impl Catalog {
    /// The catalog built into the binary, parsed once per process.
    pub fn embedded() -> Result<&'static Catalog, CatalogError> {
        EMBEDDED
            .get_or_init(|| Catalog::from_texts(None, None, None))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Reads the named files; `None` = the embedded file for that part.
    pub fn from_files(
        instance_types: Option<&Path>,
        on_demand: Option<&Path>,
        spot: Option<&Path>,
    ) -> Result<Catalog, CatalogError> {
        fn load(p: Option<&Path>) -> Result<Option<(String, Vec<u8>)>, CatalogError> {
            let Some(p) = p else { return Ok(None) };
            let name = p.display().to_string();
            match std::fs::read(p) {
                Ok(bytes) => Ok(Some((name, bytes))),
                Err(e) => Err(CatalogError::Io {
                    file: name,
                    message: e.to_string(),
                }),
            }
        }
        let it = load(instance_types)?;
        let od = load(on_demand)?;
        let sp = load(spot)?;
        Catalog::from_bytes(
            it.as_ref().map(|(n, b)| (n.as_str(), b.as_slice())),
            od.as_ref().map(|(n, b)| (n.as_str(), b.as_slice())),
            sp.as_ref().map(|(n, b)| (n.as_str(), b.as_slice())),
        )
    }

    /// Parses CSV text held in memory; `None` = the embedded file. Errors name the parts
    /// `<instance_types>`, `<on_demand_prices>` and `<spot>`.
    pub fn from_texts(
        instance_types: Option<&str>,
        on_demand: Option<&str>,
        spot: Option<&str>,
    ) -> Result<Catalog, CatalogError> {
        Catalog::from_bytes(
            instance_types.map(|t| ("<instance_types>", t.as_bytes())),
            on_demand.map(|t| ("<on_demand_prices>", t.as_bytes())),
            spot.map(|t| ("<spot>", t.as_bytes())),
        )
    }

    /// Parses (file name, contents) pairs; `None` = the embedded file.
    pub fn from_bytes(
        instance_types: Option<(&str, &[u8])>,
        on_demand: Option<(&str, &[u8])>,
        spot: Option<(&str, &[u8])>,
    ) -> Result<Catalog, CatalogError> {
        let (it_name, it_data) = instance_types.unwrap_or((
            EMBEDDED_INSTANCE_TYPES_NAME,
            EMBEDDED_INSTANCE_TYPES_CSV.as_bytes(),
        ));
        let (od_name, od_data) =
            on_demand.unwrap_or((EMBEDDED_ON_DEMAND_NAME, EMBEDDED_ON_DEMAND_CSV.as_bytes()));
        let (sp_name, sp_data) = spot.unwrap_or((
            EMBEDDED_SPOT_ADVISOR_NAME,
            EMBEDDED_SPOT_ADVISOR_CSV.as_bytes(),
        ));
        let instance_types = parse_instance_types(it_name, it_data)?;
        let on_demand_prices = parse_on_demand(od_name, od_data)?;
        let spot_advice = parse_spot_advisor(sp_name, sp_data)?;

        let by_name = instance_types
            .iter()
            .enumerate()
            .map(|(i, it)| (it.name.clone(), i))
            .collect();
        let od_index = region_ranges(&on_demand_prices, |p| &p.region);
        let spot_index = region_ranges(&spot_advice, |s| &s.region);
        Ok(Catalog {
            instance_types,
            on_demand_prices,
            spot_advice,
            sources: CatalogSources {
                instance_types: it_name.to_string(),
                on_demand: od_name.to_string(),
                spot: sp_name.to_string(),
            },
            by_name,
            od_index,
            spot_index,
        })
    }

    /// The instance type with this name.
    pub fn instance_type(&self, name: &str) -> Option<&InstanceTypeInfo> {
        self.by_name.get(name).map(|&i| &self.instance_types[i])
    }

    /// On-demand USD/hour of a type in a region (the same in every zone).
    pub fn on_demand_price(&self, region: &str, instance_type: &str) -> Option<f64> {
        let rows = &self.on_demand_prices;
        let i = find_in(rows, &self.od_index, region, instance_type, |p| {
            &p.instance_type
        })?;
        Some(rows[i].usd_per_hour)
    }

    /// The Spot Advisor figures of a type in a region (Linux).
    pub fn spot_advisor(&self, region: &str, instance_type: &str) -> Option<SpotAdvice> {
        self.spot_advice_ref(region, instance_type).cloned()
    }

    /// Like [`Catalog::spot_advisor`] without the clone.
    pub fn spot_advice_ref(&self, region: &str, instance_type: &str) -> Option<&SpotAdvice> {
        let rows = &self.spot_advice;
        let i = find_in(rows, &self.spot_index, region, instance_type, |s| {
            &s.instance_type
        })?;
        Some(&rows[i].advice)
    }

    /// Spot USD/hour in `zone`: the region's price, on-demand × (1 − savings_pct/100), spread
    /// over the region's zones by [`zone_spread`] (the zones of a region average to the
    /// region's price). `None` when the advisor has no entry or the type has no on-demand
    /// price: then the type has no Spot offering.
    pub fn spot_price(&self, region: &str, instance_type: &str, zone: &str) -> Option<f64> {
        let od = self.on_demand_price(region, instance_type)?;
        let advice = self.spot_advice_ref(region, instance_type)?;
        let regional = od * (1.0 - f64::from(advice.savings_pct) / 100.0);
        let factor = match Catalog::region_zones(region) {
            Some(zones) if zones.iter().any(|z| z == zone) => {
                let mean = zones
                    .iter()
                    .map(|z| zone_spread(instance_type, z))
                    .sum::<f64>()
                    / zones.len() as f64;
                zone_spread(instance_type, zone) / mean
            }
            _ => zone_spread(instance_type, zone),
        };
        Some(regional * factor)
    }

    /// The regions that have at least one on-demand price, sorted.
    pub fn priced_regions(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.od_index.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The zone names of a region, in order (from `pricing-data/regions.csv`).
    pub fn region_zones(region: &str) -> Option<Vec<String>> {
        regions()
            .iter()
            .find(|(r, _)| r == region)
            .map(|(_, z)| z.clone())
    }

    /// A scenario's default `zones`: the region's first three zones.
    pub fn default_zones(region: &str) -> Option<Vec<String>> {
        Catalog::region_zones(region).map(|mut z| {
            z.truncate(3);
            z
        })
    }

    /// Every region of `pricing-data/regions.csv`, sorted.
    pub fn known_regions() -> Vec<&'static str> {
        regions().iter().map(|(r, _)| r.as_str()).collect()
    }
}

/// The parsed regions table, sorted by region; zones in file order.
fn regions() -> &'static [(String, Vec<String>)] {
    static REGIONS: OnceLock<Vec<(String, Vec<String>)>> = OnceLock::new();
    REGIONS.get_or_init(|| parse_regions(EMBEDDED_REGIONS_CSV))
}

/// Parses `region,zone` lines (header first); malformed lines are skipped (the file is ours and
/// a test checks it).
fn parse_regions(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines().skip(1) {
        let mut parts = line.split(',').map(str::trim);
        let (Some(region), Some(zone), None) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if region.is_empty() || zone.is_empty() {
            continue;
        }
        match out.iter_mut().find(|(r, _)| r == region) {
            Some((_, zones)) => zones.push(zone.to_string()),
            None => out.push((region.to_string(), vec![zone.to_string()])),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Karpenter's category and generation from an instance-type name, by the scheme
/// `^([a-z]+)(-[0-9]+tb)?([0-9]+).*\.` of `types.go` (e.g. `u-6tb1.56xlarge` → `u`, 1).
pub fn category_and_generation(name: &str) -> Option<(String, String)> {
    let b = name.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_lowercase()).count();
    if letters == 0 {
        return None;
    }
    let mut i = letters;
    // Optional `-<digits>tb`.
    if b.get(i) == Some(&b'-') {
        let d = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if d > 0 && b[i + 1 + d..].starts_with(b"tb") {
            i += 1 + d + 2;
        }
    }
    let d = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if d == 0 || !b[i + d..].contains(&b'.') {
        return None;
    }
    Some((name[..letters].to_string(), name[i..i + d].to_string()))
}

const INSTANCE_TYPE_COLUMNS: [&str; 38] = [
    "name",
    "family",
    "category",
    "generation",
    "size",
    "arch",
    "os",
    "vcpu",
    "memory_mib",
    "gpu_count",
    "gpu_name",
    "gpu_manufacturer",
    "gpu_memory_mib",
    "accelerator_count",
    "accelerator_name",
    "accelerator_manufacturer",
    "cpu_manufacturer",
    "cpu_sustained_clock_mhz",
    "hypervisor",
    "capability_flex",
    "encryption_in_transit_supported",
    "ebs_bandwidth_mbps",
    "network_bandwidth_mbps",
    "local_nvme_gib",
    "alloc_cpu_millis",
    "alloc_memory_mib",
    "alloc_ephemeral_storage_gib",
    "max_pods",
    "alloc_nvidia_gpu",
    "alloc_amd_gpu",
    "alloc_neuron",
    "alloc_neuroncore",
    "alloc_pod_eni",
    "alloc_efa",
    "max_enis",
    "ipv4_per_eni",
    "branch_enis",
    "is_bare_metal",
];

/// Required columns of `ec2-instance-types.csv`; the others may be absent (= empty cells).
const INSTANCE_TYPE_REQUIRED: [&str; 4] = ["name", "arch", "vcpu", "memory_mib"];

/// Parses `ec2-instance-types.csv` into a name-sorted vector.
pub(crate) fn parse_instance_types(
    file: &str,
    data: &[u8],
) -> Result<Vec<InstanceTypeInfo>, CatalogError> {
    let mut out = Vec::with_capacity(1400);
    let mut seen: FxHashMap<String, u64> = FxHashMap::default();
    read_csv(
        file,
        data,
        |h| {
            for c in INSTANCE_TYPE_REQUIRED {
                h.required(c)?;
            }
            Ok(INSTANCE_TYPE_COLUMNS.map(|c| h.col(c)))
        },
        |cols, row| {
            let it = instance_type_row(cols, row)?;
            if let Some(first) = seen.insert(it.name.clone(), row.line) {
                return Err(row.err(
                    "name",
                    format!(
                        "instance type `{}` already defined on line {first}",
                        it.name
                    ),
                ));
            }
            out.push(it);
            Ok(())
        },
    )?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn instance_type_row(
    cols: &[Option<usize>; 38],
    row: &Row<'_>,
) -> Result<InstanceTypeInfo, CatalogError> {
    // Column index by name (the array above is the single list of names).
    let c = |name: &str| {
        let i = INSTANCE_TYPE_COLUMNS
            .iter()
            .position(|n| *n == name)
            .unwrap_or(0);
        cols[i]
    };
    let int0 = |name: &str| row.opt_int(c(name), name).map(Option::unwrap_or_default);

    let name = row.req_str(c("name"), "name")?.to_string();
    let (name_family, name_size) = split_instance_type_name(&name)
        .map(|(f, s)| (f.to_string(), s.to_string()))
        .unwrap_or_default();
    let derived = category_and_generation(&name);

    let family = row.opt_string(c("family")).unwrap_or(name_family);
    let size = row.opt_string(c("size")).unwrap_or(name_size);
    let category = row
        .opt_string(c("category"))
        .or_else(|| derived.as_ref().map(|d| d.0.clone()));
    let generation = match row.opt_int(c("generation"), "generation")? {
        Some(g) => Some(g),
        None => derived.as_ref().and_then(|d| d.1.parse().ok()),
    };
    let arch = row.req_str(c("arch"), "arch")?;
    if arch != "amd64" && arch != "arm64" {
        return Err(row.err("arch", format!("`{arch}` is not amd64 or arm64")));
    }
    let vcpu = row.req_int(c("vcpu"), "vcpu")?;
    if vcpu == 0 {
        return Err(row.err("vcpu", "must be > 0"));
    }
    let memory_mib = row.req_int(c("memory_mib"), "memory_mib")?;
    if memory_mib == 0 {
        return Err(row.err("memory_mib", "must be > 0"));
    }
    let capability_flex = row
        .opt_bool(c("capability_flex"), "capability_flex")?
        .unwrap_or_else(|| family.contains("-flex"));
    Ok(InstanceTypeInfo {
        arch: arch.to_string(),
        os: row
            .opt_string(c("os"))
            .unwrap_or_else(|| "linux".to_string()),
        vcpu,
        memory_mib,
        gpu_count: int0("gpu_count")?,
        gpu_name: row.opt_string(c("gpu_name")),
        gpu_manufacturer: row.opt_string(c("gpu_manufacturer")),
        gpu_memory_mib: int0("gpu_memory_mib")?,
        accelerator_count: int0("accelerator_count")?,
        accelerator_name: row.opt_string(c("accelerator_name")),
        accelerator_manufacturer: row.opt_string(c("accelerator_manufacturer")),
        cpu_manufacturer: row.opt_string(c("cpu_manufacturer")),
        cpu_sustained_clock_mhz: row
            .opt_int(c("cpu_sustained_clock_mhz"), "cpu_sustained_clock_mhz")?,
        hypervisor: row.opt_string(c("hypervisor")),
        capability_flex,
        encryption_in_transit_supported: row
            .opt_bool(
                c("encryption_in_transit_supported"),
                "encryption_in_transit_supported",
            )?
            .unwrap_or(false),
        ebs_bandwidth_mbps: row.opt_int(c("ebs_bandwidth_mbps"), "ebs_bandwidth_mbps")?,
        network_bandwidth_mbps: row
            .opt_int(c("network_bandwidth_mbps"), "network_bandwidth_mbps")?,
        local_nvme_gib: int0("local_nvme_gib")?,
        alloc_cpu_millis: row.opt_int(c("alloc_cpu_millis"), "alloc_cpu_millis")?,
        alloc_memory_mib: row.opt_int(c("alloc_memory_mib"), "alloc_memory_mib")?,
        alloc_ephemeral_storage_gib: row.opt_int(
            c("alloc_ephemeral_storage_gib"),
            "alloc_ephemeral_storage_gib",
        )?,
        max_pods: row.opt_int(c("max_pods"), "max_pods")?,
        alloc_nvidia_gpu: int0("alloc_nvidia_gpu")?,
        alloc_amd_gpu: int0("alloc_amd_gpu")?,
        alloc_neuron: int0("alloc_neuron")?,
        alloc_neuroncore: int0("alloc_neuroncore")?,
        alloc_pod_eni: int0("alloc_pod_eni")?,
        alloc_efa: int0("alloc_efa")?,
        max_enis: row.opt_int(c("max_enis"), "max_enis")?,
        ipv4_per_eni: row.opt_int(c("ipv4_per_eni"), "ipv4_per_eni")?,
        branch_enis: row.opt_int(c("branch_enis"), "branch_enis")?,
        is_bare_metal: row.opt_bool(c("is_bare_metal"), "is_bare_metal")?,
        name,
        family,
        category,
        generation,
        size,
    })
}

/// Parses `ec2-on-demand-prices.csv` into a (region, type)-sorted vector.
pub(crate) fn parse_on_demand(file: &str, data: &[u8]) -> Result<Vec<OnDemandPrice>, CatalogError> {
    let mut out: Vec<(OnDemandPrice, u64)> = Vec::with_capacity(3000);
    read_csv(
        file,
        data,
        |h| {
            Ok([
                Some(h.required("region")?),
                Some(h.required("instance_type")?),
                Some(h.required("usd_per_hour")?),
                h.col("source"),
                h.col("as_of"),
            ])
        },
        |cols, row| {
            let region = row.req_str(cols[0], "region")?.to_string();
            let instance_type = row.req_str(cols[1], "instance_type")?.to_string();
            let usd_per_hour = row.req_f64(cols[2], "usd_per_hour")?;
            let price = OnDemandPrice {
                region,
                instance_type,
                usd_per_hour,
                source: row.str(cols[3]).to_string(),
                as_of: row.str(cols[4]).to_string(),
            };
            out.push((price, row.line));
            Ok(())
        },
    )?;
    sort_unique(
        file,
        out,
        |p| (&p.region, &p.instance_type),
        "already priced",
    )
}

/// Parses `spot-advisor.csv`, keeping rows whose `os` is `Linux` (all rows when the file has
/// no `os` column), into a (region, type)-sorted vector.
pub(crate) fn parse_spot_advisor(
    file: &str,
    data: &[u8],
) -> Result<Vec<SpotAdvisorEntry>, CatalogError> {
    let mut out: Vec<(SpotAdvisorEntry, u64)> = Vec::with_capacity(12_000);
    read_csv(
        file,
        data,
        |h| {
            Ok([
                Some(h.required("region")?),
                h.col("os"),
                Some(h.required("instance_type")?),
                Some(h.required("interruption_band")?),
                h.col("interruption_label"),
                Some(h.required("savings_pct")?),
            ])
        },
        |cols, row| {
            if cols[1].is_some() && !row.str(cols[1]).eq_ignore_ascii_case("linux") {
                return Ok(());
            }
            let region = row.req_str(cols[0], "region")?.to_string();
            let instance_type = row.req_str(cols[2], "instance_type")?.to_string();
            let band = row.req_int(cols[3], "interruption_band")?;
            let band = u8::try_from(band)
                .ok()
                .filter(|b| *b <= 4)
                .ok_or_else(|| row.err("interruption_band", format!("`{band}` is not 0–4")))?;
            let label = match row.opt_string(cols[4]) {
                Some(l) => l,
                None => SpotAdvice::band_label(band).unwrap_or_default().to_string(),
            };
            let savings = row.req_int(cols[5], "savings_pct")?;
            let savings_pct = u8::try_from(savings)
                .ok()
                .filter(|s| *s <= 100)
                .ok_or_else(|| row.err("savings_pct", format!("`{savings}` is not 0–100")))?;
            let entry = SpotAdvisorEntry {
                region,
                instance_type,
                advice: SpotAdvice {
                    band,
                    label,
                    savings_pct,
                },
            };
            out.push((entry, row.line));
            Ok(())
        },
    )?;
    sort_unique(
        file,
        out,
        |s| (&s.region, &s.instance_type),
        "already has a row",
    )
}

/// Sorts (row, line) pairs by a (region, instance type) key and rejects duplicate keys, naming
/// the later line (the sort is stable, so file order is kept among equal keys).
fn sort_unique<T>(
    file: &str,
    mut rows: Vec<(T, u64)>,
    key: impl Fn(&T) -> (&String, &String),
    what: &str,
) -> Result<Vec<T>, CatalogError> {
    rows.sort_by(|a, b| key(&a.0).cmp(&key(&b.0)));
    for w in rows.windows(2) {
        if key(&w[0].0) == key(&w[1].0) {
            let (region, instance_type) = key(&w[1].0);
            return Err(CatalogError::Field {
                file: file.to_string(),
                line: w[1].1,
                column: "instance_type".to_string(),
                message: format!("({region}, {instance_type}) {what} on line {}", w[0].1),
            });
        }
    }
    Ok(rows.into_iter().map(|(r, _)| r).collect())
}
