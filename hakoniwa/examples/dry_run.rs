//! Checking a configuration without running it: `dry_run` validates what
//! `spawn` would and describes the sandbox, one line per step.
//!
//! cargo run -p hakoniwa --example dry_run

use hakoniwa::{Container, Namespace};

fn main() -> Result<(), hakoniwa::Error> {
    let mut container = Container::new();
    container
        .rootfs("/")?
        .unshare(Namespace::Uts)
        .devfsmount("/dev")
        .tmpfsmount("/tmp");
    let mut command = container.command("make");
    command
        .arg("-j4")
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/tmp");
    print!("{}", command.dry_run()?);
    Ok(())
}
