//! A running sandbox's cgroup, acted on from any process that may write
//! it: freeze and thaw every process at once, change the limits. Which
//! directory holds which controller is read from the files in it (v1's
//! `freezer.state` exists only in the freezer's hierarchy, `pids.max` only
//! in the pids one), so a handle is only the version and the directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::live::write;
use super::plan::CgroupPlan;
use super::{Cgroup, CgroupVersion};
use crate::error::{Error, Result};

/// How long [`CgroupDirs::freeze`] waits for the kernel to say frozen.
const FREEZE_DEADLINE: Duration = Duration::from_secs(5);
/// How often it looks.
const FREEZE_POLL: Duration = Duration::from_millis(1);

/// A sandbox's cgroup by its directories: from
/// [`Child::cgroup`](crate::Child::cgroup) in the process that holds the
/// sandbox, or rebuilt from what it recorded in another process.
///
/// ```no_run
/// use hakoniwa::{Cgroup, CgroupDirs, CgroupVersion};
///
/// let dirs = CgroupDirs::new(
///     CgroupVersion::V2,
///     vec!["/sys/fs/cgroup/box".into()],
/// );
/// dirs.freeze()?;
/// dirs.update(Cgroup::new().memory(256 << 20))?;
/// dirs.thaw()?;
/// # Ok::<(), hakoniwa::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupDirs {
    version: CgroupVersion,
    paths: Vec<PathBuf>,
}

impl CgroupDirs {
    /// The cgroup of `version` made of `paths` (one for v2; one per
    /// hierarchy for v1).
    pub fn new(version: CgroupVersion, paths: Vec<PathBuf>) -> Self {
        Self { version, paths }
    }

    /// Its version.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// Its directories.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The directory holding `file`, if any.
    fn holding(&self, file: &str) -> Option<&Path> {
        self.paths
            .iter()
            .map(PathBuf::as_path)
            .find(|dir| dir.join(file).exists())
    }

    fn freezer_file(&self) -> Result<PathBuf> {
        let file = match self.version {
            CgroupVersion::V1 => "freezer.state",
            CgroupVersion::V2 => "cgroup.freeze",
        };
        self.holding(file)
            .map(|dir| dir.join(file))
            .ok_or_else(|| Error::CgroupUnavailable {
                controllers: "freezer".to_string(),
                reason: format!(
                    "no directory of the cgroup ({}) has {file}",
                    self.describe()
                ),
                hint: "the sandbox must be made with Cgroup::freezer()",
            })
    }

    /// Stops every process of the cgroup, and returns once the kernel
    /// says they all are (v1 `freezer.state` FROZEN, v2 `frozen 1` in
    /// `cgroup.events`). Not frozen within 5 s: thawed again, and an
    /// error.
    pub fn freeze(&self) -> Result<()> {
        let file = self.freezer_file()?;
        let deadline = Instant::now() + FREEZE_DEADLINE;
        loop {
            // v1 may stop at FREEZING when a task cannot be frozen yet;
            // writing FROZEN again retries it.
            match self.version {
                CgroupVersion::V1 => write(&file, "FROZEN")?,
                CgroupVersion::V2 => write(&file, "1")?,
            }
            if self.is_frozen()? {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.thaw();
                return Err(Error::Cgroup {
                    action: format!("freeze the cgroup {}", self.describe()),
                    source: std::io::Error::from(std::io::ErrorKind::TimedOut),
                });
            }
            thread::sleep(FREEZE_POLL);
        }
    }

    /// Lets every process of the cgroup go on.
    pub fn thaw(&self) -> Result<()> {
        let file = self.freezer_file()?;
        match self.version {
            CgroupVersion::V1 => write(&file, "THAWED"),
            CgroupVersion::V2 => write(&file, "0"),
        }
    }

    /// Whether the kernel says every process of the cgroup is frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        let file = self.freezer_file()?;
        let read = |path: &Path| {
            fs::read_to_string(path).map_err(|source| Error::Cgroup {
                action: format!("read {}", path.display()),
                source,
            })
        };
        Ok(match self.version {
            CgroupVersion::V1 => read(&file)?.trim() == "FROZEN",
            CgroupVersion::V2 => {
                let events = file.with_file_name("cgroup.events");
                read(&events)?.lines().any(|line| line == "frozen 1")
            }
        })
    }

    /// Writes the limits set in `limits` (the others stay as they are),
    /// checked as [`Container::cgroup`](crate::Container::cgroup) checks
    /// them. Every file is found before any is written: a limit whose
    /// controller the cgroup lacks is an error, and nothing is changed.
    pub fn update(&self, limits: &Cgroup) -> Result<()> {
        let plan = CgroupPlan::new(limits)?;
        let mut settings = Vec::new();
        for setting in plan.settings(self.version) {
            let dir = self
                .holding(setting.file)
                .ok_or_else(|| Error::CgroupUnavailable {
                    controllers: setting.controller.name().to_string(),
                    reason: format!(
                        "no directory of the cgroup ({}) has {}",
                        self.describe(),
                        setting.file
                    ),
                    hint: "a limit can be changed only in a controller the sandbox was made with",
                })?;
            settings.push((dir.join(setting.file), setting.value));
        }
        // v1 refuses a memory limit above memory+swap: when the new memory
        // limit passes the current memory+swap, memory+swap goes first.
        if let [(memory, limit), (swap, _), ..] = &settings[..] {
            let current = fs::read_to_string(swap).unwrap_or_default();
            let above = matches!(
                (limit.parse::<u64>(), current.trim().parse::<u64>()),
                (Ok(limit), Ok(current)) if limit > current
            );
            if self.version == CgroupVersion::V1
                && memory.ends_with("memory.limit_in_bytes")
                && swap.ends_with("memory.memsw.limit_in_bytes")
                && (above || limit == "-1")
            {
                settings.swap(0, 1);
            }
        }
        for (path, value) in settings {
            write(&path, &value)?;
        }
        Ok(())
    }

    /// Moves process `pid` (and so all it starts later) into the cgroup.
    pub(crate) fn add(&self, pid: u32) -> Result<()> {
        for dir in &self.paths {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    pub(crate) fn describe(&self) -> String {
        let paths: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        paths.join(", ")
    }
}
