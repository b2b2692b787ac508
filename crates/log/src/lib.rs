//! bintrail log crate.
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod keys;
