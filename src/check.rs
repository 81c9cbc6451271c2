//! `karpsim check`: the CI gate. Runs a scenario, compares the figures of its `summary.json`
//! with a baseline `summary.json`, and fails (exit 1) when one rose past its tolerance.
//!
//! Figures compared: `cost.total`, every `cost.by_nodepool` and `cost.by_namespace` entry,
//! `latency.pending_p50`/`p90`/`p99`, `pods.never_scheduled` and `spot.interruptions`. Each
//! has a tolerance, the largest *increase* that still passes (a decrease always passes):
//!
//! | tolerance (scenario `check:` key / flag) | figure | default |
//! |---|---|---|
//! | `max_cost_increase` / `--max-cost-increase` | total cost | `2%` |
//! | `max_nodepool_cost_increase` / `--max-nodepool-cost-increase` | cost of each NodePool | `10%` |
//! | `max_namespace_cost_increase` / `--max-namespace-cost-increase` | cost of each namespace and `(idle)` | `10%` |
//! | `max_p50_increase` / `--max-p50-increase` | pending latency p50 | `10%` |
//! | `max_p90_increase` / `--max-p90-increase` | pending latency p90 | `10%` |
//! | `max_p99_increase` / `--max-p99-increase` | pending latency p99 | `10%` |
//! | `max_never_scheduled_increase` / `--max-never-scheduled-increase` | pods never scheduled | `0` |
//! | `max_interruptions_increase` / `--max-interruptions-increase` | Spot interruptions | `0` |
//!
//! A tolerance is written `N%` (relative to the baseline's value), a plain number (an absolute
//! increase in the figure's unit: dollars, seconds, pods, interruptions) or `none` (shown, never
//! fails). Flags override the scenario's `check:` section, which overrides the defaults.
//!
//! Judging, figure by figure (`increase` = now − baseline):
//! - it fails when `increase` is more than the tolerance allows, except that a cost increase
//!   under $0.01 and a latency increase under 1 s (Karpenter's batch idle window) never fail,
//!   so tiny baselines do not turn rounding into regressions; counts have no such slack;
//! - a NodePool or namespace absent from the baseline is `new`: its whole cost is the
//!   increase, and a percentage tolerance is taken of the baseline's total cost (a new
//!   namespace costing more than 10 % of what the whole cluster cost before fails by default);
//! - one present in the baseline only is `gone` (a decrease: it passes).
//!
//! The baseline must be a karpsim `summary.json` holding every figure above; anything else
//! (unreadable, not JSON, a key missing or of the wrong type) is bad input: exit 2, naming the
//! file and the key, before anything is simulated. `--update-baseline` accepts a missing or
//! broken baseline and replaces it.
//!
//! Owns: figures, tolerances, verdicts, `check.md`, the JUnit report and the baseline update.
//! May not: simulate (it runs scenarios through [`crate::cli`]).

use crate::cli;
use crate::report::{self, FileRecorder};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The largest increase of a figure that still passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// Percent of the baseline's value.
    Percent(f64),
    /// An amount in the figure's unit.
    Absolute(f64),
    /// Reported, never fails.
    Off,
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tolerance::Percent(p) => write!(f, "{p}%"),
            Tolerance::Absolute(a) => write!(f, "{a}"),
            Tolerance::Off => write!(f, "none"),
        }
    }
}

/// Reads a tolerance: `2%`, `0.5`, `3` or `none`.
pub fn parse_tolerance(s: &str) -> Result<Tolerance, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(Tolerance::Off);
    }
    let (num, pct) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (t, false),
    };
    let v: f64 = num.parse().map_err(|_| {
        format!("`{s}` is not a tolerance: write a percentage (`2%`), an amount (`0.5`) or `none`")
    })?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!(
            "`{s}` is not a tolerance: it must be a finite amount of 0 or more"
        ));
    }
    Ok(if pct {
        Tolerance::Percent(v)
    } else {
        Tolerance::Absolute(v)
    })
}

/// The tolerance keys of the scenario's `check:` section, in table order, with their defaults.
pub const TOLERANCE_KEYS: &[(&str, Tolerance)] = &[
    ("max_cost_increase", Tolerance::Percent(2.0)),
    ("max_nodepool_cost_increase", Tolerance::Percent(10.0)),
    ("max_namespace_cost_increase", Tolerance::Percent(10.0)),
    ("max_p50_increase", Tolerance::Percent(10.0)),
    ("max_p90_increase", Tolerance::Percent(10.0)),
    ("max_p99_increase", Tolerance::Percent(10.0)),
    ("max_never_scheduled_increase", Tolerance::Absolute(0.0)),
    ("max_interruptions_increase", Tolerance::Absolute(0.0)),
];

/// The key names alone (for unknown-key suggestions).
pub fn tolerance_key_names() -> Vec<&'static str> {
    TOLERANCE_KEYS.iter().map(|(k, _)| *k).collect()
}

/// Every figure's tolerance, by key of [`TOLERANCE_KEYS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Tolerances(BTreeMap<&'static str, Tolerance>);

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances(TOLERANCE_KEYS.iter().copied().collect())
    }
}

impl Tolerances {
    /// The defaults, then `section` (the scenario's `check:`), then `flags`.
    pub fn resolve(
        section: &BTreeMap<String, Tolerance>,
        flags: &[(&'static str, Option<Tolerance>)],
    ) -> Tolerances {
        let mut t = Tolerances::default();
        for (k, v) in section {
            t.set(k, *v);
        }
        for (k, v) in flags {
            if let Some(v) = v {
                t.set(k, *v);
            }
        }
        t
    }

    fn set(&mut self, key: &str, v: Tolerance) {
        if let Some((k, _)) = TOLERANCE_KEYS.iter().find(|(k, _)| *k == key) {
            self.0.insert(k, v);
        }
    }

    /// The tolerance of `key` (a [`TOLERANCE_KEYS`] name).
    pub fn get(&self, key: &str) -> Tolerance {
        self.0.get(key).copied().unwrap_or(Tolerance::Off)
    }
}

/// The figures of a `summary.json` that `check` compares.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub name: Option<String>,
    pub seed: Option<u64>,
    pub cost_total: f64,
    pub cost_by_nodepool: BTreeMap<String, f64>,
    pub cost_by_namespace: BTreeMap<String, f64>,
    pub pending_p50: f64,
    pub pending_p90: f64,
    pub pending_p99: f64,
    pub never_scheduled: f64,
    pub interruptions: f64,
}

impl Figures {
    /// Reads the figures of a `summary.json` value; the error names the first key missing or
    /// of the wrong type.
    pub fn from_json(v: &Value) -> Result<Figures, String> {
        if !v.is_object() {
            return Err("not a karpsim summary.json: expected a JSON object".into());
        }
        let at = |path: &str| -> Result<&Value, String> {
            let mut cur = v;
            for part in path.split('.') {
                cur = cur.get(part).ok_or_else(|| {
                    format!("`{path}` is missing (is this a karpsim summary.json?)")
                })?;
            }
            Ok(cur)
        };
        let num = |path: &str| -> Result<f64, String> {
            let x = at(path)?;
            x.as_f64()
                .filter(|f| (0.0..1e15).contains(f))
                .ok_or_else(|| format!("`{path}` is {x}, expected an amount of 0 or more"))
        };
        let count = |path: &str| -> Result<f64, String> {
            let x = at(path)?;
            x.as_u64()
                .map(|n| n as f64)
                .ok_or_else(|| format!("`{path}` is {x}, expected a whole number of 0 or more"))
        };
        let map = |path: &str| -> Result<BTreeMap<String, f64>, String> {
            let x = at(path)?;
            let o = x
                .as_object()
                .ok_or_else(|| format!("`{path}` is {x}, expected an object of amounts"))?;
            o.iter()
                .map(|(k, val)| {
                    val.as_f64()
                        .filter(|f| (0.0..1e15).contains(f))
                        .map(|f| (k.clone(), f))
                        .ok_or_else(|| {
                            format!("`{path}.{k}` is {val}, expected an amount of 0 or more")
                        })
                })
                .collect()
        };
        Ok(Figures {
            name: v.get("name").and_then(Value::as_str).map(str::to_string),
            seed: v.get("seed").and_then(Value::as_u64),
            cost_total: num("cost.total")?,
            cost_by_nodepool: map("cost.by_nodepool")?,
            cost_by_namespace: map("cost.by_namespace")?,
            pending_p50: num("latency.pending_p50")?,
            pending_p90: num("latency.pending_p90")?,
            pending_p99: num("latency.pending_p99")?,
            never_scheduled: count("pods.never_scheduled")?,
            interruptions: count("spot.interruptions")?,
        })
    }
}

/// The unit of a figure: how it is printed and how much slack it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Usd,
    Seconds,
    Count,
}

impl Unit {
    /// Increases below this never fail.
    fn slack(self) -> f64 {
        match self {
            Unit::Usd => 0.01,
            Unit::Seconds => 1.0,
            Unit::Count => 0.0,
        }
    }

    fn show(self, v: f64) -> String {
        match self {
            Unit::Usd if v.abs() >= 10.0 => format!("${v:.2}"),
            Unit::Usd => format!("${v:.4}"),
            Unit::Seconds => format!("{v:.2} s"),
            Unit::Count => format!("{v}"),
        }
    }

    fn show_delta(self, d: f64) -> String {
        let sign = if d < 0.0 { "-" } else { "+" };
        format!("{sign}{}", self.show(d.abs()))
    }
}

/// How a figure fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    /// Absent from the baseline, within its tolerance.
    New,
    /// Absent from the baseline, past its tolerance.
    NewFail,
    /// In the baseline only.
    Gone,
}

impl Status {
    pub fn failed(self) -> bool {
        matches!(self, Status::Fail | Status::NewFail)
    }

    fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "**FAIL**",
            Status::New => "new",
            Status::NewFail => "**FAIL** (new)",
            Status::Gone => "gone",
        }
    }
}

/// One compared figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// How people read it: `total cost`, `cost of NodePool default`, ...
    pub figure: String,
    pub unit: Unit,
    pub baseline: Option<f64>,
    pub now: Option<f64>,
    pub tolerance: Tolerance,
    /// The increase the tolerance allows (`None`: no limit).
    pub allowed: Option<f64>,
    pub status: Status,
}

impl Row {
    fn change(&self) -> String {
        match (self.baseline, self.now) {
            (Some(b), Some(v)) => {
                let d = v - b;
                if d.abs() < 1e-9 {
                    "0".into()
                } else if b.abs() > 0.0 {
                    format!("{} ({:+.1}%)", self.unit.show_delta(d), 100.0 * d / b)
                } else {
                    self.unit.show_delta(d)
                }
            }
            (None, Some(v)) => self.unit.show_delta(v),
            (Some(b), None) => self.unit.show_delta(-b),
            (None, None) => String::new(),
        }
    }

    fn tolerance_text(&self) -> String {
        match (self.tolerance, self.allowed) {
            (Tolerance::Off, _) | (_, None) => "none".into(),
            (Tolerance::Percent(p), Some(a)) => {
                format!("+{p}% (up to {})", self.unit.show_delta(a))
            }
            (Tolerance::Absolute(_), Some(a)) => self.unit.show_delta(a),
        }
    }

    /// Why the figure failed, in one line.
    pub fn why(&self) -> String {
        let base = self
            .baseline
            .map_or("absent".to_string(), |b| self.unit.show(b));
        let now = self.now.map_or("absent".to_string(), |v| self.unit.show(v));
        format!(
            "{}: {} -> {}, {}, past the tolerance {}",
            self.figure,
            base,
            now,
            self.change(),
            self.tolerance_text()
        )
    }
}

/// The verdict of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub scenario: String,
    pub rows: Vec<Row>,
    /// Remarks (a baseline from another scenario or seed, ...).
    pub notes: Vec<String>,
}

impl Verdict {
    /// The figures that regressed.
    pub fn failures(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.status.failed())
    }

    pub fn passed(&self) -> bool {
        self.failures().next().is_none()
    }
}

fn judge(
    figure: String,
    unit: Unit,
    baseline: Option<f64>,
    now: Option<f64>,
    tolerance: Tolerance,
    base_total: f64,
) -> Row {
    // A new entry is judged against the baseline's whole cost.
    let reference = baseline.unwrap_or(base_total);
    let allowed = match tolerance {
        Tolerance::Percent(p) => Some(reference.abs() * p / 100.0),
        Tolerance::Absolute(a) => Some(a),
        Tolerance::Off => None,
    };
    let increase = now.unwrap_or(0.0) - baseline.unwrap_or(0.0);
    let over = allowed.is_some_and(|a| increase > a + 1e-9 && increase >= unit.slack());
    let status = match (baseline, now, over) {
        (Some(_), None, _) => Status::Gone,
        (None, _, false) => Status::New,
        (None, _, true) => Status::NewFail,
        (Some(_), _, false) => Status::Pass,
        (Some(_), _, true) => Status::Fail,
    };
    Row {
        figure,
        unit,
        baseline,
        now,
        tolerance,
        allowed,
        status,
    }
}

/// Compares `now` with `base` under `tol`.
pub fn compare(scenario: &str, base: &Figures, now: &Figures, tol: &Tolerances) -> Verdict {
    let t = base.cost_total;
    let mut rows = vec![judge(
        "total cost".into(),
        Unit::Usd,
        Some(base.cost_total),
        Some(now.cost_total),
        tol.get("max_cost_increase"),
        t,
    )];
    let keyed = |rows: &mut Vec<Row>,
                 label: &str,
                 b: &BTreeMap<String, f64>,
                 n: &BTreeMap<String, f64>,
                 key: &str| {
        let names: std::collections::BTreeSet<&String> = b.keys().chain(n.keys()).collect();
        for k in names {
            rows.push(judge(
                format!("cost of {label} {k}"),
                Unit::Usd,
                b.get(k).copied(),
                n.get(k).copied(),
                tol.get(key),
                t,
            ));
        }
    };
    keyed(
        &mut rows,
        "NodePool",
        &base.cost_by_nodepool,
        &now.cost_by_nodepool,
        "max_nodepool_cost_increase",
    );
    keyed(
        &mut rows,
        "namespace",
        &base.cost_by_namespace,
        &now.cost_by_namespace,
        "max_namespace_cost_increase",
    );
    for (label, b, n, key) in [
        (
            "pending latency p50",
            base.pending_p50,
            now.pending_p50,
            "max_p50_increase",
        ),
        (
            "pending latency p90",
            base.pending_p90,
            now.pending_p90,
            "max_p90_increase",
        ),
        (
            "pending latency p99",
            base.pending_p99,
            now.pending_p99,
            "max_p99_increase",
        ),
    ] {
        rows.push(judge(
            label.into(),
            Unit::Seconds,
            Some(b),
            Some(n),
            tol.get(key),
            t,
        ));
    }
    rows.push(judge(
        "pods never scheduled".into(),
        Unit::Count,
        Some(base.never_scheduled),
        Some(now.never_scheduled),
        tol.get("max_never_scheduled_increase"),
        t,
    ));
    rows.push(judge(
        "Spot interruptions".into(),
        Unit::Count,
        Some(base.interruptions),
        Some(now.interruptions),
        tol.get("max_interruptions_increase"),
        t,
    ));
    let mut notes = Vec::new();
    if let (Some(b), Some(n)) = (&base.name, &now.name)
        && b != n
    {
        notes.push(format!(
            "the baseline is from scenario `{b}`, this run is `{n}`"
        ));
    }
    if let (Some(b), Some(n)) = (base.seed, now.seed)
        && b != n
    {
        notes.push(format!(
            "the baseline ran with seed {b}, this run with seed {n}: figures differ by chance too"
        ));
    }
    Verdict {
        scenario: scenario.to_string(),
        rows,
        notes,
    }
}

/// Table cells may not hold `|` or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The Markdown verdict (`check.md`).
pub fn markdown(v: &Verdict, baseline: &Path, updated: bool) -> String {
    let failed: Vec<&Row> = v.failures().collect();
    let mut out = format!("## karpsim check: {}\n\n", cell(&v.scenario));
    if failed.is_empty() {
        out.push_str(&format!(
            "**PASS**: none of {} figures rose past its tolerance (baseline `{}`).\n",
            v.rows.len(),
            baseline.display()
        ));
    } else {
        let names: Vec<String> = failed.iter().map(|r| r.figure.clone()).collect();
        out.push_str(&format!(
            "**FAIL**: {} of {} figures rose past their tolerance (baseline `{}`): {}.\n",
            failed.len(),
            v.rows.len(),
            baseline.display(),
            names.join(", ")
        ));
    }
    if updated {
        out.push_str(
            "\nThe baseline was replaced by this run (`--update-baseline`): the verdict does not gate.\n",
        );
    }
    out.push_str("\n| figure | baseline | now | change | tolerance | verdict |\n");
    out.push_str("|---|---:|---:|---:|---:|---|\n");
    for r in &v.rows {
        let show = |x: Option<f64>| x.map_or("-".to_string(), |x| r.unit.show(x));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            cell(&r.figure),
            show(r.baseline),
            show(r.now),
            r.change(),
            r.tolerance_text(),
            r.status.label()
        ));
    }
    if !failed.is_empty() {
        out.push('\n');
        for r in &failed {
            out.push_str(&format!("- {}\n", cell(&r.why())));
        }
    }
    for n in &v.notes {
        out.push_str(&format!("\nNote: {n}.\n"));
    }
    out.push_str(
        "\nA figure fails when it rose by more than its tolerance (`N%` of the baseline, or an amount); \
         cost increases under $0.01 and latency increases under 1 s never fail. `new`: absent from \
         the baseline, judged on its whole cost against the baseline's total cost.\n",
    );
    out
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// The JUnit XML report: one test case per figure, a `<failure>` on each that regressed.
pub fn junit(v: &Verdict) -> String {
    let failures = v.failures().count();
    let suite = xml_escape(&format!("karpsim check {}", v.scenario));
    let class = xml_escape(&format!("karpsim.check.{}", v.scenario));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"karpsim check\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">\n",
        v.rows.len()
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n",
        v.rows.len()
    ));
    for r in &v.rows {
        out.push_str(&format!(
            "    <testcase classname=\"{class}\" name=\"{}\"",
            xml_escape(&r.figure)
        ));
        if r.status.failed() {
            let why = xml_escape(&r.why());
            out.push_str(&format!(
                ">\n      <failure message=\"{why}\" type=\"regression\">{why}</failure>\n    </testcase>\n"
            ));
        } else {
            out.push_str(" />\n");
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// `path` can be written as a file: it is not a folder, and its nearest existing ancestor is a
/// folder (missing folders are created when it is written).
fn output_path_ok(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err("is a folder, not a file".into());
    }
    let mut up = path.parent();
    while let Some(a) = up {
        if a.as_os_str().is_empty() {
            break;
        }
        if a.exists() {
            return if a.is_dir() {
                Ok(())
            } else {
                Err(format!("`{}` is not a folder", a.display()))
            };
        }
        up = a.parent();
    }
    Ok(())
}

/// Reads a baseline file's figures; the error names the file.
pub fn read_baseline(path: &Path) -> Result<Figures, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            " (write one with --update-baseline)"
        } else {
            ""
        };
        format!("{}: cannot read the baseline: {e}{hint}", path.display())
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        let mut msg = e.to_string();
        // serde_json appends " at line N column M"; the position leads the message instead.
        if let Some(i) = msg.find(" at line ") {
            msg.truncate(i);
        }
        format!(
            "{}:{}:{}: the baseline is not valid JSON: {msg}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    Figures::from_json(&v).map_err(|e| format!("{}: {e}", path.display()))
}

/// What `karpsim check` was asked to do.
#[derive(Debug, Clone)]
pub struct CheckArgs {
    pub scenario: PathBuf,
    pub baseline: PathBuf,
    pub out: Option<PathBuf>,
    pub seed: Option<u64>,
    pub quiet: bool,
    pub junit: Option<PathBuf>,
    pub update_baseline: bool,
    /// Tolerance flags by key (`None`: not given).
    pub flags: Vec<(&'static str, Option<Tolerance>)>,
}

/// `karpsim check`: 0 no regression (or `--update-baseline`), 1 a regression, 2 bad input.
pub fn cmd_check(a: &CheckArgs) -> ExitCode {
    let fail = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::from(2)
    };
    let started = std::time::Instant::now();
    // The baseline first: a broken one stops everything before anything runs.
    let base = match read_baseline(&a.baseline) {
        Ok(f) => Some(f),
        Err(e) if !a.update_baseline => return fail(e),
        Err(e) => {
            if !a.quiet {
                eprintln!("note: no usable baseline ({e}); --update-baseline writes a new one");
            }
            None
        }
    };
    // Where the verdict and the baseline go must be writable before anything runs.
    for (flag, path) in [
        ("--junit", a.junit.as_ref()),
        ("--baseline", a.update_baseline.then_some(&a.baseline)),
    ] {
        if let Some(path) = path
            && let Err(e) = output_path_ok(path)
        {
            return fail(format!("{flag} {}: {e}", path.display()));
        }
    }
    let p = match cli::prepare(&a.scenario) {
        Ok(p) => p,
        Err(errs) => {
            for e in &errs {
                eprintln!("error: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let tol = Tolerances::resolve(&p.loaded.scenario.check, &a.flags);
    let mut setup = p.compiled.setup.clone();
    if let Some(s) = a.seed {
        setup.seed = s;
    }
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(&setup.name));
    let mut make =
        || FileRecorder::create(&dir).map_err(|e| format!("creating {}: {e}", dir.display()));
    let (summary, rec) =
        match cli::simulate(&p, &setup, &mut make, &mut |r: FileRecorder| r.abort()) {
            Ok(x) => x,
            Err((e, rec)) => {
                if let Some(r) = rec {
                    r.abort();
                }
                return fail(e);
            }
        };
    let now_json = report::summary_json(&setup.name, setup.seed, &summary, Value::Null);
    let now = match Figures::from_json(&now_json) {
        Ok(f) => f,
        Err(e) => {
            rec.abort();
            return fail(format!("this run's summary: {e}"));
        }
    };
    let verdict = base.as_ref().map(|b| compare(&setup.name, b, &now, &tol));
    let md = verdict
        .as_ref()
        .map(|v| markdown(v, &a.baseline, a.update_baseline));
    if let Some(md) = &md
        && let Err(e) = std::fs::write(rec.staging.join("check.md"), md)
    {
        rec.abort();
        return fail(format!("writing check.md for {}: {e}", dir.display()));
    }
    let wall = started.elapsed().as_secs_f64();
    if let Err(e) = cli::write_reports(rec, &dir, &setup, &p, &summary, &a.scenario, wall) {
        return fail(format!("writing {}: {e}", dir.display()));
    }
    if let (Some(path), Some(v)) = (&a.junit, &verdict)
        && let Err(e) = crate::report::write_staged(path, junit(v).as_bytes())
    {
        return fail(format!("writing {}: {e}", path.display()));
    }
    if a.update_baseline {
        let written = std::fs::read(dir.join("summary.json"))
            .and_then(|bytes| crate::report::write_staged(&a.baseline, &bytes));
        if let Err(e) = written {
            return fail(format!(
                "writing the baseline {}: {e}",
                a.baseline.display()
            ));
        }
    }
    if !a.quiet {
        if let Some(md) = &md {
            print!("{md}");
        }
        if a.update_baseline {
            eprintln!("baseline written to {}", a.baseline.display());
        }
        eprintln!("reports written to {}/", dir.display());
    }
    match &verdict {
        Some(v) if !v.passed() && !a.update_baseline => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figs(total: f64, pools: &[(&str, f64)], p99: f64, never: f64) -> Figures {
        Figures {
            name: Some("s".into()),
            seed: Some(1),
            cost_total: total,
            cost_by_nodepool: pools.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            cost_by_namespace: [("(idle)".to_string(), total)].into_iter().collect(),
            pending_p50: 5.0,
            pending_p90: 20.0,
            pending_p99: p99,
            never_scheduled: never,
            interruptions: 0.0,
        }
    }

    #[test]
    fn tolerances_parse() {
        assert_eq!(parse_tolerance("2%"), Ok(Tolerance::Percent(2.0)));
        assert_eq!(parse_tolerance(" 0.5 "), Ok(Tolerance::Absolute(0.5)));
        assert_eq!(parse_tolerance("NONE"), Ok(Tolerance::Off));
        assert_eq!(parse_tolerance("10 %"), Ok(Tolerance::Percent(10.0)));
        for bad in ["", "%", "-1%", "two", "inf", "NaN%", "1e400"] {
            assert!(parse_tolerance(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_override_the_section_which_overrides_defaults() {
        let section: BTreeMap<String, Tolerance> = [
            ("max_cost_increase".to_string(), Tolerance::Percent(5.0)),
            ("max_p99_increase".to_string(), Tolerance::Off),
        ]
        .into_iter()
        .collect();
        let t = Tolerances::resolve(
            &section,
            &[("max_cost_increase", Some(Tolerance::Absolute(1.0)))],
        );
        assert_eq!(t.get("max_cost_increase"), Tolerance::Absolute(1.0));
        assert_eq!(t.get("max_p99_increase"), Tolerance::Off);
        assert_eq!(t.get("max_p90_increase"), Tolerance::Percent(10.0));
        assert_eq!(
            t.get("max_never_scheduled_increase"),
            Tolerance::Absolute(0.0)
        );
    }

    #[test]
    fn judging_follows_the_documented_rules() {
        let tol = Tolerances::default();
        let base = figs(100.0, &[("a", 100.0)], 60.0, 0.0);
        // +1.9 % passes, +2.1 % fails.
        let v = compare("s", &base, &figs(101.9, &[("a", 101.9)], 60.0, 0.0), &tol);
        assert!(v.passed(), "{v:?}");
        let v = compare("s", &base, &figs(102.1, &[("a", 102.1)], 60.0, 0.0), &tol);
        let failed: Vec<&str> = v.failures().map(|r| r.figure.as_str()).collect();
        assert_eq!(failed, ["total cost"]);
        // Tiny baselines: under a cent and under a second never fail.
        let tiny = figs(0.001, &[("a", 0.001)], 0.1, 0.0);
        let v = compare("s", &tiny, &figs(0.009, &[("a", 0.009)], 1.05, 0.0), &tol);
        assert!(v.passed(), "{v:?}");
        // Counts have no slack.
        let v = compare("s", &base, &figs(100.0, &[("a", 100.0)], 60.0, 1.0), &tol);
        let failed: Vec<&str> = v.failures().map(|r| r.figure.as_str()).collect();
        assert_eq!(failed, ["pods never scheduled"]);
        // A new NodePool is judged on its cost against the baseline total; a gone one passes.
        let v = compare(
            "s",
            &base,
            &figs(99.0, &[("a", 90.0), ("b", 9.0)], 60.0, 0.0),
            &tol,
        );
        assert!(v.passed(), "{v:?}");
        assert_eq!(v.rows[2].status, Status::New);
        let v = compare(
            "s",
            &base,
            &figs(99.0, &[("a", 88.0), ("b", 11.0)], 60.0, 0.0),
            &tol,
        );
        assert_eq!(v.rows[2].status, Status::NewFail, "{v:?}");
        let v = compare("s", &base, &figs(99.0, &[("b", 9.0)], 60.0, 0.0), &tol);
        assert_eq!(v.rows[1].status, Status::Gone);
    }

    #[test]
    fn baseline_errors_name_the_key() {
        use crate::engine::RunSummary;
        let mut v = report::summary_json("s", 1, &RunSummary::default(), Value::Null);
        assert!(Figures::from_json(&v).is_ok());
        v["latency"].as_object_mut().unwrap().remove("pending_p99");
        let e = Figures::from_json(&v).unwrap_err();
        assert!(e.contains("`latency.pending_p99` is missing"), "{e}");
        v["latency"]["pending_p99"] = Value::String("fast".into());
        let e = Figures::from_json(&v).unwrap_err();
        assert!(e.contains("`latency.pending_p99` is \"fast\""), "{e}");
        assert!(Figures::from_json(&Value::Array(vec![])).is_err());
    }

    #[test]
    fn junit_escapes_and_marks_failures() {
        let tol = Tolerances::default();
        let base = figs(100.0, &[("a<&>\"", 100.0)], 60.0, 0.0);
        let v = compare(
            "s",
            &base,
            &figs(110.0, &[("a<&>\"", 110.0)], 60.0, 0.0),
            &tol,
        );
        let x = junit(&v);
        assert!(
            x.contains("name=\"cost of NodePool a&lt;&amp;&gt;&quot;\""),
            "{x}"
        );
        assert_eq!(x.matches("<testcase ").count(), v.rows.len());
        assert_eq!(x.matches("<failure ").count(), 1, "{x}");
        assert!(!x.contains("a<&>"));
    }
}
