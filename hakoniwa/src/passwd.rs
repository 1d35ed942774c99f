//! `--user NAME[:GROUP[:SUPP,...]]`: names resolved in the sandbox's own
//! `/etc/passwd` and `/etc/group` — the files the program will see, found on
//! the host through the mounts that will put them there — before fork.

use std::fs;
use std::path::Path;

use nix::unistd::{Gid, Uid};

use crate::container::{Mount, UserSpec};
use crate::error::{Error, Result};
use crate::idmap::{IdMapPlan, Switch};
use crate::plan::layering::host_path;

/// One line of `/etc/passwd`: name, uid, primary gid.
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

/// One line of `/etc/group`: name, gid, members.
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves `spec` against the sandbox's files, and checks every id is
/// mapped by `maps` (without a user namespace, ids are the host's).
pub(crate) fn resolve(
    spec: &UserSpec,
    mounts: &[Mount],
    rootdir: Option<&Path>,
    maps: Option<&IdMapPlan>,
) -> Result<Switch> {
    let shown = display(spec);
    let invalid = |reason: String| Error::User {
        spec: shown.clone(),
        reason,
    };
    let passwd = read_entries(mounts, rootdir, "/etc/passwd", parse_passwd);
    let groups = read_entries(mounts, rootdir, "/etc/group", parse_group);

    let (uid, user_name, primary) = match spec.user.parse::<u32>() {
        Ok(uid) => {
            let entry = passwd.iter().find(|entry| entry.uid == uid);
            (uid, entry.map(|e| e.name.clone()), entry.map(|e| e.gid))
        }
        Err(_) => {
            let entry = passwd
                .iter()
                .find(|entry| entry.name == spec.user)
                .ok_or_else(|| {
                    invalid(format!(
                        "no user {} in the sandbox's /etc/passwd",
                        spec.user
                    ))
                })?;
            (entry.uid, Some(entry.name.clone()), Some(entry.gid))
        }
    };
    let gid = match &spec.group {
        Some(group) => group_id(group, &groups).map_err(&invalid)?,
        None => primary.ok_or_else(|| {
            invalid(format!(
                "uid {uid} has no entry in the sandbox's /etc/passwd: give its group too (USER:GROUP)"
            ))
        })?,
    };
    let supplementary: Vec<u32> = if spec.supplementary.is_empty() {
        // The user's own groups, as login would give them — those the
        // sandbox maps: a group it cannot see grants nothing inside.
        match &user_name {
            Some(name) => groups
                .iter()
                .filter(|group| group.members.contains(name) && group.gid != gid)
                .map(|group| group.gid)
                .filter(|&group| maps.is_none_or(|maps| maps.maps_gid(group)))
                .collect(),
            None => Vec::new(),
        }
    } else {
        spec.supplementary
            .iter()
            .map(|group| group_id(group, &groups))
            .collect::<std::result::Result<_, _>>()
            .map_err(&invalid)?
    };

    if let Some(maps) = maps {
        if !maps.maps_uid(uid) {
            return Err(invalid(format!(
                "uid {uid} is not mapped in the sandbox (see --uidmap)"
            )));
        }
        for id in std::iter::once(gid).chain(supplementary.iter().copied()) {
            if !maps.maps_gid(id) {
                return Err(invalid(format!(
                    "gid {id} is not mapped in the sandbox (see --gidmap)"
                )));
            }
        }
    }
    let setgroups_allowed = match maps {
        Some(maps) => maps.setgroups_allowed(),
        None => nix::unistd::geteuid().is_root(),
    };
    let groups = if setgroups_allowed {
        Some(supplementary.into_iter().map(Gid::from_raw).collect())
    } else if spec.supplementary.is_empty() {
        // Nothing was asked for explicitly; the namespace keeps the groups.
        None
    } else {
        return Err(invalid(
            "supplementary groups need setgroups, which an unprivileged gid map denies: \
             map groups with newgidmap (--gidmap with subordinate ids, or --userns=auto)"
                .into(),
        ));
    };
    Ok(Switch {
        uid: Uid::from_raw(uid),
        gid: Gid::from_raw(gid),
        groups,
    })
}

fn display(spec: &UserSpec) -> String {
    let mut shown = spec.user.clone();
    if spec.group.is_some() || !spec.supplementary.is_empty() {
        shown.push(':');
        shown.push_str(spec.group.as_deref().unwrap_or(""));
    }
    if !spec.supplementary.is_empty() {
        shown.push(':');
        shown.push_str(&spec.supplementary.join(","));
    }
    shown
}

fn group_id(group: &str, groups: &[GroupEntry]) -> std::result::Result<u32, String> {
    if let Ok(gid) = group.parse() {
        return Ok(gid);
    }
    groups
        .iter()
        .find(|entry| entry.name == group)
        .map(|entry| entry.gid)
        .ok_or_else(|| format!("no group {group} in the sandbox's /etc/group"))
}

/// The entries of a file of the sandbox; none when the sandbox does not
/// have it.
fn read_entries<T>(
    mounts: &[Mount],
    rootdir: Option<&Path>,
    path: &str,
    parse: fn(&str) -> Option<T>,
) -> Vec<T> {
    host_path(mounts, rootdir, Path::new(path))
        .and_then(|file| fs::read_to_string(file).ok())
        .map(|text| text.lines().filter_map(parse).collect())
        .unwrap_or_default()
}

fn parse_passwd(line: &str) -> Option<PasswdEntry> {
    let mut fields = line.split(':');
    let name = fields.next()?.to_string();
    let _password = fields.next()?;
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    Some(PasswdEntry { name, uid, gid })
}

fn parse_group(line: &str) -> Option<GroupEntry> {
    let mut fields = line.split(':');
    let name = fields.next()?.to_string();
    let _password = fields.next()?;
    let gid = fields.next()?.parse().ok()?;
    let members = fields
        .next()
        .unwrap_or("")
        .split(',')
        .filter(|member| !member.is_empty())
        .map(str::to_string)
        .collect();
    Some(GroupEntry { name, gid, members })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_and_group_lines_parse() {
        let user = parse_passwd("alice:x:1000:1001:Alice:/home/alice:/bin/sh").unwrap();
        assert_eq!(
            (user.name.as_str(), user.uid, user.gid),
            ("alice", 1000, 1001)
        );
        let group = parse_group("wheel:x:10:alice,bob").unwrap();
        assert_eq!((group.gid, group.members.len()), (10, 2));
        assert!(parse_passwd("broken").is_none());
        assert!(parse_group("nogid:x:").is_none());
    }
}
