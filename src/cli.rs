//! The `karpsim` command line: argument types (clap derive) and the commands that wire the
//! library together. The only module that prints or touches the terminal.
//!
//! Owns: `run`, `validate`, `catalog`, `compare` (`check` lives in [`crate::check`]), exit codes (0 ok, 1 a `check` regression, 2 bad input
//! or usage), the report folder choice and the progress display. May not: implement
//! simulation rules.

use crate::catalog::Catalog;
use crate::compile::{self, ArrivalBuilder, Compiled};
use crate::config::{self, ConfigErrors};
use crate::engine::{Arrival, Engine, EngineError, MemoryRecorder, Recorder, RunSummary};
use crate::report::{self, FileRecorder};
use crate::workload::{TraceReader, TraceRow};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// karpsim: replay pod traces through Karpenter's provisioning over the real EC2 catalog.
#[derive(Debug, Parser)]
#[command(
    name = "karpsim",
    version,
    about = "Offline Karpenter simulator: replay a pod trace against your NodePools and EC2NodeClasses \
             over the real EC2 catalog, and see the nodes Karpenter would launch, what they cost and \
             how long pods wait.",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate a scenario and write reports (summary.json, nodes.csv, pods.csv, ...).
    ///
    /// Pods from the trace arrive; kube-scheduler binds those that fit a Ready node; the rest
    /// reach Karpenter's batcher (1s idle / 10s max window), whose provisioning pass packs them
    /// onto existing and in-flight capacity first and then onto new NodeClaims, NodePool by
    /// NodePool in weight order. Each NodeClaim launches the cheapest fitting offering
    /// (Spot before on-demand when both are allowed) and turns Ready after the launch latency.
    Run {
        /// The scenario file (YAML).
        scenario: PathBuf,
        /// Report folder [default: reports/<scenario name>/]. An existing folder is replaced only
        /// when it holds nothing but report files.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check every input of a scenario (scenario, NodePools, EC2NodeClasses, templates,
    /// DaemonSets, PDBs and every trace row) and print every problem, without simulating.
    Validate {
        /// The scenario file (YAML).
        scenario: PathBuf,
    },
    /// List the instance types (with prices and allocatable resources) that a NodePool allows.
    Catalog {
        /// A file of NodePool (karpenter.sh/v1) and EC2NodeClass (karpenter.k8s.aws/v1) manifests.
        nodepools: PathBuf,
        /// AWS region whose prices to use.
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Zones, comma-separated [default: the region's first three].
        #[arg(long, value_delimiter = ',')]
        zones: Option<Vec<String>>,
        /// Show at most this many types per NodePool (cheapest first); 0 = all.
        #[arg(long, default_value_t = 0)]
        limit: usize,
    },
    /// Run the base scenario and every variant (in parallel, same arrivals and seeds) and
    /// write comparison.md and comparison.csv, plus each run's reports in a subfolder.
    ///
    /// Variants are named edits of the base scenario (`variants:` in the scenario file), e.g.
    /// a different consolidationPolicy, budget or capacity-type mix.
    Compare {
        /// The scenario file (YAML) with `variants`.
        scenario: PathBuf,
        /// Report folder [default: reports/<scenario name>/].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run a grid of variations of a scenario (in parallel) and write sweep.csv, one row per run.
    ///
    /// Each --set KEY=V1,V2 is an axis; the grid is their product (the last varying fastest).
    /// --shard I/N runs one slice of the grid, for many machines; `karpsim merge` joins them.
    Sweep(crate::sweep::SweepArgs),
    /// Join the part files of a sharded sweep into the sweep.csv the unsharded sweep writes.
    Merge(crate::sweep::MergeArgs),
    /// CI gate: run a scenario and compare its summary.json with a baseline; exit 1 when a
    /// figure rose past its tolerance.
    ///
    /// Compares total cost, cost by NodePool and by namespace, pending latency p50/p90/p99,
    /// pods never scheduled and Spot interruptions. Tolerances are `N%` of the baseline, an
    /// amount in the figure's unit, or `none`; flags override the scenario's `check:` section.
    /// Prints a Markdown verdict and writes it to check.md in the report folder. Exit codes:
    /// 0 no regression, 1 a regression, 2 bad input (a broken baseline included).
    Check {
        /// The scenario file (YAML).
        scenario: PathBuf,
        /// The baseline: a summary.json of an earlier run.
        #[arg(long, value_name = "FILE")]
        baseline: PathBuf,
        /// Largest allowed increase of the total cost [default: 2%].
        #[arg(long, value_name = "TOL", value_parser = crate::check::parse_tolerance)]
        max_cost_increase: Option<crate::check::Tolerance>,
        /// Largest allowed increase of a NodePool's cost [default: 10%].
        #[arg(long, value_name = "TOL", value_parser = crate::check::parse_tolerance)]
        max_nodepool_cost_increase: Option<crate::check::Tolerance>,
        /// Largest allowed increase of a namespace's cost, (idle) included [default: 10%].
        #[arg(long, value_name = "TOL", value_parser = crate::check::parse_tolerance)]
        max_namespace_cost_increase: Option<crate::check::Tolerance>,
        /// Largest allowed increase of the pending-latency p50 [default: 10%].
        #[arg(long, value_name = "TOL", value_parser = crate::check::parse_tolerance)]
        max_p50_increase: Option<crate::check::Tolerance>,
        /// Largest allowed increase of the pending-latency p90 [default: 10%].
        #[arg(long, value_name = "TOL", value_parser = crate::check::parse_tolerance)]
        max_p90_increase: Option<crate::check::Tolerance>,
        /// Largest allowed increase of the pending-latency p99 [default: 10%].
        #[arg(long, value_name = "TOL", value_parser = crate::check::parse_tolerance)]
        max_p99_increase: Option<crate::check::Tolerance>,
        /// Largest allowed increase of the pods never scheduled [default: 0].
        #[arg(long, value_name = "TOL", value_parser = crate::check::parse_tolerance)]
        max_never_scheduled_increase: Option<crate::check::Tolerance>,
        /// Largest allowed increase of the Spot interruptions [default: 0].
        #[arg(long, value_name = "TOL", value_parser = crate::check::parse_tolerance)]
        max_interruptions_increase: Option<crate::check::Tolerance>,
        /// Also write the verdict as JUnit XML (one test case per figure). Keep FILE outside the
        /// report folder, which every run replaces and which may hold only report files.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Replace the baseline with this run's summary.json (and exit 0).
        #[arg(long)]
        update_baseline: bool,
        /// Report folder [default: reports/<scenario name>/].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Print nothing but errors (the verdict is still in check.md and the exit code).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Write a seeded synthetic trace CSV: diurnal services, Poisson batch jobs, bursts.
    ///
    /// The same generators a scenario's `workload.generate` lists; the CSV written is exactly
    /// the trace the scenario simulates (same seed, same trace).
    Generate(Box<crate::generate::GenerateArgs>),
    /// Explain why the cluster scaled up or down around a time, from a report folder.
    ///
    /// One Markdown view of a window around TIME: the pending pods that triggered each launch,
    /// the NodePool and offering chosen, the nodes removed and why (method, replacements,
    /// savings), the candidates that were not disrupted and why, and the node terminations,
    /// read from the folder's decisions.jsonl (streamed), nodes.csv and pods.csv.
    Explain {
        /// A report folder written by `karpsim run` (or one run's folder of `karpsim compare`).
        #[arg(value_name = "REPORT_DIR")]
        report: PathBuf,
        /// The time to explain: `HH:MM[:SS]` since the start (`02:14`), `DdHH:MM` (`1d02:14`), a
        /// duration since the start (`26h14m`, `90s`), seconds since the start as in the
        /// report files (`8040`), or an RFC 3339 instant (`2024-01-01T02:14:00Z`).
        #[arg(long, value_name = "TIME")]
        at: String,
        /// Width of the window around TIME (half before, half after), a Go duration.
        #[arg(long, value_name = "DURATION", default_value = "10m")]
        window: String,
    },
    /// Convert a real trace into karpsim's trace CSV: the Alibaba GPU cluster trace v2023 pod
    /// list (`alibaba-openb`) or a `kubectl get pods -A -o json` snapshot (`k8s`).
    ///
    /// What was skipped, rounded or dropped is summarised on stderr; bad input is an error
    /// naming the file and line, and nothing is written.
    Import(crate::import::ImportArgs),
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Run {
            scenario,
            out,
            seed,
            quiet,
        } => cmd_run(&scenario, out.as_deref(), seed, quiet),
        Command::Validate { scenario } => cmd_validate(&scenario),
        Command::Catalog {
            nodepools,
            region,
            zones,
            limit,
        } => cmd_catalog(&nodepools, &region, zones, limit),
        Command::Compare {
            scenario,
            out,
            quiet,
        } => cmd_compare(&scenario, out.as_deref(), quiet),
        Command::Sweep(a) => cmd_sweep(&a),
        Command::Merge(a) => cmd_merge(&a),
        Command::Check {
            scenario,
            baseline,
            max_cost_increase,
            max_nodepool_cost_increase,
            max_namespace_cost_increase,
            max_p50_increase,
            max_p90_increase,
            max_p99_increase,
            max_never_scheduled_increase,
            max_interruptions_increase,
            junit,
            update_baseline,
            out,
            seed,
            quiet,
        } => crate::check::cmd_check(&crate::check::CheckArgs {
            scenario,
            baseline,
            out,
            seed,
            quiet,
            junit,
            update_baseline,
            flags: vec![
                ("max_cost_increase", max_cost_increase),
                ("max_nodepool_cost_increase", max_nodepool_cost_increase),
                ("max_namespace_cost_increase", max_namespace_cost_increase),
                ("max_p50_increase", max_p50_increase),
                ("max_p90_increase", max_p90_increase),
                ("max_p99_increase", max_p99_increase),
                ("max_never_scheduled_increase", max_never_scheduled_increase),
                ("max_interruptions_increase", max_interruptions_increase),
            ],
        }),
        Command::Generate(a) => cmd_generate(&a),
        Command::Explain { report, at, window } => {
            crate::explain::cmd_explain(&report, &at, &window)
        }
        Command::Import(a) => cmd_import(&a),
    }
}

fn print_errors(errs: &[String]) -> ExitCode {
    for e in errs {
        eprintln!("error: {e}");
    }
    ExitCode::from(2)
}

fn cmd_generate(a: &crate::generate::GenerateArgs) -> ExitCode {
    match crate::generate::run_generate(a) {
        Err(errs) => print_errors(&errs),
        Ok(o) => {
            match &o.written {
                None => {
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    if let Err(e) = out.write_all(&o.csv).and_then(|()| out.flush()) {
                        eprintln!("error: writing the trace: {e}");
                        return ExitCode::from(2);
                    }
                }
                Some(f) => println!(
                    "{} pods from {} generator(s) written to {}",
                    o.pods,
                    o.generators,
                    f.display()
                ),
            }
            ExitCode::SUCCESS
        }
    }
}

fn cmd_sweep(a: &crate::sweep::SweepArgs) -> ExitCode {
    let started = std::time::Instant::now();
    match crate::sweep::run_sweep(a) {
        Err(errs) => print_errors(&errs),
        Ok(o) => {
            if !a.quiet {
                println!(
                    "{} of {} runs in {:.1}s (grid {}); written to {}",
                    o.runs_done,
                    o.grid_runs,
                    started.elapsed().as_secs_f64(),
                    o.fingerprint,
                    o.written.display()
                );
            }
            ExitCode::SUCCESS
        }
    }
}

fn cmd_merge(a: &crate::sweep::MergeArgs) -> ExitCode {
    match crate::sweep::run_merge(a) {
        Err(errs) => print_errors(&errs),
        Ok(o) => {
            println!(
                "{} runs from {} parts written to {}",
                o.runs,
                o.parts,
                a.out.display()
            );
            ExitCode::SUCCESS
        }
    }
}

fn cmd_import(a: &crate::import::ImportArgs) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match crate::import::run_import(a, &mut stdout) {
        Err(errs) => print_errors(&errs),
        Ok(o) => {
            for line in &o.summary {
                eprintln!("{line}");
            }
            ExitCode::SUCCESS
        }
    }
}

fn print_config_errors(e: &ConfigErrors) {
    for err in &e.0 {
        eprintln!("error: {err}");
    }
    eprintln!("{} problem(s) found", e.0.len());
}

/// Everything a run needs, loaded and lowered.
pub struct Prepared {
    pub loaded: config::LoadedScenario,
    pub catalog: std::borrow::Cow<'static, Catalog>,
    pub compiled: Compiled,
}

/// The catalog a scenario names: the embedded one, shared, unless `catalog:` points at files.
pub fn load_catalog(
    cp: &config::scenario::CatalogPaths,
) -> Result<std::borrow::Cow<'static, Catalog>, Vec<String>> {
    if cp.instance_types.is_none() && cp.on_demand_prices.is_none() && cp.spot.is_none() {
        Ok(std::borrow::Cow::Borrowed(
            Catalog::embedded().map_err(|e| vec![e.to_string()])?,
        ))
    } else {
        Catalog::from_files(
            cp.instance_types.as_deref(),
            cp.on_demand_prices.as_deref(),
            cp.spot.as_deref(),
        )
        .map(std::borrow::Cow::Owned)
        .map_err(|e| vec![e.to_string()])
    }
}

/// Loads, validates and lowers a scenario. Errors are printable lines.
pub fn prepare(path: &Path) -> Result<Prepared, Vec<String>> {
    let loaded = config::load_scenario(path)
        .map_err(|e| e.0.iter().map(|x| x.to_string()).collect::<Vec<_>>())?;
    let catalog = load_catalog(&loaded.scenario.catalog)?;
    let compiled = compile::compile(&loaded, &catalog).map_err(|errs| {
        // Lowering problems are about scenario fields: point at them in the scenario file.
        let pos = std::fs::read_to_string(path).ok().and_then(|text| {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            config::scenario::parse_scenario_text(&text, path, &dir, &mut Vec::new()).1
        });
        errs.iter()
            .map(|e| {
                let at = pos
                    .as_ref()
                    .and_then(|p| p.value(&e.field))
                    .map(|p| format!(":{}:{}", p.line, p.col))
                    .unwrap_or_default();
                format!("{}{at}: {e}", path.display())
            })
            .collect::<Vec<_>>()
    })?;
    Ok(Prepared {
        loaded,
        catalog,
        compiled,
    })
}

/// Builds the arrival source of a prepared scenario: the trace streamed when sorted, or read
/// whole and sorted (`sorted_whole`).
fn arrivals<'a>(
    p: &'a Prepared,
    seed: u64,
    sorted_whole: bool,
) -> Result<Box<dyn Iterator<Item = Result<Arrival, String>> + 'a>, String> {
    if let Some(gens) = &p.loaded.scenario.workload.generate {
        // The generated trace: the rows of the CSV `karpsim generate` writes, sorted.
        let sc = &p.loaded.scenario;
        let at = format!("{}: workload.generate", p.loaded.path.display());
        let pods = crate::generate::generate(gens, seed, sc.duration_ms)
            .map_err(|e| format!("{at}: {e}"))?;
        let mut builder = ArrivalBuilder::new(&p.compiled.templates);
        return Ok(Box::new(pods.into_iter().enumerate().map(
            move |(i, pod)| {
                let row = crate::generate::trace_row(gens, i, &pod);
                builder
                    .arrival(&row)
                    .map_err(|e| format!("{at}: generated row {}: {e}", i + 1))
            },
        )));
    }
    let Some(trace) = &p.loaded.scenario.workload.pods else {
        return Ok(Box::new(std::iter::empty()));
    };
    let requests_optional = !p.compiled.templates.is_empty();
    let mut builder = ArrivalBuilder::new(&p.compiled.templates);
    let file = trace.display().to_string();
    let lower = move |r: Result<TraceRow, crate::workload::TraceError>,
                      b: &mut ArrivalBuilder|
          -> Result<Arrival, String> {
        let row = r.map_err(|e| e.to_string())?;
        b.arrival(&row)
            .map_err(|e| format!("{file}:{}: {e}", row.line))
    };
    if sorted_whole {
        let rows = crate::workload::read_all_sorted(trace, requests_optional)
            .map_err(|e| e.to_string())?;
        Ok(Box::new(
            rows.into_iter().map(move |r| lower(Ok(r), &mut builder)),
        ))
    } else {
        let reader = TraceReader::open(trace, requests_optional).map_err(|e| e.to_string())?;
        Ok(Box::new(reader.map(move |r| lower(r, &mut builder))))
    }
}

/// Runs a prepared scenario with the recorder `make` creates, re-reading an unsorted trace
/// whole (the first recorder is handed to `discard`).
pub fn simulate<R: Recorder>(
    p: &Prepared,
    setup: &crate::engine::SimSetup,
    make: &mut dyn FnMut() -> Result<R, String>,
    discard: &mut dyn FnMut(R),
) -> Result<(RunSummary, R), (String, Option<R>)> {
    simulate_observed(p, setup, make, discard, None)
}

/// [`simulate`] with an optional progress observer, called with (simulated ms, events
/// processed) every [`crate::progress::EVERY_EVENTS`] events (see [`Engine::with_progress`]).
pub fn simulate_observed<R: Recorder>(
    p: &Prepared,
    setup: &crate::engine::SimSetup,
    make: &mut dyn FnMut() -> Result<R, String>,
    discard: &mut dyn FnMut(R),
    mut progress: Option<&mut dyn FnMut(u64, u64)>,
) -> Result<(RunSummary, R), (String, Option<R>)> {
    fn engine<'a>(
        setup: &'a crate::engine::SimSetup,
        src: crate::engine::ArrivalSource<'a>,
        rec: &'a mut dyn Recorder,
        progress: Option<&'a mut dyn FnMut(u64, u64)>,
    ) -> Engine<'a> {
        let e = Engine::new(setup, src, rec);
        match progress {
            Some(f) => e.with_progress(crate::progress::EVERY_EVENTS, f),
            None => e,
        }
    }
    let mut rec = make().map_err(|e| (e, None))?;
    let src = match arrivals(p, setup.seed, false) {
        Ok(s) => s,
        Err(e) => return Err((e, Some(rec))),
    };
    let first = engine(
        setup,
        src,
        &mut rec,
        progress
            .as_mut()
            .map(|f| &mut **f as &mut dyn FnMut(u64, u64)),
    )
    .run();
    match first {
        Ok(s) => Ok((s, rec)),
        Err(EngineError::Unsorted(..)) => {
            discard(rec);
            let mut rec = make().map_err(|e| (e, None))?;
            let src = match arrivals(p, setup.seed, true) {
                Ok(s) => s,
                Err(e) => return Err((e, Some(rec))),
            };
            let again = engine(
                setup,
                src,
                &mut rec,
                progress
                    .as_mut()
                    .map(|f| &mut **f as &mut dyn FnMut(u64, u64)),
            )
            .run();
            match again {
                Ok(s) => Ok((s, rec)),
                Err(e) => Err((e.to_string(), Some(rec))),
            }
        }
        Err(e) => Err((e.to_string(), Some(rec))),
    }
}

/// Runs a scenario fully in memory (tests, compare).
pub fn simulate_in_memory(
    p: &Prepared,
    setup: &crate::engine::SimSetup,
) -> Result<(RunSummary, MemoryRecorder), String> {
    simulate(p, setup, &mut || Ok(MemoryRecorder::default()), &mut |_| {}).map_err(|(e, _)| e)
}

fn cmd_run(path: &Path, out: Option<&Path>, seed: Option<u64>, quiet: bool) -> ExitCode {
    let started = std::time::Instant::now();
    let p = match prepare(path) {
        Ok(p) => p,
        Err(errs) => {
            for e in &errs {
                eprintln!("error: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let mut setup = p.compiled.setup.clone();
    if let Some(s) = seed {
        setup.seed = s;
    }
    let dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("reports").join(&setup.name));
    // Records stream into a hidden staging folder that is moved into place only on success.
    let mut make =
        || FileRecorder::create(&dir).map_err(|e| format!("creating {}: {e}", dir.display()));
    // A bar on stderr only when it is a terminal and not --quiet; otherwise no observer at all.
    let progress = crate::progress::Progress::for_stderr(quiet);
    let bar = progress.run(&setup.name, setup.horizon_ms);
    let mut observer = bar.observer();
    let result = simulate_observed(
        &p,
        &setup,
        &mut make,
        &mut |r: FileRecorder| r.abort(),
        observer.as_mut().map(|f| f as &mut dyn FnMut(u64, u64)),
    );
    drop(observer);
    progress.clear();
    let (summary, rec) = match result {
        Ok(x) => x,
        Err((e, rec)) => {
            if let Some(r) = rec {
                r.abort();
            }
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let wall = started.elapsed().as_secs_f64();
    if let Err(e) = write_reports(rec, &dir, &setup, &p, &summary, path, wall) {
        eprintln!("error: writing {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    if !quiet {
        println!(
            "{}: ${:.2} total (on-demand ${:.2}, spot ${:.2}); {} pods, p50/p99 pending {:.1}s/{:.1}s; {} nodes launched, peak {}",
            setup.name,
            summary.cost_total,
            summary.cost_on_demand,
            summary.cost_spot,
            summary.pods_total,
            summary.pending_percentile(50.0),
            summary.pending_percentile(99.0),
            summary.nodes_launched,
            summary.nodes_peak
        );
        println!("reports written to {}/", dir.display());
    }
    ExitCode::SUCCESS
}

pub(crate) fn write_reports(
    fr: FileRecorder,
    dir: &Path,
    setup: &crate::engine::SimSetup,
    p: &Prepared,
    s: &RunSummary,
    scenario: &Path,
    wall: f64,
) -> std::io::Result<()> {
    let extra = serde_json::json!({
        "region": p.compiled.region,
        "zones": p.compiled.zones,
        "skipped_nodepools": setup.skipped_pools.iter().map(|(n, w)| serde_json::json!({"nodepool": n, "reason": w})).collect::<Vec<_>>(),
        // The UTC instant of simulated time 0 (`karpsim explain --at` takes instants too).
        "start": p.loaded.scenario.start.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    });
    let summary = report::summary_json(&setup.name, setup.seed, s, extra);
    let md = report::summary_md(&setup.name, setup.seed, s, &p.compiled.notes);
    let manifest = serde_json::json!({
        "karpsim_version": env!("CARGO_PKG_VERSION"),
        "command_line": std::env::args().collect::<Vec<_>>(),
        "scenario": scenario.display().to_string(),
        "seed": setup.seed,
        "wall_clock_seconds": report::round6(wall),
        "events_processed": s.events_processed,
        "events_per_second": if wall > 0.0 { (s.events_processed as f64 / wall).round() } else { 0.0 },
    });
    fr.finish(dir, s, &summary, &md, &manifest)
}

/// Runs a prepared scenario with its reports streamed into `dir` (staged, moved into place on
/// success); `scenario` is the file named in the manifest. Returns the summary and what a
/// comparison's plots need of the run.
pub(crate) fn run_into_reports(
    p: &Prepared,
    dir: &Path,
    scenario: &Path,
    progress: Option<&mut dyn FnMut(u64, u64)>,
) -> Result<(RunSummary, crate::plot::RunPlotData), String> {
    let setup = &p.compiled.setup;
    let t0 = std::time::Instant::now();
    let mut make =
        || FileRecorder::create(dir).map_err(|e| format!("creating {}: {e}", dir.display()));
    let (summary, rec) = simulate_observed(
        p,
        setup,
        &mut make,
        &mut |r: FileRecorder| r.abort(),
        progress,
    )
    .map_err(|(e, rec)| {
        if let Some(r) = rec {
            r.abort();
        }
        e
    })?;
    let plots = rec.plot_data(&summary);
    write_reports(
        rec,
        dir,
        setup,
        p,
        &summary,
        scenario,
        t0.elapsed().as_secs_f64(),
    )
    .map_err(|e| format!("writing {}: {e}", dir.display()))?;
    Ok((summary, plots))
}

/// One run of a comparison: its name and what it produced.
struct CompareRun {
    name: String,
    summary: RunSummary,
    plots: crate::plot::RunPlotData,
}

fn cmd_compare(path: &Path, out: Option<&Path>, quiet: bool) -> ExitCode {
    use rayon::prelude::*;
    let started = std::time::Instant::now();
    let base = match prepare(path) {
        Ok(p) => p,
        Err(errs) => {
            for e in &errs {
                eprintln!("error: {e}");
            }
            return ExitCode::from(2);
        }
    };
    if base.loaded.scenario.variants.is_empty() {
        eprintln!(
            "error: {}: variants: the scenario has no `variants` to compare with the base",
            path.display()
        );
        return ExitCode::from(2);
    }
    // Lower every variant first, so a bad variant stops everything before anything runs.
    let mut runs: Vec<(String, Prepared)> = Vec::new();
    let names: Vec<String> = base
        .loaded
        .scenario
        .variants
        .iter()
        .map(|v| v.name.clone())
        .collect();
    for name in &names {
        let loaded = match base.loaded.variant(name) {
            Ok(l) => l,
            Err(e) => {
                print_config_errors(&e);
                return ExitCode::from(2);
            }
        };
        let compiled = match compile::compile(&loaded, &base.catalog) {
            Ok(c) => c,
            Err(errs) => {
                for e in errs {
                    eprintln!("error: {}: variant `{name}`: {e}", path.display());
                }
                return ExitCode::from(2);
            }
        };
        runs.push((
            name.clone(),
            Prepared {
                loaded,
                catalog: base.catalog.clone(),
                compiled,
            },
        ));
    }
    let root = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("reports").join(&base.compiled.setup.name));
    let mut all: Vec<(String, &Prepared)> = vec![("base".to_string(), &base)];
    all.extend(runs.iter().map(|(n, p)| (n.clone(), p)));
    // One bar per run (on a terminal, without --quiet), made before the runs start so they
    // are listed in the comparison's order.
    let progress = crate::progress::Progress::for_stderr(quiet);
    let width = all
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    let bars: Vec<crate::progress::RunProgress> = all
        .iter()
        .map(|(name, p)| progress.run(&format!("{name:>width$}"), p.compiled.setup.horizon_ms))
        .collect();
    // Each run streams into its own report folder; rayon keeps the results in input order.
    let results: Vec<Result<CompareRun, String>> = all
        .par_iter()
        .zip(bars.par_iter())
        .map(|((name, p), bar)| {
            let mut observer = bar.observer();
            let result = run_into_reports(
                p,
                &root.join(name),
                path,
                observer.as_mut().map(|f| f as &mut dyn FnMut(u64, u64)),
            );
            drop(observer);
            bar.finish();
            let (summary, plots) = result.map_err(|e| format!("variant `{name}`: {e}"))?;
            Ok(CompareRun {
                name: name.clone(),
                summary,
                plots,
            })
        })
        .collect();
    progress.clear();
    let mut done = Vec::new();
    for r in results {
        match r {
            Ok(x) => done.push(x),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let (mut md, csv) = comparison_tables(&base.compiled.setup.name, &done);
    let series: Vec<(String, &crate::plot::RunPlotData)> =
        done.iter().map(|r| (r.name.clone(), &r.plots)).collect();
    let plots = match crate::plot::compare_plots(&base.compiled.setup.name, &series) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: drawing the comparison plots: {e}");
            return ExitCode::from(2);
        }
    };
    md.push_str("\n## Plots\n\n");
    md.push_str(&report::plot_links(true));
    let written = plots
        .iter()
        .try_for_each(|p| std::fs::write(root.join(p.file), &p.svg))
        .and_then(|_| std::fs::write(root.join("comparison.md"), &md))
        .and_then(|_| std::fs::write(root.join("comparison.csv"), &csv));
    if let Err(e) = written {
        eprintln!("error: writing {}: {e}", root.display());
        return ExitCode::from(2);
    }
    if !quiet {
        print!("{md}");
        println!(
            "\n{} runs in {:.1}s; reports written to {}/",
            done.len(),
            started.elapsed().as_secs_f64(),
            root.display()
        );
    }
    ExitCode::SUCCESS
}

/// The comparison's rows: one column per run, then the change of each variant against the base.
fn comparison_tables(name: &str, runs: &[CompareRun]) -> (String, String) {
    let rows = crate::sweep::FIGURES
        .iter()
        .map(|f| (f.label, f.get, f.money));
    let fmt = |v: f64, money: bool| {
        if money {
            format!("{v:.2}")
        } else {
            format!("{v}")
        }
    };
    let delta = |v: f64, b: f64| {
        if b == 0.0 {
            if v == 0.0 {
                "0%".to_string()
            } else {
                "n/a".to_string()
            }
        } else {
            format!("{:+.1}%", 100.0 * (v - b) / b)
        }
    };
    let mut md = format!("# karpsim compare: {name}\n\n| figure |");
    let mut csv = String::from("figure");
    for r in runs {
        md.push_str(&format!(" {} |", r.name));
        csv.push_str(&format!(",{}", r.name));
    }
    for r in runs.iter().skip(1) {
        md.push_str(&format!(" {} vs base |", r.name));
        csv.push_str(&format!(",{}_vs_base", r.name));
    }
    md.push_str("\n|---|");
    for _ in 0..(runs.len() * 2 - 1) {
        md.push_str("---:|");
    }
    md.push('\n');
    csv.push('\n');
    for (label, get, money) in rows {
        let base = get(&runs[0].summary);
        md.push_str(&format!("| {label} |"));
        csv.push_str(&format!("\"{label}\""));
        for r in runs {
            let v = get(&r.summary);
            md.push_str(&format!(" {} |", fmt(v, money)));
            csv.push_str(&format!(",{}", report::round6(v)));
        }
        for r in runs.iter().skip(1) {
            let d = delta(get(&r.summary), base);
            md.push_str(&format!(" {d} |"));
            csv.push_str(&format!(",{d}"));
        }
        md.push('\n');
        csv.push('\n');
    }
    (md, csv)
}

fn cmd_validate(path: &Path) -> ExitCode {
    let (p, mut problems) = match prepare(path) {
        Ok(p) => (Some(p), 0usize),
        Err(errs) => {
            for e in &errs {
                eprintln!("error: {e}");
            }
            (None, errs.len())
        }
    };
    // The trace is checked even when other inputs failed, so that every problem is listed at
    // once (without templates, a row's template name cannot be checked).
    let trace = match &p {
        Some(p) => p
            .loaded
            .scenario
            .workload
            .pods
            .clone()
            .map(|t| (t, !p.compiled.templates.is_empty())),
        None => trace_of_broken_scenario(path),
    };
    let mut rows = 0u64;
    if let Some((trace, requests_optional)) = &trace {
        match TraceReader::open(trace, *requests_optional) {
            Err(e) => {
                eprintln!("error: {e}");
                problems += 1;
            }
            Ok(reader) => {
                let mut b = p
                    .as_ref()
                    .map(|p| ArrivalBuilder::new(&p.compiled.templates));
                for r in reader {
                    rows += 1;
                    match r {
                        Err(e) => {
                            eprintln!("error: {e}");
                            problems += 1;
                        }
                        Ok(row) => {
                            if let Some(b) = &mut b
                                && let Err(e) = b.arrival(&row)
                            {
                                eprintln!("error: {}:{}: {e}", trace.display(), row.line);
                                problems += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(p) = p
        .as_ref()
        .filter(|p| p.loaded.scenario.workload.generate.is_some())
    {
        match arrivals(p, p.compiled.setup.seed, false) {
            Err(e) => {
                eprintln!("error: {e}");
                problems += 1;
            }
            Ok(src) => {
                for a in src {
                    rows += 1;
                    if let Err(e) = a {
                        eprintln!("error: {e}");
                        problems += 1;
                    }
                }
            }
        }
    }
    let Some(p) = p.filter(|_| problems == 0) else {
        eprintln!("{problems} problem(s) found");
        return ExitCode::from(2);
    };
    println!(
        "{}: ok ({} NodePools usable, {} skipped; {} EC2NodeClasses; {} trace rows)",
        path.display(),
        p.compiled.setup.templates.len(),
        p.compiled.setup.skipped_pools.len(),
        p.loaded.nodeclasses.len(),
        rows
    );
    for n in &p.compiled.notes {
        println!("note: {n}");
    }
    ExitCode::SUCCESS
}

/// The trace of a scenario whose inputs did not all load (and whether its rows may omit
/// requests), when the scenario file names one that exists.
fn trace_of_broken_scenario(path: &Path) -> Option<(PathBuf, bool)> {
    let text = std::fs::read_to_string(path).ok()?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut errors = Vec::new();
    let (s, _) = config::scenario::parse_scenario_text(&text, path, &dir, &mut errors);
    let w = s?.workload;
    let trace = w.pods?;
    trace.is_file().then_some((trace, w.templates.is_some()))
}

fn cmd_catalog(path: &Path, region: &str, zones: Option<Vec<String>>, limit: usize) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let (pools, classes) = match config::parse_manifests(&text, path) {
        Ok(x) => x,
        Err(e) => {
            print_config_errors(&e);
            return ExitCode::from(2);
        }
    };
    let cat = match Catalog::embedded() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(zones) = zones.or_else(|| Catalog::default_zones(region)) else {
        eprintln!(
            "error: --region: unknown region `{region}` (known: {})",
            Catalog::known_regions().join(", ")
        );
        return ExitCode::from(2);
    };
    if pools.is_empty() {
        eprintln!("error: {}: no NodePool in the file", path.display());
        return ExitCode::from(2);
    }
    for np in &pools {
        let class = classes
            .iter()
            .find(|c| c.name == np.spec.template.spec.node_class_ref.name);
        let shape = class
            .map(compile::nodeclass_shape)
            .unwrap_or(compile::NodeClassShape {
                family: crate::catalog::AmiFamily::AL2023,
                kubelet: Default::default(),
                root_volume_gib: None,
            });
        let its = std::sync::Arc::new(compile::instance_types(cat, region, &zones, &shape));
        let lite = crate::scheduler::NodePoolSpecLite {
            name: np.name.clone(),
            weight: np.spec.weight.unwrap_or(0),
            requirements: compile::requirements(&np.spec.template.spec.requirements),
            labels: np
                .spec
                .template
                .labels
                .iter()
                .map(|(k, v)| (crate::labels::Sym::new(k), crate::labels::Sym::new(v)))
                .collect(),
            taints: compile::taints(&np.spec.template.spec.taints),
            startup_taints: Vec::new(),
            limits: None,
            node_class: Some(np.spec.template.spec.node_class_ref.name.clone()),
        };
        println!(
            "NodePool {} ({}, {}, zones {}):",
            np.name,
            if class.is_some() {
                format!("EC2NodeClass {}", np.spec.template.spec.node_class_ref.name)
            } else {
                "EC2NodeClass not in this file: AL2023 defaults assumed".into()
            },
            region,
            zones.join(",")
        );
        match crate::scheduler::build_template(&lite, its.clone(), &[], false) {
            Err(why) => println!("  no instance type: {why}"),
            Ok(t) => {
                let mut rows: Vec<(f64, String)> = Vec::new();
                for i in &t.candidates {
                    let it = &its[*i as usize];
                    let od = it
                        .offerings
                        .iter()
                        .filter(|o| {
                            o.capacity_type == crate::labels::ON_DEMAND
                                && t.requirements.allows(crate::labels::ZONE, o.zone)
                        })
                        .map(|o| o.price)
                        .fold(f64::NAN, f64::min);
                    let spot = it
                        .offerings
                        .iter()
                        .filter(|o| {
                            o.capacity_type == crate::labels::SPOT
                                && t.requirements.allows(crate::labels::ZONE, o.zone)
                        })
                        .map(|o| o.price)
                        .fold(f64::NAN, f64::min);
                    let allows_spot = t
                        .requirements
                        .allows(crate::labels::CAPACITY_TYPE, crate::labels::SPOT);
                    let allows_od = t
                        .requirements
                        .allows(crate::labels::CAPACITY_TYPE, crate::labels::ON_DEMAND);
                    let band = it
                        .offerings
                        .iter()
                        .find_map(|o| o.interruption_band)
                        .map(|b| {
                            crate::catalog::SpotAdvice::band_label(b)
                                .unwrap_or("?")
                                .to_string()
                        });
                    let cheapest = [(allows_od, od), (allows_spot, spot)]
                        .iter()
                        .filter(|(a, p)| *a && p.is_finite())
                        .map(|(_, p)| *p)
                        .fold(f64::INFINITY, f64::min);
                    rows.push((
                        cheapest,
                        format!(
                            "  {:<22} {:>6} {:>10} {:>5}  {:>10}  {:>10}  {}",
                            it.name.as_str(),
                            crate::units::format_milli(it.allocatable.cpu()),
                            format!(
                                "{}Mi",
                                it.allocatable.memory() / crate::resources::MIB_MILLI
                            ),
                            it.allocatable.get(crate::resources::ResourceName::Pods) / 1000,
                            if allows_od && od.is_finite() {
                                format!("${od:.4}")
                            } else {
                                "-".into()
                            },
                            if allows_spot && spot.is_finite() {
                                format!("${spot:.4}")
                            } else if allows_spot {
                                "no data".into()
                            } else {
                                "-".into()
                            },
                            if allows_spot {
                                band.unwrap_or_else(|| {
                                    "no Spot Advisor entry: no Spot offering assumed".into()
                                })
                            } else {
                                String::new()
                            },
                        ),
                    ));
                }
                rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                println!(
                    "  {:<22} {:>6} {:>10} {:>5}  {:>10}  {:>10}  interruption",
                    "instance type", "cpu", "memory", "pods", "on-demand", "spot"
                );
                let n = rows.len();
                for (_, r) in rows.iter().take(if limit == 0 { n } else { limit }) {
                    println!("{r}");
                }
                println!(
                    "  {n} instance types allowed (allocatable shown; prices USD/hour; Spot: the cheapest zone; the zones average on-demand x (1 - Advisor savings) and spread as the 2022 Spot price sample did, see pricing-data/README.md)"
                );
            }
        }
    }
    ExitCode::SUCCESS
}
