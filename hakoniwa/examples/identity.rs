//! Ids inside the sandbox: the caller mapped to root, a hostname, and a
//! capability taken away.
//!
//! cargo run -p hakoniwa --example identity

use hakoniwa::Container;

fn main() -> Result<(), hakoniwa::Error> {
    let mut container = Container::new();
    container
        .rootfs("/")?
        .uidmap(0)
        .gidmap(0)
        .hostname("sandbox")
        .cap_drop("CHOWN");
    let output = container
        .command("sh")
        .args(["-c", "id; hostname; cat /proc/self/uid_map"])
        .output()?;
    print!("{}", String::from_utf8_lossy(&output.stdout));
    Ok(())
}
