//! Loading whole profiles: includes, merge order, the mapping to options,
//! and where each kind of error points.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hakoniwa::landlock::{CompatMode, FsAccess, Resource, Scope};

use super::*;

/// A fresh directory of profile files.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "hakoniwa-profile-test.{}.{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(path.join("abstractions")).unwrap();
        Dir(path)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn load_text(dir: &Dir, text: &str) -> Result<Options, ProfileError> {
    load(&dir.write("profile.toml", text))
}

fn error(dir: &Dir, text: &str) -> ProfileError {
    load_text(dir, text).unwrap_err()
}

#[test]
fn an_empty_profile_is_an_empty_sandbox_with_the_default_command() {
    let dir = Dir::new("empty");
    let options = load_text(&dir, "").unwrap();
    let args = &options.args;
    assert_eq!(args.rootfs, "none", "the --rootfs default does not apply");
    assert_eq!(args.seccomp, "default");
    assert_eq!(args.command, ["/bin/sh"]);
    assert!(args.bindmount_ro.is_empty() && args.tmpfs.is_empty());
    assert!(!args.unshare_network);
}

#[test]
fn every_key_maps_to_its_option() {
    let dir = Dir::new("keys");
    let options = load_text(
        &dir,
        r#"
        namespaces = [{ type = "cgroup" }, { type = "ipc" }, { type = "uts" }]
        rootfs = "/"
        mounts = [
          { source = "/usr", destination = "/u" },
          { source = "", destination = "/tmp", type = "tmpfs" },
          { source = "/etc", rw = true },
          { source = "", destination = "/dev", type = "devfs" },
        ]
        envs = [{ name = "A", value = "1" }, { name = "TERM" }]
        uidmaps = [{ container_id = 0 }]
        gidmaps = [{ container_id = 0, host_id = 7, count = 1 }]
        user = { name = "root" }
        capabilities = { add = ["NET_RAW"], drop = ["MKNOD"] }
        allow_new_privs = true
        new_session = true
        peak_memory = true
        hostname = "box"
        limits = [{ type = "cpu", value = 5 }, { type = "as", value = "1G" },
                  { type = "core", value = 0 }, { type = "fsize", value = 9 },
                  { type = "memlock", value = 8 }, { type = "nofile", value = 64 },
                  { type = "nproc", value = 7 }, { type = "stack", value = "4M" },
                  { type = "walltime", value = 3 }, { type = "cpu", value = 6 }]
        seccomp = { path = "podman", allow_userns = true }
        report = "-"

        [network]
        mode = "none"

        [landlock]
        resources = [{ type = "tcp.bind" }]
        fs = [{ path = "/usr", access = "r-x" }, { path = "/tmp", access = "-w-" }]
        net = [{ port = 443, access = "tcp.connect" }, { port = 80, access = "tcp.bind" }]
        scope = ["abstract-unix"]
        compat = "best-effort"

        [command]
        cmdline = ["make", "-j2"]
        cwd = "/src"
        "#,
    )
    .unwrap();
    let args = &options.args;
    assert!(args.unshare_cgroup && args.unshare_ipc && args.unshare_uts && args.unshare_network);
    assert_eq!(args.rootfs, "/");
    assert_eq!(args.bindmount_ro, ["/usr:/u"]);
    assert_eq!(args.bindmount_rw, ["/etc:/etc"]);
    assert_eq!(args.tmpfs, ["/tmp"]);
    assert_eq!(args.devfs, ["/dev"]);
    let order = |id| options.order.indices(id);
    assert_eq!(order("bindmount_ro"), [0]);
    assert_eq!(order("tmpfs"), [1]);
    assert_eq!(order("bindmount_rw"), [2]);
    assert_eq!(order("devfs"), [3]);
    assert_eq!(args.setenv, ["A=1", "TERM"]);
    assert_eq!(args.uidmap, [(0, None, 1)]);
    assert_eq!(args.gidmap, [(0, Some(7), 1)]);
    assert_eq!(args.user.as_deref(), Some("root"));
    assert_eq!(args.cap_add, ["NET_RAW"]);
    assert_eq!(args.cap_drop, ["MKNOD"]);
    assert!(args.allow_new_privs);
    assert!(args.new_session);
    assert!(args.peak_memory);
    assert_eq!(args.hostname.as_deref(), Some("box"));
    assert_eq!(args.limit_cpu, Some(6), "the later entry wins");
    assert_eq!(args.limit_as, Some(1 << 30));
    assert_eq!(args.limit_core, Some(0));
    assert_eq!(args.limit_fsize, Some(9));
    assert_eq!(args.limit_memlock, Some(8));
    assert_eq!(args.limit_nofile, Some(64));
    assert_eq!(args.limit_nproc, Some(7));
    assert_eq!(args.limit_stack, Some(4 << 20));
    assert_eq!(args.limit_walltime, Some(Duration::from_secs(3)));
    assert_eq!(args.seccomp, "podman");
    assert!(args.allow_userns);
    assert_eq!(args.report.as_deref(), Some("-"));
    assert_eq!(args.landlock_restrict, [Resource::TcpBind]);
    assert_eq!(
        options.landlock_fs,
        [
            (PathBuf::from("/usr"), FsAccess::R | FsAccess::X),
            (PathBuf::from("/tmp"), FsAccess::W)
        ]
    );
    assert_eq!(args.landlock_tcp_connect, [PortList(vec![443])]);
    assert_eq!(args.landlock_tcp_bind, [PortList(vec![80])]);
    assert_eq!(args.landlock_scope, [Scope::AbstractUnixSocket]);
    assert_eq!(args.landlock_compat, Some(CompatMode::BestEffort));
    assert_eq!(args.command, ["make", "-j2"]);
    assert_eq!(args.workdir.as_deref(), Some(":/src"));
}

#[test]
fn includes_merge_included_first_and_the_including_file_wins() {
    let dir = Dir::new("include");
    dir.write(
        "abstractions/base.toml",
        r#"
        "@include" = ["net.toml"]
        namespaces = [{ type = "network" }, { type = "uts" }]
        mounts = [{ source = "/usr" }]
        envs = [{ name = "FROM", value = "base" }]
        hostname = "base"
        landlock.resources = [{ type = "fs" }, { type = "tcp.connect" }]
        landlock.fs = [{ path = "/usr", access = "r-x" }]
        command.cmdline = ["base"]
        "#,
    );
    dir.write(
        "abstractions/net.toml",
        "mounts = [{ source = \"/etc\" }]\nlandlock.net = [{ port = 443, access = \"tcp.connect\" }]\n",
    );
    dir.write(
        "abstractions/second.toml",
        "mounts = [{ source = \"/bin\" }]\nhostname = \"second\"\n",
    );
    let options = load_text(
        &dir,
        r#"
        "@include" = ["abstractions/base.toml", "abstractions/second.toml"]
        namespaces = [{ type = "network", share = true }]
        mounts = [{ source = "/lib", destination = "/own" }]
        envs = [{ name = "FROM", value = "profile" }]
        landlock.resources = [{ type = "tcp.connect", unrestrict = true }]
        "#,
    )
    .unwrap();
    let args = &options.args;
    assert_eq!(
        args.bindmount_ro,
        ["/etc:/etc", "/usr:/usr", "/bin:/bin", "/lib:/own"],
        "nested include, then its includer, then the next include, then the profile"
    );
    assert_eq!(args.setenv, ["FROM=base", "FROM=profile"]);
    assert_eq!(
        args.hostname.as_deref(),
        Some("second"),
        "the last setter wins"
    );
    assert_eq!(args.command, ["base"], "kept from an include");
    assert!(
        !args.unshare_network,
        "share = true undoes the include's unshare"
    );
    assert!(args.unshare_uts);
    assert_eq!(args.landlock_restrict, [Resource::Fs]);
    assert!(
        args.landlock_tcp_connect.is_empty(),
        "an unrestricted resource drops its rules"
    );
    assert_eq!(options.landlock_fs.len(), 1);
}

#[test]
fn template_context_and_relative_template_paths() {
    let dir = Dir::new("template");
    dir.write(
        "abstractions/layout.toml",
        "hostname = \"{% block name %}layout{% endblock %}\"\n{% block rest %}{% endblock %}\n",
    );
    dir.write(
        "abstractions/envs.toml",
        "[[envs]]\nname = \"DIR\"\nvalue = \"{{ __dir__ }}\"\n",
    );
    dir.write(
        "abstractions/included.toml",
        "[[envs]]\nname = \"INCLUDED_DIR\"\nvalue = \"{{ __dir__ }}\"\n",
    );
    let options = load_text(
        &dir,
        r#"{% extends "abstractions/layout.toml" %}
{% block name %}child{% endblock %}
{% block rest %}
"@include" = ["abstractions/included.toml"]
{% include "abstractions/envs.toml" %}
{% endblock %}"#,
    )
    .unwrap();
    assert_eq!(options.args.hostname.as_deref(), Some("child"));
    let dir_path = dir.0.canonicalize().unwrap();
    assert_eq!(
        options.args.setenv,
        [
            format!("INCLUDED_DIR={}", dir_path.join("abstractions").display()),
            format!("DIR={}", dir_path.display()),
        ]
    );
}

fn assert_at(
    err: &ProfileError,
    file: &Path,
    line: Option<(usize, Option<usize>)>,
    key: Option<&str>,
) {
    assert_eq!(err.file, file.canonicalize().unwrap(), "{err:?}");
    assert_eq!(err.line, line, "{err:?}");
    assert_eq!(err.key.as_deref(), key, "{err:?}");
}

#[test]
fn a_missing_profile_is_named() {
    let err = load(Path::new("/nonexistent/hakoniwa.toml")).unwrap_err();
    assert_eq!(err.file, Path::new("/nonexistent/hakoniwa.toml"));
    assert!(err.message.contains("No such file"), "{}", err.message);
}

#[test]
fn template_errors_have_the_templates_line() {
    let dir = Dir::new("template-error");
    let err = error(&dir, "hostname = \"a\"\n\nmounts = [{% for x in %}]\n");
    assert_at(&err, &dir.path("profile.toml"), Some((3, None)), None);
    assert!(
        err.message.starts_with("template: syntax error"),
        "{}",
        err.message
    );
    let cli = CliError::from(err).to_string();
    assert!(cli.starts_with("hakoniwa: invalid profile /"), "{cli}");
    assert!(
        cli.contains("profile.toml:3: template: syntax error"),
        "{cli}"
    );

    dir.write(
        "abstractions/broken.toml",
        "a = 1\n{{ fs_read_link('/') }}\n",
    );
    let err = error(&dir, "{% include 'abstractions/broken.toml' %}");
    assert_at(
        &err,
        &dir.path("abstractions/broken.toml"),
        Some((2, None)),
        None,
    );
}

#[test]
fn toml_errors_have_line_and_column() {
    let dir = Dir::new("toml-error");
    let err = error(
        &dir,
        "hostname = \"a\"\nmounts = [\n  { source = \"/usr\" ,, },\n]\n",
    );
    assert_at(&err, &dir.path("profile.toml"), Some((3, Some(22))), None);
    assert!(!err.rendered);

    let err = error(&dir, "{# a comment #}\nhostname = 3\n");
    assert_at(
        &err,
        &dir.path("profile.toml"),
        Some((2, Some(12))),
        Some("hostname"),
    );
    assert!(err.rendered, "the text was changed by rendering");
    assert!(
        err.to_string()
            .contains(":2:12 (after rendering): hostname"),
        "{err}"
    );
}

#[test]
fn unknown_keys_and_wrong_types_have_their_key_path() {
    let dir = Dir::new("key-error");
    let text = "mounts = [\n  { source = \"/usr\" },\n  { source = \"/etc\" },\n  { source = \"/bin\" },\n  { source = \"/lib\", rw = \"yes\" },\n]\n";
    let err = error(&dir, text);
    assert_at(
        &err,
        &dir.path("profile.toml"),
        Some((5, Some(27))),
        Some("mounts[3].rw"),
    );
    assert!(err.message.contains("invalid type"), "{}", err.message);

    let err = error(&dir, "mounts = [{ source = \"/usr\", rww = true }]\n");
    assert_eq!(err.key.as_deref(), Some("mounts[0].rww"), "{err:?}");
    assert!(
        err.message.contains("unknown field `rww`"),
        "{}",
        err.message
    );

    let err = error(&dir, "[comand]\ncmdline = [\"sh\"]\n");
    assert_eq!(err.key.as_deref(), Some("comand"), "{err:?}");
    assert_eq!(err.line, Some((1, Some(2))));
}

#[test]
fn invalid_values_have_their_file_and_key() {
    let dir = Dir::new("value-error");
    dir.write(
        "abstractions/bad.toml",
        "limits = [{ type = \"cpu\", value = 1 }, { type = \"rss\", value = 1 }]\n",
    );
    let err = error(&dir, "\"@include\" = [\"abstractions/bad.toml\"]\n");
    assert_at(
        &err,
        &dir.path("abstractions/bad.toml"),
        None,
        Some("limits[1].type"),
    );
    let cli = CliError::from(err).to_string();
    assert!(
        cli.contains("bad.toml: limits[1].type: unknown limit \"rss\""),
        "{cli}"
    );
}

#[test]
fn a_missing_include_is_named_by_the_including_file() {
    let dir = Dir::new("missing-include");
    dir.write("abstractions/a.toml", "\"@include\" = [\"nope.toml\"]\n");
    let err = error(&dir, "\"@include\" = [\"abstractions/a.toml\"]\n");
    assert_at(
        &err,
        &dir.path("abstractions/a.toml"),
        None,
        Some("@include[0]"),
    );
    assert!(
        err.message.contains("abstractions/nope.toml"),
        "{}",
        err.message
    );
    assert!(err.message.contains("No such file"), "{}", err.message);
}

#[test]
fn an_include_cycle_is_refused() {
    let dir = Dir::new("cycle");
    dir.write("abstractions/a.toml", "\"@include\" = [\"b.toml\"]\n");
    dir.write("abstractions/b.toml", "\"@include\" = [\"a.toml\"]\n");
    let err = error(&dir, "\"@include\" = [\"abstractions/a.toml\"]\n");
    assert_at(
        &err,
        &dir.path("abstractions/b.toml"),
        None,
        Some("@include[0]"),
    );
    assert!(err.message.contains("includes itself"), "{}", err.message);
}
