//! The workload: the pod trace, read as a stream.
//!
//! Owns: the pod-trace CSV contract (scenario-format.md sections 2.1 and 6): its columns, the
//! syntax of every cell, streaming it row by row in bounded memory, and error messages that name
//! the file, line, column, bad value and what was expected. Also the Kubernetes label syntax
//! checks ([`is_valid_label_key`], [`is_valid_label_value`]) that other modules reuse.
//!
//! May not: see cluster state, NodePools, the catalog or any policy. A [`TraceRow`] is exactly
//! what one CSV line says; merging it with a template, turning it into a pod and deciding where
//! it runs belong to other modules.

mod labels;
mod trace;
#[cfg(test)]
mod trace_tests;

pub use labels::{
    LABEL_KEY_SYNTAX, LABEL_VALUE_SYNTAX, is_valid_dns_label, is_valid_dns_subdomain,
    is_valid_label_key, is_valid_label_value,
};
pub use trace::{
    DEFAULT_NAMESPACE, TAINT_EFFECTS, TRACE_COLUMNS, TraceColumn, TraceError, TraceReader,
    TraceRow, TraceToleration, read_all_sorted,
};
