//! Each flag of `hakoniwa run` changes exactly what it says, seen from
//! inside the sandbox.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;

use common::facts::{self, assert_allowed, assert_refused, EACCES, EROFS};
use common::{host, Caller};

sandbox_tests![
    each_unshare_flag_adds_its_namespace,
    unshare_network_leaves_only_loopback,
    hostname_is_set_in_a_new_uts_namespace,
    rootfs_none_binds_nothing,
    rootfs_dir_provides_its_system_dirs,
    bindmount_ro_shows_host_files_read_only,
    bindmount_rw_writes_through_to_the_host,
    bind_container_path_defaults_to_the_host_path,
    nested_binds_apply_parents_first,
    binds_are_nodev_unless_dev_bind,
    a_bind_of_the_host_dev_opens_no_device,
    devfs_holds_a_minimal_dev,
    tmpfs_is_fresh_and_writable,
    setenv_sets_or_copies_variables,
    setenv_adds_exactly_what_is_asked,
    workdir_binds_and_starts_there,
    workdir_container_path_defaults_to_the_host_path,
    workdir_without_host_path_only_starts_there,
    verbose_logs_setup_steps_on_stderr,
    help_and_version,
];

/// `HOST:CONTAINER` as the bind flags take it.
fn bind(host: &Path, container: &str) -> String {
    format!("{}:{container}", host.display())
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("scratch paths are UTF-8")
}

/// Each `--unshare-*` adds its namespace to the default user, mount and pid
/// namespaces, and no other.
fn each_unshare_flag_adds_its_namespace(caller: &Caller) {
    let cases: [(&str, &[&str]); 5] = [
        ("--unshare-cgroup", &["cgroup"]),
        ("--unshare-ipc", &["ipc"]),
        ("--unshare-network", &["net"]),
        ("--unshare-uts", &["uts"]),
        ("--unshare-all", &["cgroup", "ipc", "net", "uts"]),
    ];
    for (flag, added) in cases {
        let facts = caller.facts(&[flag]);
        let mut expected = BTreeSet::from(["mnt", "pid", "user"]);
        expected.extend(added);
        assert_eq!(facts::new_namespaces(&facts), expected, "{flag}");
    }
}

fn unshare_network_leaves_only_loopback(caller: &Caller) {
    let facts = caller.facts(&["--unshare-network"]);
    assert_eq!(facts["net_interfaces"], serde_json::json!(["lo"]));
}

/// `--hostname` names the sandbox, in a UTS namespace of its own; without
/// it the sandbox has the host's name.
fn hostname_is_set_in_a_new_uts_namespace(caller: &Caller) {
    let facts = caller.facts(&["--hostname", "hakoniwa-box"]);
    assert_eq!(facts["hostname"], "hakoniwa-box");
    assert!(facts::new_namespaces(&facts).contains("uts"));

    let facts = caller.facts(&[]);
    assert_eq!(facts["hostname"], host::hostname().as_str());
}

/// `--rootfs none`: the root holds `/proc` and what was bound (the probe),
/// nothing of the host.
fn rootfs_none_binds_nothing(caller: &Caller) {
    let facts = caller.facts(&["--rootfs", "none"]);
    assert_eq!(
        facts::names(&facts["root"]),
        BTreeSet::from(["probe".to_owned(), "proc".to_owned()])
    );
    for name in common::ROOTFS_ENTRIES {
        let path = format!("/{name}");
        assert!(
            facts::mount_at(&facts, &path).is_none(),
            "{path} is mounted"
        );
    }
}

/// `--rootfs DIR` takes `bin etc lib lib32 lib64 sbin usr` from DIR
/// instead of `/`, and nothing else from it.
fn rootfs_dir_provides_its_system_dirs(caller: &Caller) {
    let rootfs = caller.dir("rootfs");
    for dir in ["usr", "etc", "home", "var"] {
        caller.dir(&format!("rootfs/{dir}"));
    }
    caller.file("rootfs/etc/marker", "from the rootfs\n", 0o644);
    symlink("usr/bin", rootfs.join("bin")).expect("symlink rootfs/bin");

    let run_args = ["--rootfs", path_arg(&rootfs)];
    let facts = caller.facts(&run_args);
    let expected = BTreeMap::from([
        ("bin".to_owned(), "symlink -> usr/bin".to_owned()),
        ("etc".to_owned(), "dir".to_owned()),
        ("usr".to_owned(), "dir".to_owned()),
        ("proc".to_owned(), "dir".to_owned()),
        ("probe".to_owned(), "dir".to_owned()),
    ]);
    assert_eq!(facts::kinds(&facts["root"]), expected);
    let etc = caller.attempt(&run_args, &["list", "/etc"]);
    assert_eq!(
        facts::names(&etc["entries"]),
        BTreeSet::from(["marker".to_owned()])
    );
}

/// `-b HOST:CONTAINER` shows HOST's files at CONTAINER, read-only.
fn bindmount_ro_shows_host_files_read_only(caller: &Caller) {
    let data = caller.dir("data");
    caller.file("data/hello", "hello\n", 0o644);
    let arg = bind(&data, "/data");

    let facts = caller.facts(&["-b", &arg]);
    let mount = facts::mount_at(&facts, "/data").expect("a mount at /data");
    assert_eq!(mount["read_only"], true, "{mount}");
    let listing = caller.attempt(&["--bindmount-ro", &arg], &["list", "/data"]);
    assert_eq!(
        facts::names(&listing["entries"]),
        BTreeSet::from(["hello".to_owned()])
    );
    let write = caller.attempt(&["-b", &arg], &["write", "/data/new"]);
    assert_refused(&write["write"], Some(EROFS), "writing in a -b bind");
    assert!(!data.join("new").exists());
}

/// `-B HOST:CONTAINER` is writable, and what the program writes lands on
/// the host, owned by the caller.
fn bindmount_rw_writes_through_to_the_host(caller: &Caller) {
    let data = caller.dir("data");
    let arg = bind(&data, "/data");

    let facts = caller.facts(&["--bindmount-rw", &arg]);
    let mount = facts::mount_at(&facts, "/data").expect("a mount at /data");
    assert_eq!(mount["read_only"], false, "{mount}");
    let write = caller.attempt(&["-B", &arg], &["write", "/data/new"]);
    assert_allowed(&write["write"], "writing in a -B bind");
    let written = data.join("new");
    assert_eq!(
        fs::read_to_string(&written).expect("the file on the host"),
        "written by hakoniwa-probe\n"
    );
    assert_eq!(fs::metadata(&written).expect("stat").uid(), caller.uid());
}

/// `-b HOST` and `-B HOST` bind HOST at the same path inside.
fn bind_container_path_defaults_to_the_host_path(caller: &Caller) {
    let ro = caller.dir("ro");
    let rw = caller.dir("rw");
    let facts = caller.facts(&["-b", path_arg(&ro), "-B", path_arg(&rw)]);
    let mount = facts::mount_at(&facts, path_arg(&ro)).expect("a mount at the -b path");
    assert_eq!(mount["read_only"], true, "{mount}");
    let mount = facts::mount_at(&facts, path_arg(&rw)).expect("a mount at the -B path");
    assert_eq!(mount["read_only"], false, "{mount}");
}

/// Nested binds are applied parents first, whatever the order given: a
/// read-only bind inside a writable one is a read-only hole in it either
/// way, and the rest of the writable one stays writable.
fn nested_binds_apply_parents_first(caller: &Caller) {
    let data = caller.dir("data");
    let sub = caller.dir("data/sub");
    let (rw, ro) = (bind(&data, "/data"), bind(&sub, "/data/sub"));

    for args in [["-B", &rw, "-b", &ro], ["-b", &ro, "-B", &rw]] {
        let write = caller.attempt(&args, &["write", "/data/sub/f"]);
        assert_refused(&write["write"], Some(EROFS), &format!("{args:?}"));
        let write = caller.attempt(&args, &["write", "/data/f"]);
        assert_allowed(&write["write"], &format!("{args:?}"));
    }
    assert!(!sub.join("f").exists());
    assert!(data.join("f").exists());
}

/// `-b` and `-B` binds are `nodev`: a device node in them cannot be
/// opened, for reading or writing. `--dev-bind` keeps device nodes usable
/// (read and written as their permissions say) on a read-only mount.
fn binds_are_nodev_unless_dev_bind(caller: &Caller) {
    for flag in ["-b", "-B"] {
        let run_args = [flag, "/dev/zero:/zero", flag, "/dev/null:/null"];
        let facts = caller.facts(&run_args);
        let mount = facts::mount_at(&facts, "/zero").expect("a mount at /zero");
        assert!(options(mount).contains("nodev"), "{flag}: {mount}");
        let read = caller.attempt(&run_args, &["read", "/zero"]);
        assert_refused(
            &read["read"],
            Some(EACCES),
            &format!("reading a {flag} device"),
        );
        let write = caller.attempt(&run_args, &["write", "/null"]);
        assert_refused(
            &write["write"],
            Some(EACCES),
            &format!("writing a {flag} device"),
        );
    }

    let run_args = [
        "--dev-bind",
        "/dev/zero:/zero",
        "--dev-bind",
        "/dev/null:/null",
    ];
    let facts = caller.facts(&run_args);
    let mount = facts::mount_at(&facts, "/zero").expect("a mount at /zero");
    assert!(!options(mount).contains("nodev"), "{mount}");
    assert_eq!(mount["read_only"], true, "{mount}");
    let read = caller.attempt(&run_args, &["read", "/zero"]);
    assert_allowed(&read["read"], "reading a --dev-bind device");
    let write = caller.attempt(&run_args, &["write", "/null"]);
    assert_allowed(&write["write"], "writing a --dev-bind device");
}

/// `-b /dev:/host-dev` (hakoniwa 1.x users bound `/dev/dri` so) shows the
/// host's device nodes, but none opens: not even as the host's root is a
/// raw disk reachable through a bind.
fn a_bind_of_the_host_dev_opens_no_device(caller: &Caller) {
    let read = caller.attempt(&["-b", "/dev:/host-dev"], &["read", "/host-dev/zero"]);
    assert_refused(
        &read["read"],
        Some(EACCES),
        "reading /dev/zero through -b /dev",
    );
    let read = caller.attempt(
        &["--dev-bind", "/dev:/host-dev"],
        &["read", "/host-dev/zero"],
    );
    assert_allowed(&read["read"], "reading /dev/zero through --dev-bind /dev");
}

/// A mount's options, as the probe read them from mountinfo.
fn options(mount: &serde_json::Value) -> BTreeSet<String> {
    mount["options"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(|option| option.as_str().map(str::to_owned))
        .collect()
}

/// `--devfs /dev`: the usual character devices, `pts/` with its `ptmx`
/// and the `ptmx` link to it (where `posix_openpt` looks), `shm/`, and the
/// `fd` links — nothing else of the host's `/dev`.
fn devfs_holds_a_minimal_dev(caller: &Caller) {
    let run_args = ["--devfs", "/dev"];
    let dev = caller.attempt(&run_args, &["list", "/dev"]);
    let expected: BTreeMap<String, String> = [
        ("null", "char 1:3"),
        ("zero", "char 1:5"),
        ("full", "char 1:7"),
        ("random", "char 1:8"),
        ("urandom", "char 1:9"),
        ("tty", "char 5:0"),
        ("pts", "dir"),
        ("ptmx", "symlink -> pts/ptmx"),
        ("shm", "dir"),
        ("fd", "symlink -> /proc/self/fd"),
        ("stdin", "symlink -> /proc/self/fd/0"),
        ("stdout", "symlink -> /proc/self/fd/1"),
        ("stderr", "symlink -> /proc/self/fd/2"),
    ]
    .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
    .into();
    assert_eq!(facts::kinds(&dev["entries"]), expected);

    let pts = caller.attempt(&run_args, &["list", "/dev/pts"]);
    let ptmx = &facts::entries(&pts["entries"])["ptmx"];
    assert_eq!(ptmx["type"], "char", "{ptmx}");

    let write = caller.attempt(&run_args, &["write", "/dev/null"]);
    assert_allowed(&write["write"], "writing /dev/null");
    let write = caller.attempt(&run_args, &["write", "/dev/shm/f"]);
    assert_allowed(&write["write"], "writing in /dev/shm");
}

/// `--tmpfs PATH` mounts an empty, writable tmpfs that the host never sees.
fn tmpfs_is_fresh_and_writable(caller: &Caller) {
    let run_args = ["--tmpfs", "/tmp"];
    let facts = caller.facts(&run_args);
    let mount = facts::mount_at(&facts, "/tmp").expect("a mount at /tmp");
    assert_eq!(mount["fs_type"], "tmpfs", "{mount}");
    assert_eq!(mount["read_only"], false, "{mount}");
    let listing = caller.attempt(&run_args, &["list", "/tmp"]);
    assert_eq!(facts::names(&listing["entries"]), BTreeSet::new());

    let name = format!("hakoniwa-tmpfs-test.{}", std::process::id());
    let write = caller.attempt(&run_args, &["write", &format!("/tmp/{name}")]);
    assert_allowed(&write["write"], "writing in the tmpfs");
    assert!(
        !Path::new("/tmp").join(&name).exists(),
        "the write reached the host's /tmp"
    );
}

/// `-e NAME=VALUE` sets a variable (the value may be empty or hold `=`);
/// `-e NAME` copies the caller's; the rest of the caller's stays out.
fn setenv_sets_or_copies_variables(caller: &Caller) {
    let run_args = [
        "-e",
        "FOO=1",
        "-e",
        "COPIED",
        "-e",
        "EMPTY=",
        "--setenv",
        "EQUALS=a=b",
    ];
    let facts = caller
        .probe(&run_args, &["facts"])
        .env("COPIED", "from the caller")
        .env("NOT_ASKED", "stays out")
        .output()
        .json();
    let expected = BTreeMap::from([
        ("FOO".to_owned(), "1".to_owned()),
        ("COPIED".to_owned(), "from the caller".to_owned()),
        ("EMPTY".to_owned(), String::new()),
        ("EQUALS".to_owned(), "a=b".to_owned()),
    ]);
    assert_eq!(facts::env(&facts), expected);
}

/// ```text
/// $ hakoniwa run -e FOO=1 -- env
/// FOO=1
/// ```
fn setenv_adds_exactly_what_is_asked(caller: &Caller) {
    let outcome = caller.run(&["-e", "FOO=1"], &["env"]).output();
    assert_eq!(outcome.success().stdout, "FOO=1\n", "{outcome}");
}

/// `-w HOST:CONTAINER` binds HOST read-write at CONTAINER and starts the
/// program there: a relative path written by the program lands in HOST.
fn workdir_binds_and_starts_there(caller: &Caller) {
    let work = caller.dir("work");
    let arg = bind(&work, "/work");

    let facts = caller.facts(&["-w", &arg]);
    assert_eq!(facts["cwd"], "/work");
    let mount = facts::mount_at(&facts, "/work").expect("a mount at /work");
    assert_eq!(mount["read_only"], false, "{mount}");
    let write = caller.attempt(&["--workdir", &arg], &["write", "output"]);
    assert_allowed(&write["write"], "writing in the workdir");
    assert!(work.join("output").exists());
}

/// `-w HOST` binds HOST at the same path and starts there.
fn workdir_container_path_defaults_to_the_host_path(caller: &Caller) {
    let work = caller.dir("work");
    let facts = caller.facts(&["-w", path_arg(&work)]);
    assert_eq!(facts["cwd"], path_arg(&work));
    let mount = facts::mount_at(&facts, path_arg(&work)).expect("a mount at the workdir");
    assert_eq!(mount["read_only"], false, "{mount}");
}

/// `-w :CONTAINER` binds nothing; the program just starts in CONTAINER.
fn workdir_without_host_path_only_starts_there(caller: &Caller) {
    let facts = caller.facts(&["-w", ":/usr"]);
    assert_eq!(facts["cwd"], "/usr");
    let default = caller.facts(&[]);
    assert_eq!(facts::mount_points(&facts), facts::mount_points(&default));
}

/// Quiet by default; `-v` logs the setup steps (the mounts among them) on
/// stderr, `-vv` at least as much. The program's output is unchanged.
fn verbose_logs_setup_steps_on_stderr(caller: &Caller) {
    let quiet = caller.probe(&[], &["exit", "0"]).output();
    assert_eq!(quiet.success().stderr, "", "{quiet}");

    let verbose = caller.probe(&["-v"], &["exit", "0"]).output();
    assert_eq!(verbose.success().stdout, "", "{verbose}");
    assert!(
        verbose.stderr.contains("/probe"),
        "the bind at /probe is not logged\n{verbose}"
    );

    let more = caller.probe(&["-vv"], &["exit", "0"]).output();
    assert!(
        more.success().stderr.lines().count() >= verbose.stderr.lines().count(),
        "-vv logs less than -v\n{more}"
    );
}

/// `--help` lists every flag; `--version` prints the version.
fn help_and_version(caller: &Caller) {
    let version = caller.hakoniwa(&["--version"]).output();
    assert!(
        version.success().stdout.contains(env!("CARGO_PKG_VERSION")),
        "{version}"
    );

    let help = caller.hakoniwa(&["run", "--help"]).output();
    for flag in [
        "--unshare-all",
        "--unshare-cgroup",
        "--unshare-ipc",
        "--unshare-network",
        "--unshare-uts",
        "--rootfs",
        "--bindmount-ro",
        "--bindmount-rw",
        "--devfs",
        "--tmpfs",
        "--setenv",
        "--workdir",
        "--hostname",
    ] {
        assert!(
            help.success().stdout.contains(flag),
            "{flag} is not in the help\n{help}"
        );
    }
}
