//! Stage 4 on single values and whole files: each error names its key.

use super::*;

fn layer(text: &str) -> Result<Layer, Invalid> {
    validate(toml::from_str(text).expect("valid TOML"))
}

fn error(text: &str) -> (String, String) {
    let err = layer(text).unwrap_err();
    (err.key, err.message)
}

#[test]
fn cgroup_limits_take_numbers_and_the_flags_spellings() {
    let got = layer(
        r#"cgroup = { memory = "256M", memory_swap = 536870912, pids = "unlimited", cpus = 0.5, cpu_weight = 50 }"#,
    )
    .unwrap();
    assert_eq!(
        got.cgroup,
        CgroupLimits {
            memory: Some(256 << 20),
            memory_swap: Some(512 << 20),
            pids: Some(values::UNLIMITED),
            cpus: Some(0.5),
            cpu_weight: Some(50),
        }
    );
    assert_eq!(error(r#"cgroup = { memory = "lots" }"#).0, "cgroup.memory");
    assert_eq!(error("cgroup = { pids = 1.5 }").0, "cgroup.pids");
}

#[test]
fn namespaces_keep_their_order_and_share_flag() {
    let got = layer(
        r#"namespaces = [{ type = "cgroup" }, { type = "ipc" }, { type = "network" },
                         { type = "uts" }, { type = "network", share = true }]"#,
    )
    .unwrap();
    assert_eq!(
        got.namespaces,
        [
            (Namespace::Cgroup, false),
            (Namespace::Ipc, false),
            (Namespace::Network, false),
            (Namespace::Uts, false),
            (Namespace::Network, true)
        ]
    );
    let (key, message) = error(r#"namespaces = [{ type = "uts" }, { type = "time" }]"#);
    assert_eq!(key, "namespaces[1].type");
    assert!(message.contains("unknown namespace \"time\""), "{message}");
    assert!(error(r#"namespaces = [{ type = "user" }]"#)
        .1
        .contains("always new"));
}

#[test]
fn tmpfs_options_and_overlays() {
    let got = layer(
        r#"mounts = [
            { destination = "/tmp", type = "tmpfs", options = "size=64m,mode=1777" },
            { destination = "/usr", type = "overlay" },
            { destination = "/data", type = "overlay", upper = "/u", work = "/w" },
        ]"#,
    )
    .unwrap();
    assert_eq!(
        got.mounts,
        [
            Mount::Tmpfs("/tmp".into(), Some("size=64m,mode=1777".into())),
            Mount::Overlay("/usr".into(), None),
            Mount::Overlay("/data".into(), Some(("/u".into(), "/w".into()))),
        ]
    );
    let bad = [
        (
            r#"mounts = [{ destination = "/t", type = "tmpfs", options = "uid=0" }]"#,
            "mounts[0].options",
        ),
        (
            r#"mounts = [{ source = "/usr", options = "size=1m" }]"#,
            "mounts[0].options",
        ),
        (
            r#"mounts = [{ destination = "/d", type = "overlay", upper = "/u" }]"#,
            "mounts[0].upper",
        ),
        (
            r#"mounts = [{ source = "/usr", upper = "/u", work = "/w" }]"#,
            "mounts[0].upper",
        ),
    ];
    for (text, key) in bad {
        assert_eq!(error(text).0, key, "{text}");
    }
}

#[test]
fn mounts_default_their_destination_and_type() {
    let got = layer(
        r#"mounts = [
            { source = "/usr" },
            { source = "/etc", destination = "/host-etc", rw = true },
            { source = "", destination = "/tmp", type = "tmpfs" },
            { source = "/dev", type = "devfs" },
            { source = "/bin", type = "bind" },
            { source = "/dev/null", destination = "/null", dev = true },
        ]"#,
    )
    .unwrap();
    assert_eq!(
        got.mounts,
        [
            Mount::Bind {
                source: "/usr".into(),
                destination: "/usr".into(),
                rw: false,
                dev: false
            },
            Mount::Bind {
                source: "/etc".into(),
                destination: "/host-etc".into(),
                rw: true,
                dev: false
            },
            Mount::Tmpfs("/tmp".into(), None),
            Mount::Devfs("/dev".into()),
            Mount::Bind {
                source: "/bin".into(),
                destination: "/bin".into(),
                rw: false,
                dev: false
            },
            Mount::Bind {
                source: "/dev/null".into(),
                destination: "/null".into(),
                rw: false,
                dev: true
            },
        ]
    );
}

#[test]
fn bad_mounts_name_their_key() {
    let (key, message) =
        error(r#"mounts = [{ source = "/usr" }, { source = "/nonexistent-hakoniwa" }]"#);
    assert_eq!(key, "mounts[1].source");
    assert!(message.contains("No such file"), "{message}");
    let cases = [
        (
            r#"mounts = [{ source = "/usr", type = "squashfs" }]"#,
            "mounts[0].type",
        ),
        (
            r#"mounts = [{ source = "/dev/null", dev = true, rw = true }]"#,
            "mounts[0].rw",
        ),
        (
            r#"mounts = [{ destination = "/tmp", type = "tmpfs", dev = true }]"#,
            "mounts[0].dev",
        ),
        (
            r#"mounts = [{ source = "/usr", destination = "usr" }]"#,
            "mounts[0].destination",
        ),
        (
            r#"mounts = [{ source = "", type = "tmpfs" }]"#,
            "mounts[0].destination",
        ),
        (r#"mounts = [{ source = "" }]"#, "mounts[0].destination"),
        (
            r#"mounts = [{ source = "", destination = "/x" }]"#,
            "mounts[0].source",
        ),
        (
            r#"mounts = [{ source = "/a:b", destination = "/x" }]"#,
            "mounts[0].source",
        ),
        (
            r#"mounts = [{ destination = "/t", type = "tmpfs", rw = true }]"#,
            "mounts[0].rw",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error(text).0, expected, "{text}");
    }
}

#[test]
fn envs_without_a_value_copy_the_callers() {
    let got = layer(
        r#"envs = [{ name = "TERM" }, { name = "A", value = "1=2" }, { name = "E", value = "" }]"#,
    )
    .unwrap();
    assert_eq!(got.envs, ["TERM", "A=1=2", "E="]);
    assert_eq!(error(r#"envs = [{ name = "A=B" }]"#).0, "envs[0].name");
    assert_eq!(error(r#"envs = [{ name = "" }]"#).0, "envs[0].name");
}

#[test]
fn network_modes() {
    assert_eq!(
        layer("network.mode = \"none\"").unwrap().network,
        Some(NetworkMode::None)
    );
    assert_eq!(
        layer("[network]\nmode = \"host\"").unwrap().network,
        Some(NetworkMode::Host)
    );
    assert_eq!(
        layer("[network]\nmode = \"pasta\"\noptions = [\"-T\", \"auto\"]")
            .unwrap()
            .network,
        Some(NetworkMode::Pasta(vec!["-T".into(), "auto".into()]))
    );
    assert_eq!(error("network.mode = \"slirp\"").0, "network.mode");
    assert_eq!(
        error("network = { mode = \"none\", options = [\"-T\"] }").0,
        "network.options"
    );
}

#[test]
fn landlock_rules_and_masks() {
    let got = layer(
        r#"
        [landlock]
        resources = [{ type = "fs" }, { type = "tcp.connect", unrestrict = true }]
        fs = [{ path = "/usr", access = "r-x" }, { path = "/tmp", access = "rw-" },
              { path = "/w", access = "-w-" }, { path = "/all", access = "rwx" },
              { path = "/x", access = "--x" }, { path = "/etc", access = "r" }]
        net = [{ port = 443, access = "tcp.connect" }, { port = 8080, access = "bind" }]
        scope = ["signal"]
        compat = "best-effort"
        "#,
    )
    .unwrap()
    .landlock;
    assert_eq!(
        got.resources,
        [(Resource::Fs, false), (Resource::TcpConnect, true)]
    );
    let masks: Vec<String> = got.fs.iter().map(|(_, a)| a.to_string()).collect();
    assert_eq!(masks, ["rx", "rw", "w", "rwx", "x", "r"]);
    assert_eq!(
        got.net,
        [(443, NetAccess::TcpConnect), (8080, NetAccess::TcpBind)]
    );
    assert_eq!(got.scopes, [Scope::Signal]);
    assert_eq!(got.compat, Some(CompatMode::BestEffort));
    for (text, key) in [
        (
            "landlock.resources = [{ type = \"udp\" }]",
            "landlock.resources[0].type",
        ),
        (
            "landlock.fs = [{ path = \"/a\", access = \"w-r\" }]",
            "landlock.fs[0].access",
        ),
        (
            "landlock.fs = [{ path = \"/a\", access = \"---\" }]",
            "landlock.fs[0].access",
        ),
        (
            "landlock.fs = [{ path = \"a\", access = \"r--\" }]",
            "landlock.fs[0].path",
        ),
        (
            "landlock.net = [{ port = 1, access = \"udp\" }]",
            "landlock.net[0].access",
        ),
        ("landlock.scope = [\"ipc\"]", "landlock.scope[0]"),
        ("landlock.compat = \"maybe\"", "landlock.compat"),
    ] {
        assert_eq!(error(text).0, key, "{text}");
    }
}

#[test]
fn id_maps_default_to_the_caller_and_one_id() {
    let got = layer(
        "uidmaps = [{ container_id = 0 }, { container_id = 1, host_id = 100000, count = 65536 }]\n\
         gidmaps = [{ container_id = 0, host_id = 5, size = 2 }]",
    )
    .unwrap();
    assert_eq!(got.uidmaps, [(0, None, 1), (1, Some(100000), 65536)]);
    assert_eq!(got.gidmaps, [(0, Some(5), 2)]);
    assert_eq!(
        error("uidmaps = [{ container_id = 0, count = 0 }]").0,
        "uidmaps[0].count"
    );
}

#[test]
fn identity_keys() {
    let got = layer(
        r#"
        userns = "auto"
        allow_new_privs = true
        user = { name = "builder", group = "staff", groups = ["wheel", "audio"] }
        capabilities = { add = ["NET_RAW"], drop = ["ALL"] }
        "#,
    )
    .unwrap();
    assert_eq!(got.userns.as_deref(), Some("auto"));
    assert_eq!(got.allow_new_privs, Some(true));
    assert_eq!(got.user.as_deref(), Some("builder:staff:wheel,audio"));
    assert_eq!(got.cap_add, ["NET_RAW"]);
    assert_eq!(got.cap_drop, ["ALL"]);
    let user = |text| layer(text).unwrap().user.unwrap();
    assert_eq!(user("user.name = \"nobody\""), "nobody");
    assert_eq!(
        user("user = { name = \"1000\", groups = [\"10\"] }"),
        "1000::10"
    );
    assert_eq!(error("userns = \"keep-id\"").0, "userns");
    assert_eq!(error("user.name = \"a:b\"").0, "user.name");
    assert_eq!(
        error("user = { name = \"a\", groups = [\"x,y\"] }").0,
        "user.groups[0]"
    );
    assert_eq!(error("capabilities.add = [\"\"]").0, "capabilities.add[0]");
}

#[test]
fn limits_take_numbers_and_the_flags_spellings() {
    let got = layer(
        r#"limits = [
            { type = "as", value = 1073741824 }, { type = "core", value = 0 },
            { type = "cpu", value = 30 }, { type = "fsize", value = "64M" },
            { type = "memlock", value = "64k" }, { type = "nofile", value = "unlimited" },
            { type = "nproc", value = 100 }, { type = "stack", value = "8M" },
            { type = "walltime", value = 1.5 },
        ]"#,
    )
    .unwrap();
    assert_eq!(
        got.rlimits,
        [
            (Rlimit::As, 1 << 30),
            (Rlimit::Core, 0),
            (Rlimit::Cpu, 30),
            (Rlimit::Fsize, 64 << 20),
            (Rlimit::Memlock, 64 << 10),
            (Rlimit::Nofile, values::UNLIMITED),
            (Rlimit::Nproc, 100),
            (Rlimit::Stack, 8 << 20),
        ]
    );
    assert_eq!(got.walltime, Some(Duration::from_millis(1500)));
    assert_eq!(
        layer("limits = [{ type = \"walltime\", value = 2 }]")
            .unwrap()
            .walltime,
        Some(Duration::from_secs(2))
    );
    for (text, key) in [
        ("limits = [{ type = \"rss\", value = 1 }]", "limits[0].type"),
        (
            "limits = [{ type = \"cpu\", value = \"1G\" }]",
            "limits[0].value",
        ),
        (
            "limits = [{ type = \"as\", value = 1.5 }]",
            "limits[0].value",
        ),
        (
            "limits = [{ type = \"walltime\", value = 0 }]",
            "limits[0].value",
        ),
    ] {
        assert_eq!(error(text).0, key, "{text}");
    }
}

#[test]
fn scalar_keys() {
    let got = layer(
        r#"
        rootfs = "/"
        hostname = "box"
        report = "-"
        seccomp = { path = "podman", allow_userns = true }
        command = { cmdline = ["sh", "-c", "true"], cwd = "/tmp" }
        "#,
    )
    .unwrap();
    assert_eq!(got.rootfs.as_deref(), Some("/"));
    assert_eq!(got.hostname.as_deref(), Some("box"));
    assert_eq!(got.report.as_deref(), Some("-"));
    assert_eq!(got.seccomp.as_deref(), Some("podman"));
    assert_eq!(got.allow_userns, Some(true));
    assert_eq!(
        got.cmdline,
        Some(vec!["sh".to_string(), "-c".into(), "true".into()])
    );
    assert_eq!(got.cwd.as_deref(), Some("/tmp"));
    for (text, key) in [
        ("hostname = \"\"", "hostname"),
        ("command.cmdline = []", "command.cmdline"),
        ("command.cwd = \"tmp\"", "command.cwd"),
        ("seccomp.path = \"\"", "seccomp.path"),
        ("rootfs = \"\"", "rootfs"),
    ] {
        assert_eq!(error(text).0, key, "{text}");
    }
}

#[test]
fn rootdir_and_filesystem_entries() {
    let got = layer(
        r#"
        rootdir = { path = "/usr", rw = true }
        [filesystem]
        files = [{ destination = "/etc/motd", contents = "hi:there\n" }]
        dirs = [{ destination = "/work" }]
        symlinks = [{ original = "usr/bin", link = "/bin" }]
        "#,
    )
    .unwrap();
    assert_eq!(got.rootdir.as_deref(), Some("/usr:rw"));
    assert_eq!(
        layer("rootdir.path = \"/usr\"").unwrap().rootdir.as_deref(),
        Some("/usr")
    );
    assert_eq!(
        got.files,
        [("/etc/motd".to_string(), "hi:there\n".to_string())]
    );
    assert_eq!(got.dirs, ["/work"]);
    assert_eq!(got.symlinks, ["usr/bin:/bin"]);
    for (text, key) in [
        ("rootdir.path = \"/nonexistent-hakoniwa\"", "rootdir.path"),
        (
            "[[filesystem.files]]\ndestination = \"f\"\ncontents = \"\"",
            "filesystem.files[0].destination",
        ),
        (
            "[[filesystem.dirs]]\ndestination = \"/a:b\"",
            "filesystem.dirs[0].destination",
        ),
        (
            "[[filesystem.symlinks]]\noriginal = \"\"\nlink = \"/b\"",
            "filesystem.symlinks[0].original",
        ),
        (
            "[[filesystem.symlinks]]\noriginal = \"a\"\nlink = \"b\"",
            "filesystem.symlinks[0].link",
        ),
    ] {
        assert_eq!(error(text).0, key, "{text}");
    }
}
