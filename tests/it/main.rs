//! karpsim's single integration-test binary (one link of the library, one process).

mod cli;
mod conformance;
mod disruption;
mod engine;
mod scenarios;
