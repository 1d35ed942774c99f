//! A bundle in a temporary directory, and `hakoniwa-oci` run as root or as
//! an unprivileged user (uid 65534 through `setpriv`), with bounded waits.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bounded;

/// Longest one invocation may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);
/// The unprivileged user the rootless runs drop to.
pub const NOBODY: u32 = 65534;

/// Who runs `hakoniwa-oci`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The test runner's own user (root in CI).
    Runner,
    /// uid and gid 65534, no supplementary groups: the rootless path.
    Nobody,
}

/// The callers this machine can test: the runner, and when it is root and
/// `setpriv` exists, the unprivileged user too.
pub fn callers() -> Vec<Caller> {
    let mut callers = vec![Caller::Runner];
    if !nix::unistd::geteuid().is_root() {
        return callers;
    }
    if Command::new("setpriv").arg("--version").output().is_ok() {
        callers.push(Caller::Nobody);
    } else {
        eprintln!("skipping the rootless runs: setpriv is not installed");
    }
    callers
}

/// What an invocation printed and how it ended.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// A temporary directory holding a bundle (`config.json`, an empty
/// `rootfs`) and the state root, removed when dropped.
pub struct Bundle {
    pub dir: PathBuf,
    pub caller: Caller,
    runs: AtomicU32,
}

impl Bundle {
    /// A bundle whose program is `args`, with the host's system
    /// directories bound read-only into an empty root.
    pub fn new(name: &str, caller: Caller, args: &[&str]) -> Bundle {
        let dir = std::env::temp_dir().join(format!(
            "hakoniwa-oci-test-{}-{name}-{caller:?}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("rootfs")).expect("create the bundle");
        for path in [&dir, &dir.join("rootfs")] {
            fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let state = dir.join("state");
        fs::create_dir(&state).expect("create the state root");
        if caller == Caller::Nobody {
            std::os::unix::fs::chown(&state, Some(NOBODY), Some(NOBODY)).expect("chown");
            // A hard link (or else a copy) the unprivileged user can reach
            // (the target dir may not be). A link is never open for
            // writing, which a copy is while other test threads fork: one
            // of their children could hold it so when it is executed
            // (ETXTBSY).
            let staged = dir.join("bin");
            fs::create_dir(&staged).expect("create the staging dir");
            fs::set_permissions(&staged, fs::Permissions::from_mode(0o755)).expect("chmod");
            let runtime = staged.join("hakoniwa-oci");
            if fs::hard_link(binary(), &runtime).is_err() {
                fs::copy(binary(), &runtime).expect("copy hakoniwa-oci");
            }
        }
        let bundle = Bundle {
            dir,
            caller,
            runs: AtomicU32::new(0),
        };
        bundle.write_config(&bundle.config(args));
        bundle
    }

    /// The configuration `new` writes: new pid, mount, uts, ipc and network
    /// namespaces, plus a user namespace mapping the caller to root when
    /// the caller is not root.
    pub fn config(&self, args: &[&str]) -> Value {
        let mut namespaces = vec![
            json!({"type": "pid"}),
            json!({"type": "mount"}),
            json!({"type": "uts"}),
            json!({"type": "ipc"}),
            json!({"type": "network"}),
        ];
        let mut linux = json!({
            "maskedPaths": ["/proc/kcore", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys"],
        });
        let uid = match self.caller {
            Caller::Nobody => Some(NOBODY),
            Caller::Runner if !nix::unistd::geteuid().is_root() => {
                Some(nix::unistd::geteuid().as_raw())
            }
            Caller::Runner => None,
        };
        if let Some(uid) = uid {
            namespaces.push(json!({"type": "user"}));
            let gid = if self.caller == Caller::Nobody {
                NOBODY
            } else {
                nix::unistd::getegid().as_raw()
            };
            linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
            linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        }
        linux["namespaces"] = Value::Array(namespaces);
        let mut mounts = vec![
            json!({"destination": "/proc", "type": "proc", "source": "proc"}),
            json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
            json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts"}),
            json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
        ];
        for name in ["usr", "lib", "lib32", "lib64", "bin", "etc"] {
            let host = Path::new("/").join(name);
            if host.exists() {
                mounts.push(json!({"destination": host, "type": "bind", "source": host,
                                   "options": ["rbind", "ro"]}));
            }
        }
        json!({
            "ociVersion": "1.0.2",
            "process": {
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["PATH=/usr/bin:/bin", "GREETING=hello"],
                "cwd": "/",
            },
            "root": {"path": "rootfs", "readonly": true},
            "hostname": "bundle",
            "mounts": mounts,
            "annotations": {"org.example.test": "yes"},
            "linux": linux,
        })
    }

    /// Replaces `config.json`.
    pub fn write_config(&self, config: &Value) {
        self.write_config_text(&serde_json::to_string_pretty(config).expect("json"));
    }

    /// Replaces `config.json` with `text`, valid or not.
    pub fn write_config_text(&self, text: &str) {
        let path = self.dir.join("config.json");
        fs::write(&path, text).expect("write config.json");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    }

    /// `hakoniwa-oci --root STATE ARGS…` as the caller; `{bundle}` in an
    /// argument is the bundle's path. Standard streams go to files, since
    /// `create` leaves a supervisor holding them.
    pub fn oci(&self, args: &[&str]) -> Outcome {
        // A process another test thread forks while the copy for uid 65534
        // is being written holds it open for writing until it executes or
        // exits, and executing the copy meanwhile fails with ETXTBSY: try
        // again after a moment.
        for _ in 1..20 {
            let outcome = self.oci_once(args);
            let busy = outcome.code == Some(126)
                && outcome.stderr.starts_with("setpriv: failed to execute")
                && outcome.stderr.contains("Text file busy");
            if !busy {
                return outcome;
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.oci_once(args)
    }

    fn oci_once(&self, args: &[&str]) -> Outcome {
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        let stdout_path = self.dir.join(format!("stdout.{run}"));
        let stderr_path = self.dir.join(format!("stderr.{run}"));
        let mut command = self.oci_command(args);
        let status = bounded::run_within(&mut command, DEADLINE, &stdout_path, &stderr_path);
        Outcome {
            code: status.code(),
            stdout: fs::read_to_string(&stdout_path).expect("read stdout"),
            stderr: fs::read_to_string(&stderr_path).expect("read stderr"),
        }
    }

    /// Asserts that `state ID` finds no container `id`: it was deleted, or
    /// never made. `context` says when, for the message.
    pub fn assert_gone(&self, id: &str, context: &str) {
        let state = self.oci(&["state", id]);
        assert_eq!(state.code, Some(1), "{context}: {state:?}");
        assert!(
            state
                .stderr
                .contains(&format!("container {id} does not exist")),
            "{context}: {state:?}"
        );
    }

    /// The command `oci` runs, to run otherwise (in the background, say);
    /// standard input is `/dev/null`.
    pub fn oci_command(&self, args: &[&str]) -> Command {
        let mut command = match self.caller {
            Caller::Runner => Command::new(binary()),
            Caller::Nobody => {
                let mut setpriv = Command::new("setpriv");
                setpriv.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
                setpriv.arg(self.dir.join("bin").join("hakoniwa-oci"));
                setpriv
            }
        };
        command
            .arg("--root")
            .arg(self.dir.join("state").join("containers"));
        let bundle = self.dir.to_str().expect("a UTF-8 temp dir");
        command.args(args.iter().map(|a| a.replace("{bundle}", bundle)));
        command.stdin(Stdio::null());
        command
    }

    /// `state ID`, parsed.
    pub fn state(&self, id: &str) -> Value {
        let outcome = self.oci(&["state", id]);
        assert_eq!(outcome.code, Some(0), "state {id}: {outcome:?}");
        serde_json::from_str(&outcome.stdout).expect("state prints JSON")
    }

    /// Polls `state ID` until `done` holds of it (`what` says what, for
    /// the failure message).
    pub fn wait_for_state(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let state = self.state(id);
            if done(&state) {
                return state;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{id} never got {what}: {state}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hakoniwa-oci"))
}
