//! Reports: the files of contract section 5, written into a staging folder and moved into place
//! only when the run succeeded, so no report folder is ever half-written.
//!
//! Owns: `summary.json`, `summary.md`, `nodes.csv`, `pods.csv`, `timeline.csv`,
//! `decisions.jsonl`, `attribution.csv`, `manifest.json`, and writing the plots (`*.svg`, drawn
//! by [`crate::plot`]) and `report.html` ([`crate::html`]). May not: run simulations or change
//! summaries.

use crate::attribution::AttributionRow;
use crate::engine::{NodeRecord, PodRecord, Recorder, RunSummary, TimelineRow};
use crate::{html, plot};
use serde_json::{Value, json};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Rounds money and ratios for stable, readable JSON.
pub fn round6(x: f64) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    let r = (x * 1e6).round() / 1e6;
    if r == 0.0 { 0.0 } else { r }
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// Milliseconds as a decimal number of seconds, exactly as `f64` Display prints `ms / 1000`
/// (the shortest decimal that round-trips), without going through floating point.
pub fn secs_str(ms: u64) -> String {
    let (s, f) = (ms / 1000, ms % 1000);
    if f == 0 {
        s.to_string()
    } else if f % 100 == 0 {
        format!("{s}.{}", f / 100)
    } else if f % 10 == 0 {
        format!("{s}.{:02}", f / 10)
    } else {
        format!("{s}.{f:03}")
    }
}

fn opt_secs(ms: Option<u64>) -> String {
    ms.map(secs_str).unwrap_or_default()
}

/// The files a report folder holds (besides `*.svg` plots). An existing output folder is
/// replaced only when it holds nothing else, so `--out` never deletes a user's files.
pub const REPORT_FILES: &[&str] = &[
    "summary.json",
    "summary.md",
    "nodes.csv",
    "pods.csv",
    "timeline.csv",
    "decisions.jsonl",
    "manifest.json",
    "attribution.csv",
    "check.md",
    "report.html",
];

/// `nodes.csv`'s columns (contract section 5), in order.
pub const NODES_COLUMNS: [&str; 11] = [
    "node",
    "nodepool",
    "instance_type",
    "zone",
    "capacity_type",
    "price_per_hour",
    "launched_at",
    "ready_at",
    "terminated_at",
    "termination_reason",
    "cost",
];

/// Gives an output folder without a final name (`.`, `..`, `a/..`) its real path.
fn resolve_out(dir: &Path) -> std::io::Result<PathBuf> {
    if dir.file_name().is_some() {
        return Ok(dir.to_path_buf());
    }
    let real = fs::canonicalize(dir)?;
    if real.file_name().is_none() {
        return Err(std::io::Error::other(format!(
            "`{}` cannot be a report folder",
            dir.display()
        )));
    }
    Ok(real)
}

/// Fails unless `dir` is absent or a folder holding only report files.
fn check_replaceable(dir: &Path) -> std::io::Result<()> {
    let meta = match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
        Ok(m) => m,
    };
    if !meta.is_dir() {
        return Err(std::io::Error::other(format!(
            "`{}` exists and is not a folder",
            dir.display()
        )));
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        let known = REPORT_FILES.contains(&name.as_str()) || name.ends_with(".svg");
        if !known || !entry.file_type()?.is_file() {
            return Err(std::io::Error::other(format!(
                "`{}` exists and holds `{name}`, which is not a karpsim report file; \
                 remove it or choose another --out folder",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Streams the engine's records to CSV/JSONL files in a staging folder.
pub struct FileRecorder {
    pub staging: PathBuf,
    pods: csv::Writer<BufWriter<File>>,
    nodes: Vec<NodeRecord>,
    attribution: Vec<AttributionRow>,
    timeline: csv::Writer<BufWriter<File>>,
    decisions: BufWriter<File>,
    /// What the plots and `report.html` need, kept small while the records stream.
    series: plot::TimelineSeries,
    sample: html::DecisionSample,
    error: Option<std::io::Error>,
}

impl FileRecorder {
    /// Creates the staging folder next to `final_dir` and opens the streamed files.
    pub fn create(final_dir: &Path) -> std::io::Result<FileRecorder> {
        let final_dir = &resolve_out(final_dir)?;
        check_replaceable(final_dir)?;
        let parent = final_dir.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent)?;
        let base = final_dir
            .file_name()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "report".into());
        let staging = parent.join(format!(".{base}.partial-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        fs::create_dir_all(&staging)?;
        let mut pods =
            csv::Writer::from_writer(BufWriter::new(File::create(staging.join("pods.csv"))?));
        pods.write_record([
            "pod",
            "namespace",
            "owner",
            "arrival",
            "scheduled_at",
            "running_at",
            "ended_at",
            "node",
            "evictions",
            "pending_seconds",
            "outcome",
        ])
        .map_err(std::io::Error::other)?;
        let mut timeline =
            csv::Writer::from_writer(BufWriter::new(File::create(staging.join("timeline.csv"))?));
        timeline
            .write_record([
                "time",
                "nodes_on_demand",
                "nodes_spot",
                "nodes_reserved",
                "nodes_not_ready",
                "cost_per_hour",
                "pending_pods",
                "cpu_requested",
                "cpu_allocatable",
                "memory_requested_gib",
                "memory_allocatable_gib",
            ])
            .map_err(std::io::Error::other)?;
        let decisions = BufWriter::new(File::create(staging.join("decisions.jsonl"))?);
        Ok(FileRecorder {
            staging,
            pods,
            nodes: Vec::new(),
            attribution: Vec::new(),
            timeline,
            decisions,
            series: plot::TimelineSeries::default(),
            sample: html::DecisionSample::default(),
            error: None,
        })
    }

    fn keep<E: Into<std::io::Error>>(&mut self, r: Result<(), E>) {
        if let Err(e) = r
            && self.error.is_none()
        {
            self.error = Some(e.into());
        }
    }

    /// What the plots are drawn from (the downsampled timeline, the NodePool names and the
    /// pending-latency CDF of `run`).
    pub fn plot_data(&self, run: &RunSummary) -> plot::RunPlotData {
        plot::RunPlotData {
            timeline: self.series.clone(),
            nodepools: run.nodepools.clone(),
            cdf: plot::latency_cdf(&run.pending_ms),
        }
    }

    /// Writes the remaining files (the plots and `report.html` among them) and moves the
    /// staging folder to `final_dir`.
    pub fn finish(
        mut self,
        final_dir: &Path,
        run: &RunSummary,
        summary: &Value,
        summary_md: &str,
        manifest: &Value,
    ) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            let _ = fs::remove_dir_all(&self.staging);
            return Err(e);
        }
        let result = (|| -> std::io::Result<()> {
            self.pods.flush()?;
            self.timeline.flush()?;
            self.decisions.flush()?;
            let mut nodes = csv::Writer::from_writer(BufWriter::new(File::create(
                self.staging.join("nodes.csv"),
            )?));
            nodes
                .write_record(NODES_COLUMNS)
                .map_err(std::io::Error::other)?;
            for n in &self.nodes {
                nodes
                    .write_record([
                        n.name.clone(),
                        n.nodepool.clone(),
                        n.instance_type.clone(),
                        n.zone.clone(),
                        n.capacity_type.clone(),
                        format!("{}", n.price_per_hour),
                        secs_str(n.launched_ms),
                        opt_secs(n.ready_ms),
                        opt_secs(n.terminated_ms),
                        n.termination_reason.clone().unwrap_or_default(),
                        format!("{:.6}", n.cost),
                    ])
                    .map_err(std::io::Error::other)?;
            }
            nodes.flush()?;
            write_attribution(&self.staging.join("attribution.csv"), &self.attribution)?;
            let mut s = serde_json::to_string_pretty(summary).map_err(std::io::Error::other)?;
            s.push('\n');
            fs::write(self.staging.join("summary.json"), s)?;
            fs::write(self.staging.join("summary.md"), summary_md)?;
            let mut m = serde_json::to_string_pretty(manifest).map_err(std::io::Error::other)?;
            m.push('\n');
            fs::write(self.staging.join("manifest.json"), m)?;
            let name = summary.get("name").and_then(Value::as_str).unwrap_or("");
            let plots =
                plot::run_plots(name, &self.plot_data(run)).map_err(std::io::Error::other)?;
            for p in &plots {
                fs::write(self.staging.join(p.file), &p.svg)?;
            }
            let page = html::report_html(summary, &plots, &self.sample);
            fs::write(self.staging.join("report.html"), page)?;
            Ok(())
        })();
        let staging = self.staging.clone();
        drop(self);
        let result = result.and_then(|()| {
            let final_dir = &resolve_out(final_dir)?;
            check_replaceable(final_dir)?;
            if final_dir.exists() {
                fs::remove_dir_all(final_dir)?;
            }
            fs::rename(&staging, final_dir)
        });
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }

    /// Removes the staging folder (on failure).
    pub fn abort(self) {
        let staging = self.staging.clone();
        drop(self);
        let _ = fs::remove_dir_all(staging);
    }
}

impl Recorder for FileRecorder {
    fn pod(&mut self, r: &PodRecord) {
        let pending = match r.running_ms {
            Some(run) => secs_str(run.saturating_sub(r.arrival_ms)),
            None => String::new(),
        };
        let res = self.pods.write_record([
            r.name.as_str(),
            r.namespace.as_str(),
            r.owner.as_str(),
            &secs_str(r.arrival_ms),
            &opt_secs(r.scheduled_ms),
            &opt_secs(r.running_ms),
            &opt_secs(r.ended_ms),
            r.node.as_deref().unwrap_or(""),
            &r.evictions.to_string(),
            &pending,
            r.outcome,
        ]);
        self.keep(res.map_err(std::io::Error::other));
    }

    fn node(&mut self, r: &NodeRecord) {
        self.nodes.push(r.clone());
    }

    fn attribution(&mut self, r: &AttributionRow) {
        self.attribution.push(r.clone());
    }

    fn timeline(&mut self, t: &TimelineRow) {
        self.series.push(t);
        let gib = |b: i64| format!("{}", round6(b as f64 / (1u64 << 30) as f64));
        let res = self.timeline.write_record([
            secs_str(t.time_ms),
            t.nodes_on_demand.to_string(),
            t.nodes_spot.to_string(),
            t.nodes_reserved.to_string(),
            t.nodes_not_ready.to_string(),
            format!("{}", round6(t.cost_per_hour)),
            t.pending_pods.to_string(),
            format!("{}", round6(t.cpu_requested_millis as f64 / 1000.0)),
            format!("{}", round6(t.cpu_allocatable_millis as f64 / 1000.0)),
            gib(t.memory_requested_bytes),
            gib(t.memory_allocatable_bytes),
        ]);
        self.keep(res.map_err(std::io::Error::other));
    }

    fn decision(&mut self, d: &Value) {
        self.sample.push(d);
        let res = serde_json::to_writer(&mut self.decisions, d).map_err(std::io::Error::other);
        self.keep(res);
        let res = self.decisions.write_all(b"\n");
        self.keep(res);
    }
}

/// `attribution.csv`: one row per (namespace, owner), then `(idle)`
/// (see [`crate::attribution`] for the rule).
fn write_attribution(path: &Path, rows: &[AttributionRow]) -> std::io::Result<()> {
    let total: f64 = rows.iter().map(|r| r.cost).sum();
    let mut w = csv::Writer::from_writer(BufWriter::new(File::create(path)?));
    w.write_record([
        "namespace",
        "owner",
        "cost",
        "share_of_total",
        "cpu_core_hours",
        "memory_gib_hours",
        "gpu_hours",
        "pod_hours",
    ])
    .map_err(std::io::Error::other)?;
    for r in rows {
        w.write_record([
            r.namespace.clone(),
            r.owner.clone(),
            format!("{:.6}", round6(r.cost)),
            format!("{}", round6(if total > 0.0 { r.cost / total } else { 0.0 })),
            format!("{}", round6(r.cpu_core_hours)),
            format!("{}", round6(r.memory_gib_hours)),
            format!("{}", round6(r.gpu_hours)),
            format!("{}", round6(r.pod_hours)),
        ])
        .map_err(std::io::Error::other)?;
    }
    w.flush()
}

/// `summary.json` (contract section 5; every key present in every run).
pub fn summary_json(name: &str, seed: u64, s: &RunSummary, extra: Value) -> Value {
    let map = |m: &std::collections::BTreeMap<String, f64>| {
        Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), json!(round6(*v))))
                .collect(),
        )
    };
    let util = |req: f64, alloc: f64| {
        if alloc > 0.0 {
            round6(req / alloc)
        } else {
            0.0
        }
    };
    let mut v = json!({
        "name": name,
        "seed": seed,
        "simulated_seconds": secs(s.simulated_ms),
        "events_processed": s.events_processed,
        "cost": {
            "total": round6(s.cost_total),
            "on_demand": round6(s.cost_on_demand),
            "spot": round6(s.cost_spot),
            "reserved": round6(s.cost_reserved),
            "by_nodepool": map(&s.cost_by_nodepool),
            "by_namespace": map(&s.cost_by_namespace),
            "by_owner": map(&s.cost_by_owner),
        },
        "pods": {
            "total": s.pods_total,
            "scheduled": s.pods_scheduled,
            "never_scheduled": s.pods_never_scheduled,
            "evicted": s.pods_evicted,
            "unschedulable": s.pods_unschedulable,
        },
        "latency": {
            "pending_p50": s.pending_percentile(50.0),
            "pending_p90": s.pending_percentile(90.0),
            "pending_p99": s.pending_percentile(99.0),
            "pending_max": s.pending_ms.last().map(|m| secs(*m)).unwrap_or(0.0),
        },
        "nodes": {
            "launched": s.nodes_launched,
            "peak": s.nodes_peak,
            "terminated_by_reason": s.terminated_by_reason,
            "nodeclaims_created": s.nodeclaims_created,
        },
        "spot": {
            "interruptions": s.spot_interruptions,
            "insufficient_capacity_errors": s.spot_ice_errors,
            "pods_killed": s.spot_pods_killed,
            "rebalance_recommendations": s.spot_rebalance_recommendations,
            "interruptions_by_pool": s.spot_interruptions_by_pool,
            "node_hours_share": if s.node_hours > 0.0 { round6(s.node_hours_spot / s.node_hours) } else { 0.0 },
            "saving_vs_on_demand_prices": round6(s.spot_saving_vs_on_demand),
        },
        "utilization": {
            "cpu_requested_over_allocatable": util(s.cpu_requested_ms, s.cpu_allocatable_ms),
            "memory_requested_over_allocatable": util(s.memory_requested_ms, s.memory_allocatable_ms),
        },
        "karpenter": {
            "provisioning_passes": s.provisioning_passes,
            // Karpenter's own metric names (`core: pkg/metrics`, `pkg/controllers/disruption`).
            "karpenter_nodeclaims_created_total": s.nodeclaims_created,
            "karpenter_nodeclaims_terminated_total": s.terminated_by_reason.values().sum::<u64>(),
            "karpenter_nodeclaims_disrupted_total": s.disrupted_by_reason,
            "karpenter_pods_evicted_total": s.pods_evicted,
        },
    });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        for (k, x) in e {
            o.insert(k, x);
        }
    }
    v
}

/// `summary.md`.
pub fn summary_md(name: &str, seed: u64, s: &RunSummary, notes: &[String]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# karpsim run: {name}\n\nseed {seed}, {:.1} simulated hours, {} events\n\n",
        s.simulated_ms as f64 / 3.6e6,
        s.events_processed
    ));
    out.push_str("| figure | value |\n|---|---|\n");
    out.push_str(&format!("| total cost | ${:.2} |\n", s.cost_total));
    out.push_str(&format!("| on-demand cost | ${:.2} |\n", s.cost_on_demand));
    out.push_str(&format!("| spot cost | ${:.2} |\n", s.cost_spot));
    out.push_str(&format!(
        "| pods | {} ({} scheduled, {} never scheduled) |\n",
        s.pods_total, s.pods_scheduled, s.pods_never_scheduled
    ));
    out.push_str(&format!(
        "| pending latency p50 / p90 / p99 / max | {:.1} s / {:.1} s / {:.1} s / {:.1} s |\n",
        s.pending_percentile(50.0),
        s.pending_percentile(90.0),
        s.pending_percentile(99.0),
        s.pending_ms
            .last()
            .map(|m| *m as f64 / 1000.0)
            .unwrap_or(0.0)
    ));
    out.push_str(&format!(
        "| nodes launched / peak | {} / {} |\n",
        s.nodes_launched, s.nodes_peak
    ));
    if s.node_hours_spot > 0.0 {
        out.push_str(&format!(
            "| Spot share of node-hours / saving against on-demand prices for the same node-hours | {:.1}% / ${:.2} |\n",
            100.0 * s.node_hours_spot / s.node_hours.max(f64::MIN_POSITIVE),
            s.spot_saving_vs_on_demand
        ));
    }
    if s.spot_interruptions > 0 || s.spot_ice_errors > 0 {
        out.push_str(&format!(
            "| Spot interruptions / pods killed by reclaim / insufficient-capacity errors | {} / {} / {} |\n",
            s.spot_interruptions, s.spot_pods_killed, s.spot_ice_errors
        ));
    }
    let u = |a: f64, b: f64| if b > 0.0 { 100.0 * a / b } else { 0.0 };
    out.push_str(&format!(
        "| utilization cpu / memory (requested over allocatable) | {:.1}% / {:.1}% |\n",
        u(s.cpu_requested_ms, s.cpu_allocatable_ms),
        u(s.memory_requested_ms, s.memory_allocatable_ms)
    ));
    out.push_str("\n## Cost by NodePool\n\n| nodepool | cost |\n|---|---|\n");
    for (k, v) in &s.cost_by_nodepool {
        out.push_str(&format!("| {k} | ${v:.2} |\n"));
    }
    out.push_str("\n## Cost by namespace\n\n| namespace | cost |\n|---|---|\n");
    for (k, v) in &s.cost_by_namespace {
        out.push_str(&format!("| {k} | ${v:.2} |\n"));
    }
    out.push_str("\n## Plots\n\n");
    out.push_str(&plot_links(false));
    out.push_str("\nAll of it on one page: [report.html](report.html)\n");
    out.push_str("\n## Files\n\n- [nodes.csv](nodes.csv), [pods.csv](pods.csv), [timeline.csv](timeline.csv), [decisions.jsonl](decisions.jsonl), [attribution.csv](attribution.csv) (cost by namespace and owner)\n");
    if !notes.is_empty() {
        out.push_str("\n## Notes\n\n");
        for n in notes {
            out.push_str(&format!("- {n}\n"));
        }
    }
    out
}

/// The Markdown list linking the plot files (a run's and a comparison's have the same names).
pub fn plot_links(per_variant: bool) -> String {
    let what = if per_variant {
        [
            "cost rate over time, one line per variant",
            "nodes over time, one line per variant",
            "pending pods over time, one line per variant",
            "pod pending-latency CDF, one line per variant",
        ]
    } else {
        [
            "cost rate over time, by capacity type",
            "nodes over time, by NodePool",
            "pending pods over time",
            "pod pending-latency CDF",
        ]
    };
    plot::PLOT_FILES
        .iter()
        .zip(what)
        .map(|(f, w)| format!("- [{f}]({f}): {w}\n"))
        .collect()
}

/// The hidden file next to `path` that a staged write goes through (its folder is created).
pub(crate) fn staging_file(path: &Path) -> std::io::Result<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?
        .to_string_lossy()
        .to_string();
    fs::create_dir_all(&dir)?;
    Ok(dir.join(format!(".{name}.partial-{}", std::process::id())))
}

/// Writes `bytes` to a hidden file next to `path` and renames it into place, so `path` is
/// either the old file or the whole new one.
pub(crate) fn write_staged(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = staging_file(path)?;
    let r = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn secs_str_matches_float_display(ms in 0u64..10_000_000_000_000) {
            prop_assert_eq!(secs_str(ms), format!("{}", ms as f64 / 1000.0));
        }
    }
}
