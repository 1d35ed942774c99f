//! Seccomp: a deny-list filter that refuses `mkdir` with `EPERM`, next to
//! the built-in Podman-compatible profile.
//!
//! cargo run -p hakoniwa --example seccomp

use hakoniwa::seccomp::{Action, Filter};
use hakoniwa::Container;

/// `EPERM`.
const EPERM: i32 = 1;

fn main() -> Result<(), hakoniwa::Error> {
    let podman = Filter::podman();
    println!("{}: {} rules", podman.profile_name(), podman.rule_count());

    let mut filter = Filter::new(Action::Allow);
    filter
        .name("no-mkdir")
        .add_rule(Action::Errno(EPERM), "mkdir")
        .add_rule(Action::Errno(EPERM), "mkdirat");
    let mut container = Container::new();
    container
        .rootfs("/")?
        .tmpfsmount("/tmp")
        .seccomp_filter(filter);
    let status = container.command("mkdir").arg("/tmp/new").status()?;
    println!("status: {}", status.reason);
    Ok(())
}
