//! Every way to shape the sandbox's root — a root directory read-only or
//! writable, tmpfs options, directories, links, files, overlays, nested
//! mounts in any order — seen from inside, and none of it leaving a trace
//! on the host.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::Value;

use common::facts::{self, assert_allowed, assert_refused, EROFS};
use common::Caller;

sandbox_tests![
    rootdir_is_read_only_and_left_untouched,
    rootdir_rw_writes_through_and_leaves_no_mount_points,
    tmpfs_takes_size_mode_and_inodes,
    dir_symlink_and_file_create_what_they_say,
    overlay_tmp_discards_changes,
    overlay_keeps_changes_in_upper,
    nested_mounts_apply_parents_first_in_any_order,
    symlinks_in_a_rootdir_cannot_redirect_the_setup,
    bad_filesystem_flags_are_refused,
];

/// A small root directory: its own `/etc/hostname` and an empty `/usr`.
fn rootdir(caller: &Caller) -> String {
    let root = caller.dir("root");
    for dir in ["etc", "usr", "data"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::write(root.join("etc/hostname"), "from-rootdir\n").unwrap();
    fs::write(root.join("data/kept"), "kept\n").unwrap();
    chown_tree(caller, &root);
    root.display().to_string()
}

fn chown_tree(caller: &Caller, path: &Path) {
    let _ = std::process::Command::new("chown")
        .args(["-R", &format!("{}:{}", caller.uid(), caller.gid())])
        .arg(path)
        .status();
}

/// Every entry under `root`, with its kind and contents: what "untouched"
/// means.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let value = if meta.is_dir() {
                pending.push(path.clone());
                format!("dir {:o}", meta.permissions_mode())
            } else if meta.is_symlink() {
                format!("link {}", fs::read_link(&path).unwrap().display())
            } else {
                format!(
                    "file {}",
                    String::from_utf8_lossy(&fs::read(&path).unwrap())
                )
            };
            entries.insert(path.display().to_string(), value);
        }
    }
    entries
}

trait Mode {
    fn permissions_mode(&self) -> u32;
}

impl Mode for fs::Metadata {
    fn permissions_mode(&self) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        self.permissions().mode() & 0o7777
    }
}

fn names(listing: &Value) -> Vec<String> {
    facts::names(&listing["entries"]).into_iter().collect()
}

fn rootdir_is_read_only_and_left_untouched(caller: &Caller) {
    let root = rootdir(caller);
    let before = snapshot(Path::new(&root));
    let args = ["--rootdir", &root, "--tmpfs", "/tmp", "--devfs", "/dev"];
    let listing = caller.attempt(&args, &["list", "/"]);
    let mut seen = names(&listing);
    seen.sort();
    // Its own entries, plus the mount points the sandbox needs, plus /probe.
    assert_eq!(
        seen,
        ["data", "dev", "etc", "probe", "proc", "tmp", "usr"],
        "{listing}"
    );
    let write = |path: &str| caller.attempt(&args, &["write", path])["write"].clone();
    assert_refused(&write("/data/new"), Some(EROFS), "write into the rootdir");
    assert_refused(&write("/new"), Some(EROFS), "write at the root");
    assert_eq!(snapshot(Path::new(&root)), before, "the rootdir changed");
    // A root directory brings its own system directories: no host binds.
    let facts = caller.facts(&["--rootdir", &root]);
    assert!(facts::mount_at(&facts, "/usr").is_none(), "{facts}");
}

fn rootdir_rw_writes_through_and_leaves_no_mount_points(caller: &Caller) {
    let root = rootdir(caller);
    let spec = format!("{root}:rw");
    let args = ["--rootdir", &spec, "--tmpfs", "/tmp", "--devfs", "/dev"];
    assert_allowed(
        &caller.attempt(&args, &["write", "/data/new"])["write"],
        "write into the rootdir",
    );
    assert!(Path::new(&root).join("data/new").exists());
    fs::remove_file(Path::new(&root).join("data/new")).unwrap();
    let mut left: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    // tmp, dev, proc and the probe's mount point were created for the run
    // and removed after it.
    assert_eq!(left, ["data", "etc", "usr"]);
}

fn tmpfs_takes_size_mode_and_inodes(caller: &Caller) {
    let facts = caller.facts(&["--tmpfs", "/scratch:size=1m,mode=700,nr_inodes=100"]);
    let mount = facts::mount_at(&facts, "/scratch").expect("a mount at /scratch");
    let options = mount["super_options"]
        .as_str()
        .or(mount["options"].as_str())
        .unwrap_or("");
    let all = mount.to_string();
    assert!(all.contains("size=1024k"), "{mount}");
    assert!(all.contains("mode=700"), "{mount}");
    assert!(all.contains("nr_inodes=100"), "{mount} {options}");
    // The default mode depends on the path.
    let root = caller.attempt(&["--tmpfs", "/tmp", "--tmpfs", "/other"], &["list", "/"]);
    let entries = facts::entries(&root["entries"]);
    assert_eq!(entries["tmp"]["mode"], 0o1777, "{root}");
    assert_eq!(entries["other"]["mode"], 0o755, "{root}");
}

fn dir_symlink_and_file_create_what_they_say(caller: &Caller) {
    let host_file = caller.file("contents", "hello from the host\n", 0o644);
    let file_spec = format!("/etc-extra/greeting:{}", host_file.display());
    let args = [
        "--tmpfs",
        "/etc-extra",
        "--dir",
        "/work/deep:750",
        "--dir",
        "/private",
        "--symlink",
        "/etc-extra/greeting:/link",
        "--file",
        &file_spec,
    ];
    let root = caller.attempt(&args, &["list", "/"]);
    let entries = facts::entries(&root["entries"]);
    assert_eq!(entries["link"]["target"], "/etc-extra/greeting", "{root}");
    assert_eq!(entries["private"]["mode"], 0o700, "{root}");
    let work = caller.attempt(&args, &["list", "/work"]);
    assert_eq!(
        facts::entries(&work["entries"])["deep"]["mode"],
        0o750,
        "{work}"
    );
    let outcome = caller.run(&args, &["/bin/cat", "/link"]).output();
    assert_eq!(outcome.stdout, "hello from the host\n", "{outcome}");
}

fn overlay_tmp_discards_changes(caller: &Caller) {
    let lower = caller.dir("lower");
    fs::write(lower.join("a"), "base\n").unwrap();
    // Owned by the caller: a rootless overlay cannot copy up a file owned by
    // an id its namespace does not map.
    chown_tree(caller, &lower);
    let before = snapshot(&lower);
    let bind = format!("{}:/data", lower.display());
    let args = ["-b", &bind, "--overlay-tmp", "/data"];
    let outcome = caller
        .run(
            &args,
            &[
                "/bin/sh",
                "-c",
                "echo changed > /data/a && echo new > /data/b && cat /data/a",
            ],
        )
        .output();
    assert_eq!(outcome.stdout, "changed\n", "{outcome}");
    assert_eq!(snapshot(&lower), before, "the lower directory changed");
    // Under a read-only root directory, the whole root becomes writable.
    let root = rootdir(caller);
    let before = snapshot(Path::new(&root));
    let args = ["--rootdir", &root, "--overlay-tmp", "/"];
    assert_allowed(
        &caller.attempt(&args, &["write", "/data/new"])["write"],
        "write through the overlay",
    );
    assert_eq!(snapshot(Path::new(&root)), before, "the rootdir changed");
}

fn overlay_keeps_changes_in_upper(caller: &Caller) {
    let lower = caller.dir("lower");
    let upper = caller.dir("upper");
    let work = caller.dir("work");
    fs::write(lower.join("a"), "base\n").unwrap();
    chown_tree(caller, &lower);
    let bind = format!("{}:/data", lower.display());
    let overlay = format!("/data:{}:{}", upper.display(), work.display());
    let outcome = caller
        .run(
            &["-b", &bind, "--overlay", &overlay],
            &["/bin/sh", "-c", "echo new > /data/b && cat /data/a"],
        )
        .output();
    assert_eq!(outcome.stdout, "base\n", "{outcome}");
    assert_eq!(fs::read_to_string(upper.join("b")).unwrap(), "new\n");
    assert!(
        !lower.join("b").exists(),
        "the change reached the lower directory"
    );
}

/// `--tmpfs /x -b DIR:/x/y` and `-b DIR:/x/y --tmpfs /x` give the same
/// sandbox: the tmpfs first, the bind inside it.
fn nested_mounts_apply_parents_first_in_any_order(caller: &Caller) {
    let dir = caller.dir("inner");
    fs::write(dir.join("marker"), "inner\n").unwrap();
    let bind = format!("{}:/x/y", dir.display());
    for args in [
        ["--tmpfs", "/x", "-b", &bind],
        ["-b", &bind, "--tmpfs", "/x"],
    ] {
        let outcome = caller.run(&args, &["/bin/cat", "/x/y/marker"]).output();
        assert_eq!(outcome.stdout, "inner\n", "{args:?}\n{outcome}");
    }
}

/// A root directory whose links point at a host directory — absolutely,
/// through `..`, or through `/oldroot` where the host's root sits during
/// setup — cannot make the setup create or mount anything there: paths are
/// resolved with the sandbox's root as their root (runc CVE-2021-30465).
fn symlinks_in_a_rootdir_cannot_redirect_the_setup(caller: &Caller) {
    let victim = caller.dir("victim");
    let root = caller.dir("evil-root");
    let victim_path = victim.display().to_string();
    let links = [
        ("abs", victim_path.clone()),
        ("up", format!("../../../../../../../../..{victim_path}")),
        ("old", format!("/oldroot{victim_path}")),
    ];
    for (name, target) in &links {
        std::os::unix::fs::symlink(target, root.join(name)).unwrap();
    }
    let contents = caller.file("payload", "payload\n", 0o644);
    let file_spec = |link: &str| format!("/{link}/file:{}", contents.display());
    for (name, _) in &links {
        for rw in ["", ":rw"] {
            let spec = format!("{}{rw}", root.display());
            let dir = format!("/{name}/pwned");
            let file = file_spec(name);
            let tmpfs = format!("/{name}/mnt");
            for args in [
                vec!["--rootdir", &spec, "--dir", &dir],
                vec!["--rootdir", &spec, "--file", &file],
                vec!["--rootdir", &spec, "--tmpfs", &tmpfs],
                vec!["--rootdir", &spec, "--tmpfs", &format!("/{name}")],
            ] {
                let outcome = caller
                    .run(&args, &["/probe/hakoniwa-probe", "exit", "0"])
                    .output();
                let left: Vec<_> = fs::read_dir(&victim).unwrap().collect();
                assert!(
                    left.is_empty(),
                    "{args:?} reached the host: {left:?}\n{outcome}"
                );
            }
        }
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&victim_path),
        "a mount on the host: {mounts}"
    );
}

fn bad_filesystem_flags_are_refused(caller: &Caller) {
    let not_a_dir = caller.file("plain-file", "", 0o644);
    let not_a_dir = not_a_dir.display().to_string();
    // overlayfs refuses /proc as an upper layer.
    let work = caller.dir("overlay-work");
    let proc_upper = format!("/data:/proc:{}", work.display());
    for (args, culprit) in [
        (vec!["--tmpfs", "/t:uid=0"], "uid=0"),
        (vec!["--tmpfs", "/t:mode=999"], "999"),
        (vec!["--dir", "/d:8"], "/d:8"),
        (vec!["--symlink", "no-colon"], "no-colon"),
        (vec!["--file", "/f"], "/f"),
        (vec!["--overlay", "/data:/only-upper"], "/data:/only-upper"),
        (vec!["--rootdir", not_a_dir.as_str()], not_a_dir.as_str()),
        (vec!["--overlay", proc_upper.as_str()], "upper /proc"),
    ] {
        let outcome = caller.run(&args, &["true"]).output();
        outcome.assert_setup_failure(culprit);
    }
}
