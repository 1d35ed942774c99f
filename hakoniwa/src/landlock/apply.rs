//! The child's half: create the ruleset, add the rules, enforce it. Runs
//! in the program's process after no_new_privs is set (the kernel requires
//! it of an unprivileged caller) and before seccomp. System calls only.

use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::fcntl::{self, OFlag};
use nix::sys::stat::{self, Mode, SFlag};

use super::plan::{LandlockPlan, Rule, Step};
use crate::sys;

/// Applies `plan` to the calling process; on failure, the index of the
/// step that failed (see [`Step::index`]) and why.
pub(crate) fn apply(plan: &LandlockPlan) -> Result<(), (usize, Errno)> {
    let at = |step: Step| move |errno| (step.index(plan), errno);
    let ruleset = sys::landlock_create_ruleset(&plan.attr).map_err(at(Step::Create))?;
    for (n, rule) in plan.rules.iter().enumerate() {
        let at = at(Step::Rule(n));
        match rule {
            Rule::Path {
                path,
                allowed,
                allowed_on_file,
                optional,
            } => {
                let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
                let parent = match fcntl::open(path.as_c_str(), flags, Mode::empty()) {
                    Ok(fd) => fd,
                    Err(Errno::ENOENT | Errno::ENOTDIR) if *optional => continue,
                    Err(errno) => return Err(at(errno)),
                };
                let mode = stat::fstat(&parent).map_err(at)?.st_mode;
                let is_dir =
                    SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR;
                let allowed = if is_dir { *allowed } else { *allowed_on_file };
                sys::landlock_add_path_rule(ruleset.as_fd(), allowed, parent.as_fd())
                    .map_err(at)?;
            }
            Rule::Port { port, allowed } => {
                sys::landlock_add_port_rule(ruleset.as_fd(), *allowed, *port).map_err(at)?;
            }
        }
    }
    sys::landlock_restrict_self(ruleset.as_fd()).map_err(at(Step::Restrict))
}
