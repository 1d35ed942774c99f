//! The `hakoniwa` command, as a library so that the fuzz targets in
//! `fuzz/` reach the same code the binary runs: [`main`] is the binary's
//! whole body; [`dry_run`] is `hakoniwa run --dry-run`, which takes a
//! command line (and the profile it names) through every stage short of
//! creating a process.
#![deny(unsafe_code)]

mod cli;
mod landlock;
mod lower;
mod options;
mod profile;
mod read;
mod report;
#[cfg(test)]
mod robustness;
mod run;
mod signals;
#[allow(unsafe_code)]
mod sys;
mod values;

pub use cli::{dry_run, main};
pub use sys::prepare_process;
