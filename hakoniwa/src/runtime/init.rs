//! Init: the first process of the sandbox (pid 1 of its pid namespace;
//! outside a pid namespace joined by path, whose pid 1 is someone else's).
//!
//! It builds the sandbox, forks the program, then stays to reap orphans,
//! forward the signals the caller sends, and report how the program ended.
//! When it exits the kernel kills every process left in the namespace.
//!
//! Runs right after the clone, in a copy of a possibly multi-threaded
//! caller: system calls only — no allocation, no lock, no panic.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::prctl;
use nix::sys::ptrace;
use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::stat::{self, Mode};
use nix::time::{clock_gettime, ClockId};
use nix::unistd::{self, Pid};

use crate::child::PASSED_ON_SIGNALS;
use crate::idmap;
use crate::metrics::{ProcPidStatus, Rusage};
use crate::plan::Plan;
use crate::rootfs;
use crate::runtime::channel::{SandboxEnd, Stage};
use crate::runtime::{program, ChildStdio};
use crate::sys::{self, Forked};
use crate::terminal;

/// `si_code` of a signal the kernel raised itself — for the terminal's
/// Ctrl-C, which reaches the program directly through its process group.
const SI_KERNEL: i32 = 0x80;

/// Exit code of init when setup failed; the parent reads the reason from
/// the channel, not from this code.
const SETUP_FAILED: i32 = 125;

/// Runs init; never returns.
pub(crate) fn run(plan: &Plan, channel: &SandboxEnd, stdio: &ChildStdio) -> ! {
    let Err((stage, index, errno)) = setup(plan, channel, stdio) else {
        unreachable_exit()
    };
    // The parent died before the maps were written: nobody to tell.
    if stage != Stage::WaitForIdMaps || errno != Errno::EPIPE {
        channel.setup_failed(stage, index, errno);
    }
    sys::exit_now(SETUP_FAILED)
}

/// `setup` only returns on failure; this keeps the type checker honest.
fn unreachable_exit() -> ! {
    sys::exit_now(SETUP_FAILED)
}

type Failure = (Stage, usize, Errno);

fn setup(plan: &Plan, channel: &SandboxEnd, stdio: &ChildStdio) -> Result<(), Failure> {
    let at = |stage| move |errno| (stage, 0, errno);
    // 0. Namespaces to join (a running sandbox's, or some given by path)
    //    first, while the descriptors that name them are still open (step
    //    2 closes them).
    if let Some(enter) = &plan.enter {
        enter.join().map_err(at(Stage::Enter))?;
    }
    // 1. Die with the caller: not with PR_SET_PDEATHSIG, which fires when
    //    the *thread* that cloned us exits (a thread pool's worker, say),
    //    but when the caller's process closes its end of the channel — on
    //    exit, however it dies. Waiting for the maps (step 3) and
    //    supervising (step 8) both see that end close.
    // 2. Standard streams in place, every other inherited descriptor
    //    closed: nothing the caller held leaks into the sandbox.
    stdio.install(channel.raw_fd()).map_err(at(Stage::Stdio))?;
    // 3. Nothing may create a file before the ids are mapped.
    //    Nor may anything run before init is in its cgroup.
    if plan.init_waits() {
        channel
            .wait_for_id_maps()
            .map_err(at(Stage::WaitForIdMaps))?;
    }
    // 4. Stop early if the caller has already gone (its end closed while
    //    init did not wait for it).
    if caller_is_gone(channel) {
        return Err((Stage::WaitForIdMaps, 0, Errno::EPIPE));
    }
    //    Maps that leave the caller out: become a mapped user before
    //    anything creates a file (whose owner must be mapped). A change of
    //    ids makes a process undumpable; init stays reachable through
    //    /proc until step 6, for pasta.
    if let Some(ids) = &plan.init_ids {
        idmap::switch(ids).map_err(at(Stage::InitUser))?;
        prctl::set_dumpable(true).map_err(at(Stage::InitUser))?;
    }
    // 5. The root, with modes exactly as planned; the program gets the
    //    caller's umask back. In a pid namespace joined by path the
    //    program's process builds it instead (see `program::prepare`).
    let umask = stat::umask(Mode::empty());
    if !plan.root_by_program {
        build_root(plan)?;
    }
    if let Some(hostname) = &plan.hostname {
        unistd::sethostname(OsStr::from_bytes(hostname.to_bytes())).map_err(at(Stage::Hostname))?;
    }
    if let Some(domainname) = &plan.domainname {
        sys::set_domainname(domainname).map_err(at(Stage::Domainname))?;
    }
    // The program's terminal comes from the sandbox's own devpts, so the
    // root (or the mount namespace joined) must be in place; it replaces
    // the standard streams of step 2, which the program inherits.
    if let Some(terminal) = &plan.terminal {
        terminal::make(terminal, channel).map_err(at(Stage::Terminal))?;
    }
    // A new network namespace starts with its loopback device down: even
    // 127.0.0.1 would be unreachable.
    if plan.loopback {
        sys::bring_loopback_up().map_err(at(Stage::Loopback))?;
    }
    // The program's interface must be configured when it starts; pasta
    // joins our namespaces meanwhile, through /proc/<init>/ns.
    if plan.pasta.is_some() {
        channel
            .wait_for_network()
            .map_err(at(Stage::WaitForNetwork))?;
    }
    // 6. From here init cannot be ptraced or read through /proc by the
    //    program. Not earlier: the caller writes the maps, and pasta finds
    //    the namespaces, through /proc; the program does not exist yet.
    prctl::set_dumpable(false).map_err(at(Stage::InitProcess))?;
    if !plan.pid_namespace {
        // Without a pid namespace, orphans must still come back to us.
        prctl::set_child_subreaper(true).map_err(at(Stage::InitProcess))?;
    }
    // 7. Block the signals init waits for before the program exists, so
    //    none is lost; the program unblocks them.
    let mut waited = SigSet::empty();
    waited.add(Signal::SIGCHLD);
    waited.add(Signal::SIGALRM);
    // What a caller passes on, and a resized terminal's SIGWINCH.
    let forwarded = PASSED_ON_SIGNALS
        .into_iter()
        .filter_map(|signal| Signal::try_from(signal).ok())
        .chain([Signal::SIGWINCH]);
    for signal in forwarded {
        waited.add(signal);
    }
    signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&waited), None).map_err(at(Stage::Signals))?;
    let started = now();
    // The program shares init's memory until it executes (vfork): nothing
    // is copied. Not when init traces it: the program stops for its tracer
    // before exec, and a vforked child would wait on a suspended init. Nor
    // when it is held, for the same reason, and because it makes itself
    // dumpable then, which must not make init so. Nor when it builds the
    // root, a long way on a small stack.
    let program = if plan.trace_exit || plan.held || plan.root_by_program {
        match sys::clone_process(0).map_err(at(Stage::ForkProgram))? {
            Forked::Child => program::run(plan, channel, umask),
            Forked::Parent(pid) => pid,
        }
    } else {
        sys::vfork_run(|| program::run(plan, channel, umask)).map_err(at(Stage::ForkProgram))?
    };
    // 8. The wall-time limit counts from the program's start.
    if let Some(limit) = plan.wall_time {
        sys::set_alarm(limit).map_err(at(Stage::WallTime))?;
    }
    // 9. Init keeps no stream of the program's: the caller sees end of file
    //    when the program and its children close theirs. Nor the descriptors
    //    passed to the program.
    let _ = sys::close_range(0, 2);
    for &fd in &stdio.pass {
        let _ = sys::close_range(fd as u32, fd as u32);
    }
    let program = Supervised {
        pid: program,
        started,
        timed_out: false,
        pid_namespace: plan.pid_namespace,
        leads_group: plan.new_session,
        channel,
        traced: false,
        proc_status: None,
    };
    supervise(program, &waited)
}

/// Builds the sandbox's root, when it has a mount namespace; run by init,
/// or by the program's process when it must mount /proc.
pub(super) fn build_root(plan: &Plan) -> Result<(), Failure> {
    match (&plan.mount_steps, &plan.staging_dir) {
        (Some(steps), Some(staging)) => {
            rootfs::build(steps, plan.root_step, staging, plan.root_read_only)
        }
        _ => Ok(()),
    }
}

/// Whether the caller's end of the channel is closed.
fn caller_is_gone(channel: &SandboxEnd) -> bool {
    let mut fds = [PollFd::new(channel.as_fd(), PollFlags::empty())];
    let _ = poll(&mut fds, PollTimeout::ZERO);
    fds[0]
        .revents()
        .is_some_and(|events| events.contains(PollFlags::POLLHUP))
}

/// The program being supervised.
struct Supervised<'a> {
    pid: Pid,
    started: Duration,
    timed_out: bool,
    pid_namespace: bool,
    /// Whether the program leads a process group of its own (it started a
    /// new session).
    leads_group: bool,
    channel: &'a SandboxEnd,
    /// Whether the program is traced (`Plan::trace_exit`) and has stopped
    /// once for init to set the tracing options.
    traced: bool,
    /// `VmPeak` and `VmHWM`, read when the traced program stopped at exit.
    proc_status: Option<ProcPidStatus>,
}

/// Waits for the program to end, reaping every other child, passing on
/// forwarded signals and enforcing the wall-time limit; then reports and
/// exits.
fn supervise(mut program: Supervised, waited: &SigSet) -> Result<(), Failure> {
    let signals = SignalFd::with_flags(waited, SfdFlags::SFD_CLOEXEC)
        .map_err(|errno| (Stage::Signals, 0, errno))?;
    loop {
        let mut fds = [
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(program.channel.as_fd(), PollFlags::empty()),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err((Stage::Signals, 0, errno)),
        }
        let hung_up = |fd: &PollFd| {
            fd.revents()
                .is_some_and(|events| events.contains(PollFlags::POLLHUP))
        };
        if hung_up(&fds[1]) {
            // The caller is gone: so is the sandbox.
            program.end_all();
            sys::exit_now(0);
        }
        if !fds[0]
            .revents()
            .is_some_and(|events| events.contains(PollFlags::POLLIN))
        {
            continue;
        }
        let info = match signals.read_signal() {
            Ok(Some(info)) => info,
            Ok(None) | Err(Errno::EINTR) => continue,
            Err(errno) => return Err((Stage::Signals, 0, errno)),
        };
        let signo = info.ssi_signo as i32;
        // Processes of the sandbox may signal init too: only the kernel's
        // timer counts as the wall-time limit, and only signals from outside
        // the sandbox (a sender outside the pid namespace shows as pid 0)
        // are passed on.
        let from_kernel = info.ssi_code == SI_KERNEL;
        let from_outside = !program.pid_namespace || info.ssi_pid == 0;
        if signo == libc::SIGCHLD {
            program.reap();
        } else if signo == libc::SIGALRM {
            if from_kernel {
                program.time_out();
            }
        } else if !from_kernel && from_outside {
            if let Ok(signal) = Signal::try_from(signo) {
                let _ = signal::kill(program.pid, signal);
            }
        }
    }
}

impl Supervised<'_> {
    /// Reaps every child that has ended; when the program is one of them,
    /// reports its status and exits, which ends the sandbox. A traced
    /// program's stops come here too.
    fn reap(&mut self) {
        while let Ok(Some((pid, status, usage))) = sys::wait_any_nohang() {
            if pid != self.pid {
                continue;
            }
            if libc::WIFSTOPPED(status) {
                self.traced_stop(status);
                continue;
            }
            let real_time = now().saturating_sub(self.started);
            let usage = Rusage::from_wait4(&usage, real_time);
            // The sandbox ends with its program. In a pid namespace every
            // other process is killed and reaped before the report, so that
            // a caller that has the status knows none of them still runs
            // (init's own exit, which releases the namespaces, can then
            // finish without anyone waiting for it).
            if self.pid_namespace {
                self.end_all();
                sys::reap_all_children();
            }
            self.channel
                .program_exited(status, self.timed_out, usage, self.proc_status);
            sys::exit_now(0);
        }
    }

    /// The traced program stopped: first to let init set the options,
    /// then at exec (go on), at exit (read its memory, go on), or for a
    /// signal (deliver it).
    fn traced_stop(&mut self, status: i32) {
        let signal = libc::WSTOPSIG(status);
        let event = (status >> 16) & 0xff;
        let deliver = if !self.traced && signal == libc::SIGSTOP {
            self.traced = true;
            let options = ptrace::Options::PTRACE_O_TRACEEXIT
                | ptrace::Options::PTRACE_O_TRACEEXEC
                | ptrace::Options::PTRACE_O_EXITKILL;
            let _ = ptrace::setoptions(self.pid, options);
            None
        } else if event == libc::PTRACE_EVENT_EXIT {
            self.proc_status = ProcPidStatus::read(self.pid.as_raw());
            None
        } else if event != 0 {
            None
        } else {
            Signal::try_from(signal).ok()
        };
        let _ = ptrace::cont(self.pid, deliver);
    }

    /// The wall-time limit is reached: kill everything in the sandbox (in a
    /// pid namespace, `kill(-1)` from init reaches only its processes),
    /// then report the program's end when it is reaped.
    fn time_out(&mut self) {
        self.timed_out = true;
        self.end_all();
    }

    /// Kills everything in the sandbox (in a pid namespace, `kill(-1)`
    /// from init reaches only its processes; without one, the program —
    /// with its process group when it leads one, which takes the children
    /// that stayed in it along).
    fn end_all(&self) {
        if self.pid_namespace {
            let _ = signal::kill(Pid::from_raw(-1), Signal::SIGKILL);
        } else if self.leads_group {
            let _ = signal::killpg(self.pid, Signal::SIGKILL);
        } else {
            let _ = signal::kill(self.pid, Signal::SIGKILL);
        }
    }
}

/// Monotonic time; cannot fail on Linux.
fn now() -> Duration {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(Duration::from)
        .unwrap_or_default()
}
