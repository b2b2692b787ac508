//! bintrail log crate.
pub mod auth;
pub mod config;
