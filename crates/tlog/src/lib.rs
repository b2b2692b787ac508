//! bintrail tlog crate.
