//! bintrail witness crate.
