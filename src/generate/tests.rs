//! Generator parsing, sampling and the CSV round trip.

use super::*;
use crate::workload::TraceReader;
use std::path::Path;

fn spec(text: &str, horizon_ms: Option<u64>) -> Result<Vec<Generator>, ConfigErrors> {
    parse_spec_text(text, Path::new("gen.yaml"), horizon_ms)
}

fn errors(text: &str, horizon_ms: Option<u64>) -> Vec<String> {
    match spec(text, horizon_ms) {
        Ok(g) => panic!("expected errors, parsed {g:?}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

const H: u64 = 3_600_000;

/// Pods of `gen` alive at time `t` (created at or before, not yet ended).
fn alive(pods: &[GeneratedPod], t: u64) -> usize {
    pods.iter()
        .filter(|p| p.arrival_ms <= t && p.duration_ms.is_none_or(|d| p.arrival_ms + d > t))
        .count()
}

#[test]
fn defaults_fill_every_parameter() {
    let g = spec("- kind: batch\n- kind: diurnal\n- kind: burst\n", None).unwrap();
    assert_eq!(g.len(), 3);
    assert_eq!(g[0].name, "batch");
    assert_eq!(g[0].pod.namespace, "default");
    assert_eq!(g[0].pod.cpu, Some(("500m".to_string(), 500)));
    assert_eq!(g[0].pod.memory.as_ref().map(|m| m.0.as_str()), Some("1Gi"));
    assert_eq!(
        g[0].kind,
        GeneratorKind::Batch(Batch {
            rate_per_hour: 30.0,
            duration_median_ms: 600_000,
            duration_p90_ms: H,
            start_ms: 0,
            end_ms: None,
        })
    );
    assert_eq!(
        g[1].kind,
        GeneratorKind::Diurnal(Diurnal {
            replicas_min: 10,
            replicas_max: 50,
            peak_hour: 14.0,
            period_ms: 24 * H,
            noise: 0.1,
            step_ms: 300_000,
            pod_lifetime_ms: None,
        })
    );
    assert_eq!(
        g[2].kind,
        GeneratorKind::Burst(Burst {
            pods: 100,
            at_ms: 0,
            pod_duration_ms: None,
        })
    );
    // A template leaves the requests to it unless they are given.
    let g = spec("- {kind: burst, template: web, cpu: 2}\n", None).unwrap();
    assert_eq!(g[0].pod.cpu, Some(("2".to_string(), 2000)));
    assert_eq!(g[0].pod.memory, None);
}

#[test]
fn unknown_keys_and_values_are_located_with_the_closest_name() {
    let e = errors(
        "- kind: batch\n  name: etl\n  rate_per_hr: 3\n- kind: burts\n",
        None,
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("gen.yaml:3:3: [0].rate_per_hr: unknown field `rate_per_hr`")
            && e[0].ends_with("(did you mean `rate_per_hour`?)"),
        "{}",
        e[0]
    );
    assert!(
        e[1].starts_with("gen.yaml:4:9: [1].kind: unsupported value `burts`")
            && e[1].ends_with("(did you mean `burst`?)"),
        "{}",
        e[1]
    );
    // A key of another kind is unknown for this one.
    let e = errors("- {kind: burst, replicas_min: 3}\n", None);
    assert!(e[0].contains("unknown field `replicas_min`"), "{e:?}");
    // Missing kind, not a list, empty list.
    assert!(errors("- {name: x}\n", None)[0].contains("required field `kind` is missing"));
    assert!(errors("kind: batch\n", None)[0].contains("expected a list of generators"));
    assert!(errors("[]\n", None)[0].contains("at least one generator"));
}

#[test]
fn cross_field_rules_are_checked() {
    let cases: &[(&str, &str)] = &[
        (
            "- {kind: diurnal, replicas_min: 9, replicas_max: 3}",
            "replicas_min (9) may not exceed replicas_max (3)",
        ),
        (
            "- {kind: batch, duration_median: 1h, duration_p90: 10m}",
            "duration_p90 (10m0s) may not be below duration_median (1h0m0s)",
        ),
        (
            "- {kind: batch, start: 2h, end: 1h}",
            "must come after `start`",
        ),
        ("- {kind: diurnal, noise: 2}", "between 0 and 1"),
        (
            "- {kind: diurnal, peak_hour: 24}",
            "not an hour of the period",
        ),
        (
            "- {kind: diurnal, step: 10m, pod_lifetime: 5m}",
            "at least `step`",
        ),
        ("- {kind: burst, at: 3h}", "after the end of the run"),
        ("- {kind: batch, rate_per_hour: -1}", "between 0 and"),
        ("- {kind: burst, namespace: Web}", "not a valid namespace"),
        ("- {kind: burst, cpu: lots}", "not a Kubernetes quantity"),
        (
            "- {kind: burst}\n- {kind: burst}",
            "two generators are named `burst`",
        ),
        (
            "- {kind: burst, name: a}\n- {kind: batch, name: a}",
            "two generators are named `a`",
        ),
    ];
    for (text, want) in cases {
        let e = errors(text, Some(2 * H));
        assert!(e.iter().any(|x| x.contains(want)), "{text}: {e:?}");
    }
}

#[test]
fn same_seed_same_pods_other_seed_other_pods() {
    let g = spec(
        "- {kind: diurnal, name: web, replicas_min: 3, replicas_max: 12, step: 10m}\n- {kind: batch, name: etl, rate_per_hour: 120}\n",
        None,
    )
    .unwrap();
    let a = generate(&g, 7, Some(24 * H)).unwrap();
    let b = generate(&g, 7, Some(24 * H)).unwrap();
    let c = generate(&g, 8, Some(24 * H)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.windows(2).all(|w| w[0].arrival_ms <= w[1].arrival_ms));
    // A generator's own seed overrides the run seed; its streams depend on nothing else.
    let mut pinned = g.clone();
    pinned[1].seed = Some(99);
    let etl = |pods: &[GeneratedPod]| -> Vec<GeneratedPod> {
        pods.iter().filter(|p| p.generator == 1).copied().collect()
    };
    let x = generate(&pinned, 1, Some(24 * H)).unwrap();
    let y = generate(&pinned, 2, Some(24 * H)).unwrap();
    assert_eq!(etl(&x), etl(&y));
    // Removing the diurnal generator leaves the batch jobs exactly as they were.
    let only_etl = vec![pinned[1].clone()];
    let z = generate(&only_etl, 1, Some(24 * H)).unwrap();
    let strip = |v: Vec<GeneratedPod>| -> Vec<(u64, Option<u64>)> {
        v.iter().map(|p| (p.arrival_ms, p.duration_ms)).collect()
    };
    assert_eq!(strip(z), strip(etl(&x)));
}

/// The CSV written reads back through the trace reader as exactly the rows the simulation is
/// given (so `workload.generate` and the written CSV are the same trace).
#[test]
fn the_csv_reads_back_as_the_simulated_rows() {
    let g = spec(
        "- {kind: diurnal, name: web, namespace: shop, replicas_min: 2, replicas_max: 9, step: 15m, pod_lifetime: 2h, template: web}\n\
         - {kind: batch, name: etl, namespace: batch, rate_per_hour: 50, cpu: 1500m, memory: 3Gi, priority: -5}\n\
         - {kind: burst, name: train, pods: 4, at: 90m, pod_duration: 1234ms, gpu: 1, cpu: 4, memory: 16Gi}\n",
        None,
    )
    .unwrap();
    let pods = generate(&g, 11, Some(6 * H)).unwrap();
    assert!(pods.len() > 100);
    let mut csv = Vec::new();
    write_csv(&g, &pods, &mut csv).unwrap();
    let text = String::from_utf8(csv.clone()).unwrap();
    assert!(
        text.starts_with("arrival,duration,namespace,owner,cpu,memory,gpu,template,priority\n"),
        "{}",
        &text[..80]
    );
    let read: Vec<_> = TraceReader::from_reader("t.csv", std::io::Cursor::new(csv), true)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let direct: Vec<_> = trace_rows(&g, &pods).collect();
    assert_eq!(read, direct);
    // The requests of a template-backed generator are left empty for the template.
    let web = direct
        .iter()
        .find(|r| r.owner.as_deref() == Some("web"))
        .unwrap();
    assert_eq!(
        (web.cpu_milli, web.template.as_deref()),
        (None, Some("web"))
    );
}

/// Batch run times: the sample median and 90th percentile are within 3 % of the parameters
/// (60 000 jobs: the standard error of the median's log is about 0.7 %), and the number of
/// arrivals within 2 % of rate × time (4 standard errors).
#[test]
fn batch_run_times_follow_the_lognormal() {
    let g = spec(
        "- {kind: batch, rate_per_hour: 6000, duration_median: 10m, duration_p90: 1h}\n",
        None,
    )
    .unwrap();
    let pods = generate(&g, 3, Some(10 * H)).unwrap();
    let n = pods.len() as f64;
    assert!((n - 60_000.0).abs() < 0.02 * 60_000.0, "{n} arrivals");
    let mut d: Vec<u64> = pods.iter().map(|p| p.duration_ms.unwrap()).collect();
    d.sort_unstable();
    let q = |p: f64| d[((d.len() as f64) * p) as usize] as f64;
    let median = q(0.5);
    let p90 = q(0.9);
    assert!(
        (median / 600_000.0 - 1.0).abs() < 0.03,
        "median {median} ms"
    );
    assert!((p90 / 3_600_000.0 - 1.0).abs() < 0.03, "p90 {p90} ms");
    // Arrivals stay inside [start, end).
    let g = spec(
        "- {kind: batch, rate_per_hour: 600, start: 1h, end: 2h}\n",
        None,
    )
    .unwrap();
    let pods = generate(&g, 3, Some(10 * H)).unwrap();
    assert!(!pods.is_empty());
    assert!(pods.iter().all(|p| (H..2 * H).contains(&p.arrival_ms)));
}

#[test]
fn a_burst_is_n_pods_at_t() {
    let g = spec(
        "- {kind: burst, pods: 500, at: 1h, pod_duration: 10m}\n",
        None,
    )
    .unwrap();
    let pods = generate(&g, 0, None).unwrap();
    assert_eq!(pods.len(), 500);
    assert!(
        pods.iter()
            .all(|p| p.arrival_ms == H && p.duration_ms == Some(600_000))
    );
    // Diurnal and batch need the length of the trace.
    let g = spec("- {kind: batch}\n", None).unwrap();
    assert!(
        generate(&g, 0, None)
            .unwrap_err()
            .contains("needs the length")
    );
}

/// Without noise the live replicas equal the sine's target at every step, peak at
/// `peak_hour` and bottom out half a period later; scale-downs remove the newest pods.
#[test]
fn diurnal_replicas_follow_the_sine() {
    let g = spec(
        "- {kind: diurnal, replicas_min: 4, replicas_max: 20, peak_hour: 6, noise: 0, step: 30m}\n",
        None,
    )
    .unwrap();
    let pods = generate(&g, 0, Some(48 * H)).unwrap();
    let step = 1_800_000;
    for k in 0..96u64 {
        let t = k * step;
        let phase = std::f64::consts::TAU * (t as f64 - 6.0 * H as f64) / (24 * H) as f64;
        let want = (4.0 + 16.0 * (1.0 + phase.cos()) / 2.0).round() as usize;
        assert_eq!(alive(&pods, t), want, "at {t} ms");
    }
    assert_eq!(alive(&pods, 6 * H), 20);
    assert_eq!(alive(&pods, 18 * H), 4);
    assert_eq!(alive(&pods, 30 * H), 20);
    // LIFO: whenever pods end at a step, every pod still alive is older than each of them.
    for t in (1..96u64).map(|k| k * step) {
        let ended: Vec<&GeneratedPod> = pods
            .iter()
            .filter(|p| p.duration_ms.is_some_and(|d| p.arrival_ms + d == t))
            .collect();
        let youngest_kept = pods
            .iter()
            .filter(|p| p.arrival_ms <= t && p.duration_ms.is_none_or(|d| p.arrival_ms + d > t))
            .map(|p| p.arrival_ms)
            .max();
        if let (Some(oldest_ended), Some(kept)) =
            (ended.iter().map(|p| p.arrival_ms).min(), youngest_kept)
        {
            assert!(
                kept <= oldest_ended,
                "at {t}: kept {kept}, ended {oldest_ended}"
            );
        }
    }
}

/// With `pod_lifetime`, no pod outlives it and the replica count is unchanged by restarts.
#[test]
fn diurnal_pods_are_restarted_at_their_lifetime() {
    let g = spec(
        "- {kind: diurnal, replicas_min: 5, replicas_max: 5, noise: 0, step: 10m, pod_lifetime: 3h}\n",
        None,
    )
    .unwrap();
    let pods = generate(&g, 0, Some(24 * H)).unwrap();
    assert!(
        pods.iter()
            .all(|p| p.duration_ms.is_none_or(|d| d <= 3 * H))
    );
    for k in 0..144u64 {
        assert_eq!(alive(&pods, k * 600_000), 5);
    }
    // 24 h / 3 h = 8 generations of 5 pods.
    assert_eq!(pods.len(), 40);
}
