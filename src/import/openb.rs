//! `karpsim import alibaba-openb`: the Alibaba GPU cluster trace v2023 pod list → trace CSV.
//! The mapping rules are in the parent module's documentation.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{ImportOutcome, Staged, format_secs, plural};
use crate::units::{format_milli, parse_duration_ms};
use crate::workload::{is_valid_dns_label, is_valid_label_value};

/// `karpsim import alibaba-openb`.
#[derive(Debug, Args)]
pub struct OpenbArgs {
    /// The pod list: an `openb_pod_list_*.csv` file of Alibaba's cluster-trace-gpu-v2023.
    pub file: PathBuf,
    /// Write the trace CSV to this file [default: standard output].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Start of the window to import, a Go duration from the trace start (e.g. 2760h = day
    /// 115): times are shifted so that it is 0, and pods alive then arrive at 0 with the rest
    /// of their run time.
    #[arg(long, value_name = "DURATION")]
    pub from: Option<String>,
    /// End of the window: pods created at or after it (a Go duration from the trace start) are
    /// left out.
    #[arg(long, value_name = "DURATION")]
    pub to: Option<String>,
    /// Namespace of every pod.
    #[arg(long, default_value = "openb")]
    pub namespace: String,
}

/// The EC2 GPU name (label `karpenter.k8s.aws/instance-gpu-name`) of an Alibaba GPU model, where
/// one matches.
pub fn ec2_gpu_name(model: &str) -> Option<&'static str> {
    match model.trim().to_ascii_uppercase().as_str() {
        "T4" => Some("t4"),
        "V100M16" | "V100M32" => Some("v100"),
        "A10" => Some("a10g"),
        _ => None,
    }
}

/// The Karpenter label a mapped `gpu_spec` selects on.
pub const GPU_NAME_LABEL: &str = "karpenter.k8s.aws/instance-gpu-name";

const COLUMNS: [&str; 11] = [
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
];
/// Columns that may be absent.
const OPTIONAL: [&str; 2] = ["name", "gpu_spec"];
const PHASES: [&str; 5] = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];

/// One pod of the pod list, checked.
#[derive(Debug, Clone)]
struct Pod {
    name: String,
    cpu_milli: u64,
    memory_mib: u64,
    num_gpu: u64,
    gpu_milli: u64,
    gpu_spec: String,
    qos: String,
    phase: &'static str,
    creation_ms: u64,
    deletion_ms: u64,
    scheduled_ms: Option<u64>,
}

/// Reads the pod list row by row.
struct PodList {
    file: String,
    csv: csv::Reader<File>,
    record: csv::StringRecord,
    /// Column index of each of [`COLUMNS`].
    cols: [Option<usize>; 11],
}

impl PodList {
    fn open(path: &Path) -> Result<PodList, String> {
        let file = path.display().to_string();
        let f = File::open(path).map_err(|e| format!("{file}: {e}"))?;
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(f);
        let mut record = csv::StringRecord::new();
        let got = csv
            .read_record(&mut record)
            .map_err(|e| format!("{file}:1: {e}"))?;
        if !got {
            return Err(format!(
                "{file}:1: the file is empty; expected the header of an Alibaba openb pod list ({})",
                COLUMNS.join(",")
            ));
        }
        let mut cols = [None; 11];
        for (i, raw) in record.iter().enumerate() {
            let name = raw.trim().trim_start_matches('\u{feff}');
            let Some(c) = COLUMNS.iter().position(|c| *c == name) else {
                let hint = crate::config::closest(name, COLUMNS)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                return Err(format!(
                    "{file}:1: unknown column `{name}`{hint}; an openb pod list has the columns {}",
                    COLUMNS.join(", ")
                ));
            };
            if cols[c].is_some() {
                return Err(format!("{file}:1: column `{name}` appears twice"));
            }
            cols[c] = Some(i);
        }
        for (c, name) in COLUMNS.iter().enumerate() {
            if cols[c].is_none() && !OPTIONAL.contains(name) {
                return Err(format!(
                    "{file}:1: missing column `{name}`; an openb pod list has the columns {}",
                    COLUMNS.join(", ")
                ));
            }
        }
        Ok(PodList {
            file,
            csv,
            record,
            cols,
        })
    }

    /// The next pod, `None` at the end.
    fn next_pod(&mut self) -> Option<Result<Pod, String>> {
        match self.csv.read_record(&mut self.record) {
            Ok(false) => None,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                Some(Err(format!("{}:{line}: {e}", self.file)))
            }
            Ok(true) => {
                let line = self.record.position().map_or(0, csv::Position::line);
                if self.record.len() == 1 && self.record[0].trim().is_empty() {
                    return self.next_pod();
                }
                Some(self.parse(line))
            }
        }
    }

    fn cell(&self, c: usize) -> &str {
        self.cols[c]
            .and_then(|i| self.record.get(i))
            .unwrap_or("")
            .trim()
    }

    fn parse(&self, line: u64) -> Result<Pod, String> {
        let err =
            |c: usize, what: String| format!("{}:{line}: column {}: {what}", self.file, COLUMNS[c]);
        // Up to 2^40 (a trillion millicores, a thousand PiB): larger is no real pod, and would
        // not fit the trace's quantities.
        let whole = |c: usize, unit: &str| -> Result<u64, String> {
            let v = self.cell(c);
            match v.parse::<u64>() {
                Ok(n) if n <= 1 << 40 => Ok(n),
                Ok(_) => Err(err(c, format!("`{v}` {unit} is too large for a pod"))),
                Err(_) => Err(err(
                    c,
                    format!("`{v}` is not a whole number of {unit} (zero or more)"),
                )),
            }
        };
        let time = |c: usize| -> Result<Option<u64>, String> {
            let v = self.cell(c);
            if v.is_empty() {
                return Ok(None);
            }
            match v.parse::<f64>() {
                Ok(s) if (0.0..9.0e12).contains(&s) => Ok(Some((s * 1000.0).round() as u64)),
                _ => Err(err(
                    c,
                    format!("`{v}` is not a time in seconds from the trace start (zero or more)"),
                )),
            }
        };
        if self.record.len() != self.cols.iter().flatten().count() {
            return Err(format!(
                "{}:{line}: the row has {} fields but the header names {} columns",
                self.file,
                self.record.len(),
                self.cols.iter().flatten().count()
            ));
        }
        let cpu_milli = whole(1, "millicores")?;
        let memory_mib = whole(2, "MiB")?;
        let num_gpu = whole(3, "GPUs")?;
        let gpu_milli = whole(4, "milli-GPUs")?;
        if gpu_milli > 1000 {
            return Err(err(
                4,
                format!("{gpu_milli} is more than one GPU (1000); use num_gpu for whole GPUs"),
            ));
        }
        if num_gpu == 0 && gpu_milli > 0 {
            return Err(err(
                4,
                format!("a share of {gpu_milli} milli-GPU needs num_gpu of at least 1 (it is 0)"),
            ));
        }
        let qos = self.cell(6).to_string();
        if !is_valid_label_value(&qos) {
            return Err(err(
                6,
                format!("`{qos}` is not a QoS class (LS, BE, Burstable, Guaranteed)"),
            ));
        }
        let phase_cell = self.cell(7);
        let Some(phase) = PHASES.iter().find(|p| **p == phase_cell) else {
            return Err(err(
                7,
                format!("`{phase_cell}` is not a pod phase ({})", PHASES.join(", ")),
            ));
        };
        let creation_ms = time(8)?.ok_or_else(|| err(8, "is empty".into()))?;
        let deletion_ms = time(9)?.ok_or_else(|| err(9, "is empty".into()))?;
        let scheduled_ms = time(10)?;
        if deletion_ms < creation_ms {
            return Err(err(
                9,
                format!(
                    "the pod is deleted ({} s) before it is created ({} s)",
                    format_secs(deletion_ms),
                    format_secs(creation_ms)
                ),
            ));
        }
        if let Some(s) = scheduled_ms {
            if s < creation_ms {
                return Err(err(
                    10,
                    format!(
                        "the pod is scheduled ({} s) before it is created ({} s)",
                        format_secs(s),
                        format_secs(creation_ms)
                    ),
                ));
            }
            if s > deletion_ms {
                return Err(err(
                    10,
                    format!(
                        "the pod is scheduled ({} s) after it is deleted ({} s)",
                        format_secs(s),
                        format_secs(deletion_ms)
                    ),
                ));
            }
        }
        Ok(Pod {
            name: self.cell(0).to_string(),
            cpu_milli,
            memory_mib,
            num_gpu,
            gpu_milli,
            gpu_spec: self.cell(5).to_string(),
            qos,
            phase,
            creation_ms,
            deletion_ms,
            scheduled_ms,
        })
    }
}

/// What the conversion counted, for the summary.
#[derive(Debug, Default)]
struct Counts {
    pods: u64,
    rows: u64,
    never_scheduled: u64,
    ended_before_window: u64,
    after_window: u64,
    shared_gpu: u64,
    censored: u64,
    gpu_spec_mapped: u64,
    /// Dropped `gpu_spec` values and how often.
    gpu_spec_dropped: BTreeMap<String, u64>,
}

/// Converts an openb pod list. See the module documentation of [`crate::import`].
pub fn import_openb(a: &OpenbArgs, stdout: &mut dyn Write) -> Result<ImportOutcome, Vec<String>> {
    let window = |flag: &str, v: &Option<String>| -> Result<Option<u64>, Vec<String>> {
        v.as_deref()
            .map(|s| parse_duration_ms(s).map_err(|e| vec![format!("--{flag}: {e}")]))
            .transpose()
    };
    let from_ms = window("from", &a.from)?.unwrap_or(0);
    let to_ms = window("to", &a.to)?;
    if let Some(to) = to_ms
        && to <= from_ms
    {
        return Err(vec![format!(
            "--to ({}) must be later than --from ({})",
            a.to.as_deref().unwrap_or_default(),
            a.from.as_deref().unwrap_or("0s")
        )]);
    }
    if !is_valid_dns_label(&a.namespace) {
        return Err(vec![format!(
            "--namespace: `{}` is not a namespace name (a DNS label: lower-case letters, digits \
             and `-`, at most 63 characters)",
            a.namespace
        )]);
    }
    // Pass 1: check every row and find the trace's last timestamp.
    let mut list = PodList::open(&a.file).map_err(|e| vec![e])?;
    let mut last_ms = 0u64;
    let mut pods = 0u64;
    while let Some(p) = list.next_pod() {
        let p = p.map_err(|e| vec![e])?;
        last_ms = last_ms.max(p.deletion_ms);
        pods += 1;
    }
    // Pass 2: write.
    let mut staged = match &a.out {
        Some(path) => Some(
            Staged::create(path).map_err(|e| vec![format!("writing {}: {e}", path.display())])?,
        ),
        None => None,
    };
    let sink: &mut dyn Write = match staged.as_mut() {
        Some(s) => s,
        None => stdout,
    };
    let dest = a.out.as_ref().map_or_else(
        || "standard output".to_string(),
        |p| p.display().to_string(),
    );
    let io = |e: std::io::Error| vec![format!("writing {dest}: {e}")];
    let mut counts = Counts {
        pods,
        ..Counts::default()
    };
    {
        let mut out = csv::Writer::from_writer(&mut *sink);
        out.write_record([
            "arrival",
            "duration",
            "namespace",
            "owner",
            "cpu",
            "memory",
            "gpu",
            "labels",
            "node_selector",
            "tolerations",
        ])
        .map_err(|e| io(e.into()))?;
        let mut list = PodList::open(&a.file).map_err(|e| vec![e])?;
        while let Some(p) = list.next_pod() {
            let p = p.map_err(|e| vec![e])?;
            if let Some(row) = convert(&p, from_ms, to_ms, last_ms, &a.namespace, &mut counts) {
                out.write_record(&row).map_err(|e| io(e.into()))?;
                counts.rows += 1;
            }
        }
        out.flush().map_err(io)?;
    }
    if let Some(s) = staged {
        s.commit().map_err(io)?;
    }
    Ok(ImportOutcome {
        rows: counts.rows,
        written: a.out.iter().cloned().collect(),
        summary: summary(&a.file, &dest, &counts, last_ms),
    })
}

/// One pod's trace row, or `None` when it is skipped (and counted).
fn convert(
    p: &Pod,
    from_ms: u64,
    to_ms: Option<u64>,
    last_ms: u64,
    namespace: &str,
    c: &mut Counts,
) -> Option<[String; 10]> {
    let Some(scheduled_ms) = p.scheduled_ms else {
        c.never_scheduled += 1;
        return None;
    };
    if to_ms.is_some_and(|t| p.creation_ms >= t) {
        c.after_window += 1;
        return None;
    }
    if p.creation_ms < from_ms && p.deletion_ms <= from_ms {
        c.ended_before_window += 1;
        return None;
    }
    let arrival_ms = p.creation_ms.saturating_sub(from_ms);
    let censored = p.phase == "Running" && p.deletion_ms == last_ms;
    let duration = if censored {
        c.censored += 1;
        String::new()
    } else {
        format_secs(p.deletion_ms - scheduled_ms.max(from_ms))
    };
    let mut node_selector = String::new();
    let mut tolerations = String::new();
    let mut gpu = String::new();
    if p.num_gpu > 0 {
        gpu = p.num_gpu.to_string();
        tolerations = "nvidia.com/gpu:NoSchedule".into();
        if p.gpu_milli < 1000 {
            c.shared_gpu += 1;
        }
        if !p.gpu_spec.is_empty() {
            let mut names: Vec<&str> = p.gpu_spec.split('|').filter_map(ec2_gpu_name).collect();
            names.sort_unstable();
            names.dedup();
            if let [one] = names[..] {
                node_selector = format!("{GPU_NAME_LABEL}={one}");
                c.gpu_spec_mapped += 1;
            } else {
                *c.gpu_spec_dropped.entry(p.gpu_spec.clone()).or_insert(0) += 1;
            }
        }
    }
    let mut labels = String::new();
    if !p.qos.is_empty() {
        labels = format!("qos={}", p.qos);
    }
    if !p.name.is_empty() && is_valid_label_value(&p.name) {
        if !labels.is_empty() {
            labels.push(';');
        }
        labels.push_str(&format!("openb-pod={}", p.name));
    }
    Some([
        format_secs(arrival_ms),
        duration,
        namespace.to_string(),
        p.qos.to_ascii_lowercase(),
        format_milli(i64::try_from(p.cpu_milli).unwrap_or(i64::MAX)),
        format!("{}Mi", p.memory_mib),
        gpu,
        labels,
        node_selector,
        tolerations,
    ])
}

fn summary(file: &Path, dest: &str, c: &Counts, last_ms: u64) -> Vec<String> {
    let mut s = vec![format!(
        "imported {} of the {} in {} into {dest}",
        c.rows,
        plural(c.pods, "pod", "pods"),
        file.display()
    )];
    if c.never_scheduled > 0 {
        s.push(format!(
            "skipped {} never scheduled (no scheduled_time: deleted while Pending, no run time known)",
            plural(c.never_scheduled, "pod", "pods")
        ));
    }
    if c.ended_before_window > 0 {
        s.push(format!(
            "skipped {} that ended before --from",
            plural(c.ended_before_window, "pod", "pods")
        ));
    }
    if c.after_window > 0 {
        s.push(format!(
            "skipped {} created at or after --to",
            plural(c.after_window, "pod", "pods")
        ));
    }
    if c.shared_gpu > 0 {
        s.push(format!(
            "{} asked for a share of a GPU (gpu_milli < 1000): each got whole GPUs \
             (nvidia.com/gpu = num_gpu), as Kubernetes counts GPUs in whole units",
            plural(c.shared_gpu, "pod", "pods")
        ));
    }
    if c.censored > 0 {
        s.push(format!(
            "{} still Running at the trace's last timestamp ({} s) run until the end of the \
             simulation (empty duration)",
            plural(c.censored, "pod", "pods"),
            format_secs(last_ms)
        ));
    }
    if c.gpu_spec_mapped > 0 {
        s.push(format!(
            "{} with a gpu_spec select {GPU_NAME_LABEL}",
            plural(c.gpu_spec_mapped, "pod", "pods")
        ));
    }
    if !c.gpu_spec_dropped.is_empty() {
        let total: u64 = c.gpu_spec_dropped.values().sum();
        let list: Vec<String> = c
            .gpu_spec_dropped
            .iter()
            .map(|(k, v)| format!("{k} ({v})"))
            .collect();
        s.push(format!(
            "gpu_spec dropped for {} (no single EC2 GPU matches): {}",
            plural(total, "pod", "pods"),
            list.join(", ")
        ));
    }
    s
}
