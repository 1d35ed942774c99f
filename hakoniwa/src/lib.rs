//! Run a program in a Linux sandbox: new namespaces, a fresh root built on
//! a tmpfs, id maps, dropped capabilities — rootless, with no helper
//! process and no daemon.
//!
//! The API follows `std::process`: configure a [`Container`], make a
//! [`Command`] from it, then `spawn`, `status` or `output`.
//!
//! ```no_run
//! use hakoniwa::{Container, Namespace};
//!
//! let mut container = Container::new();
//! container
//!     .rootfs("/")?
//!     .unshare(Namespace::Network)
//!     .tmpfsmount("/tmp");
//! let status = container.command("sh").args(["-c", "exit 3"]).status()?;
//! assert_eq!(status.exit_code, Some(3));
//! # Ok::<(), hakoniwa::Error>(())
//! ```
//!
//! The library is safe to use from a multi-threaded program: everything
//! that allocates happens before the sandbox's process is cloned, and that
//! process makes only system calls until it executes the program.
#![deny(unsafe_code)]

mod caps;
mod cgroup;
mod child;
mod command;
mod container;
mod diagnose;
mod enter;
mod error;
mod idmap;
pub mod landlock;
mod metrics;
mod network;
mod passwd;
mod plan;
mod rootfs;
mod runtime;
pub mod seccomp;
mod status;
#[allow(unsafe_code)]
mod sys;
mod terminal;

pub use cgroup::{Cgroup, CgroupDirs, CgroupUsage, CgroupVersion};
pub use child::{Child, Output, PASSED_ON_SIGNALS};
pub use command::{Command, DryRun, Stdio, WallTime};
pub use container::{
    Container, Namespace, Rlimit, Runctl, TmpfsOptions, PROC_MASKED, PROC_READ_ONLY,
};
pub use error::{Error, Result};
pub use metrics::{ProcPidStatus, Rusage};
pub use network::{Network, Pasta};
pub use status::{ExitKind, ExitStatus, Limit, SetupError};
pub use terminal::Terminal;
