//! The library's API, run for real: each test runs as the current user and,
//! when that is root, once more as uid 65534 (the test binary re-runs itself
//! under `setpriv`, for that one test).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process;

use hakoniwa::{Cgroup, Container, ExitKind, Namespace, Stdio};

/// Set in the re-run as uid 65534, so it runs the body instead of re-running.
const INNER: &str = "HAKONIWA_TEST_AS_NOBODY";

/// Runs `body` as the current user, then, when that is root, as uid 65534.
fn both_ways(name: &str, body: fn()) {
    body();
    if std::env::var_os(INNER).is_some() {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "{name}: skipped the root half: not running as root"
            );
        }
        return;
    }
    // The build directory may be closed to uid 65534: run a hard link, or
    // else a copy, from a directory it can enter.
    let dir = TempDir::new();
    let exe = dir.0.join("library-test");
    let current = std::env::current_exe().unwrap();
    if std::fs::hard_link(&current, &exe).is_err() {
        std::fs::copy(&current, &exe).unwrap();
    }
    // A process another test thread forks while a copy is being written
    // holds it open for writing until it executes or exits, and executing
    // the copy meanwhile fails with ETXTBSY: try again after a moment.
    for attempt in 1.. {
        let output = process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe)
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env(INNER, "1")
            .current_dir("/")
            .output()
            .expect("setpriv (util-linux) must be installed");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() && stderr.contains("Text file busy") && attempt < 20 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            continue;
        }
        assert!(
            output.status.success(),
            "{name} failed as uid 65534:\n{}{stderr}",
            String::from_utf8_lossy(&output.stdout)
        );
        return;
    }
}

/// A world-readable temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "hakoniwa-library-test-{}-{:?}",
            process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn container() -> Container {
    let mut container = Container::new();
    container.rootfs("/").unwrap();
    container
}

#[test]
fn output_captures_streams_and_exit_code() {
    both_ways("output_captures_streams_and_exit_code", || {
        let output = container()
            .command("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .output()
            .unwrap();
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
        assert_eq!(output.status.kind, ExitKind::Exited(3));
        assert_eq!((output.status.code, output.status.exit_code), (3, Some(3)));
        assert!(!output.status.success());
    });
}

#[test]
fn the_program_sees_its_own_pid_namespace_and_only_the_rootfs() {
    both_ways(
        "the_program_sees_its_own_pid_namespace_and_only_the_rootfs",
        || {
            let output = container()
                .command("sh")
                .args(["-c", "echo $$; ls /"])
                .output()
                .unwrap();
            let stdout = String::from_utf8(output.stdout).unwrap();
            let mut lines = stdout.lines();
            // pid 1 is init; the program is its first child.
            assert_eq!(lines.next(), Some("2"));
            let entries: Vec<&str> = lines.collect();
            let mut expected: Vec<&str> = ["bin", "etc", "lib", "lib32", "lib64", "sbin", "usr"]
                .into_iter()
                .filter(|name| std::path::Path::new("/").join(name).exists())
                .chain(["proc"])
                .collect();
            expected.sort();
            assert_eq!(entries, expected);
        },
    );
}

#[test]
fn stdin_can_be_piped() {
    both_ways("stdin_can_be_piped", || {
        let mut child = container()
            .command("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"through").unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "through");
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn a_failed_mount_names_the_step_and_the_path() {
    both_ways("a_failed_mount_names_the_step_and_the_path", || {
        let mut container = container();
        // /usr is a read-only bind: no mount point can be made in it.
        container.bindmount_ro("/etc", "/usr/hakoniwa-test-mount-point");
        let status = container.command("true").status().unwrap();
        assert_eq!(status.code, 125);
        let err = status.setup_error().expect("a setup failure");
        assert_eq!(
            err.step(),
            "create mount point /usr/hakoniwa-test-mount-point"
        );
        assert_eq!(err.error().raw_os_error(), Some(libc_erofs()));
        assert!(!std::path::Path::new("/usr/hakoniwa-test-mount-point").exists());
    });
}

fn libc_erofs() -> i32 {
    nix::errno::Errno::EROFS as i32
}

#[test]
fn bad_configuration_is_refused_before_anything_runs() {
    both_ways("bad_configuration_is_refused_before_anything_runs", || {
        let mut container = container();
        container.bindmount_ro("/nonexistent-hakoniwa-source", "/data");
        let err = container.command("true").status().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid bind-mount source /nonexistent-hakoniwa-source"
        );
        let mut container = self::container();
        container.tmpfsmount("relative");
        let err = container.command("true").status().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid mount target relative: must be an absolute path"
        );
    });
}

#[test]
fn missing_and_unexecutable_programs_have_their_own_codes() {
    both_ways(
        "missing_and_unexecutable_programs_have_their_own_codes",
        || {
            let status = container().command("no-such-program").status().unwrap();
            assert_eq!(status.code, 127);
            assert!(status.setup_error().unwrap().is_program_not_found());
            let status = container().command("/etc/passwd").status().unwrap();
            assert_eq!(status.code, 126);
            assert!(status.setup_error().unwrap().is_program_not_executable());
        },
    );
}

#[test]
fn kill_ends_the_sandbox_and_try_wait_sees_it() {
    both_ways("kill_ends_the_sandbox_and_try_wait_sees_it", || {
        let mut child = container().command("sleep").arg("100").spawn().unwrap();
        assert_eq!(child.try_wait().unwrap(), None);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.kind, ExitKind::Signaled(9));
        assert_eq!(status.code, 137);
        assert_eq!(child.try_wait().unwrap(), Some(status));
    });
}

#[test]
fn a_signal_reaches_the_program() {
    both_ways("a_signal_reaches_the_program", || {
        let mut child = container()
            .command("sh")
            .args([
                "-c",
                "trap 'exit 42' TERM; echo ready; while :; do sleep 0.01; done",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = [0; 6];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut ready)
            .unwrap();
        child.signal(libc_sigterm()).unwrap();
        assert_eq!(child.wait().unwrap().kind, ExitKind::Exited(42));
    });
}

fn libc_sigterm() -> i32 {
    nix::sys::signal::Signal::SIGTERM as i32
}

#[test]
fn sandboxes_can_be_spawned_from_many_threads_at_once() {
    both_ways("sandboxes_can_be_spawned_from_many_threads_at_once", || {
        let threads: Vec<_> = (0..8)
            .map(|thread| {
                std::thread::spawn(move || {
                    for run in 0..5 {
                        let mut container = container();
                        container
                            .unshare(Namespace::Uts)
                            .hostname(&format!("t{thread}"));
                        let output = container
                            .command("sh")
                            .args(["-c", &format!("echo $(hostname) {run}")])
                            .output()
                            .unwrap();
                        assert_eq!(output.stdout, format!("t{thread} {run}\n").as_bytes());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    });
}

/// A sandbox lives as long as the process that spawned it, not the thread:
/// one spawned by a short-lived worker thread runs to its end.
#[test]
fn a_sandbox_outlives_the_thread_that_spawned_it() {
    both_ways("a_sandbox_outlives_the_thread_that_spawned_it", || {
        let mut child = std::thread::spawn(|| {
            container()
                .command("sh")
                .args(["-c", "sleep 0.3; exit 7"])
                .spawn()
                .unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(child.wait().unwrap().kind, ExitKind::Exited(7));
    });
}

/// The same with pasta: its keeper, too, lives as long as the spawning
/// process, so the sandbox keeps its interface after the thread is gone.
#[test]
fn pasta_outlives_the_thread_that_spawned_the_sandbox() {
    both_ways("pasta_outlives_the_thread_that_spawned_the_sandbox", || {
        let usable = process::Command::new("pasta")
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
            && std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/net/tun")
                .is_ok();
        if !usable {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "skipped: pasta or a usable /dev/net/tun is missing (apt install passt)"
            );
            return;
        }
        let mut child = std::thread::spawn(|| {
            let mut container = container();
            container.network(hakoniwa::Pasta::new());
            container
                .command("sh")
                .args(["-c", "sleep 0.5; cat /proc/net/dev"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .join()
        .unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert!(child.wait().unwrap().success());
        let interfaces: Vec<&str> = out
            .lines()
            .skip(2)
            .filter_map(|line| line.split(':').next())
            .map(str::trim)
            .collect();
        assert!(
            interfaces.len() > 1,
            "pasta's interface is gone: {interfaces:?}"
        );
    });
}

#[test]
fn an_empty_container_runs_on_the_host() {
    both_ways("an_empty_container_runs_on_the_host", || {
        let output = Container::empty()
            .command("/bin/sh")
            .args(["-c", "echo $FOO"])
            .env("FOO", "from the caller")
            .output()
            .unwrap();
        assert_eq!(output.stdout, b"from the caller\n");
        let output = Container::empty()
            .command("/bin/sh")
            .arg0("named")
            .args(["-c", "echo $0"])
            .output()
            .unwrap();
        assert_eq!(output.stdout, b"named\n");
    });
}

#[test]
fn the_default_seccomp_filter_and_one_built_in_code() {
    use hakoniwa::seccomp::{Action, Filter};
    both_ways("the_default_seccomp_filter_and_one_built_in_code", || {
        let seccomp_mode = |container: &Container| {
            let output = container
                .command("sh")
                .args(["-c", "grep '^Seccomp:' /proc/self/status"])
                .output()
                .unwrap();
            String::from_utf8(output.stdout).unwrap()
        };
        let mut container = container();
        assert_eq!(seccomp_mode(&container), "Seccomp:\t2\n");
        container.seccomp_unconfined();
        assert_eq!(seccomp_mode(&container), "Seccomp:\t0\n");

        let mut filter = Filter::new(Action::Allow);
        filter.add_rule(Action::Errno(libc::EPERM), "uname");
        container.seccomp_filter(filter);
        let output = container.command("uname").output().unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("Operation not permitted"), "{stderr}");
    });
}

#[test]
fn an_mqueue_mounts_inside_devfs_and_masks_hide_what_they_name() {
    both_ways(
        "an_mqueue_mounts_inside_devfs_and_masks_hide_what_they_name",
        || {
            let mut container = container();
            // An mqueue belongs to an ipc namespace the sandbox owns.
            container
                .unshare(Namespace::Ipc)
                .devfsmount("/dev")
                .mqueuemount("/dev/mqueue")
                .mask("/usr/share")
                .mask("/etc/passwd")
                .mask("/no/such/path");
            let output = container
                .command("sh")
                .args([
                    "-c",
                    "grep -c ' /dev/mqueue mqueue ' /proc/self/mounts; \
                     ls -A /usr/share | wc -l; wc -c < /etc/passwd; \
                     touch /usr/share/x 2>/dev/null || echo refused",
                ])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert_eq!(stdout, "1\n0\n0\nrefused\n", "{output:?}");
            assert!(output.status.success(), "{:?}", output.status);
        },
    );
}

#[test]
fn a_read_only_path_protects_what_is_mounted_below_it() {
    both_ways("a_read_only_path_protects_what_is_mounted_below_it", || {
        let mut container = container();
        // Given before the mounts it protects: it still acts on them.
        container
            .readonly("/data/ro")
            .readonly("/no/such/path")
            .tmpfsmount("/data")
            .dir("/data/ro", 0o755)
            .tmpfsmount("/data/ro/inner");
        let output = container
            .command("sh")
            .args([
                "-c",
                "touch /data/x && echo data-written; \
                 touch /data/ro/x 2>/dev/null || echo ro-refused; \
                 touch /data/ro/inner/x 2>/dev/null || echo inner-refused",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            stdout, "data-written\nro-refused\ninner-refused\n",
            "{output:?}"
        );
        assert!(output.status.success(), "{:?}", output.status);
    });
}

/// A sandbox of `container` whose program (`sh`, then `sleep 30`) has
/// started: it said so on its piped stdout.
fn running_sandbox(container: &Container) -> hakoniwa::Child {
    let mut running = container
        .command("sh")
        .args(["-c", "echo ready; exec sleep 30"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = [0u8; 6];
    running
        .stdout
        .take()
        .unwrap()
        .read_exact(&mut ready)
        .unwrap();
    running
}

/// The (first) child of process `parent`, found through `/proc/*/status`.
fn child_of(parent: u32) -> u32 {
    let ppid = format!("PPid:\t{parent}\n");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .is_ok_and(|status| status.contains(&ppid))
        })
        .expect("a child")
}

#[test]
fn a_second_program_enters_a_running_sandbox() {
    both_ways("a_second_program_enters_a_running_sandbox", || {
        let mut first = container();
        first
            .unshare(Namespace::Uts)
            .hostname("first")
            .file("/marker", "inside\n");
        // Entered once built: its program has started.
        let mut running = running_sandbox(&first);
        // Through the program: init is not dumpable, so its namespaces are
        // closed to all but root.
        let program = child_of(running.id());
        let mut entering = Container::empty();
        entering.enter(program).seccomp_default();
        let output = entering
            .command("sh")
            .args(["-c", "hostname; cat /marker; echo $$; exit 4"])
            .output()
            .unwrap();
        running.kill().unwrap();
        running.wait().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        // pid 1 is the first sandbox's init, 2 its sleep: the second
        // program is the next process of that pid namespace.
        assert_eq!(stdout, "first\ninside\n3\n", "{output:?}");
        assert_eq!(output.status.kind, ExitKind::Exited(4), "{output:?}");

        let mut conflicting = Container::empty();
        conflicting.enter(process::id()).hostname("x");
        let error = conflicting.command("true").status().unwrap_err();
        assert!(error.to_string().contains("cannot also have"), "{error}");
    });
}

/// A `sleep` in a new network namespace (with a user namespace of its own
/// when not root), once it is in it: the process and its namespace file.
fn network_namespace_holder() -> (process::Child, String) {
    let mut unshare = process::Command::new("unshare");
    if !nix::unistd::geteuid().is_root() {
        unshare.arg("--map-root-user");
    }
    let holder = unshare.args(["--net", "sleep", "30"]).spawn().unwrap();
    let path = format!("/proc/{}/ns/net", holder.id());
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    let started = std::time::Instant::now();
    while std::fs::read_link(&path).ok().as_ref() == Some(&ours) {
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    (holder, path)
}

#[test]
fn a_sandbox_joins_a_network_namespace_by_path() {
    both_ways("a_sandbox_joins_a_network_namespace_by_path", || {
        let (mut holder, path) = network_namespace_holder();
        let theirs = std::fs::read_link(&path).unwrap();
        let root = nix::unistd::geteuid().is_root();
        // As root, without a user namespace; rootless, the sandbox's own
        // user namespace holds no capability over the holder's.
        let mut joining = if root {
            let mut container = Container::empty();
            container
                .unshare(Namespace::Mount)
                .unshare(Namespace::Pid)
                .rootfs("/")
                .unwrap()
                .procfsmount("/proc");
            container
        } else {
            container()
        };
        joining.join(Namespace::Network, &path);
        let output = joining
            .command("readlink")
            .arg("/proc/self/ns/net")
            .output()
            .unwrap();
        holder.kill().unwrap();
        holder.wait().unwrap();
        if root {
            assert_eq!(
                String::from_utf8_lossy(&output.stdout).trim_end(),
                theirs.to_string_lossy(),
                "{output:?}"
            );
        } else {
            let ExitKind::SetupFailed(error) = &output.status.kind else {
                panic!("joined without the capabilities: {output:?}");
            };
            assert!(
                error
                    .to_string()
                    .contains(&format!("join the network namespace at {path}")),
                "{error}"
            );
        }

        let mut conflicting = container();
        conflicting.join(Namespace::Pid, "/proc/self/ns/pid");
        let error = conflicting.command("true").status().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot join the pid namespace"),
            "{error}"
        );
    });
}

#[test]
fn a_sysctl_of_the_sandboxs_own_network_namespace_is_set() {
    both_ways(
        "a_sysctl_of_the_sandboxs_own_network_namespace_is_set",
        || {
            let host =
                std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
            let mut container = container();
            container
                .unshare(Namespace::Network)
                .sysctl("net.ipv4.ip_unprivileged_port_start", "99");
            let output = container
                .command("cat")
                .arg("/proc/sys/net/ipv4/ip_unprivileged_port_start")
                .output()
                .unwrap();
            assert!(output.status.success(), "{:?}", output.status);
            assert_eq!(output.stdout, b"99\n");
            // The host's own value is untouched.
            let after =
                std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
            assert_eq!(after, host);

            // Without a network namespace of its own, the host's would change.
            let mut container = self::container();
            container.sysctl("net.ipv4.ip_unprivileged_port_start", "99");
            let err = container.command("true").status().unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("cannot set sysctl net.ipv4.ip_unprivileged_port_start: the sandbox does not have a namespace of its own"),
                "{err}"
            );
            // Nor a parameter of no namespace at all.
            let mut container = self::container();
            container.sysctl("kernel.core_pattern", "|/bin/sh");
            let err = container.command("true").status().unwrap_err();
            assert!(
                err.to_string()
                    .contains("only parameters of the sandbox's own namespaces"),
                "{err}"
            );
        },
    );
}

#[test]
fn a_failure_before_the_go_ahead_is_reported_as_the_step_that_failed() {
    both_ways(
        "a_failure_before_the_go_ahead_is_reported_as_the_step_that_failed",
        || {
            // Init, in a user namespace of its own, holds no capability over
            // the caller's network namespace: joining it fails at once,
            // before the parent has written the id maps. Many times, so that
            // both orders of the race between the two are seen.
            let ours = format!("/proc/{}/ns/net", std::process::id());
            for _ in 0..20 {
                let mut container = container();
                container.join(Namespace::Network, &ours);
                let status = container.command("true").status().unwrap();
                assert_eq!(status.code, 125, "{status:?}");
                let err = status.setup_error().expect("a setup failure");
                assert!(err.step().contains("network namespace"), "{}", err.step());
                assert_eq!(err.error().raw_os_error(), Some(libc_eperm()));
            }
        },
    );
}

fn libc_eperm() -> i32 {
    nix::errno::Errno::EPERM as i32
}

/// Whether process `pid` exists (a zombie counts: not yet reaped).
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn a_held_sandbox_is_built_and_its_program_runs_only_at_start() {
    both_ways(
        "a_held_sandbox_is_built_and_its_program_runs_only_at_start",
        || {
            let mut container = container();
            container
                .unshare(Namespace::Uts)
                .hostname("held")
                .file("/marker", "built\n");
            let mut child = container
                .command("sh")
                .args(["-c", "echo ran; exit 3"])
                .stdout(Stdio::piped())
                .spawn_held()
                .unwrap();
            let program = child.program_id().expect("a held program's pid");
            // Held: a process of the sandbox (a child of its init) that is
            // not yet the program (still a copy of this test binary).
            let status = std::fs::read_to_string(format!("/proc/{program}/status")).unwrap();
            assert!(
                status.contains(&format!("PPid:\t{}\n", child.id())),
                "{status}"
            );
            let comm = std::fs::read_to_string(format!("/proc/{program}/comm")).unwrap();
            assert_ne!(comm, "sh\n");
            // Its maps are written and its root is built: what a hook sees
            // by entering it.
            let uid_map = std::fs::read_to_string(format!("/proc/{program}/uid_map")).unwrap();
            let own_uid = nix::unistd::getuid().as_raw().to_string();
            assert_eq!(
                uid_map.split_whitespace().collect::<Vec<_>>(),
                [own_uid.as_str(), &own_uid, "1"]
            );
            let mut entering = Container::empty();
            entering.enter(program);
            let seen = entering
                .command("sh")
                .args(["-c", "hostname; cat /marker"])
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&seen.stdout),
                "held\nbuilt\n",
                "{seen:?}"
            );
            assert_eq!(child.try_wait().unwrap(), None);
            child.start().unwrap();
            // Once started it is no longer held.
            assert!(matches!(child.start(), Err(hakoniwa::Error::NotHeld)));
            let output = child.wait_with_output().unwrap();
            assert_eq!(output.stdout, b"ran\n");
            assert_eq!(output.status.kind, ExitKind::Exited(3));
            assert!(!exists(program));
        },
    );
}

#[test]
fn a_held_sandbox_ends_when_killed_or_dropped() {
    both_ways("a_held_sandbox_ends_when_killed_or_dropped", || {
        let mut child = container().command("true").spawn_held().unwrap();
        let (init, program) = (child.id(), child.program_id().unwrap());
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.kind, ExitKind::Signaled(9));
        assert!(!exists(init) && !exists(program));

        let child = container().command("true").spawn_held().unwrap();
        let (init, program) = (child.id(), child.program_id().unwrap());
        drop(child);
        assert!(!exists(init) && !exists(program));

        // Without a pid namespace the program is not taken along with init.
        let mut container = Container::empty();
        container
            .unshare(Namespace::User)
            .uidmap(nix::unistd::getuid().as_raw());
        let child = container.command("true").spawn_held().unwrap();
        let (init, program) = (child.id(), child.program_id().unwrap());
        drop(child);
        assert!(!exists(init));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while exists(program) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!exists(program));
    });
}

#[test]
fn held_failures_before_and_after_the_start() {
    both_ways("held_failures_before_and_after_the_start", || {
        // Before the hold: spawn_held fails, naming the step.
        let mut container = container();
        container.bindmount_ro("/etc", "/usr/hakoniwa-test-mount-point");
        let error = container.command("true").spawn_held().unwrap_err();
        assert_eq!(
            error.to_string(),
            "failed to create mount point /usr/hakoniwa-test-mount-point: Read-only file system"
        );
        assert!(!std::path::Path::new("/usr/hakoniwa-test-mount-point").exists());
        // After: as for spawn.
        let mut child = self::container()
            .command("no-such-program")
            .spawn_held()
            .unwrap();
        child.start().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code, 127);
        assert!(status.setup_error().unwrap().is_program_not_found());
        // A spawned program is not held.
        let mut running = self::container().command("true").spawn().unwrap();
        assert_eq!(running.program_id(), None);
        assert!(matches!(running.start(), Err(hakoniwa::Error::NotHeld)));
        running.wait().unwrap();
    });
}

#[test]
fn the_wall_time_limit_ends_the_programs_group_without_a_pid_namespace() {
    both_ways(
        "the_wall_time_limit_ends_the_programs_group_without_a_pid_namespace",
        || {
            let began = std::time::Instant::now();
            // The background sleep holds the output pipe: the run ends only
            // when it is killed too.
            let output = Container::empty()
                .runctl(hakoniwa::Runctl::NewSession)
                .command("/bin/sh")
                .args(["-c", "sleep 30 & sleep 30"])
                .wait_timeout(std::time::Duration::from_millis(300))
                .output()
                .unwrap();
            assert_eq!(output.status.kind, ExitKind::TimedOut);
            assert!(began.elapsed().as_secs() < 10, "{:?}", began.elapsed());
        },
    );
}

/// Everything read from a terminal's master until the program and all it
/// started have closed the slave (then reads fail with EIO).
fn read_terminal(master: std::os::fd::OwnedFd) -> String {
    let mut master = std::fs::File::from(master);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc_eio()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading the terminal: {e}"),
        }
    }
    String::from_utf8_lossy(&seen).replace('\r', "")
}

fn libc_eio() -> i32 {
    5
}

/// What a program with a terminal reports: its name, whether its streams
/// are terminals, whether it is `/dev/console` too, whether it is the
/// controlling terminal (`/dev/tty` opens), and a line it read.
const TERMINAL_SCRIPT: &str = r#"tty
[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo streams
[ /dev/console -ef "$(tty)" ] && echo console
: </dev/tty && echo controlling
read line; echo "read $line""#;

#[test]
fn a_terminal_from_the_sandboxs_devpts_is_the_programs_tty() {
    both_ways(
        "a_terminal_from_the_sandboxs_devpts_is_the_programs_tty",
        || {
            let mut container = container();
            container.devfsmount("/dev");
            let mut child = container
                .command("sh")
                .args(["-c", TERMINAL_SCRIPT])
                .terminal()
                .spawn()
                .unwrap();
            let terminal = child.terminal.take().expect("the program's terminal");
            assert_eq!(terminal.name, PathBuf::from("/dev/pts/0"));
            std::fs::File::from(terminal.master.try_clone().unwrap())
                .write_all(b"typed\n")
                .unwrap();
            let seen = read_terminal(terminal.master);
            let status = child.wait().unwrap();
            assert_eq!(status.kind, ExitKind::Exited(0), "{status:?}\n{seen}");
            // The typed line is echoed by the terminal, then read.
            for line in [
                "/dev/pts/0\n",
                "streams\n",
                "console\n",
                "controlling\n",
                "read typed\n",
            ] {
                assert!(seen.contains(line), "no {line:?} in {seen:?}");
            }
        },
    );
}

#[test]
fn a_held_program_has_its_terminal_before_the_start() {
    both_ways("a_held_program_has_its_terminal_before_the_start", || {
        let mut container = container();
        container.devfsmount("/dev");
        let mut child = container
            .command("sh")
            .args(["-c", "tty; stty size"])
            .terminal()
            .spawn_held()
            .unwrap();
        let terminal = child.terminal.take().expect("the held program's terminal");
        // Sized before the program runs, as an OCI runtime sizes it.
        terminal.resize(30, 100).unwrap();
        child.start().unwrap();
        let seen = read_terminal(terminal.master);
        assert_eq!(child.wait().unwrap().kind, ExitKind::Exited(0));
        assert_eq!(seen, "/dev/pts/0\n30 100\n");
    });
}

#[test]
fn an_entered_sandbox_gives_a_terminal_from_its_own_devpts() {
    both_ways(
        "an_entered_sandbox_gives_a_terminal_from_its_own_devpts",
        || {
            let mut first = container();
            first.devfsmount("/dev");
            let mut running = running_sandbox(&first);
            let mut entering = Container::empty();
            entering.enter(child_of(running.id()));
            let mut child = entering
                .command("sh")
                .args(["-c", "tty; echo /dev/pts/*"])
                .terminal()
                .spawn()
                .unwrap();
            let terminal = child.terminal.take().expect("the program's terminal");
            let seen = read_terminal(terminal.master);
            assert_eq!(child.wait().unwrap().kind, ExitKind::Exited(0));
            running.kill().unwrap();
            running.wait().unwrap();
            // The running sandbox's own instance: the only terminal in it.
            assert_eq!(seen, "/dev/pts/0\n/dev/pts/0 /dev/pts/ptmx\n");
        },
    );
}

#[test]
fn a_terminal_needs_a_devfs_and_is_the_only_stream() {
    both_ways("a_terminal_needs_a_devfs_and_is_the_only_stream", || {
        let error = container().command("tty").terminal().status().unwrap_err();
        assert!(matches!(error, hakoniwa::Error::NoDevpts), "{error}");
        assert!(error.hint().unwrap().contains("devfsmount"));
        let mut container = container();
        container.devfsmount("/dev");
        let error = container
            .command("tty")
            .terminal()
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the program's terminal is its standard streams: its output cannot be set as well"
        );
    });
}

#[test]
fn a_terminal_without_a_ptmx_inside_fails_closed() {
    both_ways("a_terminal_without_a_ptmx_inside_fails_closed", || {
        // A running sandbox with no devfs: nothing at /dev/ptmx.
        let mut running = running_sandbox(&container());
        let mut entering = Container::empty();
        entering.enter(child_of(running.id()));
        let mut child = entering
            .command("sh")
            .args(["-c", "echo ran"])
            .terminal()
            .spawn()
            .unwrap();
        assert!(child.terminal.is_none());
        let status = child.wait().unwrap();
        running.kill().unwrap();
        running.wait().unwrap();
        let ExitKind::SetupFailed(error) = &status.kind else {
            panic!("the program ran without its terminal: {status:?}");
        };
        assert_eq!(
            error.to_string(),
            "failed to make the program's terminal from the sandbox's /dev/ptmx: \
             No such file or directory"
        );
    });
}

/// A range of host ids the caller may map other than its own: any for
/// root, a subordinate range (through newuidmap) for anyone else; `None`,
/// with the reason printed, when there is none.
fn foreign_ids(test: &str) -> Option<u32> {
    if nix::unistd::geteuid().is_root() {
        return Some(100000);
    }
    let uid = nix::unistd::getuid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|user| user.name)
        .unwrap_or_default();
    let start_in = |file: &str| -> Option<u32> {
        std::fs::read_to_string(file)
            .ok()?
            .lines()
            .find_map(|line| {
                let mut fields = line.split(':');
                let owner = fields.next()?;
                let start = fields.next()?.parse().ok()?;
                let count: u32 = fields.next()?.parse().ok()?;
                (count >= 1000 && (owner == name || owner == uid.to_string())).then_some(start)
            })
    };
    let helpers = ["/usr/bin/newuidmap", "/usr/bin/newgidmap"];
    let reason = match (start_in("/etc/subuid"), start_in("/etc/subgid")) {
        _ if !helpers.iter().all(|helper| std::path::Path::new(helper).exists()) => {
            "newuidmap/newgidmap not installed (apt install uidmap; .ci/run does)".to_string()
        }
        (Some(uids), Some(gids)) if uids == gids => return Some(uids),
        _ => format!("uid {uid} has no same range of 1000 ids in /etc/subuid and /etc/subgid (.ci/run adds one)"),
    };
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {reason}");
    None
}

#[test]
fn maps_that_leave_the_caller_out_make_it_a_mapped_root() {
    both_ways(
        "maps_that_leave_the_caller_out_make_it_a_mapped_root",
        || {
            let Some(start) = foreign_ids("maps_that_leave_the_caller_out_make_it_a_mapped_root")
            else {
                return;
            };
            let share = TempDir::new();
            std::fs::set_permissions(&share.0, std::fs::Permissions::from_mode(0o777)).unwrap();
            let mut container = container();
            container
                .uidmaps(&[(0, start, 1000)])
                .gidmaps(&[(0, start, 1000)])
                .bindmount_rw(share.0.to_str().unwrap(), "/share")
                .unshare(Namespace::Uts)
                .hostname("mapped");
            // Held, it is built (its files made as the mapped root) and can be
            // entered, the entering program becoming that root too.
            let mut child = container
                .command("sh")
                .args([
                    "-c",
                    "id -u; id -g; cat /proc/self/uid_map; touch /share/made",
                ])
                .stdout(Stdio::piped())
                .spawn_held()
                .unwrap();
            let mut entering = Container::empty();
            entering.enter(child.program_id().unwrap());
            let entered = entering
                .command("sh")
                .args(["-c", "hostname; id -u; id -g"])
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&entered.stdout),
                "mapped\n0\n0\n",
                "{entered:?}"
            );
            child.start().unwrap();
            let output = child.wait_with_output().unwrap();
            assert_eq!(output.status.kind, ExitKind::Exited(0), "{output:?}");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let words: Vec<&str> = stdout.split_whitespace().collect();
            let start_text = start.to_string();
            assert_eq!(words, ["0", "0", "0", &start_text, "1000"], "{output:?}");
            let made = std::fs::metadata(share.0.join("made")).unwrap();
            use std::os::unix::fs::MetadataExt;
            assert_eq!((made.uid(), made.gid()), (start, start));
        },
    );
}

/// A pid namespace to join, as a pod's: `sleep` is its pid 1, after two
/// other processes have had pids 2 and 3; with a user namespace of its own
/// when not root. The holder (`unshare`, outside) and the namespace file.
fn pid_namespace_holder() -> (process::Child, String) {
    let mut unshare = process::Command::new("unshare");
    if !nix::unistd::geteuid().is_root() {
        unshare.arg("--map-root-user");
    }
    let holder = unshare
        .args([
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "sh",
            "-c",
        ])
        .arg("/bin/true; /bin/true; exec sleep 60")
        .spawn()
        .unwrap();
    let path = format!("/proc/{}/ns/pid_for_children", holder.id());
    let ours = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let started = std::time::Instant::now();
    let settled = |path: &str| {
        let pids = members(path);
        pids.len() == 1
            && std::fs::read_to_string(format!("/proc/{}/comm", pids[0])).ok()
                == Some("sleep\n".to_string())
    };
    while std::fs::read_link(&path).ok().as_ref() == Some(&ours) || !settled(&path) {
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    (holder, path)
}

/// The host pids of the live (not zombie) processes in the pid namespace
/// that `path` names.
fn members(path: &str) -> Vec<u32> {
    let Ok(namespace) = std::fs::read_link(path) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/pid"))
                .ok()
                .as_ref()
                == Some(&namespace)
        })
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(") ").map(|(_, rest)| rest.as_bytes()[0]);
            state.is_some_and(|state| state != b'Z')
        })
        .collect();
    pids.sort();
    pids
}

/// A container that joins the pid namespace at `path`: root's, without a
/// user namespace, building its root with a /proc and a /dev.
fn pid_joining_container(path: &str) -> Container {
    let mut container = Container::empty();
    container
        .unshare(Namespace::Mount)
        .rootfs("/")
        .unwrap()
        .procfsmount("/proc")
        .devfsmount("/dev")
        .join(Namespace::Pid, path)
        .cgroup(Cgroup::new());
    container
}

#[test]
fn a_sandbox_joins_a_pid_namespace_by_path() {
    both_ways("a_sandbox_joins_a_pid_namespace_by_path", || {
        let (mut holder, path) = pid_namespace_holder();
        let pod = members(&path);
        assert_eq!(pod.len(), 1, "{pod:?}");

        // Without a cgroup of its own, what the program starts could not be
        // told from the namespace's other processes: refused before fork.
        let mut uncounted = Container::empty();
        uncounted.join(Namespace::Pid, &path);
        let error = uncounted.command("true").status().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot join the pid namespace by path: the sandbox needs a cgroup"),
            "{error}"
        );

        if !nix::unistd::geteuid().is_root() {
            // No capability over the holder's user namespace, and no cgroup
            // to make: nothing more to see rootless.
            holder.kill().unwrap();
            holder.wait().unwrap();
            return;
        }
        let mut counted = Container::empty();
        counted.cgroup(Cgroup::new());
        if let Err(error) = counted.command("true").status() {
            eprintln!("skipped the joins as root: no cgroup can be made here: {error}");
            holder.kill().unwrap();
            holder.wait().unwrap();
            return;
        }

        // A sandbox with a user namespace of its own holds no capability
        // over the namespace's owner: a clear error, with the fix.
        let mut unprivileged = container();
        unprivileged
            .share(Namespace::Pid)
            .join(Namespace::Pid, &path)
            .cgroup(Cgroup::new());
        let status = unprivileged.command("true").status().unwrap();
        let error = status.setup_error().expect("a setup failure");
        assert_eq!(error.step(), format!("join the pid namespace at {path}"));
        assert_eq!(error.error().raw_os_error(), Some(libc_eperm()));
        assert!(
            error
                .hint()
                .is_some_and(|hint| hint.contains("CAP_SYS_ADMIN")),
            "{error:?}"
        );

        // The program is a member: its /proc is the namespace's (pid 1 is
        // the holder's sleep), its pid is the namespace's next, not 1 or 2.
        // It starts a process that leaves its process group, then waits.
        let script = "setsid sleep 60 & echo $$; cat /proc/1/comm; ls /proc | grep -c '^[0-9]'; \
                      exec sleep 60";
        let mut child = pid_joining_container(&path)
            .command("sh")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines =
            std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let mut line = || lines.next().unwrap().unwrap();
        let pid: u32 = line().parse().unwrap();
        assert!(pid > 3, "pid {pid} in the joined namespace");
        assert_eq!(line(), "sleep");
        let seen: usize = line().parse().unwrap();
        assert!(seen >= 3, "{seen} processes in the sandbox's /proc");
        let started = std::time::Instant::now();
        while members(&path).len() < 3 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "{:?}",
                members(&path)
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Entering the sandbox through its init (outside the namespace)
        // puts the entering program in the namespace too.
        let entered = Container::empty()
            .enter(child.id())
            .command("readlink")
            .arg("/proc/self/ns/pid")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&entered.stdout).trim_end(),
            std::fs::read_link(&path).unwrap().to_string_lossy(),
            "{entered:?}"
        );
        // Ending the sandbox ends the program and what it started, and only
        // those: the namespace's pid 1 lives on.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.kind, ExitKind::Signaled(9), "{status:?}");
        assert_eq!(members(&path), pod);

        // So does the wall time.
        let began = std::time::Instant::now();
        let output = pid_joining_container(&path)
            .command("sh")
            .args(["-c", "setsid sleep 60 & sleep 60"])
            .wait_timeout(std::time::Duration::from_secs(1))
            .output()
            .unwrap();
        assert_eq!(output.status.kind, ExitKind::TimedOut, "{output:?}");
        assert!(began.elapsed().as_secs() < 10, "{:?}", began.elapsed());
        assert_eq!(members(&path), pod);

        holder.kill().unwrap();
        holder.wait().unwrap();
    });
}

#[test]
fn a_sandbox_joins_a_mount_namespace_by_path() {
    both_ways("a_sandbox_joins_a_mount_namespace_by_path", || {
        // A mount namespace with a tmpfs on /mnt holding a mark, which the
        // caller's own does not have.
        let dir = TempDir::new();
        let ready = dir.0.join("ready");
        let root = nix::unistd::geteuid().is_root();
        let mut unshare = process::Command::new("unshare");
        if !root {
            unshare.arg("--map-root-user");
        }
        let mut holder = unshare
            .args(["--mount", "sh", "-c"])
            .arg("mount -t tmpfs none /mnt && echo joined > /mnt/mark && touch \"$1\" && exec sleep 60")
            .arg("sh")
            .arg(&ready)
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while !ready.exists() {
            assert!(started.elapsed() < std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let path = format!("/proc/{}/ns/mnt", holder.id());

        // Its root is the joined namespace's: no mounts of the sandbox's own.
        let mut building = container();
        building
            .share(Namespace::Mount)
            .join(Namespace::Mount, &path);
        let error = building.command("true").status().unwrap_err();
        assert!(
            error.to_string().starts_with(
                "cannot join the mount namespace by path: the root is the joined namespace's"
            ),
            "{error}"
        );

        let mut joining = Container::empty();
        joining.join(Namespace::Mount, &path);
        let output = joining.command("cat").arg("/mnt/mark").output().unwrap();
        holder.kill().unwrap();
        holder.wait().unwrap();
        if root {
            assert!(output.status.success(), "{output:?}");
            assert_eq!(output.stdout, b"joined\n");
        } else {
            // Joining takes CAP_SYS_ADMIN in the caller's own user
            // namespace, which uid 65534 does not hold there.
            let error = output.status.setup_error().expect("a setup failure");
            assert_eq!(error.step(), format!("join the mount namespace at {path}"));
            assert_eq!(error.error().raw_os_error(), Some(libc_eperm()));
        }
    });
}

/// `wait` returns as soon as init has reported, before init has finished
/// exiting; by then init has killed and reaped what the program left
/// running. The background `sleep` holds the output pipe: were it still
/// alive (or merely dying), the pipe would not have hung up yet.
#[test]
fn when_wait_returns_nothing_of_the_sandbox_runs() {
    both_ways("when_wait_returns_nothing_of_the_sandbox_runs", || {
        use std::os::fd::AsFd;

        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

        for _ in 0..20 {
            let mut child = container()
                .command("/bin/sh")
                .args(["-c", "sleep 1000 & exit 3"])
                .stdout(Stdio::MakePipe)
                .spawn()
                .unwrap();
            let status = child.wait().unwrap();
            assert_eq!(status.exit_code, Some(3), "{status:?}");
            let stdout = child.stdout.take().unwrap();
            let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::ZERO).unwrap();
            let events = fds[0].revents().unwrap();
            assert!(
                events.contains(PollFlags::POLLHUP),
                "the sandbox's output is still open: {events:?}"
            );
        }
    });
}

/// The `Child` is a descriptor to poll beside others: it becomes readable
/// when the sandbox has something to report, and `try_wait` then has the
/// status.
#[test]
fn a_child_can_be_polled_until_it_has_ended() {
    both_ways("a_child_can_be_polled_until_it_has_ended", || {
        use std::os::fd::AsFd;

        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

        let mut child = container()
            .command("/bin/sh")
            .args(["-c", "sleep 0.2; exit 5"])
            .spawn()
            .unwrap();
        assert!(child.try_wait().unwrap().is_none());
        let status = loop {
            let mut fds = [PollFd::new(child.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::from(5000u16)).unwrap();
            assert!(fds[0].any().unwrap_or(false), "no report within 5 s");
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
        };
        assert_eq!(status.exit_code, Some(5), "{status:?}");
    });
}
