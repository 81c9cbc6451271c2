//! `karpsim generate`: its flags (clap) and the command, which writes a generated trace CSV.
//!
//! One generator is given by a subcommand and its flags (`karpsim generate batch --rate-per-hour
//! 30 ...`), several by a YAML list (`--spec FILE`, the same list a scenario's
//! `workload.generate` holds), or a scenario's own (`--scenario FILE`, with its seed and
//! duration). Flags are turned into the YAML form and read by the same parser as the scenario
//! section, so both take the same parameters with the same defaults and checks.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_yaml::{Mapping, Value};

use super::{
    Generator, defaults, generate, needs_horizon, parse_spec_text, parse_spec_value, write_csv,
};

/// `karpsim generate`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  \
      karpsim generate diurnal --name web --replicas-min 10 --replicas-max 50 --duration 48h -o web.csv\n  \
      karpsim generate batch --rate-per-hour 30 --duration-median 10m --duration-p90 1h --duration 24h\n  \
      karpsim generate burst --pods 500 --at 1h -o burst.csv\n  \
      karpsim generate --spec generators.yaml --seed 7 --duration 48h -o trace.csv\n  \
      karpsim generate --scenario scenario.yaml -o trace.csv"
)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub generator: Option<GeneratorCmd>,
    /// A YAML file holding a list of generators, exactly as a scenario's `workload.generate`
    /// holds it (`- {kind: diurnal, name: web, ...}`); keys are the flags' names with `_`.
    #[arg(long, value_name = "FILE", conflicts_with = "scenario")]
    pub spec: Option<PathBuf>,
    /// Write the `workload.generate` trace of this scenario, with its `seed` and `duration`:
    /// exactly the trace `karpsim run` simulates for it.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What every form of the command takes.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Seed of the random draws (same seed, same trace) [default: 0; with --scenario, the
    /// scenario's seed].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Length of the trace, a Go duration such as 48h: diurnal and batch generators need it
    /// (with --scenario, the scenario's `duration` is used).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Write the trace CSV to this file [default: standard output].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// One generator given by flags.
#[derive(Debug, Subcommand)]
pub enum GeneratorCmd {
    /// A service whose replicas follow a daily sine with noise (a Deployment being scaled).
    ///
    /// Every --step the target is base × (1 + noise × ε) (ε standard normal, rounded, never
    /// below 0), with base = min + (max − min) × (1 + cos(2π (t − peak) / period)) / 2.
    /// Pods are created when the target rises and removed newest first (LIFO, as a ReplicaSet
    /// scales down) when it falls; a removed pod's duration is its removal time minus its
    /// creation time; pods wanted at the end run until the end.
    Diurnal(DiurnalArgs),
    /// Batch jobs: Poisson arrivals at --rate-per-hour between --start and --end, log-normal
    /// run times with the given median and 90th percentile (whole milliseconds).
    Batch(BatchArgs),
    /// A step: --pods pods created together at --at.
    Burst(BurstArgs),
}

/// The pods' columns, shared by every generator.
#[derive(Debug, Args)]
pub struct PodArgs {
    /// Workload name: the pods' `owner` column, and the name the random streams derive from
    /// [default: the generator kind].
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace of the pods (cost attribution).
    #[arg(long, default_value = defaults::NAMESPACE)]
    pub namespace: String,
    /// cpu request of each pod, a Kubernetes quantity [default: 500m; none with --template].
    #[arg(long, value_name = "QUANTITY")]
    pub cpu: Option<String>,
    /// memory request of each pod, a Kubernetes quantity [default: 1Gi; none with --template].
    #[arg(long, value_name = "QUANTITY")]
    pub memory: Option<String>,
    /// nvidia.com/gpu request of each pod [default: none].
    #[arg(long)]
    pub gpu: Option<u32>,
    /// Name of a pod template of the scenario's `workload.templates` (its spec supplies the
    /// constraints; requests given here win) [default: none].
    #[arg(long)]
    pub template: Option<String>,
    /// Pod priority [default: none].
    #[arg(long, allow_hyphen_values = true)]
    pub priority: Option<i32>,
}

/// `karpsim generate diurnal`.
#[derive(Debug, Args)]
pub struct DiurnalArgs {
    #[command(flatten)]
    pub pod: PodArgs,
    /// Replicas at the trough of the sine.
    #[arg(long, default_value_t = defaults::REPLICAS_MIN)]
    pub replicas_min: u32,
    /// Replicas at the peak of the sine.
    #[arg(long, default_value_t = defaults::REPLICAS_MAX)]
    pub replicas_max: u32,
    /// Hour of the peak, counted from the start of each period (time 0 = the scenario's
    /// `start`).
    #[arg(long, default_value_t = defaults::PEAK_HOUR)]
    pub peak_hour: f64,
    /// Period of the sine.
    #[arg(long, value_name = "DURATION", default_value = defaults::PERIOD)]
    pub period: String,
    /// Relative standard deviation of the multiplicative noise (0 to 1; 0 = a smooth sine).
    #[arg(long, default_value_t = defaults::NOISE)]
    pub noise: f64,
    /// How often the target replica count is recomputed (at least 1s).
    #[arg(long, value_name = "DURATION", default_value = defaults::STEP)]
    pub step: String,
    /// Restart pods that reach this age (a replacement is created as each ends; at least
    /// --step) [default: never].
    #[arg(long, value_name = "DURATION")]
    pub pod_lifetime: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `karpsim generate batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    #[command(flatten)]
    pub pod: PodArgs,
    /// Mean job arrivals per hour (a Poisson process).
    #[arg(long, default_value_t = defaults::RATE_PER_HOUR)]
    pub rate_per_hour: f64,
    /// Median job run time (log-normal).
    #[arg(long, value_name = "DURATION", default_value = defaults::DURATION_MEDIAN)]
    pub duration_median: String,
    /// 90th percentile of the job run time (at least the median; equal = every job the same).
    #[arg(long, value_name = "DURATION", default_value = defaults::DURATION_P90)]
    pub duration_p90: String,
    /// When the first arrivals may come.
    #[arg(long, value_name = "DURATION", default_value = defaults::START)]
    pub start: String,
    /// When arrivals stop [default: the end of the trace].
    #[arg(long, value_name = "DURATION")]
    pub end: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `karpsim generate burst`.
#[derive(Debug, Args)]
pub struct BurstArgs {
    #[command(flatten)]
    pub pod: PodArgs,
    /// Number of pods in the step.
    #[arg(long, default_value_t = defaults::BURST_PODS)]
    pub pods: u32,
    /// When the pods are created.
    #[arg(long, value_name = "DURATION", default_value = defaults::BURST_AT)]
    pub at: String,
    /// How long each pod runs [default: until the end of the run].
    #[arg(long, value_name = "DURATION")]
    pub pod_duration: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What `karpsim generate` produced.
#[derive(Debug)]
pub struct GenerateOutcome {
    pub pods: usize,
    pub generators: usize,
    /// The file written, or `None` when the CSV is in `csv` (for standard output).
    pub written: Option<PathBuf>,
    pub csv: Vec<u8>,
}

fn put(m: &mut Mapping, key: &str, v: impl Into<Value>) {
    m.insert(Value::String(key.into()), v.into());
}

fn put_opt<T: Into<Value>>(m: &mut Mapping, key: &str, v: Option<T>) {
    if let Some(v) = v {
        put(m, key, v);
    }
}

impl PodArgs {
    fn fill(&self, m: &mut Mapping) {
        put_opt(m, "name", self.name.clone());
        put(m, "namespace", self.namespace.clone());
        put_opt(m, "cpu", self.cpu.clone());
        put_opt(m, "memory", self.memory.clone());
        put_opt(m, "gpu", self.gpu.map(u64::from));
        put_opt(m, "template", self.template.clone());
        put_opt(m, "priority", self.priority.map(i64::from));
    }
}

impl GeneratorCmd {
    /// The generator in its YAML form (as a `workload.generate` entry), and the output flags.
    fn to_value(&self) -> (Value, &OutputArgs) {
        let mut m = Mapping::new();
        let out = match self {
            GeneratorCmd::Diurnal(a) => {
                put(&mut m, "kind", "diurnal");
                a.pod.fill(&mut m);
                put(&mut m, "replicas_min", u64::from(a.replicas_min));
                put(&mut m, "replicas_max", u64::from(a.replicas_max));
                put(&mut m, "peak_hour", a.peak_hour);
                put(&mut m, "period", a.period.clone());
                put(&mut m, "noise", a.noise);
                put(&mut m, "step", a.step.clone());
                put_opt(&mut m, "pod_lifetime", a.pod_lifetime.clone());
                &a.output
            }
            GeneratorCmd::Batch(a) => {
                put(&mut m, "kind", "batch");
                a.pod.fill(&mut m);
                put(&mut m, "rate_per_hour", a.rate_per_hour);
                put(&mut m, "duration_median", a.duration_median.clone());
                put(&mut m, "duration_p90", a.duration_p90.clone());
                put(&mut m, "start", a.start.clone());
                put_opt(&mut m, "end", a.end.clone());
                &a.output
            }
            GeneratorCmd::Burst(a) => {
                put(&mut m, "kind", "burst");
                a.pod.fill(&mut m);
                put(&mut m, "pods", u64::from(a.pods));
                put(&mut m, "at", a.at.clone());
                put_opt(&mut m, "pod_duration", a.pod_duration.clone());
                &a.output
            }
        };
        (Value::Sequence(vec![Value::Mapping(m)]), out)
    }
}

fn parse_horizon(duration: Option<&str>) -> Result<Option<u64>, Vec<String>> {
    match duration {
        None => Ok(None),
        Some(d) => match crate::units::parse_duration_ms(d.trim()) {
            Ok(0) => Err(vec!["--duration: must be longer than 0s".into()]),
            Ok(ms) => Ok(Some(ms)),
            Err(e) => Err(vec![format!("--duration: `{d}`: {e}")]),
        },
    }
}

/// A parse error of a flag-built generator, named by its flag.
fn flag_error(e: &crate::config::ConfigError) -> String {
    let key = e.field.rsplit('.').next().unwrap_or_default();
    let mut s = if key.is_empty() || key.starts_with('[') {
        e.message.clone()
    } else {
        format!("--{}: {}", key.replace('_', "-"), e.message)
    };
    if let Some(sugg) = &e.suggestion {
        s.push_str(&format!(" (did you mean `{sugg}`?)"));
    }
    s
}

/// Runs `karpsim generate`: builds the generators, samples them and writes the CSV (to the
/// `--out` file, staged and moved into place, or into the outcome for standard output).
/// Errors are printable lines.
pub fn run_generate(a: &GenerateArgs) -> Result<GenerateOutcome, Vec<String>> {
    let (gens, seed, horizon, out): (Vec<Generator>, u64, Option<u64>, Option<&Path>) = match (
        &a.generator,
        &a.spec,
        &a.scenario,
    ) {
        (Some(cmd), _, _) => {
            let (v, o) = cmd.to_value();
            let horizon = parse_horizon(o.duration.as_deref())?;
            let gens = parse_spec_value(&v, Path::new("command line"), horizon)
                .map_err(|e| e.iter().map(flag_error).collect::<Vec<_>>())?;
            (gens, o.seed.unwrap_or(0), horizon, o.out.as_deref())
        }
        (None, Some(spec), _) => {
            let o = &a.output;
            let horizon = parse_horizon(o.duration.as_deref())?;
            let text = std::fs::read_to_string(spec)
                .map_err(|e| vec![format!("{}: {e}", spec.display())])?;
            let gens = parse_spec_text(&text, spec, horizon)
                .map_err(|e| e.iter().map(|x| x.to_string()).collect::<Vec<_>>())?;
            (gens, o.seed.unwrap_or(0), horizon, o.out.as_deref())
        }
        (None, None, Some(path)) => {
            let o = &a.output;
            if o.duration.is_some() {
                return Err(vec![
                        "--duration: not with --scenario (the scenario's `duration` is the length of the trace)".into(),
                    ]);
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| vec![format!("{}: {e}", path.display())])?;
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let sc = crate::config::parse_scenario(&text, path, &dir)
                .map_err(|e| e.iter().map(|x| x.to_string()).collect::<Vec<_>>())?;
            let Some(gens) = sc.workload.generate else {
                return Err(vec![format!(
                    "{}: workload.generate: the scenario has no generated workload to write",
                    path.display()
                )]);
            };
            (
                gens,
                o.seed.unwrap_or(sc.seed),
                sc.duration_ms,
                o.out.as_deref(),
            )
        }
        (None, None, None) => {
            return Err(vec![
                    "karpsim generate: give a generator (diurnal, batch or burst, with its flags), --spec FILE or --scenario FILE; see karpsim generate --help".into(),
                ]);
        }
    };
    if needs_horizon(&gens) && horizon.is_none() {
        return Err(vec![
            "--duration: required for diurnal and batch generators (the length of the trace, e.g. 48h)".into(),
        ]);
    }
    let pods = generate(&gens, seed, horizon).map_err(|e| vec![e])?;
    let mut csv = Vec::new();
    write_csv(&gens, &pods, &mut csv).map_err(|e| vec![e.to_string()])?;
    let written = match out {
        None => None,
        Some(path) => {
            crate::report::write_staged(path, &csv)
                .map_err(|e| vec![format!("writing {}: {e}", path.display())])?;
            csv.clear();
            Some(path.to_path_buf())
        }
    };
    Ok(GenerateOutcome {
        pods: pods.len(),
        generators: gens.len(),
        written,
        csv,
    })
}
