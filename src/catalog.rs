//! The EC2 catalog (stub: being written).
