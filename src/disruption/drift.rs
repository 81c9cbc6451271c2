//! Drift detection (disruption.md §8.1): what a NodeClaim remembers of the NodePool and
//! EC2NodeClass it was created from, and the reason it no longer matches them.
//!
//! Karpenter stores hashes on the NodeClaim and compares them with the current objects
//! (`core: pkg/controllers/nodeclaim/disruption/drift.go`, `aws: pkg/cloudprovider/drift.go`).
//! karpsim keeps the hashed fields themselves, written out canonically, and compares those:
//! the same answer without a hash function.
//!
//! Owns: the canonical forms and the order of the drift reasons. May not: touch cluster state.

use crate::config::{EC2NodeClass, NodePool};
use crate::requirements::Requirements;

/// What a NodeClaim created from a NodePool and its EC2NodeClass keeps for drift detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftKey {
    /// The NodePool's static hash input: template labels, annotations, taints, startup taints,
    /// nodeClassRef, expireAfter and terminationGracePeriod. Requirements and every behavioural
    /// field (weight, limits, disruption) are left out, as Karpenter leaves them out.
    pub nodepool: String,
    /// The NodePool's `spec.template.spec.requirements`, for RequirementsDrifted.
    pub requirements: Requirements,
    /// The EC2NodeClass's static hash input: its spec without the selector terms and
    /// `ipPrefixCount`, plus the resolved AMI family.
    pub nodeclass: String,
    /// The AMIs the class resolves to. karpsim resolves an alias or selector to one fixed image
    /// for the run (contract §6), so the terms themselves name the image.
    pub amis: String,
    /// The security groups the class resolves to (the terms name them).
    pub security_groups: String,
    /// Subnet selector terms; a node drifts when a term that could have selected its subnet is
    /// gone (karpsim does not place nodes in subnets, so any removed term counts).
    pub subnets: Vec<String>,
}

/// Sorted `Debug` forms: Karpenter hashes slices as sets.
fn set_of<T: std::fmt::Debug>(items: &[T]) -> String {
    let mut v: Vec<String> = items.iter().map(|x| format!("{x:?}")).collect();
    v.sort();
    v.join(";")
}

impl DriftKey {
    /// The key of a NodeClaim created now from `np` and its class `nc`.
    pub fn new(np: &NodePool, nc: &EC2NodeClass) -> DriftKey {
        let t = &np.spec.template;
        let nodepool = format!(
            "labels={:?} annotations={:?} taints={} startupTaints={} nodeClassRef={:?} expireAfter={:?} tgp={:?}",
            t.labels,
            t.annotations,
            set_of(&t.spec.taints),
            set_of(&t.spec.startup_taints),
            t.spec.node_class_ref,
            t.spec.expire_after,
            t.spec.termination_grace_period_ms,
        );
        // The class's static hash: its spec without the selector terms and ipPrefixCount
        // (slices of structs as sets), plus the resolved AMI family.
        let mut spec = nc.spec.clone();
        spec.ami_selector_terms.clear();
        spec.subnet_selector_terms.clear();
        spec.security_group_selector_terms.clear();
        spec.capacity_reservation_selector_terms.clear();
        spec.ip_prefix_count = None;
        let block_devices = set_of(&std::mem::take(&mut spec.block_device_mappings));
        let interfaces = set_of(&std::mem::take(&mut spec.network_interfaces));
        let nodeclass = format!(
            "family={:?} blockDeviceMappings={block_devices} networkInterfaces={interfaces} spec={spec:?}",
            nc.effective_ami_family(),
        );
        DriftKey {
            nodepool,
            requirements: crate::compile::requirements(&t.spec.requirements),
            nodeclass,
            amis: set_of(&nc.spec.ami_selector_terms),
            security_groups: set_of(&nc.spec.security_group_selector_terms),
            subnets: nc
                .spec
                .subnet_selector_terms
                .iter()
                .map(|s| format!("{s:?}"))
                .collect(),
        }
    }

    /// Why a NodeClaim created under `self`, with `labels` as its node's labels (as
    /// requirements), has drifted from `now`; `None` when it has not. The first matching
    /// reason wins, in Karpenter's order: NodePool static hash, requirements, then the cloud
    /// provider's (EC2NodeClass hash, AMI, security groups, subnets).
    pub fn drifted(&self, now: &DriftKey, labels: &Requirements) -> Option<&'static str> {
        if self.nodepool != now.nodepool {
            return Some("NodePoolDrifted");
        }
        // `StrictlyCompatible`: a requirement on a label the node lacks drifts it, well-known or not.
        if labels.compatible(&now.requirements, false).is_err() {
            return Some("RequirementsDrifted");
        }
        if self.nodeclass != now.nodeclass {
            return Some("NodeClassDrift");
        }
        if self.amis != now.amis {
            return Some("AMIDrift");
        }
        if self.security_groups != now.security_groups {
            return Some("SecurityGroupDrift");
        }
        if self.subnets.iter().any(|s| !now.subnets.contains(s)) {
            return Some("SubnetDrift");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_manifests;
    use crate::labels::Sym;
    use std::path::Path;

    const CLASS: &str = "apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  amiFamily: AL2023
  role: R
  subnetSelectorTerms: [{tags: {a: b}}, {id: subnet-1}]
  securityGroupSelectorTerms: [{tags: {a: b}}]
  amiSelectorTerms: [{alias: al2023@v20240101}]
";

    /// A NodePool with `reqs` as its requirement lines and `extra` at `spec.template` level.
    fn pool(reqs: &str, extra: &str) -> String {
        format!(
            "apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {{name: p}}
spec:
  template:
{extra}    spec:
      requirements:
{reqs}
      nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}
"
        )
    }

    fn key(pool_yaml: &str, class_yaml: &str) -> DriftKey {
        let (p, c) = parse_manifests(
            &format!("{class_yaml}---\n{pool_yaml}"),
            Path::new("t.yaml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        DriftKey::new(&p[0], &c[0])
    }

    fn labels(pairs: &[(&str, &str)]) -> Requirements {
        let l: Vec<(Sym, Sym)> = pairs
            .iter()
            .map(|(k, v)| (Sym::new(k), Sym::new(v)))
            .collect();
        Requirements::from_labels(&l)
    }

    const OS_BOTH: &str =
        "        - {key: kubernetes.io/os, operator: In, values: [linux, windows]}";
    const NODE: &[(&str, &str)] = &[
        ("kubernetes.io/os", "linux"),
        ("karpenter.sh/capacity-type", "on-demand"),
        ("test-label", "5"),
    ];

    /// Requirement drift by outcome, entry by entry.
    // karpenter: pkg/controllers/nodeclaim/disruption/drift_test.go NodeRequirement Drift DescribeTable("")
    #[test]
    fn requirement_changes_drift_exactly_when_the_labels_no_longer_comply() {
        let base = key(&pool(OS_BOTH, ""), CLASS);
        let node = labels(NODE);
        assert_eq!(base.drifted(&base, &node), None);
        let cases: &[(&str, Option<&str>)] = &[
            // capacity type on-demand → spot
            (
                "        - {key: karpenter.sh/capacity-type, operator: In, values: [spot]}",
                Some("RequirementsDrifted"),
            ),
            // a requirement on a label the NodeClaim lacks (arch, well-known)
            (
                "        - {key: kubernetes.io/arch, operator: In, values: [amd64]}",
                Some("RequirementsDrifted"),
            ),
            // {linux, windows} → {windows}
            (
                "        - {key: kubernetes.io/os, operator: In, values: [windows]}",
                Some("RequirementsDrifted"),
            ),
            // {linux} → {linux, windows}: widening never drifts
            (OS_BOTH, None),
            // In → Exists
            ("        - {key: kubernetes.io/os, operator: Exists}", None),
            // → DoesNotExist
            (
                "        - {key: kubernetes.io/os, operator: DoesNotExist}",
                Some("RequirementsDrifted"),
            ),
            // Gt 2 → Gt 10 with label 5
            (
                "        - {key: test-label, operator: Gt, values: [\"10\"]}",
                Some("RequirementsDrifted"),
            ),
            // Lt 1 with label 5
            (
                "        - {key: test-label, operator: Lt, values: [\"1\"]}",
                Some("RequirementsDrifted"),
            ),
            (
                "        - {key: test-label, operator: Gt, values: [\"2\"]}",
                None,
            ),
        ];
        for (reqs, want) in cases {
            let now = key(&pool(reqs, ""), CLASS);
            assert_eq!(base.drifted(&now, &node), *want, "requirements: {reqs}");
        }
    }

    /// Only NodeClaims whose labels the new requirements exclude drift.
    // karpenter: pkg/controllers/nodeclaim/disruption/drift_test.go "should return drifted only on NodeClaims that are drifted from an updated nodePool"
    #[test]
    fn only_excluded_nodeclaims_drift() {
        let base = key(&pool(OS_BOTH, ""), CLASS);
        let now = key(
            &pool(
                "        - {key: kubernetes.io/os, operator: In, values: [linux]}",
                "",
            ),
            CLASS,
        );
        assert_eq!(
            base.drifted(&now, &labels(&[("kubernetes.io/os", "linux")])),
            None
        );
        assert_eq!(
            base.drifted(&now, &labels(&[("kubernetes.io/os", "windows")])),
            Some("RequirementsDrifted")
        );
    }

    /// Each static template field changes the hash.
    // karpenter: pkg/controllers/nodeclaim/disruption/drift_test.go NodePool Static Drift DescribeTable("should detect drift on changes to the static fields")
    #[test]
    fn static_template_fields_drift_and_behavioural_fields_do_not() {
        let base = key(&pool(OS_BOTH, ""), CLASS);
        let node = labels(NODE);
        let meta = |m: &str| pool(OS_BOTH, &format!("    metadata:\n{m}"));
        let with_spec = |extra: &str| {
            pool(OS_BOTH, "").replace(
                "      nodeClassRef:",
                &format!("{extra}      nodeClassRef:"),
            )
        };
        let drifting = [
            meta("      annotations: {a: b}\n"),
            meta("      labels: {team: x}\n"),
            with_spec("      taints: [{key: k, effect: NoSchedule}]\n"),
            with_spec("      startupTaints: [{key: k, effect: NoSchedule}]\n"),
            with_spec("      expireAfter: 24h\n"),
            with_spec("      terminationGracePeriod: 1h\n"),
            pool(OS_BOTH, "").replace("name: default}", "name: other}"),
        ];
        for p in &drifting {
            // The renamed nodeClassRef needs a class of that name.
            let class = if p.contains("name: other}") {
                CLASS.replace("{name: default}", "{name: other}")
            } else {
                CLASS.to_string()
            };
            assert_eq!(
                base.drifted(&key(p, &class), &node),
                Some("NodePoolDrifted"),
                "{p}"
            );
        }
        // Weight, limits and disruption settings are behavioural: not hashed.
        let behavioural = format!(
            "{}  weight: 50\n  limits: {{cpu: \"100\"}}\n  disruption:\n    consolidationPolicy: WhenEmpty\n    consolidateAfter: 1h\n    budgets: [{{nodes: \"1\"}}]\n",
            pool(OS_BOTH, "")
        );
        assert_eq!(base.drifted(&key(&behavioural, CLASS), &node), None);
    }

    /// EC2NodeClass drift (the AWS provider's reasons, in its order).
    // karpenter: aws pkg/cloudprovider/drift.go (isNodeClassDrifted: static hash, AMI, security groups, subnets)
    #[test]
    fn nodeclass_changes_drift_with_the_providers_reasons() {
        let p = pool(OS_BOTH, "");
        let base = key(&p, CLASS);
        let node = labels(NODE);
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("al2023@v20240101", "al2023@v20251201", Some("AMIDrift")),
            ("role: R", "role: R2", Some("NodeClassDrift")),
            (
                "role: R",
                "role: R\n  kubelet: {maxPods: 20}",
                Some("NodeClassDrift"),
            ),
            (
                "[{tags: {a: b}}]\n  amiSel",
                "[{tags: {a: c}}]\n  amiSel",
                Some("SecurityGroupDrift"),
            ),
            // a subnet term removed may have selected the node's subnet; one added cannot drift
            (
                "[{tags: {a: b}}, {id: subnet-1}]",
                "[{tags: {a: b}}]",
                Some("SubnetDrift"),
            ),
            (
                "[{tags: {a: b}}, {id: subnet-1}]",
                "[{tags: {a: b}}, {id: subnet-1}, {id: subnet-2}]",
                None,
            ),
        ];
        for (from, to, want) in cases {
            let class = CLASS.replacen(from, to, 1);
            assert_ne!(class, CLASS, "{from} not found");
            assert_eq!(
                base.drifted(&key(&p, &class), &node),
                *want,
                "{from} → {to}"
            );
        }
    }
}
