//! The engine's progress observer (issue #5 part 6): called every N events with monotone
//! simulated time and a growing event count, once more at the end with the run's final figures,
//! and without any effect on what the run produces.

use karpsim::compile::ArrivalBuilder;
use karpsim::engine::{Engine, MemoryRecorder, RunSummary};
use karpsim::workload::TraceReader;
use std::path::Path;

/// Runs the quickstart scenario, with an observer called every `every` events when given.
fn quickstart(every: Option<u64>, calls: &mut Vec<(u64, u64)>) -> (RunSummary, MemoryRecorder) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.yaml");
    let p = karpsim::cli::prepare(&path).unwrap_or_else(|e| panic!("{e:?}"));
    let trace = p.loaded.scenario.workload.pods.clone().expect("a trace");
    let mut builder = ArrivalBuilder::new(&p.compiled.templates);
    let src = TraceReader::open(&trace, !p.compiled.templates.is_empty())
        .unwrap()
        .map(move |r| builder.arrival(&r.map_err(|e| e.to_string())?));
    let mut rec = MemoryRecorder::default();
    let mut observe = |t: u64, n: u64| calls.push((t, n));
    let engine = Engine::new(&p.compiled.setup, Box::new(src), &mut rec);
    let engine = match every {
        Some(k) => engine.with_progress(k, &mut observe),
        None => engine,
    };
    let summary = engine.run().unwrap();
    (summary, rec)
}

#[test]
fn observer_fires_in_order_with_monotone_time_and_ends_with_the_totals() {
    let mut calls = Vec::new();
    let (summary, _) = quickstart(Some(100), &mut calls);
    let events = summary.events_processed;
    assert!(
        events > 1000,
        "quickstart should have well over 1000 events"
    );
    // Every 100 events, then once at the end.
    assert_eq!(calls.len() as u64, events / 100 + 1, "{calls:?}");
    for (k, (_, n)) in calls.iter().take(calls.len() - 1).enumerate() {
        assert_eq!(*n, 100 * (k as u64 + 1));
    }
    for w in calls.windows(2) {
        assert!(w[0].0 <= w[1].0, "simulated time went back: {w:?}");
        assert!(
            w[0].1 < w[1].1 || w[1].1 == events,
            "events did not grow: {w:?}"
        );
    }
    let last = calls.last().unwrap();
    assert_eq!(*last, (summary.simulated_ms, events));
    // The quickstart runs for one hour; the ticks spread over it, not all at the start.
    assert_eq!(summary.simulated_ms, 3_600_000);
    assert!(calls[calls.len() / 2].0 > 60_000, "{calls:?}");
}

#[test]
fn observer_changes_nothing_the_run_produces() {
    let mut calls = Vec::new();
    let (with, rec_with) = quickstart(Some(7), &mut calls);
    let mut none = Vec::new();
    let (without, rec_without) = quickstart(None, &mut none);
    assert!(none.is_empty());
    assert!(calls.len() > 100);
    assert_eq!(with, without);
    assert_eq!(rec_with.decisions, rec_without.decisions);
    assert_eq!(rec_with.nodes, rec_without.nodes);
    assert_eq!(rec_with.pods, rec_without.pods);
    assert_eq!(rec_with.timeline, rec_without.timeline);
}
