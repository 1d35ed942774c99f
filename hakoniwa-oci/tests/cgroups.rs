//! A container's cgroup driven from outside — `pause`, `resume`,
//! `update`, `linux.cgroupsPath` — and the device nodes of
//! `linux.devices`. The cgroup scenarios need a cgroup the caller may
//! write (root here: the v1 hierarchies are root's); where there is none,
//! they are skipped with the runtime's own reason printed, and the
//! refusal itself is checked.

mod bounded;
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use common::{callers, Bundle, Caller, NOBODY};
use serde_json::{json, Value};

/// A bundle whose program counts, every 20 ms, into `out/count`, a host
/// directory bound writable at `/out`; `resources` goes to
/// `linux.resources`.
fn counting_bundle(name: &str, caller: Caller, resources: Value) -> Bundle {
    let bundle = Bundle::new(name, caller, &["true"]);
    let out = bundle.dir.join("out");
    fs::create_dir(&out).expect("create out");
    fs::set_permissions(&out, fs::Permissions::from_mode(0o777)).expect("chmod");
    // Renamed into place, so that a reader (or a freeze) never meets a
    // half-written count.
    let script =
        "i=0; while :; do i=$((i+1)); echo $i > /out/next; mv /out/next /out/count; sleep 0.02; done";
    let mut config = bundle.config(&["sh", "-c", script]);
    config["mounts"]
        .as_array_mut()
        .expect("mounts")
        .push(json!({"destination": "/out", "type": "bind", "source": out, "options": ["rbind"]}));
    if !resources.is_null() {
        config["linux"]["resources"] = resources;
    }
    bundle.write_config(&config);
    bundle
}

/// The program's last count.
fn count(bundle: &Bundle) -> u64 {
    fs::read_to_string(bundle.dir.join("out/count"))
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the count passes `above`.
fn wait_for_count_above(bundle: &Bundle, above: u64) -> u64 {
    let started = Instant::now();
    loop {
        let now = count(bundle);
        if now > above {
            return now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the count stays at {now}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Creates `box`; `false` (with the reason printed) when the container
/// cannot have a cgroup here, which must then be the library's refusal, and
/// `create` must have left no container behind.
fn create_with_cgroup(bundle: &Bundle, caller: Caller) -> bool {
    let created = bundle.oci(&["create", "--bundle", "{bundle}", "box"]);
    if created.code != Some(0)
        && created.stderr.contains("cannot apply cgroup limits")
        && created.stderr.contains("is not writable by uid")
    {
        eprintln!(
            "skipping the cgroup run as {caller:?}: no writable cgroup: {}",
            created.stderr.trim()
        );
        bundle.assert_gone("box", &format!("{caller:?}: after a refused create"));
        return false;
    }
    assert_eq!(created.code, Some(0), "{caller:?}: {created:?}");
    true
}

/// Creates and starts `box`. `None` (with the reason printed) when the
/// container cannot have a cgroup here (see `create_with_cgroup`).
fn start_with_cgroup(bundle: &Bundle, caller: Caller) -> Option<Value> {
    if !create_with_cgroup(bundle, caller) {
        return None;
    }
    let started = bundle.oci(&["start", "box"]);
    assert_eq!(started.code, Some(0), "{caller:?}: {started:?}");
    let state = bundle.state("box");
    assert_eq!(state["status"], "running", "{caller:?}: {state}");
    Some(state)
}

/// Ends the container `box` however the test ends: a failed assertion
/// must not leave it running.
struct Cleanup<'a>(&'a Bundle);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.0.oci(&["delete", "--force", "box"]);
    }
}

/// The cgroup directories the state records.
fn cgroup_paths(state: &Value) -> Vec<PathBuf> {
    state["hakoniwa"]["cgroup"]["paths"]
        .as_array()
        .expect("a cgroup in the state")
        .iter()
        .map(|p| PathBuf::from(p.as_str().expect("a path")))
        .collect()
}

/// The value of `file` in whichever of the cgroup's directories has it.
fn cgroup_file(paths: &[PathBuf], file: &str) -> String {
    paths
        .iter()
        .find_map(|dir| fs::read_to_string(dir.join(file)).ok())
        .unwrap_or_else(|| panic!("no {file} in {paths:?}"))
        .trim()
        .to_string()
}

#[test]
fn pause_stops_every_process_and_resume_lets_them_go_on() {
    for caller in callers() {
        let bundle = counting_bundle("pause", caller, json!({"pids": {"limit": 64}}));
        let Some(_) = start_with_cgroup(&bundle, caller) else {
            continue;
        };
        let _cleanup = Cleanup(&bundle);
        let before = wait_for_count_above(&bundle, 0);

        let paused = bundle.oci(&["pause", "box"]);
        assert_eq!(paused.code, Some(0), "{caller:?}: {paused:?}");
        let state = bundle.state("box");
        assert_eq!(state["status"], "paused", "{state}");
        let frozen_at = count(&bundle);
        assert!(frozen_at >= before);
        thread::sleep(Duration::from_millis(300));
        assert_eq!(
            count(&bundle),
            frozen_at,
            "{caller:?}: it counted while paused"
        );
        let again = bundle.oci(&["pause", "box"]);
        assert!(
            again
                .stderr
                .contains("container box is paused: cannot pause it"),
            "{again:?}"
        );

        let resumed = bundle.oci(&["resume", "box"]);
        assert_eq!(resumed.code, Some(0), "{caller:?}: {resumed:?}");
        assert_eq!(bundle.state("box")["status"], "running");
        wait_for_count_above(&bundle, frozen_at);

        // KILL reaches a paused container: it is thawed once sent.
        assert_eq!(bundle.oci(&["pause", "box"]).code, Some(0));
        let killed = bundle.oci(&["kill", "box", "KILL"]);
        assert_eq!(killed.code, Some(0), "{caller:?}: {killed:?}");
        let state = bundle.wait_for_state("box", "an exit code", |s| {
            s["hakoniwa"]["exitCode"].is_number()
        });
        assert_eq!(state["hakoniwa"]["exitCode"], 128 + 9, "{state}");
        assert_eq!(bundle.oci(&["delete", "box"]).code, Some(0));
    }
}

#[test]
fn pause_of_a_container_without_a_cgroup_says_why() {
    for caller in callers() {
        let bundle = Bundle::new("no-cgroup", caller, &["sleep", "60"]);
        assert_eq!(
            bundle.oci(&["create", "--bundle", "{bundle}", "box"]).code,
            Some(0)
        );
        assert_eq!(bundle.oci(&["start", "box"]).code, Some(0));
        let refused = bundle.oci(&["pause", "box"]);
        assert_eq!(refused.code, Some(1), "{refused:?}");
        assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
        assert!(
            refused.stderr.starts_with(
                "hakoniwa-oci: cannot pause container box: it has no cgroup of its own"
            ) && refused.stderr.contains("hint: "),
            "{refused:?}"
        );
        let refused = bundle.oci(&["update", "--pids-limit", "5", "box"]);
        assert!(
            refused.stderr.contains("cannot update container box"),
            "{refused:?}"
        );
        assert_eq!(bundle.state("box")["status"], "running");
        assert_eq!(bundle.oci(&["delete", "--force", "box"]).code, Some(0));
    }
}

#[test]
fn update_changes_the_limits_of_a_running_container() {
    for caller in callers() {
        let bundle = counting_bundle(
            "update",
            caller,
            json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 64}}),
        );
        let Some(state) = start_with_cgroup(&bundle, caller) else {
            continue;
        };
        let _cleanup = Cleanup(&bundle);
        let paths = cgroup_paths(&state);
        let memory_file = match state["hakoniwa"]["cgroup"]["version"].as_u64() {
            Some(1) => "memory.limit_in_bytes",
            _ => "memory.max",
        };
        assert_eq!(cgroup_file(&paths, memory_file), (64u64 << 20).to_string());

        let updated = bundle.oci(&[
            "update",
            "--memory",
            "33554432",
            "--pids-limit",
            "20",
            "box",
        ]);
        assert_eq!(updated.code, Some(0), "{caller:?}: {updated:?}");
        assert_eq!(cgroup_file(&paths, memory_file), (32u64 << 20).to_string());
        assert_eq!(cgroup_file(&paths, "pids.max"), "20");

        // The JSON form, from a file.
        let file = bundle.dir.join("resources.json");
        fs::write(&file, json!({"pids": {"limit": 100}}).to_string()).expect("write");
        let file = file.to_str().expect("UTF-8");
        let updated = bundle.oci(&["update", "--resources", file, "box"]);
        assert_eq!(updated.code, Some(0), "{caller:?}: {updated:?}");
        assert_eq!(cgroup_file(&paths, "pids.max"), "100");

        // A knob whose controller the cgroup lacks (no CPU limit was asked
        // for): refused, and the pids limit given with it is not written.
        let refused = bundle.oci(&["update", "--pids-limit", "7", "--cpu-quota", "50000", "box"]);
        assert_eq!(refused.code, Some(1), "{refused:?}");
        assert!(
            refused.stderr.contains("failed to update container box")
                && refused.stderr.contains("(cpu)"),
            "{refused:?}"
        );
        assert_eq!(cgroup_file(&paths, "pids.max"), "100");
        let unset = bundle.oci(&["update", "--memory", "-1", "box"]);
        assert_eq!(unset.code, Some(0), "-1 sets nothing: {unset:?}");
        assert_eq!(cgroup_file(&paths, memory_file), (32u64 << 20).to_string());

        // The program sees it: init and its shell are two, so the shell's
        // next `sleep` cannot be started, and the shell gives up (dash
        // exits 2 when it cannot fork).
        wait_for_count_above(&bundle, 0);
        let updated = bundle.oci(&["update", "--pids-limit", "2", "box"]);
        assert_eq!(updated.code, Some(0), "{caller:?}: {updated:?}");
        let state = bundle.wait_for_state("box", "an exit code", |s| {
            s["hakoniwa"]["exitCode"].is_number()
        });
        assert_eq!(state["hakoniwa"]["exitCode"], 2, "{caller:?}: {state}");
    }
}

#[test]
fn cgroups_path_places_the_container_and_delete_removes_it() {
    for caller in callers() {
        let parent = format!("hakoniwa-oci-test-{}-{caller:?}", std::process::id());
        let path = format!("/{parent}/box");
        let bundle = Bundle::new("cgroups-path", caller, &["sleep", "60"]);
        let mut config = bundle.config(&["sleep", "60"]);
        config["linux"]["cgroupsPath"] = json!(path);
        config["linux"]["resources"] = json!({"pids": {"limit": 32}});
        bundle.write_config(&config);
        let Some(state) = start_with_cgroup(&bundle, caller) else {
            continue;
        };
        let _cleanup = Cleanup(&bundle);
        let pid = state["pid"].as_u64().expect("a pid");
        let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its cgroup");
        assert!(
            own.lines().any(|line| line.ends_with(&format!(":{path}"))),
            "{caller:?}: init is not in {path}: {own}"
        );
        let paths = cgroup_paths(&state);
        assert!(paths.iter().all(|p| p.ends_with(&path[1..])), "{paths:?}");
        assert_eq!(cgroup_file(&paths, "pids.max"), "32");

        assert_eq!(bundle.oci(&["delete", "--force", "box"]).code, Some(0));
        for dir in &paths {
            assert!(!dir.exists(), "{} is left", dir.display());
            // The parent was made for it, and is left: remove it.
            let _ = fs::remove_dir(dir.parent().expect("a parent"));
        }
        // A path that exists already is refused: it may hold another's.
        fs::create_dir_all(&paths[0]).expect("make the cgroup");
        let run = bundle.oci(&["run", "--bundle", "{bundle}", "box"]);
        let _ = fs::remove_dir(&paths[0]);
        let _ = fs::remove_dir(paths[0].parent().expect("a parent"));
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(
            run.stderr.contains(&format!(
                "failed to create the cgroup {}\ncaused by: File exists",
                paths[0].display()
            )),
            "{run:?}"
        );
    }
}

#[test]
fn a_cgroups_path_the_caller_cannot_write_is_refused() {
    if !callers().contains(&Caller::Nobody) {
        eprintln!("skipping: the rootless caller needs a root runner with setpriv");
        return;
    }
    let bundle = Bundle::new("cgroups-path-nobody", Caller::Nobody, &["true"]);
    let mut config = bundle.config(&["true"]);
    config["linux"]["cgroupsPath"] = json!("/hakoniwa-oci-test-refused/box");
    bundle.write_config(&config);
    let run = bundle.oci(&["run", "--bundle", "{bundle}", "box"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("cannot apply cgroup limits (freezer)")
            && run.stderr.contains(&format!("by uid {NOBODY}")),
        "{run:?}"
    );
    assert!(!Path::new("/sys/fs/cgroup/unified/hakoniwa-oci-test-refused").exists());
}

#[test]
fn linux_devices_are_bound_from_the_host_and_a_bad_one_is_refused() {
    let tun = Path::new("/dev/net/tun");
    if !tun.exists() {
        eprintln!("skipping: the host has no /dev/net/tun to bind");
        return;
    }
    for caller in callers() {
        // podman lists the devfs's own nodes too; a device may be renamed.
        let script = "exec 3<>/dev/net/tun && exec 4<>/dev/tun2 && echo x > /dev/null && \
                      head -c 4 /dev/zero | wc -c && ls -l /dev/net/tun";
        let bundle = Bundle::new("devices", caller, &["sh", "-c", script]);
        let mut config = bundle.config(&["sh", "-c", script]);
        config["linux"]["devices"] = json!([
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0},
            {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5},
            {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 438},
            {"path": "/dev/tun2", "type": "c", "major": 10, "minor": 200},
        ]);
        bundle.write_config(&config);
        let run = bundle.oci(&["run", "--bundle", "{bundle}", "box"]);
        assert_eq!(run.code, Some(0), "{caller:?}: {run:?}");
        assert!(
            run.stdout.starts_with("4\ncrw-rw-rw-"),
            "{caller:?}: {run:?}"
        );
        assert!(
            run.stdout.trim_end().ends_with("10, 200 /dev/net/tun")
                || run.stdout.contains(" 10, 200 "),
            "{run:?}"
        );

        config["linux"]["devices"]
            .as_array_mut()
            .expect("devices")
            .push(json!({"path": "/dev/nothing", "type": "c", "major": 250, "minor": 250}));
        bundle.write_config(&config);
        let refused = bundle.oci(&["create", "--bundle", "{bundle}", "box"]);
        assert_eq!(refused.code, Some(1), "{refused:?}");
        assert!(
            refused.stderr.contains(
                "caused by: linux.devices[4]: /dev/nothing: the host has no char device 250:250"
            ),
            "{refused:?}"
        );
    }
}

#[test]
fn a_cgroup_named_by_path_alone_can_be_paused() {
    for caller in callers() {
        // No limit: the cgroup needs no controller but the freezer (on
        // this hybrid host, root gets it in the v2 tree: cgroup.freeze).
        let bundle = counting_bundle("path-alone", caller, Value::Null);
        let mut config: Value = serde_json::from_str(
            &fs::read_to_string(bundle.dir.join("config.json")).expect("config.json"),
        )
        .expect("JSON");
        let path = format!("/hakoniwa-oci-test-{}-alone-{caller:?}", std::process::id());
        config["linux"]["cgroupsPath"] = json!(path);
        bundle.write_config(&config);
        if !create_with_cgroup(&bundle, caller) {
            continue;
        }
        let started = bundle.oci(&["start", "box"]);
        assert_eq!(started.code, Some(0), "{caller:?}: {started:?}");
        let _cleanup = Cleanup(&bundle);
        let before = wait_for_count_above(&bundle, 0);
        assert_eq!(bundle.oci(&["pause", "box"]).code, Some(0));
        assert_eq!(bundle.state("box")["status"], "paused");
        let frozen_at = count(&bundle);
        assert!(frozen_at >= before);
        thread::sleep(Duration::from_millis(300));
        assert_eq!(
            count(&bundle),
            frozen_at,
            "{caller:?}: it counted while paused"
        );
        assert_eq!(bundle.oci(&["resume", "box"]).code, Some(0));
        wait_for_count_above(&bundle, frozen_at);
        let paths = cgroup_paths(&bundle.state("box"));
        assert_eq!(bundle.oci(&["delete", "--force", "box"]).code, Some(0));
        assert!(paths.iter().all(|p| !p.exists()), "{paths:?} left");
    }
}

#[test]
fn exec_runs_in_the_containers_cgroup() {
    for caller in callers() {
        let bundle = counting_bundle("exec-cgroup", caller, json!({"pids": {"limit": 64}}));
        let Some(state) = start_with_cgroup(&bundle, caller) else {
            continue;
        };
        let _cleanup = Cleanup(&bundle);
        let paths = cgroup_paths(&state);
        let execed = bundle.oci(&["exec", "box", "cat", "/proc/self/cgroup"]);
        assert_eq!(execed.code, Some(0), "{caller:?}: {execed:?}");
        // Each of the container's directories is one of the exec'd
        // program's cgroups (a line `N:controllers:/path/to/it`).
        for dir in &paths {
            let name = dir.file_name().expect("a name").to_string_lossy();
            assert!(
                execed
                    .stdout
                    .lines()
                    .any(|line| line.ends_with(&format!("/{name}"))),
                "{caller:?}: {dir:?} not in {execed:?}"
            );
        }
        assert_eq!(bundle.oci(&["delete", "--force", "box"]).code, Some(0));
    }
}
