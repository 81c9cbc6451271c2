//! karpsim: an offline simulator of Karpenter's provisioning and disruption over a real EC2
//! catalog.
//!
//! Brief overview of the principal modules:
//! - [`units`]: Kubernetes quantities, Go durations, simulated time.
//! - [`resources`]: resource vectors.
//! - [`catalog`]: the EC2 instance types, prices and Spot data (embedded `pricing-data/`).
//! - [`config`]: the scenario file and the Kubernetes manifests it names, parsed and validated.
//! - [`workload`]: the pod trace (streamed) and pod templates.
//! - [`generate`]: seeded synthetic workloads (`workload.generate`, `karpsim generate`).
//! - [`sweep`]: grids of runs (`karpsim sweep`), their shards and `karpsim merge`.

pub mod attribution;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod compile;
pub mod config;
pub mod disruption;
pub mod engine;
pub mod explain;
pub mod generate;
pub mod html;
pub mod import;
pub mod labels;
pub mod launch;
pub mod model;
pub mod plot;
pub mod progress;
pub mod report;
pub mod requirements;
pub mod resources;
pub mod scheduler;
pub mod sweep;
pub mod units;
pub mod workload;
