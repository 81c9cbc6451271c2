//! Unit tests of the importers' small rules (the end-to-end ones are in tests/it/import.rs).

use super::k8s::{deployment_name, derived_templates_path, format_memory, toleration_cell};
use super::{Staged, ec2_gpu_name, format_secs};
use crate::config::{TaintEffect, Toleration, TolerationOperator};
use std::io::Write;
use std::path::Path;

#[test]
fn replica_set_names_are_trimmed_to_their_deployment() {
    // The pod-template-hash label names the suffix exactly.
    assert_eq!(deployment_name("web-7d9f8c6b5", Some("7d9f8c6b5")), "web");
    assert_eq!(deployment_name("my-app-v2-abc", Some("abc")), "my-app-v2");
    // Without the label: a hash-like last segment (5-10 characters of the hash alphabet).
    assert_eq!(deployment_name("migrator-6f7b9c8d4d", None), "migrator");
    assert_eq!(deployment_name("api-server-xkq2v", None), "api-server");
    // Not hash-like: vowels, too short, too long, or no dash at all.
    assert_eq!(deployment_name("frontend-canary", None), "frontend-canary");
    assert_eq!(deployment_name("web-v2", None), "web-v2");
    assert_eq!(deployment_name("web-bcdfghjklmn", None), "web-bcdfghjklmn");
    assert_eq!(deployment_name("standalone", None), "standalone");
    // A label that is not the suffix falls back to the shape rule.
    assert_eq!(deployment_name("web-7d9f8c6b5", Some("zzz")), "web");
    assert_eq!(deployment_name("web-canary", Some("zzz")), "web-canary");
    assert_eq!(deployment_name("-bcdfg", None), "-bcdfg");
}

#[test]
fn seconds_are_written_exactly() {
    assert_eq!(format_secs(0), "0");
    assert_eq!(format_secs(12_000), "12");
    assert_eq!(format_secs(12_500), "12.5");
    assert_eq!(format_secs(1), "0.001");
    assert_eq!(format_secs(59_050), "59.05");
}

#[test]
fn alibaba_gpu_models_map_onto_ec2_gpu_names() {
    assert_eq!(ec2_gpu_name("T4"), Some("t4"));
    assert_eq!(ec2_gpu_name(" v100m16 "), Some("v100"));
    assert_eq!(ec2_gpu_name("V100M32"), Some("v100"));
    assert_eq!(ec2_gpu_name("A10"), Some("a10g"));
    for none in ["P100", "G1", "G2", "G3", "", "A100"] {
        assert_eq!(ec2_gpu_name(none), None, "{none}");
    }
}

#[test]
fn templates_path_is_derived_from_the_trace_path() {
    assert_eq!(
        derived_templates_path(Path::new("out/cluster.csv")),
        Path::new("out/cluster.templates.yaml")
    );
    assert_eq!(
        derived_templates_path(Path::new("trace")),
        Path::new("trace.templates.yaml")
    );
}

#[test]
fn memory_is_written_in_the_largest_exact_unit() {
    let mib = 1_048_576_000i64;
    assert_eq!(format_memory(0), "0");
    assert_eq!(format_memory(2048 * mib), "2Gi");
    assert_eq!(format_memory(1088 * mib), "1088Mi");
    assert_eq!(format_memory(1_024_000 * 3), "3Ki");
    assert_eq!(format_memory(1_000_000), "1000");
    assert_eq!(format_memory(1500), "1500m");
    for m in [2048 * mib, 1088 * mib, 3_072_000, 1_000_000, 1500] {
        assert_eq!(crate::units::parse_quantity_milli(&format_memory(m)), Ok(m));
    }
}

#[test]
fn tolerations_are_written_in_the_trace_cell_syntax() {
    let t = |key: Option<&str>, op, value: Option<&str>, effect| Toleration {
        key: key.map(str::to_string),
        operator: op,
        value: value.map(str::to_string),
        effect,
        toleration_seconds: None,
    };
    use TolerationOperator::{Equal, Exists};
    assert_eq!(
        toleration_cell(&t(
            Some("dedicated"),
            Equal,
            Some("batch"),
            Some(TaintEffect::NoSchedule)
        )),
        "dedicated=batch:NoSchedule"
    );
    assert_eq!(
        toleration_cell(&t(
            Some("nvidia.com/gpu"),
            Exists,
            None,
            Some(TaintEffect::NoSchedule)
        )),
        "nvidia.com/gpu:NoSchedule"
    );
    assert_eq!(
        toleration_cell(&t(Some("spot"), Exists, None, None)),
        "spot"
    );
    assert_eq!(
        toleration_cell(&t(Some("team"), Equal, Some("a"), None)),
        "team=a"
    );
    assert_eq!(
        toleration_cell(&t(None, Exists, None, Some(TaintEffect::NoExecute))),
        ":NoExecute"
    );
}

#[test]
fn a_staged_file_appears_only_when_committed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.csv");
    {
        let mut s = Staged::create(&p).unwrap();
        s.write_all(b"half").unwrap();
    }
    assert!(!p.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no partial file left"
    );
    let mut s = Staged::create(&p).unwrap();
    s.write_all(b"whole\n").unwrap();
    s.commit().unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "whole\n");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
