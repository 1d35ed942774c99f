//! Control groups: a real memory limit and a process count, where the
//! system lets this user have a cgroup (as root, or with delegation).
//!
//! cargo run -p hakoniwa --example cgroups

use hakoniwa::{Cgroup, Container};

fn main() -> Result<(), hakoniwa::Error> {
    let mut container = Container::new();
    let mut cgroup = Cgroup::new();
    cgroup.memory(256 << 20).pids(32);
    container.rootfs("/")?.cgroup(cgroup);
    match container.command("true").status() {
        Ok(status) => println!("{} (cgroup usage: {:?})", status.reason, status.cgroup),
        Err(err) => println!("no cgroup here: {err}"),
    }
    Ok(())
}
