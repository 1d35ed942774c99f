//! The program's last steps before `execve`, in a fork of init.
//!
//! Order: the root first, when this process builds it (in a pid
//! namespace joined by path); signals back to defaults (so a failure
//! below can still be reported and the program starts clean); a new
//! session if asked; the
//! working directory while we
//! still may read anything; resource limits; the bounding set while we hold
//! CAP_SETPCAP; the user switch while we hold CAP_SETUID; the capability
//! sets; no_new_privs; landlock, which needs no_new_privs; seccomp last of
//! all. With `Runctl::AllowNewPrivs`, landlock and seccomp go before the
//! user switch instead, while CAP_SYS_ADMIN still stands in for
//! no_new_privs. A held program (`Command::spawn_held`) waits for the
//! caller's go between landlock and seccomp, wherever those fall: every
//! step that can fail inside the sandbox but the filter is done, and the
//! filter, still last, never has to allow the wait. System calls only.

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::ptrace;
use nix::sys::resource;
use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use nix::sys::stat::{self, Mode};
use nix::unistd;

use crate::caps;
use crate::idmap;
use crate::landlock;
use crate::plan::Plan;
use crate::runtime::channel::{SandboxEnd, Stage};
use crate::runtime::init;
use crate::sys;

/// Exit code when the program could not be found (as in a shell).
const NOT_FOUND: i32 = 127;
/// Exit code when the program was found but could not be executed.
const NOT_EXECUTABLE: i32 = 126;
/// Exit code for any other setup failure.
const SETUP_FAILED: i32 = 125;

/// Prepares and executes the program; never returns.
pub(crate) fn run(plan: &Plan, channel: &SandboxEnd, umask: Mode) -> ! {
    let (stage, index, errno) = match prepare(plan, channel, umask) {
        Ok(()) => exec(plan),
        Err(failure) => failure,
    };
    channel.setup_failed(stage, index, errno);
    let code = match (stage, errno) {
        (Stage::Exec, Errno::ENOENT | Errno::ENOTDIR) => NOT_FOUND,
        (Stage::Exec, _) => NOT_EXECUTABLE,
        _ => SETUP_FAILED,
    };
    sys::exit_now(code)
}

fn prepare(plan: &Plan, channel: &SandboxEnd, umask: Mode) -> Result<(), (Stage, usize, Errno)> {
    let at = |stage| move |errno| (stage, 0, errno);
    if plan.root_by_program {
        // In a pid namespace joined by path, which init is outside of:
        // /proc shows the namespace of the process that mounts it, so this
        // one, inside, builds the root while it still holds init's
        // privileges. pivot_root moves init's root along.
        init::build_root(plan)?;
    }
    sys::reset_signal_dispositions();
    signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(at(Stage::Signals))?;
    if plan.trace_exit {
        // Stop until init, now our tracer, has set its options: it will
        // see us again at our exit, before our memory is gone.
        ptrace::traceme().map_err(at(Stage::Signals))?;
        signal::kill(unistd::getpid(), Signal::SIGSTOP).map_err(at(Stage::Signals))?;
    }
    if plan.new_session {
        // No controlling terminal from here on, so none to push
        // keystrokes into (TIOCSTI), whatever the filter allows.
        unistd::setsid().map_err(at(Stage::Session))?;
    }
    if plan.terminal_session {
        sys::set_controlling_terminal(libc::STDIN_FILENO).map_err(at(Stage::Session))?;
    }
    stat::umask(umask);
    unistd::chdir(plan.exec.current_dir.as_c_str()).map_err(at(Stage::WorkingDirectory))?;
    for (index, &(resource, soft, hard)) in plan.rlimits.iter().enumerate() {
        resource::setrlimit(resource, soft, hard).map_err(|errno| (Stage::Rlimit, index, errno))?;
    }
    let at_user = at(Stage::User);
    if let Some(caps) = plan.capabilities {
        caps::drop_bounding(caps).map_err(at(Stage::Capabilities))?;
    }
    if !plan.no_new_privs {
        // Without no_new_privs, landlock and seccomp need CAP_SYS_ADMIN,
        // which the program still holds here and not after the steps below.
        restrict(plan, channel)?;
    }
    if let Some(ids) = &plan.switch {
        idmap::switch(ids).map_err(at_user)?;
    }
    if let Some(caps) = plan.capabilities {
        caps::set(caps).map_err(at(Stage::Capabilities))?;
    }
    if plan.no_new_privs {
        // A setuid or file-capability binary cannot give back what was
        // dropped.
        prctl::set_no_new_privs().map_err(at(Stage::NoNewPrivs))?;
        restrict(plan, channel)?;
    }
    Ok(())
}

/// Landlock, then seccomp: landlock needs the finished root (its paths are
/// the sandbox's); seccomp comes last because the steps before make
/// syscalls a filter may refuse — the hold's own among them. If either
/// cannot be applied the program does not run: the failure is reported
/// instead.
fn restrict(plan: &Plan, channel: &SandboxEnd) -> Result<(), (Stage, usize, Errno)> {
    if let Some(landlock) = &plan.landlock {
        landlock::apply::apply(landlock)
            .map_err(|(index, errno)| (Stage::Landlock, index, errno))?;
    }
    if plan.held {
        hold(channel).map_err(|errno| (Stage::WaitForStart, 0, errno))?;
    }
    if let Some(seccomp) = &plan.seccomp {
        let program = &seccomp.program;
        sys::install_seccomp_filter(&program.instructions, program.flags)
            .map_err(|errno| (Stage::Seccomp, 0, errno))?;
    }
    Ok(())
}

/// Waits for the caller's go. Meanwhile the program is dumpable, so that
/// the caller (rootless too: its user namespace is not this process's
/// memory's) may open its namespaces through `/proc` to run something in
/// them; a user switch had made it undumpable. Nothing of the sandbox
/// runs during the hold but init, which cannot reach it; undumpable again
/// after, as an unheld program is until its `execve`.
fn hold(channel: &SandboxEnd) -> Result<(), Errno> {
    prctl::set_dumpable(true)?;
    channel.hold()?;
    prctl::set_dumpable(false)
}

/// Tries each candidate path as `execvp` does: a missing file moves on to
/// the next; "permission denied" is remembered and reported if nothing
/// else works; any other error stops the search.
fn exec(plan: &Plan) -> (Stage, usize, Errno) {
    let exec = &plan.exec;
    let mut denied = None;
    let mut last = (0, Errno::ENOENT);
    for (index, path) in exec.candidates.iter().enumerate() {
        let errno = sys::execve(path, &exec.argv, &exec.envp);
        match errno {
            Errno::ENOENT | Errno::ENOTDIR => last = (index, errno),
            Errno::EACCES => {
                denied.get_or_insert((index, errno));
            }
            _ => return (Stage::Exec, index, errno),
        }
    }
    let (index, errno) = denied.unwrap_or(last);
    (Stage::Exec, index, errno)
}
