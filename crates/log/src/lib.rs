//! bintrail log crate.
