//! Landlock: the program may read the system directories and write only
//! /tmp, whatever the mounts allow.
//!
//! cargo run -p hakoniwa --example landlock

use hakoniwa::landlock::{CompatMode, FsAccess, Ruleset};
use hakoniwa::Container;

fn main() -> Result<(), hakoniwa::Error> {
    let mut ruleset = Ruleset::new();
    ruleset
        .add_fs_rule("/usr", FsAccess::R | FsAccess::X)
        .add_optional_fs_rule("/lib", FsAccess::R | FsAccess::X)
        .add_optional_fs_rule("/lib64", FsAccess::R | FsAccess::X)
        .add_fs_rule("/etc", FsAccess::R)
        .add_fs_rule("/tmp", FsAccess::R | FsAccess::W)
        .compat(CompatMode::BestEffort);
    let mut container = Container::new();
    container
        .rootfs("/")?
        .tmpfsmount("/tmp")
        .landlock_ruleset(ruleset);
    let status = container
        .command("/bin/sh")
        .args([
            "-c",
            "echo ok > /tmp/a && cat /tmp/a; ls /proc > /tmp/list || echo /proc is off limits",
        ])
        .status()?;
    println!("status: {}", status.reason);
    if let Some(enforcement) = &status.landlock {
        println!("{enforcement}");
    }
    Ok(())
}
