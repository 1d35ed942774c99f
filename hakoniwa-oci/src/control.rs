//! `pause`, `resume`, `update`: a running container acted on through its
//! cgroup, whose directories the holder recorded in the state when it
//! spawned the sandbox (the library's `CgroupDirs`).

use std::fs;
use std::io::Read;
use std::path::Path;

use hakoniwa::CgroupDirs;
use serde_json::{json, Value};

use crate::cgroups;
use crate::error::{Error, Result, SpecError};
use crate::lifecycle::wrong_status;
use crate::spec;
use crate::state::{Root, State, Status};

/// The limits `update` takes as flags, each a `linux.resources` field.
#[derive(Debug, Default)]
pub struct Limits {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub pids_limit: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_shares: Option<i64>,
}

/// The cgroup of a container that must be in one of `statuses`.
fn cgroup_of(state: &State, statuses: &[Status], action: &'static str) -> Result<CgroupDirs> {
    if !statuses.contains(&state.status) {
        return Err(wrong_status(state, action));
    }
    state
        .hakoniwa
        .cgroup
        .as_ref()
        .map(|record| record.dirs())
        .ok_or_else(|| Error::NoCgroup {
            id: state.id.clone(),
            action,
        })
}

fn failed(state: &State, action: &'static str) -> impl FnOnce(hakoniwa::Error) -> Error {
    let id = state.id.clone();
    move |source| Error::Cgroup {
        action,
        id,
        source: Box::new(source),
    }
}

/// `pause ID`: freezes every process of a running container, and returns
/// once the kernel says they all are.
pub fn pause(root: &Root, id: &str) -> Result<()> {
    let state = root.container(id)?.load()?;
    let dirs = cgroup_of(&state, &[Status::Running], "pause")?;
    dirs.freeze().map_err(failed(&state, "pause"))
}

/// `resume ID`: lets a paused container's processes go on.
pub fn resume(root: &Root, id: &str) -> Result<()> {
    let state = root.container(id)?.load()?;
    let dirs = cgroup_of(&state, &[Status::Paused], "resume")?;
    dirs.thaw().map_err(failed(&state, "resume"))
}

/// Thaws a paused container (after a signal, which it could not take
/// frozen).
pub fn thaw_if_paused(state: &State) -> Result<()> {
    match (state.status, &state.hakoniwa.cgroup) {
        (Status::Paused, Some(record)) => record.dirs().thaw().map_err(failed(state, "resume")),
        _ => Ok(()),
    }
}

/// `update [--resources FILE|-] [flags] ID`: the container's limits, from
/// a `linux.resources` object (as `runc update -r` takes it) with the flags
/// over it, mapped as `config.json`'s are and written to its cgroup. A
/// limit its cgroup has no controller for changes nothing.
pub fn update(root: &Root, id: &str, resources: Option<&Path>, flags: &Limits) -> Result<()> {
    let state = root.container(id)?.load()?;
    let dirs = cgroup_of(&state, &[Status::Running, Status::Paused], "update")?;
    let invalid = |source| Error::Resources {
        id: id.to_string(),
        source,
    };
    let text = match resources {
        None => "{}".to_string(),
        Some(path) if path == Path::new("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::file("read", Path::new("standard input"), e))?;
            text
        }
        Some(path) => fs::read_to_string(path).map_err(|e| Error::file("read", path, e))?,
    };
    let mut object: Value = serde_json::from_str(&text)
        .map_err(|e| invalid(SpecError::field("resources", e.to_string())))?;
    if !object.is_object() {
        return Err(invalid(SpecError::field("resources", "not a JSON object")));
    }
    let flags = [
        ("memory", "limit", flags.memory),
        ("memory", "swap", flags.memory_swap),
        ("pids", "limit", flags.pids_limit),
        ("cpu", "quota", flags.cpu_quota),
        ("cpu", "period", flags.cpu_period),
        ("cpu", "shares", flags.cpu_shares),
    ];
    for (group, knob, value) in flags {
        if let Some(value) = value {
            if !object[group].is_object() {
                object[group] = json!({});
            }
            object[group][knob] = json!(value);
        }
    }
    let resources = spec::parse_resources(&object.to_string()).map_err(invalid)?;
    match cgroups::limits(&resources).map_err(invalid)? {
        Some(limits) => dirs.update(&limits).map_err(failed(&state, "update")),
        None => Ok(()),
    }
}
