//! A command in a sandbox with the host's system directories, a private
//! network and an empty /tmp; its output captured.
//!
//! cargo run -p hakoniwa --example basic

use hakoniwa::{Container, Namespace};

fn main() -> Result<(), hakoniwa::Error> {
    let mut container = Container::new();
    container
        .rootfs("/")?
        .unshare(Namespace::Network)
        .tmpfsmount("/tmp");
    let output = container
        .command("sh")
        .args(["-c", "ls /; echo $$"])
        .output()?;
    print!("{}", String::from_utf8_lossy(&output.stdout));
    println!("status: {}", output.status.reason);
    Ok(())
}
