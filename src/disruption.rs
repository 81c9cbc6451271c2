//! Karpenter's disruption controller: budgets and drift detection.
//!
//! Implements disruption.md; each submodule cites the sections it covers.

pub mod budgets;
pub mod drift;
