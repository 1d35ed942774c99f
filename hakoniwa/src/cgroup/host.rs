//! Where the sandbox's cgroup goes. Always beneath the caller's own cgroup
//! (read from `/proc/self/cgroup`), never elsewhere, tried in this order:
//!
//! 1. cgroup v2, when the caller's cgroup offers every controller the
//!    limits need and the caller may write it (root, or a subtree delegated
//!    to the user, as systemd's `Delegate=yes` gives);
//! 2. the cgroup v1 hierarchies of those controllers, when the caller may
//!    write its cgroup in each (root, on a hybrid or v1 host);
//! 3. else an error saying what was missing in each, and how to get it.

use std::fs;
use std::path::{Path, PathBuf};

use nix::unistd::{self, AccessFlags};

use super::plan::{CgroupPlan, Controller};
use super::CgroupVersion;
use crate::error::{Error, Result};

/// What a delegated cgroup is got with, for the error's hint.
pub(crate) const HINT: &str = "cgroup limits need a cgroup you may write: run as root on a host \
     with cgroup v1, or in a cgroup v2 subtree delegated to you, e.g. \
     systemd-run --user --scope -p Delegate=yes hakoniwa run ... (see docs/cgroups.md)";

/// A mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mount {
    pub point: PathBuf,
    /// The part of the hierarchy mounted there (`/` but in containers).
    pub root: String,
    /// The controllers of a v1 hierarchy; `None` for v2.
    pub v1_controllers: Option<Vec<String>>,
}

/// Where the sandbox's cgroup goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Its v2 directory, and the controllers to use in it.
    V2 {
        dir: PathBuf,
        controllers: Vec<Controller>,
    },
    /// Its directory in each v1 hierarchy used, with that hierarchy's
    /// controllers (two when co-mounted, as `cpu,cpuacct`).
    V1 {
        dirs: Vec<(Vec<Controller>, PathBuf)>,
    },
}

impl Placement {
    pub(crate) fn version(&self) -> CgroupVersion {
        match self {
            Placement::V2 { .. } => CgroupVersion::V2,
            Placement::V1 { .. } => CgroupVersion::V1,
        }
    }
}

/// The sandbox's directory in a hierarchy: `name` beneath the caller's
/// cgroup `base`, or the plan's path — absolute from the hierarchy's root
/// (`point`, as mounted here), relative from `base`.
fn target(plan: &CgroupPlan, point: &Path, base: &Path, name: &str) -> PathBuf {
    match &plan.path {
        None => base.join(name),
        Some(path) if path.is_absolute() => {
            point.join(path.strip_prefix("/").expect("an absolute path"))
        }
        Some(path) => base.join(path),
    }
}

/// The nearest directory above `dir` that exists: where it will be made,
/// and what must be writable for that.
pub(crate) fn existing_ancestor(dir: &Path) -> PathBuf {
    dir.ancestors()
        .skip(1)
        .find(|a| a.is_dir())
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// Finds where the sandbox's cgroup named `name` can go, for these limits.
pub(crate) fn find(plan: &CgroupPlan, name: &str) -> Result<Placement> {
    let read = |path: &str| fs::read_to_string(path).unwrap_or_default();
    let mounts = parse_mountinfo(&read("/proc/self/mountinfo"));
    let own = parse_own(&read("/proc/self/cgroup"));
    let required = plan.required();
    let writable = |path: &Path| unistd::access(path, AccessFlags::W_OK).is_ok();
    let uid = unistd::geteuid();
    // An explicit path must be new: its removal at the end kills what is
    // in it, and that must never be another's processes.
    let fresh = |dir: &Path| match dir.exists() {
        true => Err(Error::Cgroup {
            action: format!("create the cgroup {}", dir.display()),
            source: std::io::Error::from_raw_os_error(libc::EEXIST),
        }),
        false => Ok(()),
    };

    let v2 = mounts.iter().find(|m| m.v1_controllers.is_none());
    let v2_refusal = match v2.zip(v2_base(&mounts, &own)) {
        None => "no cgroup v2 hierarchy is mounted".to_string(),
        Some((mount, base)) => {
            let dir = target(plan, &mount.point, &base, name);
            let parent = existing_ancestor(&dir);
            let offered = fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
            let offered: Vec<&str> = offered.split_whitespace().collect();
            let missing: Vec<&str> = required
                .iter()
                .filter(|c| !c.v2_core())
                .map(|c| c.name())
                .filter(|name| !offered.contains(name))
                .collect();
            if !missing.is_empty() {
                format!(
                    "cgroup v2 {} does not offer {}",
                    parent.display(),
                    missing.join(", ")
                )
            } else if !writable(&parent) || !writable(&parent.join("cgroup.subtree_control")) {
                format!(
                    "cgroup v2 {} is not writable by uid {uid}",
                    parent.display()
                )
            } else {
                fresh(&dir)?;
                let controllers = required
                    .iter()
                    .chain(CgroupPlan::accounting(CgroupVersion::V2))
                    .copied()
                    .filter(|c| c.v2_core() || offered.contains(&c.name()))
                    .collect();
                return Ok(Placement::V2 {
                    dir,
                    controllers: dedup(controllers),
                });
            }
        }
    };

    let wanted = dedup(
        required
            .iter()
            .chain(CgroupPlan::accounting(CgroupVersion::V1))
            .copied()
            .collect(),
    );
    let mut dirs: Vec<(Vec<Controller>, PathBuf)> = Vec::new();
    let mut v1_refusal = None;
    for controller in wanted {
        let dir = v1_mount(&mounts, controller)
            .zip(v1_base(&mounts, &own, controller))
            .map(|(mount, base)| target(plan, &mount.point, &base, name));
        let parent = dir.as_deref().map(existing_ancestor);
        let usable = dir
            .as_ref()
            .filter(|_| parent.as_deref().is_some_and(writable));
        match (usable, required.contains(&controller)) {
            (Some(dir), _) => match dirs.iter_mut().find(|(_, d)| d == dir) {
                Some((controllers, _)) => controllers.push(controller),
                None => dirs.push((vec![controller], dir.clone())),
            },
            (None, false) => {}
            (None, true) if v1_refusal.is_none() => {
                v1_refusal = Some(match parent {
                    Some(parent) => {
                        format!(
                            "cgroup v1 {} is not writable by uid {uid}",
                            parent.display()
                        )
                    }
                    None => format!("cgroup v1 has no {} hierarchy", controller.name()),
                });
            }
            (None, true) => {}
        }
    }
    match v1_refusal {
        None if !dirs.is_empty() => {
            for (_, dir) in &dirs {
                fresh(dir)?;
            }
            Ok(Placement::V1 { dirs })
        }
        refusal => Err(Error::CgroupUnavailable {
            controllers: match required.is_empty() {
                true => "any controller".to_string(),
                false => names(&required),
            },
            reason: format!(
                "{v2_refusal}, and {}",
                refusal.unwrap_or_else(|| "cgroup v1 has none of them".to_string())
            ),
            hint: HINT,
        }),
    }
}

fn names(controllers: &[Controller]) -> String {
    let names: Vec<&str> = controllers.iter().map(|c| c.name()).collect();
    names.join(", ")
}

fn dedup(mut controllers: Vec<Controller>) -> Vec<Controller> {
    let mut seen = Vec::new();
    controllers.retain(|c| {
        let new = !seen.contains(c);
        seen.push(*c);
        new
    });
    controllers
}

/// The cgroup mounts of `/proc/self/mountinfo`.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let mut after = after.split(' ');
            let (fstype, _source, options) = (after.next()?, after.next()?, after.next()?);
            let (root, point) = (*fields.get(3)?, *fields.get(4)?);
            let v1_controllers = match fstype {
                "cgroup2" => None,
                "cgroup" => Some(options.split(',').map(str::to_string).collect()),
                _ => return None,
            };
            Some(Mount {
                point: PathBuf::from(unescape(point)),
                root: unescape(root),
                v1_controllers,
            })
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest
            .get(at + 1..at + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(byte) => {
                out.push(byte as char);
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `/proc/self/cgroup`: each hierarchy's controllers (empty for v2) and
/// the caller's cgroup in it.
pub(crate) fn parse_own(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let controllers = controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some((controllers, path.to_string()))
        })
        .collect()
}

/// The caller's cgroup as a directory of `mount`, if it is in the mounted
/// part of the hierarchy.
fn under(mount: &Mount, path: &str) -> Option<PathBuf> {
    let relative = match mount.root.as_str() {
        "/" => path,
        root => match path.strip_prefix(root)? {
            rest if rest.is_empty() || rest.starts_with('/') => rest,
            _ => return None,
        },
    };
    match relative.trim_start_matches('/') {
        "" => Some(mount.point.clone()),
        relative if relative.starts_with("..") => None,
        relative => Some(mount.point.join(relative)),
    }
}

/// The caller's v2 cgroup directory.
pub(crate) fn v2_base(mounts: &[Mount], own: &[(Vec<String>, String)]) -> Option<PathBuf> {
    let mount = mounts.iter().find(|m| m.v1_controllers.is_none())?;
    let (_, path) = own.iter().find(|(controllers, _)| controllers.is_empty())?;
    under(mount, path)
}

/// The v1 hierarchy of `controller`.
fn v1_mount(mounts: &[Mount], controller: Controller) -> Option<&Mount> {
    mounts.iter().find(|m| {
        m.v1_controllers
            .as_deref()
            .is_some_and(|list| list.iter().any(|c| c == controller.name()))
    })
}

/// The caller's cgroup directory in the v1 hierarchy of `controller`.
pub(crate) fn v1_base(
    mounts: &[Mount],
    own: &[(Vec<String>, String)],
    controller: Controller,
) -> Option<PathBuf> {
    let mount = v1_mount(mounts, controller)?;
    let (_, path) = own
        .iter()
        .find(|(controllers, _)| controllers.iter().any(|c| c == controller.name()))?;
    under(mount, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hybrid host these tests were written on.
    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/335d
1:cpu:/
2:cpuacct:/
0::/
";

    #[test]
    fn a_hybrid_host_has_each_controller_in_its_own_v1_hierarchy() {
        let mounts = parse_mountinfo(HYBRID_MOUNTINFO);
        let own = parse_own(HYBRID_CGROUP);
        assert_eq!(mounts.len(), 6);
        assert_eq!(
            v1_base(&mounts, &own, Controller::Memory),
            Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/335d"))
        );
        assert_eq!(
            v1_base(&mounts, &own, Controller::Pids),
            Some(PathBuf::from("/sys/fs/cgroup/pids"))
        );
        assert_eq!(
            v1_base(&mounts, &own, Controller::Cpuacct),
            Some(PathBuf::from("/sys/fs/cgroup/cpuacct"))
        );
        assert_eq!(
            v2_base(&mounts, &own),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn a_path_is_taken_from_the_hierarchys_root_or_the_callers_cgroup() {
        let plan = |path: Option<&str>| {
            let mut cgroup = crate::Cgroup::new();
            if let Some(path) = path {
                cgroup.path(path);
            }
            CgroupPlan::new(&cgroup).expect("a valid plan")
        };
        let point = Path::new("/sys/fs/cgroup/memory");
        let base = Path::new("/sys/fs/cgroup/memory/process_api/1");
        assert_eq!(
            target(&plan(None), point, base, "hakoniwa-7-0"),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/1/hakoniwa-7-0")
        );
        assert_eq!(
            target(&plan(Some("/kubepods/pod1/c1")), point, base, "unused"),
            PathBuf::from("/sys/fs/cgroup/memory/kubepods/pod1/c1")
        );
        assert_eq!(
            target(&plan(Some("box/c1")), point, base, "unused"),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/1/box/c1")
        );
        assert_eq!(
            existing_ancestor(Path::new("/proc/self/no/such/cgroup")),
            PathBuf::from("/proc/self")
        );
    }

    #[test]
    fn a_v2_host_gives_the_callers_own_cgroup() {
        let mounts = parse_mountinfo(
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        );
        let own =
            parse_own("0::/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope\n");
        assert_eq!(
            v2_base(&mounts, &own),
            Some(PathBuf::from(
                "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope"
            ))
        );
        assert_eq!(v1_base(&mounts, &own, Controller::Memory), None);
    }

    #[test]
    fn co_mounted_and_partly_mounted_hierarchies_resolve_inside_the_mount() {
        let mounts = parse_mountinfo(
            "40 31 0:40 /docker/abc /sys/fs/cgroup/cpu\\040acct rw - cgroup cgroup rw,cpu,cpuacct\n",
        );
        let own = parse_own("3:cpu,cpuacct:/docker/abc/inner\n");
        let expected = Some(PathBuf::from("/sys/fs/cgroup/cpu acct/inner"));
        assert_eq!(v1_base(&mounts, &own, Controller::Cpu), expected);
        assert_eq!(v1_base(&mounts, &own, Controller::Cpuacct), expected);
        let outside = parse_own("3:cpu,cpuacct:/other\n");
        assert_eq!(v1_base(&mounts, &outside, Controller::Cpu), None);
    }
}
