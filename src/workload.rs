//! Pod trace and templates (stub: being written).
