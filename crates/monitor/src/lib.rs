//! bintrail monitor crate.
