//! The `hakoniwa` command.
#![deny(unsafe_code)]

mod cli;
mod landlock;
mod lower;
mod options;
mod profile;
mod report;
#[cfg(test)]
mod robustness;
mod run;
mod signals;
#[allow(unsafe_code)]
mod sys;
mod values;

fn main() {
    std::process::exit(cli::main());
}
