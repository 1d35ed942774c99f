//! podman drives `hakoniwa-oci` (`podman --runtime`), as root and rootless
//! (uid 65534 with its subordinate ids), on an image built offline from
//! busybox. Everything podman makes — storage, its run and tmp dirs, the
//! rootless pause process — lives in a temporary directory and is removed
//! at the end.

mod bounded;
mod engine;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use engine::{chmod, containers_in, run_bounded, text, DEADLINE};

/// The unprivileged user of the rootless half.
const NOBODY: u32 = 65534;
/// The image every scenario runs.
const IMAGE: &str = "localhost/hakoniwa-oci-test:busybox";
/// Where root podman keeps its blob cache.
const SYSTEM_CACHE: &str = "/var/lib/containers";
/// The runtime's state root under root podman.
const ROOT_STATE: &str = "/run/hakoniwa-oci";

/// How a program run by `podman run` ended.
#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Who runs podman.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Root,
    Rootless,
}

/// A podman of our own: its configuration, storage and state under a
/// temporary directory, the image imported, `hakoniwa-oci` as its runtime.
struct Podman {
    dir: PathBuf,
    caller: Caller,
    /// Root podman keeps a blob cache in /var/lib/containers whatever its
    /// storage root, and the runtime its state in /run/hakoniwa-oci:
    /// removed at the end when this test made them.
    _system_dirs: Vec<engine::SystemDir>,
}

impl Podman {
    /// Sets up podman for `caller`, or says why this machine cannot.
    fn new(caller: Caller) -> Result<Podman, String> {
        let dir = std::env::temp_dir().join(format!(
            "hakoniwa-oci-podman-{}-{caller:?}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the podman dir");
        let podman = Podman {
            dir,
            caller,
            _system_dirs: match caller {
                Caller::Root => vec![
                    engine::SystemDir::watch(SYSTEM_CACHE),
                    engine::SystemDir::watch(ROOT_STATE),
                ],
                Caller::Rootless => Vec::new(),
            },
        };
        podman.configure();
        engine::image_tar(&podman.dir);
        let imported = podman.podman(&["import", "--quiet", "image.tar", IMAGE]);
        if !imported.status.success() {
            return Err(format!("podman import failed: {}", text(&imported.stderr)));
        }
        Ok(podman)
    }

    /// containers.conf and storage.conf in the temporary directory, and the
    /// runtime where the caller can execute it.
    fn configure(&self) {
        let dir = &self.dir;
        chmod(dir, 0o755);
        for sub in ["home", "xdg", "bin"] {
            fs::create_dir(dir.join(sub)).expect("create a podman dir");
        }
        chmod(&dir.join("xdg"), 0o700);
        chmod(&dir.join("bin"), 0o755);
        // A hard link where it can be: a copy is open for writing while
        // other test threads fork, and executing it then fails (ETXTBSY).
        let runtime = dir.join("bin/hakoniwa-oci");
        if fs::hard_link(env!("CARGO_BIN_EXE_hakoniwa-oci"), &runtime).is_err() {
            fs::copy(env!("CARGO_BIN_EXE_hakoniwa-oci"), &runtime).expect("copy hakoniwa-oci");
        }
        // Root here lacks CAP_SYS_RESOURCE: podman's default nofile limit
        // (1048576) is above the hard limit, with any runtime. The cgroup
        // manager is cgroupfs: there is no systemd to ask. Events go to a
        // file. Root's tmp dir (exit files, locks) would be /run/libpod:
        // moved in here. Rootless podman's is under XDG_RUNTIME_DIR already
        // (and podman 4.3 run --rm, rootless, waits 20 s for the exit file
        // when tmp_dir is set).
        let mut conf = "[containers]\n\
             default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             lock_type = \"file\"\n"
            .to_string();
        if self.caller == Caller::Root {
            conf += &format!("tmp_dir = \"{}\"\n", dir.join("tmp").display());
        }
        fs::write(dir.join("containers.conf"), conf).expect("write containers.conf");
        let storage = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{root}\"\nrunroot = \"{run}\"\n\
             rootless_storage_path = \"{root}\"\n",
            root = dir.join("storage").display(),
            run = dir.join("run").display()
        );
        fs::write(dir.join("storage.conf"), storage).expect("write storage.conf");
        if self.caller == Caller::Rootless {
            for sub in ["", "home", "xdg"] {
                std::os::unix::fs::chown(dir.join(sub), Some(NOBODY), Some(NOBODY)).expect("chown");
            }
        }
    }

    /// `podman --runtime hakoniwa-oci ARGS…` as the caller.
    fn podman(&self, args: &[&str]) -> Output {
        let mut command = match self.caller {
            Caller::Root => Command::new("podman"),
            Caller::Rootless => {
                let mut setpriv = Command::new("setpriv");
                setpriv.args(["--reuid=65534", "--regid=65534", "--clear-groups", "podman"]);
                setpriv
            }
        };
        command
            .arg("--runtime")
            .arg(self.dir.join("bin/hakoniwa-oci"))
            .args(args)
            .current_dir(&self.dir)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"))
            .env("HOME", self.dir.join("home"))
            .env("XDG_RUNTIME_DIR", self.dir.join("xdg"))
            .env_remove("CONTAINER_HOST")
            .stdin(Stdio::null());
        let t = Instant::now();
        let o = run_bounded(command);
        eprintln!(
            "TIMING {:?} {:?} {:?}",
            self.caller,
            &args[..args.len().min(3)],
            t.elapsed()
        );
        o
    }

    /// `podman run --rm --network none IMAGE ARGS…` with `options` before
    /// the image: the program's exit code and output.
    ///
    /// Rootless, it runs detached, is polled, and cleaned up by hand: on
    /// some machines (this project's development VM) the exit command
    /// rootless conmon starts (`podman container cleanup`) hangs, and
    /// podman 4.3's attached `run` and `wait` wait 20 s for it, with any
    /// runtime (runc too).
    fn run(&self, options: &[&str], args: &[&str]) -> Ran {
        let detach = self.caller == Caller::Rootless;
        let mut all = vec!["run", "--network", "none"];
        all.push(if detach { "-d" } else { "--rm" });
        all.extend_from_slice(options);
        all.push(IMAGE);
        all.extend_from_slice(args);
        let ran = self.podman(&all);
        // Attached, or when the container did not start.
        if !detach || !ran.status.success() {
            return Ran {
                code: ran.status.code(),
                stdout: text(&ran.stdout),
                stderr: text(&ran.stderr),
            };
        }
        let id = text(&ran.stdout).trim().to_string();
        let code = self.wait_for_exit(&id);
        // What conmon's exit command should have done: delete the container
        // from the runtime.
        let cleaned = self.podman(&["container", "cleanup", &id]);
        assert!(cleaned.status.success(), "{self:?}: {cleaned:?}");
        let logs = self.podman(&["logs", &id]);
        assert!(
            self.podman(&["rm", &id]).status.success(),
            "{self:?}: rm {id}"
        );
        Ran {
            code: Some(code),
            stdout: text(&logs.stdout),
            stderr: text(&logs.stderr),
        }
    }

    /// A detached container running `script`, once it has printed `ready`.
    fn start_detached(&self, script: &str) -> String {
        let started = self.podman(&["run", "-d", "--network", "none", IMAGE, "sh", "-c", script]);
        assert!(started.status.success(), "{self:?}: {started:?}");
        let id = text(&started.stdout).trim().to_string();
        self.wait_for_log(&id, "ready");
        id
    }

    /// Polls `podman inspect ID` until the container has exited; its exit
    /// code. (`podman wait` waits for conmon's zombie too.)
    fn wait_for_exit(&self, id: &str) -> i32 {
        let started = Instant::now();
        loop {
            let state = self.inspect(id, "{{.State.Status}} {{.State.ExitCode}}");
            // `stopped` once podman has read conmon's exit file, `exited`
            // once its cleanup has run: both with the exit code.
            let code = state
                .strip_prefix("exited ")
                .or_else(|| state.strip_prefix("stopped "));
            if let Some(code) = code {
                return code.parse().expect("an exit code");
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{self:?}: {id} never exited: {state}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls `podman logs ID` until it holds `line`.
    fn wait_for_log(&self, id: &str, line: &str) -> String {
        let started = Instant::now();
        loop {
            let logs = text(&self.podman(&["logs", id]).stdout);
            if logs.lines().any(|l| l == line) {
                return logs;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{self:?}: {id} never logged {line:?}: {logs:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `podman inspect` of one field.
    fn inspect(&self, id: &str, format: &str) -> String {
        let inspected = self.podman(&["inspect", "--format", format, id]);
        assert!(inspected.status.success(), "{inspected:?}");
        text(&inspected.stdout).trim().to_string()
    }

    /// The state directory `hakoniwa-oci` uses under this podman.
    fn runtime_root(&self) -> PathBuf {
        match self.caller {
            Caller::Root => PathBuf::from(ROOT_STATE),
            Caller::Rootless => self.dir.join("xdg/hakoniwa-oci"),
        }
    }
}

impl std::fmt::Debug for Podman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "podman ({:?})", self.caller)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "--all", "--force", "--time", "0"]);
        // Rootless podman leaves a process holding its user namespace; its
        // pid is in podman's tmp dir.
        if let Ok(pid) = fs::read_to_string(self.dir.join("xdg/libpod/tmp/pause.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The first of uid 65534's subordinate ids (checked present before the
/// rootless half runs).
fn subordinate_start() -> u32 {
    let subuid = fs::read_to_string("/etc/subuid").unwrap_or_default();
    subuid
        .lines()
        .find_map(|line| {
            let rest = line
                .strip_prefix("65534:")
                .or_else(|| line.strip_prefix("nobody:"))?;
            rest.split(':').next()?.parse().ok()
        })
        .expect("a subordinate range of uid 65534")
}

/// Why this machine cannot run `caller`'s half, if it cannot.
fn unavailable(caller: Caller) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("the podman tests run as root (they set up the rootless user)".into());
    }
    if let Some(missing) = engine::missing(&["podman", "conmon"]) {
        return Some(missing);
    }
    if caller == Caller::Rootless {
        let subuid = fs::read_to_string("/etc/subuid").unwrap_or_default();
        if !subuid
            .lines()
            .any(|l| l.starts_with("65534:") || l.starts_with("nobody:"))
        {
            return Some("uid 65534 has no subordinate ids in /etc/subuid".into());
        }
        if let Some(missing) = engine::missing(&["newuidmap"]) {
            return Some(missing);
        }
    }
    None
}

/// The podmans this machine can run, each set up; the others skipped with
/// the reason printed.
fn podmans() -> Vec<Podman> {
    let mut podmans = Vec::new();
    for caller in [Caller::Root, Caller::Rootless] {
        match unavailable(caller).map_or_else(|| Podman::new(caller), Err) {
            Ok(podman) => podmans.push(podman),
            Err(reason) => eprintln!("skipping podman ({caller:?}): {reason}"),
        }
    }
    podmans
}

#[test]
fn podman_runs_containers_with_hakoniwa_oci() {
    for podman in podmans() {
        let before = containers_in(&podman.runtime_root());

        // The program's output and exit code come through conmon.
        let ran = podman.run(&[], &["sh", "-c", "echo hello from $(hostname); exit 3"]);
        assert_eq!(ran.code, Some(3), "{podman:?}: {ran:?}");
        assert!(ran.stdout.starts_with("hello from "), "{podman:?}: {ran:?}");

        // A program the image lacks: 127, and the reason on its stderr.
        let ran = podman.run(&[], &["/no/such/program"]);
        assert_eq!(ran.code, Some(127), "{podman:?}: {ran:?}");
        assert!(
            ran.stderr.contains("/no/such/program"),
            "{podman:?}: {ran:?}"
        );

        // --network ns:PATH: a network namespace podman did not make, joined
        // (as root: rootless, the runtime holds no capability over it).
        if podman.caller == Caller::Root {
            let mut holder = Command::new("unshare")
                .args(["--net", "sleep", "30"])
                .spawn()
                .expect("unshare");
            let path = format!("/proc/{}/ns/net", holder.id());
            let ours = fs::read_link("/proc/self/ns/net").expect("our namespace");
            let started = Instant::now();
            while fs::read_link(&path).ok().as_ref() == Some(&ours) {
                assert!(started.elapsed() < DEADLINE, "unshare did not");
                thread::sleep(Duration::from_millis(5));
            }
            let theirs = fs::read_link(&path).expect("their namespace");
            let network = format!("ns:{path}");
            let ran = podman.podman(&[
                "run",
                "--rm",
                "--network",
                &network,
                IMAGE,
                "readlink",
                "/proc/self/ns/net",
            ]);
            let _ = holder.kill();
            let _ = holder.wait();
            assert_eq!(
                text(&ran.stdout).trim_end(),
                theirs.to_string_lossy(),
                "{ran:?}"
            );
        }

        // --memory and --pids-limit, as root (on this hybrid host, rootless
        // podman drops cgroup limits with a warning: v1 is root's).
        if podman.caller == Caller::Root {
            let hog = "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}";
            let ran = podman.run(&["--memory", "32m"], &["sh", "-c", hog]);
            assert_eq!(
                ran.code,
                Some(137),
                "{podman:?}: not killed at 32 MiB: {ran:?}"
            );
            let ran = podman.run(&["--memory", "512m"], &["sh", "-c", hog]);
            assert_eq!(ran.stdout, "100000000\n", "{podman:?}: {ran:?}");
            let ran = podman.run(
                &["--pids-limit", "8"],
                &[
                    "sh",
                    "-c",
                    "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait",
                ],
            );
            assert!(ran.stderr.contains("can't fork"), "{podman:?}: {ran:?}");
        }

        // pause and unpause (the freezer), and update of the memory limit,
        // as root (rootless here has no cgroup: see above).
        if podman.caller == Caller::Root {
            let id = podman.start_detached("echo ready; while true; do sleep 0.1; done");
            let paused = podman.podman(&["pause", &id]);
            assert!(paused.status.success(), "{podman:?}: {paused:?}");
            assert_eq!(podman.inspect(&id, "{{.State.Status}}"), "paused");
            // podman's pid is the runtime's holder, in conmon's cgroup; the
            // sandbox's init is its child in another (its other child, the
            // library's cgroup keeper, stays in the holder's).
            let holder = podman.inspect(&id, "{{.State.Pid}}");
            let cgroup_of = |pid: &str| fs::read_to_string(format!("/proc/{pid}/cgroup")).ok();
            let children = fs::read_to_string(format!("/proc/{holder}/task/{holder}/children"))
                .expect("the holder's children");
            let own = children
                .split_whitespace()
                .filter_map(cgroup_of)
                .find(|own| Some(own) != cgroup_of(&holder).as_ref())
                .unwrap_or_else(|| {
                    panic!("no child of {holder} in a cgroup of its own: {children}")
                });
            // Where podman's linux.cgroupsPath put it (cgroupfs, as root).
            assert!(
                own.lines().any(|l| l.ends_with(&format!("/libpod-{id}"))),
                "{podman:?}: {own}"
            );
            // The kernel's word: v1's freezer.state, or v2's cgroup.events.
            let in_cgroup = |hierarchy: &str, file: &str| {
                let line = format!(":{hierarchy}:");
                let path = own
                    .lines()
                    .find_map(|l| l.split_once(&line).map(|(_, p)| p))?;
                let dir = Path::new("/sys/fs/cgroup").join(hierarchy).join(&path[1..]);
                fs::read_to_string(dir.join(file)).ok()
            };
            let frozen = match in_cgroup("freezer", "freezer.state") {
                Some(state) => state.trim() == "FROZEN",
                None => in_cgroup("", "cgroup.events").is_some_and(|e| e.contains("frozen 1")),
            };
            assert!(frozen, "{podman:?}: not frozen: {own}");
            let resumed = podman.podman(&["unpause", &id]);
            assert!(resumed.status.success(), "{podman:?}: {resumed:?}");
            assert_eq!(podman.inspect(&id, "{{.State.Status}}"), "running");

            let updated = podman.podman(&["update", "--memory", "48m", &id]);
            assert!(updated.status.success(), "{podman:?}: {updated:?}");
            let limit = in_cgroup("memory", "memory.limit_in_bytes")
                .or_else(|| in_cgroup("", "memory.max"))
                .expect("the memory limit");
            assert_eq!(limit.trim(), (48u64 << 20).to_string(), "{own}");
            assert!(podman
                .podman(&["rm", "--force", "--time", "0", &id])
                .status
                .success());
        }

        // -e and --user.
        let ran = podman.run(
            &["-e", "GREETING=hi", "--user", "65534:65534"],
            &["sh", "-c", "echo $GREETING $(id -u):$(id -g)"],
        );
        assert_eq!(ran.stdout, "hi 65534:65534\n", "{podman:?}: {ran:?}");
        assert_eq!(ran.code, Some(0), "{podman:?}: {ran:?}");

        // --uidmap/--gidmap that leave the runtime's own ids out: the
        // container's root is an unprivileged host id (root: 100000;
        // rootless: id 1 of podman's namespace, the first of uid 65534's
        // subordinate ids), and what it writes in a volume is that id's.
        let (written_to, host) = match podman.caller {
            Caller::Root => ("100000", 100000),
            Caller::Rootless => ("1", subordinate_start()),
        };
        let map = format!("0:{written_to}:65536");
        let share = podman.dir.join("share");
        fs::create_dir(&share).expect("create the volume");
        chmod(&share, 0o777);
        let volume = format!("{}:/share", share.display());
        let ran = podman.run(
            &["--uidmap", &map, "--gidmap", &map, "-v", &volume],
            &[
                "sh",
                "-c",
                "echo $(id -u):$(id -g); cat /proc/self/uid_map; touch /share/made",
            ],
        );
        assert_eq!(ran.code, Some(0), "{podman:?}: {ran:?}");
        // The map as written, in podman's namespace's ids.
        let words: Vec<&str> = ran.stdout.split_whitespace().collect();
        assert_eq!(
            words,
            ["0:0", "0", written_to, "65536"],
            "{podman:?}: {ran:?}"
        );
        let made = fs::metadata(share.join("made")).expect("made in the volume");
        assert_eq!((made.uid(), made.gid()), (host, host), "{podman:?}");

        // --read-only: the root refuses writes, /tmp (a tmpfs podman adds)
        // takes them.
        let ran = podman.run(
            &["--read-only"],
            &[
                "sh",
                "-c",
                "touch /x 2>/dev/null && echo root-written; touch /tmp/x && echo tmp-written",
            ],
        );
        assert_eq!(ran.stdout, "tmp-written\n", "{podman:?}: {ran:?}");

        // The program's view: its own pid namespace, podman's capabilities,
        // the host's /sys read-only with its firmware hidden, an mqueue, and
        // podman's seccomp filter (config.json's, compiled by the library).
        let ran = podman.run(
            &[],
            &[
                "sh",
                "-c",
                "echo $$; grep CapEff /proc/self/status; \
                 touch /sys/x 2>/dev/null || echo sys-read-only; \
                 ls -A /sys/firmware | wc -l; grep -c ' /dev/mqueue mqueue ' /proc/mounts; \
                 grep Seccomp: /proc/self/status",
            ],
        );
        let lines: Vec<&str> = ran.stdout.lines().collect();
        // pid 1 is the sandbox's init; the program is its child.
        assert_eq!(lines.first(), Some(&"2"), "{podman:?}: {ran:?}");
        // podman's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL
        // NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT (and
        // MKNOD NET_RAW AUDIT_WRITE as root).
        let effective = lines.get(1).and_then(|l| l.split_whitespace().nth(1));
        let effective = u64::from_str_radix(effective.unwrap_or("x"), 16).expect("CapEff");
        assert_eq!(
            effective & (1 << 21),
            0,
            "{podman:?}: CAP_SYS_ADMIN kept: {ran:?}"
        );
        assert_ne!(effective & 1, 0, "{podman:?}: CAP_CHOWN missing: {ran:?}");
        assert_eq!(
            &lines[2..],
            ["sys-read-only", "0", "1", "Seccomp:\t2"],
            "{podman:?}: {ran:?}"
        );

        // podman kill -s USR1 reaches the program; podman stop sends TERM.
        let id = podman.start_detached(
            "trap 'echo got USR1' USR1; trap 'echo got TERM; exit 7' TERM; \
             echo ready; while true; do sleep 0.1; done",
        );
        let killed = podman.podman(&["kill", "--signal", "USR1", &id]);
        assert!(killed.status.success(), "{podman:?}: {killed:?}");
        podman.wait_for_log(&id, "got USR1");
        let stopped = podman.podman(&["stop", "--time", "10", &id]);
        assert!(stopped.status.success(), "{podman:?}: {stopped:?}");
        assert_eq!(
            podman.inspect(&id, "{{.State.ExitCode}}"),
            "7",
            "{podman:?}"
        );
        podman.wait_for_log(&id, "got TERM");
        assert!(podman.podman(&["rm", &id]).status.success());

        // -t: the program's streams are a terminal of the container's own
        // devpts (conmon holds the other end), so it has a name inside;
        // the controlling terminal of its session, and /dev/console. It is
        // the program's user's, who may open it again by that name.
        let ran = podman.run(
            &["-t", "--user", "65534:65534"],
            &[
                "sh",
                "-c",
                "test -t 0 && test -t 1 && echo terminal; cut -d' ' -f7 /proc/self/stat; \
                 test /dev/console -ef \"$(tty)\" && echo console; tty; \
                 stat -c %u \"$(tty)\"; echo reopened > \"$(tty)\"",
            ],
        );
        let lines: Vec<&str> = ran
            .stdout
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .collect();
        assert_eq!(lines.first(), Some(&"terminal"), "{podman:?}: {ran:?}");
        assert!(
            lines.get(1).is_some_and(|tty| *tty != "0"),
            "{podman:?}: no controlling terminal: {ran:?}"
        );
        // The terminal is bound at /dev/console, as the specification asks.
        assert_eq!(lines.get(2), Some(&"console"), "{podman:?}: {ran:?}");
        assert_eq!(
            lines.get(3..),
            Some(&["/dev/pts/0", "65534", "reopened"][..]),
            "{podman:?}: {ran:?}"
        );

        // podman exec: a second program in the running container, its exit
        // code, its own user (which keeps no capability) and environment.
        let id = podman.start_detached("echo ready; hostname > /tmp/name; sleep 60");
        let execed = podman.podman(&[
            "exec",
            &id,
            "sh",
            "-c",
            "cat /tmp/name; echo $$; grep CapEff /proc/self/status; exit 5",
        ]);
        let stdout = text(&execed.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(execed.status.code(), Some(5), "{podman:?}: {execed:?}");
        // It sees the container's files, and is in its pid namespace (pid
        // 1 init, 2 the program, 3 its sleep).
        assert_eq!(lines.first(), Some(&&id[..12]), "{podman:?}: {execed:?}");
        assert!(
            lines
                .get(1)
                .is_some_and(|pid| pid.parse::<u32>().is_ok_and(|p| p < 10)),
            "{podman:?}: {execed:?}"
        );
        assert_ne!(
            lines.get(2),
            Some(&"CapEff:\t0000000000000000"),
            "{podman:?}: {execed:?}"
        );
        let execed = podman.podman(&[
            "exec",
            "--user",
            "65534:65534",
            "--env",
            "GREETING=hi",
            &id,
            "sh",
            "-c",
            "echo $GREETING $(id -u); grep CapEff /proc/self/status",
        ]);
        assert_eq!(
            text(&execed.stdout),
            "hi 65534\nCapEff:\t0000000000000000\n",
            "{podman:?}: {execed:?}"
        );
        // exec -t: a terminal of the container's devpts too, the first
        // one there (the container's program has none).
        let execed = podman.podman(&[
            "exec",
            "-t",
            &id,
            "sh",
            "-c",
            "test -t 0 && echo terminal; tty",
        ]);
        assert_eq!(
            text(&execed.stdout),
            "terminal\r\n/dev/pts/0\r\n",
            "{podman:?}: {execed:?}"
        );
        let execed = podman.podman(&["exec", &id, "/no/such/program"]);
        assert_eq!(execed.status.code(), Some(127), "{podman:?}: {execed:?}");
        assert!(podman
            .podman(&["rm", "--force", "--time", "0", &id])
            .status
            .success());

        // A program that ignores TERM is killed once the timeout is up.
        let id = podman.start_detached("trap '' TERM; echo ready; while true; do sleep 0.1; done");
        let started = Instant::now();
        let stopped = podman.podman(&["stop", "--time", "1", &id]);
        assert!(stopped.status.success(), "{podman:?}: {stopped:?}");
        assert!(started.elapsed() >= Duration::from_secs(1), "{podman:?}");
        assert_eq!(
            podman.inspect(&id, "{{.State.ExitCode}}"),
            "137",
            "{podman:?}"
        );
        assert!(podman.podman(&["rm", &id]).status.success());

        // Every container was deleted from the runtime's state.
        assert_eq!(
            containers_in(&podman.runtime_root()),
            before,
            "{podman:?}: hakoniwa-oci state left behind"
        );
    }
}
