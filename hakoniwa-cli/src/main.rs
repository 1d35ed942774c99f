//! The `hakoniwa` command; its code is the crate's library (`lib.rs`).

fn main() {
    std::process::exit(hakoniwa_cli::main());
}
