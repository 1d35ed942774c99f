//! The mount plan's steps, checked without running them.

use super::*;
use crate::plan::layering::tests::{bind, tmpfs};

/// The steps after the root tmpfs (step 0).
fn user_steps(mounts: &[Mount]) -> Result<Vec<Step>> {
    let mount_plan = plan(mounts, None, &[])?;
    assert_eq!(mount_plan.root_step, 0);
    let mut steps = mount_plan.steps;
    assert_eq!(steps.remove(0).what, "mount the root tmpfs");
    Ok(steps)
}

fn whats(steps: &[Step]) -> Vec<(&str, &str)> {
    steps
        .iter()
        .map(|s| (s.target.to_str().unwrap(), s.what.as_str()))
        .collect()
}

#[test]
fn a_directory_is_made_once_until_a_mount_covers_it() {
    let steps = user_steps(&[
        bind("/etc", "/a/b/1"),
        bind("/etc", "/a/b/2"),
        bind("/usr", "/a"),
    ])
    .unwrap();
    // `/a/b` is made once for both binds under it.
    assert_eq!(
        whats(&steps),
        [
            ("/newroot/a", "create mount point /a"),
            ("/newroot/a", "bind-mount /usr to /a"),
            ("/newroot/a/b", "create directory /a/b"),
            ("/newroot/a/b/1", "create mount point /a/b/1"),
            ("/newroot/a/b/1", "bind-mount /etc to /a/b/1"),
            ("/newroot/a/b/2", "create mount point /a/b/2"),
            ("/newroot/a/b/2", "bind-mount /etc to /a/b/2"),
        ]
    );
    // A second devfs at /dev hides the first one's /dev/pts: made again.
    let dev = Mount::Devfs {
        target: "/dev".into(),
    };
    let steps = user_steps(&[dev.clone(), dev]).unwrap();
    let pts = whats(&steps)
        .into_iter()
        .filter(|(target, what)| *target == "/newroot/dev/pts" && what.starts_with("create"))
        .count();
    assert_eq!(pts, 2);
    assert!(is_within(b"/newroot/a/b", b"/newroot/a"));
    assert!(is_within(b"/newroot/a", b"/newroot/a"));
    assert!(!is_within(b"/newroot/ab", b"/newroot/a"));
}

#[test]
fn bind_creates_parents_then_mount_point_then_binds() {
    let steps = user_steps(&[Mount::Bind {
        source: "/etc".into(),
        target: "/a/b".into(),
        writable: false,
        devices: false,
    }])
    .unwrap();
    assert_eq!(
        whats(&steps),
        [
            ("/newroot/a", "create directory /a"),
            ("/newroot/a/b", "create mount point /a/b"),
            ("/newroot/a/b", "bind-mount /etc to /a/b"),
        ]
    );
    match &steps[2].kind {
        StepKind::Bind { source, attrs } => {
            assert_eq!(source.to_str().unwrap(), "/oldroot/etc");
            assert_eq!(
                *attrs,
                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_RDONLY
            );
        }
        other => panic!("not a bind: {other:?}"),
    }
}

#[test]
fn bind_of_a_file_mounts_on_a_file() {
    let steps = user_steps(&[Mount::Bind {
        source: "/etc/hostname/../passwd".into(),
        target: "/passwd".into(),
        writable: true,
        devices: false,
    }]);
    // `canonicalize` refuses a path through a regular file.
    assert!(matches!(steps, Err(Error::BindSource { .. })));
    let steps = user_steps(&[Mount::Bind {
        source: "/etc/passwd".into(),
        target: "/passwd".into(),
        writable: true,
        devices: false,
    }])
    .unwrap();
    assert!(matches!(steps[0].kind, StepKind::File));
    assert!(matches!(
        steps[1].kind,
        StepKind::Bind { attrs, .. } if attrs == MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
    ));
}

#[test]
fn only_a_device_bind_leaves_device_nodes_usable() {
    let steps = user_steps(&[Mount::Bind {
        source: "/dev/null".into(),
        target: "/null".into(),
        writable: false,
        devices: true,
    }])
    .unwrap();
    assert_eq!(steps[1].what, "bind-mount /dev/null to /null (devices)");
    assert!(matches!(
        steps[1].kind,
        StepKind::Bind { attrs, .. } if attrs == MOUNT_ATTR_NOSUID | MOUNT_ATTR_RDONLY
    ));
}

#[test]
fn missing_bind_source_names_the_path() {
    let err = user_steps(&[Mount::Bind {
        source: "/nonexistent/x".into(),
        target: "/x".into(),
        writable: false,
        devices: false,
    }])
    .unwrap_err();
    assert_eq!(err.to_string(), "invalid bind-mount source /nonexistent/x");
}

#[test]
fn targets_must_be_absolute_without_dotdot() {
    for bad in ["data", "/a/../b"] {
        let err = user_steps(&[tmpfs(bad)]).unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{bad}: {err}");
    }
    let steps = user_steps(&[tmpfs("//tmp/./")]).unwrap();
    assert_eq!(
        steps.last().unwrap().target.to_str().unwrap(),
        "/newroot/tmp"
    );
}

#[test]
fn devfs_ends_read_only() {
    let steps = user_steps(&[Mount::Devfs {
        target: "/dev".into(),
    }])
    .unwrap();
    assert!(matches!(steps.last().unwrap().kind, StepKind::ReadOnly));
    assert!(whats(&steps).contains(&("/newroot/dev/null", "bind-mount /dev/null to /dev/null")));
}

#[test]
fn proc_hides_and_protects_what_reaches_the_host_kernel() {
    let steps = user_steps(&[Mount::Procfs {
        target: "/proc".into(),
    }])
    .unwrap();
    let whats: Vec<&str> = steps.iter().map(|s| s.what.as_str()).collect();
    assert!(whats.contains(&"hide /proc/kcore"), "{whats:?}");
    assert!(whats.contains(&"make /proc/sys read-only"), "{whats:?}");
    assert!(
        whats.contains(&"make /proc/sysrq-trigger read-only"),
        "{whats:?}"
    );
}

#[test]
fn parents_are_mounted_before_children_whatever_the_order_given() {
    let steps = user_steps(&[
        Mount::Bind {
            source: "/etc".into(),
            target: "/tmp/etc".into(),
            writable: false,
            devices: false,
        },
        tmpfs("/tmp"),
    ])
    .unwrap();
    let mounts: Vec<&str> = steps
        .iter()
        .filter(|s| matches!(s.kind, StepKind::Tmpfs { .. } | StepKind::Bind { .. }))
        .map(|s| s.target.to_str().unwrap())
        .collect();
    assert_eq!(mounts, ["/newroot/tmp", "/newroot/tmp/etc"]);
}

#[test]
fn hiding_and_protecting_come_after_every_mount() {
    let steps = user_steps(&[
        Mount::ReadOnly {
            target: "/data".into(),
        },
        Mount::Mask {
            target: "/data/secret".into(),
        },
        tmpfs("/data"),
        tmpfs("/data/inner/deeper"),
    ])
    .unwrap();
    let whats: Vec<&str> = steps
        .iter()
        .filter(|s| {
            matches!(
                s.kind,
                StepKind::Tmpfs { .. } | StepKind::Mask | StepKind::ReadOnlyInPlace
            )
        })
        .map(|s| s.what.as_str())
        .collect();
    assert_eq!(
        whats,
        [
            "mount tmpfs on /data (mode=755)",
            "mount tmpfs on /data/inner/deeper (mode=755)",
            "make /data read-only",
            "hide /data/secret"
        ],
        "{whats:?}"
    );
}

#[test]
fn tmpfs_options_and_modes() {
    let steps = user_steps(&[Mount::Tmpfs {
        target: "/scratch".into(),
        options: TmpfsOptions {
            size: Some(64 << 20),
            mode: Some(0o700),
            nr_inodes: Some(1000),
        },
    }])
    .unwrap();
    match &steps.last().unwrap().kind {
        StepKind::Tmpfs { options, .. } => assert_eq!(
            options.to_str().unwrap(),
            "mode=700,size=67108864,nr_inodes=1000"
        ),
        other => panic!("not a tmpfs: {other:?}"),
    }
    let bad = Mount::Dir {
        target: "/d".into(),
        mode: 0o17777,
    };
    assert!(matches!(user_steps(&[bad]), Err(Error::InvalidMode { .. })));
}

#[test]
fn a_read_only_rootdir_is_the_lower_layer_of_an_overlay() {
    let mount_plan = plan(
        &[],
        Some(RootDir {
            path: Path::new("/usr"),
            writable: false,
        }),
        &[],
    )
    .unwrap();
    assert!(mount_plan.root_read_only);
    assert_eq!(mount_plan.root_step, 2);
    match &mount_plan.steps.last().unwrap().kind {
        StepKind::Overlay { lower, rest } => {
            assert_eq!(lower.as_ref().unwrap().to_str().unwrap(), "/oldroot/usr");
            assert_eq!(
                rest.to_str().unwrap(),
                "upperdir=/.root-upper,workdir=/.root-work,userxattr"
            );
        }
        other => panic!("not an overlay: {other:?}"),
    }
    let err = plan(
        &[],
        Some(RootDir {
            path: Path::new("/etc/passwd"),
            writable: true,
        }),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, Error::Rootdir { .. }));
}
