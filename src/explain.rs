//! `karpsim explain REPORT_DIR --at TIME`: why the cluster scaled up or down around a time, in
//! one Markdown view built from a finished report folder.
//!
//! Owns: reading a report folder back (`summary.json`, `decisions.jsonl`, `nodes.csv`,
//! `pods.csv`), the `--at`/`--window` time syntax and the view. May not: run simulations or
//! write files.
//!
//! `decisions.jsonl` can be large, so it is streamed: a line's time is read without parsing the
//! line, and only lines near the window are parsed. The engine writes decisions in time order,
//! so reading stops shortly after the window (once the follow-ups of its decisions, such as a
//! NodeClaim's launch two seconds after its provisioning pass, have been seen). `nodes.csv` and
//! `pods.csv` are streamed too, keeping only the rows the window's decisions name.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::ExitCode;

/// How far before the window decisions are read for context: the provisioning pass of a
/// launch in the window, or the consolidation whose candidate is deleted in it (a replacement
/// has 10 minutes to initialize).
const LOOKBEHIND_MS: u64 = 11 * 60_000;
/// How far after the window decisions are read for the outcome of its decisions (launches of
/// NodeClaims it created, deletions of its disruption candidates).
const LOOKAHEAD_MS: u64 = 11 * 60_000;
/// Items listed per section before the rest is only counted.
const MAX_ITEMS: usize = 40;
/// Pod names listed per launch or deletion.
const MAX_PODS: usize = 5;
/// Decisions of the window kept in memory; the rest are only counted.
const MAX_WINDOW_DECISIONS: usize = 50_000;
/// Launches listed per provisioning pass.
const MAX_LAUNCHES: usize = 10;

/// `karpsim explain`: prints the view, or the error with exit code 2.
pub fn cmd_explain(dir: &Path, at: &str, window: &str) -> ExitCode {
    match explain(dir, at, window) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Formats simulated milliseconds as a clock since the start: `02:14:03`, `1d02:14:03`, with
/// the milliseconds when there are any (`00:05:45.015`).
pub fn format_clock(ms: u64) -> String {
    let days = ms / 86_400_000;
    let h = (ms / 3_600_000) % 24;
    let m = (ms / 60_000) % 60;
    let s = (ms / 1000) % 60;
    let frac = ms % 1000;
    let mut out = String::new();
    if days > 0 {
        let _ = write!(out, "{days}d");
    }
    let _ = write!(out, "{h:02}:{m:02}:{s:02}");
    if frac > 0 {
        let f = format!("{frac:03}");
        let _ = write!(out, ".{}", f.trim_end_matches('0'));
    }
    out
}

/// Splits a leading `<days>d` off `s`: (days in ms, the rest).
fn day_prefix(s: &str) -> Result<(u64, &str), String> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits > 0 && s[digits..].starts_with('d') {
        let days: u64 = s[..digits]
            .parse()
            .map_err(|_| "the day count is too large".to_string())?;
        let ms = days
            .checked_mul(86_400_000)
            .ok_or_else(|| "the day count is too large".to_string())?;
        return Ok((ms, s[digits + 1..].trim_start()));
    }
    Ok((0, s))
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff` in ms (hours may exceed 23).
fn parse_clock(s: &str) -> Result<u64, String> {
    let parts: Vec<&str> = s.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err("a clock time is HH:MM or HH:MM:SS".into());
    }
    let num = |p: &str, what: &str| -> Result<u64, String> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 12 {
            return Err(format!("`{p}` is not a number of {what}"));
        }
        p.parse::<u64>()
            .map_err(|_| format!("`{p}` is not a number of {what}"))
    };
    let h = num(parts[0], "hours")?;
    let m = num(parts[1], "minutes")?;
    if m >= 60 {
        return Err(format!("minutes must be 00 to 59, not {m}"));
    }
    let mut ms = h * 3_600_000 + m * 60_000;
    if let Some(sec) = parts.get(2) {
        let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
        let s = num(whole, "seconds")?;
        if s >= 60 {
            return Err(format!("seconds must be 00 to 59, not {s}"));
        }
        ms += s * 1000;
        if !frac.is_empty() {
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("`{sec}` is not a number of seconds"));
            }
            let digits = &frac[..frac.len().min(3)];
            let f: u64 = digits.parse().unwrap_or(0);
            ms += f * 10u64.pow(3 - digits.len() as u32);
        }
    }
    Ok(ms)
}

/// A span: an optional `<days>d` and a Go duration (`10m`, `1h30m`, `1d`), or plain seconds.
fn parse_span(s: &str) -> Result<u64, String> {
    let (days, rest) = day_prefix(s)?;
    if rest.is_empty() {
        if days == 0 {
            return Err("empty".into());
        }
        return Ok(days);
    }
    let rest_ms = if rest.bytes().all(|b| b.is_ascii_digit() || b == b'.') && days == 0 {
        crate::units::parse_duration_ms(&format!("{rest}s"))
    } else {
        crate::units::parse_duration_ms(rest)
    }
    .map_err(|e| e.to_string())?;
    days.checked_add(rest_ms)
        .ok_or_else(|| "too large".to_string())
}

/// Parses `--at`: `HH:MM[:SS]` since the start (`02:14`), with a day prefix (`1d02:14`), a Go
/// duration since the start (`26h14m`, optionally with a day prefix: `1d2h`), seconds since
/// the start as the report files write them (`8040`, `345.015`), or an RFC 3339 instant
/// (needs the report's `start`). Returns simulated ms.
pub fn parse_time(input: &str, start: Option<DateTime<Utc>>) -> Result<u64, String> {
    let s = input.trim();
    let hint = "use HH:MM (02:14), DdHH:MM (1d02:14), a duration since the start (26h14m, 90s), \
                seconds since the start (8040) or an RFC 3339 instant (2024-01-01T02:14:00Z)";
    if s.is_empty() {
        return Err(format!("--at: empty; {hint}"));
    }
    if s.contains('T') || s.contains('t') {
        let t = DateTime::parse_from_rfc3339(s)
            .map_err(|e| format!("--at `{input}`: not an RFC 3339 instant ({e}); {hint}"))?
            .with_timezone(&Utc);
        let Some(start) = start else {
            return Err(format!(
                "--at `{input}`: this report does not record the instant of simulated time 0 \
                 (summary.json has no `start`; it was written by an older karpsim); give the \
                 time since the start instead, e.g. 02:14"
            ));
        };
        let d = t.signed_duration_since(start).num_milliseconds();
        if d < 0 {
            return Err(format!(
                "--at `{input}`: before the scenario's start {}",
                start.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ));
        }
        return Ok(d as u64);
    }
    let bad = |why: String| format!("--at `{input}`: {why}; {hint}");
    let (days, rest) = day_prefix(s).map_err(bad)?;
    if rest.contains(':') {
        let clock = parse_clock(rest).map_err(bad)?;
        return days
            .checked_add(clock)
            .ok_or_else(|| bad("too large".into()));
    }
    parse_span(s).map_err(|e| bad(format!("not a time ({e})")))
}

/// One parsed decision line.
#[derive(Debug, Clone)]
struct Dec {
    t: u64,
    v: Value,
}

impl Dec {
    fn kind(&self) -> &str {
        str_of(&self.v, "kind")
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn strs_of<'a>(v: &'a Value, k: &str) -> Vec<&'a str> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn f64_of(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

fn u64_of(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn secs_to_ms(s: f64) -> u64 {
    if s.is_finite() && s > 0.0 {
        (s * 1000.0).round() as u64
    } else {
        0
    }
}

/// The time of a decision line, read without parsing the line when it starts the way the
/// engine writes it (`{"time":<seconds>,`).
fn line_time(line: &str) -> Option<f64> {
    let rest = line.strip_prefix("{\"time\":")?;
    let end = rest.find([',', '}'])?;
    rest[..end].trim().parse::<f64>().ok()
}

fn money(x: f64) -> String {
    format!("${x:.4}/h")
}

/// A list of at most `n` names, then how many more.
fn names(list: &[&str], n: usize) -> String {
    let mut out = list.iter().take(n).copied().collect::<Vec<_>>().join(", ");
    if list.len() > n {
        let _ = write!(out, ", … (+{} more)", list.len() - n);
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One `nodes.csv` row.
#[derive(Debug, Clone, Default)]
struct NodeRow {
    nodepool: String,
    instance_type: String,
    zone: String,
    capacity_type: String,
    price: f64,
    launched_ms: u64,
    ready_ms: Option<u64>,
    terminated_ms: Option<u64>,
    reason: String,
}

impl NodeRow {
    fn brief(&self) -> String {
        format!(
            "{} {}, {}, {}, {}",
            self.nodepool,
            self.instance_type,
            self.zone,
            self.capacity_type,
            money(self.price)
        )
    }
}

/// What the report folder says about itself.
struct Header {
    name: String,
    seed: u64,
    end_ms: u64,
    start: Option<DateTime<Utc>>,
}

fn read_header(dir: &Path) -> Result<Header, String> {
    let path = dir.join("summary.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a karpsim summary.json ({e})", path.display()))?;
    let Some(secs) = f64_of(&v, "simulated_seconds") else {
        return Err(format!(
            "{}: not a karpsim summary.json (no `simulated_seconds`)",
            path.display()
        ));
    };
    let start = match v.get("start") {
        None | Some(Value::Null) => None,
        Some(s) => Some(
            s.as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| format!("{}: start: not an RFC 3339 instant", path.display()))?,
        ),
    };
    Ok(Header {
        name: str_of(&v, "name").to_string(),
        seed: u64_of(&v, "seed"),
        end_ms: secs_to_ms(secs),
        start,
    })
}

/// Fails unless `dir` is a report folder, naming what is wrong.
fn check_folder(dir: &Path) -> Result<(), String> {
    let meta =
        std::fs::metadata(dir).map_err(|e| format!("REPORT_DIR `{}`: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!(
            "REPORT_DIR `{}` is not a folder (give the folder `karpsim run` wrote)",
            dir.display()
        ));
    }
    for f in ["summary.json", "decisions.jsonl", "nodes.csv", "pods.csv"] {
        if dir.join(f).is_file() {
            continue;
        }
        if dir.join("comparison.md").is_file() {
            let mut runs: Vec<String> = std::fs::read_dir(dir)
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .filter(|e| e.path().join("decisions.jsonl").is_file())
                        .map(|e| e.path().display().to_string())
                        .collect()
                })
                .unwrap_or_default();
            runs.sort();
            return Err(format!(
                "REPORT_DIR `{}` is a `karpsim compare` folder; explain one of its runs: {}",
                dir.display(),
                runs.join(", ")
            ));
        }
        return Err(format!(
            "REPORT_DIR `{}` is not a karpsim report folder: {} is missing",
            dir.display(),
            dir.join(f).display()
        ));
    }
    Ok(())
}

/// The decisions near the window, streamed out of `decisions.jsonl`.
#[derive(Default)]
struct Decisions {
    /// In the window, in file order.
    window: Vec<Dec>,
    /// Before the window: provisioning passes and disruption commands (context).
    before: Vec<Dec>,
    /// After the window: launches, deletions and roll-backs that finish the window's decisions.
    after: Vec<Dec>,
    /// The last decision before the window and the first after it.
    nearest_before: Option<Dec>,
    nearest_after: Option<Dec>,
    /// Decisions in the window past the first [`MAX_WINDOW_DECISIONS`], counted by kind but
    /// not kept (so a huge `--window` still reads the file in bounded memory).
    not_kept: BTreeMap<String, usize>,
}

fn read_decisions(path: &Path, lo: u64, hi: u64) -> Result<Decisions, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let reader = BufReader::with_capacity(1 << 16, file);
    let mut d = Decisions::default();
    let mut last_before: Option<(usize, String)> = None;
    // NodeClaims created or disrupted in the window whose outcome comes later.
    let mut follow: BTreeSet<String> = BTreeSet::new();
    for (i, line) in reader.lines().enumerate() {
        let line_no = i + 1;
        let line = line.map_err(|e| format!("reading {}:{line_no}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parse = |line: &str| -> Result<Value, String> {
            serde_json::from_str(line)
                .map_err(|e| format!("{}:{line_no}: not a JSON decision ({e})", path.display()))
        };
        let secs = match line_time(&line) {
            Some(s) => s,
            None => f64_of(&parse(&line)?, "time").ok_or_else(|| {
                format!("{}:{line_no}: a decision without `time`", path.display())
            })?,
        };
        let t = secs_to_ms(secs);
        if t < lo {
            if t >= lo.saturating_sub(LOOKBEHIND_MS) {
                let dec = Dec {
                    t,
                    v: parse(&line)?,
                };
                if matches!(dec.kind(), "provisioning-pass" | "disruption") {
                    d.before.push(dec);
                }
            }
            last_before = Some((line_no, line));
            continue;
        }
        if t > hi {
            let past = t > hi.saturating_add(LOOKAHEAD_MS);
            if d.nearest_after.is_none() {
                d.nearest_after = Some(Dec {
                    t,
                    v: parse(&line)?,
                });
            }
            if past || follow.is_empty() {
                break;
            }
            let v = parse(&line)?;
            let touches = |k: &str| strs_of(&v, k).iter().any(|n| follow.contains(*n));
            let relevant = match str_of(&v, "kind") {
                "launch" | "launch-failed" | "nodeclaim-deleted" => {
                    follow.contains(str_of(&v, "nodeclaim"))
                }
                "disruption-rolled-back" => touches("nodes") || touches("replacements"),
                _ => false,
            };
            if relevant {
                if matches!(
                    str_of(&v, "kind"),
                    "launch" | "launch-failed" | "nodeclaim-deleted"
                ) {
                    follow.remove(str_of(&v, "nodeclaim"));
                }
                d.after.push(Dec { t, v });
            }
            continue;
        }
        let dec = Dec {
            t,
            v: parse(&line)?,
        };
        if d.window.len() >= MAX_WINDOW_DECISIONS {
            *d.not_kept.entry(dec.kind().to_string()).or_insert(0) += 1;
            continue;
        }
        // In the window: remember what its decisions leave to happen later.
        match dec.kind() {
            "provisioning-pass" => {
                follow.extend(
                    strs_of(&dec.v, "nodeclaims_created")
                        .iter()
                        .map(|s| s.to_string()),
                );
            }
            "disruption" => {
                for k in ["nodes", "replacement_nodeclaims"] {
                    follow.extend(strs_of(&dec.v, k).iter().map(|s| s.to_string()));
                }
                let r = str_of(&dec.v, "replacement_nodeclaim");
                if !r.is_empty() {
                    follow.insert(r.to_string());
                }
            }
            "launch" | "launch-failed" | "nodeclaim-deleted" => {
                follow.remove(str_of(&dec.v, "nodeclaim"));
            }
            _ => {}
        }
        d.window.push(dec);
    }
    if let Some((line_no, line)) = last_before {
        let v = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{line_no}: not a JSON decision ({e})", path.display()))?;
        let t = secs_to_ms(f64_of(&v, "time").unwrap_or(0.0));
        d.nearest_before = Some(Dec { t, v });
    }
    Ok(d)
}

/// Column positions of a CSV header, by name.
fn columns(path: &Path, headers: &csv::StringRecord, want: &[&str]) -> Result<Vec<usize>, String> {
    want.iter()
        .map(|w| {
            headers.iter().position(|h| h == *w).ok_or_else(|| {
                format!(
                    "{}: no `{w}` column (not a karpsim report file)",
                    path.display()
                )
            })
        })
        .collect()
}

fn csv_ms(s: &str) -> Option<u64> {
    if s.is_empty() {
        None
    } else {
        s.parse::<f64>().ok().map(secs_to_ms)
    }
}

/// Streams `nodes.csv`: the rows of `wanted` nodes and of nodes launched or terminated in
/// [lo, hi], and how many nodes were alive at `lo` and at `hi`.
fn read_nodes(
    path: &Path,
    wanted: &BTreeSet<String>,
    lo: u64,
    hi: u64,
) -> Result<(BTreeMap<String, NodeRow>, usize, usize), String> {
    let mut r =
        csv::Reader::from_path(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let h = r
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    // Every column but `cost`, at the indexes the report writes them.
    let c = columns(path, &h, &crate::report::NODES_COLUMNS[..10])?;
    let mut out = BTreeMap::new();
    let (mut alive_lo, mut alive_hi) = (0, 0);
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| format!("{}:{}: {e}", path.display(), i + 2))?;
        let get = |k: usize| rec.get(c[k]).unwrap_or("");
        let launched = csv_ms(get(6)).unwrap_or(0);
        let terminated = csv_ms(get(8));
        let alive = |t: u64| launched <= t && terminated.is_none_or(|x| x > t);
        alive_lo += usize::from(alive(lo));
        alive_hi += usize::from(alive(hi));
        let in_window = |t: u64| lo <= t && t <= hi;
        let name = get(0);
        if wanted.contains(name) || in_window(launched) || terminated.is_some_and(in_window) {
            out.insert(
                name.to_string(),
                NodeRow {
                    nodepool: get(1).to_string(),
                    instance_type: get(2).to_string(),
                    zone: get(3).to_string(),
                    capacity_type: get(4).to_string(),
                    price: get(5).parse().unwrap_or(0.0),
                    launched_ms: launched,
                    ready_ms: csv_ms(get(7)),
                    terminated_ms: terminated,
                    reason: get(9).to_string(),
                },
            );
        }
    }
    Ok((out, alive_lo, alive_hi))
}

/// What `pods.csv` says about the window.
#[derive(Default)]
struct PodFacts {
    /// Namespace of each wanted pod.
    namespace: BTreeMap<String, String>,
    /// Pods created in the window, by namespace.
    arrived: BTreeMap<String, usize>,
    /// Pods created by `at` and not yet bound for the first time at `at`.
    waiting_at: usize,
}

fn read_pods(
    path: &Path,
    wanted: &BTreeSet<String>,
    lo: u64,
    hi: u64,
    at: u64,
) -> Result<PodFacts, String> {
    let mut r =
        csv::Reader::from_path(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let h = r
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let c = columns(path, &h, &["pod", "namespace", "arrival", "scheduled_at"])?;
    let mut f = PodFacts::default();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| format!("{}:{}: {e}", path.display(), i + 2))?;
        let get = |k: usize| rec.get(c[k]).unwrap_or("");
        let arrival = csv_ms(get(2)).unwrap_or(0);
        let scheduled = csv_ms(get(3));
        if lo <= arrival && arrival <= hi {
            *f.arrived.entry(get(1).to_string()).or_insert(0) += 1;
        }
        if arrival <= at && scheduled.is_none_or(|s| s > at) {
            f.waiting_at += 1;
        }
        if wanted.contains(get(0)) {
            f.namespace.insert(get(0).to_string(), get(1).to_string());
        }
    }
    Ok(f)
}

/// Builds the explanation (Markdown) of report folder `dir` around `at` (`--at`), over a
/// window `window` (`--window`) wide centred on it.
pub fn explain(dir: &Path, at: &str, window: &str) -> Result<String, String> {
    check_folder(dir)?;
    let head = read_header(dir)?;
    let at_ms = parse_time(at, head.start)?;
    if at_ms > head.end_ms {
        return Err(format!(
            "--at `{at}`: {} is after the end of the run ({} simulated)",
            format_clock(at_ms),
            format_clock(head.end_ms)
        ));
    }
    let width = parse_span(window.trim())
        .map_err(|e| format!("--window `{window}`: not a duration such as 10m, 1h or 90s ({e})"))?;
    // The window never reaches past the run (a huge --window is the whole run).
    let lo = at_ms.saturating_sub(width / 2);
    let hi = at_ms.saturating_add(width - width / 2).min(head.end_ms);
    let decisions = read_decisions(&dir.join("decisions.jsonl"), lo, hi)?;
    // Every node and pod the decisions name.
    let mut node_names: BTreeSet<String> = BTreeSet::new();
    let mut pod_names: BTreeSet<String> = BTreeSet::new();
    for d in decisions
        .window
        .iter()
        .chain(&decisions.before)
        .chain(&decisions.after)
    {
        for k in ["nodeclaim", "replacement_nodeclaim", "replacement"] {
            let n = str_of(&d.v, k);
            if !n.is_empty() {
                node_names.insert(n.to_string());
            }
        }
        for k in [
            "nodes",
            "replacement_nodeclaims",
            "replacements",
            "candidates",
            "dropped_at_validation",
        ] {
            node_names.extend(strs_of(&d.v, k).iter().map(|s| s.to_string()));
        }
        if d.kind() == "launch" && lo <= d.t {
            pod_names.extend(strs_of(&d.v, "pods").iter().map(|s| s.to_string()));
        }
    }
    let (nodes, alive_lo, alive_hi) = read_nodes(&dir.join("nodes.csv"), &node_names, lo, hi)?;
    let pods = read_pods(&dir.join("pods.csv"), &pod_names, lo, hi, at_ms)?;
    let view = View {
        dir,
        head: &head,
        at_text: at,
        window_text: window,
        at: at_ms,
        lo,
        hi,
        d: &decisions,
        nodes: &nodes,
        pods: &pods,
        alive: (alive_lo, alive_hi),
    };
    Ok(view.render())
}

/// Everything the view is drawn from.
struct View<'a> {
    dir: &'a Path,
    head: &'a Header,
    at_text: &'a str,
    window_text: &'a str,
    at: u64,
    lo: u64,
    hi: u64,
    d: &'a Decisions,
    nodes: &'a BTreeMap<String, NodeRow>,
    pods: &'a PodFacts,
    alive: (usize, usize),
}

impl View<'_> {
    fn when(&self, ms: u64) -> String {
        format!("{} (t={} s)", format_clock(ms), crate::report::secs_str(ms))
    }

    fn instant(&self, ms: u64) -> Option<String> {
        let start = self.head.start?;
        let d = chrono::Duration::try_milliseconds(i64::try_from(ms).ok()?)?;
        start
            .checked_add_signed(d)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }

    fn node(&self, name: &str) -> Option<&NodeRow> {
        self.nodes.get(name)
    }

    /// `name (pool type, zone, capacity, price)` from nodes.csv.
    fn node_desc(&self, name: &str) -> String {
        match self.node(name) {
            Some(n) => format!("**{name}** ({})", n.brief()),
            None => format!("**{name}**"),
        }
    }

    /// What happened to node `name` later: Ready, terminated and why.
    fn node_fate(&self, name: &str) -> String {
        let Some(n) = self.node(name) else {
            return "not in nodes.csv".into();
        };
        let mut out = String::new();
        match n.ready_ms {
            Some(r) => {
                let _ = write!(out, "Ready at {}", format_clock(r));
            }
            None => out.push_str("never Ready"),
        }
        match n.terminated_ms {
            Some(t) => {
                let _ = write!(out, ", terminated at {} ({})", format_clock(t), n.reason);
            }
            None => out.push_str(", still running at the end of the run"),
        }
        out
    }

    /// `namespace web` when all pods share one, else `namespaces api ×1, web ×3`.
    fn namespaces(&self, pods: &[&str]) -> String {
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for p in pods {
            let ns = self
                .pods
                .namespace
                .get(*p)
                .map(String::as_str)
                .unwrap_or("?");
            *by.entry(ns).or_insert(0) += 1;
        }
        if by.len() == 1 {
            return format!("namespace {}", by.keys().next().copied().unwrap_or("?"));
        }
        let list: Vec<String> = by.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
        format!("namespaces {}", list.join(", "))
    }

    fn render(&self) -> String {
        let mut o = String::new();
        self.header(&mut o);
        if !self.in_short(&mut o) {
            return o;
        }
        self.scale_up(&mut o);
        self.scale_down(&mut o);
        self.not_disrupted(&mut o);
        self.interruptions(&mut o);
        self.changes(&mut o);
        self.terminations(&mut o);
        self.other_kinds(&mut o);
        o
    }

    /// The title, the report and the window.
    fn header(&self, o: &mut String) {
        self.header_lines(o);
        if !self.d.not_kept.is_empty() {
            let n: usize = self.d.not_kept.values().sum();
            let last = self.d.window.last().map_or(self.lo, |x| x.t);
            let kinds: Vec<String> = self
                .d
                .not_kept
                .iter()
                .map(|(k, n)| format!("`{k}` ×{n}"))
                .collect();
            let _ = writeln!(
                o,
                "**Note:** the window holds more than {MAX_WINDOW_DECISIONS} decisions; this view \
                 covers those up to {} and only counts the {n} after it ({}). Narrow `--window` \
                 to see them.\n",
                format_clock(last),
                kinds.join(", ")
            );
        }
    }

    fn header_lines(&self, o: &mut String) {
        let name = if self.head.name.is_empty() {
            self.dir.display().to_string()
        } else {
            self.head.name.clone()
        };
        let _ = writeln!(
            o,
            "# karpsim explain: {name} around {}\n",
            format_clock(self.at)
        );
        let _ = write!(
            o,
            "Report `{}` (seed {}, {} simulated",
            self.dir.display(),
            self.head.seed,
            format_clock(self.head.end_ms)
        );
        if let Some(s) = self.instant(0) {
            let _ = write!(o, "; simulated time 0 is {s}");
        }
        let _ = writeln!(o, ").");
        let _ = write!(
            o,
            "Window {} – {} (t={} s – {} s",
            format_clock(self.lo),
            format_clock(self.hi),
            crate::report::secs_str(self.lo),
            crate::report::secs_str(self.hi)
        );
        if let (Some(a), Some(b)) = (self.instant(self.lo), self.instant(self.hi)) {
            let _ = write!(o, "; {a} – {b}");
        }
        let _ = writeln!(
            o,
            "): `--window {}` around `--at {}`.\n",
            self.window_text.trim(),
            self.at_text.trim()
        );
    }

    /// The few lines that answer the question; `false` (after saying so) when nothing changed.
    fn in_short(&self, o: &mut String) -> bool {
        let d = self.d;
        let win = &self.d.window;
        let for_pods: Vec<&Dec> = self
            .of_kind("launch")
            .into_iter()
            .filter(|l| self.replacement_of(str_of(&l.v, "nodeclaim")).is_none())
            .collect();
        let cmds = self.of_kind("disruption");
        // In short.
        let _ = writeln!(o, "## In short\n");
        let mut any = false;
        if !for_pods.is_empty() {
            any = true;
            let pods: usize = for_pods.iter().map(|l| strs_of(&l.v, "pods").len()).sum();
            let mut by: BTreeMap<(String, String), usize> = BTreeMap::new();
            let mut rate = 0.0;
            for l in &for_pods {
                let c = l.v.get("chosen").cloned().unwrap_or(Value::Null);
                *by.entry((
                    str_of(&l.v, "nodepool").to_string(),
                    str_of(&c, "instance_type").to_string(),
                ))
                .or_insert(0) += 1;
                rate += f64_of(&c, "price_per_hour").unwrap_or(0.0);
            }
            // NodePool `a`: 2× m5.large, 1× m5.xlarge; NodePool `b`: ...
            let mut pools: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for ((np, it), n) in &by {
                pools.entry(np).or_default().push(format!("{n}× {it}"));
            }
            let mix: Vec<String> = pools
                .iter()
                .map(|(np, types)| format!("NodePool `{np}`: {}", types.join(", ")))
                .collect();
            let _ = writeln!(
                o,
                "- **Scale-up:** {} launched for {} ({}), adding {}.",
                plural(for_pods.len(), "NodeClaim", "NodeClaims"),
                plural(pods, "pending pod", "pending pods"),
                mix.join("; "),
                money(rate)
            );
        }
        if !cmds.is_empty() {
            any = true;
            let mut by: BTreeMap<String, usize> = BTreeMap::new();
            let mut nodes = 0;
            // Drift replaces nodes without a price check: only commands that record a saving
            // count towards it.
            let mut saving: Option<f64> = None;
            for c in &cmds {
                let n = strs_of(&c.v, "nodes").len();
                nodes += n;
                *by.entry(method_name(str_of(&c.v, "method"))).or_insert(0) += n;
                if let Some(x) = f64_of(&c.v, "savings_per_hour")
                    .or_else(|| f64_of(&c.v, "estimated_savings_per_hour"))
                {
                    *saving.get_or_insert(0.0) += x;
                }
            }
            let mix: Vec<String> = by.iter().map(|(m, n)| format!("{m}: {n}")).collect();
            let _ = writeln!(
                o,
                "- **Scale-down:** {} started, taking out {} ({}){}.",
                plural(cmds.len(), "disruption command", "disruption commands"),
                plural(nodes, "node", "nodes"),
                mix.join(", "),
                saving
                    .map(|x| format!(", saving about {}", money(x)))
                    .unwrap_or_default()
            );
        }
        let skipped = win
            .iter()
            .filter(|x| {
                matches!(
                    x.kind(),
                    "disruption-blocked"
                        | "disruption-validation-failed"
                        | "disruption-rolled-back"
                )
            })
            .count();
        if skipped > 0 {
            any = true;
            let _ = writeln!(
                o,
                "- **Not disrupted:** {} blocked, failed validation or rolled back (see below).",
                plural(skipped, "disruption", "disruptions")
            );
        }
        let terminated = self.terminated();
        if !terminated.is_empty() {
            any = true;
            let mut by: BTreeMap<&str, usize> = BTreeMap::new();
            for (_, n) in &terminated {
                *by.entry(n.reason.as_str()).or_insert(0) += 1;
            }
            let mix: Vec<String> = by.iter().map(|(r, n)| format!("{r} {n}")).collect();
            let _ = writeln!(
                o,
                "- **Nodes terminated:** {} ({}).",
                terminated.len(),
                mix.join(", ")
            );
        }
        let spot = win
            .iter()
            .filter(|x| x.kind() == "spot-interruption")
            .count();
        if spot > 0 {
            any = true;
            let _ = writeln!(
                o,
                "- **Spot:** {} (2-minute notices).",
                plural(spot, "interruption", "interruptions")
            );
        }
        let passes = self.of_kind("provisioning-pass");
        let failed: u64 = passes.iter().map(|p| u64_of(&p.v, "pods_failed")).sum();
        if failed > 0 {
            let with = passes
                .iter()
                .filter(|p| u64_of(&p.v, "pods_failed") > 0)
                .count();
            let most = passes
                .iter()
                .map(|p| u64_of(&p.v, "pods_failed"))
                .max()
                .unwrap_or(0);
            let _ = writeln!(
                o,
                "- **Could not schedule:** pods failed in {} (at most {} at once; reasons below).",
                plural(with, "provisioning pass", "provisioning passes"),
                most
            );
        }
        let launch_failures =
            self.of_kind("launch-failed").len() + self.of_kind("nodeclaim-create-failed").len();
        if launch_failures > 0 {
            let _ = writeln!(
                o,
                "- **Launch failures:** {} (below).",
                plural(launch_failures, "NodeClaim", "NodeClaims")
            );
        }
        let skipped_passes = self.of_kind("provisioning-skipped").len();
        if skipped_passes > 0 {
            let _ = writeln!(
                o,
                "- **Provisioning skipped:** {} (below).",
                plural(skipped_passes, "time", "times")
            );
        }
        let changes = self.of_kind("change").len();
        if changes > 0 {
            let _ = writeln!(
                o,
                "- **Scenario changes:** {} took effect (below).",
                plural(changes, "entry", "entries")
            );
        }
        // Any decision at all is worth showing, even one that changed nothing.
        any |= !win.is_empty();
        let _ = writeln!(
            o,
            "- **Nodes alive:** {} at {} → {} at {}.",
            self.alive.0,
            format_clock(self.lo),
            self.alive.1,
            format_clock(self.hi)
        );
        let arrived: usize = self.pods.arrived.values().sum();
        let by_ns: Vec<String> = self
            .pods
            .arrived
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            o,
            "- **Workload:** {} created in the window{}; {} waiting for their first node at {}.",
            plural(arrived, "pod", "pods"),
            if by_ns.is_empty() {
                String::new()
            } else {
                format!(" ({})", by_ns.join(", "))
            },
            self.pods.waiting_at,
            format_clock(self.at)
        );
        if !any {
            let _ = writeln!(
                o,
                "\nNo provisioning or disruption decision in this window: the cluster did not change."
            );
            for (label, x) in [("before", &d.nearest_before), ("after", &d.nearest_after)] {
                if let Some(x) = x {
                    let _ = writeln!(
                        o,
                        "- Nearest decision {label}: `{}` at {}.",
                        x.kind(),
                        self.when(x.t)
                    );
                }
            }
            let _ = writeln!(
                o,
                "\nTry a wider `--window` or another `--at`; every decision is in decisions.jsonl."
            );
            return false;
        }
        true
    }

    /// Provisioning passes with the launches they caused, and launches and failures on their own.
    fn scale_up(&self, o: &mut String) {
        let d = self.d;
        let win = &self.d.window;
        let passes = self.of_kind("provisioning-pass");
        // A pass that created nothing and failed the same pods as another (kube-scheduler's
        // retries of an unschedulable pod) is shown once, with how often it repeated.
        let fruitless_key = |x: &Dec| -> Option<String> {
            (x.kind() == "provisioning-pass" && strs_of(&x.v, "nodeclaims_created").is_empty())
                .then(|| {
                    format!(
                        "{}|{}|{}",
                        u64_of(&x.v, "pending_pods"),
                        u64_of(&x.v, "nominated_to_existing"),
                        x.v.get("failures")
                            .map(Value::to_string)
                            .unwrap_or_default()
                    )
                })
        };
        let mut repeats: BTreeMap<String, (usize, u64)> = BTreeMap::new();
        for p in &passes {
            if let Some(k) = fruitless_key(p) {
                let e = repeats.entry(k).or_insert((0, p.t));
                e.0 += 1;
                e.1 = p.t;
            }
        }
        let mut repeated_shown: BTreeSet<String> = BTreeSet::new();
        let ups: Vec<&Dec> = win
            .iter()
            .filter(|x| {
                matches!(
                    x.kind(),
                    "provisioning-pass"
                        | "launch"
                        | "launch-failed"
                        | "nodeclaim-create-failed"
                        | "provisioning-skipped"
                )
            })
            .collect();
        if !ups.is_empty() {
            let mark = o.len();
            section(o, "Scale-up: provisioning");
            let mut shown = 0usize;
            let mut rest = 0usize;
            let mut skips: BTreeMap<&str, (usize, u64, u64)> = BTreeMap::new();
            let mut listed: BTreeSet<&str> = BTreeSet::new();
            for x in &ups {
                let nc = str_of(&x.v, "nodeclaim");
                match x.kind() {
                    "provisioning-skipped" => {
                        let e = skips.entry(str_of(&x.v, "reason")).or_insert((0, x.t, x.t));
                        e.0 += 1;
                        e.2 = x.t;
                        continue;
                    }
                    // Launches are shown under their pass; replacements under their command.
                    "launch" | "launch-failed"
                        if listed.contains(nc)
                            || self.replacement_of(nc).is_some()
                            || passes
                                .iter()
                                .any(|p| strs_of(&p.v, "nodeclaims_created").contains(&nc)) =>
                    {
                        continue;
                    }
                    _ => {}
                }
                let key = fruitless_key(x);
                if let Some(k) = &key
                    && !repeated_shown.insert(k.clone())
                {
                    continue;
                }
                if shown >= MAX_ITEMS {
                    rest += 1;
                    continue;
                }
                shown += 1;
                match x.kind() {
                    "provisioning-pass" => {
                        let created = strs_of(&x.v, "nodeclaims_created");
                        let _ = write!(o, "### {} provisioning pass", self.when(x.t));
                        match key.and_then(|k| repeats.get(&k)) {
                            Some((n, last)) if *n > 1 => {
                                let _ = writeln!(
                                    o,
                                    " (and {} more like it, the last at {})\n",
                                    n - 1,
                                    format_clock(*last)
                                );
                            }
                            _ => o.push_str("\n\n"),
                        }
                        let _ = writeln!(
                            o,
                            "{} after the batch window: {} nominated to existing or launching nodes, {} created{}, {} could not be scheduled.\n",
                            plural(
                                u64_of(&x.v, "pending_pods") as usize,
                                "pod was pending",
                                "pods were pending"
                            ),
                            u64_of(&x.v, "nominated_to_existing"),
                            plural(created.len(), "NodeClaim", "NodeClaims"),
                            if created.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", names(&created, 10))
                            },
                            u64_of(&x.v, "pods_failed"),
                        );
                        if let Some(f) = x.v.get("failures").and_then(Value::as_array)
                            && !f.is_empty()
                        {
                            for e in f {
                                let _ = writeln!(
                                    o,
                                    "- could not schedule `{}`: {}",
                                    str_of(e, "pod"),
                                    str_of(e, "error")
                                );
                            }
                            let more =
                                (u64_of(&x.v, "pods_failed") as usize).saturating_sub(f.len());
                            if more > 0 {
                                let _ = writeln!(
                                    o,
                                    "- … and {more} more pods that could not be scheduled"
                                );
                            }
                        }
                        for (k, nc) in created.iter().copied().enumerate() {
                            listed.insert(nc);
                            if k == MAX_LAUNCHES {
                                let _ = writeln!(
                                    o,
                                    "- … and {} more NodeClaims from this pass",
                                    created.len() - MAX_LAUNCHES
                                );
                            }
                            if k >= MAX_LAUNCHES {
                                continue;
                            }
                            match self.find_launch(nc) {
                                Some(l) => self.launch_item(o, l, "pending pod", "pending pods"),
                                None => {
                                    let failed = d.window.iter().chain(&d.after).find(|f| {
                                        f.kind() == "launch-failed"
                                            && str_of(&f.v, "nodeclaim") == nc
                                    });
                                    match failed {
                                        Some(f) => self.launch_failed_item(o, f),
                                        None => {
                                            let _ = writeln!(o, "- **{nc}**: no launch recorded");
                                        }
                                    }
                                }
                            }
                        }
                        o.push('\n');
                    }
                    "launch" => {
                        let _ = write!(o, "### {} launch", self.when(x.t));
                        match self.pass_of(nc) {
                            Some(p) => {
                                let _ = writeln!(
                                    o,
                                    " (from the provisioning pass at {}, before the window)\n",
                                    format_clock(p.t)
                                );
                            }
                            None => {
                                let _ =
                                    writeln!(o, " (its provisioning pass was before the window)\n");
                            }
                        }
                        self.launch_item(o, x, "pending pod", "pending pods");
                        o.push('\n');
                    }
                    "launch-failed" => {
                        let _ = writeln!(o, "### {} launch failed\n", self.when(x.t));
                        self.launch_failed_item(o, x);
                        o.push('\n');
                    }
                    "nodeclaim-create-failed" => {
                        let pods = strs_of(&x.v, "pods");
                        let _ = writeln!(
                            o,
                            "### {} NodeClaim not created\n\nNodePool `{}`: {}; {} stay pending: {}.\n",
                            self.when(x.t),
                            str_of(&x.v, "nodepool"),
                            str_of(&x.v, "reason"),
                            plural(pods.len(), "pod", "pods"),
                            names(&pods, MAX_PODS)
                        );
                    }
                    _ => {}
                }
            }
            if rest > 0 {
                let _ = writeln!(
                    o,
                    "… and {rest} more provisioning decisions in the window (narrow `--window` to see them).\n"
                );
            }
            if shown == 0 && rest == 0 && skips.is_empty() {
                // Every launch belongs to a disruption command, shown below.
                o.truncate(mark);
            }
            for (reason, (n, a, b)) in skips {
                let _ = writeln!(
                    o,
                    "Provisioning skipped {} between {} and {}: {reason}.\n",
                    plural(n, "time", "times"),
                    format_clock(a),
                    format_clock(b)
                );
            }
        }
    }

    /// Disruption commands: method, nodes removed and why, replacements and savings.
    fn scale_down(&self, o: &mut String) {
        let d = self.d;
        let cmds = self.of_kind("disruption");
        let deleted = self.of_kind("nodeclaim-deleted");
        // Scale-down.
        let del_in_cmds: BTreeSet<&str> =
            cmds.iter().flat_map(|c| strs_of(&c.v, "nodes")).collect();
        let late_deletes: Vec<&&Dec> = deleted
            .iter()
            .filter(|x| {
                let nc = str_of(&x.v, "nodeclaim");
                !del_in_cmds.contains(nc)
                    && d.before
                        .iter()
                        .any(|c| c.kind() == "disruption" && strs_of(&c.v, "nodes").contains(&nc))
            })
            .collect();
        if !cmds.is_empty() || !late_deletes.is_empty() {
            section(o, "Scale-down: disruption");
            for (k, c) in cmds.iter().enumerate() {
                if k >= MAX_ITEMS {
                    let _ = writeln!(
                        o,
                        "… and {} more disruption commands (narrow `--window` to see them).\n",
                        cmds.len() - MAX_ITEMS
                    );
                    break;
                }
                self.command_item(o, c);
            }
            for x in late_deletes {
                let nc = str_of(&x.v, "nodeclaim");
                let pods = strs_of(&x.v, "pods");
                let origin = self
                    .cmd_of_deleted(nc)
                    .map(|c| {
                        format!(
                            "{} decided at {}",
                            method_name(str_of(&c.v, "method")),
                            format_clock(c.t)
                        )
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    o,
                    "### {} {} deleted ({}): completes the {origin}\n\n{}; {} moved: {}.\n",
                    self.when(x.t),
                    nc,
                    str_of(&x.v, "reason"),
                    self.node_desc(nc),
                    plural(pods.len(), "pod", "pods"),
                    names(&pods, MAX_PODS)
                );
            }
        }
    }

    /// Disruptions that were blocked, failed validation or were rolled back.
    fn not_disrupted(&self, o: &mut String) {
        let win = &self.d.window;
        let cmds = self.of_kind("disruption");
        // Skipped candidates.
        let skips: Vec<&Dec> = win
            .iter()
            .filter(|x| {
                matches!(
                    x.kind(),
                    "disruption-blocked"
                        | "disruption-validation-failed"
                        | "disruption-rolled-back"
                )
            })
            .collect();
        let dropped: Vec<&Dec> = cmds
            .iter()
            .copied()
            .filter(|c| !strs_of(&c.v, "dropped_at_validation").is_empty())
            .collect();
        if !skips.is_empty() || !dropped.is_empty() {
            section(o, "Candidates not disrupted");
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            let mut lines = Vec::new();
            for x in &skips {
                let nodes: Vec<&str> = strs_of(&x.v, "nodes")
                    .into_iter()
                    .chain(strs_of(&x.v, "candidates"))
                    .collect();
                let what = match x.kind() {
                    "disruption-blocked" => "blocked",
                    "disruption-validation-failed" => "failed validation 15 s after the decision",
                    _ => "rolled back",
                };
                let method = str_of(&x.v, "method");
                let line = format!(
                    "{}{}: {what}: {}{}",
                    if method.is_empty() {
                        "consolidation".to_string()
                    } else {
                        method_name(method)
                    },
                    if nodes.is_empty() {
                        String::new()
                    } else {
                        format!(" of {}", names(&nodes, MAX_PODS))
                    },
                    str_of(&x.v, "reason"),
                    match (x.kind(), str_of(&x.v, "replacement")) {
                        ("disruption-rolled-back", r) if !r.is_empty() =>
                            format!(" (replacement {r})"),
                        _ => String::new(),
                    }
                );
                // Repeated identical lines (a budget blocking every poll) are counted.
                if let Some(n) = seen.get_mut(&line) {
                    *n += 1;
                    continue;
                }
                seen.insert(line.clone(), 1);
                lines.push((x.t, line));
            }
            for c in &dropped {
                let line = format!(
                    "emptiness candidates {}: dropped at validation 15 s later (no longer empty, consolidatable or within budget)",
                    names(&strs_of(&c.v, "dropped_at_validation"), MAX_PODS)
                );
                seen.insert(line.clone(), 1);
                lines.push((c.t, line));
            }
            lines.sort_by_key(|a| a.0);
            for (k, (t, line)) in lines.iter().enumerate() {
                if k >= MAX_ITEMS {
                    let _ = writeln!(o, "- … and {} more", lines.len() - MAX_ITEMS);
                    break;
                }
                let n = seen.get(line).copied().unwrap_or(1);
                let _ = writeln!(
                    o,
                    "- {}: {line}{}",
                    format_clock(*t),
                    if n > 1 {
                        format!(" (×{n} in the window, first shown)")
                    } else {
                        String::new()
                    }
                );
            }
        }
    }

    /// Spot events and deletions no disruption command explains (expiration, interruption).
    fn interruptions(&self, o: &mut String) {
        let win = &self.d.window;
        let deleted = self.of_kind("nodeclaim-deleted");
        // Interruptions, expirations and other terminations.
        let spot_events: Vec<&Dec> = win
            .iter()
            .filter(|x| {
                matches!(
                    x.kind(),
                    "spot-interruption"
                        | "spot-reclaimed"
                        | "spot-reclaim-event"
                        | "spot-rebalance-recommendation"
                )
            })
            .collect();
        let other_deletes: Vec<&&Dec> = deleted
            .iter()
            .filter(|x| {
                let nc = str_of(&x.v, "nodeclaim");
                self.cmd_of_deleted(nc).is_none()
            })
            .collect();
        if !spot_events.is_empty() || !other_deletes.is_empty() {
            section(o, "Interruptions, expirations and other deletions");
            let mut items: Vec<(u64, String)> = Vec::new();
            for x in &spot_events {
                let nc = str_of(&x.v, "nodeclaim");
                let line = match x.kind() {
                    "spot-interruption" => format!(
                        "Spot interruption notice for {}: deleted now, reclaimed by EC2 at {}; {} to move",
                        self.node_desc(nc),
                        format_clock(secs_to_ms(f64_of(&x.v, "reclaimed_at").unwrap_or(0.0))),
                        plural(strs_of(&x.v, "pods").len(), "pod", "pods")
                    ),
                    "spot-reclaimed" => format!(
                        "EC2 reclaimed {}; {} killed",
                        nc,
                        plural(strs_of(&x.v, "pods_killed").len(), "pod", "pods")
                    ),
                    "spot-reclaim-event" => format!(
                        "Spot reclaim event in pool {}/{}: takes {}",
                        str_of(&x.v, "instance_type"),
                        str_of(&x.v, "zone"),
                        names(&strs_of(&x.v, "nodes"), MAX_PODS)
                    ),
                    _ => format!("rebalance recommendation for {nc} (no action)"),
                };
                items.push((x.t, line));
            }
            for x in &other_deletes {
                let nc = str_of(&x.v, "nodeclaim");
                if str_of(&x.v, "reason") == "interrupted" {
                    continue; // told by its spot-interruption line
                }
                let pods = strs_of(&x.v, "pods");
                items.push((
                    x.t,
                    format!(
                        "{} deleted: {}; {} to move: {}",
                        self.node_desc(nc),
                        str_of(&x.v, "reason"),
                        plural(pods.len(), "pod", "pods"),
                        names(&pods, MAX_PODS)
                    ),
                ));
            }
            items.sort_by_key(|a| a.0);
            for (k, (t, line)) in items.iter().enumerate() {
                if k >= MAX_ITEMS {
                    let _ = writeln!(o, "- … and {} more", items.len() - MAX_ITEMS);
                    break;
                }
                let _ = writeln!(o, "- {}: {line}", format_clock(*t));
            }
        }
    }

    /// `changes` entries that took effect.
    fn changes(&self, o: &mut String) {
        let win = &self.d.window;
        // Scenario changes.
        let changes: Vec<&Dec> = win.iter().filter(|x| x.kind() == "change").collect();
        if !changes.is_empty() {
            section(o, "Scenario changes");
            for x in changes {
                let _ = writeln!(
                    o,
                    "- {}: `changes[{}]` took effect; {} drifted",
                    format_clock(x.t),
                    u64_of(&x.v, "index"),
                    plural(u64_of(&x.v, "drifted") as usize, "node", "nodes")
                );
            }
        }
    }

    /// Every node terminated in the window, from nodes.csv.
    fn terminations(&self, o: &mut String) {
        let terminated = self.terminated();
        // Terminations from nodes.csv.
        if !terminated.is_empty() {
            section(o, "Nodes terminated in the window (nodes.csv)");
            let _ = writeln!(
                o,
                "| node | nodepool | instance type | zone | capacity type | $/h | launched | terminated | reason |"
            );
            let _ = writeln!(o, "|---|---|---|---|---|---:|---|---|---|");
            for (k, (name, n)) in terminated.iter().enumerate() {
                if k >= MAX_ITEMS {
                    let _ = writeln!(o, "\n… and {} more.", terminated.len() - MAX_ITEMS);
                    break;
                }
                let _ = writeln!(
                    o,
                    "| {name} | {} | {} | {} | {} | {:.4} | {} | {} | {} |",
                    n.nodepool,
                    n.instance_type,
                    n.zone,
                    n.capacity_type,
                    n.price,
                    format_clock(n.launched_ms),
                    n.terminated_ms.map(format_clock).unwrap_or_default(),
                    n.reason
                );
            }
        }
    }

    /// Kinds this view does not know (newer engines), counted so nothing is hidden.
    fn other_kinds(&self, o: &mut String) {
        let win = &self.d.window;
        // Kinds this view does not know (newer engines), counted so nothing is hidden.
        let known = [
            "provisioning-pass",
            "launch",
            "launch-failed",
            "nodeclaim-create-failed",
            "provisioning-skipped",
            "disruption",
            "disruption-blocked",
            "disruption-validation-failed",
            "disruption-rolled-back",
            "nodeclaim-deleted",
            "spot-interruption",
            "spot-reclaimed",
            "spot-reclaim-event",
            "spot-rebalance-recommendation",
            "change",
        ];
        let mut other: BTreeMap<&str, usize> = BTreeMap::new();
        for x in win {
            if !known.contains(&x.kind()) {
                *other.entry(x.kind()).or_insert(0) += 1;
            }
        }
        if !other.is_empty() {
            let list: Vec<String> = other.iter().map(|(k, n)| format!("`{k}` ×{n}")).collect();
            let _ = writeln!(o, "\nOther decisions in the window: {}.", list.join(", "));
        }
    }

    /// The disruption commands before and in the window.
    fn commands(&self) -> impl Iterator<Item = &Dec> {
        self.d
            .before
            .iter()
            .chain(&self.d.window)
            .filter(|x| x.kind() == "disruption")
    }

    /// The disruption command that NodeClaim `nc` replaces nodes for.
    fn replacement_of(&self, nc: &str) -> Option<&Dec> {
        self.commands().find(|c| {
            str_of(&c.v, "replacement_nodeclaim") == nc
                || strs_of(&c.v, "replacement_nodeclaims").contains(&nc)
        })
    }

    /// The provisioning pass (before or in the window) that created NodeClaim `nc`.
    fn pass_of(&self, nc: &str) -> Option<&Dec> {
        self.d
            .before
            .iter()
            .chain(&self.d.window)
            .filter(|x| x.kind() == "provisioning-pass")
            .find(|p| strs_of(&p.v, "nodeclaims_created").contains(&nc))
    }

    /// The last disruption command that took out node `nc`.
    fn cmd_of_deleted(&self, nc: &str) -> Option<&Dec> {
        self.commands()
            .filter(|c| strs_of(&c.v, "nodes").contains(&nc))
            .last()
    }

    /// The window's decisions of one kind.
    fn of_kind(&self, kind: &str) -> Vec<&Dec> {
        self.d.window.iter().filter(|x| x.kind() == kind).collect()
    }

    /// Nodes terminated in the window (nodes.csv), in time order.
    fn terminated(&self) -> Vec<(&String, &NodeRow)> {
        let mut t: Vec<(&String, &NodeRow)> = self
            .nodes
            .iter()
            .filter(|(_, n)| {
                n.terminated_ms
                    .is_some_and(|t| self.lo <= t && t <= self.hi)
            })
            .collect();
        t.sort_by_key(|(name, n)| (n.terminated_ms, (*name).clone()));
        t
    }

    /// A launch: the offering chosen and the pods it is for (`one`/`many`: what they are).
    fn launch_item(&self, o: &mut String, l: &Dec, one: &str, many: &str) {
        let nc = str_of(&l.v, "nodeclaim");
        let c = l.v.get("chosen").cloned().unwrap_or(Value::Null);
        let pods = strs_of(&l.v, "pods");
        let _ = writeln!(
            o,
            "- **{nc}** launched at {}: NodePool `{}` → **{}** in {}, {}, {}",
            format_clock(l.t),
            str_of(&l.v, "nodepool"),
            str_of(&c, "instance_type"),
            str_of(&c, "zone"),
            str_of(&c, "capacity_type"),
            money(f64_of(&c, "price_per_hour").unwrap_or(0.0))
        );
        let requests =
            l.v.get("requests")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| k.as_str() != "pods")
                        .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("?")))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
        let _ = writeln!(
            o,
            "  - for {} ({}): {}; requests {}",
            plural(pods.len(), one, many),
            self.namespaces(&pods),
            names(&pods, MAX_PODS),
            if requests.is_empty() {
                "none".into()
            } else {
                requests
            }
        );
        let cheapest = strs_of(&l.v, "cheapest_options");
        let _ = writeln!(
            o,
            "  - offering: {} fit (cheapest: {}); {}",
            plural(
                u64_of(&l.v, "instance_type_options") as usize,
                "instance type",
                "instance types"
            ),
            names(&cheapest, 3),
            str_of(&l.v, "why")
        );
        let _ = writeln!(o, "  - node: {}", self.node_fate(nc));
    }

    fn launch_failed_item(&self, o: &mut String, f: &Dec) {
        let pods = strs_of(&f.v, "pods");
        let _ = writeln!(
            o,
            "- **{}** (NodePool `{}`) failed to launch at {}: {}; {} stay pending: {}",
            str_of(&f.v, "nodeclaim"),
            str_of(&f.v, "nodepool"),
            format_clock(f.t),
            str_of(&f.v, "reason"),
            plural(pods.len(), "pod", "pods"),
            names(&pods, MAX_PODS)
        );
    }

    /// The launch record of NodeClaim `nc` (in or after the window).
    fn find_launch(&self, nc: &str) -> Option<&Dec> {
        self.d
            .window
            .iter()
            .chain(&self.d.after)
            .find(|l| l.kind() == "launch" && str_of(&l.v, "nodeclaim") == nc)
    }

    fn command_item(&self, o: &mut String, c: &Dec) {
        let method = method_name(str_of(&c.v, "method"));
        let reason = str_of(&c.v, "reason");
        let decision = str_of(&c.v, "decision");
        let nodes = strs_of(&c.v, "nodes");
        let _ = write!(o, "### {} {method} ({reason}", self.when(c.t));
        let dr = str_of(&c.v, "drift_reason");
        if !dr.is_empty() {
            let _ = write!(o, ": {dr}");
        }
        let _ = writeln!(
            o,
            "): {} {}\n",
            if decision.is_empty() {
                "delete"
            } else {
                decision
            },
            names(&nodes, 10)
        );
        let mut replacements: Vec<&str> = strs_of(&c.v, "replacement_nodeclaims");
        let r = str_of(&c.v, "replacement_nodeclaim");
        if !r.is_empty() {
            replacements.push(r);
        }
        if let Some(s) = f64_of(&c.v, "savings_per_hour") {
            let _ = writeln!(o, "Saves {} (the removed nodes' price).\n", money(s));
        }
        if !replacements.is_empty() {
            let src = f64_of(&c.v, "source_price_per_hour").unwrap_or(0.0);
            let est = f64_of(&c.v, "estimated_savings_per_hour");
            let opts = strs_of(&c.v, "cheapest_replacement_options");
            let _ = write!(
                o,
                "Replaced by {} launched first (the candidates cost {}",
                names(&replacements, 10),
                money(src)
            );
            if let Some(e) = est {
                let _ = write!(o, "; estimated savings {}", money(e));
            }
            if !opts.is_empty() {
                let _ = write!(
                    o,
                    "; {} cheaper option(s): {}",
                    u64_of(&c.v, "replacement_options"),
                    names(&opts, 3)
                );
            }
            let _ = writeln!(o, ").\n");
        }
        for n in &nodes {
            let deleted = self
                .d
                .window
                .iter()
                .chain(&self.d.after)
                .find(|x| x.kind() == "nodeclaim-deleted" && str_of(&x.v, "nodeclaim") == *n);
            let _ = write!(o, "- removed {}", self.node_desc(n));
            if let Some(row) = self.node(n) {
                let _ = write!(o, ", up since {}", format_clock(row.launched_ms));
            }
            match deleted {
                Some(x) => {
                    let pods = strs_of(&x.v, "pods");
                    let _ = write!(
                        o,
                        "; deleted at {}, {} moved: {}",
                        format_clock(x.t),
                        plural(pods.len(), "pod", "pods"),
                        names(&pods, MAX_PODS)
                    );
                }
                None => {
                    let rolled = self.d.window.iter().chain(&self.d.after).any(|x| {
                        x.kind() == "disruption-rolled-back" && strs_of(&x.v, "nodes").contains(n)
                    });
                    if rolled {
                        o.push_str("; the command was rolled back");
                    }
                }
            }
            let _ = writeln!(o, "; {}", self.node_fate(n));
        }
        for r in &replacements {
            match self.find_launch(r) {
                Some(l) => self.launch_item(o, l, "pod planned onto it", "pods planned onto it"),
                None => {
                    let _ = writeln!(o, "- replacement **{r}**: {}", self.node_fate(r));
                }
            }
        }
        o.push('\n');
    }
}

/// Starts a Markdown section `## title` after exactly one blank line.
fn section(o: &mut String, title: &str) {
    while o.ends_with('\n') {
        o.pop();
    }
    let _ = write!(o, "\n\n## {title}\n\n");
}

/// A disruption method as people say it.
fn method_name(m: &str) -> String {
    match m {
        "single-node" => "single-node consolidation".into(),
        "multi-node" => "multi-node consolidation".into(),
        "emptiness" => "emptiness".into(),
        "drift" => "drift".into(),
        "" => "disruption".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> Option<DateTime<Utc>> {
        Some(
            DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        )
    }

    #[test]
    fn time_forms() {
        let h = 3_600_000;
        let m = 60_000;
        assert_eq!(parse_time("02:14", None), Ok(2 * h + 14 * m));
        assert_eq!(parse_time("02:14:05", None), Ok(2 * h + 14 * m + 5000));
        assert_eq!(parse_time("00:05:45.015", None), Ok(345_015));
        assert_eq!(parse_time("1d02:14", None), Ok(26 * h + 14 * m));
        assert_eq!(parse_time("1d 02:14", None), Ok(26 * h + 14 * m));
        assert_eq!(parse_time("26h14m", None), Ok(26 * h + 14 * m));
        assert_eq!(parse_time("1d2h", None), Ok(26 * h));
        assert_eq!(parse_time("2d", None), Ok(48 * h));
        assert_eq!(parse_time("90s", None), Ok(90_000));
        assert_eq!(parse_time("345.015", None), Ok(345_015));
        assert_eq!(parse_time("8040", None), Ok(8_040_000));
        assert_eq!(
            parse_time("2024-01-02T02:14:00Z", start()),
            Ok(26 * h + 14 * m)
        );
        assert_eq!(
            parse_time("2024-01-01T03:14:00+01:00", start()),
            Ok(2 * h + 14 * m)
        );
    }

    #[test]
    fn bad_times_name_the_argument() {
        for bad in [
            "", "02:61", "2:14:75", "soon", "1d90", "-5m", "1:2:3:4", "12h5x",
        ] {
            let e = parse_time(bad, start()).unwrap_err();
            assert!(e.starts_with("--at"), "{bad}: {e}");
        }
        let e = parse_time("2023-12-31T23:00:00Z", start()).unwrap_err();
        assert!(e.contains("before the scenario's start"), "{e}");
        let e = parse_time("2024-01-01T01:00:00Z", None).unwrap_err();
        assert!(e.contains("no `start`"), "{e}");
    }

    #[test]
    fn clock_format_round_trips() {
        for ms in [
            0,
            345_015,
            3_200,
            86_399_999,
            94_440_000,
            10 * 86_400_000 + 1,
        ] {
            assert_eq!(
                parse_time(&format_clock(ms), None),
                Ok(ms),
                "{}",
                format_clock(ms)
            );
        }
        assert_eq!(format_clock(94_440_000), "1d02:14:00");
        assert_eq!(format_clock(3_200), "00:00:03.2");
    }

    #[test]
    fn line_time_fast_path_matches_json() {
        let line = r#"{"time":345.015,"kind":"disruption"}"#;
        assert_eq!(line_time(line), Some(345.015));
        assert_eq!(line_time(r#"{"kind":"x","time":1}"#), None);
        assert_eq!(line_time(r#"{"time":7}"#), Some(7.0));
    }
}
