//! The cgroup of one sandbox, from its creation to its removal.
//!
//! Lifetime: the parent makes it before the clone (`create`), moves init
//! into it before telling init to go on (`add`; init and all it starts
//! inherit it), and when the sandbox has ended kills whatever is left in
//! it, reads what it counted, and removes it (`finish`, or `Drop` on every
//! other path). If the parent is killed, even by SIGKILL, a keeper does the
//! removal: a fork of ours, made before the cgroup exists, that waits for
//! the end of a pipe only the parent holds — the kernel closes it when the
//! parent dies, however it dies — then kills what is left and removes the
//! directories. The keeper only makes system calls (it is a fork of a
//! possibly multi-threaded caller); what it needs is prepared before. The
//! parent writes a byte to that pipe for each directory it has made: the
//! keeper removes those and no other (never a directory someone else made
//! in the meantime).
//!
//! Names: `hakoniwa-<caller pid>-<n>`, so a stray one says whose it was,
//! unless the caller gave a path ([`Cgroup::path`](super::Cgroup::path)).

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{self, OFlag};
use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use nix::sys::stat::Mode;
use nix::time::{clock_nanosleep, ClockId, ClockNanosleepFlags};
use nix::unistd::{self, Pid};

use super::control::CgroupDirs;
use super::host::{self, Placement};
use super::plan::{CgroupPlan, Controller};
use super::{CgroupUsage, CgroupVersion};
use crate::error::{io_error, Error, Result};
use crate::sys::{self, Forked};

/// Numbers the cgroups of one caller process.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// How often removal is tried while the last processes die, and the pause
/// between tries: two seconds in all.
const REMOVE_ATTEMPTS: u32 = 2000;
const REMOVE_PAUSE: Duration = Duration::from_millis(1);

/// One directory of the sandbox's cgroup (v2 has one; v1 one per
/// hierarchy), with its paths as C strings for the keeper.
#[derive(Debug)]
struct Dir {
    controllers: Vec<Controller>,
    path: PathBuf,
    c_path: CString,
    c_procs: CString,
    c_kill: CString,
    /// v1's `freezer.state`, when this is the freezer's directory: killed
    /// processes of a frozen v1 cgroup die only once thawed.
    c_thaw: Option<CString>,
}

impl Dir {
    fn new(version: CgroupVersion, controllers: Vec<Controller>, path: PathBuf) -> Result<Self> {
        let c = |path: &Path| {
            CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Cgroup {
                action: format!("use {}", path.display()),
                source: io_error(Errno::EINVAL),
            })
        };
        let c_thaw =
            match version == CgroupVersion::V1 && controllers.contains(&Controller::Freezer) {
                true => Some(c(&path.join("freezer.state"))?),
                false => None,
            };
        Ok(Self {
            controllers,
            c_path: c(&path)?,
            c_procs: c(&path.join("cgroup.procs"))?,
            c_kill: c(&path.join("cgroup.kill"))?,
            c_thaw,
            path,
        })
    }
}

/// The sandbox's cgroup, while it exists.
#[derive(Debug)]
pub(crate) struct SandboxCgroup {
    version: CgroupVersion,
    dirs: Vec<Dir>,
    /// How many of `dirs`, from the first, this process made.
    made: usize,
    keeper: Option<Keeper>,
    removed: bool,
}

impl SandboxCgroup {
    /// Finds where it goes, makes its missing parents, starts its keeper,
    /// makes it and writes the limits.
    pub(crate) fn create(plan: &CgroupPlan) -> Result<Self> {
        let name = format!(
            "hakoniwa-{}-{}",
            unistd::getpid(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let placement = host::find(plan, &name)?;
        let version = placement.version();
        let dirs = match &placement {
            Placement::V2 { dir, controllers } => {
                // Each level hands the controllers down to the next.
                let parent = dir.parent().expect("a cgroup below the root");
                let mut level = host::existing_ancestor(dir);
                for step in parent.strip_prefix(&level).expect("an ancestor") {
                    enable_v2(&level, controllers)?;
                    level.push(step);
                    make_dir(&level)?;
                }
                enable_v2(&level, controllers)?;
                vec![Dir::new(version, controllers.clone(), dir.clone())?]
            }
            Placement::V1 { dirs } => dirs
                .iter()
                .map(|(controllers, dir)| {
                    let parent = dir.parent().expect("a cgroup below the root");
                    fs::create_dir_all(parent).map_err(|source| Error::Cgroup {
                        action: format!("create the cgroup {}", parent.display()),
                        source,
                    })?;
                    Dir::new(version, controllers.clone(), dir.clone())
                })
                .collect::<Result<_>>()?,
        };
        let mut cgroup = Self {
            version,
            keeper: None,
            dirs,
            made: 0,
            removed: false,
        };
        // The keeper first: from the moment a directory exists, someone
        // will remove it.
        cgroup.keeper = Some(Keeper::start(&cgroup.dirs)?);
        for dir in &cgroup.dirs {
            fs::create_dir(&dir.path).map_err(|source| Error::Cgroup {
                action: format!("create the cgroup {}", dir.path.display()),
                source,
            })?;
            cgroup.made += 1;
            if let Some(keeper) = &cgroup.keeper {
                keeper.made_one()?;
            }
            log::info!("cgroup: {}", dir.path.display());
        }
        for setting in plan.settings(version) {
            let dir = cgroup
                .dirs
                .iter()
                .find(|dir| dir.controllers.contains(&setting.controller))
                .expect("the placement holds every required controller");
            write(&dir.path.join(setting.file), &setting.value)?;
        }
        Ok(cgroup)
    }

    /// Its directories, for acting on it while the sandbox runs.
    pub(crate) fn dirs(&self) -> CgroupDirs {
        CgroupDirs::new(
            self.version,
            self.dirs.iter().map(|dir| dir.path.clone()).collect(),
        )
    }

    /// Moves `pid` (init) into the cgroup.
    pub(crate) fn add(&self, pid: Pid) -> Result<()> {
        for dir in &self.dirs {
            write(&dir.path.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Kills every process in the cgroup, now.
    pub(crate) fn kill(&self) {
        for dir in &self.dirs {
            empty(dir);
        }
    }

    /// The sandbox has ended: kills whatever is left in the cgroup, reads
    /// what it counted, and removes it.
    pub(crate) fn finish(mut self) -> CgroupUsage {
        self.kill();
        let usage = self.usage();
        self.remove();
        let shown = |value: Option<u64>| value.map_or("unknown".to_string(), |v| v.to_string());
        log::info!(
            "cgroup usage: memory peak {} bytes, OOM kills {}, pids peak {}, CPU {}",
            shown(usage.memory_peak),
            shown(usage.oom_kills),
            shown(usage.pids_peak),
            usage
                .cpu_time
                .map_or("unknown".to_string(), |time| format!("{time:?}"))
        );
        usage
    }

    fn usage(&self) -> CgroupUsage {
        let dir = |controller: Controller| {
            self.dirs
                .iter()
                .find(|dir| dir.controllers.contains(&controller))
                .map(|dir| dir.path.as_path())
        };
        let (memory_peak, oom_kills, pids_peak, cpu_time) = match self.version {
            CgroupVersion::V1 => {
                let memory = dir(Controller::Memory);
                (
                    memory.and_then(|d| number(&d.join("memory.max_usage_in_bytes"))),
                    memory.and_then(|d| keyed(&d.join("memory.oom_control"), "oom_kill")),
                    dir(Controller::Pids).and_then(|d| number(&d.join("pids.peak"))),
                    dir(Controller::Cpuacct)
                        .and_then(|d| number(&d.join("cpuacct.usage")))
                        .map(Duration::from_nanos),
                )
            }
            CgroupVersion::V2 => {
                let memory = dir(Controller::Memory);
                let all = self.dirs[0].path.as_path();
                (
                    memory.and_then(|d| number(&d.join("memory.peak"))),
                    memory.and_then(|d| keyed(&d.join("memory.events"), "oom_kill")),
                    dir(Controller::Pids).and_then(|d| number(&d.join("pids.peak"))),
                    keyed(&all.join("cpu.stat"), "usage_usec").map(Duration::from_micros),
                )
            }
        };
        CgroupUsage {
            version: self.version,
            paths: self.dirs.iter().map(|dir| dir.path.clone()).collect(),
            memory_peak,
            oom_kills,
            pids_peak,
            cpu_time,
        }
    }

    fn remove(&mut self) {
        for dir in &self.dirs[..self.made] {
            if !dismantle(dir) {
                log::warn!("could not remove the cgroup {}", dir.path.display());
            }
        }
        self.removed = true;
        if let Some(keeper) = self.keeper.take() {
            keeper.end();
        }
    }
}

impl Drop for SandboxCgroup {
    fn drop(&mut self) {
        if !self.removed {
            self.remove();
        }
    }
}

/// v2's rule of no internal processes: a cgroup that hands controllers to
/// its children holds no process itself. A delegated scope holds the
/// caller; when the caller is the only process there, it moves into a
/// leaf of its own (`hakoniwa-<pid>-caller`, which it stays in until it
/// exits), and the controllers can then be enabled.
fn enable_v2(base: &Path, controllers: &[Controller]) -> Result<()> {
    let control = base.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&control).unwrap_or_default();
    let missing: Vec<String> = controllers
        .iter()
        .filter(|c| !c.v2_core() && !enabled.split_whitespace().any(|e| e == c.name()))
        .map(|c| format!("+{}", c.name()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let line = missing.join(" ");
    match write(&control, &line) {
        Err(Error::Cgroup { source, .. }) if source.raw_os_error() == Some(libc::EBUSY) => {}
        other => return other,
    }
    let me = unistd::getpid().to_string();
    let procs = fs::read_to_string(base.join("cgroup.procs")).unwrap_or_default();
    if procs.lines().any(|pid| pid != me) {
        return Err(Error::CgroupUnavailable {
            controllers: line,
            reason: format!(
                "cgroup v2 {} holds other processes than hakoniwa, so it cannot pass \
                 controllers on to a child",
                base.display()
            ),
            hint: host::HINT,
        });
    }
    let leaf = base.join(format!("hakoniwa-{me}-caller"));
    make_dir(&leaf)?;
    write(&leaf.join("cgroup.procs"), &me)?;
    write(&control, &line)
}

/// Makes one directory of the path to the sandbox's cgroup.
fn make_dir(path: &Path) -> Result<()> {
    match fs::create_dir(path) {
        Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => Err(Error::Cgroup {
            action: format!("create the cgroup {}", path.display()),
            source: err,
        }),
        _ => Ok(()),
    }
}

/// Writes `value` to an existing file of a cgroup.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut file| file.write_all(value.as_bytes()))
        .map_err(|source| Error::Cgroup {
            action: format!("write {value} to {}", path.display()),
            source,
        })
}

/// A file holding one number.
fn number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The number after `key` in a file of `key value` lines.
fn keyed(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(name, _)| *name == key)
        .and_then(|(_, value)| value.trim().parse().ok())
}

/// Kills every process in the cgroup: v2's `cgroup.kill` where the kernel
/// has it (5.14), else each pid in `cgroup.procs` — and a v1 freezer is
/// thawed then, for the killed to die. System calls only.
fn empty(dir: &Dir) {
    kill_all(dir);
    if let Some(state) = &dir.c_thaw {
        if let Ok(file) = fcntl::open(
            state.as_c_str(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            let _ = unistd::write(&file, b"THAWED");
        }
    }
}

fn kill_all(dir: &Dir) {
    if let Ok(kill) = fcntl::open(
        dir.c_kill.as_c_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        if unistd::write(&kill, b"1").is_ok() {
            return;
        }
    }
    let Ok(procs) = fcntl::open(
        dir.c_procs.as_c_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return;
    };
    let mut buf = [0u8; 512];
    let mut pid: Option<i32> = None;
    loop {
        let n = match unistd::read(&procs, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        };
        for &byte in &buf[..n] {
            match byte {
                b'0'..=b'9' => {
                    let digit = i32::from(byte - b'0');
                    pid = Some(pid.unwrap_or(0).saturating_mul(10).saturating_add(digit));
                }
                _ => {
                    if let Some(pid) = pid.take() {
                        let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                }
            }
        }
    }
    if let Some(pid) = pid {
        let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Removes the directory, killing what is still in it, until it is gone
/// or the attempts run out. System calls only.
fn dismantle(dir: &Dir) -> bool {
    let pause = nix::sys::time::TimeSpec::from(REMOVE_PAUSE);
    for _ in 0..REMOVE_ATTEMPTS {
        match sys::rmdir(&dir.c_path) {
            Ok(()) | Err(Errno::ENOENT) => return true,
            Err(Errno::EBUSY) => {}
            Err(_) => return false,
        }
        empty(dir);
        let _ = clock_nanosleep(
            ClockId::CLOCK_MONOTONIC,
            ClockNanosleepFlags::empty(),
            &pause,
        );
    }
    false
}

/// The process that removes the cgroup if the parent dies first.
#[derive(Debug)]
struct Keeper {
    pid: Pid,
    /// The parent's end of the pipe; its closing wakes the keeper.
    pipe: OwnedFd,
}

impl Keeper {
    fn start(dirs: &[Dir]) -> Result<Self> {
        let error = |errno| Error::Cgroup {
            action: "start the cgroup's keeper".to_string(),
            source: io_error(errno),
        };
        let (read_end, write_end) = unistd::pipe2(OFlag::O_CLOEXEC).map_err(error)?;
        match sys::clone_process(0).map_err(error)? {
            Forked::Child => keep(dirs, &read_end),
            Forked::Parent(pid) => Ok(Self {
                pid,
                pipe: write_end,
            }),
        }
    }

    /// One more directory exists, for the keeper to remove.
    fn made_one(&self) -> Result<()> {
        unistd::write(&self.pipe, b"+")
            .map(drop)
            .map_err(|errno| Error::Cgroup {
                action: "tell the cgroup's keeper".to_string(),
                source: io_error(errno),
            })
    }

    /// The cgroup is gone: the keeper finds nothing to do, and exits.
    fn end(self) {
        drop(self.pipe);
        let _ = sys::wait_child(self.pid);
    }
}

/// The keeper's life: hold nothing but its end of the pipe, ignore the
/// signals meant for the sandbox, count the directories made until the
/// pipe closes, remove them. Runs in a fork: system calls only.
fn keep(dirs: &[Dir], pipe: &OwnedFd) -> ! {
    let _ = unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    let _ = signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None);
    let fd = pipe.as_raw_fd() as u32;
    if fd > 0 {
        let _ = sys::close_range(0, fd - 1);
    }
    let _ = sys::close_range(fd + 1, u32::MAX);
    let mut byte = [0u8; 1];
    let mut made = 0;
    loop {
        match unistd::read(pipe, &mut byte) {
            Ok(0) => break,
            Ok(_) => made += 1,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    for dir in dirs.iter().take(made) {
        dismantle(dir);
    }
    sys::exit_now(0)
}
