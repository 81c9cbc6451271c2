//! Scenario and manifest parsing and validation.
//!
//! Owns: reading the scenario file (contract section 1) and every YAML file it names —
//! Karpenter v1 NodePool/EC2NodeClass manifests, pod templates, DaemonSets and
//! PodDisruptionBudgets — into typed values with defaults applied, and validating them the
//! way `kubectl apply --validate=strict`, Karpenter's CRD schemas/CEL rules and its
//! webhooks would. Every problem is collected into [`ConfigErrors`], each naming the file,
//! line, column and dotted field path, with a "did you mean" suggestion for unknown keys and
//! enum values.
//!
//! May not: read the pod trace CSV (the `workload` module streams it) or the catalog CSVs
//! (only their paths are resolved and checked to exist), interpret `${CLUSTER_NAME}`-style
//! placeholders, or know the catalog, the scheduler or the simulation engine.
//!
//! Layout: [`error`] (error values, edit distance), `pos` (source positions by field path),
//! `walk` (the error-collecting reader), `labels` (name/label syntax, restricted keys),
//! [`k8s`] (shared Kubernetes types), [`karpenter`] (NodePool, EC2NodeClass), [`pod`]
//! (PodSpec, templates, DaemonSets, PDBs), [`scenario`] (the scenario, [`load_scenario`])
//! and [`edit`] (`set` edits for `changes`/`variants`).

pub mod edit;
pub mod error;
pub mod k8s;
pub mod karpenter;
pub mod labels;
pub mod pod;
pub mod scenario;

pub(crate) mod docs;
pub(crate) mod pos;
pub(crate) mod walk;

#[cfg(test)]
mod tests;

pub use edit::{apply_edit, deep_merge};
pub use error::{ConfigError, ConfigErrors, closest, edit_distance};
pub use k8s::{
    IntOrPercent, LabelSelector, LabelSelectorRequirement, NodeSelectorRequirement, ObjectMeta,
    Operator, SelectorOperator, Taint, TaintEffect, Toleration, TolerationOperator,
};
pub use karpenter::{
    AmiFamily, AmiSelectorTerm, BlockDevice, BlockDeviceMapping, Budget, BudgetNodes,
    CapacityReservationSelectorTerm, ConnectionTracking, ConsolidateWhen, ConsolidationPolicy,
    Disruption, DisruptionReason, EC2NodeClass, EC2NodeClassSpec, EvictionThreshold,
    KubeletConfiguration, MetadataOptions, NetworkInterface, NodeClaimTemplate,
    NodeClaimTemplateSpec, NodeClassRef, NodePool, NodePoolSpec, PlacementGroupSelector,
    SelectorTerm, parse_manifests,
};
pub use pod::{
    Affinity, Container, ContainerPort, DaemonSet, NodeAffinity, NodeInclusionPolicy,
    NodeSelectorTerm, PODSPEC_FIELDS, PodAffinity, PodAffinityTerm, PodDisruptionBudget, PodSpec,
    PodTemplate, PreferredSchedulingTerm, Protocol, TopologySpreadConstraint,
    UnhealthyPodEvictionPolicy, WeightedPodAffinityTerm, WhenUnsatisfiable,
};
pub use scenario::{
    CapacityType, CatalogPaths, Change, ChangeState, ExistingNodes, FEATURE_GATES,
    InterruptionModel, Interruptions, KarpenterSettings, KubeScheduler, LatencyDistribution,
    LaunchLatency, LoadedScenario, ObjectEdit, Scenario, Scoring, SpotPriceModel, SpotPrices,
    Variant, Workload, apply_object_edits, load_scenario, load_scenario_value,
};

use std::path::Path;

/// Parses a `templates` file (one YAML list of `{name, metadata, spec}`).
pub fn parse_templates(text: &str, file: &Path) -> Result<Vec<PodTemplate>, ConfigErrors> {
    let mut errors = Vec::new();
    let t = pod::parse_templates_into(text, file, &mut errors);
    ConfigErrors::result(errors, t)
}

/// Parses multi-document `apps/v1` DaemonSet manifests.
pub fn parse_daemonsets(text: &str, file: &Path) -> Result<Vec<DaemonSet>, ConfigErrors> {
    let mut errors = Vec::new();
    let t = pod::parse_daemonsets_into(text, file, &mut errors);
    ConfigErrors::result(errors, t)
}

/// Parses multi-document `policy/v1` PodDisruptionBudget manifests.
pub fn parse_pdbs(text: &str, file: &Path) -> Result<Vec<PodDisruptionBudget>, ConfigErrors> {
    let mut errors = Vec::new();
    let t = pod::parse_pdbs_into(text, file, &mut errors);
    ConfigErrors::result(errors, t)
}

/// Parses a pod spec given as YAML text (for importers: one `spec:` body). `file` names the
/// source in errors.
pub fn parse_pod_spec_value(v: &serde_yaml::Value, file: &Path) -> Result<PodSpec, ConfigErrors> {
    let mut errors = Vec::new();
    let mut ctx = walk::Ctx::new(file, None, &mut errors);
    let spec = pod::parse_pod_spec(&mut ctx, v, "spec");
    ConfigErrors::result(errors, spec)
}

/// Parses scenario text without touching the file system (paths resolve against `dir`).
pub fn parse_scenario(text: &str, file: &Path, dir: &Path) -> Result<Scenario, ConfigErrors> {
    let mut errors = Vec::new();
    let (s, _) = scenario::parse_scenario_text(text, file, dir, &mut errors);
    match s {
        Some(s) if errors.is_empty() => Ok(s),
        _ => Err(ConfigErrors::from_vec(errors)),
    }
}
