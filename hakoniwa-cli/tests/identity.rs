//! Identity: id maps (own id, ranges, subordinate ids through newuidmap),
//! `--user` resolved in the sandbox's own files, capabilities, and
//! `no_new_privs` — seen from inside.

#[macro_use]
mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use serde_json::Value;

use common::facts;
use common::scratch;
use common::Caller;
use common::{newuidmap_installed, subordinate_ids};

sandbox_tests![
    uidmap_zero_maps_the_caller_to_root,
    ranges_beyond_the_own_id_go_through_newuidmap,
    userns_auto_maps_root_and_the_subordinate_ranges,
    maps_may_leave_the_callers_own_ids_out,
    user_is_resolved_in_the_sandbox_passwd,
    user_errors_name_the_culprit,
    root_inside_gets_the_engine_default_capabilities,
    cap_add_and_cap_drop_change_the_sets,
    a_user_other_than_root_gets_no_capability,
    no_new_privs_is_set_unless_allowed,
    root_inside_cannot_remount_a_read_only_bind,
    maps_outside_the_subordinate_ranges_are_refused,
];

fn status<'a>(facts: &'a Value, field: &str) -> &'a str {
    facts["status"][field].as_str().unwrap_or_default()
}

fn ids(facts: &Value) -> (u32, u32) {
    (
        facts::as_u32(&facts["uid"]["effective"]),
        facts::as_u32(&facts["gid"]["effective"]),
    )
}

fn uidmap_zero_maps_the_caller_to_root(caller: &Caller) {
    let facts = caller.facts(&["-u", "0", "-g", "0"]);
    assert_eq!(ids(&facts), (0, 0), "{facts}");
    assert_eq!(
        facts::id_map(&facts["uid_map"]),
        [[0, u64::from(caller.uid()), 1]]
    );
    assert_eq!(
        facts::id_map(&facts["gid_map"]),
        [[0, u64::from(caller.gid()), 1]]
    );
}

fn ranges_beyond_the_own_id_go_through_newuidmap(caller: &Caller) {
    let Some((start, _)) = subordinate_ids(caller, "ranges_beyond_the_own_id_go_through_newuidmap")
    else {
        return;
    };
    let range = format!("1:{start}:1000");
    let facts = caller.facts(&["-u", "0", "-u", &range, "-g", "0", "-g", &range]);
    let expected = [
        vec![0, u64::from(caller.uid()), 1],
        vec![1, u64::from(start), 1000],
    ];
    assert_eq!(facts::id_map(&facts["uid_map"]), expected, "{facts}");
    let expected_gid = [
        vec![0, u64::from(caller.gid()), 1],
        vec![1, u64::from(start), 1000],
    ];
    assert_eq!(facts::id_map(&facts["gid_map"]), expected_gid, "{facts}");
    // newgidmap leaves setgroups allowed: supplementary groups can be set.
    assert_eq!(
        facts["setgroups"].as_str().map(str::trim),
        Some("allow"),
        "{facts}"
    );
}

fn userns_auto_maps_root_and_the_subordinate_ranges(caller: &Caller) {
    let Some((start, count)) =
        subordinate_ids(caller, "userns_auto_maps_root_and_the_subordinate_ranges")
    else {
        return;
    };
    let facts = caller.facts(&["--userns=auto"]);
    assert_eq!(ids(&facts), (0, 0), "{facts}");
    let expected = [
        vec![0, u64::from(caller.uid()), 1],
        vec![1, u64::from(start), u64::from(count)],
    ];
    assert_eq!(facts::id_map(&facts["uid_map"]), expected, "{facts}");
    // Explicit maps and --userns=auto exclude each other.
    let outcome = caller
        .run(&["--userns=auto", "-u", "0"], &["true"])
        .output();
    outcome.assert_setup_failure("--userns");
}

fn maps_may_leave_the_callers_own_ids_out(caller: &Caller) {
    let Some((start, _)) = subordinate_ids(caller, "maps_may_leave_the_callers_own_ids_out") else {
        return;
    };
    // Root inside is the first subordinate id outside; the caller's own
    // ids are not mapped at all.
    let range = format!("0:{start}:1000");
    let maps = ["-u", range.as_str(), "-g", range.as_str()];
    let facts = caller.facts(&maps);
    assert_eq!(ids(&facts), (0, 0), "{facts}");
    assert_eq!(
        facts::id_map(&facts["uid_map"]),
        [[0, u64::from(start), 1000]]
    );
    assert_eq!(
        facts::id_map(&facts["gid_map"]),
        [[0, u64::from(start), 1000]]
    );
    // The caller's host groups are dropped: none is mapped.
    assert_eq!(facts["groups"], serde_json::json!([]), "{facts}");
    // Files it makes in a writable bind belong to that host id; the bind's
    // source is open to it, as a container engine's must be.
    let share = caller.dir("share");
    scratch::set_mode(&share, 0o777);
    let bind = format!("{}:/share", share.display());
    let mut args = maps.to_vec();
    args.extend(["-B", &bind]);
    caller
        .run(
            &args,
            &["sh", "-c", "touch /share/made && mkdir /share/dir"],
        )
        .output()
        .success();
    for made in ["made", "dir"] {
        let meta = fs::metadata(share.join(made)).expect("made inside");
        assert_eq!((meta.uid(), meta.gid()), (start, start), "{made}");
    }
    // A bind beneath a directory closed to that id cannot be made: the
    // error names the bind, the hint the host id the sandbox is built as.
    caller.dir("closed");
    caller.dir("closed/sub");
    scratch::set_mode(&caller.path("closed"), 0o700);
    let bind = format!("{}:/sub", caller.path("closed/sub").display());
    let mut args = maps.to_vec();
    args.extend(["-b", &bind]);
    let outcome = caller.run(&args, &["true"]).output();
    outcome.assert_setup_failure("closed/sub");
    assert!(
        outcome.stderr.contains(&format!(
            "hint: the id maps leave your own ids out, so the sandbox is built as host uid {start}"
        )),
        "{outcome}"
    );
}

/// A sandbox `/etc` of our own, bound over the host's: the names below
/// exist only there.
fn sandbox_etc(caller: &Caller) -> String {
    let etc = caller.dir("etc");
    fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        etc.join("group"),
        "root:x:0:\nalice:x:1000:\nwheel:x:10:alice\nstaff:x:50:\n",
    )
    .unwrap();
    format!("{}:/etc", etc.display())
}

fn user_is_resolved_in_the_sandbox_passwd(caller: &Caller) {
    let etc = sandbox_etc(caller);
    let maps: Vec<&str> = if caller.is_root() {
        vec!["-u", "0:0:2000", "-g", "0:0:2000"]
    } else {
        // Without subordinate ids, the caller itself is alice.
        vec!["-u", "1000", "-g", "1000"]
    };
    let mut args = maps.clone();
    args.extend(["-b", &etc, "--user", "alice"]);
    let facts = caller.facts(&args);
    assert_eq!(ids(&facts), (1000, 1000), "{facts}");
    // Her groups from the sandbox's /etc/group, where setgroups is allowed
    // (root writes the maps); an unprivileged map denies setgroups.
    if caller.is_root() {
        assert_eq!(facts["groups"], serde_json::json!([10]), "{facts}");
    }
    let mut args = maps.clone();
    args.extend(["-b", &etc, "--user", "1000:1000"]);
    assert_eq!(ids(&caller.facts(&args)), (1000, 1000));
    if caller.is_root() {
        let mut args = maps.clone();
        args.extend(["-b", &etc, "--user", "alice:staff:wheel,0"]);
        let facts = caller.facts(&args);
        assert_eq!(ids(&facts), (1000, 50), "{facts}");
        assert_eq!(facts["groups"], serde_json::json!([0, 10]), "{facts}");
    }
}

fn user_errors_name_the_culprit(caller: &Caller) {
    let etc = sandbox_etc(caller);
    for (args, culprit) in [
        (vec!["-b", &etc, "--user", "mallory"], "mallory"),
        (vec!["-b", &etc, "--user", "alice:nogroup"], "nogroup"),
        (vec!["-b", &etc, "--user", "alice"], "not mapped"),
        (vec!["-b", &etc, "--user", "4242"], "4242"),
    ] {
        let outcome = caller.run(&args, &["true"]).output();
        outcome.assert_setup_failure(culprit);
    }
    if !caller.is_root() {
        // Explicit supplementary groups need setgroups, which a map the
        // caller writes itself denies.
        let outcome = caller
            .run(
                &[
                    "-u",
                    "1000",
                    "-g",
                    "1000",
                    "-b",
                    &etc,
                    "--user",
                    "alice:alice:alice",
                ],
                &["true"],
            )
            .output();
        outcome.assert_setup_failure("setgroups");
    }
}

const ENGINE_DEFAULT: &str = "00000000a80405fb";

fn root_inside_gets_the_engine_default_capabilities(caller: &Caller) {
    let facts = caller.facts(&["-u", "0", "-g", "0"]);
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status(&facts, set), ENGINE_DEFAULT, "{set}: {facts}");
    }
    assert_eq!(status(&facts, "CapInh"), "0000000000000000", "{facts}");
    assert_eq!(status(&facts, "CapAmb"), "0000000000000000", "{facts}");
}

fn cap_add_and_cap_drop_change_the_sets(caller: &Caller) {
    let facts = caller.facts(&[
        "-u",
        "0",
        "--cap-add",
        "SYS_ADMIN",
        "--cap-drop",
        "CAP_CHOWN",
    ]);
    let expected = format!("{:016x}", (0xa80405fb_u64 | 1 << 21) & !1);
    assert_eq!(status(&facts, "CapEff"), expected, "{facts}");
    assert_eq!(status(&facts, "CapBnd"), expected, "{facts}");
    let facts = caller.facts(&["-u", "0", "--cap-drop", "ALL", "--cap-add", "NET_RAW"]);
    assert_eq!(
        status(&facts, "CapEff"),
        format!("{:016x}", 1u64 << 13),
        "{facts}"
    );
    let outcome = caller.run(&["--cap-add", "NOT_A_CAP"], &["true"]).output();
    outcome.assert_setup_failure("NOT_A_CAP");
}

fn a_user_other_than_root_gets_no_capability(caller: &Caller) {
    let facts = caller.facts(&["-u", "1000", "-g", "1000"]);
    for set in ["CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"] {
        assert_eq!(status(&facts, set), "0000000000000000", "{set}: {facts}");
    }
    // An added capability is ambient, so it survives exec for uid 1000.
    let facts = caller.facts(&["-u", "1000", "-g", "1000", "--cap-add", "NET_RAW"]);
    let raw = format!("{:016x}", 1u64 << 13);
    for set in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
        assert_eq!(status(&facts, set), raw, "{set}: {facts}");
    }
}

fn no_new_privs_is_set_unless_allowed(caller: &Caller) {
    assert_eq!(status(&caller.facts(&[]), "NoNewPrivs"), "1");
    assert_eq!(
        status(&caller.facts(&["--allow-new-privs"]), "NoNewPrivs"),
        "0"
    );
}

/// Even mapped to root, with the default capabilities, the program cannot
/// make the read-only `/usr` writable or take it away.
fn root_inside_cannot_remount_a_read_only_bind(caller: &Caller) {
    const EPERM: i64 = 1;
    let attempt = caller.attempt(&["-u", "0", "-g", "0"], &["remount-rw", "/usr"]);
    for how in ["bind_remount", "remount"] {
        assert_eq!(
            attempt[how]["errno"].as_i64(),
            Some(EPERM),
            "{how}: {attempt}"
        );
    }
    let attempt = caller.attempt(&["-u", "0", "-g", "0"], &["umount", "/usr"]);
    for how in ["umount", "detach"] {
        assert_eq!(
            attempt[how]["errno"].as_i64(),
            Some(EPERM),
            "{how}: {attempt}"
        );
    }
}

fn maps_outside_the_subordinate_ranges_are_refused(caller: &Caller) {
    if caller.is_root() {
        skipped!(
            "skipped: maps_outside_the_subordinate_ranges_are_refused: root may map any range"
        );
        return;
    }
    if !newuidmap_installed() {
        skipped!(
            "skipped: maps_outside_the_subordinate_ranges_are_refused: newuidmap not installed"
        );
        return;
    }
    let outcome = caller
        .run(&["-u", "0", "-u", "1:3999999000:5"], &["true"])
        .output();
    outcome.assert_setup_failure("/etc/subuid");
    assert!(outcome.stderr.contains("hint: "), "no hint\n{outcome}");
}
