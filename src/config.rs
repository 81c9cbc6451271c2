//! Scenario and manifest parsing (stub: being written).
