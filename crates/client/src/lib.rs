//! bintrail client crate.
