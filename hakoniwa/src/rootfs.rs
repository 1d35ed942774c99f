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
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{self, OFlag};
use nix::mount::{self, MntFlags, MsFlags};
use nix::sys::stat::{self, Mode};
use nix::unistd;

use crate::metrics::write_decimal;
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
    // Steps inside the root resolve their paths from it. It is opened once
    // and again only after a step on the root itself (an overlay on `/`),
    // which stacks a new mount there.
    let mut resolve_from: Option<OwnedFd> = None;
    for (index, step) in steps.iter().enumerate() {
        let failed = |errno| (Stage::MountStep, index, errno);
        if step.inside.is_none() {
            resolve_from = None;
        } else if resolve_from.is_none() {
            resolve_from = Some(open_root().map_err(failed)?);
        }
        apply(step, resolve_from.as_ref()).map_err(failed)?;
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
        sys::mount_setattr_fd(root, false, MOUNT_ATTR_RDONLY).map_err(at(Stage::RootReadOnly))?;
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

/// Where a step acts: a plain path of the staging tmpfs, or a path inside
/// the sandbox's root, opened with the root as its root.
enum At<'a> {
    Staging(&'a CStr),
    Inside(OwnedFd),
}

/// Holds `/oldroot/proc/self/fd/N`: the path that names an open
/// descriptor, for the system calls that take only paths (`mount`,
/// overlayfs's `lowerdir`). Formatted without allocating.
struct FdPath {
    buf: [u8; 48],
}

impl FdPath {
    const PREFIX: &'static [u8] = b"/oldroot/proc/self/fd/";

    fn new(fd: &OwnedFd) -> Self {
        let mut buf = [0u8; 48];
        buf[..Self::PREFIX.len()].copy_from_slice(Self::PREFIX);
        write_decimal(
            &mut buf[Self::PREFIX.len()..],
            fd.as_raw_fd().unsigned_abs(),
        );
        Self { buf }
    }

    fn as_c_str(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"/")
    }
}

/// The sandbox's root, opened afresh: a mount stacked on it since the last
/// step is then the one resolution starts from.
fn open_root() -> Result<OwnedFd, Errno> {
    fcntl::open(
        c"/newroot",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Opens `path` (relative to `root`) with `root` as its root.
fn open_inside(root: &OwnedFd, path: &CStr, directory: bool) -> Result<OwnedFd, Errno> {
    let mut flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    if directory {
        flags |= OFlag::O_DIRECTORY;
    }
    sys::open_in_root(root, path, flags)
}

/// Runs one step; `root` is the sandbox's root for a step inside it.
fn apply(step: &Step, root: Option<&OwnedFd>) -> Result<(), Errno> {
    match (&step.kind, step.inside.as_ref().zip(root)) {
        // Entries are made in their parent directory, found inside the root.
        (
            StepKind::Dir { .. }
            | StepKind::File
            | StepKind::Symlink { .. }
            | StepKind::Contents { .. }
            | StepKind::Sysctl { .. },
            Some((inside, root)),
        ) => {
            let parent = open_inside(root, &inside.parent, true)?;
            make_entry(&step.kind, Some(&parent), &inside.name)
        }
        (
            StepKind::Dir { .. }
            | StepKind::File
            | StepKind::Symlink { .. }
            | StepKind::Contents { .. },
            None,
        ) => make_entry(&step.kind, None, &step.target),
        // What may not exist on this kernel is skipped.
        (StepKind::Mask | StepKind::ReadOnlyInPlace, Some((inside, root))) => {
            match open_inside(root, &inside.path, false) {
                Err(Errno::ENOENT) => Ok(()),
                Err(errno) => Err(errno),
                Ok(fd) => mount_at(&step.kind, At::Inside(fd), || {
                    open_inside(root, &inside.path, false)
                }),
            }
        }
        (_, Some((inside, root))) => mount_at(
            &step.kind,
            At::Inside(open_inside(root, &inside.path, false)?),
            || open_inside(root, &inside.path, false),
        ),
        (_, None) => mount_at(&step.kind, At::Staging(&step.target), || {
            fcntl::open(
                step.target.as_c_str(),
                OFlag::O_PATH | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
        }),
    }
}

/// Creates a directory, file or link named `name` in `parent` (or at the
/// plain path `name` when there is no parent descriptor).
fn make_entry(kind: &StepKind, parent: Option<&OwnedFd>, name: &CStr) -> Result<(), Errno> {
    let dirfd = parent.map(|fd| fd.as_fd());
    let at = dirfd.unwrap_or(fcntl::AT_FDCWD);
    match kind {
        StepKind::Dir { mode } => match stat::mkdirat(at, name, Mode::from_bits_truncate(*mode)) {
            Err(Errno::EEXIST) => Ok(()),
            other => other,
        },
        StepKind::File => {
            let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
            fcntl::openat(at, name, flags, Mode::from_bits_truncate(0o644)).map(drop)
        }
        StepKind::Symlink { original } => unistd::symlinkat(original.as_c_str(), at, name),
        StepKind::Contents { contents } => {
            let flags = OFlag::O_CREAT
                | OFlag::O_WRONLY
                | OFlag::O_TRUNC
                | OFlag::O_CLOEXEC
                | OFlag::O_NOFOLLOW;
            let file = fcntl::openat(at, name, flags, Mode::from_bits_truncate(0o644))?;
            write_all(&file, contents)
        }
        // An entry of /proc/sys, which exists or is not a parameter here.
        StepKind::Sysctl { value } => {
            let flags = OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
            let file = fcntl::openat(at, name, flags, Mode::empty())?;
            write_all(&file, value)
        }
        _ => Err(Errno::EINVAL),
    }
}

fn write_all(file: &OwnedFd, bytes: &[u8]) -> Result<(), Errno> {
    let mut rest = bytes;
    while !rest.is_empty() {
        match unistd::write(file, rest) {
            Ok(written) => rest = rest.get(written..).unwrap_or_default(),
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}

/// Mounts what `kind` says at `at`; `reopen` finds the new mount afterwards
/// (for attributes set on it).
fn mount_at(
    kind: &StepKind,
    at: At,
    reopen: impl Fn() -> Result<OwnedFd, Errno>,
) -> Result<(), Errno> {
    let fd_path;
    let target: &CStr = match &at {
        At::Staging(path) => path,
        At::Inside(fd) => {
            fd_path = FdPath::new(fd);
            fd_path.as_c_str()
        }
    };
    let fs = |fstype: &CStr, flags: MsFlags, data: Option<&CStr>| {
        mount::mount(Some(fstype), target, Some(fstype), flags, data)
    };
    match kind {
        StepKind::Bind { source, attrs } => {
            mount::mount(
                Some(source.as_c_str()),
                target,
                None::<&CStr>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&CStr>,
            )?;
            sys::mount_setattr_fd(&reopen()?, true, *attrs)
        }
        StepKind::Tmpfs { flags, options } => fs(c"tmpfs", *flags, Some(options)),
        StepKind::Proc => fs(
            c"proc",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        ),
        StepKind::Mqueue => fs(
            c"mqueue",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        ),
        StepKind::Devpts { options } => fs(
            c"devpts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some(options),
        ),
        StepKind::ReadOnly => sys::mount_setattr_fd(&reopen()?, false, MOUNT_ATTR_RDONLY),
        StepKind::Mask => {
            let is_dir = match &at {
                At::Inside(fd) => stat::fstat(fd)?.st_mode & libc::S_IFMT == libc::S_IFDIR,
                At::Staging(_) => return Err(Errno::EINVAL),
            };
            if is_dir {
                fs(
                    c"tmpfs",
                    MsFlags::MS_RDONLY
                        | MsFlags::MS_NOSUID
                        | MsFlags::MS_NODEV
                        | MsFlags::MS_NOEXEC,
                    Some(c"size=0,mode=0555"),
                )
            } else {
                mount::mount(
                    Some(c"/oldroot/dev/null"),
                    target,
                    None::<&CStr>,
                    MsFlags::MS_BIND,
                    None::<&CStr>,
                )
            }
        }
        StepKind::ReadOnlyInPlace => {
            mount::mount(
                Some(target),
                target,
                None::<&CStr>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&CStr>,
            )?;
            sys::mount_setattr_fd(&reopen()?, true, MOUNT_ATTR_RDONLY)
        }
        StepKind::Overlay { lower, rest } => {
            // The lower layer inside the root is named by its descriptor.
            let lower: &[u8] = match (lower, &at) {
                (Some(lower), _) => lower.to_bytes(),
                // What is at the target: inside the root by its descriptor,
                // the root itself by its staging path.
                (None, _) => target.to_bytes(),
            };
            let mut options = [0u8; 4096];
            let parts: [&[u8]; 4] = [b"lowerdir=", lower, b",", rest.to_bytes()];
            let mut length = 0;
            for part in parts {
                let end = length + part.len();
                // Keep room for the terminating NUL.
                let slot = options.get_mut(length..end).filter(|_| end < 4096);
                slot.ok_or(Errno::ENAMETOOLONG)?.copy_from_slice(part);
                length = end;
            }
            let options = CStr::from_bytes_until_nul(&options).map_err(|_| Errno::EINVAL)?;
            fs(c"overlay", MsFlags::MS_NOSUID, Some(options))
        }
        _ => Err(Errno::EINVAL),
    }
}
