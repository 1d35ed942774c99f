//! The spawn sequence. Three roles:
//!
//! - **parent** (the caller, this module): creates the channel, clones init
//!   into the new namespaces, writes the id maps, tells init to go on, and
//!   later waits for the report (`child.rs`).
//! - **init** (`init.rs`): pid 1 of the sandbox; builds the root, forks the
//!   program, reaps, forwards signals, reports how the program ended.
//! - **program** (`program.rs`): last steps, then `execve`.
//!
//! Everything the child needs is in the [`Plan`], built before the clone.

pub(crate) mod channel;
mod init;
mod program;

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::cgroup::live::SandboxCgroup;
use crate::error::{io_error, Error, Result};
use crate::network::pasta::PastaProcess;
use crate::plan::Plan;
use crate::sys::{self, Forked};

use channel::{ParentEnd, SandboxEnd};

/// The descriptors that become the program's standard streams (`None`
/// keeps the caller's).
#[derive(Debug, Default)]
pub(crate) struct ChildStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// Descriptors passed on purpose, sorted; they keep their numbers.
    pub pass: Vec<RawFd>,
}

/// The first descriptor above the standard streams, where they are staged
/// while being moved into place.
const STAGING_FD: RawFd = 3;

impl ChildStdio {
    /// Child side: puts the streams on 0, 1 and 2 and closes every other
    /// descriptor but `channel` and the passed ones, which lose
    /// close-on-exec.
    fn install(&self, channel: RawFd) -> Result<(), Errno> {
        let streams = [&self.stdin, &self.stdout, &self.stderr];
        // Two passes, so that a source that is itself 0, 1 or 2 is not
        // overwritten before it is used.
        let mut staged: [Option<RawFd>; 3] = [None; 3];
        for (slot, stream) in staged.iter_mut().zip(streams) {
            if let Some(fd) = stream {
                *slot = Some(sys::dup_above(fd.as_raw_fd(), STAGING_FD)?);
            }
        }
        for (target, source) in staged.iter().enumerate() {
            if let Some(fd) = source {
                sys::dup2(*fd, target as RawFd)?;
            }
        }
        // Everything else goes: what the caller held, with or without
        // close-on-exec, must not reach the sandbox. Closed range by range
        // between the kept descriptors (both lists are sorted; the channel
        // is never a passed one, which was open when it was made).
        let mut next = STAGING_FD as u32;
        for fd in self.sorted_keep(channel) {
            let fd = fd as u32;
            if fd > next {
                sys::close_range(next, fd - 1)?;
            }
            next = fd + 1;
        }
        sys::close_range(next, u32::MAX)?;
        for &fd in &self.pass {
            sys::clear_cloexec(fd)?;
        }
        Ok(())
    }

    /// The channel merged into the sorted passed descriptors, without
    /// allocating.
    fn sorted_keep(&self, channel: RawFd) -> impl Iterator<Item = RawFd> + '_ {
        let before = self
            .pass
            .iter()
            .copied()
            .take_while(move |fd| *fd < channel);
        let after = self
            .pass
            .iter()
            .copied()
            .skip_while(move |fd| *fd < channel);
        before.chain(std::iter::once(channel)).chain(after)
    }
}

/// A spawned sandbox, as the parent holds it.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub pid: Pid,
    pub channel: ParentEnd,
    /// pasta, when it connects the sandbox's network; ended when dropped.
    pub pasta: Option<PastaProcess>,
    /// The sandbox's cgroup; removed when dropped.
    pub cgroup: Option<SandboxCgroup>,
}

/// Creates the sandbox and starts the program in it.
pub(crate) fn spawn(plan: &Plan, stdio: ChildStdio) -> Result<Spawned> {
    // Made before the clone, so that a cgroup that cannot be had stops the
    // run before any process of the sandbox exists.
    let cgroup = plan
        .cgroup
        .as_ref()
        .map(SandboxCgroup::create)
        .transpose()?;
    let (parent_end, sandbox_end) = channel::channel().map_err(Error::Channel)?;
    if plan.held {
        parent_end.pass_credentials().map_err(Error::Channel)?;
    }
    // The sandbox's end must not sit on 0, 1 or 2, where the streams go.
    let sandbox_end = above_stdio(sandbox_end)?;
    let pid = match sys::clone_process(plan.clone_flags) {
        Ok(Forked::Child) => init::run(plan, &sandbox_end, &stdio),
        Ok(Forked::Parent(pid)) => pid,
        Err(errno) => return Err(namespaces_error(plan, errno)),
    };
    drop(sandbox_end);
    drop(stdio);
    let mut spawned = Spawned {
        pid,
        channel: parent_end,
        pasta: None,
        cgroup,
    };
    if let Err(err) = release(plan, &mut spawned) {
        let _ = signal::kill(pid, Signal::SIGKILL);
        let _ = sys::wait_child(pid);
        return Err(err);
    }
    Ok(spawned)
}

/// Moves init into its cgroup, writes the id maps and lets init build the
/// sandbox, while pasta (if any) connects the network, which the program
/// waits for. When a step fails because init failed first and said why,
/// that report is the error, told through the child: not the map, the
/// message or pasta that lost its process.
fn release(plan: &Plan, spawned: &mut Spawned) -> Result<()> {
    match go_ahead(plan, spawned) {
        Err(_) if spawned.channel.setup_failed_waiting() => Ok(()),
        other => other,
    }
}

fn go_ahead(plan: &Plan, spawned: &mut Spawned) -> Result<()> {
    // Init and everything it starts inherit the cgroup.
    if let Some(cgroup) = &spawned.cgroup {
        cgroup.add(spawned.pid)?;
    }
    if let Some(dirs) = &plan.joined_cgroup {
        dirs.add(spawned.pid.as_raw() as u32)?;
    }
    if let Some(maps) = &plan.id_maps {
        maps.write(spawned.pid)?;
    }
    if plan.init_waits() {
        spawned.channel.id_maps_written().map_err(Error::Channel)?;
    }
    // pasta joins the user namespace (a pasta plan always has one), so its
    // ids are mapped first. It takes tens of milliseconds, in which init
    // builds the root.
    if let Some(pasta) = &plan.pasta {
        let pasta = PastaProcess::start(pasta, spawned.pid)?;
        spawned.channel.network_ready().map_err(Error::Channel)?;
        spawned.pasta = Some(pasta);
    }
    Ok(())
}

fn above_stdio(end: SandboxEnd) -> Result<SandboxEnd> {
    if end.raw_fd() > 2 {
        return Ok(end);
    }
    end.try_clone_above_stdio().map_err(Error::Channel)
}

fn namespaces_error(plan: &Plan, errno: Errno) -> Error {
    let namespaces = plan
        .namespaces
        .iter()
        .map(|ns| ns.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    Error::Namespaces {
        namespaces,
        source: io_error(errno),
        hint: crate::diagnose::namespaces_hint(errno),
    }
}
