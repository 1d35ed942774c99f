//! Building the sandbox's filesystem: a read-write bind, a directory, a
//! file, a symbolic link, and an overlay that makes /usr writable until
//! the run ends.
//!
//! cargo run -p hakoniwa --example filesystem

use hakoniwa::Container;

fn main() -> Result<(), hakoniwa::Error> {
    let here = std::env::current_dir().expect("a working directory");
    let here = here.to_string_lossy();
    let mut container = Container::new();
    container
        .rootfs("/")?
        .bindmount_rw(&here, "/work")
        .dir("/data", 0o700)
        .file("/motd.txt", "hello from the sandbox\n")
        .symlink("/motd.txt", "/motd")
        .overlaymount_tmp("/usr");
    let status = container
        .command("sh")
        .args([
            "-c",
            "cat /motd; ls -ld /data /work; touch /usr/scratch && echo /usr is writable",
        ])
        .status()?;
    println!("status: {}", status.reason);
    Ok(())
}
