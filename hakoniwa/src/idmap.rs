//! Identity: the user namespace's id maps and the ids the program runs as.
//!
//! Both halves live here. The caller writes the maps of the sandbox's init
//! (`/proc/PID/uid_map`, `setgroups`, `gid_map`), directly or through the
//! setuid helpers `newuidmap`/`newgidmap` for subordinate ranges, before
//! the child goes on (nothing inside may create a file or mount before its
//! ids are mapped). The program switches to its user last, in `switch`.
//!
//! The maps need not hold the caller's own ids (root mapping `0:100000:65536`,
//! as container engines do to keep a container's root off the host's).
//! Init, which starts as the caller, then holds ids the namespace cannot
//! show: every file it created would fail with `EOVERFLOW`. So once the
//! maps are written it becomes a mapped user (see [`IdMapPlan::init_ids`]),
//! with the same `switch` — it holds every capability of the namespace.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::sys::prctl;
use nix::unistd::{self, Gid, Pid, Uid};

use crate::container::IdMap;
use crate::error::{Error, Result};

/// The setuid helpers, as shipped by the `uidmap` package.
const NEWUIDMAP: &str = "newuidmap";
const NEWGIDMAP: &str = "newgidmap";

/// Where the helpers are looked for when `PATH` does not have them.
const HELPER_DIRS: [&str; 4] = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/// Which ids a map is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Uid,
    Gid,
}

impl Kind {
    fn map_file(self) -> &'static str {
        match self {
            Kind::Uid => "uid_map",
            Kind::Gid => "gid_map",
        }
    }

    fn helper(self) -> &'static str {
        match self {
            Kind::Uid => NEWUIDMAP,
            Kind::Gid => NEWGIDMAP,
        }
    }

    fn subordinate_file(self) -> &'static str {
        match self {
            Kind::Uid => "/etc/subuid",
            Kind::Gid => "/etc/subgid",
        }
    }

    fn caller(self) -> u32 {
        match self {
            Kind::Uid => unistd::getuid().as_raw(),
            Kind::Gid => unistd::getgid().as_raw(),
        }
    }
}

/// How one map gets written.
#[derive(Debug)]
enum Writer {
    /// By the caller itself: it is root, or maps only its own id.
    Direct,
    /// By `newuidmap`/`newgidmap`, found at this path.
    Helper(PathBuf),
}

/// One map, checked, and how to write it.
#[derive(Debug)]
struct MapPlan {
    kind: Kind,
    maps: Vec<IdMap>,
    writer: Writer,
}

/// The maps of one sandbox, checked.
#[derive(Debug)]
pub(crate) struct IdMapPlan {
    uid: MapPlan,
    gid: MapPlan,
}

impl IdMapPlan {
    /// Checks the maps (an empty list maps the caller to itself) and decides
    /// how each is written.
    pub(crate) fn new(uidmaps: &[IdMap], gidmaps: &[IdMap]) -> Result<Self> {
        Ok(Self {
            uid: MapPlan::new(Kind::Uid, uidmaps)?,
            gid: MapPlan::new(Kind::Gid, gidmaps)?,
        })
    }

    /// An unprivileged caller may write a gid map itself only after denying
    /// `setgroups(2)` in the namespace (user_namespaces(7), CVE-2014-8989);
    /// `newgidmap` and root need not.
    pub(crate) fn setgroups_allowed(&self) -> bool {
        unistd::geteuid().is_root() || matches!(self.gid.writer, Writer::Helper(_))
    }

    /// The uid inside that init runs as, and the program unless it
    /// switches to another user.
    pub(crate) fn init_uid(&self) -> u32 {
        self.uid.init_id()
    }

    /// The ids init switches to once the maps are written, when the maps
    /// leave the caller's uid or gid out; `None` when init stays who the
    /// caller is. It drops the caller's supplementary groups (host groups
    /// the namespace does not map, whose access would leak into the
    /// sandbox) where `setgroups` is allowed, which it always is for a
    /// caller that may map ids other than its own.
    pub(crate) fn init_ids(&self) -> Option<Switch> {
        if self.uid.maps_caller() && self.gid.maps_caller() {
            return None;
        }
        Some(Switch {
            uid: Uid::from_raw(self.uid.init_id()),
            gid: Gid::from_raw(self.gid.init_id()),
            groups: self.setgroups_allowed().then(Vec::new),
        })
    }

    /// The host uid and gid init builds the sandbox as, when the maps
    /// leave the caller out.
    pub(crate) fn init_host_ids(&self) -> Option<(u32, u32)> {
        let ids = self.init_ids()?;
        let host = |plan: &MapPlan, id: u32| {
            plan.maps
                .iter()
                .find(|map| map.holds(id))
                .map(|map| map.host_id + (id - map.container_id))
        };
        Some((
            host(&self.uid, ids.uid.as_raw())?,
            host(&self.gid, ids.gid.as_raw())?,
        ))
    }

    /// Whether the uid inside is mapped.
    pub(crate) fn maps_uid(&self, uid: u32) -> bool {
        self.uid.maps.iter().any(|map| map.holds(uid))
    }

    /// Whether the gid inside is mapped.
    pub(crate) fn maps_gid(&self, gid: u32) -> bool {
        self.gid.maps.iter().any(|map| map.holds(gid))
    }

    /// Parent side: writes the maps of `pid`'s user namespace.
    pub(crate) fn write(&self, pid: Pid) -> Result<()> {
        self.uid.write(pid)?;
        if !self.setgroups_allowed() {
            write_proc(pid, "setgroups", "deny")?;
        }
        self.gid.write(pid)
    }
}

impl MapPlan {
    fn new(kind: Kind, maps: &[IdMap]) -> Result<Self> {
        let caller = kind.caller();
        let maps = match maps {
            [] => vec![IdMap::from((caller, caller, 1))],
            maps => maps.to_vec(),
        };
        let invalid = |reason: String| Error::InvalidIdMap {
            kind: kind.map_file(),
            map: format_map(&maps).trim_end().replace('\n', ", "),
            reason,
        };
        for (i, a) in maps.iter().enumerate() {
            if a.count == 0 {
                return Err(invalid(format!(
                    "range {} {} 0 is empty",
                    a.container_id, a.host_id
                )));
            }
            if a.container_id.checked_add(a.count - 1).is_none()
                || a.host_id.checked_add(a.count - 1).is_none()
            {
                return Err(invalid("a range goes past the largest id".into()));
            }
            for b in &maps[i + 1..] {
                let overlap = |x: u32, y: u32| x < y + b.count && y < x + a.count;
                if overlap(a.container_id, b.container_id) || overlap(a.host_id, b.host_id) {
                    return Err(invalid("two ranges overlap".into()));
                }
            }
        }
        let only_self = matches!(maps.as_slice(), [map] if map.host_id == caller && map.count == 1);
        let writer = if only_self || unistd::geteuid().is_root() {
            Writer::Direct
        } else {
            check_subordinate(kind, &maps)?;
            Writer::Helper(find_helper(kind.helper())?)
        };
        Ok(Self { kind, maps, writer })
    }

    fn maps_caller(&self) -> bool {
        caller_inside(self.kind, &self.maps).is_some()
    }

    fn init_id(&self) -> u32 {
        init_id(self.kind, &self.maps)
    }

    fn write(&self, pid: Pid) -> Result<()> {
        match &self.writer {
            Writer::Direct => write_proc(pid, self.kind.map_file(), &format_map(&self.maps)),
            Writer::Helper(helper) => run_helper(helper, self.kind, pid, &self.maps),
        }
    }
}

/// The id inside that the caller's id maps to, if `maps` hold it.
fn caller_inside(kind: Kind, maps: &[IdMap]) -> Option<u32> {
    let caller = kind.caller();
    maps.iter().find_map(|map| map.to_container(caller))
}

/// The id init has inside: the caller's, as mapped; else 0, the
/// namespace's root, as container engines run there; else the lowest
/// mapped id.
fn init_id(kind: Kind, maps: &[IdMap]) -> u32 {
    let lowest = || maps.iter().map(|map| map.container_id).min();
    caller_inside(kind, maps)
        .or_else(|| maps.iter().any(|map| map.holds(0)).then_some(0))
        .or_else(lowest)
        .unwrap_or(0)
}

/// What init becomes when it joins the user namespace of process `pid`
/// (`Container::enter`) whose maps leave the caller out: the same rule as
/// for a new one ([`IdMapPlan::init_ids`]), with the maps read from
/// `/proc/PID/uid_map` and `gid_map` (as the caller's namespace sees them),
/// and the supplementary groups dropped where that namespace allows
/// `setgroups`.
pub(crate) fn entered_init_ids(pid: u32) -> Result<Option<Switch>> {
    let read = |name: &str| {
        let file = format!("/proc/{pid}/{name}");
        fs::read_to_string(&file).map_err(|source| Error::IdMap {
            file,
            map: String::new(),
            source,
        })
    };
    let uids = parse_proc_map(&read("uid_map")?);
    let gids = parse_proc_map(&read("gid_map")?);
    if caller_inside(Kind::Uid, &uids).is_some() && caller_inside(Kind::Gid, &gids).is_some() {
        return Ok(None);
    }
    let setgroups_allowed = read("setgroups")?.trim() == "allow";
    Ok(Some(Switch {
        uid: Uid::from_raw(init_id(Kind::Uid, &uids)),
        gid: Gid::from_raw(init_id(Kind::Gid, &gids)),
        groups: setgroups_allowed.then(Vec::new),
    }))
}

/// The ranges of a `/proc/PID/uid_map` or `gid_map`: `inside outside count`
/// a line.
fn parse_proc_map(text: &str) -> Vec<IdMap> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().map(str::parse::<u32>);
            let (Some(Ok(inside)), Some(Ok(outside)), Some(Ok(count))) =
                (fields.next(), fields.next(), fields.next())
            else {
                return None;
            };
            Some(IdMap::from((inside, outside, count)))
        })
        .collect()
}

fn write_proc(pid: Pid, name: &str, content: &str) -> Result<()> {
    let file = format!("/proc/{pid}/{name}");
    fs::write(&file, content).map_err(|source| Error::IdMap {
        file,
        map: content.trim_end().replace('\n', ", "),
        source,
    })
}

fn run_helper(helper: &Path, kind: Kind, pid: Pid, maps: &[IdMap]) -> Result<()> {
    let mut command = Command::new(helper);
    command.arg(pid.to_string());
    for map in maps {
        command.args([map.container_id, map.host_id, map.count].map(|n| n.to_string()));
    }
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| Error::IdMapHelper {
            helper: helper.display().to_string(),
            message: source.to_string(),
            hint: None,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
    Err(Error::IdMapHelper {
        helper: helper.display().to_string(),
        message: if message.is_empty() {
            output.status.to_string()
        } else {
            message
        },
        hint: Some(subordinate_hint(kind)),
    })
}

fn find_helper(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(HELPER_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| Error::IdMapHelper {
            helper: name.to_string(),
            message: "not installed".to_string(),
            hint: Some(format!(
                "mapping more than your own id needs {name}: install the uidmap package \
                 (apt install uidmap, dnf install shadow-utils)"
            )),
        })
}

/// Checks, before any process exists, that every host range but the
/// caller's own id lies in the caller's subordinate ranges.
fn check_subordinate(kind: Kind, maps: &[IdMap]) -> Result<()> {
    let caller = kind.caller();
    let ranges = subordinate_ranges(kind)?;
    for map in maps {
        if map.host_id == caller && map.count == 1 {
            continue;
        }
        let end = u64::from(map.host_id) + u64::from(map.count);
        let allowed = ranges.iter().any(|&(start, count)| {
            u64::from(start) <= u64::from(map.host_id) && end <= u64::from(start) + u64::from(count)
        });
        if !allowed {
            return Err(Error::SubordinateIds {
                file: kind.subordinate_file(),
                user: caller_name(),
                range: format!("{}-{}", map.host_id, end - 1),
                hint: subordinate_hint(kind),
            });
        }
    }
    Ok(())
}

fn subordinate_hint(kind: Kind) -> String {
    let flag = match kind {
        Kind::Uid => "--add-subuids",
        Kind::Gid => "--add-subgids",
    };
    format!(
        "ranges beyond your own id come from {}: as root, `usermod {flag} 100000-165535 {}`",
        kind.subordinate_file(),
        caller_name()
    )
}

/// The caller's ranges in `/etc/subuid` or `/etc/subgid`, as `(start,
/// count)`; entries name the user or its uid.
fn subordinate_ranges(kind: Kind) -> Result<Vec<(u32, u32)>> {
    let file = kind.subordinate_file();
    let text = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(Error::IdMap {
                file: file.to_string(),
                map: String::new(),
                source,
            })
        }
    };
    let name = caller_name();
    let uid = unistd::getuid().as_raw().to_string();
    Ok(parse_subordinate(&text, &[&name, &uid]))
}

fn parse_subordinate(text: &str, owners: &[&str]) -> Vec<(u32, u32)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let owner = fields.next()?;
            let start = fields.next()?.parse().ok()?;
            let count = fields.next()?.parse().ok()?;
            owners.contains(&owner).then_some((start, count))
        })
        .collect()
}

fn caller_name() -> String {
    unistd::User::from_uid(unistd::getuid())
        .ok()
        .flatten()
        .map(|user| user.name)
        .unwrap_or_else(|| unistd::getuid().to_string())
}

/// `--userns=auto`: the caller as 0, then each subordinate range.
pub(crate) fn auto_maps() -> Result<(Vec<IdMap>, Vec<IdMap>)> {
    let maps = |kind: Kind| -> Result<Vec<IdMap>> {
        let ranges = subordinate_ranges(kind)?;
        if ranges.is_empty() {
            return Err(Error::SubordinateIds {
                file: kind.subordinate_file(),
                user: caller_name(),
                range: "any".into(),
                hint: subordinate_hint(kind),
            });
        }
        let mut maps = vec![IdMap::from((0, kind.caller(), 1))];
        let mut next = 1u32;
        for (start, count) in ranges {
            maps.push(IdMap::from((next, start, count)));
            next = next.saturating_add(count);
        }
        Ok(maps)
    };
    Ok((maps(Kind::Uid)?, maps(Kind::Gid)?))
}

fn format_map(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|map| format!("{} {} {}\n", map.container_id, map.host_id, map.count))
        .collect()
}

impl std::fmt::Display for IdMapPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = |plan: &MapPlan| {
            let via = match &plan.writer {
                Writer::Direct => String::new(),
                Writer::Helper(helper) => format!(" (via {})", helper.display()),
            };
            format!(
                "{}{via}",
                format_map(&plan.maps).trim_end().replace('\n', ", ")
            )
        };
        write!(
            f,
            "uid map: {}; gid map: {}",
            line(&self.uid),
            line(&self.gid)
        )?;
        if !self.setgroups_allowed() {
            f.write_str("; setgroups denied")?;
        }
        Ok(())
    }
}

/// The ids the program switches to, resolved before fork.
#[derive(Debug)]
pub(crate) struct Switch {
    pub uid: Uid,
    pub gid: Gid,
    /// Supplementary groups; `None` leaves them as they are (when the
    /// namespace denies `setgroups`).
    pub groups: Option<Vec<Gid>>,
}

/// Program side: becomes the planned user, keeping the permitted
/// capabilities so that `caps` can still grant what was asked. System calls
/// only.
pub(crate) fn switch(ids: &Switch) -> Result<(), Errno> {
    prctl::set_keepcaps(true)?;
    if let Some(groups) = &ids.groups {
        unistd::setgroups(groups)?;
    }
    unistd::setresgid(ids.gid, ids.gid, ids.gid)?;
    unistd::setresuid(ids.uid, ids.uid, ids.uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_one_line_per_range() {
        let maps = [IdMap::from((0, 1000, 1)), IdMap::from((1, 100000, 65536))];
        assert_eq!(format_map(&maps), "0 1000 1\n1 100000 65536\n");
    }

    #[test]
    fn no_map_means_the_caller_as_itself() {
        let plan = IdMapPlan::new(&[], &[]).unwrap();
        let uid = unistd::getuid().as_raw();
        assert_eq!(plan.init_uid(), uid);
        assert!(plan.init_ids().is_none());
        assert_eq!(format_map(&plan.uid.maps), format!("{uid} {uid} 1\n"));
    }

    #[test]
    fn overlapping_empty_and_too_long_ranges_are_refused() {
        let uid = unistd::getuid().as_raw();
        let bad = [
            vec![IdMap::from((0, uid, 1)), IdMap::from((0, 200000, 10))],
            vec![IdMap::from((0, uid, 0))],
            vec![IdMap::from((u32::MAX, uid, 2))],
        ];
        for maps in bad {
            let err = MapPlan::new(Kind::Uid, &maps).unwrap_err();
            assert!(matches!(err, Error::InvalidIdMap { .. }), "{maps:?}: {err}");
        }
    }

    /// A plan as root would write it: no check of subordinate ranges.
    fn direct(kind: Kind, maps: &[(u32, u32, u32)]) -> MapPlan {
        MapPlan {
            kind,
            maps: maps.iter().copied().map(IdMap::from).collect(),
            writer: Writer::Direct,
        }
    }

    #[test]
    fn init_is_the_caller_as_mapped_else_root_else_the_lowest_id() {
        let uid = unistd::getuid().as_raw();
        let other = uid.wrapping_add(100000);
        let cases = [
            (vec![(5, uid, 1), (0, other, 5)], 5),
            (vec![(1000, other, 10), (0, other + 10, 1000)], 0),
            (vec![(2000, other, 10), (1000, other + 10, 10)], 1000),
        ];
        for (maps, init) in cases {
            assert_eq!(direct(Kind::Uid, &maps).init_id(), init, "{maps:?}");
        }
        let plan = IdMapPlan {
            uid: direct(Kind::Uid, &[(0, other, 65536)]),
            gid: direct(Kind::Gid, &[(0, unistd::getgid().as_raw(), 1)]),
        };
        let ids = plan.init_ids().expect("the caller's uid is not mapped");
        assert_eq!((ids.uid.as_raw(), ids.gid.as_raw()), (0, 0));
        let gid = unistd::getgid().as_raw();
        assert_eq!(plan.init_host_ids(), Some((other, gid)));
    }

    #[test]
    fn proc_maps_are_read_a_range_a_line() {
        let text = "         0     100000      65536\n      1000       1000          1\n";
        let maps = parse_proc_map(text);
        assert_eq!(format_map(&maps), "0 100000 65536\n1000 1000 1\n");
    }

    #[test]
    fn subordinate_entries_match_name_or_uid() {
        let text = "alice:100000:65536\n1000:300000:10\nbob:200000:65536\nbroken\n";
        assert_eq!(
            parse_subordinate(text, &["alice", "1000"]),
            [(100000, 65536), (300000, 10)]
        );
        assert!(parse_subordinate(text, &["carol"]).is_empty());
    }
}
