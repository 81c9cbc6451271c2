//! Conformance tests ported from Karpenter's own provisioning and scheduling suites
//! (kubernetes-sigs/karpenter `pkg/controllers/provisioning/...`), run against karpsim's
//! scheduler through a fake-cloud harness. Case specifications: the KP-nnn entries of
//! /work/notes/karpenter-provisioning-tests.md.

mod harness;
mod instance_selection;
mod provisioning;
mod scheduling;
mod topology;
