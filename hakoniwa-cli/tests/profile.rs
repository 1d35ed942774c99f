//! Profiles (`-c FILE`), flags typed over them, `--dry-run`, and the
//! generated completions and man pages. The example profiles of
//! docs/profiles.md run here as they are.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use common::binaries::PROBE;
use common::facts::{self, EACCES, EROFS};
use common::Caller;

sandbox_tests![
    example_shell_profile_makes_only_the_project_writable,
    example_build_profile_builds_offline_within_limits,
    example_gui_profile_dry_run_shows_home_and_display_socket,
    flags_typed_on_the_command_line_overlay_the_profile,
    cli_defaults_do_not_apply_to_a_profile,
    profile_binds_open_devices_only_with_dev,
    dry_run_prints_the_plan_of_flags_without_running,
    dry_run_prints_the_plan_of_a_profile_with_flags_after_it,
    profile_errors_name_the_file_and_the_place,
    a_profile_can_come_from_a_pipe,
    completions_and_man_pages_are_generated,
];

/// A profile of docs/profiles, as the caller sees it: copied with the
/// files it includes to the caller's scratch directory, since the checkout
/// may sit where an unprivileged caller cannot read.
fn example(caller: &Caller, name: &str) -> String {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/profiles");
    let copy = caller.dir("profiles");
    copy_tree(&source, &copy);
    copy.join(name).to_string_lossy().into_owned()
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read docs/profiles") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a profile");
        }
    }
}

/// `hakoniwa run -c PROFILE FLAGS… -b BIN:/probe -- probe PROBE_ARGS…`.
fn probe_with_profile(
    caller: &Caller,
    profile: &str,
    flags: &[&str],
    probe_args: &[&str],
) -> common::run::Invocation {
    let bind = caller.probe_bind();
    let mut args = vec!["run", "-c", profile];
    args.extend_from_slice(flags);
    args.extend(["-b", &bind, "--", PROBE]);
    args.extend_from_slice(probe_args);
    caller.hakoniwa(&args)
}

fn example_shell_profile_makes_only_the_project_writable(caller: &Caller) {
    let project = caller.dir("project");
    let profile = example(caller, "shell.toml");
    let file = project.join("notes.txt");
    let attempt = probe_with_profile(caller, &profile, &[], &["write", file.to_str().unwrap()])
        .env("PROJECT", &project)
        .output()
        .json();
    facts::assert_allowed(&attempt["write"], "writing in the project");
    assert!(file.exists(), "the write did not reach the host");

    let attempt = probe_with_profile(caller, &profile, &[], &["write", "/usr/hakoniwa-test"])
        .env("PROJECT", &project)
        .output()
        .json();
    facts::assert_refused(&attempt["write"], Some(EROFS), "writing in /usr");

    // The profile's own command: a shell started in the project.
    let outcome = caller
        .hakoniwa(&["run", "-c", &profile])
        .env("PROJECT", &project)
        .stdin(b"pwd; echo $HOME\n")
        .output();
    let dir = project.to_string_lossy();
    assert_eq!(outcome.success().stdout, format!("{dir}\n{dir}\n"));
}

fn example_build_profile_builds_offline_within_limits(caller: &Caller) {
    let project = caller.dir("project");
    caller.file(
        "project/build.sh",
        "#!/bin/sh\necho \"built on $(hostname)\" > out.txt\n",
        0o755,
    );
    let profile = example(caller, "build.toml");
    let outcome = caller
        .hakoniwa(&["run", "-c", &profile])
        .env("PROJECT", &project)
        .output();
    outcome.success();
    let built = fs::read_to_string(project.join("out.txt")).expect("the build wrote out.txt");
    assert_eq!(built, "built on build\n");

    let facts = probe_with_profile(caller, &profile, &[], &["facts"])
        .env("PROJECT", &project)
        .output()
        .json();
    let new = facts::new_namespaces(&facts);
    for namespace in ["net", "ipc", "uts"] {
        assert!(new.contains(namespace), "{namespace} is shared: {new:?}");
    }
    let limits = probe_with_profile(caller, &profile, &[], &["rlimits"])
        .env("PROJECT", &project)
        .output()
        .json();
    assert_eq!(limits["cpu"], serde_json::json!([600, 601]), "{limits}");
    assert_eq!(
        limits["nofile"],
        serde_json::json!([1024, 1024]),
        "{limits}"
    );
    assert_eq!(
        limits["as"],
        serde_json::json!([4u64 << 30, 4u64 << 30]),
        "{limits}"
    );
}

fn example_gui_profile_dry_run_shows_home_and_display_socket(caller: &Caller) {
    let home = caller.dir("home");
    let runtime = caller.dir("run");
    caller.file("run/wayland-0", "", 0o600);
    let outcome = caller
        .hakoniwa(&["run", "-c", &example(caller, "gui.toml"), "--dry-run"])
        .env("HOME", &home)
        .env("APP", "xterm")
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("WAYLAND_DISPLAY", "wayland-0")
        .output();
    let plan = &outcome.success().stdout;
    let data = home.join(".local/share/hakoniwa/apps/xterm");
    assert!(data.is_dir(), "fs_mkdir did not create {}", data.display());
    let socket = runtime.join("wayland-0");
    for line in [
        format!(
            "bind-mount {} to {} (read-write)",
            data.display(),
            home.display()
        ),
        format!("bind-mount {0} to {0}", socket.display()),
        "mount devfs on /dev".to_string(),
        "program: [\"xterm\"]".to_string(),
        "environment: WAYLAND_DISPLAY=wayland-0".to_string(),
        format!("working directory: {}", home.display()),
    ] {
        assert!(
            plan.lines().any(|l| l == line),
            "no line {line:?}\n{outcome}"
        );
    }
}

fn flags_typed_on_the_command_line_overlay_the_profile(caller: &Caller) {
    let profile = caller.file(
        "profile.toml",
        r#"
        rootfs = "/"
        hostname = "profile"
        envs = [{ name = "A", value = "1" }, { name = "B", value = "1" }]
        mounts = [{ source = "", destination = "/tmp", type = "tmpfs" }]
        limits = [{ type = "nofile", value = 100 }]
        "#,
        0o644,
    );
    let facts = probe_with_profile(
        caller,
        profile.to_str().unwrap(),
        &["--hostname", "flag", "-e", "B=2", "--tmpfs", "/scratch"],
        &["facts"],
    )
    .output()
    .json();
    assert_eq!(facts["hostname"], "flag");
    let env = facts::env(&facts);
    assert_eq!(env.get("A").map(String::as_str), Some("1"));
    assert_eq!(env.get("B").map(String::as_str), Some("2"), "the flag wins");
    let points = facts::mount_points(&facts);
    for point in ["/tmp", "/scratch", "/probe", "/usr"] {
        assert!(points.iter().any(|p| p == point), "no {point}: {points:?}");
    }
    // What was not typed keeps the profile's value.
    let limits = probe_with_profile(caller, profile.to_str().unwrap(), &[], &["rlimits"])
        .output()
        .json();
    assert_eq!(limits["nofile"], serde_json::json!([100, 100]), "{limits}");
}

fn cli_defaults_do_not_apply_to_a_profile(caller: &Caller) {
    // No rootfs key: the root holds what the profile says, not --rootfs /.
    let profile = caller.file(
        "profile.toml",
        "mounts = [{ source = \"\", destination = \"/tmp\", type = \"tmpfs\" }]\n",
        0o644,
    );
    let facts = probe_with_profile(caller, profile.to_str().unwrap(), &[], &["facts"])
        .output()
        .json();
    let names = facts::names(&facts["root"]);
    let expected: BTreeSet<String> = ["probe", "proc", "tmp"].map(String::from).into();
    assert_eq!(names, expected);
}

/// A profile's bind is `nodev` unless it says `dev = true`, as with the
/// flags `-b` and `--dev-bind`.
fn profile_binds_open_devices_only_with_dev(caller: &Caller) {
    let profile = caller.file(
        "profile.toml",
        "mounts = [\n  { source = \"/dev/zero\", destination = \"/zero\", dev = true },\n  \
         { source = \"/dev/zero\", destination = \"/plain-zero\" },\n]\n",
        0o644,
    );
    let profile = profile.to_str().unwrap();
    let read = probe_with_profile(caller, profile, &[], &["read", "/zero"])
        .output()
        .json();
    facts::assert_allowed(&read["read"], "reading a dev = true device");
    let read = probe_with_profile(caller, profile, &[], &["read", "/plain-zero"])
        .output()
        .json();
    facts::assert_refused(&read["read"], Some(EACCES), "reading a plain bind's device");
}

fn dry_run_prints_the_plan_of_flags_without_running(caller: &Caller) {
    let marker = caller.path("cwd/ran");
    let touch = format!("touch {}", marker.display());
    let outcome = caller
        .hakoniwa(&[
            "run",
            "--dry-run",
            "--tmpfs",
            "/tmp",
            "--hostname",
            "box",
            "--limit-cpu",
            "3",
            "-e",
            "A=1",
            "--",
            "sh",
            "-c",
            &touch,
        ])
        .output();
    let plan = &outcome.success().stdout;
    assert!(!marker.exists(), "the program ran");
    let expected = [
        "namespaces: mount pid user uts".to_string(),
        "mount tmpfs on /tmp (mode=1777)".to_string(),
        "bind-mount /usr to /usr".to_string(),
        "hostname: box".to_string(),
        "limit: RLIMIT_CPU 3 (hard 4)".to_string(),
        format!("program: [\"sh\", \"-c\", {touch:?}]"),
        "environment: A=1".to_string(),
        "working directory: /".to_string(),
    ];
    for line in expected {
        assert!(
            plan.lines().any(|l| l == line),
            "no line {line:?}\n{outcome}"
        );
    }
    assert!(
        plan.lines()
            .any(|l| l.starts_with("seccomp profile: default (")),
        "{outcome}"
    );
}

fn dry_run_prints_the_plan_of_a_profile_with_flags_after_it(caller: &Caller) {
    let profile = caller.file(
        "profile.toml",
        r#"
        rootfs = "none"
        mounts = [
          { source = "/usr" },
          { source = "", destination = "/tmp", type = "tmpfs" },
        ]
        [command]
        cmdline = ["/usr/bin/true"]
        "#,
        0o644,
    );
    let outcome = caller
        .hakoniwa(&[
            "run",
            "-c",
            profile.to_str().unwrap(),
            "--dry-run",
            "-b",
            "/etc:/host-etc",
            "--",
            "/usr/bin/env",
        ])
        .output();
    let plan: Vec<&str> = outcome.success().stdout.lines().collect();
    let position = |line: &str| {
        plan.iter()
            .position(|l| *l == line)
            .unwrap_or_else(|| panic!("no line {line:?}\n{outcome}"))
    };
    assert!(position("bind-mount /usr to /usr") < position("bind-mount /etc to /host-etc"));
    assert!(position("mount tmpfs on /tmp (mode=1777)") < position("bind-mount /etc to /host-etc"));
    position("program: [\"/usr/bin/env\"]");
}

fn profile_errors_name_the_file_and_the_place(caller: &Caller) {
    let cases = [
        (
            "template",
            "hostname = \"a\"\nmounts = [{% if %}]\n",
            ":2: template: syntax error",
        ),
        (
            "toml",
            "hostname = \"a\"\nmounts = [\n",
            ":2:11: unclosed array",
        ),
        (
            "key",
            "mounts = [{ source = \"/usr\" }, { source = \"/etc\", rw = 1 }]\n",
            ":1:56: mounts[1].rw: invalid type: integer `1`, expected a boolean",
        ),
        (
            "unknown",
            "[command]\ncmdline = [\"sh\"]\ncwdir = \"/\"\n",
            ":3:1: command.cwdir: unknown field `cwdir`, expected `cmdline` or `cwd`",
        ),
        (
            "value",
            "limits = [{ type = \"rss\", value = 1 }]\n",
            ": limits[0].type: unknown limit \"rss\"",
        ),
        (
            "include",
            "\"@include\" = [\"missing.toml\"]\n",
            ": @include[0]: failed to read ",
        ),
    ];
    for (name, text, expected) in cases {
        let path = caller.file(&format!("{name}.toml"), text, 0o644);
        let outcome = caller
            .hakoniwa(&["run", "-c", path.to_str().unwrap(), "--", "true"])
            .output();
        outcome.assert_setup_failure("invalid profile");
        let first = outcome.stderr.lines().next().unwrap_or_default();
        let prefix = format!("hakoniwa: invalid profile {}", path.display());
        assert!(first.starts_with(&prefix), "{name}: {first}");
        assert!(
            first[prefix.len()..].starts_with(expected),
            "{name}: expected {expected:?} after the file\n{first}"
        );
    }
}

/// `-c <(cmd)` or `-c /dev/stdin`: a pipe has no path to resolve; it is
/// read as given, and what it includes is found from the current directory.
fn a_profile_can_come_from_a_pipe(caller: &Caller) {
    // The invocation's current directory.
    fs::write(
        caller.path("cwd").join("host.toml"),
        "hostname = \"piped\"\n",
    )
    .unwrap();
    let bind = caller.probe_bind();
    // The pipe is the caller's own, as a shell's `<(cmd)` or `cmd |` is.
    let feed = r#"printf '%s\n' 'rootfs = "/"' '"@include" = ["host.toml"]' | "$@""#;
    let facts = caller
        .hakoniwa(&["run", "-c", "/dev/stdin", "-b", &bind, "--", PROBE, "facts"])
        .through(&["sh".as_ref(), "-c".as_ref(), feed.as_ref(), "sh".as_ref()])
        .output()
        .json();
    assert_eq!(facts["hostname"], "piped");
}

fn completions_and_man_pages_are_generated(caller: &Caller) {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let outcome = caller.hakoniwa(&["completion", shell]).output();
        let script = &outcome.success().stdout;
        for word in ["hakoniwa", "dry-run", "config", "landlock-fs-ro"] {
            assert!(script.contains(word), "{shell}: no {word}\n{outcome}");
        }
    }
    let outcome = caller.hakoniwa(&["completion", "tcsh"]).output();
    outcome.assert_setup_failure("invalid command line");

    let outcome = caller.hakoniwa(&["man"]).output();
    let page = &outcome.success().stdout;
    assert!(
        page.starts_with(".ie") || page.contains(".TH hakoniwa"),
        "{outcome}"
    );
    assert!(page.contains("completion"), "{outcome}");
    let outcome = caller.hakoniwa(&["man", "run"]).output();
    let page = &outcome.success().stdout;
    assert!(page.contains(".TH hakoniwa-run 1"), "{outcome}");
    assert!(
        page.contains("hakoniwa\\-run \\- Run a command"),
        "{outcome}"
    );
    for flag in ["\\-\\-config", "\\-\\-dry\\-run", "\\-\\-bindmount\\-ro"] {
        assert!(page.contains(flag), "no {flag} in the man page\n{outcome}");
    }
    caller
        .hakoniwa(&["man", "nope"])
        .output()
        .assert_setup_failure("no man page for \"nope\"");
}
