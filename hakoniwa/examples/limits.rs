//! Resource limits and wall time: a program that runs too long is killed,
//! and the status says which limit ended it.
//!
//! cargo run -p hakoniwa --example limits

use hakoniwa::{Container, Rlimit};

fn main() -> Result<(), hakoniwa::Error> {
    let mut container = Container::new();
    container
        .rootfs("/")?
        .setrlimit(Rlimit::Nofile, 64, 64)
        .setrlimit(Rlimit::Cpu, 10, 11);
    let status = container
        .command("sleep")
        .arg("5")
        .wait_timeout(std::time::Duration::from_millis(500))
        .status()?;
    println!("status: {} (limit: {:?})", status.reason, status.limit);
    Ok(())
}
