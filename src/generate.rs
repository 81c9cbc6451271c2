//! Generated workloads (contract section 3): seeded synthetic pod traces for users without one.
//!
//! Three generators, each with explicit parameters:
//! - `diurnal`: a service whose replica count follows a daily sine with multiplicative noise,
//!   realised as the pods of a Deployment being scaled (see [`Diurnal`]);
//! - `batch`: jobs with Poisson arrivals and log-normal run times (see [`Batch`]);
//! - `burst`: a step of N pods at time T (see [`Burst`]).
//!
//! A scenario's `workload.generate:` is a list of generators; `karpsim generate` writes the same
//! list (from `--spec FILE`, a scenario, or one generator given by flags) as a trace CSV, and the
//! CSV it writes is exactly what the scenario simulates: the same seed gives the same trace, and
//! a scenario that replays the written CSV gives the same reports.
//!
//! Owns: the generators' parameters (their names, defaults and checks, shared by the scenario
//! section and the command-line flags), the sampling, and the trace rows and CSV they give. May
//! not: see NodePools, the catalog or cluster state.
//!
//! Randomness: every generator draws from its own named streams, derived from the run seed (or
//! the generator's own `seed`) and its name (`generate/<name>/noise`, `generate/<name>/arrivals`,
//! `generate/<name>/durations`), so adding a generator or changing one's rate never shifts
//! another's draws. Times are whole milliseconds.

mod args;
mod sample;

pub(crate) use crate::report::write_staged;
pub use args::{
    BatchArgs, BurstArgs, DiurnalArgs, GenerateArgs, GenerateOutcome, GeneratorCmd, OutputArgs,
    PodArgs, run_generate,
};
pub use sample::{GeneratedPod, MAX_GENERATED_PODS, generate, trace_row, trace_rows, write_csv};

use std::path::Path;

use serde_yaml::Value;

use crate::config::pos::join_key;
use crate::config::walk::{At, Ctx, DurSyntax, Obj};
use crate::config::{ConfigError, ConfigErrors};
use crate::units::parse_quantity_milli;
use crate::workload::{is_valid_dns_label, is_valid_dns_subdomain};

/// Defaults of the generator parameters (the scenario section and the flags share them).
pub mod defaults {
    /// `namespace`.
    pub const NAMESPACE: &str = "default";
    /// `cpu` when no `template` is given.
    pub const CPU: &str = "500m";
    /// `memory` when no `template` is given.
    pub const MEMORY: &str = "1Gi";
    /// `diurnal.replicas_min`.
    pub const REPLICAS_MIN: u32 = 10;
    /// `diurnal.replicas_max`.
    pub const REPLICAS_MAX: u32 = 50;
    /// `diurnal.peak_hour`.
    pub const PEAK_HOUR: f64 = 14.0;
    /// `diurnal.period`.
    pub const PERIOD: &str = "24h";
    /// `diurnal.noise`.
    pub const NOISE: f64 = 0.1;
    /// `diurnal.step`.
    pub const STEP: &str = "5m";
    /// `batch.rate_per_hour`.
    pub const RATE_PER_HOUR: f64 = 30.0;
    /// `batch.duration_median`.
    pub const DURATION_MEDIAN: &str = "10m";
    /// `batch.duration_p90`.
    pub const DURATION_P90: &str = "1h";
    /// `batch.start`.
    pub const START: &str = "0s";
    /// `burst.pods`.
    pub const BURST_PODS: u32 = 100;
    /// `burst.at`.
    pub const BURST_AT: &str = "0s";
}

/// Most replicas a diurnal generator may ask for.
pub const MAX_REPLICAS: u32 = 1_000_000;
/// Most pods one burst may create.
pub const MAX_BURST_PODS: u32 = 10_000_000;
/// Highest batch arrival rate (jobs per hour).
pub const MAX_RATE_PER_HOUR: f64 = 10_000_000.0;

/// The generator kinds, as `kind:` names them.
pub const KINDS: [&str; 3] = ["diurnal", "batch", "burst"];

/// Keys every generator takes.
const COMMON_KEYS: &[&str] = &[
    "kind",
    "name",
    "seed",
    "namespace",
    "cpu",
    "memory",
    "gpu",
    "template",
    "priority",
];
const DIURNAL_KEYS: &[&str] = &[
    "replicas_min",
    "replicas_max",
    "peak_hour",
    "period",
    "noise",
    "step",
    "pod_lifetime",
];
const BATCH_KEYS: &[&str] = &[
    "rate_per_hour",
    "duration_median",
    "duration_p90",
    "start",
    "end",
];
const BURST_KEYS: &[&str] = &["pods", "at", "pod_duration"];

/// What every pod of a generator looks like: the trace columns it fills.
#[derive(Debug, Clone, PartialEq)]
pub struct PodShape {
    /// The `namespace` cell (default [`defaults::NAMESPACE`]).
    pub namespace: String,
    /// The `cpu` request cell as written and its milli-value; `None` leaves it to the template.
    pub cpu: Option<(String, i64)>,
    /// The `memory` request cell as written and its milli-value; `None` leaves it to the template.
    pub memory: Option<(String, i64)>,
    /// `nvidia.com/gpu` count.
    pub gpu: Option<u32>,
    /// A template of the scenario's `workload.templates`.
    pub template: Option<String>,
    pub priority: Option<i32>,
}

/// One generator: its name (the pods' `owner`), seed override, pod shape and kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Generator {
    /// Names the generator's streams and is the `owner` of its pods; unique in a list.
    pub name: String,
    /// Overrides the run seed for this generator's draws.
    pub seed: Option<u64>,
    pub pod: PodShape,
    pub kind: GeneratorKind,
}

/// The generator kinds and their parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum GeneratorKind {
    Diurnal(Diurnal),
    Batch(Batch),
    Burst(Burst),
}

impl GeneratorKind {
    /// The `kind:` name.
    pub fn name(&self) -> &'static str {
        match self {
            GeneratorKind::Diurnal(_) => "diurnal",
            GeneratorKind::Batch(_) => "batch",
            GeneratorKind::Burst(_) => "burst",
        }
    }
}

/// A service whose replica count follows a daily sine with noise, realised as a Deployment
/// being scaled.
///
/// Every `step` (from time 0) the target is
/// `base × (1 + noise × ε)` rounded to the nearest integer and never below 0, where ε is a
/// standard normal draw and `base = min + (max − min) × (1 + cos(2π (t − peak) / period)) / 2`
/// (a sine of the period, highest at `peak_hour` hours after the start of each period and
/// lowest half a period later). Pods are added at the step when the target rises and removed
/// when it falls, newest first (LIFO: as a ReplicaSet picks the most recently started pods to
/// delete); a removed pod's `duration` is its removal time minus its creation time, and pods
/// still wanted at the end run until the end (empty `duration`). With `pod_lifetime`, a pod that
/// reaches that age ends and a replacement is created at the same instant (a restart).
#[derive(Debug, Clone, PartialEq)]
pub struct Diurnal {
    pub replicas_min: u32,
    pub replicas_max: u32,
    /// Hours after the start of each period (time 0 = the scenario's `start`) of the peak.
    pub peak_hour: f64,
    pub period_ms: u64,
    /// Relative standard deviation of the multiplicative noise, 0 to 1.
    pub noise: f64,
    /// How often the target is recomputed (the autoscaler's period).
    pub step_ms: u64,
    /// Pods older than this are restarted; `None` = never.
    pub pod_lifetime_ms: Option<u64>,
}

/// Jobs with Poisson arrivals (exponential gaps at `rate_per_hour`, from `start` until `end`)
/// and log-normal run times with the given median and 90th percentile
/// (σ = ln(p90 / median) / 1.2816), rounded to whole milliseconds (at least 1 ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub rate_per_hour: f64,
    pub duration_median_ms: u64,
    pub duration_p90_ms: u64,
    pub start_ms: u64,
    /// `None` = the end of the run.
    pub end_ms: Option<u64>,
}

/// A step of `pods` pods created together at `at`, each running `pod_duration` (or until the
/// end of the run).
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    pub pods: u32,
    pub at_ms: u64,
    pub pod_duration_ms: Option<u64>,
}

/// Reads a generator list (the value of `workload.generate`, or a `--spec` file) at `path`.
/// `horizon_ms` (the run's `duration`, when known) bounds the start times. Every problem is
/// reported through `ctx`.
pub(crate) fn parse_section(
    ctx: &mut Ctx,
    v: &Value,
    path: &str,
    horizon_ms: Option<u64>,
) -> Vec<Generator> {
    let gens = match v {
        Value::Sequence(seq) if seq.is_empty() => {
            ctx.err(
                path,
                "needs at least one generator (`- kind: diurnal|batch|burst`)",
            );
            Vec::new()
        }
        Value::Sequence(_) => ctx.v_list(v, path, |c, item, p| parse_one(c, item, p, horizon_ms)),
        Value::Mapping(_) => {
            ctx.err(
                path,
                "expected a list of generators (`- kind: diurnal ...`), got a mapping: add `- ` before `kind`",
            );
            Vec::new()
        }
        other => {
            ctx.err(
                path,
                format!(
                    "expected a list of generators, got {}",
                    crate::config::walk::type_name(other)
                ),
            );
            Vec::new()
        }
    };
    // Names must be unique: they name the streams and the owners.
    if let Value::Sequence(seq) = v {
        let mut seen: Vec<String> = Vec::new();
        for (j, item) in seq.iter().enumerate() {
            let Some(name) = generator_name(item) else {
                continue;
            };
            if seen.contains(&name) {
                let ip = crate::config::pos::join_index(path, j);
                let has_name = item.as_mapping().is_some_and(|m| m.contains_key("name"));
                let at = join_key(&ip, if has_name { "name" } else { "kind" });
                ctx.err(
                    &at,
                    format!(
                        "two generators are named `{name}`: give each its own `name` (it names the pods' owner and the random streams; it defaults to the kind)"
                    ),
                );
            }
            seen.push(name);
        }
    }
    gens
}

/// The name a generator entry gives itself (or its kind's default), for duplicate checks.
fn generator_name(item: &Value) -> Option<String> {
    let m = item.as_mapping()?;
    match m.get("name") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => None,
        None => m.get("kind").and_then(Value::as_str).map(str::to_string),
    }
}

fn parse_one(ctx: &mut Ctx, v: &Value, path: &str, horizon_ms: Option<u64>) -> Option<Generator> {
    if v.is_null() {
        ctx.err(
            path,
            "empty entry: expected a generator such as `{kind: batch, rate_per_hour: 30}`",
        );
        return None;
    }
    let kind_v = v.as_mapping().and_then(|m| m.get("kind"));
    let kind = match kind_v {
        Some(k) if !k.is_null() => ctx.v_enum(
            k,
            &join_key(path, "kind"),
            &[("diurnal", 0u8), ("batch", 1), ("burst", 2)],
        ),
        _ => None,
    };
    let specific: &[&str] = match kind {
        Some(0) => DIURNAL_KEYS,
        Some(1) => BATCH_KEYS,
        Some(2) => BURST_KEYS,
        _ => &[],
    };
    let mut known: Vec<&str> = COMMON_KEYS.to_vec();
    known.extend_from_slice(specific);
    let o = if kind.is_some() {
        ctx.obj(v, path, &known)
    } else {
        // Without a valid kind, accept every generator's keys (the kind error says it all).
        let all: Vec<&str> = [COMMON_KEYS, DIURNAL_KEYS, BATCH_KEYS, BURST_KEYS].concat();
        ctx.obj(v, path, &all)
    };
    o.map?;
    if kind_v.is_none_or(Value::is_null) {
        ctx.error(
            &o.path("kind"),
            At::Key,
            format!(
                "required field `kind` is missing (one of {})",
                KINDS.join(", ")
            ),
            None,
        );
    }
    let kind_name = kind.map(|k| KINDS[usize::from(k)]);
    let name = match ctx.string_lenient(&o, "name") {
        Some(n) if is_valid_dns_subdomain(&n) => Some(n),
        Some(n) => {
            ctx.err(
                &o.path("name"),
                format!("`{n}` is not a valid workload name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)"),
            );
            None
        }
        None => kind_name.map(str::to_string),
    };
    let seed = ctx.int(&o, "seed", 0, i64::MAX).map(|s| s as u64);
    let pod = parse_pod_shape(ctx, &o);
    let kind = match kind? {
        0 => GeneratorKind::Diurnal(parse_diurnal(ctx, &o)?),
        1 => GeneratorKind::Batch(parse_batch(ctx, &o, horizon_ms)?),
        _ => GeneratorKind::Burst(parse_burst(ctx, &o, horizon_ms)?),
    };
    Some(Generator {
        name: name?,
        seed,
        pod: pod?,
        kind,
    })
}

fn parse_pod_shape(ctx: &mut Ctx, o: &Obj) -> Option<PodShape> {
    let mut ok = true;
    let namespace = match ctx.string_lenient(o, "namespace") {
        Some(ns) if is_valid_dns_label(&ns) => ns,
        Some(ns) => {
            ctx.err(
                &o.path("namespace"),
                format!("`{ns}` is not a valid namespace (a DNS label: lower-case letters, digits and '-')"),
            );
            ok = false;
            String::new()
        }
        None => defaults::NAMESPACE.to_string(),
    };
    let template = match ctx.string_lenient(o, "template") {
        Some(t) if t.trim().is_empty() => {
            ctx.err(&o.path("template"), "may not be empty");
            ok = false;
            None
        }
        t => t.map(|t| t.trim().to_string()),
    };
    let mut request = |ctx: &mut Ctx, key: &str, default: &str| -> Option<(String, i64)> {
        let text = match ctx.string_lenient(o, key) {
            Some(s) => s.trim().to_string(),
            None if template.is_some() => return None,
            None => default.to_string(),
        };
        match parse_quantity_milli(&text) {
            Ok(m) if m >= 0 => Some((text, m)),
            Ok(_) => {
                ctx.err(&o.path(key), "a request may not be negative");
                ok = false;
                None
            }
            Err(e) => {
                ctx.err(&o.path(key), e.to_string());
                ok = false;
                None
            }
        }
    };
    let cpu = request(ctx, "cpu", defaults::CPU);
    let memory = request(ctx, "memory", defaults::MEMORY);
    let gpu = ctx.int(o, "gpu", 0, i64::from(u32::MAX)).map(|g| g as u32);
    let priority = ctx
        .int(o, "priority", i64::from(i32::MIN), i64::from(i32::MAX))
        .map(|p| p as i32);
    let bad_numbers = (o.has("gpu") && gpu.is_none()) || (o.has("priority") && priority.is_none());
    (ok && !bad_numbers).then_some(PodShape {
        namespace,
        cpu,
        memory,
        gpu,
        template,
        priority,
    })
}

/// A duration field with a default; `None` when it was given but invalid.
fn duration_or(ctx: &mut Ctx, o: &Obj, key: &str, default: &str) -> Option<u64> {
    if o.has(key) {
        ctx.duration(o, key, DurSyntax::Go)
    } else {
        crate::units::parse_duration_ms(default).ok()
    }
}

/// An optional duration field: `Ok(None)` when absent, `Err(())` when invalid.
fn duration_opt(ctx: &mut Ctx, o: &Obj, key: &str) -> Result<Option<u64>, ()> {
    if o.has(key) {
        ctx.duration(o, key, DurSyntax::Go).map(Some).ok_or(())
    } else {
        Ok(None)
    }
}

fn parse_diurnal(ctx: &mut Ctx, o: &Obj) -> Option<Diurnal> {
    let max_r = i64::from(MAX_REPLICAS);
    let int_or = |ctx: &mut Ctx, key: &str, default: u32| -> Option<u32> {
        if o.has(key) {
            ctx.int(o, key, 0, max_r).map(|n| n as u32)
        } else {
            Some(default)
        }
    };
    let min = int_or(ctx, "replicas_min", defaults::REPLICAS_MIN);
    let max = int_or(ctx, "replicas_max", defaults::REPLICAS_MAX);
    if let (Some(a), Some(b)) = (min, max)
        && a > b
    {
        ctx.err(
            &o.path("replicas_min"),
            format!("replicas_min ({a}) may not exceed replicas_max ({b})"),
        );
        return None;
    }
    let period = duration_or(ctx, o, "period", defaults::PERIOD);
    if period == Some(0) {
        ctx.err(&o.path("period"), "must be longer than 0s");
        return None;
    }
    let peak_hour = if o.has("peak_hour") {
        ctx.float(o, "peak_hour")
    } else {
        Some(defaults::PEAK_HOUR)
    };
    if let (Some(p), Some(per)) = (peak_hour, period) {
        let hours = per as f64 / 3_600_000.0;
        if !(0.0..hours).contains(&p) {
            ctx.err(
                &o.path("peak_hour"),
                format!("{p} is not an hour of the period: must be at least 0 and below {hours}"),
            );
            return None;
        }
    }
    let noise = if o.has("noise") {
        ctx.float(o, "noise")
    } else {
        Some(defaults::NOISE)
    };
    if let Some(n) = noise
        && !(0.0..=1.0).contains(&n)
    {
        ctx.err(
            &o.path("noise"),
            format!("{n} is not a relative standard deviation between 0 and 1"),
        );
        return None;
    }
    let step = duration_or(ctx, o, "step", defaults::STEP);
    if step.is_some_and(|s| s < 1_000) {
        ctx.err(&o.path("step"), "must be at least 1s");
        return None;
    }
    let lifetime = duration_opt(ctx, o, "pod_lifetime").ok()?;
    if let (Some(l), Some(s)) = (lifetime, step)
        && l < s
    {
        ctx.err(
            &o.path("pod_lifetime"),
            "must be at least `step` (pods are restarted at most once per step)",
        );
        return None;
    }
    Some(Diurnal {
        replicas_min: min?,
        replicas_max: max?,
        peak_hour: peak_hour?,
        period_ms: period?,
        noise: noise?,
        step_ms: step?,
        pod_lifetime_ms: lifetime,
    })
}

fn parse_batch(ctx: &mut Ctx, o: &Obj, horizon_ms: Option<u64>) -> Option<Batch> {
    let rate = if o.has("rate_per_hour") {
        ctx.float(o, "rate_per_hour")
    } else {
        Some(defaults::RATE_PER_HOUR)
    };
    if let Some(r) = rate
        && !(0.0..=MAX_RATE_PER_HOUR).contains(&r)
    {
        ctx.err(
            &o.path("rate_per_hour"),
            format!("{r} jobs per hour: must be between 0 and {MAX_RATE_PER_HOUR}"),
        );
        return None;
    }
    let median = duration_or(ctx, o, "duration_median", defaults::DURATION_MEDIAN);
    let p90 = duration_or(ctx, o, "duration_p90", defaults::DURATION_P90);
    if median == Some(0) {
        ctx.err(&o.path("duration_median"), "must be longer than 0s");
        return None;
    }
    if let (Some(m), Some(p)) = (median, p90)
        && p < m
    {
        let key = if o.has("duration_p90") {
            "duration_p90"
        } else {
            "duration_median"
        };
        ctx.err(
            &o.path(key),
            format!(
                "duration_p90 ({}) may not be below duration_median ({})",
                crate::units::format_duration(p),
                crate::units::format_duration(m)
            ),
        );
        return None;
    }
    let start = duration_or(ctx, o, "start", defaults::START);
    let end = duration_opt(ctx, o, "end").ok()?;
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        ctx.err(&o.path("end"), "must come after `start`");
        return None;
    }
    if let (Some(s), Some(h)) = (start, horizon_ms)
        && s >= h
    {
        ctx.err(
            &o.path("start"),
            "comes at or after the end of the run (`duration`): no job would arrive",
        );
        return None;
    }
    Some(Batch {
        rate_per_hour: rate?,
        duration_median_ms: median?,
        duration_p90_ms: p90?,
        start_ms: start?,
        end_ms: end,
    })
}

fn parse_burst(ctx: &mut Ctx, o: &Obj, horizon_ms: Option<u64>) -> Option<Burst> {
    let pods = if o.has("pods") {
        ctx.int(o, "pods", 0, i64::from(MAX_BURST_PODS))
            .map(|n| n as u32)
    } else {
        Some(defaults::BURST_PODS)
    };
    let at = duration_or(ctx, o, "at", defaults::BURST_AT);
    if let (Some(a), Some(h)) = (at, horizon_ms)
        && a >= h
    {
        ctx.err(
            &o.path("at"),
            "comes at or after the end of the run (`duration`): the pods would never arrive",
        );
        return None;
    }
    let pod_duration = duration_opt(ctx, o, "pod_duration").ok()?;
    Some(Burst {
        pods: pods?,
        at_ms: at?,
        pod_duration_ms: pod_duration,
    })
}

/// Parses a generator list given as a YAML file's text (`karpsim generate --spec`): the same
/// list a scenario's `workload.generate` holds. Errors name the file, line and field.
pub fn parse_spec_text(
    text: &str,
    file: &Path,
    horizon_ms: Option<u64>,
) -> Result<Vec<Generator>, ConfigErrors> {
    let mut errors = Vec::new();
    let mut docs = crate::config::docs::read_documents(text, file, &mut errors);
    if docs.len() != 1 {
        if errors.is_empty() {
            errors.push(ConfigError {
                file: file.to_path_buf(),
                line: None,
                column: None,
                field: String::new(),
                message: if docs.is_empty() {
                    "the file is empty: expected a list of generators".into()
                } else {
                    "expected one YAML document (a list of generators); found several".into()
                },
                suggestion: None,
            });
        }
        return Err(ConfigErrors::from_vec(errors));
    }
    let doc = docs.swap_remove(0);
    let mut ctx = Ctx::new(file, doc.pos.as_ref(), &mut errors);
    let gens = parse_section(&mut ctx, &doc.value, "", horizon_ms);
    ConfigErrors::result(errors, gens)
}

/// Parses a generator list given as a value (built from command-line flags); errors name
/// `origin` and the field.
pub fn parse_spec_value(
    v: &Value,
    origin: &Path,
    horizon_ms: Option<u64>,
) -> Result<Vec<Generator>, ConfigErrors> {
    let mut errors = Vec::new();
    let mut ctx = Ctx::new(origin, None, &mut errors);
    let gens = parse_section(&mut ctx, v, "", horizon_ms);
    ConfigErrors::result(errors, gens)
}

/// Whether any generator needs the run's length (diurnal and batch do; a burst does not).
pub fn needs_horizon(gens: &[Generator]) -> bool {
    gens.iter()
        .any(|g| !matches!(g.kind, GeneratorKind::Burst(_)))
}

#[cfg(test)]
mod tests;
