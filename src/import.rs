//! `karpsim import`: real traces converted into karpsim's pod-trace CSV (contract section 2.3).
//!
//! Two sources, each a subcommand:
//!
//! # `karpsim import alibaba-openb POD_LIST.csv [-o trace.csv]`
//!
//! The pod list of the Alibaba GPU cluster trace v2023 (`openb_pod_list_*.csv`: columns `name`,
//! `cpu_milli`, `memory_mib`, `num_gpu`, `gpu_milli`, `gpu_spec`, `qos`, `pod_phase`,
//! `creation_time`, `deletion_time`, `scheduled_time`; times in seconds from the trace start).
//! `name` and `gpu_spec` may be absent; every other column is required, and a column not in this
//! list is an error. Each pod that ran becomes one trace row:
//!
//! - `arrival` = `creation_time`, kept absolute (the trace starts at 0). With `--from T`, the
//!   window starts at T: times are shifted by −T, and pods created before T that are still alive
//!   at T arrive at 0. With `--to T`, pods created at or after T are left out.
//! - `duration` = `deletion_time − scheduled_time` (the time the pod ran once scheduled, which is
//!   what karpsim's `duration` means; with `--from`, the part after the window start). A
//!   `Running` pod whose `deletion_time` is the largest of the file was cut off by the end of the
//!   trace (the file has 34 such pods): its `duration` is empty, so it runs until the end of the
//!   simulation.
//! - Pods with no `scheduled_time` (the trace's `Pending` pods, deleted before they were ever
//!   scheduled) are skipped and counted: no run time is known for them. Other phases (`Running`,
//!   `Failed`, `Succeeded`) all ran and are kept.
//! - `cpu` = `cpu_milli` millicores, `memory` = `memory_mib` MiB.
//! - `gpu` = `num_gpu`. Alibaba shares GPUs (`gpu_milli` < 1000 is a share of one GPU), but
//!   `nvidia.com/gpu` is a whole count: such a pod gets `num_gpu` whole GPUs (one, in this
//!   trace); the summary counts them. Every GPU pod tolerates `nvidia.com/gpu:NoSchedule` (the
//!   toleration Kubernetes' ExtendedResourceToleration admission plugin adds), so it can use a
//!   GPU NodePool tainted that way, as Karpenter's GPU examples are.
//! - `gpu_spec` (`|`-separated GPU models) becomes the node selector
//!   `karpenter.k8s.aws/instance-gpu-name` where the models map onto one EC2 GPU name: `T4` →
//!   `t4`, `V100M16` and `V100M32` → `v100`, `A10` → `a10g` (EC2's A10 variant). Models with no
//!   EC2 counterpart (`P100`, Alibaba's undisclosed `G1`/`G2`/`G3`) are dropped from the list;
//!   when nothing is left, or the list maps onto several EC2 names (a `k=v` selector holds one),
//!   the constraint is dropped, and the summary says how often.
//! - `namespace` = `openb` (`--namespace`); `owner` = the `qos` class in lower case (`ls`, `be`,
//!   `burstable`, `guaranteed`), so cost by owner splits by QoS class; `labels` = `qos=<qos>`
//!   plus `openb-pod=<name>` (the source pod's name). `priority` stays empty: the trace records
//!   none.
//!
//! The file is read twice, row by row (once to check every row and find the trace's last
//! timestamp, once to write), so a file of any length is converted in bounded memory.
//!
//! # `karpsim import k8s PODS.json [-o trace.csv] [--templates templates.yaml]`
//!
//! The output of `kubectl get pods -A -o json` (a `List` of `v1` Pods; a single Pod also does),
//! a snapshot of a cluster's pods. The file is read as YAML (JSON is a subset), with the same
//! checks as a template's pod spec, so errors name the file, line and field. Each pod becomes a
//! row:
//!
//! - `arrival` = 0 for every pod (a snapshot: all pods exist when the simulation starts), rows in
//!   order of `metadata.creationTimestamp` (then namespace and name), so kube-scheduler's queue
//!   (priority, then creation order) meets them in the cluster's creation order. `duration` is
//!   empty: the pods run until the end.
//! - `namespace` = `metadata.namespace` (default `default`).
//! - `owner` = the name of the controlling owner reference (`controller: true`, else the first).
//!   A ReplicaSet's name `<deployment>-<hash>` is trimmed to the Deployment's name: the suffix
//!   removed is the pod's `pod-template-hash` label, or else a last `-` segment of 5 to 10
//!   characters from the alphabet Kubernetes writes such hashes in (`bcdfghjklmnpqrstvwxz2456789`).
//!   Jobs, StatefulSets and other owners keep their names; a pod without owner has none.
//! - `cpu`, `memory`, `gpu` = the pod's effective requests as Kubernetes computes them: the sum
//!   over containers (and sidecars), or the largest init container (plus the sidecars before
//!   it) when that is more, per resource; pod-level `resources.requests` where set; plus
//!   `overhead`. A pod with no request gets `0`.
//! - `priority` = `spec.priority`; `labels` = `metadata.labels`; `node_selector` =
//!   `spec.nodeSelector`; `tolerations` = `spec.tolerations` (`tolerationSeconds` is dropped, and
//!   so are the two tolerations the DefaultTolerationSeconds admission plugin adds to every pod:
//!   `node.kubernetes.io/not-ready` and `node.kubernetes.io/unreachable`, `NoExecute`, 300 s);
//!   `do_not_disrupt` = the annotation `karpenter.sh/do-not-disrupt: "true"`.
//! - `spec.nodeName` is not kept: the simulated cluster places the pods itself.
//! - A pod whose constraints the CSV cannot express becomes a pod template (contract section
//!   2.2) named after its owner (`-2`, `-3`, ... when pods of one owner differ), referenced from
//!   its row's `template` column: node or pod (anti-)affinity, `topologySpreadConstraints`, host
//!   ports, requests other than `cpu`, `memory` and `nvidia.com/gpu` (such as
//!   `ephemeral-storage`), a toleration of every taint, or a `terminationGracePeriodSeconds`
//!   other than the 30 s default (trace rows have none). The template keeps the pod spec's
//!   scheduling fields (containers' `name`, `resources`, `ports`; init containers also
//!   `restartPolicy`; `overhead`, `nodeSelector`, `affinity`, `tolerations`,
//!   `topologySpreadConstraints`, `priorityClassName`, `priority`,
//!   `terminationGracePeriodSeconds` when not 30, `hostNetwork`, pod-level `resources`); pods
//!   with identical kept specs share one template. The row still carries the requests, labels,
//!   priority and `do_not_disrupt`.
//! - Skipped and counted: pods in phase `Succeeded` or `Failed` (they hold no resources),
//!   DaemonSet pods (their cost is per-node overhead: give the DaemonSets to the scenario's
//!   `workload.daemonsets`), and static (mirror) pods (annotation `kubernetes.io/config.mirror`
//!   or owned by a Node).
//!
//! Templates go to `--templates FILE`, by default `<out>.templates.yaml` next to `-o <out>.csv`
//! (written only when a pod needs one; an explicit `--templates` is always written, `[]` when
//! empty). Writing the trace to standard output with pods that need templates and no
//! `--templates` is an error.
//!
//! # Errors and output
//!
//! Bad input is an error naming the file, line and column or field (exit 2), and nothing is
//! written: every output file is staged next to its destination and renamed into place only
//! when the whole conversion succeeded. What was skipped, rounded or dropped is summarised on
//! standard error.
//!
//! Owns: the importers' mapping rules and their flags. May not: print (the CLI prints the
//! summary this module returns) or know the engine.

mod k8s;
mod openb;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

pub use k8s::{K8sArgs, import_k8s};
pub use openb::{OpenbArgs, ec2_gpu_name, import_openb};

/// `karpsim import`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
      karpsim import alibaba-openb openb_pod_list_default.csv -o openb.csv\n  \
      karpsim import alibaba-openb openb_pod_list_default.csv --from 3312h --to 3336h -o day138.csv\n  \
      kubectl get pods -A -o json > pods.json && karpsim import k8s pods.json -o cluster.csv")]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
}

/// The trace formats `karpsim import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// Alibaba GPU cluster trace v2023 pod list (`openb_pod_list_*.csv`) → trace CSV.
    ///
    /// One row per pod that ran: arrival = creation_time (absolute; --from shifts the window),
    /// duration = deletion_time − scheduled_time (empty for Running pods cut off at the
    /// trace's last timestamp), cpu = cpu_milli, memory = memory_mib Mi, gpu = num_gpu (a GPU
    /// share, gpu_milli < 1000, becomes a whole GPU), a nvidia.com/gpu:NoSchedule toleration
    /// on GPU pods, gpu_spec → karpenter.k8s.aws/instance-gpu-name where an EC2 GPU matches
    /// (T4 → t4, V100M16/V100M32 → v100, A10 → a10g; otherwise dropped), namespace openb,
    /// owner = qos in lower case, labels qos=<qos> and openb-pod=<name>. Pods never scheduled
    /// (no scheduled_time) are skipped. A summary of skips and roundings goes to stderr.
    #[command(name = "alibaba-openb")]
    AlibabaOpenb(OpenbArgs),
    /// `kubectl get pods -A -o json` snapshot → trace CSV (+ pod templates).
    ///
    /// One row per pod, all arriving at 0 in creation order, running to the end: namespace,
    /// owner (ReplicaSet names trimmed to their Deployment), effective requests (containers,
    /// init containers, overhead), priority, labels, nodeSelector, tolerations, the
    /// karpenter.sh/do-not-disrupt annotation. Pods with affinity, topology spread, host ports,
    /// other resources or a non-default grace period become templates (--templates).
    /// Succeeded/Failed, DaemonSet and static pods are skipped and counted on stderr.
    K8s(K8sArgs),
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Rows written.
    pub rows: u64,
    /// Files written (the trace, then templates), empty when the trace went to stdout.
    pub written: Vec<PathBuf>,
    /// Lines for standard error: what was read, skipped, rounded or dropped.
    pub summary: Vec<String>,
}

/// Runs `karpsim import`. The trace goes to `stdout` when no `-o` is given. Errors are
/// printable lines.
pub fn run_import(args: &ImportArgs, stdout: &mut dyn Write) -> Result<ImportOutcome, Vec<String>> {
    match &args.source {
        ImportSource::AlibabaOpenb(a) => import_openb(a, stdout),
        ImportSource::K8s(a) => import_k8s(a, stdout),
    }
}

/// A file written under a hidden name next to its destination and renamed into place by
/// [`Staged::commit`]; dropped uncommitted, the partial file is removed.
pub(crate) struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    w: Option<BufWriter<File>>,
}

impl Staged {
    pub(crate) fn create(path: &Path) -> std::io::Result<Staged> {
        let tmp = crate::report::staging_file(path)?;
        let f = File::create(&tmp)?;
        Ok(Staged {
            tmp,
            path: path.to_path_buf(),
            w: Some(BufWriter::new(f)),
        })
    }

    /// Flushes and renames the file into place.
    pub(crate) fn commit(mut self) -> std::io::Result<()> {
        let w = self.w.take().expect("committed once");
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&self.tmp, &self.path)
    }
}

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.w.as_mut().expect("not committed").write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.w.as_mut().expect("not committed").flush()
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.w.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Seconds with up to three decimals, exact for whole milliseconds (`12`, `12.5`, `0.001`).
pub(crate) fn format_secs(ms: u64) -> String {
    let (s, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        return s.to_string();
    }
    let f = format!("{frac:03}");
    format!("{s}.{}", f.trim_end_matches('0'))
}

/// The count with a singular or plural noun: `1 pod`, `3 pods`.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
