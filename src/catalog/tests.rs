use super::*;
use crate::resources::{GIB_MILLI, MIB_MILLI, ResourceName, Resources};
use proptest::prelude::*;

fn cat() -> &'static Catalog {
    Catalog::embedded().expect("embedded catalog parses")
}

fn it(name: &str) -> &'static InstanceTypeInfo {
    cat().instance_type(name).expect(name)
}

fn mib(r: &Resources) -> i64 {
    r.get(ResourceName::Memory) / MIB_MILLI
}

#[test]
fn embedded_catalog_parses() {
    let c = cat();
    assert_eq!(c.instance_types.len(), 1363);
    assert!(c.instance_types.windows(2).all(|w| w[0].name < w[1].name));
    assert_eq!(c.on_demand_prices.len(), 2750);
    assert_eq!(c.spot_advice.len(), 11_948);
    assert_eq!(c.on_demand_price("us-east-1", "m5.large"), Some(0.096));
    assert!(c.on_demand_price("us-west-2", "m5.large").is_some());
    assert_eq!(c.on_demand_price("us-west-2", "m5.xlarge"), None);
    assert_eq!(c.on_demand_price("nowhere-1", "m5.large"), None);
    // Parsed once: the same &'static every time.
    assert!(std::ptr::eq(c, Catalog::embedded().unwrap()));
    assert_eq!(c.sources.instance_types, EMBEDDED_INSTANCE_TYPES_NAME);

    let m5 = it("m5.large");
    assert_eq!(
        (
            m5.vcpu,
            m5.memory_mib,
            m5.max_pods,
            m5.max_enis,
            m5.ipv4_per_eni
        ),
        (2, 8192, Some(29), Some(3), Some(10))
    );
    assert_eq!(m5.hypervisor.as_deref(), Some("nitro"));
    assert_eq!(it("a1.metal").hypervisor, None);
    assert_eq!(it("hpc7a.12xlarge").max_enis, None);
    assert!(it("m7i-flex.large").capability_flex);
    // Advisor: Windows rows were dropped from the shipped file.
    let bands: Vec<u8> = c.spot_advice.iter().map(|s| s.advice.band).collect();
    assert_eq!(bands.iter().filter(|b| **b == 0).count(), 4012);
    assert_eq!(bands.iter().filter(|b| **b == 4).count(), 1835);
}

/// Every derived name part equals the catalog's label columns.
#[test]
fn name_derivations_match_columns() {
    for t in &cat().instance_types {
        let (fam, size) = split_instance_type_name(&t.name).expect(&t.name);
        assert_eq!(
            (fam, size),
            (t.family.as_str(), t.size.as_str()),
            "{}",
            t.name
        );
        let (c, g) = category_and_generation(&t.name).expect(&t.name);
        assert_eq!(Some(c), t.category, "{}", t.name);
        assert_eq!(g.parse::<i64>().ok(), t.generation, "{}", t.name);
        assert_eq!(t.capability_flex, t.family.contains("-flex"), "{}", t.name);
    }
    assert_eq!(
        category_and_generation("u-6tb1.56xlarge"),
        Some(("u".into(), "1".into()))
    );
    assert_eq!(
        category_and_generation("u7in-16tb.224xlarge"),
        Some(("u".into(), "7".into()))
    );
    assert_eq!(category_and_generation("weird"), None);
    assert_eq!(category_and_generation("x.large"), None);
}

/// The KEY TEST: AL2023 defaults reproduce Karpenter's generated allocatable for every type.
#[test]
fn allocatable_matches_catalog_for_every_type() {
    let k = KubeletSettings::default();
    let (mut cpu_ok, mut mem_ok, mut pods_ok, mut eph_ok, mut ext_ok) = (0, 0, 0, 0, 0);
    let mut mismatches = Vec::new();
    for t in &cat().instance_types {
        let a = allocatable(t, AmiFamily::AL2023, &k, None);
        let cpu = a.get(ResourceName::Cpu);
        let mem = a.get(ResourceName::Memory);
        let pods = a.get(ResourceName::Pods);
        let eph = a.get(ResourceName::EphemeralStorage);
        let c = cpu == t.alloc_cpu_millis.unwrap();
        let m = mem == t.alloc_memory_mib.unwrap() * MIB_MILLI;
        let p = pods == t.max_pods.unwrap() * 1000;
        let e = eph == t.alloc_ephemeral_storage_gib.unwrap() * GIB_MILLI;
        let x = a.get(ResourceName::NvidiaGpu) == t.alloc_nvidia_gpu * 1000
            && a.get(ResourceName::Efa) == t.alloc_efa * 1000
            && a.get(ResourceName::PodEni) == t.alloc_pod_eni * 1000
            && a.get(ResourceName::NeuronCore) == t.alloc_neuroncore * 1000;
        cpu_ok += usize::from(c);
        mem_ok += usize::from(m);
        pods_ok += usize::from(p);
        eph_ok += usize::from(e);
        ext_ok += usize::from(x);
        if !(c && m && p && e && x) {
            mismatches.push((t.name.clone(), a));
        }
    }
    println!(
        "allocatable matches out of 1363: cpu {cpu_ok}, memory {mem_ok}, pods {pods_ok}, \
         ephemeral {eph_ok}, extended {ext_ok}"
    );
    assert!(mismatches.is_empty(), "{mismatches:?}");
}

/// The ENI formula over `max_enis` (all network cards) agrees with the `max_pods` column except
/// on the 59 multi-card types, where Karpenter counts only the default card's interfaces.
#[test]
fn eni_formula_vs_max_pods_column() {
    let mut differ = Vec::new();
    let mut no_eni_data = 0;
    for t in &cat().instance_types {
        let Some(f) = t.eni_formula_pods() else {
            no_eni_data += 1;
            continue;
        };
        let col = t.max_pods.unwrap();
        if f != col {
            // Overshoot, and the column is whole default-card ENIs: (col − 2) / (ips − 1).
            assert!(f > col, "{}", t.name);
            let ips = t.ipv4_per_eni.unwrap() - 1;
            assert_eq!((col - 2) % ips, 0, "{}", t.name);
            assert!((col - 2) / ips < t.max_enis.unwrap(), "{}", t.name);
            differ.push(t.name.as_str());
        }
    }
    assert_eq!(no_eni_data, 8);
    assert_eq!(differ.len(), 59, "{differ:?}");
    for multi_card in [
        "p5.48xlarge",
        "trn1.32xlarge",
        "c6in.32xlarge",
        "p4d.24xlarge",
    ] {
        assert!(differ.contains(&multi_card));
    }
    // Without the column, the formula is the fallback.
    let mut t = it("m5.large").clone();
    t.max_pods = None;
    assert_eq!(t.eni_limited_pods(), 29);
    t.max_enis = None;
    assert_eq!(t.eni_limited_pods(), 110);
}

/// provisioning.md §5.3.
#[test]
fn worked_examples() {
    let k = KubeletSettings::default();
    let c3 = it("c3.2xlarge");
    let cap = capacity(c3, AmiFamily::AL2023, &k, None);
    assert_eq!(mib(&cap), 14208);
    assert_eq!(cap.get(ResourceName::Pods), 58_000);
    let oh = overhead(c3, AmiFamily::AL2023, &k, None);
    assert_eq!(mib(&oh.kube_reserved), 893);
    let a = allocatable(c3, AmiFamily::AL2023, &k, None);
    assert_eq!(mib(&a), 13215);
    assert_eq!(a.cpu(), 7910);
    assert_eq!(a.get(ResourceName::EphemeralStorage), 17 * GIB_MILLI);

    let m5 = it("m5.large");
    let cap = capacity(m5, AmiFamily::AL2023, &k, None);
    assert_eq!(mib(&cap), 7577);
    assert_eq!(cap.get(ResourceName::Pods), 29_000);
    assert_eq!(
        mib(&overhead(m5, AmiFamily::AL2023, &k, None).kube_reserved),
        574
    );
    let a = allocatable(m5, AmiFamily::AL2023, &k, None);
    assert_eq!((mib(&a), a.cpu()), (6903, 1930));

    // CPU bands of §5.2.
    for (vcpu, reserved) in [
        (1, 60),
        (2, 70),
        (4, 80),
        (8, 90),
        (16, 110),
        (32, 150),
        (48, 190),
        (64, 230),
        (96, 310),
        (192, 550),
    ] {
        assert_eq!(kube_reserved_cpu_millis(vcpu * 1000), reserved, "{vcpu}");
    }
    // arm64: 64 MiB CMA first. a1.large: 4096 → 4032 − ceil(302.4) = 3729.
    assert_eq!(
        mib(&capacity(it("a1.large"), AmiFamily::AL2023, &k, None)),
        3729
    );
}

#[test]
fn kubelet_overrides_and_families() {
    let m5 = it("m5.large");
    let d = KubeletSettings::default();
    let base = allocatable(m5, AmiFamily::AL2023, &d, None);

    // maxPods changes pods but not AL2023's kube-reserved memory (ENI-limited P).
    let k = KubeletSettings {
        max_pods: Some(110),
        ..Default::default()
    };
    let a = allocatable(m5, AmiFamily::AL2023, &k, None);
    assert_eq!(a.get(ResourceName::Pods), 110_000);
    assert_eq!(a.memory(), base.memory());
    // Bottlerocket: P = max-pods → 11·110+255 = 1465 MiB.
    let a = allocatable(m5, AmiFamily::Bottlerocket, &k, None);
    assert_eq!(mib(&a), 7577 - 1465 - 100);
    // Bottlerocket ignores podsPerCore; AL2 honours it.
    let k = KubeletSettings {
        pods_per_core: Some(4),
        ..Default::default()
    };
    assert_eq!(pods(m5, AmiFamily::Bottlerocket, &k), 29);
    assert_eq!(pods(m5, AmiFamily::AL2, &k), 8);
    // Windows: 110 pods, kube-reserved memory from 110, 50 GiB root volume.
    let w = allocatable(m5, AmiFamily::Windows2022, &d, None);
    assert_eq!(w.get(ResourceName::Pods), 110_000);
    assert_eq!(mib(&w), 7577 - 1465 - 100);
    assert_eq!(
        capacity(m5, AmiFamily::Windows2022, &d, None).get(ResourceName::EphemeralStorage),
        50 * GIB_MILLI
    );
    // Root volume 100 GiB: 100 − 1 − 10 = 89 GiB.
    let a = allocatable(m5, AmiFamily::AL2023, &d, Some(100));
    assert_eq!(a.get(ResourceName::EphemeralStorage), 89 * GIB_MILLI);

    // kubeReserved / systemReserved replace per resource.
    let mut k = KubeletSettings::default();
    k.kube_reserved.insert("cpu".into(), 500);
    k.kube_reserved.insert("pid".into(), 1000); // ignored
    k.system_reserved.insert("memory".into(), 200 * MIB_MILLI);
    let a = allocatable(m5, AmiFamily::AL2023, &k, None);
    assert_eq!(a.cpu(), 1500);
    assert_eq!(mib(&a), 6903 - 200);

    // evictionHard: quantity, percentage, 100 % = 0.
    let mut k = KubeletSettings::default();
    k.eviction_hard
        .insert("memory.available".into(), "500Mi".into());
    k.eviction_hard
        .insert("nodefs.available".into(), "100%".into());
    assert!(k.validate().is_ok());
    let a = allocatable(m5, AmiFamily::AL2023, &k, None);
    assert_eq!(mib(&a), 6903 + 100 - 500);
    assert_eq!(a.get(ResourceName::EphemeralStorage), 19 * GIB_MILLI);
    k.eviction_hard
        .insert("memory.available".into(), "10%".into());
    let a = allocatable(m5, AmiFamily::AL2023, &k, None);
    // ceil(7577 MiB × 10 %) bytes.
    let ten_pct = ((7577.0 * 1048576.0) / 100.0 * 10.0_f64).ceil() as i64 * 1000;
    assert_eq!(a.memory(), 7577 * MIB_MILLI - 574 * MIB_MILLI - ten_pct);
    k.eviction_hard
        .insert("memory.available".into(), "lots".into());
    assert!(k.validate().is_err());

    // RAID0 instance store: decimal GB.
    let m5d = it("m5d.large");
    assert_eq!(raid0_ephemeral_storage(m5d), Some(75 * 1_000_000_000_000));
    assert_eq!(raid0_ephemeral_storage(m5), None);

    // Extended resources.
    let p5 = capacity(it("p5.48xlarge"), AmiFamily::AL2023, &d, None);
    assert_eq!(p5.get(ResourceName::NvidiaGpu), 8000);
    assert_eq!(p5.get(ResourceName::Efa), 32_000);
    let inf = capacity(it("inf2.xlarge"), AmiFamily::AL2023, &d, None);
    assert_eq!(inf.get(ResourceName::Neuron), 1000);
    assert_eq!(inf.get(ResourceName::NeuronCore), 2000);
}

#[test]
fn ami_family_parse() {
    assert_eq!(AmiFamily::parse("AL2023"), Some(AmiFamily::AL2023));
    assert_eq!(AmiFamily::parse("al2023@latest"), Some(AmiFamily::AL2023));
    assert_eq!(
        AmiFamily::parse("bottlerocket@v1.20.0"),
        Some(AmiFamily::Bottlerocket)
    );
    assert_eq!(
        AmiFamily::parse("Windows2022"),
        Some(AmiFamily::Windows2022)
    );
    assert_eq!(AmiFamily::parse("Custom"), Some(AmiFamily::Custom));
    assert_eq!(AmiFamily::parse("AL2"), Some(AmiFamily::AL2));
    assert_eq!(AmiFamily::parse("Ubuntu"), None);
    assert_eq!(AmiFamily::parse(""), None);
    for f in AmiFamily::ALL {
        assert_eq!(AmiFamily::parse(f.as_str()), Some(f));
    }
}

#[test]
fn labels() {
    let get = |l: &[(&'static str, Option<String>)], k: &str| {
        l.iter()
            .find(|(key, _)| *key == k)
            .unwrap_or_else(|| panic!("{k}"))
            .1
            .clone()
    };
    let l = well_known_labels(it("m5.large"));
    assert_eq!(
        l.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        WELL_KNOWN_LABEL_KEYS
    );
    for (k, v) in [
        (LABEL_INSTANCE_TYPE, "m5.large"),
        (LABEL_ARCH, "amd64"),
        (LABEL_OS, "linux"),
        (LABEL_INSTANCE_CATEGORY, "m"),
        (LABEL_INSTANCE_FAMILY, "m5"),
        (LABEL_INSTANCE_GENERATION, "5"),
        (LABEL_INSTANCE_SIZE, "large"),
        (LABEL_CPU, "2"),
        (LABEL_CPU_MANUFACTURER, "intel"),
        (LABEL_CPU_SUSTAINED_CLOCK_SPEED_MHZ, "3100"),
        (LABEL_MEMORY, "8192"),
        (LABEL_EBS_BANDWIDTH, "4750"),
        (LABEL_NETWORK_BANDWIDTH, "750"),
        (LABEL_HYPERVISOR, "nitro"),
        (LABEL_ENCRYPTION_IN_TRANSIT_SUPPORTED, "false"),
        (LABEL_CAPABILITY_FLEX, "false"),
    ] {
        assert_eq!(get(&l, k).as_deref(), Some(v), "{k}");
    }
    for k in [
        LABEL_WINDOWS_BUILD,
        LABEL_LOCAL_NVME,
        LABEL_GPU_NAME,
        LABEL_GPU_MANUFACTURER,
        LABEL_GPU_COUNT,
        LABEL_GPU_MEMORY,
        LABEL_ACCELERATOR_NAME,
        LABEL_ACCELERATOR_MANUFACTURER,
        LABEL_ACCELERATOR_COUNT,
    ] {
        assert_eq!(get(&l, k), None, "{k}");
    }
    // Bare metal: hypervisor In [""].
    assert_eq!(
        get(&well_known_labels(it("a1.metal")), LABEL_HYPERVISOR).as_deref(),
        Some("")
    );
    // Fractional GPU: gpu-count 0 but defined.
    let g = well_known_labels(it("g6f.large"));
    assert_eq!(get(&g, LABEL_GPU_COUNT).as_deref(), Some("0"));
    assert_eq!(get(&g, LABEL_GPU_NAME).as_deref(), Some("l4"));
    assert_eq!(get(&g, LABEL_GPU_MEMORY).as_deref(), Some("2861"));
    assert_eq!(get(&g, LABEL_LOCAL_NVME).as_deref(), Some("100"));
    let t = well_known_labels(it("trn1.2xlarge"));
    assert_eq!(get(&t, LABEL_ACCELERATOR_NAME).as_deref(), Some("trainium"));
    assert_eq!(
        get(&t, LABEL_ACCELERATOR_MANUFACTURER).as_deref(),
        Some("aws")
    );
    assert_eq!(get(&t, LABEL_ACCELERATOR_COUNT).as_deref(), Some("1"));
    // Windows.
    let w = well_known_labels_for(it("m5.large"), AmiFamily::Windows2022);
    assert_eq!(get(&w, LABEL_OS).as_deref(), Some("windows"));
    assert_eq!(get(&w, LABEL_WINDOWS_BUILD).as_deref(), Some("10.0.20348"));
    let w = well_known_labels_for(it("m6g.large"), AmiFamily::Windows2022);
    assert_eq!(get(&w, LABEL_OS), None);

    // Counts of defined labels equal the counts in Karpenter's generated docs.
    let count = |k: &str| {
        cat()
            .instance_types
            .iter()
            .filter(|t| get(&well_known_labels(t), k).is_some())
            .count()
    };
    assert_eq!(count(LABEL_LOCAL_NVME), 526);
    assert_eq!(count(LABEL_GPU_NAME), 70);
    assert_eq!(count(LABEL_GPU_COUNT), 70);
    assert_eq!(count(LABEL_ACCELERATOR_NAME), 13);
    assert_eq!(count(LABEL_EBS_BANDWIDTH), 1328);
    assert_eq!(count(LABEL_NETWORK_BANDWIDTH), 1320);
    assert_eq!(count(LABEL_CPU_SUSTAINED_CLOCK_SPEED_MHZ), 1363);
}

/// The zone spread reproduces the sample's shape: over many types, about half the zones
/// within ±1.5 % of the type's mean and about a tenth 10 % or more away.
#[test]
fn zone_spread_follows_the_sample_quantiles() {
    let c = cat();
    let mut logs = Vec::new();
    for t in c.instance_types.iter().take(600) {
        for z in ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"] {
            logs.push(zone_spread(&t.name, z).ln());
        }
    }
    let n = logs.len() as f64;
    let near = logs.iter().filter(|l| l.abs() <= 0.015).count() as f64 / n;
    let far = logs.iter().filter(|l| l.abs() >= 0.10).count() as f64 / n;
    assert!((0.4..0.6).contains(&near), "{near}");
    assert!((0.1..0.25).contains(&far), "{far}");
}

#[test]
fn spot_prices() {
    let c = cat();
    let adv = c.spot_advisor("us-east-1", "m5.large").expect("advice");
    assert!(adv.band <= 4);
    assert_eq!(SpotAdvice::band_label(adv.band), Some(adv.label.as_str()));
    let expect = 0.096 * (1.0 - f64::from(adv.savings_pct) / 100.0);
    // Per zone: spread around the Advisor's regional price, which is the zones' mean.
    let zones = Catalog::region_zones("us-east-1").unwrap();
    let prices: Vec<f64> = zones
        .iter()
        .map(|z| c.spot_price("us-east-1", "m5.large", z).unwrap())
        .collect();
    let mean = prices.iter().sum::<f64>() / prices.len() as f64;
    assert!((mean - expect).abs() < 1e-12);
    assert!(prices.iter().all(|p| (p / expect - 1.0).abs() < 0.8));
    // Not every zone the same, and the same on every call.
    assert!(prices.iter().any(|p| (p - prices[0]).abs() > 1e-9));
    assert_eq!(
        c.spot_price("us-east-1", "m5.large", "us-east-1a"),
        Some(prices[0])
    );
    // Priced types without advice have no Spot price.
    let no_advice = c
        .instance_types
        .iter()
        .find(|t| {
            c.on_demand_price("us-east-1", &t.name).is_some()
                && c.spot_advisor("us-east-1", &t.name).is_none()
        })
        .expect("some type lacks advice");
    assert_eq!(
        c.spot_price("us-east-1", &no_advice.name, "us-east-1a"),
        None
    );
    // Advice without an on-demand price: no Spot price either.
    assert!(c.spot_advisor("us-west-2", "m5.xlarge").is_some());
    assert_eq!(c.spot_price("us-west-2", "m5.xlarge", "us-west-2a"), None);
    // Every Spot price is below on-demand.
    for s in &c.spot_advice {
        if let Some(sp) = c.spot_price(&s.region, &s.instance_type, "") {
            let od = c.on_demand_price(&s.region, &s.instance_type).unwrap();
            assert!(sp <= od && sp >= 0.0);
        }
    }
}

#[test]
fn regions_and_zones() {
    assert_eq!(
        Catalog::region_zones("us-east-1").unwrap(),
        [
            "us-east-1a",
            "us-east-1b",
            "us-east-1c",
            "us-east-1d",
            "us-east-1e",
            "us-east-1f"
        ]
    );
    assert_eq!(
        Catalog::default_zones("us-east-1").unwrap(),
        ["us-east-1a", "us-east-1b", "us-east-1c"]
    );
    assert_eq!(Catalog::region_zones("us-west-2").unwrap().len(), 4);
    assert_eq!(
        Catalog::default_zones("ca-central-1").unwrap(),
        ["ca-central-1a", "ca-central-1b", "ca-central-1d"]
    );
    assert_eq!(Catalog::region_zones("mars-north-1"), None);
    // Every region of the price and advisor files has zones; every zone starts with its region.
    let c = cat();
    for r in c
        .priced_regions()
        .into_iter()
        .chain(c.spot_advice.iter().map(|s| s.region.as_str()))
    {
        let z = Catalog::default_zones(r).unwrap_or_else(|| panic!("{r}"));
        assert_eq!(z.len(), 3, "{r}");
        assert!(z.iter().all(|z| z.starts_with(r)));
    }
    let known = Catalog::known_regions();
    assert!(known.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        EMBEDDED_REGIONS_CSV.lines().count() - 1,
        known
            .iter()
            .map(|r| Catalog::region_zones(r).unwrap().len())
            .sum::<usize>()
    );
}

const IT_HEADER: &str = "name,arch,vcpu,memory_mib,max_pods";

#[test]
fn malformed_user_csv_names_file_line_column() {
    let bad_int = format!("{IT_HEADER}\nm5.large,amd64,2,8192,29\nm5.xlarge,amd64,four,16384,58\n");
    let e = Catalog::from_texts(Some(&bad_int), None, None).unwrap_err();
    assert_eq!(
        e,
        CatalogError::Field {
            file: "<instance_types>".into(),
            line: 3,
            column: "vcpu".into(),
            message: "`four` is not an integer".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "<instance_types>:3: column `vcpu`: `four` is not an integer"
    );

    let short = format!("{IT_HEADER}\nm5.large,amd64,2\n");
    let e = Catalog::from_texts(Some(&short), None, None).unwrap_err();
    assert!(matches!(e, CatalogError::Row { line: 2, .. }), "{e}");

    let e = Catalog::from_texts(Some("name,vcpu\nm5.large,2\n"), None, None).unwrap_err();
    assert!(
        matches!(&e, CatalogError::MissingColumn { column, .. } if column == "arch"),
        "{e}"
    );

    let dup = format!("{IT_HEADER}\nm5.large,amd64,2,8192,29\nm5.large,amd64,2,8192,29\n");
    let e = Catalog::from_texts(Some(&dup), None, None).unwrap_err();
    assert!(e.to_string().contains(":3: column `name`"), "{e}");

    let arch = format!("{IT_HEADER}\nm5.large,x86_64,2,8192,29\n");
    let e = Catalog::from_texts(Some(&arch), None, None).unwrap_err();
    assert!(matches!(&e, CatalogError::Field { column, line: 2, .. } if column == "arch"));

    let od =
        "region,instance_type,usd_per_hour\nus-east-1,m5.large,0.096\nus-east-1,m5.xlarge,-1\n";
    let e = Catalog::from_texts(None, Some(od), None).unwrap_err();
    assert!(
        matches!(&e, CatalogError::Field { line: 3, column, .. } if column == "usd_per_hour"),
        "{e}"
    );

    let sp = "region,instance_type,interruption_band,savings_pct\nus-east-1,m5.large,7,50\n";
    let e = Catalog::from_texts(None, None, Some(sp)).unwrap_err();
    assert!(
        matches!(&e, CatalogError::Field { line: 2, column, .. } if column == "interruption_band"),
        "{e}"
    );

    let e = Catalog::from_texts(Some(""), None, None).unwrap_err();
    assert!(matches!(e, CatalogError::Row { line: 1, .. }), "{e}");

    // A real file: the error names its path.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("types.csv");
    std::fs::write(&path, &bad_int).unwrap();
    let e = Catalog::from_files(Some(&path), None, None).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}:3: column `vcpu`", path.display())),
        "{e}"
    );
    let e = Catalog::from_files(Some(&dir.path().join("missing.csv")), None, None).unwrap_err();
    assert!(matches!(e, CatalogError::Io { .. }));
}

#[test]
fn minimal_user_csv_fills_defaults() {
    // Columns in any order, extra columns ignored, most columns absent.
    let text =
        "vcpu,name,memory_mib,arch,comment\n2,m5.large,8192,amd64,hi\n1,t4g.micro,1024,arm64,\n";
    let od = "region,instance_type,usd_per_hour\nus-east-1,m5.large,0.1\n";
    let sp = "region,os,instance_type,interruption_band,savings_pct\nus-east-1,Windows,m5.large,1,10\nus-east-1,Linux,m5.large,2,40\n";
    let c = Catalog::from_texts(Some(text), Some(od), Some(sp)).unwrap();
    assert_eq!(c.instance_types.len(), 2);
    let m5 = c.instance_type("m5.large").unwrap();
    assert_eq!(m5.family, "m5");
    assert_eq!(m5.size, "large");
    assert_eq!(m5.category.as_deref(), Some("m"));
    assert_eq!(m5.generation, Some(5));
    assert_eq!(m5.os, "linux");
    assert_eq!(m5.max_pods, None);
    assert_eq!(m5.eni_limited_pods(), 110);
    let adv = c.spot_advisor("us-east-1", "m5.large").unwrap();
    assert_eq!(
        (adv.band, adv.label.as_str(), adv.savings_pct),
        (2, "10-15%", 40)
    );
    let zones = Catalog::region_zones("us-east-1").unwrap();
    let mean = zones
        .iter()
        .map(|z| c.spot_price("us-east-1", "m5.large", z).unwrap())
        .sum::<f64>()
        / zones.len() as f64;
    assert!((mean - 0.06).abs() < 1e-12);
    assert_eq!(c.on_demand_price("us-east-1", "m5.large"), Some(0.1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_instance_types("x", &data);
        let _ = parse_on_demand("x", &data);
        let _ = parse_spot_advisor("x", &data);
    }

    #[test]
    fn garbage_rows_never_panic(
        rows in proptest::collection::vec("[a-z0-9.,\"%-]{0,40}", 0..8),
        which in 0usize..3,
    ) {
        let header = [
            "name,family,category,generation,size,arch,vcpu,memory_mib,max_pods,gpu_name,capability_flex",
            "region,instance_type,usd_per_hour",
            "region,os,instance_type,interruption_band,interruption_label,savings_pct",
        ][which];
        let text = format!("{header}\n{}\n", rows.join("\n"));
        let r = match which {
            0 => Catalog::from_texts(Some(&text), None, None),
            1 => Catalog::from_texts(None, Some(&text), None),
            _ => Catalog::from_texts(None, None, Some(&text)),
        };
        if let Ok(c) = r {
            for t in &c.instance_types {
                let _ = allocatable(t, AmiFamily::AL2023, &KubeletSettings::default(), None);
                let _ = well_known_labels(t);
            }
        }
    }
}

/// Parsing the embedded files is cheap (the brief: well under 50 ms in release). Printed, not
/// asserted, so a slow CI machine does not fail the suite.
#[test]
fn parse_time() {
    let t0 = std::time::Instant::now();
    let c = Catalog::from_texts(None, None, None).unwrap();
    println!(
        "parsed {} types, {} prices, {} advice rows in {:?}",
        c.instance_types.len(),
        c.on_demand_prices.len(),
        c.spot_advice.len(),
        t0.elapsed()
    );
}

#[test]
fn duplicate_price_rows_are_rejected() {
    let od = "region,instance_type,usd_per_hour\nus-east-1,m5.large,0.1\nus-east-2,m5.large,0.1\nus-east-1,m5.large,0.2\n";
    let e = Catalog::from_texts(None, Some(od), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "<on_demand_prices>:4: column `instance_type`: (us-east-1, m5.large) already priced on line 2"
    );
    let sp = "region,instance_type,interruption_band,savings_pct\nus-east-1,m5.large,1,50\nus-east-1,m5.large,1,50\n";
    let e = Catalog::from_texts(None, None, Some(sp)).unwrap_err();
    assert!(matches!(e, CatalogError::Field { line: 3, .. }), "{e}");
}
