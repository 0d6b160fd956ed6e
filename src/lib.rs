//! snapaudit: audit cloud snapshots from their live state.
//!
//! Data flows one way: [`collect`] (cloud APIs) -> [`store`] (baseline and
//! diff) -> [`rules`] (findings) -> [`report`] (output). [`app`] wires them.

pub mod app;
pub mod cli;
pub mod collect;
pub mod log;
pub mod model;
pub mod report;
pub mod rules;
pub mod store;
