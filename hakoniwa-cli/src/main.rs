//! The `hakoniwa` command.
#![deny(unsafe_code)]

mod cli;
mod lower;
mod run;
mod signals;

fn main() {
    std::process::exit(cli::main());
}
