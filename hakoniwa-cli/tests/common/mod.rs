//! The harness behind the CLI tests.
//!
//! Every sandbox test runs twice: once with `hakoniwa` started by root and
//! once by an unprivileged user (uid 65534 through `setpriv` when the test
//! runner is root, the runner's own user otherwise), because the two take
//! different paths through the kernel. A test that cannot run as root
//! prints `skipped: …` and passes; nothing is skipped silently.
//!
//! Inside the sandbox the tests run `hakoniwa-probe`, which prints what it
//! sees as JSON, and assert on those facts.

// Each test file uses a part of the harness.
#![allow(dead_code)]

pub mod binaries;
pub mod facts;
pub mod host;
pub mod run;
pub mod scratch;

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use binaries::{PROBE, PROBE_DIR};
use run::{Invocation, Outcome};
use scratch::Scratch;

/// What the default rootfs binds from the host's `/` when they exist
/// (symlinks stay symlinks); nothing else but `/proc` is in the new root.
pub const ROOTFS_ENTRIES: [&str; 7] = ["bin", "etc", "lib", "lib32", "lib64", "sbin", "usr"];

/// The unprivileged user root drops to: `nobody` on most distributions.
pub const UNPRIVILEGED_ID: u32 = 65534;

/// `eprintln!`, but past the test harness's capture: the reason a test was
/// skipped shows in every run, passing or not.
macro_rules! skipped {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Defines, for each named function `fn NAME(caller: &Caller)`, the tests
/// `NAME::as_root` and `NAME::as_unprivileged`.
macro_rules! sandbox_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn as_root() {
                    $crate::common::Caller::test_as($crate::common::User::Root, super::$name);
                }

                #[test]
                fn as_unprivileged() {
                    $crate::common::Caller::test_as($crate::common::User::Unprivileged, super::$name);
                }
            }
        )*
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum User {
    Root,
    Unprivileged,
}

/// The user who starts `hakoniwa`, with a scratch directory of their own:
///
/// ```text
/// $TMPDIR/hakoniwa-cli-test.PID.N/     0755, removed at the end of the test
///     bin/hakoniwa, bin/hakoniwa-probe seen as /probe/… inside the sandbox
///     cwd/                             hakoniwa's working directory, owned by the caller
///     …                                directories the test makes with `dir`
/// ```
pub struct Caller {
    user: User,
    uid: u32,
    gid: u32,
    /// What runs `hakoniwa` as this user (`setpriv …`), possibly nothing.
    launcher: Vec<OsString>,
    scratch: Scratch,
}

impl Caller {
    /// Runs `test` as `user`, or prints why it cannot.
    pub fn test_as(user: User, test: fn(&Caller)) {
        match Caller::new(user) {
            Ok(caller) => test(&caller),
            Err(reason) => {
                let name = std::thread::current().name().unwrap_or("test").to_owned();
                skipped!("skipped: {name}: {reason}");
            }
        }
    }

    fn new(user: User) -> Result<Caller, String> {
        let runner = fs::metadata("/proc/self").expect("stat /proc/self");
        let (runner_uid, runner_gid) = (runner.uid(), runner.gid());
        let (uid, gid, launcher) = match user {
            User::Root if runner_uid != 0 => {
                return Err(format!("the test runner is uid {runner_uid}, not root"));
            }
            User::Root => (0, 0, vec![]),
            User::Unprivileged if runner_uid == 0 => {
                if !setpriv_works() {
                    return Err("setpriv (util-linux) is needed to drop to uid 65534".into());
                }
                let id = UNPRIVILEGED_ID;
                let launcher = [
                    "setpriv".to_owned(),
                    format!("--reuid={id}"),
                    format!("--regid={id}"),
                    "--clear-groups".to_owned(),
                    "--".to_owned(),
                ];
                (id, id, launcher.map(OsString::from).to_vec())
            }
            User::Unprivileged => (runner_uid, runner_gid, vec![]),
        };
        let caller = Caller {
            user,
            uid,
            gid,
            launcher,
            scratch: Scratch::new(),
        };
        binaries::stage(&caller.bin_dir());
        caller.dir("cwd");
        Ok(caller)
    }

    pub fn user(&self) -> User {
        self.user
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    pub fn uid(&self) -> u32 {
        self.uid
    }

    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// Where the staged `hakoniwa` and `hakoniwa-probe` are on the host.
    pub fn bin_dir(&self) -> PathBuf {
        self.scratch.path().join("bin")
    }

    /// A path in the scratch directory, not created.
    pub fn path(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// A new directory in the scratch directory, owned by the caller, so
    /// that a refused write is refused by the sandbox, not by permissions.
    pub fn dir(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        self.give(&path);
        path
    }

    /// A new file owned by the caller, with `mode`.
    pub fn file(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        scratch::set_mode(&path, mode);
        self.give(&path);
        path
    }

    fn give(&self, path: &Path) {
        if self.uid != fs::metadata(path).expect("stat").uid() {
            std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }

    /// `hakoniwa ARGS…`, started by this caller from its `cwd/`.
    pub fn hakoniwa(&self, args: &[&str]) -> Invocation {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let hakoniwa = self.bin_dir().join("hakoniwa");
        Invocation::new(&self.launcher, &hakoniwa, &args, &self.path("cwd"))
    }

    /// `hakoniwa run RUN_ARGS… -- COMMAND…`.
    pub fn run(&self, run_args: &[&str], command: &[&str]) -> Invocation {
        let mut args = vec!["run"];
        args.extend_from_slice(run_args);
        args.push("--");
        args.extend_from_slice(command);
        self.hakoniwa(&args)
    }

    /// `BIN:/probe`: the bind that shows the probe inside the sandbox.
    pub fn probe_bind(&self) -> String {
        format!("{}:{PROBE_DIR}", self.bin_dir().display())
    }

    /// `hakoniwa run RUN_ARGS… -b BIN:/probe -- /probe/hakoniwa-probe PROBE_ARGS…`.
    pub fn probe(&self, run_args: &[&str], probe_args: &[&str]) -> Invocation {
        let bind = self.probe_bind();
        let mut args = run_args.to_vec();
        args.extend(["-b", &bind]);
        let mut command = vec![PROBE];
        command.extend_from_slice(probe_args);
        self.run(&args, &command)
    }

    /// The probe's facts in a sandbox made with `run_args`.
    pub fn facts(&self, run_args: &[&str]) -> serde_json::Value {
        self.probe(run_args, &["facts"]).output().json()
    }

    /// The probe's report of one attempt, such as `["write", "/data/f"]`.
    pub fn attempt(&self, run_args: &[&str], probe_args: &[&str]) -> serde_json::Value {
        self.probe(run_args, probe_args).output().json()
    }

    /// Asserts that `hakoniwa` created nothing in its working directory.
    pub fn assert_cwd_untouched(&self, outcome: &Outcome) {
        let cwd = self.path("cwd");
        let left: Vec<_> = fs::read_dir(&cwd)
            .expect("list cwd")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert!(
            left.is_empty(),
            "hakoniwa created {left:?} in its working directory\n{outcome}"
        );
    }
}

/// The caller's first range in `/etc/subuid`, if it has one.
fn subordinate_range(caller: &Caller) -> Option<(u32, u32)> {
    let name = if caller.is_root() {
        "root".to_string()
    } else {
        caller.uid().to_string()
    };
    let text = fs::read_to_string("/etc/subuid").ok()?;
    let gids = fs::read_to_string("/etc/subgid").ok()?;
    let find = |text: &str| {
        text.lines().find_map(|line| {
            let mut fields = line.split(':');
            let owner = fields.next()?;
            let owned = owner == name || (owner == "nobody" && caller.uid() == UNPRIVILEGED_ID);
            let start = fields.next()?.parse().ok()?;
            let count = fields.next()?.parse().ok()?;
            owned.then_some((start, count))
        })
    };
    let range = find(&text)?;
    find(&gids).filter(|gid_range| *gid_range == range)
}

pub fn newuidmap_installed() -> bool {
    Command::new("sh")
        .args(["-c", "command -v newuidmap && command -v newgidmap"])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// The caller's first subordinate range, `(start, count)`, the same in
/// `/etc/subuid` and `/etc/subgid`, with newuidmap installed; `None`, with
/// the reason printed, when `test` cannot map one.
pub fn subordinate_ids(caller: &Caller, test: &str) -> Option<(u32, u32)> {
    if !newuidmap_installed() {
        skipped!(
            "skipped: {test}: newuidmap/newgidmap not installed (apt install uidmap; .ci/run does)"
        );
        return None;
    }
    let range = subordinate_range(caller);
    if range.is_none() {
        skipped!(
            "skipped: {test}: uid {} has no matching entries in /etc/subuid and /etc/subgid (.ci/run adds them)",
            caller.uid()
        );
    }
    range
}

fn setpriv_works() -> bool {
    Command::new("setpriv")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
