//! Read-only stays read-only: the program can neither write through a
//! read-only bind, nor remount it read-write, nor unmount it to see what
//! lies below — whether `hakoniwa` was started by root or not. This holds
//! for binds asked with `-b` and for the rootfs binds alike.

#[macro_use]
mod common;

use std::fs;
use std::path::Path;

use common::facts::{self, assert_refused, EROFS};
use common::{host, Caller};

sandbox_tests![
    bind_cannot_be_written,
    bind_cannot_be_remounted_read_write,
    bind_cannot_be_unmounted,
    rootfs_cannot_be_written,
    rootfs_cannot_be_remounted_read_write,
    rootfs_cannot_be_unmounted,
];

/// `-b SCRATCH/data:/data`, SCRATCH/data owned by the caller, so that only
/// the mount can be what refuses a write.
fn data_bind(caller: &Caller) -> String {
    format!("{}:/data", caller.dir("data").display())
}

fn bind_cannot_be_written(caller: &Caller) {
    let bind = data_bind(caller);
    let report = caller.attempt(&["-b", &bind], &["write", "/data/f"]);
    assert_refused(&report["write"], Some(EROFS), "write in /data");
    assert!(!caller.path("data/f").exists());
}

fn bind_cannot_be_remounted_read_write(caller: &Caller) {
    let bind = checked_data_bind(caller);
    let report = caller.attempt(&["-b", &bind], &["remount-rw", "/data"]);
    assert_refused(&report["bind_remount"], None, "MS_REMOUNT|MS_BIND of /data");
    assert_refused(&report["remount"], None, "MS_REMOUNT of /data");
}

fn bind_cannot_be_unmounted(caller: &Caller) {
    let bind = checked_data_bind(caller);
    let report = caller.attempt(&["-b", &bind], &["umount", "/data"]);
    assert_refused(&report["umount"], None, "umount /data");
    assert_refused(&report["detach"], None, "umount -l /data");
}

fn rootfs_cannot_be_written(caller: &Caller) {
    let name = format!(
        ".hakoniwa-cli-test.{}.{:?}",
        std::process::id(),
        caller.user()
    );
    let inside = format!("/usr/{name}");
    let report = caller.attempt(&[], &["write", &inside]);
    let on_host = Path::new("/usr").join(&name);
    if on_host.exists() {
        // The sandbox wrote into the host's /usr; undo that before failing.
        let _ = fs::remove_file(&on_host);
        panic!(
            "the program wrote {} on the host: {report}",
            on_host.display()
        );
    }
    assert_refused(&report["write"], Some(EROFS), "write in /usr");
}

fn rootfs_cannot_be_remounted_read_write(caller: &Caller) {
    for path in rootfs_mounts(caller) {
        let report = caller.attempt(&[], &["remount-rw", &path]);
        assert_refused(
            &report["bind_remount"],
            None,
            &format!("MS_REMOUNT|MS_BIND of {path}"),
        );
        assert_refused(&report["remount"], None, &format!("MS_REMOUNT of {path}"));
    }
}

fn rootfs_cannot_be_unmounted(caller: &Caller) {
    for path in rootfs_mounts(caller) {
        let report = caller.attempt(&[], &["umount", &path]);
        assert_refused(&report["umount"], None, &format!("umount {path}"));
        assert_refused(&report["detach"], None, &format!("umount -l {path}"));
    }
}

/// The rootfs directories (`/usr`, `/etc`… not the symlinks), checked to
/// be mount points: unmounting a plain directory fails too, which would
/// prove nothing.
fn rootfs_mounts(caller: &Caller) -> Vec<String> {
    let facts = caller.facts(&[]);
    let dirs: Vec<String> = host::rootfs_kinds(Path::new("/"))
        .into_iter()
        .filter(|(_, kind)| kind == "dir")
        .map(|(name, _)| format!("/{name}"))
        .collect();
    assert!(
        !dirs.is_empty(),
        "the host's / has none of the rootfs directories"
    );
    for dir in &dirs {
        assert!(
            facts::mount_at(&facts, dir).is_some(),
            "{dir} is not a mount point"
        );
    }
    dirs
}

/// `-b` of a scratch dir at /data, checked to be a mount point.
fn checked_data_bind(caller: &Caller) -> String {
    let bind = data_bind(caller);
    let facts = caller.facts(&["-b", &bind]);
    assert!(
        facts::mount_at(&facts, "/data").is_some(),
        "/data is not a mount point"
    );
    bind
}
