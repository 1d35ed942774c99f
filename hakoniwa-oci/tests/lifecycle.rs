//! `hakoniwa-oci` driven as a container engine drives it: a bundle made by
//! the test, then `run`, or `create`, `state`, `start`, `kill`, `delete`.
//! Each scenario runs as root and, rootless, as uid 65534.

mod bounded;
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::thread;
use std::time::{Duration, Instant};

use common::{callers, Bundle};
use serde_json::json;

#[test]
fn run_prints_the_programs_output_and_exits_with_its_code() {
    for caller in callers() {
        let bundle = Bundle::new(
            "run",
            caller,
            &[
                "sh",
                "-c",
                "echo $GREETING from $(hostname) as $(id -u); exit 3",
            ],
        );
        let outcome = bundle.oci(&["run", "--bundle", "{bundle}", "box"]);
        assert_eq!(outcome.code, Some(3), "{caller:?}: {outcome:?}");
        assert_eq!(outcome.stdout, "hello from bundle as 0\n", "{caller:?}");
        // `run` deletes its container when the program ends.
        bundle.assert_gone("box", &format!("{caller:?}: after run"));
    }
}

#[test]
fn run_reports_a_signal_as_128_plus_its_number() {
    for caller in callers() {
        let bundle = Bundle::new("signal", caller, &["sh", "-c", "kill -TERM $$"]);
        let outcome = bundle.oci(&["run", "--bundle", "{bundle}", "box"]);
        assert_eq!(outcome.code, Some(128 + 15), "{caller:?}: {outcome:?}");
    }
}

#[test]
fn create_waits_for_start_then_kill_and_delete_end_it() {
    for caller in callers() {
        let bundle = Bundle::new("lifecycle", caller, &["sleep", "60"]);
        // In the state dir: the one the caller may write to.
        let pid_file = bundle.dir.join("state").join("pid");
        let pid_arg = pid_file.to_str().expect("UTF-8");
        let created = bundle.oci(&[
            "create",
            "--bundle",
            "{bundle}",
            "--pid-file",
            pid_arg,
            "box",
        ]);
        assert_eq!(created.code, Some(0), "{caller:?}: {created:?}");

        let state = bundle.state("box");
        assert_eq!(state["ociVersion"], "1.2.0");
        assert_eq!(state["id"], "box");
        assert_eq!(state["status"], "created", "{caller:?}: {state}");
        assert_eq!(state["bundle"], json!(bundle.dir));
        assert_eq!(state["annotations"]["org.example.test"], "yes");
        // The pid file names the supervisor, which engines wait for; the
        // state's pid is the held program: built, not yet `sleep`.
        let pid = fs::read_to_string(&pid_file).expect("the pid file");
        assert_eq!(
            state["hakoniwa"]["holder"],
            json!(pid.parse::<u32>().expect("a pid"))
        );
        let held = state["pid"].as_u64().expect("a pid while created");
        let comm = fs::read_to_string(format!("/proc/{held}/comm")).expect("the held program");
        assert_ne!(comm, "sleep\n", "{caller:?}");

        let started = bundle.oci(&["start", "box"]);
        assert_eq!(started.code, Some(0), "{caller:?}: {started:?}");
        let state = bundle.state("box");
        assert_eq!(state["status"], "running", "{caller:?}: {state}");
        // The held process is the one that becomes the program: `start`
        // returns once it is let go, as runc's returns once its init is
        // past the exec FIFO, a moment before `execve` completes.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let comm = fs::read_to_string(format!("/proc/{held}/comm")).expect("the program");
            if comm == "sleep\n" {
                break;
            }
            assert!(Instant::now() < deadline, "{caller:?}: still {comm:?}");
            thread::sleep(Duration::from_millis(5));
        }

        // ps: the sandbox's init, then its program.
        let listed = bundle.oci(&["ps", "--format", "json", "box"]);
        assert_eq!(listed.code, Some(0), "{caller:?}: {listed:?}");
        let pids: Vec<u32> = serde_json::from_str(&listed.stdout).expect("a JSON array");
        assert_eq!(
            pids.first(),
            state["pid"].as_u64().map(|p| p as u32).as_ref(),
            "{listed:?}"
        );
        assert!(pids.len() >= 2, "{caller:?}: {listed:?}");

        let refused = bundle.oci(&["delete", "box"]);
        assert_eq!(refused.code, Some(1), "{refused:?}");
        assert!(
            refused
                .stderr
                .contains("container box is running: cannot delete it"),
            "{refused:?}"
        );

        let killed = bundle.oci(&["kill", "box", "KILL"]);
        assert_eq!(killed.code, Some(0), "{caller:?}: {killed:?}");
        // Stopped as soon as the sandbox is gone; the exit code follows
        // once the supervisor has reaped it.
        let state = bundle.wait_for_state("box", "an exit code", |s| {
            s["hakoniwa"]["exitCode"].is_number()
        });
        assert_eq!(state["status"], "stopped", "{state}");
        assert_eq!(state["hakoniwa"]["exitCode"], 128 + 9, "{state}");

        let deleted = bundle.oci(&["delete", "box"]);
        assert_eq!(deleted.code, Some(0), "{caller:?}: {deleted:?}");
        bundle.assert_gone("box", &format!("{caller:?}: after delete"));
        let left = fs::read_dir(bundle.dir.join("state/containers")).expect("the state root");
        assert_eq!(left.count(), 0, "{caller:?}: delete left files behind");
    }
}

#[test]
fn delete_force_ends_a_created_container() {
    for caller in callers() {
        let bundle = Bundle::new("force", caller, &["true"]);
        let created = bundle.oci(&["create", "--bundle", "{bundle}", "box"]);
        assert_eq!(created.code, Some(0), "{caller:?}: {created:?}");
        let deleted = bundle.oci(&["delete", "--force", "box"]);
        assert_eq!(deleted.code, Some(0), "{caller:?}: {deleted:?}");
        bundle.assert_gone("box", &format!("{caller:?}: after delete --force"));
    }
}

#[test]
fn start_of_a_program_that_ends_at_once_succeeds_and_one_not_found_fails() {
    for caller in callers() {
        let bundle = Bundle::new("quick", caller, &["true"]);
        assert_eq!(
            bundle.oci(&["create", "--bundle", "{bundle}", "a"]).code,
            Some(0)
        );
        let started = bundle.oci(&["start", "a"]);
        assert_eq!(started.code, Some(0), "{caller:?}: {started:?}");
        let state = bundle.wait_for_state("a", "an exit code", |s| {
            s["hakoniwa"]["exitCode"].is_number()
        });
        assert_eq!(state["hakoniwa"]["exitCode"], 0, "{state}");
        assert_eq!(bundle.oci(&["delete", "a"]).code, Some(0));

        bundle.write_config(&bundle.config(&["/no/such/program"]));
        assert_eq!(
            bundle.oci(&["create", "--bundle", "{bundle}", "b"]).code,
            Some(0)
        );
        // The sandbox was spawned: `start` succeeds, and the program's
        // failure is its exit status, as engines expect.
        let started = bundle.oci(&["start", "b"]);
        assert_eq!(started.code, Some(0), "{caller:?}: {started:?}");
        let state = bundle.wait_for_state("b", "an exit code", |s| {
            s["hakoniwa"]["exitCode"].is_number()
        });
        assert_eq!(state["hakoniwa"]["exitCode"], 127, "{state}");
        assert!(
            state["hakoniwa"]["error"]
                .as_str()
                .unwrap_or_default()
                .contains("/no/such/program"),
            "{state}"
        );
        assert_eq!(bundle.oci(&["delete", "b"]).code, Some(0));
    }
}

#[test]
fn a_bad_config_is_refused_naming_the_field() {
    for caller in callers() {
        let bundle = Bundle::new("bad", caller, &["true"]);
        let mut config = bundle.config(&["true"]);
        config["process"]["user"]["uid"] = json!("root");
        bundle.write_config(&config);
        let outcome = bundle.oci(&["run", "--bundle", "{bundle}", "box"]);
        assert_eq!(outcome.code, Some(1), "{outcome:?}");
        assert!(
            outcome.stderr.contains("hakoniwa-oci: invalid bundle"),
            "{outcome:?}"
        );
        assert!(
            outcome
                .stderr
                .contains("config.json: process.user.uid: invalid type"),
            "{outcome:?}"
        );

        let mut config = bundle.config(&["true"]);
        config["mounts"]
            .as_array_mut()
            .expect("mounts")
            .push(json!({"destination": "/mnt", "type": "nfs", "source": "server:/export"}));
        bundle.write_config(&config);
        let outcome = bundle.oci(&["create", "--bundle", "{bundle}", "box"]);
        assert_eq!(outcome.code, Some(1), "{outcome:?}");
        let index = config["mounts"].as_array().expect("mounts").len() - 1;
        let field = format!("mounts[{index}].type: a \"nfs\" mount at /mnt is not supported yet");
        assert!(outcome.stderr.contains(&field), "{outcome:?}");
        // Nothing is left of a refused create.
        bundle.assert_gone("box", &format!("{caller:?}: after a refused create"));
    }
}

#[test]
fn errors_go_to_the_log_as_json_lines() {
    let bundle = Bundle::new("log", common::Caller::Runner, &["true"]);
    bundle.write_config_text("{\"ociVersion\": \"1.0.2\", \"process\": 7}");
    let log = bundle.dir.join("log.json");
    let log_arg = log.to_str().expect("UTF-8");
    let outcome = bundle.oci(&[
        "--log",
        log_arg,
        "--log-format",
        "json",
        "run",
        "--bundle",
        "{bundle}",
        "box",
    ]);
    assert_eq!(outcome.code, Some(1), "{outcome:?}");
    let text = fs::read_to_string(&log).expect("the log");
    let line: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"]
            .as_str()
            .expect("msg")
            .contains("process: invalid type"),
        "{line}"
    );
    assert!(
        line["time"].as_str().expect("time").ends_with('Z'),
        "{line}"
    );
}

#[test]
fn version_names_the_runtime_and_the_spec() {
    let bundle = Bundle::new("version", common::Caller::Runner, &["true"]);
    let outcome = bundle.oci(&["--version"]);
    assert_eq!(outcome.code, Some(0));
    assert!(outcome.stdout.starts_with("hakoniwa-oci "), "{outcome:?}");
    assert!(outcome.stdout.contains("spec: 1.2.0"), "{outcome:?}");
}

#[test]
fn exec_runs_a_second_program_in_a_running_container() {
    for caller in callers() {
        let bundle = Bundle::new(
            "exec",
            caller,
            &["sh", "-c", "echo inside > /tmp/mark; sleep 60"],
        );
        assert_eq!(
            bundle.oci(&["create", "--bundle", "{bundle}", "box"]).code,
            Some(0)
        );
        assert_eq!(bundle.oci(&["start", "box"]).code, Some(0));

        // The container's own process, with other arguments: its
        // environment, its hostname, its files.
        // Right after `start`: exec waits until the program can be entered
        // — and until it has written its mark, the shell retries.
        let execed = bundle.oci(&[
            "exec",
            "box",
            "sh",
            "-c",
            "until cat /tmp/mark 2>/dev/null; do sleep 0.01; done; echo $GREETING from $(hostname); exit 6",
        ]);
        assert_eq!(execed.code, Some(6), "{caller:?}: {execed:?}");
        assert_eq!(
            execed.stdout, "inside\nhello from bundle\n",
            "{caller:?}: {execed:?}"
        );

        // A whole process from a file, as engines pass it.
        let process = json!({
            "user": {"uid": 0, "gid": 0},
            "args": ["sh", "-c", "echo $ONLY; exit 7"],
            "env": ["ONLY=this", "PATH=/usr/bin:/bin"],
            "cwd": "/tmp",
        });
        let path = bundle.dir.join("process.json");
        fs::write(&path, process.to_string()).expect("write process.json");
        let execed = bundle.oci(&["exec", "--process", path.to_str().expect("UTF-8"), "box"]);
        assert_eq!(execed.code, Some(7), "{caller:?}: {execed:?}");
        assert_eq!(execed.stdout, "this\n", "{caller:?}: {execed:?}");

        assert_eq!(bundle.oci(&["delete", "--force", "box"]).code, Some(0));
        let refused = bundle.oci(&["exec", "box", "true"]);
        assert!(
            refused.stderr.contains("container box does not exist"),
            "{refused:?}"
        );
    }
}

#[test]
fn features_lists_what_the_runtime_supports() {
    let bundle = Bundle::new("features", common::Caller::Runner, &["true"]);
    // podman passes --systemd-cgroup when its cgroup manager is systemd.
    let outcome = bundle.oci(&["--systemd-cgroup", "features"]);
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    let features: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    assert_eq!(features["ociVersionMax"], "1.2.0");
    assert_eq!(features["linux"]["seccomp"]["enabled"], true);
    assert_eq!(features["linux"]["cgroup"]["v1"], true);
    assert!(
        features["linux"]["namespaces"]
            .as_array()
            .expect("namespaces")
            .contains(&json!("user")),
        "{features}"
    );
}

#[test]
fn kill_all_reaches_every_process_not_only_the_program() {
    for caller in callers() {
        // The program ignores TERM; a child of it writes a mark on TERM.
        let bundle = Bundle::new(
            "kill-all",
            caller,
            &[
                "sh",
                "-c",
                "trap '' TERM; (trap 'echo got TERM > /tmp/mark; exit' TERM; \
                 touch /tmp/ready; while :; do sleep 0.05; done) & wait; sleep 60",
            ],
        );
        assert_eq!(
            bundle.oci(&["create", "--bundle", "{bundle}", "box"]).code,
            Some(0)
        );
        assert_eq!(bundle.oci(&["start", "box"]).code, Some(0));
        let ready = bundle.oci(&[
            "exec",
            "box",
            "sh",
            "-c",
            "until test -e /tmp/ready; do sleep 0.02; done",
        ]);
        assert_eq!(ready.code, Some(0), "{caller:?}: {ready:?}");
        let killed = bundle.oci(&["kill", "--all", "box", "TERM"]);
        assert_eq!(killed.code, Some(0), "{caller:?}: {killed:?}");
        let mark = bundle.oci(&[
            "exec",
            "box",
            "sh",
            "-c",
            "until cat /tmp/mark 2>/dev/null; do sleep 0.02; done",
        ]);
        assert_eq!(mark.stdout, "got TERM\n", "{caller:?}: {mark:?}");
        // The program ignored it: the container still runs.
        assert_eq!(bundle.state("box")["status"], "running", "{caller:?}");
        assert_eq!(bundle.oci(&["delete", "--force", "box"]).code, Some(0));
    }
}

#[test]
fn a_container_joins_a_network_namespace_given_by_path() {
    for caller in callers() {
        // A process in a network namespace of its own, made by the caller.
        let mut unshare = match caller {
            common::Caller::Runner => std::process::Command::new("unshare"),
            common::Caller::Nobody => {
                let mut setpriv = std::process::Command::new("setpriv");
                setpriv.args([
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "unshare",
                ]);
                setpriv
            }
        };
        let privileged = caller == common::Caller::Runner && nix::unistd::geteuid().is_root();
        if !privileged {
            unshare.arg("--map-root-user");
        }
        let mut holder = unshare
            .args(["--net", "sleep", "30"])
            .spawn()
            .expect("unshare");
        let path = format!("/proc/{}/ns/net", holder.id());
        let ours = fs::read_link("/proc/self/ns/net").expect("our namespace");
        let started = std::time::Instant::now();
        while fs::read_link(&path).ok().as_ref() == Some(&ours) {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "unshare did not"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let theirs = fs::read_link(&path).expect("their namespace");

        let bundle = Bundle::new("join", caller, &["readlink", "/proc/self/ns/net"]);
        let mut config = bundle.config(&["readlink", "/proc/self/ns/net"]);
        for namespace in config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
        {
            if namespace["type"] == "network" {
                namespace["path"] = json!(path);
            }
        }
        bundle.write_config(&config);
        let outcome = bundle.oci(&["run", "--bundle", "{bundle}", "box"]);
        let _ = holder.kill();
        let _ = holder.wait();
        if privileged {
            assert_eq!(outcome.code, Some(0), "{caller:?}: {outcome:?}");
            assert_eq!(
                outcome.stdout.trim_end(),
                theirs.to_string_lossy(),
                "{outcome:?}"
            );
        } else {
            // The container's own user namespace holds no capability over
            // a namespace it did not make: refused, and said so.
            assert_eq!(outcome.code, Some(125), "{caller:?}: {outcome:?}");
            assert!(
                outcome
                    .stderr
                    .contains(&format!("join the network namespace at {path}")),
                "{caller:?}: {outcome:?}"
            );
        }
    }
}

#[test]
fn linux_sysctl_sets_the_containers_own_parameters_only() {
    for caller in callers() {
        let read = ["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"];
        let bundle = Bundle::new("sysctl", caller, &read);
        let mut config = bundle.config(&read);
        config["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "99"});
        bundle.write_config(&config);
        let outcome = bundle.oci(&["run", "--bundle", "{bundle}", "box"]);
        assert_eq!(outcome.code, Some(0), "{caller:?}: {outcome:?}");
        assert_eq!(outcome.stdout, "99\n", "{caller:?}");

        // A parameter of no namespace (the host's core_pattern) is refused.
        config["linux"]["sysctl"] = json!({"kernel.core_pattern": "|/bin/sh"});
        bundle.write_config(&config);
        let outcome = bundle.oci(&["run", "--bundle", "{bundle}", "box"]);
        assert_ne!(outcome.code, Some(0), "{caller:?}: {outcome:?}");
        assert!(
            outcome
                .stderr
                .contains("cannot set sysctl kernel.core_pattern"),
            "{caller:?}: {outcome:?}"
        );
    }
}

#[test]
fn masked_and_read_only_paths_are_hidden_and_protected() {
    for caller in callers() {
        let probe = [
            "sh",
            "-c",
            "wc -c < /etc/passwd; touch /tmp/x 2>/dev/null || echo tmp-read-only; \
             touch /proc/sys/kernel/x 2>/dev/null || echo sys-read-only",
        ];
        let bundle = Bundle::new("paths", caller, &probe);
        let mut config = bundle.config(&probe);
        config["linux"]["maskedPaths"] = json!(["/etc/passwd", "/no/such/file"]);
        config["linux"]["readonlyPaths"] = json!(["/tmp", "/proc/sys", "/no/such/dir"]);
        bundle.write_config(&config);
        let outcome = bundle.oci(&["run", "--bundle", "{bundle}", "box"]);
        assert_eq!(outcome.code, Some(0), "{caller:?}: {outcome:?}");
        assert_eq!(
            outcome.stdout, "0\ntmp-read-only\nsys-read-only\n",
            "{caller:?}: {outcome:?}"
        );
    }
}

/// Each hook (`/bin/sh`, there inside the container as on the host)
/// appends its name to `$OUT/order` and writes what it saw into
/// `$OUT/NAME`: its argument, its environment variable, the state on its
/// standard input, its mount namespace and hostname. `$OUT` is the bundle's
/// `out` directory, bound read-write at `/out` in the container.
const HOOK: &str = r#"echo "$0" >> "$OUT/order"
{ echo "arg=$1"; echo "var=$HOOK_VAR"; echo "mnt=$(readlink /proc/self/ns/mnt)"; echo "host=$(hostname)"; printf 'state=%s\n' "$(cat)"; } > "$OUT/$0""#;

/// A bundle whose config has the `hooks` made for it (and `/out` bound).
fn hooked_bundle(
    name: &str,
    caller: common::Caller,
    args: &[&str],
    hooks: impl Fn(&Bundle) -> serde_json::Value,
) -> Bundle {
    let bundle = Bundle::new(name, caller, args);
    let out = bundle.dir.join("out");
    fs::create_dir(&out).expect("create out");
    fs::set_permissions(&out, fs::Permissions::from_mode(0o777)).expect("chmod out");
    let mut config = bundle.config(args);
    config["mounts"].as_array_mut().expect("mounts").push(
        json!({"destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]}),
    );
    config["hooks"] = hooks(&bundle);
    bundle.write_config(&config);
    bundle
}

/// A hook entry: `HOOK` as `kind`, with `$OUT` where it runs.
fn hook(bundle: &Bundle, kind: &str, in_container: bool) -> serde_json::Value {
    let out = if in_container {
        "/out".to_string()
    } else {
        bundle.dir.join("out").display().to_string()
    };
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", HOOK, kind, format!("{kind} arg")],
        "env": [format!("OUT={out}"), format!("HOOK_VAR={kind} var"), "PATH=/usr/bin:/bin"],
        "timeout": 10,
    })
}

/// What hook `kind` wrote, as `key=value` lines; its state parsed.
fn seen(bundle: &Bundle, kind: &str) -> (BTreeMap<String, String>, serde_json::Value) {
    let path = bundle.dir.join("out").join(kind);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{kind} did not run: {e}"));
    let lines: BTreeMap<String, String> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let state = serde_json::from_str(&lines["state"])
        .unwrap_or_else(|e| panic!("{kind}: the state on stdin: {e}: {text}"));
    (lines, state)
}

#[test]
fn hooks_run_in_order_where_the_spec_says_with_the_state() {
    let own_mnt = fs::read_link("/proc/self/ns/mnt").expect("own mount namespace");
    let own_mnt = own_mnt.display().to_string();
    for caller in callers() {
        // The program tells whether startContainer ran before it.
        let bundle = hooked_bundle(
            "hooks",
            caller,
            &[
                "sh",
                "-c",
                "test -e /out/startContainer && echo yes > /out/program",
            ],
            |bundle| {
                json!({
                    "prestart": [hook(bundle, "prestart", false)],
                    "createRuntime": [hook(bundle, "createRuntime", false)],
                    "createContainer": [hook(bundle, "createContainer", true)],
                    "startContainer": [hook(bundle, "startContainer", true)],
                    "poststart": [hook(bundle, "poststart", false)],
                    "poststop": [hook(bundle, "poststop", false)],
                })
            },
        );
        let created = bundle.oci(&["create", "--bundle", "{bundle}", "box"]);
        assert_eq!(created.code, Some(0), "{caller:?}: {created:?}");
        let held = bundle.state("box")["pid"].clone();
        for kind in ["prestart", "createRuntime", "createContainer"] {
            let (lines, state) = seen(&bundle, kind);
            assert_eq!(lines["arg"], format!("{kind} arg"), "{caller:?}");
            assert_eq!(lines["var"], format!("{kind} var"), "{caller:?}");
            assert_eq!(state["id"], "box", "{kind}");
            assert_eq!(state["status"], "creating", "{kind}");
            assert_eq!(state["pid"], held, "{kind}");
            assert_eq!(state["bundle"], json!(bundle.dir), "{kind}");
            // The runtime's namespaces, or the container's.
            let in_container = kind == "createContainer";
            assert_eq!(lines["mnt"] != own_mnt, in_container, "{caller:?} {kind}");
            assert_eq!(lines["host"] == "bundle", in_container, "{caller:?} {kind}");
        }
        assert!(!bundle.dir.join("out/startContainer").exists());

        let started = bundle.oci(&["start", "box"]);
        assert_eq!(started.code, Some(0), "{caller:?}: {started:?}");
        let (lines, state) = seen(&bundle, "startContainer");
        assert_eq!(state["status"], "created");
        assert_eq!(state["pid"], held);
        assert_eq!(
            (lines["host"].as_str(), lines["mnt"] != own_mnt),
            ("bundle", true)
        );
        // poststart ran before start returned, on the host.
        let (lines, state) = seen(&bundle, "poststart");
        assert_eq!(state["status"], "running");
        assert_eq!(lines["mnt"], own_mnt);
        bundle.wait_for_state("box", "an exit code", |s| {
            s["hakoniwa"]["exitCode"].is_number()
        });
        let program = fs::read_to_string(bundle.dir.join("out/program"));
        assert_eq!(program.ok().as_deref(), Some("yes\n"), "{caller:?}");
        assert!(!bundle.dir.join("out/poststop").exists());

        let deleted = bundle.oci(&["delete", "box"]);
        assert_eq!(deleted.code, Some(0), "{caller:?}: {deleted:?}");
        let (_, state) = seen(&bundle, "poststop");
        assert_eq!(state["status"], "stopped");
        let order = fs::read_to_string(bundle.dir.join("out/order")).expect("order");
        let all = "prestart\ncreateRuntime\ncreateContainer\nstartContainer\npoststart\npoststop\n";
        assert_eq!(order, all, "{caller:?}");

        // `run` runs them all too, poststop once the program has ended.
        fs::remove_file(bundle.dir.join("out/order")).expect("remove order");
        let ran = bundle.oci(&["run", "--bundle", "{bundle}", "again"]);
        assert_eq!(ran.code, Some(0), "{caller:?}: {ran:?}");
        let order = fs::read_to_string(bundle.dir.join("out/order")).expect("order");
        assert_eq!(order, all, "{caller:?}");
    }
}

#[test]
fn a_failing_or_slow_hook_fails_create_or_start_and_leaves_nothing() {
    for caller in callers() {
        let failing = json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", "echo no network for you >&2; exit 3"],
        });
        let bundle = hooked_bundle("hooks-fail", caller, &["true"], |bundle| {
            json!({
                "prestart": [hook(bundle, "prestart", false)],
                "createRuntime": [failing],
                "createContainer": [hook(bundle, "createContainer", true)],
                "poststop": [hook(bundle, "poststop", false)],
            })
        });
        let created = bundle.oci(&["create", "--bundle", "{bundle}", "box"]);
        assert_eq!(created.code, Some(1), "{caller:?}: {created:?}");
        assert!(
            created.stderr.contains(
                "container box could not be created: createRuntime hook #0 /bin/sh failed: \
                 /bin/sh exited with code 3 (no network for you)"
            ),
            "{caller:?}: {created:?}"
        );
        // The held program the prestart hook saw is gone; the later hook
        // did not run; the container is destroyed (poststop ran) and its
        // state is gone.
        let (_, state) = seen(&bundle, "prestart");
        let held = state["pid"].as_u64().expect("a pid");
        assert!(!std::path::Path::new(&format!("/proc/{held}")).exists());
        assert!(!bundle.dir.join("out/createContainer").exists());
        seen(&bundle, "poststop");
        let left = fs::read_dir(bundle.dir.join("state/containers")).expect("the state root");
        assert_eq!(left.count(), 0, "{caller:?}: a failed create left files");

        // A hook over its timeout is killed, and that fails create too.
        let mut config: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(bundle.dir.join("config.json")).unwrap())
                .unwrap();
        config["hooks"] = json!({"createRuntime": [{
            "path": "/bin/sh", "args": ["sh", "-c", "sleep 20"], "timeout": 1,
        }]});
        bundle.write_config(&config);
        let began = std::time::Instant::now();
        let created = bundle.oci(&["create", "--bundle", "{bundle}", "slow"]);
        assert_eq!(created.code, Some(1), "{caller:?}: {created:?}");
        assert!(
            created
                .stderr
                .contains("createRuntime hook #0 /bin/sh failed: killed after its timeout of 1 s"),
            "{caller:?}: {created:?}"
        );
        assert!(began.elapsed().as_secs() < 10, "{:?}", began.elapsed());

        // A failing startContainer hook fails start and stops the container.
        config["hooks"] = json!({"startContainer": [{
            "path": "/bin/sh", "args": ["sh", "-c", "exit 4"],
        }]});
        bundle.write_config(&config);
        let created = bundle.oci(&["create", "--bundle", "{bundle}", "late"]);
        assert_eq!(created.code, Some(0), "{caller:?}: {created:?}");
        let started = bundle.oci(&["start", "late"]);
        assert_eq!(started.code, Some(1), "{caller:?}: {started:?}");
        assert!(
            started.stderr.contains(
                "container late did not start: startContainer hook #0 /bin/sh failed: \
                 /bin/sh exited with code 4"
            ),
            "{caller:?}: {started:?}"
        );
        let state = bundle.state("late");
        assert_eq!(state["status"], "stopped", "{state}");
        assert_eq!(bundle.oci(&["delete", "late"]).code, Some(0));
    }
}

#[test]
fn a_created_container_is_built_refuses_exec_and_ends_with_a_signal() {
    for caller in callers() {
        // A mount refused inside the sandbox fails create itself now.
        let bundle = Bundle::new("built", caller, &["true"]);
        let mut config = bundle.config(&["true"]);
        config["mounts"]
            .as_array_mut()
            .expect("mounts")
            .push(json!({"destination": "/usr/hakoniwa-test", "type": "tmpfs", "source": "tmpfs"}));
        bundle.write_config(&config);
        let created = bundle.oci(&["create", "--bundle", "{bundle}", "bad"]);
        assert_eq!(created.code, Some(1), "{caller:?}: {created:?}");
        assert!(
            created.stderr.contains(
                "container bad could not be created: failed to create mount point \
                 /usr/hakoniwa-test: Read-only file system"
            ),
            "{caller:?}: {created:?}"
        );
        bundle.assert_gone("bad", &format!("{caller:?}: after a refused create"));

        bundle.write_config(&bundle.config(&["true"]));
        let created = bundle.oci(&["create", "--bundle", "{bundle}", "box"]);
        assert_eq!(created.code, Some(0), "{caller:?}: {created:?}");
        let execed = bundle.oci(&["exec", "box", "true"]);
        assert_eq!(execed.code, Some(1), "{execed:?}");
        assert!(
            execed
                .stderr
                .contains("container box is created: cannot exec in it"),
            "{execed:?}"
        );
        // TERM reaches the held program, whose end ends the container.
        assert_eq!(bundle.oci(&["kill", "box", "TERM"]).code, Some(0));
        let state = bundle.wait_for_state("box", "an exit code", |s| {
            s["hakoniwa"]["exitCode"].is_number()
        });
        assert_eq!(state["status"], "stopped", "{state}");
        assert_eq!(state["hakoniwa"]["exitCode"], 128 + 15, "{state}");
        let started = bundle.oci(&["start", "box"]);
        assert_eq!(started.code, Some(1), "{started:?}");
        assert_eq!(bundle.oci(&["delete", "box"]).code, Some(0));
    }
}

/// The host pids of processes whose command line is `line`.
fn processes_running(line: &str) -> Vec<u32> {
    fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                cmdline
                    .split(|b| *b == 0)
                    .eq(line.split(' ').map(str::as_bytes).chain([&b""[..]]))
            })
        })
        .collect()
}

#[test]
fn an_execd_program_and_its_group_end_with_the_exec_that_holds_it() {
    for (n, caller) in callers().into_iter().enumerate() {
        let bundle = Bundle::new("exec-holder", caller, &["sleep", "60"]);
        assert_eq!(
            bundle.oci(&["create", "--bundle", "{bundle}", "box"]).code,
            Some(0)
        );
        assert_eq!(bundle.oci(&["start", "box"]).code, Some(0));
        // Numbers no other run uses: the programs are found by them.
        let unique = format!("{}{n}", std::process::id());
        let (background, foreground) = (format!("sleep 1{unique}1"), format!("sleep 1{unique}2"));
        let pid_file = bundle.dir.join("state").join("exec.pid");
        let execed = bundle.oci(&[
            "exec",
            "--detach",
            "--pid-file",
            pid_file.to_str().expect("UTF-8"),
            "box",
            "sh",
            "-c",
            &format!("{background} & exec {foreground}"),
        ]);
        assert_eq!(execed.code, Some(0), "{caller:?}: {execed:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while processes_running(&background).is_empty() || processes_running(&foreground).is_empty()
        {
            assert!(
                Instant::now() < deadline,
                "{caller:?}: the exec'd programs never ran"
            );
            thread::sleep(Duration::from_millis(10));
        }
        let holder: i32 = fs::read_to_string(&pid_file)
            .expect("the pid file")
            .trim()
            .parse()
            .expect("a pid");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(holder),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill the exec holder");
        let deadline = Instant::now() + Duration::from_secs(2);
        while !(processes_running(&background).is_empty()
            && processes_running(&foreground).is_empty())
        {
            assert!(
                Instant::now() < deadline,
                "{caller:?}: the exec'd programs outlived their holder"
            );
            thread::sleep(Duration::from_millis(10));
        }
        // The container itself goes on.
        assert_eq!(bundle.state("box")["status"], "running");
        assert_eq!(bundle.oci(&["delete", "--force", "box"]).code, Some(0));
    }
}

#[test]
fn run_passes_a_terminating_signal_to_the_program_and_deletes_the_container() {
    for caller in callers() {
        let script = "trap 'echo got TERM; exit 9' TERM; echo ready > /tmp/ready; sleep 60 & wait";
        let bundle = Bundle::new("run-signal", caller, &["sh", "-c", script]);
        let run = bundle
            .oci_command(&["run", "--bundle", "{bundle}", "box"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn run");
        // Once the program runs (its state says so), TERM goes to `run`.
        let deadline = Instant::now() + Duration::from_secs(5);
        while bundle.oci(&["exec", "box", "cat", "/tmp/ready"]).stdout != "ready\n" {
            assert!(
                Instant::now() < deadline,
                "{caller:?}: the program never ran"
            );
            thread::sleep(Duration::from_millis(20));
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(run.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("signal run");
        let output = run.wait_with_output().expect("wait for run");
        assert_eq!(output.status.code(), Some(9), "{caller:?}: {output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "got TERM\n");
        bundle.assert_gone("box", &format!("{caller:?}: after a signalled run"));
    }
}

#[test]
fn domainname_and_oom_score_adj_reach_the_program() {
    for caller in callers() {
        let probe = [
            "sh",
            "-c",
            "cat /proc/sys/kernel/domainname /proc/self/oom_score_adj",
        ];
        let bundle = Bundle::new("domain", caller, &probe);
        let mut config = bundle.config(&probe);
        config["domainname"] = json!("example.test");
        // Raising it needs no privilege.
        config["process"]["oomScoreAdj"] = json!(321);
        bundle.write_config(&config);
        let outcome = bundle.oci(&["run", "--bundle", "{bundle}", "box"]);
        assert_eq!(outcome.code, Some(0), "{caller:?}: {outcome:?}");
        assert_eq!(outcome.stdout, "example.test\n321\n", "{caller:?}");
    }
}

#[test]
fn a_second_container_joins_the_first_ones_pid_namespace_like_a_pod() {
    for caller in callers() {
        // The pod's first container, a pid namespace of its own: its init
        // is pid 1 there, its program pid 2.
        let pause = Bundle::new("pod-pause", caller, &["sleep", "60"]);
        let created = pause.oci(&["create", "--bundle", "{bundle}", "pause"]);
        assert_eq!(created.code, Some(0), "{caller:?}: {created:?}");
        assert_eq!(pause.oci(&["start", "pause"]).code, Some(0));
        let init = pause.state("pause")["pid"].as_u64().expect("a pid");
        let path = format!("/proc/{init}/ns/pid");

        // The second joins it, as a pod with shareProcessNamespace: its
        // program sees the first's, is numbered after them, and leaves a
        // process behind, out of its process group.
        let script = "setsid sleep 60 & echo $$; cat /proc/2/comm";
        let app = Bundle::new("pod-app", caller, &["sh", "-c", script]);
        let mut config = app.config(&["sh", "-c", script]);
        for namespace in config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
        {
            if namespace["type"] == "pid" {
                namespace["path"] = json!(path);
            }
        }
        app.write_config(&config);
        let outcome = app.oci(&["run", "--bundle", "{bundle}", "app"]);
        let privileged = caller == common::Caller::Runner && nix::unistd::geteuid().is_root();
        // The member always gets a cgroup (made where the library makes one
        // by default); without one to make, there is nothing to see.
        let mut counted = hakoniwa::Container::empty();
        counted.cgroup(hakoniwa::Cgroup::new());
        let refusal = counted.command("true").status().err();
        if let (true, Some(error)) = (privileged, &refusal) {
            eprintln!("skipping the pod as {caller:?}: no cgroup can be made here: {error}");
        } else if privileged {
            assert_eq!(outcome.code, Some(0), "{caller:?}: {outcome:?}");
            let (pid, comm) = outcome.stdout.split_once('\n').expect("two lines");
            let pid: u32 = pid.parse().expect("a pid");
            assert!(pid > 2, "pid {pid} in the pod's namespace: {outcome:?}");
            assert_eq!(comm, "sleep\n", "{outcome:?}");
            // The first container runs on; what the second left is gone
            // with it (once the first one's init has reaped it).
            assert_eq!(pause.state("pause")["status"], "running");
            let sleeps = pause.oci(&[
                "exec",
                "pause",
                "sh",
                "-c",
                "until [ $(cat /proc/[0-9]*/comm | grep -c sleep) = 1 ]; do sleep 0.02; done",
            ]);
            assert_eq!(sleeps.code, Some(0), "{caller:?}: {sleeps:?}");

            // A running member: `exec` in it lands in the pod's namespace
            // too; `kill --all` reaches a process its program orphaned,
            // which the pod's pid 1 adopted (the program ignores TERM);
            // and `kill` ends it, not the pod.
            let script = "( (trap 'echo got TERM > /tmp/mark; exit' TERM; touch /tmp/ready; \
                          while :; do sleep 0.05; done) & ); trap '' TERM; sleep 60";
            let mut config = config.clone();
            config["process"]["args"] = json!(["sh", "-c", script]);
            app.write_config(&config);
            assert_eq!(
                app.oci(&["create", "--bundle", "{bundle}", "member"]).code,
                Some(0)
            );
            assert_eq!(app.oci(&["start", "member"]).code, Some(0));
            let execed = app.oci(&["exec", "member", "readlink", "/proc/self/ns/pid"]);
            let theirs = fs::read_link(&path).expect("the pod's namespace");
            assert_eq!(
                execed.stdout.trim_end(),
                theirs.to_string_lossy(),
                "{execed:?}"
            );
            let ready = app.oci(&[
                "exec",
                "member",
                "sh",
                "-c",
                "until test -e /tmp/ready; do sleep 0.02; done",
            ]);
            assert_eq!(ready.code, Some(0), "{ready:?}");
            assert_eq!(app.oci(&["kill", "--all", "member", "TERM"]).code, Some(0));
            let mark = app.oci(&[
                "exec",
                "member",
                "sh",
                "-c",
                "until cat /tmp/mark 2>/dev/null; do sleep 0.02; done",
            ]);
            assert_eq!(mark.stdout, "got TERM\n", "{mark:?}");
            assert_eq!(app.state("member")["status"], "running");
            assert_eq!(app.oci(&["kill", "member", "KILL"]).code, Some(0));
            app.wait_for_state("member", "stopped", |s| s["status"] == "stopped");
            assert_eq!(pause.state("pause")["status"], "running");
            assert_eq!(app.oci(&["delete", "member"]).code, Some(0));
        } else {
            // The first container's init is not dumpable: only root may
            // open its namespaces, and a rootless runtime is refused.
            assert_eq!(outcome.code, Some(1), "{caller:?}: {outcome:?}");
            assert!(
                outcome.stderr.contains(&format!(
                    "failed to start container app\ncaused by: failed to open the pid namespace at {path}"
                )),
                "{caller:?}: {outcome:?}"
            );
        }
        assert_eq!(pause.oci(&["delete", "--force", "pause"]).code, Some(0));
    }
}
