//! Stage 5: a file and the files it includes become one layer. Lists
//! concatenate, earlier files first; a single value comes from the last
//! file that sets it, so the including file wins over what it includes.

use super::validate::Layer;

impl Layer {
    /// Lays `later` over `self`.
    pub(crate) fn merge(&mut self, later: Layer) {
        let Layer {
            namespaces,
            rootfs,
            mounts,
            files,
            dirs,
            symlinks,
            rootdir,
            envs,
            network,
            landlock,
            uidmaps,
            gidmaps,
            userns,
            user,
            cap_add,
            cap_drop,
            allow_new_privs,
            new_session,
            peak_memory,
            hostname,
            rlimits,
            walltime,
            seccomp,
            allow_userns,
            cmdline,
            cwd,
            report,
            cgroup,
        } = later;
        self.namespaces.extend(namespaces);
        self.mounts.extend(mounts);
        self.files.extend(files);
        self.dirs.extend(dirs);
        self.symlinks.extend(symlinks);
        self.envs.extend(envs);
        self.landlock.resources.extend(landlock.resources);
        self.landlock.fs.extend(landlock.fs);
        self.landlock.net.extend(landlock.net);
        self.landlock.scopes.extend(landlock.scopes);
        self.uidmaps.extend(uidmaps);
        self.gidmaps.extend(gidmaps);
        self.cap_add.extend(cap_add);
        self.cap_drop.extend(cap_drop);
        self.rlimits.extend(rlimits);
        replace(&mut self.rootfs, rootfs);
        replace(&mut self.rootdir, rootdir);
        replace(&mut self.network, network);
        replace(&mut self.landlock.compat, landlock.compat);
        replace(&mut self.userns, userns);
        replace(&mut self.user, user);
        replace(&mut self.allow_new_privs, allow_new_privs);
        replace(&mut self.new_session, new_session);
        replace(&mut self.peak_memory, peak_memory);
        replace(&mut self.hostname, hostname);
        replace(&mut self.walltime, walltime);
        replace(&mut self.seccomp, seccomp);
        replace(&mut self.allow_userns, allow_userns);
        replace(&mut self.cmdline, cmdline);
        replace(&mut self.cwd, cwd);
        replace(&mut self.report, report);
        replace(&mut self.cgroup.memory, cgroup.memory);
        replace(&mut self.cgroup.memory_swap, cgroup.memory_swap);
        replace(&mut self.cgroup.pids, cgroup.pids);
        replace(&mut self.cgroup.cpus, cgroup.cpus);
        replace(&mut self.cgroup.cpu_weight, cgroup.cpu_weight);
    }
}

fn replace<T>(value: &mut Option<T>, later: Option<T>) {
    if later.is_some() {
        *value = later;
    }
}

#[cfg(test)]
mod tests {
    use super::super::validate::{validate, Mount};
    use super::*;

    fn layer(text: &str) -> Layer {
        validate(toml::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn lists_concatenate_earlier_first_and_single_values_come_from_the_last_setter() {
        let mut merged = layer(
            r#"
            hostname = "included"
            rootfs = "/"
            mounts = [{ source = "/usr" }]
            envs = [{ name = "A", value = "1" }]
            landlock.fs = [{ path = "/usr", access = "r-x" }]
            command.cmdline = ["included"]
            "#,
        );
        merged.merge(layer(
            r#"
            hostname = "including"
            mounts = [{ source = "/etc" }]
            envs = [{ name = "A", value = "2" }]
            landlock.resources = [{ type = "fs", unrestrict = true }]
            "#,
        ));
        assert_eq!(merged.hostname.as_deref(), Some("including"));
        assert_eq!(merged.rootfs.as_deref(), Some("/"));
        assert_eq!(
            merged.cmdline,
            Some(vec!["included".to_string()]),
            "not set by the including file: kept"
        );
        let targets: Vec<&str> = merged
            .mounts
            .iter()
            .map(|m| match m {
                Mount::Bind { destination, .. } => destination.as_str(),
                _ => "?",
            })
            .collect();
        assert_eq!(targets, ["/usr", "/etc"]);
        assert_eq!(merged.envs, ["A=1", "A=2"]);
        assert_eq!(merged.landlock.fs.len(), 1);
        assert_eq!(merged.landlock.resources.len(), 1);
    }
}
