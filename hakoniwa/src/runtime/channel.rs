//! The channel between the caller (parent) and the sandbox (init and
//! program): a `SOCK_SEQPACKET` socket pair carrying fixed-size messages,
//! so the child sends and receives without allocating, and each message
//! arrives whole or not at all.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::error::io_error;
use crate::metrics::{self, ProcPidStatus, Rusage};
use crate::sys;

/// The step of the child's setup that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Stage {
    /// Waiting for the parent to write the id maps.
    WaitForIdMaps = 1,
    /// Making init non-dumpable (and, without a pid namespace, a
    /// subreaper).
    InitProcess,
    /// Setting up standard input, output and error.
    Stdio,
    /// Making every mount private.
    MountPropagation,
    /// Mounting the staging tmpfs and entering it.
    StagingRoot,
    /// One step of the mount plan (the index says which).
    MountStep,
    /// Entering the finished root.
    EnterRoot,
    /// Making the root read-only.
    RootReadOnly,
    /// Setting the hostname.
    Hostname,
    /// Setting the NIS domain name.
    Domainname,
    /// Bringing up the loopback device of a new network namespace.
    Loopback,
    /// Blocking the signals init waits for.
    Signals,
    /// Forking the program.
    ForkProgram,
    /// Arming the wall-time limit.
    WallTime,
    /// Setting a resource limit (the index says which).
    Rlimit,
    /// Changing to the working directory.
    WorkingDirectory,
    /// Setting the program's capabilities.
    Capabilities,
    /// Setting no_new_privs.
    NoNewPrivs,
    /// Switching to the program's user.
    User,
    /// Applying the landlock ruleset (the index says which step).
    Landlock,
    /// Installing the seccomp filter.
    Seccomp,
    /// Executing the program (the index says which candidate path).
    Exec,
    /// Starting a new session for the program.
    Session,
    /// Waiting for the parent to connect the network (pasta).
    WaitForNetwork,
    /// Joining the namespaces of the process entered.
    Enter,
    /// Waiting, held, for the caller's go ([`Message::Start`]).
    WaitForStart,
    /// Making the program's terminal and handing its master to the caller.
    Terminal,
    /// Init becoming a mapped user (the maps leave the caller out).
    InitUser,
}

impl Stage {
    fn from_u32(value: u32) -> Option<Self> {
        const ALL: [Stage; 28] = [
            Stage::WaitForIdMaps,
            Stage::InitProcess,
            Stage::Stdio,
            Stage::MountPropagation,
            Stage::StagingRoot,
            Stage::MountStep,
            Stage::EnterRoot,
            Stage::RootReadOnly,
            Stage::Hostname,
            Stage::Domainname,
            Stage::Loopback,
            Stage::Signals,
            Stage::ForkProgram,
            Stage::WallTime,
            Stage::Rlimit,
            Stage::WorkingDirectory,
            Stage::Capabilities,
            Stage::NoNewPrivs,
            Stage::User,
            Stage::Landlock,
            Stage::Seccomp,
            Stage::Exec,
            Stage::Session,
            Stage::WaitForNetwork,
            Stage::Enter,
            Stage::WaitForStart,
            Stage::Terminal,
            Stage::InitUser,
        ];
        ALL.into_iter().find(|stage| *stage as u32 == value)
    }
}

/// What crosses the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    /// Parent → init: the id maps are written, go on.
    IdMapsWritten,
    /// Parent → init: the network is connected (pasta is ready), the
    /// program may start.
    NetworkReady,
    /// Program → parent: everything but seccomp and `execve` is done; the
    /// program waits for [`Message::Start`]. The kernel attaches the
    /// sender's pid, which the parent reads in its own pid namespace.
    ProgramHeld,
    /// Parent → held program: go on to seccomp and `execve`.
    Start,
    /// Init → parent: the program's terminal is made; its master comes
    /// attached (`SCM_RIGHTS`), and it is `pts/number` of the sandbox's
    /// devpts.
    Terminal { number: u32 },
    /// Init or program → parent: `stage` failed with `errno`.
    SetupFailed {
        stage: Stage,
        index: u32,
        errno: i32,
    },
    /// Init → parent: the program ended with this `waitpid` status, having
    /// used this much; `timed_out` when init killed it at the wall-time
    /// limit.
    ProgramExited {
        wait_status: i32,
        timed_out: bool,
        usage: Rusage,
        proc_status: Option<ProcPidStatus>,
    },
}

/// A header of four 32-bit words, then the usage words, then `VmPeak` and
/// `VmHWM` (the header's third word says whether they were read).
const SIZE: usize = 16 + 8 * (metrics::WORDS + 2);
const TAG_ID_MAPS_WRITTEN: u32 = 1;
const TAG_SETUP_FAILED: u32 = 2;
const TAG_PROGRAM_EXITED: u32 = 3;
const TAG_NETWORK_READY: u32 = 4;
const TAG_PROGRAM_HELD: u32 = 5;
const TAG_START: u32 = 6;
const TAG_TERMINAL: u32 = 7;

impl Message {
    fn encode(self) -> [u8; SIZE] {
        let mut words = [0; metrics::WORDS + 2];
        let (tag, a, b, c) = match self {
            Message::IdMapsWritten => (TAG_ID_MAPS_WRITTEN, 0, 0, 0),
            Message::NetworkReady => (TAG_NETWORK_READY, 0, 0, 0),
            Message::ProgramHeld => (TAG_PROGRAM_HELD, 0, 0, 0),
            Message::Start => (TAG_START, 0, 0, 0),
            Message::Terminal { number } => (TAG_TERMINAL, number, 0, 0),
            Message::SetupFailed {
                stage,
                index,
                errno,
            } => (TAG_SETUP_FAILED, stage as u32, index, errno),
            Message::ProgramExited {
                wait_status,
                timed_out,
                usage,
                proc_status,
            } => {
                words[..metrics::WORDS].copy_from_slice(&usage.to_words());
                let status = proc_status.unwrap_or_default();
                words[metrics::WORDS] = status.vm_peak;
                words[metrics::WORDS + 1] = status.vm_hwm;
                let read = proc_status.is_some() as u32;
                (TAG_PROGRAM_EXITED, timed_out as u32, read, wait_status)
            }
        };
        let mut buf = [0; SIZE];
        buf[0..4].copy_from_slice(&tag.to_ne_bytes());
        buf[4..8].copy_from_slice(&a.to_ne_bytes());
        buf[8..12].copy_from_slice(&b.to_ne_bytes());
        buf[12..16].copy_from_slice(&c.to_ne_bytes());
        for (chunk, word) in buf[16..].chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        buf
    }

    fn decode(buf: &[u8; SIZE]) -> Option<Self> {
        let word = |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        match word(0) {
            TAG_ID_MAPS_WRITTEN => Some(Message::IdMapsWritten),
            TAG_NETWORK_READY => Some(Message::NetworkReady),
            TAG_PROGRAM_HELD => Some(Message::ProgramHeld),
            TAG_START => Some(Message::Start),
            TAG_TERMINAL => Some(Message::Terminal { number: word(4) }),
            TAG_SETUP_FAILED => Some(Message::SetupFailed {
                stage: Stage::from_u32(word(4))?,
                index: word(8),
                errno: word(12) as i32,
            }),
            TAG_PROGRAM_EXITED => {
                let mut words = [0; metrics::WORDS + 2];
                for (word, chunk) in words.iter_mut().zip(buf[16..].chunks_exact(8)) {
                    *word = u64::from_ne_bytes(chunk.try_into().ok()?);
                }
                let mut usage = [0; metrics::WORDS];
                usage.copy_from_slice(&words[..metrics::WORDS]);
                let proc_status = (word(8) != 0).then_some(ProcPidStatus {
                    vm_peak: words[metrics::WORDS],
                    vm_hwm: words[metrics::WORDS + 1],
                });
                Some(Message::ProgramExited {
                    wait_status: word(12) as i32,
                    timed_out: word(4) != 0,
                    usage: Rusage::from_words(usage),
                    proc_status,
                })
            }
            _ => None,
        }
    }
}

/// Creates the channel: the parent's end and the sandbox's end, both
/// close-on-exec.
pub(crate) fn channel() -> io::Result<(ParentEnd, SandboxEnd)> {
    let (parent, sandbox) = socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(io_error)?;
    Ok((ParentEnd(parent), SandboxEnd(sandbox)))
}

/// A message as the caller received it.
#[derive(Debug)]
pub(crate) struct Received {
    pub message: Message,
    /// The pid of the process that sent it, as this process's pid
    /// namespace numbers it (`None` when the kernel attached none: see
    /// [`ParentEnd::pass_credentials`]).
    pub sender: Option<i32>,
    /// The descriptor that came with it (`SCM_RIGHTS`).
    pub fd: Option<OwnedFd>,
}

/// The caller's end.
#[derive(Debug)]
pub(crate) struct ParentEnd(OwnedFd);

impl ParentEnd {
    /// Tells init the id maps are in place.
    pub(crate) fn id_maps_written(&self) -> io::Result<()> {
        send(self.0.as_raw_fd(), Message::IdMapsWritten).map_err(io_error)
    }

    /// Tells init the network is connected.
    pub(crate) fn network_ready(&self) -> io::Result<()> {
        send(self.0.as_raw_fd(), Message::NetworkReady).map_err(io_error)
    }

    /// Lets the go-ahead through to a held program.
    pub(crate) fn start(&self) -> io::Result<()> {
        send(self.0.as_raw_fd(), Message::Start).map_err(io_error)
    }

    /// Asks the kernel to attach each sender's pid to what it sends (for
    /// [`recv_with_attachments`](Self::recv_with_attachments)); before the sandbox
    /// exists, so that no message goes without.
    pub(crate) fn pass_credentials(&self) -> io::Result<()> {
        socket::setsockopt(&self.0, socket::sockopt::PassCred, &true).map_err(io_error)
    }

    /// The next message, waiting for it, with what came attached; `None`
    /// once the sandbox has closed its end.
    pub(crate) fn recv_with_attachments(&self) -> io::Result<Option<Received>> {
        let mut buf = [0; SIZE];
        let mut space = nix::cmsg_space!(socket::UnixCredentials, [RawFd; 1]);
        loop {
            let mut iov = [io::IoSliceMut::new(&mut buf)];
            let received = socket::recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let (bytes, sender, fd) = match received {
                Ok(msg) => {
                    let (mut sender, mut fd) = (None, None);
                    for cmsg in msg.cmsgs().map_err(io_error)? {
                        match cmsg {
                            socket::ControlMessageOwned::ScmCredentials(creds) => {
                                sender = Some(creds.pid())
                            }
                            socket::ControlMessageOwned::ScmRights(fds) => {
                                // Each is ours from now on: one is kept,
                                // any other closed.
                                for raw in fds {
                                    fd = Some(sys::received_fd(raw));
                                }
                            }
                            _ => {}
                        }
                    }
                    (msg.bytes, sender, fd)
                }
                Err(Errno::EINTR | Errno::ECONNRESET) => continue,
                Err(errno) => return Err(io_error(errno)),
            };
            return match bytes {
                0 => Ok(None),
                SIZE => Message::decode(&buf)
                    .map(|message| {
                        Some(Received {
                            message,
                            sender,
                            fd,
                        })
                    })
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "unknown message from sandbox")
                    }),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "truncated message from sandbox",
                )),
            };
        }
    }

    /// Whether the sandbox has reported a failed setup step, left unread
    /// for [`recv`](Self::recv).
    pub(crate) fn setup_failed_waiting(&self) -> bool {
        let mut buf = [0; SIZE];
        let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
        matches!(
            self.read(&mut buf, flags),
            Ok(SIZE) if matches!(Message::decode(&buf), Some(Message::SetupFailed { .. }))
        )
    }

    /// One datagram into `buf`. A peer that dies with a message of ours
    /// unread resets the connection: said once, before what it sent us,
    /// which is still there to read; so the reset is read past.
    fn read(&self, buf: &mut [u8; SIZE], flags: MsgFlags) -> Result<usize, Errno> {
        loop {
            match socket::recv(self.0.as_raw_fd(), buf, flags) {
                Err(Errno::EINTR | Errno::ECONNRESET) => continue,
                other => return other,
            }
        }
    }

    /// The next message, waiting for it; `None` once the sandbox has closed
    /// its end.
    pub(crate) fn recv(&self) -> io::Result<Option<Message>> {
        Ok(match self.receive(MsgFlags::empty())? {
            Queued::Message(message) => Some(message),
            Queued::Empty | Queued::Closed => None,
        })
    }

    /// The next message if one is queued, without waiting.
    pub(crate) fn try_recv(&self) -> io::Result<Queued> {
        self.receive(MsgFlags::MSG_DONTWAIT)
    }

    fn receive(&self, flags: MsgFlags) -> io::Result<Queued> {
        let mut buf = [0; SIZE];
        match self.read(&mut buf, flags) {
            Ok(0) => Ok(Queued::Closed),
            Ok(SIZE) => Message::decode(&buf).map(Queued::Message).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "unknown message from sandbox")
            }),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "truncated message from sandbox",
            )),
            Err(Errno::EAGAIN) => Ok(Queued::Empty),
            Err(errno) => Err(io_error(errno)),
        }
    }
}

impl AsFd for ParentEnd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// What a look at the channel found, without waiting.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Queued {
    Message(Message),
    /// Nothing yet.
    Empty,
    /// The sandbox has closed its end: init has ended.
    Closed,
}

/// The sandbox's end, used by init and inherited by the program until it
/// executes. Its methods only make system calls.
#[derive(Debug)]
pub(crate) struct SandboxEnd(OwnedFd);

impl AsFd for SandboxEnd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl SandboxEnd {
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }

    /// The same end on a descriptor numbered 3 or above.
    pub(crate) fn try_clone_above_stdio(&self) -> io::Result<Self> {
        // `try_clone` duplicates with F_DUPFD_CLOEXEC from 3 upwards.
        self.0.try_clone().map(SandboxEnd)
    }

    /// Waits for [`Message::IdMapsWritten`]; any other message or the
    /// parent closing its end is an error.
    pub(crate) fn wait_for_id_maps(&self) -> Result<(), Errno> {
        self.wait_for(Message::IdMapsWritten)
    }

    /// Waits for [`Message::NetworkReady`], in the same way.
    pub(crate) fn wait_for_network(&self) -> Result<(), Errno> {
        self.wait_for(Message::NetworkReady)
    }

    /// Tells the parent the program is held, then waits for
    /// [`Message::Start`]: one blocking read, which ends with an error if
    /// the parent closes its end instead.
    pub(crate) fn hold(&self) -> Result<(), Errno> {
        send(self.raw_fd(), Message::ProgramHeld)?;
        self.wait_for(Message::Start)
    }

    fn wait_for(&self, expected: Message) -> Result<(), Errno> {
        let mut buf = [0; SIZE];
        loop {
            return match socket::recv(self.raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(SIZE) if Message::decode(&buf) == Some(expected) => Ok(()),
                Ok(0) => Err(Errno::EPIPE),
                Ok(_) => Err(Errno::EPROTO),
                Err(Errno::EINTR) => continue,
                Err(errno) => Err(errno),
            };
        }
    }

    /// Reports a failed setup step. Best effort: if the parent is gone,
    /// nobody is left to tell.
    pub(crate) fn setup_failed(&self, stage: Stage, index: usize, errno: Errno) {
        let message = Message::SetupFailed {
            stage,
            index: index as u32,
            errno: errno as i32,
        };
        let _ = send(self.raw_fd(), message);
    }

    /// Hands the master of the program's terminal, `pts/number` of the
    /// sandbox's devpts, to the parent.
    pub(crate) fn terminal(&self, master: &OwnedFd, number: u32) -> Result<(), Errno> {
        let message = Message::Terminal { number }.encode();
        sys::send_with_fd(self.raw_fd(), &message, master.as_raw_fd())
    }

    /// Reports how the program ended.
    pub(crate) fn program_exited(
        &self,
        wait_status: i32,
        timed_out: bool,
        usage: Rusage,
        proc_status: Option<ProcPidStatus>,
    ) {
        let message = Message::ProgramExited {
            wait_status,
            timed_out,
            usage,
            proc_status,
        };
        let _ = send(self.raw_fd(), message);
    }
}

fn send(fd: RawFd, message: Message) -> Result<(), Errno> {
    let buf = message.encode();
    loop {
        return match socket::send(fd, &buf, MsgFlags::MSG_NOSIGNAL) {
            Ok(_) => Ok(()),
            Err(Errno::EINTR) => continue,
            Err(errno) => Err(errno),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_survives_the_sandbox_dying_with_a_message_unread() {
        let (parent, sandbox) = channel().unwrap();
        parent.network_ready().unwrap();
        sandbox.setup_failed(Stage::MountStep, 2, Errno::EPERM);
        drop(sandbox);
        assert!(parent.setup_failed_waiting());
        let failed = Message::SetupFailed {
            stage: Stage::MountStep,
            index: 2,
            errno: libc::EPERM,
        };
        assert_eq!(parent.recv().unwrap(), Some(failed));
        assert_eq!(parent.recv().unwrap(), None);
    }

    #[test]
    fn messages_survive_the_round_trip() {
        let (parent, sandbox) = channel().unwrap();
        parent.id_maps_written().unwrap();
        assert_eq!(sandbox.wait_for_id_maps(), Ok(()));
        parent.network_ready().unwrap();
        assert_eq!(sandbox.wait_for_network(), Ok(()));
        // One step's message is not another's.
        parent.network_ready().unwrap();
        assert_eq!(sandbox.wait_for_id_maps(), Err(Errno::EPROTO));
        assert!(!parent.setup_failed_waiting());
        sandbox.setup_failed(Stage::MountStep, 7, Errno::ENOENT);
        // Seen, and left for `recv`.
        assert!(parent.setup_failed_waiting());
        let usage = Rusage {
            max_rss: 2048,
            real_time: std::time::Duration::from_millis(15),
            ..Rusage::default()
        };
        let proc_status = Some(ProcPidStatus {
            vm_peak: 9000,
            vm_hwm: 700,
        });
        sandbox.program_exited(3 << 8, true, usage, proc_status);
        assert_eq!(
            parent.recv().unwrap(),
            Some(Message::SetupFailed {
                stage: Stage::MountStep,
                index: 7,
                errno: libc::ENOENT
            })
        );
        assert_eq!(
            parent.recv().unwrap(),
            Some(Message::ProgramExited {
                wait_status: 3 << 8,
                timed_out: true,
                usage,
                proc_status
            })
        );
        assert_eq!(parent.try_recv().unwrap(), Queued::Empty);
        drop(sandbox);
        assert_eq!(parent.recv().unwrap(), None);
    }

    #[test]
    fn a_held_program_names_itself_and_waits_for_the_go() {
        let (parent, sandbox) = channel().unwrap();
        parent.pass_credentials().unwrap();
        let held = std::thread::spawn(move || sandbox.hold());
        let received = parent.recv_with_attachments().unwrap().unwrap();
        assert_eq!(received.message, Message::ProgramHeld);
        // The thread's process: the pid the kernel attached.
        assert_eq!(received.sender, Some(std::process::id() as i32));
        parent.start().unwrap();
        assert_eq!(held.join().unwrap(), Ok(()));
        assert_eq!(parent.recv().unwrap(), None);
    }

    #[test]
    fn the_terminal_comes_with_its_master_attached() {
        use std::io::{Read, Write};
        let (parent, sandbox) = channel().unwrap();
        let (mut reader, writer) = std::io::pipe().unwrap();
        sandbox.terminal(&OwnedFd::from(writer), 3).unwrap();
        let received = parent.recv_with_attachments().unwrap().unwrap();
        assert_eq!(received.message, Message::Terminal { number: 3 });
        // The descriptor received is the one sent: what is written through
        // it comes out of the pipe.
        let mut passed = std::fs::File::from(received.fd.unwrap());
        passed.write_all(b"through").unwrap();
        drop(passed);
        let mut seen = String::new();
        reader.read_to_string(&mut seen).unwrap();
        assert_eq!(seen, "through");
    }

    #[test]
    fn a_closed_parent_stops_the_child() {
        let (parent, sandbox) = channel().unwrap();
        drop(parent);
        assert_eq!(sandbox.wait_for_id_maps(), Err(Errno::EPIPE));
    }
}
