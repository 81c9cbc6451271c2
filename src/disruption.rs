//! Karpenter's disruption controller (being built): budgets.
//!
//! Implements disruption.md; each submodule cites the sections it covers.

pub mod budgets;
