//! Sampling the generators into pods, and the trace rows and CSV those pods give.

use std::collections::BTreeMap;
use std::io::Write;

use rand_distr::{Distribution, Exp, LogNormal, StandardNormal};

use super::{Batch, Burst, Diurnal, Generator, GeneratorKind};
use crate::engine::stream;
use crate::report::secs_str;
use crate::scheduler::SimRng;
use crate::workload::TraceRow;

/// Most pods one generated trace may hold (a bound on memory: the trace is held whole).
pub const MAX_GENERATED_PODS: usize = 20_000_000;

/// z such that Φ(z) = 0.9: the 90th percentile of a standard normal.
const Z90: f64 = 1.281_551_565_544_600_4;

/// One generated pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratedPod {
    /// Creation time, ms since the start.
    pub arrival_ms: u64,
    /// Run time, ms; `None` = until the end of the run.
    pub duration_ms: Option<u64>,
    /// Index of the generator in its list.
    pub generator: usize,
}

/// Runs every generator and returns their pods sorted by arrival (ties: generator order, then
/// creation order), so the trace streams. `horizon_ms` is the run's length (needed by diurnal
/// and batch generators); `seed` is the run seed, used by generators without their own.
pub fn generate(
    gens: &[Generator],
    seed: u64,
    horizon_ms: Option<u64>,
) -> Result<Vec<GeneratedPod>, String> {
    let mut pods = Vec::new();
    for (i, g) in gens.iter().enumerate() {
        let seed = g.seed.unwrap_or(seed);
        let rng = |what: &str| stream(seed, &format!("generate/{}/{what}", g.name));
        let horizon = || {
            horizon_ms.ok_or_else(|| {
                format!(
                    "generator `{}` ({}) needs the length of the trace (a scenario `duration`, or --duration)",
                    g.name,
                    g.kind.name()
                )
            })
        };
        let before = pods.len();
        match &g.kind {
            GeneratorKind::Diurnal(d) => diurnal(d, i, horizon()?, &mut rng("noise"), &mut pods),
            GeneratorKind::Batch(b) => batch(
                b,
                i,
                horizon()?,
                &mut rng("arrivals"),
                &mut rng("durations"),
                &mut pods,
            ),
            GeneratorKind::Burst(b) => burst(b, i, horizon_ms, &mut pods),
        }
        .map_err(|why| format!("generator `{}`: {why}", g.name))?;
        debug_assert!(
            pods[before..]
                .windows(2)
                .all(|w| w[0].arrival_ms <= w[1].arrival_ms)
        );
    }
    // Stable: within a generator, creation order is kept.
    pods.sort_by_key(|p| (p.arrival_ms, p.generator));
    Ok(pods)
}

fn too_many() -> String {
    format!(
        "would create more than {MAX_GENERATED_PODS} pods; lower the rate, replicas or duration"
    )
}

/// A Deployment being scaled: its live pods by (creation time, sequence), the last the newest.
struct Deployment {
    gen_index: usize,
    live: BTreeMap<(u64, u64), usize>,
    seq: u64,
}

impl Deployment {
    fn create(&mut self, t: u64, pods: &mut Vec<GeneratedPod>) -> Result<(), String> {
        if pods.len() >= MAX_GENERATED_PODS {
            return Err(too_many());
        }
        self.live.insert((t, self.seq), pods.len());
        self.seq += 1;
        pods.push(GeneratedPod {
            arrival_ms: t,
            duration_ms: None,
            generator: self.gen_index,
        });
        Ok(())
    }

    /// Removes the newest pod (LIFO, as a ReplicaSet scales down) at `t`.
    fn remove_newest(&mut self, t: u64, pods: &mut [GeneratedPod]) {
        if let Some((_, idx)) = self.live.pop_last() {
            let p = &mut pods[idx];
            p.duration_ms = Some(t - p.arrival_ms);
        }
    }

    /// Restarts, oldest first, the pods that reach `life` at or before `until` (strictly
    /// before when `inclusive` is false): each ends then and its replacement is created then.
    fn restart(
        &mut self,
        life: u64,
        until: u64,
        inclusive: bool,
        pods: &mut Vec<GeneratedPod>,
    ) -> Result<(), String> {
        while let Some((&(created, s), &idx)) = self.live.first_key_value() {
            let at = created.saturating_add(life);
            if at > until || (!inclusive && at == until) {
                break;
            }
            self.live.remove(&(created, s));
            pods[idx].duration_ms = Some(at - created);
            self.create(at, pods)?;
        }
        Ok(())
    }
}

fn diurnal(
    d: &Diurnal,
    gen_index: usize,
    horizon_ms: u64,
    noise_rng: &mut SimRng,
    pods: &mut Vec<GeneratedPod>,
) -> Result<(), String> {
    let mut dep = Deployment {
        gen_index,
        live: BTreeMap::new(),
        seq: 0,
    };
    let span = f64::from(d.replicas_max - d.replicas_min);
    let peak_ms = d.peak_hour * 3_600_000.0;
    let mut t = 0u64;
    while t < horizon_ms {
        if let Some(life) = d.pod_lifetime_ms {
            dep.restart(life, t, true, pods)?;
        }
        let phase = std::f64::consts::TAU * (t as f64 - peak_ms) / d.period_ms as f64;
        let base = f64::from(d.replicas_min) + span * (1.0 + phase.cos()) / 2.0;
        let z: f64 = StandardNormal.sample(noise_rng);
        let target = (base * (1.0 + d.noise * z)).round().max(0.0) as usize;
        while dep.live.len() < target {
            dep.create(t, pods)?;
        }
        while dep.live.len() > target {
            dep.remove_newest(t, pods);
        }
        t = t.saturating_add(d.step_ms);
    }
    if let Some(life) = d.pod_lifetime_ms {
        dep.restart(life, horizon_ms, false, pods)?;
    }
    Ok(())
}

fn batch(
    b: &Batch,
    gen_index: usize,
    horizon_ms: u64,
    arrivals: &mut SimRng,
    durations: &mut SimRng,
    pods: &mut Vec<GeneratedPod>,
) -> Result<(), String> {
    let end = b.end_ms.unwrap_or(horizon_ms).min(horizon_ms);
    if b.rate_per_hour <= 0.0 || b.start_ms >= end {
        return Ok(());
    }
    let expected = b.rate_per_hour * (end - b.start_ms) as f64 / 3_600_000.0;
    if expected > MAX_GENERATED_PODS as f64 {
        return Err(too_many());
    }
    let gaps = Exp::new(b.rate_per_hour / 3_600_000.0).map_err(|e| e.to_string())?;
    let mu = (b.duration_median_ms as f64).ln();
    let sigma = ((b.duration_p90_ms as f64).ln() - mu).max(0.0) / Z90;
    let run_time = LogNormal::new(mu, sigma).map_err(|e| e.to_string())?;
    let mut t = b.start_ms as f64;
    loop {
        t += gaps.sample(arrivals);
        let at = t.round();
        if at >= end as f64 {
            break;
        }
        if pods.len() >= MAX_GENERATED_PODS {
            return Err(too_many());
        }
        let ms: f64 = run_time.sample(durations);
        pods.push(GeneratedPod {
            arrival_ms: at as u64,
            duration_ms: Some(ms.round().clamp(1.0, 9.0e15) as u64),
            generator: gen_index,
        });
    }
    Ok(())
}

fn burst(
    b: &Burst,
    gen_index: usize,
    horizon_ms: Option<u64>,
    pods: &mut Vec<GeneratedPod>,
) -> Result<(), String> {
    if horizon_ms.is_some_and(|h| b.at_ms >= h) {
        return Err("`at` comes at or after the end of the trace".into());
    }
    if pods.len() + b.pods as usize > MAX_GENERATED_PODS {
        return Err(too_many());
    }
    pods.extend((0..b.pods).map(|_| GeneratedPod {
        arrival_ms: b.at_ms,
        duration_ms: b.pod_duration_ms,
        generator: gen_index,
    }));
    Ok(())
}

/// The trace row of the `index`-th generated pod: exactly the row
/// [`crate::workload::TraceReader`] reads from the CSV [`write_csv`] writes (line numbers
/// included: the header is line 1).
pub fn trace_row(gens: &[Generator], index: usize, p: &GeneratedPod) -> TraceRow {
    let g = &gens[p.generator];
    TraceRow {
        line: index as u64 + 2,
        index: index as u64,
        arrival_ms: p.arrival_ms,
        duration_ms: p.duration_ms,
        namespace: g.pod.namespace.clone(),
        owner: Some(g.name.clone()),
        cpu_milli: g.pod.cpu.as_ref().map(|c| c.1),
        memory_milli: g.pod.memory.as_ref().map(|m| m.1),
        gpu: g.pod.gpu.map(i64::from),
        template: g.pod.template.clone(),
        priority: g.pod.priority,
        labels: Vec::new(),
        node_selector: Vec::new(),
        tolerations: Vec::new(),
        do_not_disrupt: false,
    }
}

/// The trace rows of the pods, in order (see [`trace_row`]).
pub fn trace_rows<'a>(
    gens: &'a [Generator],
    pods: &'a [GeneratedPod],
) -> impl Iterator<Item = TraceRow> + 'a {
    pods.iter()
        .enumerate()
        .map(move |(i, p)| trace_row(gens, i, p))
}

/// Writes the pods as a trace CSV (contract section 2.1): `arrival,duration,namespace,owner,
/// cpu,memory`, then `gpu`, `template` and `priority` when a generator sets them. Times are
/// seconds with up to three decimals (exact milliseconds).
pub fn write_csv<W: Write>(gens: &[Generator], pods: &[GeneratedPod], w: W) -> std::io::Result<()> {
    let with_gpu = gens.iter().any(|g| g.pod.gpu.is_some());
    let with_template = gens.iter().any(|g| g.pod.template.is_some());
    let with_priority = gens.iter().any(|g| g.pod.priority.is_some());
    let mut out = csv::Writer::from_writer(w);
    let mut header = vec!["arrival", "duration", "namespace", "owner", "cpu", "memory"];
    if with_gpu {
        header.push("gpu");
    }
    if with_template {
        header.push("template");
    }
    if with_priority {
        header.push("priority");
    }
    out.write_record(&header).map_err(std::io::Error::other)?;
    // The cells every pod of a generator shares, rendered once.
    let fixed: Vec<Vec<String>> = gens
        .iter()
        .map(|g| {
            let mut cells = vec![
                g.pod.namespace.clone(),
                g.name.clone(),
                g.pod.cpu.as_ref().map(|c| c.0.clone()).unwrap_or_default(),
                g.pod
                    .memory
                    .as_ref()
                    .map(|m| m.0.clone())
                    .unwrap_or_default(),
            ];
            if with_gpu {
                cells.push(g.pod.gpu.map(|n| n.to_string()).unwrap_or_default());
            }
            if with_template {
                cells.push(g.pod.template.clone().unwrap_or_default());
            }
            if with_priority {
                cells.push(g.pod.priority.map(|n| n.to_string()).unwrap_or_default());
            }
            cells
        })
        .collect();
    let mut record: Vec<String> = Vec::with_capacity(header.len());
    for p in pods {
        record.clear();
        record.push(secs_str(p.arrival_ms));
        record.push(p.duration_ms.map(secs_str).unwrap_or_default());
        record.extend(fixed[p.generator].iter().cloned());
        out.write_record(&record).map_err(std::io::Error::other)?;
    }
    out.flush()
}
