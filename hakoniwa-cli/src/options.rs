//! The options of one run: what `lower` turns into a sandbox. The flags
//! make them, and so does a profile; on a profile run, the flags the user
//! typed are laid over the profile's options.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches};
use hakoniwa::landlock::FsAccess;

use crate::cli::CliError;
use crate::run::RunArgs;

/// `hakoniwa run`'s flags, the order of the repeatable filesystem ones
/// across flags, and what only a profile can say.
#[derive(Debug)]
pub(crate) struct Options {
    pub args: RunArgs,
    pub order: MountOrder,
    /// Landlock filesystem rules with any access mask (a profile's `-w-`);
    /// the flags have their `ro`, `rw`, `rx` lists in `args`.
    pub landlock_fs: Vec<(PathBuf, FsAccess)>,
    /// Files to create with these contents (a profile's
    /// `filesystem.files`), ordered as [`FILE_CONTENTS`]; the flags' `--file`
    /// copies a host file instead.
    pub files: Vec<(String, Vec<u8>)>,
}

/// The [`MountOrder`] id of [`Options::files`].
pub(crate) const FILE_CONTENTS: &str = "file_contents";

/// Where each value of a repeatable filesystem flag stands among all of
/// them: mounts apply in that order, whichever flag each came from.
#[derive(Debug, Default)]
pub(crate) struct MountOrder {
    positions: HashMap<String, Vec<usize>>,
    /// Past the last position.
    end: usize,
}

impl MountOrder {
    /// The positions clap recorded on the command line.
    fn from_matches(matches: &ArgMatches) -> Self {
        let mut order = Self::default();
        for id in matches.ids() {
            let indices: Vec<usize> = matches
                .indices_of(id.as_str())
                .map(|indices| indices.collect())
                .unwrap_or_default();
            if let Some(last) = indices.iter().max() {
                order.end = order.end.max(last + 1);
            }
            order.positions.insert(id.to_string(), indices);
        }
        order
    }

    /// The next position goes to a value of the flag `id`.
    pub(crate) fn push(&mut self, id: &str) {
        self.positions
            .entry(id.to_string())
            .or_default()
            .push(self.end);
        self.end += 1;
    }

    /// The positions of the values of `id`, in the order of its values.
    pub(crate) fn indices(&self, id: &str) -> Vec<usize> {
        self.positions.get(id).cloned().unwrap_or_default()
    }

    /// Puts every position of `later` after those of `self`.
    fn append(&mut self, later: MountOrder) {
        for (id, positions) in later.positions {
            self.positions
                .entry(id)
                .or_default()
                .extend(positions.into_iter().map(|p| p + self.end));
        }
        self.end += later.end;
    }
}

impl Options {
    /// The options the command line gives.
    pub(crate) fn from_flags(mut args: RunArgs, matches: &ArgMatches) -> Self {
        // A root directory brings its own system directories, unless
        // --rootfs was given explicitly.
        if args.rootdir.is_some()
            && matches.value_source("rootfs") != Some(ValueSource::CommandLine)
        {
            args.rootfs = "none".to_string();
        }
        Self {
            args,
            order: MountOrder::from_matches(matches),
            landlock_fs: Vec::new(),
            files: Vec::new(),
        }
    }

    /// What `hakoniwa run` with no flag gives; a profile starts from it.
    pub(crate) fn defaults() -> Self {
        let command = RunArgs::augment_args(clap::Command::new("run"));
        let matches = command
            .try_get_matches_from(["run"])
            .expect("no flag is required");
        let args = RunArgs::from_arg_matches(&matches).expect("the defaults parse");
        Self {
            args,
            order: MountOrder::default(),
            landlock_fs: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Lays the flags the user typed (not those with a default value) over
    /// these options: lists grow, the flags' entries after these; single
    /// values are replaced; `-- COMMAND` replaces the command. Id maps
    /// are replaced as a whole: they describe one mapping.
    pub(crate) fn overlay(
        &mut self,
        mut flags: RunArgs,
        matches: &ArgMatches,
    ) -> Result<(), CliError> {
        let known: Vec<String> = RunArgs::augment_args(clap::Command::new("run"))
            .get_arguments()
            .map(|arg| arg.get_id().to_string())
            .collect();
        let typed: Vec<String> = matches
            .ids()
            .map(|id| id.to_string())
            .filter(|id| known.contains(id))
            .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
            .collect();
        let args = &mut self.args;
        for id in &typed {
            match id.as_str() {
                // Not options of the sandbox.
                "config" | "dry_run" => {}
                "unshare_all" => args.unshare_all = flags.unshare_all,
                "unshare_cgroup" => args.unshare_cgroup = flags.unshare_cgroup,
                "unshare_ipc" => args.unshare_ipc = flags.unshare_ipc,
                "unshare_network" => args.unshare_network = flags.unshare_network,
                "network" => args.network = flags.network.take(),
                "unshare_uts" => args.unshare_uts = flags.unshare_uts,
                "rootfs" => args.rootfs = std::mem::take(&mut flags.rootfs),
                "rootdir" => args.rootdir = flags.rootdir.take(),
                "dir" => args.dir.append(&mut flags.dir),
                "symlink" => args.symlink.append(&mut flags.symlink),
                "file" => args.file.append(&mut flags.file),
                "overlay_tmp" => args.overlay_tmp.append(&mut flags.overlay_tmp),
                "overlay" => args.overlay.append(&mut flags.overlay),
                "bindmount_ro" => args.bindmount_ro.append(&mut flags.bindmount_ro),
                "bindmount_rw" => args.bindmount_rw.append(&mut flags.bindmount_rw),
                "dev_bind" => args.dev_bind.append(&mut flags.dev_bind),
                "devfs" => args.devfs.append(&mut flags.devfs),
                "tmpfs" => args.tmpfs.append(&mut flags.tmpfs),
                "setenv" => args.setenv.append(&mut flags.setenv),
                "workdir" => args.workdir = flags.workdir.take(),
                "hostname" => args.hostname = flags.hostname.take(),
                "uidmap" => args.uidmap = std::mem::take(&mut flags.uidmap),
                "gidmap" => args.gidmap = std::mem::take(&mut flags.gidmap),
                "userns" => args.userns = flags.userns.take(),
                "user" => args.user = flags.user.take(),
                "cap_add" => args.cap_add.append(&mut flags.cap_add),
                "cap_drop" => args.cap_drop.append(&mut flags.cap_drop),
                "allow_new_privs" => args.allow_new_privs = flags.allow_new_privs,
                "new_session" => args.new_session = flags.new_session,
                "limit_as" => args.limit_as = flags.limit_as,
                "limit_core" => args.limit_core = flags.limit_core,
                "limit_cpu" => args.limit_cpu = flags.limit_cpu,
                "limit_fsize" => args.limit_fsize = flags.limit_fsize,
                "limit_memlock" => args.limit_memlock = flags.limit_memlock,
                "limit_nofile" => args.limit_nofile = flags.limit_nofile,
                "limit_nproc" => args.limit_nproc = flags.limit_nproc,
                "limit_stack" => args.limit_stack = flags.limit_stack,
                "limit_walltime" => args.limit_walltime = flags.limit_walltime,
                "memory" => args.memory = flags.memory,
                "memory_swap" => args.memory_swap = flags.memory_swap,
                "pids" => args.pids = flags.pids,
                "cpus" => args.cpus = flags.cpus,
                "cpu_weight" => args.cpu_weight = flags.cpu_weight,
                "landlock_restrict" => args.landlock_restrict.append(&mut flags.landlock_restrict),
                "landlock_fs_ro" => args.landlock_fs_ro.append(&mut flags.landlock_fs_ro),
                "landlock_fs_rw" => args.landlock_fs_rw.append(&mut flags.landlock_fs_rw),
                "landlock_fs_rx" => args.landlock_fs_rx.append(&mut flags.landlock_fs_rx),
                "landlock_tcp_bind" => args.landlock_tcp_bind.append(&mut flags.landlock_tcp_bind),
                "landlock_tcp_connect" => args
                    .landlock_tcp_connect
                    .append(&mut flags.landlock_tcp_connect),
                "landlock_scope" => args.landlock_scope.append(&mut flags.landlock_scope),
                "landlock_compat" => args.landlock_compat = flags.landlock_compat,
                "landlock_restrict_all" => args.landlock_restrict_all = true,
                "landlock_restrict_fs" => args.landlock_restrict_fs = true,
                "landlock_restrict_tcp_bind" => args.landlock_restrict_tcp_bind = true,
                "landlock_restrict_tcp_connect" => args.landlock_restrict_tcp_connect = true,
                "report" => args.report = flags.report.take(),
                "status_fd" => args.status_fd = flags.status_fd,
                "peak_memory" => args.peak_memory = flags.peak_memory,
                "pass_fd" => args.pass_fd.append(&mut flags.pass_fd),
                "seccomp" => args.seccomp = std::mem::take(&mut flags.seccomp),
                "allow_userns" => args.allow_userns = flags.allow_userns,
                "command" => args.command = std::mem::take(&mut flags.command),
                other => {
                    return Err(CliError::new(format!(
                        "--{} cannot be combined with --config yet",
                        other.replace('_', "-")
                    )))
                }
            }
        }
        self.order.append(MountOrder::from_matches(matches));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hakoniwa run ARGS…` parsed.
    fn parse(args: &[&str]) -> (RunArgs, ArgMatches) {
        let command = RunArgs::augment_args(clap::Command::new("run"));
        let matches = command
            .try_get_matches_from(std::iter::once("run").chain(args.iter().copied()))
            .unwrap();
        (RunArgs::from_arg_matches(&matches).unwrap(), matches)
    }

    #[test]
    fn mount_order_follows_the_command_line_across_flags() {
        let (args, matches) = parse(&[
            "-b", "/a", "--tmpfs", "/t", "-B", "/b", "--devfs", "/d", "-b", "/c",
        ]);
        let options = Options::from_flags(args, &matches);
        let order = &options.order;
        let ro = order.indices("bindmount_ro");
        let rw = order.indices("bindmount_rw");
        let tmpfs = order.indices("tmpfs");
        let devfs = order.indices("devfs");
        assert!(ro[0] < tmpfs[0] && tmpfs[0] < rw[0] && rw[0] < devfs[0] && devfs[0] < ro[1]);
    }

    #[test]
    fn overlay_takes_only_typed_flags_and_puts_their_mounts_last() {
        let mut options = Options::defaults();
        options.args.rootfs = "none".into();
        options.args.hostname = Some("profile".into());
        options.args.setenv = vec!["A=1".into()];
        options.args.command = vec!["profile-command".into()];
        options.args.tmpfs.push("/tmp".into());
        options.order.push("tmpfs");
        options.args.uidmap = vec![(0, None, 1)];
        let (flags, matches) = parse(&["-e", "B=2", "-b", "/usr", "--limit-cpu", "3", "-u", "5"]);
        options.overlay(flags, &matches).unwrap();
        let args = &options.args;
        assert_eq!(args.rootfs, "none", "the --rootfs default does not apply");
        assert_eq!(args.seccomp, "default");
        assert_eq!(args.hostname.as_deref(), Some("profile"));
        assert_eq!(args.setenv, ["A=1", "B=2"]);
        assert_eq!(args.command, ["profile-command"], "no -- COMMAND typed");
        assert_eq!(args.limit_cpu, Some(3));
        assert_eq!(args.uidmap, [(5, None, 1)]);
        assert!(options.order.indices("tmpfs")[0] < options.order.indices("bindmount_ro")[0]);

        let (flags, matches) = parse(&["--hostname", "flag", "--rootfs", "/", "--", "echo", "hi"]);
        options.overlay(flags, &matches).unwrap();
        assert_eq!(options.args.hostname.as_deref(), Some("flag"));
        assert_eq!(options.args.rootfs, "/");
        assert_eq!(options.args.command, ["echo", "hi"]);
    }

    #[test]
    fn every_run_flag_has_an_overlay_rule() {
        let command = RunArgs::augment_args(clap::Command::new("run"));
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            let mut line = vec!["run".to_string()];
            if arg.is_positional() || arg.is_last_set() {
                line.extend(["--".to_string(), "true".to_string()]);
            } else {
                let value = match arg.get_action().takes_values() {
                    true => Some(sample_value(id)),
                    false => None,
                };
                line.push(format!("--{}", arg.get_long().expect("a long name")));
                line.extend(value);
            }
            let matches = RunArgs::augment_args(clap::Command::new("run"))
                .try_get_matches_from(&line)
                .unwrap_or_else(|err| panic!("{line:?}: {err}"));
            let flags = RunArgs::from_arg_matches(&matches).unwrap();
            Options::defaults()
                .overlay(flags, &matches)
                .unwrap_or_else(|err| panic!("{id}: {err}"));
        }
    }

    /// A value that `id`'s parser accepts.
    fn sample_value(id: &str) -> String {
        let value = match id {
            "uidmap" | "gidmap" | "status_fd" | "pass_fd" => "3",
            "userns" => "auto",
            "network" => "pasta",
            "landlock_restrict" => "fs",
            "landlock_tcp_bind" | "landlock_tcp_connect" => "80",
            "landlock_scope" => "signal",
            "landlock_compat" => "best-effort",
            id if id.starts_with("limit_") => "1",
            "memory" | "memory_swap" | "pids" | "cpu_weight" => "1",
            "cpus" => "0.5",
            _ => "/x",
        };
        value.to_string()
    }
}
