//! User-namespace id maps: what the caller writes to `/proc/PID/uid_map`,
//! `setgroups` and `gid_map` of the sandbox's init, before the child goes on
//! (nothing inside may create a file or mount before its ids are mapped).

use std::fs;

use nix::unistd::Pid;

use crate::container::IdMap;
use crate::error::{Error, Result};

/// The maps of one sandbox, formatted.
#[derive(Debug)]
pub(crate) struct IdMapPlan {
    uid_map: String,
    gid_map: String,
    /// An unprivileged caller may write a gid map only after denying
    /// `setgroups(2)` in the namespace (user_namespaces(7), CVE-2014-8989).
    deny_setgroups: bool,
}

impl IdMapPlan {
    /// Formats the maps; an empty list maps the caller to itself.
    pub(crate) fn new(uidmaps: &[IdMap], gidmaps: &[IdMap]) -> Self {
        let identity = |id| {
            vec![IdMap {
                container_id: id,
                host_id: id,
                count: 1,
            }]
        };
        let uidmaps = match uidmaps {
            [] => identity(nix::unistd::getuid().as_raw()),
            maps => maps.to_vec(),
        };
        let gidmaps = match gidmaps {
            [] => identity(nix::unistd::getgid().as_raw()),
            maps => maps.to_vec(),
        };
        Self {
            uid_map: format_map(&uidmaps),
            gid_map: format_map(&gidmaps),
            deny_setgroups: !nix::unistd::geteuid().is_root(),
        }
    }

    /// Parent side: writes the maps of `pid`'s user namespace.
    pub(crate) fn write(&self, pid: Pid) -> Result<()> {
        let write = |name: &str, content: &str| {
            let file = format!("/proc/{pid}/{name}");
            fs::write(&file, content).map_err(|source| Error::IdMap {
                file,
                map: content.trim_end().to_string(),
                source,
            })
        };
        write("uid_map", &self.uid_map)?;
        if self.deny_setgroups {
            write("setgroups", "deny")?;
        }
        write("gid_map", &self.gid_map)
    }
}

impl std::fmt::Display for IdMapPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = |map: &str| map.trim_end().replace('\n', ", ");
        write!(
            f,
            "uid map: {}; gid map: {}",
            line(&self.uid_map),
            line(&self.gid_map)
        )?;
        if self.deny_setgroups {
            f.write_str("; setgroups denied")?;
        }
        Ok(())
    }
}

fn format_map(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|map| format!("{} {} {}\n", map.container_id, map.host_id, map.count))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_one_line_per_range() {
        let maps = [
            IdMap {
                container_id: 0,
                host_id: 1000,
                count: 1,
            },
            IdMap {
                container_id: 1,
                host_id: 100000,
                count: 65536,
            },
        ];
        assert_eq!(format_map(&maps), "0 1000 1\n1 100000 65536\n");
    }

    #[test]
    fn no_map_means_the_caller_as_itself() {
        let plan = IdMapPlan::new(&[], &[]);
        let uid = nix::unistd::getuid().as_raw();
        assert_eq!(plan.uid_map, format!("{uid} {uid} 1\n"));
    }
}
