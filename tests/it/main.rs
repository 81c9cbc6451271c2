//! karpsim's single integration-test binary (one link of the library, one process).

mod budget_props;
mod cli;
mod conformance;
mod disruption;
mod drift;
mod engine;
mod scenarios;

/// The EC2NodeClass the engine and disruption tests share (the seed guide's, with a test
/// cluster name).
const NODECLASS: &str = "apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata:
  name: default
spec:
  amiFamily: AL2023
  role: KarpenterNodeRole-test
  subnetSelectorTerms:
    - tags: {karpenter.sh/discovery: test}
  securityGroupSelectorTerms:
    - tags: {karpenter.sh/discovery: test}
  amiSelectorTerms:
    - alias: al2023@latest
";
