//! Networking: no network at all but a loopback that is up, or a network
//! of the sandbox's own through pasta (when `pasta` is installed).
//!
//! cargo run -p hakoniwa --example network

use hakoniwa::{Container, Network, Pasta};

fn main() -> Result<(), hakoniwa::Error> {
    let mut container = Container::new();
    container.rootfs("/")?.network(Network::None);
    let output = container.command("cat").arg("/proc/net/dev").output()?;
    println!(
        "--network none:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );

    // Forward host port 8080 to the sandbox's port 8080.
    let mut pasta = Pasta::new();
    pasta.args(["-t", "8080"]);
    container.network(pasta);
    let output = container.command("cat").arg("/proc/net/dev").output()?;
    println!("--network pasta:-t,8080: {}", output.status.reason);
    Ok(())
}
