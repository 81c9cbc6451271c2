//! `karpsim import k8s`: a `kubectl get pods -A -o json` snapshot → trace CSV and pod templates.
//! The mapping rules are in the parent module's documentation.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_yaml::{Mapping, Value};

use super::{ImportOutcome, Staged, plural};
use crate::config::docs::read_documents;
use crate::config::k8s::{ObjectMeta, TolerationOperator, parse_meta};
use crate::config::pod::{PodSpec, parse_pod_spec};
use crate::config::pos::join_index;
use crate::config::walk::{Ctx, type_name};
use crate::config::{ConfigError, Toleration};
use crate::units::format_milli;

/// `karpsim import k8s`.
#[derive(Debug, Args)]
pub struct K8sArgs {
    /// The pods: the output of `kubectl get pods -A -o json` (a List of v1 Pods, or one Pod).
    pub file: PathBuf,
    /// Write the trace CSV to this file [default: standard output].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the pod templates (for pods the CSV cannot describe) to this file [default: next
    /// to --out, named <out>.templates.yaml; required when the trace goes to standard output
    /// and a pod needs a template].
    #[arg(long, value_name = "FILE")]
    pub templates: Option<PathBuf>,
}

/// The annotation that marks a mirror (static) pod.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Karpenter's do-not-disrupt annotation.
const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
/// The alphabet of Kubernetes' generated name hashes (`rand.SafeEncodeString`).
const HASH_ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";
/// Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_SECONDS: i64 = 30;
/// Requests a trace row can carry.
const ROW_RESOURCES: [&str; 3] = ["cpu", "memory", "nvidia.com/gpu"];
/// `PodSpec` fields a template keeps besides `containers` (handled on its own): every field the
/// template parser reads but `nodeName`, which a replay must not pin.
fn template_spec_fields() -> impl Iterator<Item = &'static str> {
    crate::config::PODSPEC_FIELDS
        .iter()
        .copied()
        .filter(|f| !matches!(*f, "containers" | "nodeName"))
}

/// One pod kept for the trace.
struct Row {
    sort_key: (String, String, String),
    namespace: String,
    owner: Option<String>,
    cpu_milli: i64,
    memory_milli: i64,
    gpu: Option<i64>,
    priority: Option<i32>,
    labels: BTreeMap<String, String>,
    node_selector: BTreeMap<String, String>,
    tolerations: Vec<Toleration>,
    do_not_disrupt: bool,
    /// The kept spec, when the pod needs a template.
    template: Option<Value>,
}

#[derive(Debug, Default)]
struct Counts {
    pods: u64,
    succeeded: u64,
    failed: u64,
    daemonset: u64,
    mirror: u64,
    /// Why pods became templates, and how often.
    template_reasons: BTreeMap<&'static str, u64>,
}

/// Converts a kubectl pod list. See the module documentation of [`crate::import`].
pub fn import_k8s(a: &K8sArgs, stdout: &mut dyn Write) -> Result<ImportOutcome, Vec<String>> {
    let file = &a.file;
    let text =
        std::fs::read_to_string(file).map_err(|e| vec![format!("{}: {e}", file.display())])?;
    let mut errors = Vec::new();
    let docs = read_documents(&text, file, &mut errors);
    let mut counts = Counts::default();
    let mut rows = Vec::new();
    if errors.is_empty() {
        match docs.as_slice() {
            [doc] => {
                let mut ctx = Ctx::new(file, doc.pos.as_ref(), &mut errors);
                read_top(&mut ctx, &doc.value, &mut counts, &mut rows);
            }
            [] => errors.push(whole_file_error(file, "the file is empty")),
            _ => errors.push(whole_file_error(
                file,
                "expected one JSON document (the output of `kubectl get pods -A -o json`), found several",
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors.iter().map(ToString::to_string).collect());
    }
    rows.sort_by(|x, y| x.sort_key.cmp(&y.sort_key));

    // Templates: one per distinct kept spec, named after the first pod's owner (or name).
    let mut by_spec: BTreeMap<String, String> = BTreeMap::new();
    let mut templates: Vec<Value> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut row_template: Vec<Option<String>> = Vec::with_capacity(rows.len());
    for r in &rows {
        let Some(spec) = &r.template else {
            row_template.push(None);
            continue;
        };
        let key = serde_yaml::to_string(spec).map_err(|e| vec![format!("templates: {e}")])?;
        if let Some(n) = by_spec.get(&key) {
            row_template.push(Some(n.clone()));
            continue;
        }
        let base = r.owner.clone().unwrap_or_else(|| r.sort_key.2.clone());
        let mut name = base.clone();
        let mut i = 2;
        while names.contains(&name) {
            name = format!("{base}-{i}");
            i += 1;
        }
        let mut t = Mapping::new();
        t.insert("name".into(), Value::String(name.clone()));
        t.insert("spec".into(), spec.clone());
        templates.push(Value::Mapping(t));
        names.push(name.clone());
        by_spec.insert(key, name.clone());
        row_template.push(Some(name));
    }
    let templates_path = match (&a.templates, &a.out) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(out)) if !templates.is_empty() => Some(derived_templates_path(out)),
        (None, None) if !templates.is_empty() => {
            return Err(vec![format!(
                "{}: {} need a pod template (affinity, topology spread, ...); with the trace on \
                 standard output, name the templates file with --templates FILE (or give -o FILE)",
                file.display(),
                plural(row_template.iter().flatten().count() as u64, "pod", "pods")
            )]);
        }
        _ => None,
    };
    let templates_yaml = if templates.is_empty() {
        "[]\n".to_string()
    } else {
        let head = format!(
            "# Pod templates written by `karpsim import k8s {}` for pods the trace CSV cannot\n\
             # describe; the trace's `template` column names them.\n",
            file.display()
        );
        let mut body = serde_yaml::to_string(&Value::Sequence(templates.clone()))
            .map_err(|e| vec![format!("templates: {e}")])?;
        if !body.ends_with('\n') {
            body.push('\n');
        }
        head + &body
    };
    // The templates must load as the scenario loader reads them.
    if let Some(p) = &templates_path
        && let Err(e) = crate::config::parse_templates(&templates_yaml, p)
    {
        return Err(e
            .iter()
            .map(|x| format!("internal error: a written template does not load: {x}"))
            .collect());
    }

    if let (Some(out), Some(t)) = (&a.out, &templates_path)
        && out == t
    {
        return Err(vec![format!(
            "--templates {}: the same file as -o; give the pod templates a file of their own",
            t.display()
        )]);
    }
    let csv_text = write_rows(&rows, &row_template).map_err(|e| vec![format!("trace: {e}")])?;
    let mut written = Vec::new();
    match &a.out {
        Some(out) => {
            let mut staged_csv =
                Staged::create(out).map_err(|e| vec![format!("writing {}: {e}", out.display())])?;
            staged_csv
                .write_all(&csv_text)
                .map_err(|e| vec![format!("writing {}: {e}", out.display())])?;
            let staged_tpl = match &templates_path {
                Some(p) => {
                    let mut s = Staged::create(p)
                        .map_err(|e| vec![format!("writing {}: {e}", p.display())])?;
                    s.write_all(templates_yaml.as_bytes())
                        .map_err(|e| vec![format!("writing {}: {e}", p.display())])?;
                    Some((s, p))
                }
                None => None,
            };
            staged_csv
                .commit()
                .map_err(|e| vec![format!("writing {}: {e}", out.display())])?;
            written.push(out.clone());
            if let Some((s, p)) = staged_tpl {
                s.commit()
                    .map_err(|e| vec![format!("writing {}: {e}", p.display())])?;
                written.push(p.clone());
            }
        }
        None => {
            if let Some(p) = &templates_path {
                let mut s =
                    Staged::create(p).map_err(|e| vec![format!("writing {}: {e}", p.display())])?;
                s.write_all(templates_yaml.as_bytes())
                    .and_then(|()| s.commit())
                    .map_err(|e| vec![format!("writing {}: {e}", p.display())])?;
                written.push(p.clone());
            }
            stdout
                .write_all(&csv_text)
                .and_then(|()| stdout.flush())
                .map_err(|e| vec![format!("writing the trace: {e}")])?;
        }
    }
    let dest = a.out.as_ref().map_or_else(
        || "standard output".to_string(),
        |p| p.display().to_string(),
    );
    let mut summary = vec![format!(
        "imported {} of the {} in {} into {dest} (all arriving at 0, running to the end)",
        rows.len(),
        plural(counts.pods, "pod", "pods"),
        file.display()
    )];
    let skipped = [
        (
            counts.succeeded,
            "pod in phase Succeeded",
            "pods in phase Succeeded",
        ),
        (counts.failed, "pod in phase Failed", "pods in phase Failed"),
        (
            counts.daemonset,
            "DaemonSet pod (per-node overhead: list the DaemonSets in workload.daemonsets)",
            "DaemonSet pods (per-node overhead: list the DaemonSets in workload.daemonsets)",
        ),
        (counts.mirror, "static (mirror) pod", "static (mirror) pods"),
    ];
    for (n, one, many) in skipped {
        if n > 0 {
            summary.push(format!("skipped {}", plural(n, one, many)));
        }
    }
    let templated = row_template.iter().flatten().count() as u64;
    if templated > 0 {
        let why: Vec<String> = counts
            .template_reasons
            .iter()
            .map(|(k, v)| format!("{k} ({v})"))
            .collect();
        summary.push(format!(
            "{} use {} written to {} ({})",
            plural(templated, "pod", "pods"),
            plural(templates.len() as u64, "template", "templates"),
            templates_path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            why.join(", ")
        ));
    }
    if let Some(p) = &templates_path {
        summary.push(format!(
            "scenario: workload: {{pods: {dest}, templates: {}}}",
            p.display()
        ));
    }
    Ok(ImportOutcome {
        rows: rows.len() as u64,
        written,
        summary,
    })
}

/// `<dir>/<stem>.templates.yaml` for the trace `<dir>/<stem>.csv`.
pub(crate) fn derived_templates_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "trace".into());
    out.with_file_name(format!("{stem}.templates.yaml"))
}

fn whole_file_error(file: &Path, message: &str) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        line: None,
        column: None,
        field: String::new(),
        message: message.to_string(),
        suggestion: None,
    }
}

/// Reads the top object: a List (or PodList) of Pods, or one Pod.
fn read_top(ctx: &mut Ctx, v: &Value, counts: &mut Counts, rows: &mut Vec<Row>) {
    let Value::Mapping(m) = v else {
        ctx.err(
            "",
            format!(
                "expected the output of `kubectl get pods -A -o json` (a List of Pods), got {}",
                type_name(v)
            ),
        );
        return;
    };
    match m.get("kind").and_then(Value::as_str) {
        Some("List" | "PodList") => {
            let o = ctx.obj(v, "", &["apiVersion", "kind", "metadata", "items"]);
            match o.get("items") {
                Some(Value::Sequence(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        read_pod(ctx, item, &join_index("items", i), counts, rows);
                    }
                }
                Some(other) => ctx.err(
                    "items",
                    format!("expected a list, got {}", type_name(other)),
                ),
                None => {}
            }
        }
        Some("Pod") => read_pod(ctx, v, "", counts, rows),
        Some(other) => ctx.err(
            "kind",
            format!("kind `{other}`: expected a List of Pods (`kubectl get pods -A -o json`)"),
        ),
        None => ctx.error(
            "kind",
            crate::config::walk::At::Key,
            "missing `kind` (expected List, as `kubectl get pods -A -o json` writes)",
            None,
        ),
    }
}

fn read_pod(ctx: &mut Ctx, v: &Value, path: &str, counts: &mut Counts, rows: &mut Vec<Row>) {
    let o = ctx.obj(
        v,
        path,
        &["apiVersion", "kind", "metadata", "spec", "status"],
    );
    let Some(map) = o.map else {
        return;
    };
    match map.get("kind").and_then(Value::as_str) {
        Some("Pod") => {}
        Some(k) => {
            ctx.err(
                &o.path("kind"),
                format!("kind `{k}`: only Pods can be imported"),
            );
            return;
        }
        None => {
            ctx.error(
                &o.path("kind"),
                crate::config::walk::At::Key,
                "missing `kind` (expected Pod)",
                None,
            );
            return;
        }
    }
    counts.pods += 1;
    let meta = match o.get("metadata") {
        Some(m) => parse_meta(ctx, m, &o.path("metadata"), true),
        None => {
            ctx.missing(&o, "metadata");
            return;
        }
    };
    let Some(spec_v) = o.get("spec") else {
        ctx.missing(&o, "spec");
        return;
    };
    let spec_path = o.path("spec");
    let spec = parse_pod_spec(ctx, spec_v, &spec_path);
    let phase = o
        .get("status")
        .and_then(|s| s.get("phase"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let raw_meta = o.get("metadata");
    let owners: Vec<(String, String, bool)> = raw_meta
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_sequence)
        .map(|refs| {
            refs.iter()
                .map(|r| {
                    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    let controller = r.get("controller").and_then(Value::as_bool) == Some(true);
                    (s("kind"), s("name"), controller)
                })
                .collect()
        })
        .unwrap_or_default();
    match phase {
        "Succeeded" => {
            counts.succeeded += 1;
            return;
        }
        "Failed" => {
            counts.failed += 1;
            return;
        }
        _ => {}
    }
    if meta.annotations.contains_key(MIRROR_ANNOTATION) || owners.iter().any(|o| o.0 == "Node") {
        counts.mirror += 1;
        return;
    }
    if owners.iter().any(|o| o.0 == "DaemonSet") {
        counts.daemonset += 1;
        return;
    }
    let owner = owners
        .iter()
        .find(|o| o.2)
        .or(owners.first())
        .filter(|o| !o.1.is_empty())
        .map(|(kind, name, _)| {
            if kind == "ReplicaSet" {
                deployment_name(
                    name,
                    meta.labels.get("pod-template-hash").map(String::as_str),
                )
            } else {
                name.clone()
            }
        });
    let requests = spec.effective_requests();
    let gpu = match requests.get("nvidia.com/gpu") {
        Some(g) if g % 1000 != 0 => {
            ctx.err(
                &spec_path,
                format!(
                    "the pod requests {} nvidia.com/gpu: GPUs are counted in whole units",
                    format_milli(*g)
                ),
            );
            return;
        }
        Some(g) => Some(g / 1000),
        None => None,
    };
    let reasons = template_reasons(&spec, &requests);
    for r in &reasons {
        *counts.template_reasons.entry(r).or_insert(0) += 1;
    }
    let template = (!reasons.is_empty()).then(|| template_spec(spec_v));
    let name = meta.name.clone().unwrap_or_default();
    let namespace = meta
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into());
    let created = raw_meta
        .and_then(|m| m.get("creationTimestamp"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let ObjectMeta {
        labels,
        annotations,
        ..
    } = meta;
    rows.push(Row {
        sort_key: (created, namespace.clone(), name),
        namespace,
        owner,
        cpu_milli: requests.get("cpu").copied().unwrap_or(0),
        memory_milli: requests.get("memory").copied().unwrap_or(0),
        gpu,
        priority: spec.priority,
        labels,
        node_selector: spec.node_selector.clone(),
        tolerations: spec
            .tolerations
            .iter()
            .filter(|t| !is_default_toleration(t))
            .cloned()
            .collect(),
        do_not_disrupt: annotations
            .get(DO_NOT_DISRUPT)
            .is_some_and(|v| v.trim() == "true"),
        template,
    });
}

/// Why a pod needs a template: what its spec holds that a trace row cannot.
fn template_reasons(spec: &PodSpec, requests: &BTreeMap<String, i64>) -> Vec<&'static str> {
    let mut why = Vec::new();
    if let Some(a) = &spec.affinity {
        if a.node_affinity
            .as_ref()
            .is_some_and(|n| !n.required.is_empty() || !n.preferred.is_empty())
        {
            why.push("node affinity");
        }
        if a.pod_affinity
            .as_ref()
            .is_some_and(|p| !p.required.is_empty() || !p.preferred.is_empty())
        {
            why.push("pod affinity");
        }
        if a.pod_anti_affinity
            .as_ref()
            .is_some_and(|p| !p.required.is_empty() || !p.preferred.is_empty())
        {
            why.push("pod anti-affinity");
        }
    }
    if !spec.topology_spread_constraints.is_empty() {
        why.push("topology spread");
    }
    if !spec.host_ports().is_empty() {
        why.push("host ports");
    }
    if requests
        .keys()
        .any(|k| !ROW_RESOURCES.contains(&k.as_str()))
    {
        why.push("other resources");
    }
    if spec
        .tolerations
        .iter()
        .any(|t| t.key.is_none() && t.effect.is_none())
    {
        why.push("tolerates every taint");
    }
    if spec
        .termination_grace_period_seconds
        .is_some_and(|s| s != 0 && s != DEFAULT_GRACE_SECONDS)
    {
        why.push("grace period");
    }
    why
}

/// The two tolerations the DefaultTolerationSeconds admission plugin adds to every pod.
fn is_default_toleration(t: &Toleration) -> bool {
    matches!(
        t.key.as_deref(),
        Some("node.kubernetes.io/not-ready" | "node.kubernetes.io/unreachable")
    ) && t.operator == TolerationOperator::Exists
        && t.effect.map(|e| e.as_str()) == Some("NoExecute")
        && t.toleration_seconds == Some(300)
}

/// The same check on a raw toleration of the pod spec.
fn is_default_toleration_value(v: &Value) -> bool {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    matches!(
        s("key"),
        Some("node.kubernetes.io/not-ready" | "node.kubernetes.io/unreachable")
    ) && s("operator") == Some("Exists")
        && s("effect") == Some("NoExecute")
        && v.get("tolerationSeconds").and_then(Value::as_i64) == Some(300)
}

/// The scheduling fields of a (checked) pod spec, as a template keeps them.
fn template_spec(spec: &Value) -> Value {
    let mut out = Mapping::new();
    let container = |c: &Value, init: bool| -> Value {
        let mut m = Mapping::new();
        let keys: &[&str] = if init {
            &["name", "resources", "ports", "restartPolicy"]
        } else {
            &["name", "resources", "ports"]
        };
        for k in keys {
            if let Some(v) = c.get(*k).filter(|v| !v.is_null()) {
                m.insert((*k).into(), v.clone());
            }
        }
        Value::Mapping(m)
    };
    if let Some(Value::Sequence(cs)) = spec.get("containers") {
        out.insert(
            "containers".into(),
            Value::Sequence(cs.iter().map(|c| container(c, false)).collect()),
        );
    }
    for k in template_spec_fields() {
        let Some(v) = spec.get(k).filter(|v| !v.is_null()) else {
            continue;
        };
        let v = match (k, v) {
            ("initContainers", Value::Sequence(cs)) => {
                Value::Sequence(cs.iter().map(|c| container(c, true)).collect())
            }
            ("tolerations", Value::Sequence(ts)) => {
                let kept: Vec<Value> = ts
                    .iter()
                    .filter(|t| !is_default_toleration_value(t))
                    .cloned()
                    .collect();
                if kept.is_empty() {
                    continue;
                }
                Value::Sequence(kept)
            }
            ("terminationGracePeriodSeconds", n)
                if matches!(n.as_i64(), Some(0 | DEFAULT_GRACE_SECONDS)) =>
            {
                continue;
            }
            _ => v.clone(),
        };
        out.insert(k.into(), v);
    }
    Value::Mapping(out)
}

/// A ReplicaSet's Deployment: the name without its `-<pod-template-hash>` suffix (see the
/// module documentation for the rule).
pub(crate) fn deployment_name(rs: &str, pod_template_hash: Option<&str>) -> String {
    if let Some(h) = pod_template_hash.filter(|h| !h.is_empty())
        && let Some(base) = rs.strip_suffix(h).and_then(|b| b.strip_suffix('-'))
        && !base.is_empty()
    {
        return base.to_string();
    }
    if let Some((base, tail)) = rs.rsplit_once('-')
        && !base.is_empty()
        && (5..=10).contains(&tail.len())
        && tail.chars().all(|c| HASH_ALPHABET.contains(c))
    {
        return base.to_string();
    }
    rs.to_string()
}

/// The trace CSV of the rows, every column of the contract.
fn write_rows(rows: &[Row], templates: &[Option<String>]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(crate::workload::TRACE_COLUMNS)?;
    let pairs = |m: &BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    };
    for (r, t) in rows.iter().zip(templates) {
        // With a template, node selector and tolerations come from it (a row's would be added
        // to the template's, so writing them twice is avoided).
        let (ns, tols) = if t.is_some() {
            (String::new(), String::new())
        } else {
            (
                pairs(&r.node_selector),
                r.tolerations
                    .iter()
                    .map(toleration_cell)
                    .collect::<Vec<_>>()
                    .join(";"),
            )
        };
        out.write_record([
            "0".to_string(),
            String::new(),
            r.namespace.clone(),
            r.owner.clone().unwrap_or_default(),
            format_milli(r.cpu_milli),
            format_memory(r.memory_milli),
            r.gpu.map(|g| g.to_string()).unwrap_or_default(),
            t.clone().unwrap_or_default(),
            r.priority.map(|p| p.to_string()).unwrap_or_default(),
            pairs(&r.labels),
            ns,
            tols,
            if r.do_not_disrupt { "true" } else { "" }.to_string(),
        ])?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// A memory milli-value as a quantity: whole `Mi` or `Ki` where exact, else bytes (or milli-bytes).
pub(super) fn format_memory(milli: i64) -> String {
    const KI: i64 = 1024 * 1000;
    const MI: i64 = 1024 * KI;
    const GI: i64 = 1024 * MI;
    if milli == 0 {
        "0".into()
    } else if milli % GI == 0 {
        format!("{}Gi", milli / GI)
    } else if milli % MI == 0 {
        format!("{}Mi", milli / MI)
    } else if milli % KI == 0 {
        format!("{}Ki", milli / KI)
    } else {
        format_milli(milli)
    }
}

/// A toleration in the `tolerations` cell syntax.
pub(super) fn toleration_cell(t: &Toleration) -> String {
    let mut s = t.key.clone().unwrap_or_default();
    if t.operator == TolerationOperator::Equal {
        s.push('=');
        s.push_str(t.value.as_deref().unwrap_or(""));
    }
    if let Some(e) = t.effect {
        s.push(':');
        s.push_str(e.as_str());
    }
    s
}
