//! The default sandbox: what `hakoniwa run -- PROGRAM` gives with no other
//! flag. New user, mount and pid namespaces; the caller mapped to itself; a
//! fresh root holding read-only binds of the host's system directories and
//! a fresh `/proc`; an empty environment.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::facts::{self, as_u32, id_map};
use common::{host, Caller};

sandbox_tests![
    program_sees_only_the_sandbox_processes,
    caller_is_mapped_to_itself,
    root_holds_only_the_rootfs_and_proc,
    only_user_mount_and_pid_namespaces_are_new,
    program_inherits_only_stdio,
    ls_of_root_shows_the_rootfs,
    environment_is_empty,
    default_command_is_sh,
];

/// The program is not pid 1 — the sandbox's init is — and it sees nothing
/// in `/proc` but itself and its ancestors up to that init.
fn program_sees_only_the_sandbox_processes(caller: &Caller) {
    let facts = caller.facts(&[]);
    let pid = as_u32(&facts["pid"]);
    assert!(pid >= 2, "the program is pid {pid}; pid 1 belongs to init");

    let parents: BTreeMap<u32, u32> = facts["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .map(|p| (as_u32(&p["pid"]), p["ppid"].as_u64().unwrap_or(0) as u32))
        .collect();
    let mut chain = BTreeSet::new();
    let mut next = pid;
    while let Some(&parent) = parents.get(&next) {
        chain.insert(next);
        next = parent;
    }
    assert!(
        chain.contains(&1),
        "pid 1 is not an ancestor of the program: {parents:?}"
    );
    let visible: BTreeSet<u32> = parents.keys().copied().collect();
    assert_eq!(
        visible, chain,
        "processes other than the program and its ancestors are visible"
    );
}

/// `uid_map` is `UID UID 1`: the caller is the same user inside, and no
/// other id exists there.
fn caller_is_mapped_to_itself(caller: &Caller) {
    let facts = caller.facts(&[]);
    let (uid, gid) = (u64::from(caller.uid()), u64::from(caller.gid()));
    assert_eq!(id_map(&facts["uid_map"]), [[uid, uid, 1]]);
    assert_eq!(id_map(&facts["gid_map"]), [[gid, gid, 1]]);
    assert_eq!(facts["uid"]["real"], uid);
    assert_eq!(facts["uid"]["effective"], uid);
    assert_eq!(facts["gid"]["real"], gid);
    assert_eq!(facts["gid"]["effective"], gid);
    if !caller.is_root() {
        // The kernel lets an unprivileged user write gid_map only then.
        assert_eq!(facts["setgroups"], "deny");
    }
}

/// `/` is a fresh tmpfs holding the host's `bin etc lib lib32 lib64 sbin
/// usr` (those that exist; symlinks as the same symlinks, directories as
/// read-only binds) and `/proc` — plus `/probe`, bound by the harness.
fn root_holds_only_the_rootfs_and_proc(caller: &Caller) {
    let facts = caller.facts(&[]);
    let rootfs = host::rootfs_kinds(Path::new("/"));
    let mut expected = rootfs.clone();
    expected.insert("proc".into(), "dir".into());
    expected.insert("probe".into(), "dir".into());
    assert_eq!(facts::kinds(&facts["root"]), expected);

    let root = facts::mount_at(&facts, "/").expect("a mount at /");
    assert_eq!(
        root["fs_type"], "tmpfs",
        "the root is not a fresh tmpfs: {root}"
    );
    let proc = facts::mount_at(&facts, "/proc").expect("a mount at /proc");
    assert_eq!(proc["fs_type"], "proc", "{proc}");
    for (name, kind) in &rootfs {
        if kind == "dir" {
            let mount = facts::mount_at(&facts, &format!("/{name}"))
                .unwrap_or_else(|| panic!("/{name} is not a mount"));
            assert_eq!(mount["read_only"], true, "/{name} is writable: {mount}");
        }
    }
}

/// Without `--unshare-*` flags the sandbox shares cgroup, ipc, net and uts
/// with the caller.
fn only_user_mount_and_pid_namespaces_are_new(caller: &Caller) {
    let facts = caller.facts(&[]);
    assert_eq!(
        facts::new_namespaces(&facts),
        BTreeSet::from(["mnt", "pid", "user"])
    );
}

/// No file descriptor reaches the program but 0, 1 and 2: neither those
/// of `hakoniwa` itself (pipes, `/proc` handles) nor one its caller left
/// open by mistake.
fn program_inherits_only_stdio(caller: &Caller) {
    let facts = caller.probe(&[], &["facts"]).extra_fd(5).output().json();
    let fds: BTreeMap<u32, &str> = facts["fds"]
        .as_array()
        .expect("fds")
        .iter()
        .map(|fd| (as_u32(&fd["fd"]), fd["target"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(
        fds.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2],
        "open fds: {fds:?}"
    );
}

/// ```text
/// $ hakoniwa run -- ls /
/// bin
/// etc
/// lib
/// lib64
/// proc
/// sbin
/// usr
/// ```
/// (on a host whose `/` has no `lib32`). `ls` is found through the
/// sandbox's default PATH although the environment is empty.
fn ls_of_root_shows_the_rootfs(caller: &Caller) {
    let outcome = caller.run(&[], &["ls", "/"]).output();
    let mut expected: BTreeSet<String> = host::rootfs_kinds(Path::new("/")).into_keys().collect();
    expected.insert("proc".into());
    let expected: String = expected.iter().map(|name| format!("{name}\n")).collect();
    assert_eq!(outcome.success().stdout, expected, "{outcome}");
}

/// ```text
/// $ hakoniwa run -- env
/// $
/// ```
/// None of the caller's variables reach the program.
fn environment_is_empty(caller: &Caller) {
    let outcome = caller
        .run(&[], &["env"])
        .env("HAKONIWA_TEST_CANARY", "leaked")
        .output();
    assert_eq!(outcome.success().stdout, "", "{outcome}");
}

/// ```text
/// $ echo 'echo hello; exit 7' | hakoniwa run
/// hello
/// $ echo $?
/// 7
/// ```
fn default_command_is_sh(caller: &Caller) {
    let outcome = caller
        .hakoniwa(&["run"])
        .stdin(b"echo hello; exit 7\n")
        .output();
    assert_eq!(outcome.code(), 7, "{outcome}");
    assert_eq!(outcome.stdout, "hello\n", "{outcome}");
}
