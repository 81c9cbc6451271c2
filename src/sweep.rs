//! `karpsim sweep` and `karpsim merge`: a grid of runs of one scenario, split into shards that
//! run anywhere and are joined again.
//!
//! The grid. Each `--set KEY=V1,V2,...` is an axis; the grid is their cartesian product in
//! the order the flags are given, the last axis varying fastest. Run `i` (0-based) is always
//! the same point of the grid, so a shard, a re-run or a merge agree on it. KEY is one of:
//! - a scenario key, as a dotted path from the top of the scenario file: `seed`,
//!   `interruptions.rate_multiplier`, `karpenter.batch_idle_duration`,
//!   `workload.generate[0].rate_per_hour`, ...;
//! - `nodepools.<NodePool>.<field path>`: a field of a NodePool by its `metadata.name`
//!   (`nodepools.general.spec.disruption.consolidationPolicy`);
//! - `nodeclasses.<EC2NodeClass>.<field path>`: likewise for an EC2NodeClass.
//!
//! A name containing dots is written in brackets (`nodepools[my.pool].spec.weight`). Each value
//! is read as YAML (`1`, `true`, `WhenEmpty`, `[{nodes: "1"}]`); commas inside brackets, braces
//! or quotes do not split values. A point is the scenario with its values `set` exactly as a
//! `variants`/`changes` `set` does, then validated as strictly as the file itself: an unknown
//! key is an error naming the closest valid one.
//!
//! Output: `sweep.csv`, one row per run in run order: `run`, each key's value as written, then
//! the key figures of the run ([`FIGURES`]). Runs go in parallel (rayon, `--jobs`), each with
//! its own engine and seeded streams, so the file is the same byte for byte whatever the
//! number of jobs.
//!
//! Shards. `--shard I/N` (1-based I) runs the runs `i` with `i % N == I - 1` (round-robin, so
//! shards get a fair share of every axis) and writes `sweep-part-I-of-N.csv`: a first line
//! `# karpsim-sweep-part shard=I/N runs=R grid=F` and then the same CSV for its runs. F, the
//! grid fingerprint, hashes the karpsim version, the scenario file, every file it names and
//! the `--set` flags. `karpsim merge` checks that its parts share one fingerprint and one N,
//! that every shard 1..N is there exactly once and that each holds exactly its runs, then
//! writes exactly the `sweep.csv` the unsharded sweep writes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_yaml::Value;

use crate::catalog::Catalog;
use crate::cli::{Prepared, simulate};
use crate::compile;
use crate::config::{self, LoadedScenario, ObjectEdit, apply_edit, closest};
use crate::engine::{NodeRecord, PodRecord, Recorder, RunSummary, TimelineRow};
use crate::report::round6;

/// Most runs one grid may have.
pub const MAX_RUNS: usize = 1_000_000;

/// The first characters of a part file.
const PART_MAGIC: &str = "# karpsim-sweep-part ";

/// `karpsim sweep`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    karpsim sweep s.yaml --set seed=1,2,3 --set interruptions.rate_multiplier=1,3\n  \
    karpsim sweep s.yaml --set nodepools.general.spec.disruption.consolidationPolicy=WhenEmpty,WhenEmptyOrUnderutilized\n  \
    karpsim sweep s.yaml --set seed=1,2,3,4 --shard 2/4 --out results/   (then: karpsim merge results/sweep-part-*.csv -o sweep.csv)")]
pub struct SweepArgs {
    /// The scenario file (YAML).
    pub scenario: PathBuf,
    /// An axis of the grid: KEY=V1,V2,... KEY is a scenario key as a dotted path (seed,
    /// interruptions.rate_multiplier, karpenter.pod_startup, ...),
    /// nodepools.<NodePool>.<field path> or nodeclasses.<EC2NodeClass>.<field path>; each value
    /// is YAML. Repeat for more axes: the grid is their product, the last varying fastest.
    #[arg(long = "set", value_name = "KEY=V1,V2", required = true)]
    pub sets: Vec<String>,
    /// Run only shard I of N (1-based): the runs i with i % N == I-1; writes
    /// sweep-part-I-of-N.csv for `karpsim merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Runs at once [default: the number of cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Output folder [default: reports/<scenario name>-sweep/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write every run's reports, in DIR/run-<index>/.
    #[arg(long)]
    pub keep_reports: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `karpsim merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The part files of one sharded sweep (sweep-part-I-of-N.csv), all N of them.
    #[arg(required = true, value_name = "PART")]
    pub parts: Vec<PathBuf>,
    /// The sweep.csv to write.
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
}

/// One figure of a run, as `compare` shows it and `sweep.csv` holds it.
#[derive(Clone, Copy)]
pub struct Figure {
    /// The row label of `karpsim compare`.
    pub label: &'static str,
    /// The column of `sweep.csv` (the `summary.json` key where there is one).
    pub column: &'static str,
    pub get: fn(&RunSummary) -> f64,
    /// Printed with two decimals in Markdown.
    pub money: bool,
}

fn by_reason(s: &RunSummary, reason: &str) -> f64 {
    s.terminated_by_reason.get(reason).copied().unwrap_or(0) as f64
}

/// The key figures of a run, in the order `compare` and `sweep` show them.
pub static FIGURES: &[Figure] = &[
    Figure {
        label: "total cost ($)",
        column: "cost.total",
        get: |s| s.cost_total,
        money: true,
    },
    Figure {
        label: "on-demand cost ($)",
        column: "cost.on_demand",
        get: |s| s.cost_on_demand,
        money: true,
    },
    Figure {
        label: "spot cost ($)",
        column: "cost.spot",
        get: |s| s.cost_spot,
        money: true,
    },
    Figure {
        label: "pending p50 (s)",
        column: "latency.pending_p50",
        get: |s| s.pending_percentile(50.0),
        money: true,
    },
    Figure {
        label: "pending p90 (s)",
        column: "latency.pending_p90",
        get: |s| s.pending_percentile(90.0),
        money: true,
    },
    Figure {
        label: "pending p99 (s)",
        column: "latency.pending_p99",
        get: |s| s.pending_percentile(99.0),
        money: true,
    },
    Figure {
        label: "pods never scheduled",
        column: "pods.never_scheduled",
        get: |s| s.pods_never_scheduled as f64,
        money: false,
    },
    Figure {
        label: "nodes launched",
        column: "nodes.launched",
        get: |s| s.nodes_launched as f64,
        money: false,
    },
    Figure {
        label: "nodes peak",
        column: "nodes.peak",
        get: |s| s.nodes_peak as f64,
        money: false,
    },
    Figure {
        label: "evictions",
        column: "pods.evicted",
        get: |s| s.pods_evicted as f64,
        money: false,
    },
    Figure {
        label: "spot share of node-hours (%)",
        column: "spot.node_hours_percent",
        get: |s| {
            if s.node_hours > 0.0 {
                100.0 * s.node_hours_spot / s.node_hours
            } else {
                0.0
            }
        },
        money: true,
    },
    Figure {
        label: "spot interruptions",
        column: "spot.interruptions",
        get: |s| s.spot_interruptions as f64,
        money: false,
    },
    Figure {
        label: "pods killed by reclaim",
        column: "spot.pods_killed",
        get: |s| s.spot_pods_killed as f64,
        money: false,
    },
    Figure {
        label: "disrupted: empty",
        column: "nodes.terminated_by_reason.empty",
        get: |s| by_reason(s, "empty"),
        money: false,
    },
    Figure {
        label: "disrupted: underutilized",
        column: "nodes.terminated_by_reason.underutilized",
        get: |s| by_reason(s, "underutilized"),
        money: false,
    },
    Figure {
        label: "disrupted: drifted",
        column: "nodes.terminated_by_reason.drifted",
        get: |s| by_reason(s, "drifted"),
        money: false,
    },
    Figure {
        label: "disrupted: expired",
        column: "nodes.terminated_by_reason.expired",
        get: |s| by_reason(s, "expired"),
        money: false,
    },
    Figure {
        label: "disrupted: interrupted",
        column: "nodes.terminated_by_reason.interrupted",
        get: |s| by_reason(s, "interrupted"),
        money: false,
    },
];

/// What a `--set` key edits.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A dotted path from the top of the scenario file.
    Scenario(String),
    /// A field of the NodePool `name`.
    NodePool { name: String, path: String },
    /// A field of the EC2NodeClass `name`.
    NodeClass { name: String, path: String },
}

/// One axis of the grid: a key and its values (as written, and read as YAML).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub key: String,
    pub target: Target,
    pub values: Vec<(String, Value)>,
}

/// A `--shard I/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `I/N` (1 ≤ I ≤ N).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard: `{s}` is not I/N with 1 <= I <= N (e.g. 2/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether run `i` belongs to this shard.
    pub fn holds(&self, i: usize) -> bool {
        i % self.count == self.index - 1
    }

    /// The runs of this shard in a grid of `total` runs.
    pub fn runs(&self, total: usize) -> impl Iterator<Item = usize> + use<> {
        (self.index - 1..total).step_by(self.count)
    }
}

/// Splits a value list at commas that are not inside brackets, braces or quotes.
fn split_values(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth <= 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// Parses `KEY=V1,V2,...` into the key and its values. The target is resolved separately.
pub fn parse_set(arg: &str) -> Result<(String, Vec<(String, Value)>), String> {
    let Some((key, list)) = arg.split_once('=') else {
        return Err(format!(
            "--set {arg}: expected KEY=V1,V2,... (e.g. seed=1,2,3)"
        ));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("--set {arg}: the key is empty"));
    }
    let mut values: Vec<(String, Value)> = Vec::new();
    for raw in split_values(list) {
        let text = raw.trim().to_string();
        if text.is_empty() {
            return Err(format!(
                "--set {key}: an empty value (values are separated by commas: {key}=V1,V2)"
            ));
        }
        if values.iter().any(|(t, _)| *t == text) {
            return Err(format!("--set {key}: the value `{text}` is given twice"));
        }
        // Plain text that is not valid YAML (`@x`) is taken as a string.
        let v =
            serde_yaml::from_str::<Value>(&text).unwrap_or_else(|_| Value::String(text.clone()));
        values.push((text, v));
    }
    Ok((key.to_string(), values))
}

/// Resolves a key against the base scenario: which object it edits and at what path.
pub fn resolve_target(key: &str, base: &LoadedScenario) -> Result<Target, String> {
    let cut = key.find(['.', '[']).unwrap_or(key.len());
    let (first, rest) = key.split_at(cut);
    let objects = match first {
        "nodepools" if !rest.is_empty() => Some((
            "NodePool",
            base.nodepools
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
        )),
        "nodeclasses" if rest.is_empty() => {
            return Err(format!(
                "--set {key}: name an EC2NodeClass and a field, as in nodeclasses.<name>.spec.amiSelectorTerms"
            ));
        }
        "nodeclasses" => Some((
            "EC2NodeClass",
            base.nodeclasses
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
        )),
        _ => None,
    };
    if let Some((kind, names)) = objects {
        let (name, path) = if let Some(inner) = rest.strip_prefix('[') {
            match inner.split_once(']') {
                Some((n, p)) => (n.to_string(), p.strip_prefix('.').unwrap_or(p).to_string()),
                None => return Err(format!("--set {key}: `[` without `]`")),
            }
        } else {
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            // The longest existing name the rest starts with (names may hold dots), else the
            // first segment.
            let known = names
                .iter()
                .filter(|n| rest == **n || rest.starts_with(&format!("{n}.")))
                .max_by_key(|n| n.len());
            match known {
                Some(n) => (
                    n.to_string(),
                    rest[n.len()..].trim_start_matches('.').to_string(),
                ),
                None => {
                    let end = rest.find(['.', '[']).unwrap_or(rest.len());
                    (
                        rest[..end].to_string(),
                        rest[end..].trim_start_matches('.').to_string(),
                    )
                }
            }
        };
        if !names.contains(&name.as_str()) {
            let hint = closest(&name, names.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(format!(
                "--set {key}: there is no {kind} named `{name}`{hint}; the scenario's {kind}s: {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
        if path.is_empty() {
            return Err(format!(
                "--set {key}: name a field of {kind} `{name}` after its name, as in {first}.{name}.spec.{}",
                if kind == "NodePool" {
                    "disruption.consolidationPolicy"
                } else {
                    "amiSelectorTerms"
                }
            ));
        }
        return Ok(if kind == "NodePool" {
            Target::NodePool { name, path }
        } else {
            Target::NodeClass { name, path }
        });
    }
    if config::scenario::TOP_KEYS.contains(&first) {
        return Ok(Target::Scenario(key.to_string()));
    }
    let candidates = config::scenario::TOP_KEYS
        .iter()
        .copied()
        .chain(["nodeclasses"]);
    let hint = closest(first, candidates)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    Err(format!(
        "--set {key}: unknown key `{first}`{hint}: a key is a scenario field as a dotted path (seed, duration, interruptions.rate_multiplier, karpenter.pod_startup, ...), nodepools.<NodePool>.<field> or nodeclasses.<EC2NodeClass>.<field>"
    ))
}

/// The grid: its axes, the number of runs and the coordinates of a run.
#[derive(Debug, Clone)]
pub struct Grid {
    pub axes: Vec<Axis>,
}

impl Grid {
    /// Number of runs (the product of the axes' lengths).
    pub fn len(&self) -> usize {
        self.axes.iter().map(|a| a.values.len()).product()
    }

    /// Whether the grid has no run (never: every axis has a value).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value index on each axis of run `i` (the last axis varies fastest).
    pub fn coords(&self, mut i: usize) -> Vec<usize> {
        let mut out = vec![0; self.axes.len()];
        for (k, a) in self.axes.iter().enumerate().rev() {
            out[k] = i % a.values.len();
            i /= a.values.len();
        }
        out
    }
}

/// Builds the grid from `--set` flags against the base scenario.
pub fn build_grid(sets: &[String], base: &LoadedScenario) -> Result<Grid, Vec<String>> {
    let mut axes = Vec::new();
    let mut errors = Vec::new();
    for s in sets {
        match parse_set(s).and_then(|(key, values)| {
            if axes.iter().any(|a: &Axis| a.key == key) {
                return Err(format!("--set {key}: the key is given twice"));
            }
            let target = resolve_target(&key, base)?;
            Ok(Axis {
                key,
                target,
                values,
            })
        }) {
            Ok(a) => axes.push(a),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let total = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .filter(|n| *n <= MAX_RUNS);
    if total.is_none() {
        return Err(vec![format!(
            "the grid has more than {MAX_RUNS} runs; split it into several sweeps"
        )]);
    }
    Ok(Grid { axes })
}

/// The scenario at one point of the grid (`picks`: an axis and one of its values each),
/// loaded, validated and compiled. Errors are printable lines.
pub fn prepare_point(
    base: &Prepared,
    path: &Path,
    picks: &[(&Axis, &Value)],
) -> Result<Prepared, Vec<String>> {
    let lines = |e: config::ConfigErrors| e.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut raw = base.loaded.scenario.raw.clone();
    let mut scenario_edited = false;
    let mut pool_sets: BTreeMap<&str, BTreeMap<String, Value>> = BTreeMap::new();
    let mut class_sets: BTreeMap<&str, BTreeMap<String, Value>> = BTreeMap::new();
    for (axis, v) in picks {
        match &axis.target {
            Target::Scenario(p) => {
                raw =
                    apply_edit(&raw, p, v).map_err(|e| vec![format!("{}: {e}", path.display())])?;
                scenario_edited = true;
            }
            Target::NodePool { name, path } => {
                pool_sets
                    .entry(name)
                    .or_default()
                    .insert(path.clone(), (*v).clone());
            }
            Target::NodeClass { name, path } => {
                class_sets
                    .entry(name)
                    .or_default()
                    .insert(path.clone(), (*v).clone());
            }
        }
    }
    let mut loaded = if scenario_edited {
        config::load_scenario_value(&raw, path).map_err(lines)?
    } else {
        base.loaded.clone()
    };
    let edits = |sets: BTreeMap<&str, BTreeMap<String, Value>>| -> Vec<ObjectEdit> {
        sets.into_iter()
            .map(|(name, set)| ObjectEdit {
                name: name.to_string(),
                set,
                line: None,
            })
            .collect()
    };
    if !pool_sets.is_empty() || !class_sets.is_empty() {
        let (pools, classes) = config::apply_object_edits(
            &loaded.nodepools,
            &loaded.nodeclasses,
            &edits(pool_sets),
            &edits(class_sets),
            path,
        )
        .map_err(lines)?;
        loaded.nodepools = pools;
        loaded.nodeclasses = classes;
    }
    let cp = &loaded.scenario.catalog;
    let catalog: Cow<'static, Catalog> = if *cp == base.loaded.scenario.catalog {
        base.catalog.clone()
    } else {
        crate::cli::load_catalog(cp)?
    };
    let compiled = compile::compile(&loaded, &catalog).map_err(|errs| {
        errs.iter()
            .map(|e| format!("{}: {e}", path.display()))
            .collect::<Vec<_>>()
    })?;
    Ok(Prepared {
        loaded,
        catalog,
        compiled,
    })
}

/// A recorder that keeps nothing: a sweep only needs the run's summary.
#[derive(Debug, Default)]
pub struct NullRecorder;

impl Recorder for NullRecorder {
    fn pod(&mut self, _rec: &PodRecord) {}
    fn node(&mut self, _rec: &NodeRecord) {}
    fn timeline(&mut self, _row: &TimelineRow) {}
    fn decision(&mut self, _d: &serde_json::Value) {}
}

/// 64-bit FNV-1a, fed in pieces.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) {
        for x in b {
            self.0 ^= u64::from(*x);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    /// A length-prefixed piece, so that pieces cannot run into each other.
    fn piece(&mut self, b: &[u8]) {
        self.bytes(&(b.len() as u64).to_le_bytes());
        self.bytes(b);
    }
}

/// The grid fingerprint: the karpsim version, the scenario file and every file it names (by
/// content, not path, so shards on machines with other mount points agree) and the `--set`
/// flags.
pub fn fingerprint(base: &LoadedScenario, grid: &Grid) -> Result<String, String> {
    let mut files: Vec<&Path> = vec![base.path.as_path()];
    let sc = &base.scenario;
    files.extend(sc.nodepools.iter().map(PathBuf::as_path));
    for p in [
        &sc.workload.pods,
        &sc.workload.templates,
        &sc.workload.daemonsets,
        &sc.workload.pdbs,
        &sc.catalog.instance_types,
        &sc.catalog.on_demand_prices,
        &sc.catalog.spot,
    ]
    .into_iter()
    .flatten()
    {
        files.push(p);
    }
    // Two independent 64-bit hashes (different offsets) make a 128-bit fingerprint.
    let mut a = Fnv::new();
    let mut b = Fnv(0x6c62_272e_07bb_0142);
    let feed = |a: &mut Fnv, b: &mut Fnv, x: &[u8]| {
        a.piece(x);
        b.piece(x);
    };
    feed(&mut a, &mut b, b"karpsim-sweep-grid/1");
    feed(&mut a, &mut b, env!("CARGO_PKG_VERSION").as_bytes());
    for f in files {
        // Streamed: a trace may be far larger than memory allows to hold at once.
        use std::io::Read;
        let err = |e: std::io::Error| format!("{}: {e}", f.display());
        let mut file = std::fs::File::open(f).map_err(err)?;
        let len = file.metadata().map_err(err)?.len();
        feed(&mut a, &mut b, &len.to_le_bytes());
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).map_err(err)?;
            if n == 0 {
                break;
            }
            a.bytes(&buf[..n]);
            b.bytes(&buf[..n]);
        }
    }
    for axis in &grid.axes {
        feed(&mut a, &mut b, axis.key.as_bytes());
        for (text, _) in &axis.values {
            feed(&mut a, &mut b, text.as_bytes());
        }
    }
    Ok(format!("{:016x}{:016x}", a.0, b.0))
}

/// The header of `sweep.csv`.
pub fn csv_header(grid: &Grid) -> Vec<String> {
    let mut h = vec!["run".to_string()];
    h.extend(grid.axes.iter().map(|a| a.key.clone()));
    h.extend(FIGURES.iter().map(|f| f.column.to_string()));
    h
}

/// One row of `sweep.csv`.
pub fn csv_row(grid: &Grid, i: usize, s: &RunSummary) -> Vec<String> {
    let mut r = vec![i.to_string()];
    for (axis, k) in grid.axes.iter().zip(grid.coords(i)) {
        r.push(axis.values[k].0.clone());
    }
    r.extend(FIGURES.iter().map(|f| round6((f.get)(s)).to_string()));
    r
}

/// The CSV text of a header and rows (the one writer of both sweep.csv and parts, so a merge
/// reproduces the unsharded file byte for byte).
fn csv_text(header: &[String], rows: &[Vec<String>]) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(|e| e.to_string())?;
    for r in rows {
        w.write_record(r).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// What a sweep did.
#[derive(Debug)]
pub struct SweepOutcome {
    /// Runs in the grid.
    pub grid_runs: usize,
    /// Runs done here (the shard's, or all).
    pub runs_done: usize,
    /// The file written (sweep.csv or the part file).
    pub written: PathBuf,
    pub fingerprint: String,
}

/// Runs `karpsim sweep`. Nothing is written unless every run of the shard succeeded. Errors
/// are printable lines.
pub fn run_sweep(a: &SweepArgs) -> Result<SweepOutcome, Vec<String>> {
    use rayon::prelude::*;
    let shard = a
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(|e| vec![e])?;
    let base = crate::cli::prepare(&a.scenario)?;
    let grid = build_grid(&a.sets, &base.loaded)?;
    // Every value alone first: a bad key or value is reported once, by its flag.
    let mut errors: Vec<String> = Vec::new();
    for axis in &grid.axes {
        for (text, v) in &axis.values {
            if let Err(errs) = prepare_point(&base, &a.scenario, &[(axis, v)]) {
                for e in errs {
                    let line = format!("--set {}={text}: {e}", axis.key);
                    let seen = errors
                        .iter()
                        .any(|x| x.starts_with(&format!("--set {}=", axis.key)) && x.ends_with(&e));
                    if !seen {
                        errors.push(line);
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let fp = fingerprint(&base.loaded, &grid).map_err(|e| vec![e])?;
    let total = grid.len();
    let runs: Vec<usize> = match shard {
        Some(s) => s.runs(total).collect(),
        None => (0..total).collect(),
    };
    let dir = a.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!("{}-sweep", base.compiled.setup.name))
    });
    let width = (total.saturating_sub(1)).to_string().len();
    let run_one = |i: usize| -> Result<Vec<String>, String> {
        let coords = grid.coords(i);
        let picks: Vec<(&Axis, &Value)> = grid
            .axes
            .iter()
            .zip(&coords)
            .map(|(ax, k)| (ax, &ax.values[*k].1))
            .collect();
        let label = || {
            let vals: Vec<String> = grid
                .axes
                .iter()
                .zip(&coords)
                .map(|(ax, k)| format!("{}={}", ax.key, ax.values[*k].0))
                .collect();
            format!("run {i} ({})", vals.join(", "))
        };
        let p = prepare_point(&base, &a.scenario, &picks)
            .map_err(|e| format!("{}: {}", label(), e.join("; ")))?;
        let summary = if a.keep_reports {
            let run_dir = dir.join(format!("run-{i:0width$}"));
            crate::cli::run_into_reports(&p, &run_dir, &a.scenario, None).map(|(s, _)| s)
        } else {
            simulate(&p, &p.compiled.setup, &mut || Ok(NullRecorder), &mut |_| {})
                .map(|(s, _)| s)
                .map_err(|(e, _)| e)
        }
        .map_err(|e| format!("{}: {e}", label()))?;
        Ok(csv_row(&grid, i, &summary))
    };
    let pool = {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(j) = a.jobs {
            b = b.num_threads(j as usize);
        }
        b.build()
            .map_err(|e| vec![format!("starting the worker threads: {e}")])?
    };
    // Runs done out of the slice, with an ETA (on a terminal, without --quiet).
    let progress = crate::progress::Progress::for_stderr(a.quiet);
    let bar = progress.runs("sweep", runs.len() as u64);
    let results: Vec<Result<Vec<String>, String>> = pool.install(|| {
        runs.par_iter()
            .map(|i| {
                let r = run_one(*i);
                bar.inc();
                r
            })
            .collect()
    });
    progress.clear();
    let mut rows = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(row) => rows.push(row),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let body = csv_text(&csv_header(&grid), &rows).map_err(|e| vec![e])?;
    let (file, bytes) = match shard {
        None => (dir.join("sweep.csv"), body),
        Some(s) => {
            let mut text = format!(
                "{PART_MAGIC}shard={}/{} runs={total} grid={fp}\n",
                s.index, s.count
            )
            .into_bytes();
            text.extend_from_slice(&body);
            (
                dir.join(format!("sweep-part-{}-of-{}.csv", s.index, s.count)),
                text,
            )
        }
    };
    crate::generate::write_staged(&file, &bytes)
        .map_err(|e| vec![format!("writing {}: {e}", file.display())])?;
    Ok(SweepOutcome {
        grid_runs: total,
        runs_done: rows.len(),
        written: file,
        fingerprint: fp,
    })
}

/// One part file, read.
struct Part {
    file: PathBuf,
    shard: Shard,
    runs: usize,
    grid: String,
    header: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
}

fn read_part(file: &Path) -> Result<Part, String> {
    let name = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| format!("{name}: {e}"))?;
    let not_part = || {
        format!(
            "{name}:1: not a sweep part file (its first line should be `{PART_MAGIC}shard=I/N runs=R grid=F`, as `karpsim sweep --shard` writes)"
        )
    };
    let (first, body) = text.split_once('\n').ok_or_else(not_part)?;
    let meta = first.strip_prefix(PART_MAGIC).ok_or_else(not_part)?;
    let mut shard = None;
    let mut runs = None;
    let mut grid = None;
    for tok in meta.split_whitespace() {
        match tok.split_once('=') {
            Some(("shard", v)) => shard = Shard::parse(v).ok(),
            Some(("runs", v)) => runs = v.parse::<usize>().ok(),
            Some(("grid", v)) => grid = Some(v.to_string()),
            _ => {}
        }
    }
    let (Some(shard), Some(runs), Some(grid)) = (shard, runs, grid) else {
        return Err(not_part());
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes());
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        Some(Ok(r)) => r.iter().map(str::to_string).collect(),
        _ => return Err(format!("{name}:2: the part has no CSV header")),
    };
    if header.first().map(String::as_str) != Some("run") {
        return Err(format!("{name}:2: the CSV header should start with `run`"));
    }
    let mut rows = Vec::new();
    for (k, r) in records.enumerate() {
        let line = k + 3;
        let r = r.map_err(|e| format!("{name}:{line}: {e}"))?;
        let cells: Vec<String> = r.iter().map(str::to_string).collect();
        if cells.len() != header.len() {
            return Err(format!(
                "{name}:{line}: {} fields, the header has {}",
                cells.len(),
                header.len()
            ));
        }
        let i: usize = cells[0]
            .parse()
            .map_err(|_| format!("{name}:{line}: `{}` is not a run index", cells[0]))?;
        if i >= runs || !shard.holds(i) {
            return Err(format!(
                "{name}:{line}: run {i} does not belong to shard {}/{} of a {runs}-run grid",
                shard.index, shard.count
            ));
        }
        rows.push((i, cells));
    }
    Ok(Part {
        file: file.to_path_buf(),
        shard,
        runs,
        grid,
        header,
        rows,
    })
}

/// What a merge did.
#[derive(Debug)]
pub struct MergeOutcome {
    pub runs: usize,
    pub parts: usize,
}

/// Runs `karpsim merge`: checks that the parts are the complete, non-overlapping shards of one
/// grid and writes its `sweep.csv` (exactly what the unsharded sweep writes). Errors are
/// printable lines.
pub fn run_merge(a: &MergeArgs) -> Result<MergeOutcome, Vec<String>> {
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    for f in &a.parts {
        match read_part(f) {
            Ok(p) => parts.push(p),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let Some(first) = parts.first() else {
        return Err(vec!["no part files given".into()]);
    };
    for p in &parts[1..] {
        if p.grid != first.grid || p.runs != first.runs || p.shard.count != first.shard.count {
            errors.push(format!(
                "{} and {} belong to different grids (grid {} with {} runs in {} shards, grid {} with {} runs in {} shards): merge only the parts of one sweep",
                first.file.display(),
                p.file.display(),
                first.grid,
                first.runs,
                first.shard.count,
                p.grid,
                p.runs,
                p.shard.count
            ));
        } else if p.header != first.header {
            errors.push(format!(
                "{}: its columns differ from {}'s",
                p.file.display(),
                first.file.display()
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let n = first.shard.count;
    let mut by_shard: BTreeMap<usize, &Part> = BTreeMap::new();
    for p in &parts {
        if let Some(q) = by_shard.insert(p.shard.index, p) {
            errors.push(format!(
                "{} and {} are both shard {}/{n}",
                q.file.display(),
                p.file.display(),
                p.shard.index
            ));
        }
    }
    let missing: Vec<String> = (1..=n)
        .filter(|i| !by_shard.contains_key(i))
        .map(|i| format!("{i}/{n}"))
        .collect();
    if !missing.is_empty() {
        errors.push(format!(
            "missing shard(s) {} of grid {}: run `karpsim sweep ... --shard` for them and merge again",
            missing.join(", "),
            first.grid
        ));
    }
    for p in &parts {
        let expected = p.shard.runs(p.runs).count();
        let mut seen: Vec<usize> = p.rows.iter().map(|r| r.0).collect();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != p.rows.len() {
            errors.push(format!("{}: a run appears twice", p.file.display()));
        } else if p.rows.len() != expected {
            errors.push(format!(
                "{}: shard {}/{n} should hold {expected} runs but holds {} (was the job interrupted?)",
                p.file.display(),
                p.shard.index,
                p.rows.len()
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows: Vec<&(usize, Vec<String>)> = parts.iter().flat_map(|p| &p.rows).collect();
    rows.sort_by_key(|r| r.0);
    let rows: Vec<Vec<String>> = rows.into_iter().map(|r| r.1.clone()).collect();
    let bytes = csv_text(&first.header, &rows).map_err(|e| vec![e])?;
    crate::generate::write_staged(&a.out, &bytes)
        .map_err(|e| vec![format!("writing {}: {e}", a.out.display())])?;
    Ok(MergeOutcome {
        runs: rows.len(),
        parts: parts.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_split_at_top_level_commas_only() {
        assert_eq!(split_values("1,2,3"), ["1", "2", "3"]);
        assert_eq!(
            split_values("[{nodes: '1'}],[{nodes: '10%'}, {nodes: 0}]"),
            ["[{nodes: '1'}]", "[{nodes: '10%'}, {nodes: 0}]"]
        );
        assert_eq!(split_values("'a,b',c"), ["'a,b'", "c"]);
    }

    #[test]
    fn set_values_are_yaml() {
        let (k, v) = parse_set("interruptions.rate_multiplier=1, 2.5,WhenEmpty,true").unwrap();
        assert_eq!(k, "interruptions.rate_multiplier");
        let texts: Vec<&str> = v.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(texts, ["1", "2.5", "WhenEmpty", "true"]);
        assert_eq!(v[0].1, Value::from(1u64));
        assert_eq!(v[1].1, Value::from(2.5));
        assert_eq!(v[2].1, Value::from("WhenEmpty"));
        assert_eq!(v[3].1, Value::from(true));
        assert!(parse_set("seed").is_err());
        assert!(parse_set("seed=1,,2").is_err());
        assert!(parse_set("seed=1,1").is_err());
        assert!(parse_set("=1").is_err());
    }

    #[test]
    fn grid_order_is_last_fastest() {
        let axis = |key: &str, n: usize| Axis {
            key: key.into(),
            target: Target::Scenario(key.into()),
            values: (0..n)
                .map(|i| (i.to_string(), Value::from(i as u64)))
                .collect(),
        };
        let g = Grid {
            axes: vec![axis("a", 2), axis("b", 3)],
        };
        assert_eq!(g.len(), 6);
        let all: Vec<Vec<usize>> = (0..6).map(|i| g.coords(i)).collect();
        assert_eq!(
            all,
            [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]].map(|x| x.to_vec())
        );
    }

    fn quickstart_copy(dir: &Path, nodepool_edit: Option<(&str, &str)>) -> LoadedScenario {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        std::fs::create_dir_all(dir.join("nodepools")).unwrap();
        std::fs::create_dir_all(dir.join("traces")).unwrap();
        for f in [
            "quickstart.yaml",
            "nodepools/default.yaml",
            "traces/quickstart.csv",
        ] {
            let mut text = std::fs::read_to_string(repo.join(f)).unwrap();
            if let Some((from, to)) = nodepool_edit.filter(|_| f.starts_with("nodepools")) {
                text = text.replace(from, to);
            }
            std::fs::write(dir.join(f), text).unwrap();
        }
        config::load_scenario(&dir.join("quickstart.yaml")).unwrap()
    }

    #[test]
    fn keys_resolve_to_the_scenario_or_a_named_object() {
        let tmp = tempfile::tempdir().unwrap();
        let ls = quickstart_copy(tmp.path(), None);
        let pool = Target::NodePool {
            name: "default".into(),
            path: "spec.weight".into(),
        };
        assert_eq!(
            resolve_target("nodepools.default.spec.weight", &ls),
            Ok(pool.clone())
        );
        assert_eq!(
            resolve_target("nodepools[default].spec.weight", &ls),
            Ok(pool)
        );
        assert_eq!(
            resolve_target("nodeclasses.default.spec.amiFamily", &ls),
            Ok(Target::NodeClass {
                name: "default".into(),
                path: "spec.amiFamily".into()
            })
        );
        assert_eq!(
            resolve_target("interruptions.rate_multiplier", &ls),
            Ok(Target::Scenario("interruptions.rate_multiplier".into()))
        );
        assert_eq!(
            resolve_target("nodepools", &ls),
            Ok(Target::Scenario("nodepools".into()))
        );
        for (bad, want) in [
            ("seeed", "did you mean `seed`?"),
            ("nodepools.dfault.spec.weight", "did you mean `default`?"),
            ("nodepools.default", "name a field"),
            ("nodeclasses", "name an EC2NodeClass"),
            ("nodepools[default.spec", "without `]`"),
        ] {
            let e = resolve_target(bad, &ls).unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    /// The fingerprint follows the files' contents, not where they are: copies in two folders
    /// agree; an edited NodePool file or other values do not.
    #[test]
    fn the_fingerprint_is_the_content_of_the_grid() {
        let tmp = tempfile::tempdir().unwrap();
        let a = quickstart_copy(&tmp.path().join("a"), None);
        let b = quickstart_copy(&tmp.path().join("b"), None);
        let c = quickstart_copy(&tmp.path().join("c"), Some(("cpu: 1000", "cpu: 999")));
        let grid = |ls: &LoadedScenario, set: &str| build_grid(&[set.to_string()], ls).unwrap();
        let fp = |ls: &LoadedScenario, set: &str| fingerprint(ls, &grid(ls, set)).unwrap();
        assert_eq!(fp(&a, "seed=1,2"), fp(&b, "seed=1,2"));
        assert_ne!(fp(&a, "seed=1,2"), fp(&c, "seed=1,2"));
        assert_ne!(fp(&a, "seed=1,2"), fp(&a, "seed=1,3"));
        assert_ne!(fp(&a, "seed=1,2"), fp(&a, "seed=12"));
    }

    #[test]
    fn shards_partition_the_runs() {
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
        for bad in ["0/3", "4/3", "1/0", "x/2", "2", "1/2/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let total = 10;
        let mut all: Vec<usize> = (1..=3)
            .flat_map(|i| Shard { index: i, count: 3 }.runs(total))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..total).collect::<Vec<_>>());
        assert_eq!(
            Shard { index: 2, count: 3 }.runs(total).collect::<Vec<_>>(),
            [1, 4, 7]
        );
    }
}
