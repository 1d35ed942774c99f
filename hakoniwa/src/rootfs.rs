//! Child side of the filesystem: builds the sandbox's root from the mount
//! plan and enters it. Runs in init, inside the new mount, user and pid
//! namespaces, after the id maps are written; makes system calls only.
//!
//! The sequence, and why it is in this order:
//! 1. Make every mount private, so nothing done here propagates to the host.
//! 2. Mount a staging tmpfs over a directory that exists on the host (the
//!    host is not touched: the mount lives only in this namespace), create
//!    `newroot` and `oldroot` in it, and `pivot_root` into it. From here on
//!    every host path is reached under `/oldroot`, so no mount can hide a
//!    later mount's source.
//! 3. Run the plan's steps: the root itself at `/newroot` (a tmpfs, a root
//!    directory bound, or an overlay over it with its upper layer in the
//!    staging tmpfs), then directories, files and links under `/newroot`,
//!    binds from `/oldroot`, tmpfs, proc (which must be mounted from inside
//!    the new pid namespace to show it), devpts, overlays.
//! 4. `pivot_root` into `/newroot` and detach the staging root with the
//!    whole host tree beneath it.
//! 5. Make the root mount read-only (unless it is a writable root
//!    directory): the sandbox sees only what was asked for.

use std::ffi::CStr;

use nix::errno::Errno;
use nix::fcntl::{self, OFlag};
use nix::mount::{self, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd;

use crate::plan::mounts::{Step, StepKind};
use crate::runtime::channel::Stage;
use crate::sys::{self, MOUNT_ATTR_RDONLY};

/// A failed step: which stage, which plan entry, why.
pub(crate) type Failure = (Stage, usize, Errno);

/// Builds the root from `steps`, staging it on `staging_dir`, and enters
/// it; then makes the root mount read-only if asked.
pub(crate) fn build(
    steps: &[Step],
    root_step: usize,
    staging_dir: &CStr,
    read_only: bool,
) -> Result<(), Failure> {
    let at = |stage| move |errno| (stage, 0, errno);
    mount::mount(
        None::<&CStr>,
        c"/",
        None::<&CStr>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&CStr>,
    )
    .map_err(at(Stage::MountPropagation))?;
    enter_staging_root(staging_dir).map_err(at(Stage::StagingRoot))?;
    // One step mounts the root. Other mounts may later sit on top of it at
    // `/` (an overlay on `/`), so it is held by a descriptor to be made
    // read-only at the end, not found again by its path.
    let mut root = None;
    for (index, step) in steps.iter().enumerate() {
        apply(step).map_err(|errno| (Stage::MountStep, index, errno))?;
        if index == root_step {
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
            let fd = fcntl::open(c"/newroot", flags, Mode::empty());
            root = Some(fd.map_err(at(Stage::RootReadOnly))?);
        }
    }
    // Before entering it: a mount stacked on the root's own mount point
    // (an overlay on `/`) becomes the root, and the one below goes with
    // the staging tree.
    if let (Some(root), true) = (&root, read_only) {
        sys::mount_setattr_fd(root, MOUNT_ATTR_RDONLY).map_err(at(Stage::RootReadOnly))?;
    }
    enter_new_root().map_err(at(Stage::EnterRoot))
}

fn enter_staging_root(staging_dir: &CStr) -> Result<(), Errno> {
    let tmpfs_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount::mount(
        Some(c"tmpfs"),
        staging_dir,
        Some(c"tmpfs"),
        tmpfs_flags,
        Some(c"mode=0700"),
    )?;
    unistd::chdir(staging_dir)?;
    unistd::mkdir(c"newroot", Mode::from_bits_truncate(0o755))?;
    unistd::mkdir(c"oldroot", Mode::from_bits_truncate(0o755))?;
    unistd::pivot_root(c".", c"oldroot")?;
    unistd::chdir(c"/")
}

fn enter_new_root() -> Result<(), Errno> {
    unistd::chdir(c"/newroot")?;
    // pivot_root(".", ".") stacks the old root on top of the new one; the
    // lazy unmount then takes it away with everything mounted under it.
    unistd::pivot_root(c".", c".")?;
    mount::umount2(c".", MntFlags::MNT_DETACH)?;
    unistd::chdir(c"/")
}

fn apply(step: &Step) -> Result<(), Errno> {
    let target = step.target.as_c_str();
    match &step.kind {
        StepKind::Dir { mode } => match unistd::mkdir(target, Mode::from_bits_truncate(*mode)) {
            Err(Errno::EEXIST) => Ok(()),
            other => other,
        },
        StepKind::File => {
            let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
            fcntl::open(target, flags, Mode::from_bits_truncate(0o644)).map(drop)
        }
        StepKind::Symlink { original } => {
            unistd::symlinkat(original.as_c_str(), fcntl::AT_FDCWD, target)
        }
        StepKind::Bind { source, attrs } => {
            mount::mount(
                Some(source.as_c_str()),
                target,
                None::<&CStr>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&CStr>,
            )?;
            sys::mount_setattr(target, true, *attrs)
        }
        StepKind::Tmpfs { flags, options } => mount::mount(
            Some(c"tmpfs"),
            target,
            Some(c"tmpfs"),
            *flags,
            Some(options.as_c_str()),
        ),
        StepKind::Proc => mount::mount(
            Some(c"proc"),
            target,
            Some(c"proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&CStr>,
        ),
        StepKind::Devpts { options } => mount::mount(
            Some(c"devpts"),
            target,
            Some(c"devpts"),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some(options.as_c_str()),
        ),
        StepKind::ReadOnly => sys::mount_setattr(target, false, MOUNT_ATTR_RDONLY),
        StepKind::Overlay { options } => mount::mount(
            Some(c"overlay"),
            target,
            Some(c"overlay"),
            MsFlags::MS_NOSUID,
            Some(options.as_c_str()),
        ),
        StepKind::Contents { contents } => {
            let flags = OFlag::O_CREAT
                | OFlag::O_WRONLY
                | OFlag::O_TRUNC
                | OFlag::O_CLOEXEC
                | OFlag::O_NOFOLLOW;
            let file = fcntl::open(target, flags, Mode::from_bits_truncate(0o644))?;
            let mut rest = contents.as_slice();
            while !rest.is_empty() {
                match unistd::write(&file, rest) {
                    Ok(written) => rest = rest.get(written..).unwrap_or_default(),
                    Err(Errno::EINTR) => {}
                    Err(errno) => return Err(errno),
                }
            }
            Ok(())
        }
    }
}
