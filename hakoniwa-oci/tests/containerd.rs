//! containerd drives `hakoniwa-oci` through its runc shim (`ctr run
//! --runtime io.containerd.runc.v2 --runc-binary hakoniwa-oci`), as root,
//! on a busybox image built offline. The containerd is the test's own: its
//! root, state and sockets in a temporary directory; stopped at the end.

mod bounded;
mod engine;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use engine::{containers_in, run_bounded, text};
use serde_json::json;

/// The image every scenario runs.
const IMAGE: &str = "localhost/hakoniwa-oci-test:busybox";
/// Where the runc shim keeps its sockets, and its runtime's state, whatever
/// containerd's own state directory: removed at the end if the test made
/// it.
const SYSTEM_STATE: &str = "/run/containerd";
/// The runtime's state root the shim passes (`--root`), for the
/// `default` namespace.
const RUNTIME_ROOT: &str = "/run/containerd/runc/default";

/// A containerd of our own, running.
struct Containerd {
    dir: PathBuf,
    daemon: Child,
    _system_state: engine::SystemDir,
}

impl Containerd {
    /// Starts containerd and imports the image.
    fn start() -> Containerd {
        let dir =
            std::env::temp_dir().join(format!("hakoniwa-oci-containerd-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the containerd dir");
        let system_state = engine::SystemDir::watch(SYSTEM_STATE);
        // The CRI plugin would want a network and a kubelet: not needed.
        let config = format!(
            "version = 2\nroot = \"{dir}/root\"\nstate = \"{dir}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\naddress = \"{dir}/containerd.sock\"\n\
             [ttrpc]\naddress = \"{dir}/containerd.sock.ttrpc\"\n\
             [debug]\naddress = \"{dir}/debug.sock\"\n",
            dir = dir.display()
        );
        fs::write(dir.join("config.toml"), config).expect("write config.toml");
        let log = fs::File::create(dir.join("containerd.log")).expect("containerd log");
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup the log"))
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let containerd = Containerd {
            dir,
            daemon,
            _system_state: system_state,
        };
        let started = Instant::now();
        while !containerd.ctr(&["version"]).status.success() {
            assert!(
                started.elapsed() < engine::DEADLINE,
                "containerd did not answer: {}",
                fs::read_to_string(containerd.dir.join("containerd.log")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(50));
        }
        let layout = oci_archive(&containerd.dir);
        let imported = containerd.ctr(&[
            "images",
            "import",
            "--index-name",
            IMAGE,
            layout.to_str().expect("UTF-8"),
        ]);
        assert!(imported.status.success(), "ctr images import: {imported:?}");
        containerd
    }

    /// `ctr --address SOCKET ARGS…`.
    fn ctr(&self, args: &[&str]) -> Output {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(self.dir.join("containerd.sock"))
            .args(args)
            .stdin(Stdio::null());
        run_bounded(command)
    }

    /// `ctr run` with our runtime: `options`, then the image, the
    /// container's name and its program.
    fn run(&self, options: &[&str], name: &str, program: &[&str]) -> Output {
        let runtime = env!("CARGO_BIN_EXE_hakoniwa-oci");
        let mut args = vec![
            "run",
            "--runtime",
            "io.containerd.runc.v2",
            "--runc-binary",
            runtime,
        ];
        args.extend_from_slice(options);
        args.extend_from_slice(&[IMAGE, name]);
        args.extend_from_slice(program);
        self.ctr(&args)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // A scenario that failed midway leaves its tasks: ended through
        // the daemon first, or their shims and containers would outlive it
        // (and their cgroups block the next run).
        let tasks = text(&self.ctr(&["task", "ls", "--quiet"]).stdout);
        for task in tasks.lines().filter(|task| !task.is_empty()) {
            let _ = self.ctr(&["task", "delete", "--force", task]);
            let _ = self.ctr(&["container", "delete", task]);
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The busybox tree as an OCI image layout in a tar (`ctr images import`
/// reads it): one uncompressed layer, its config, a manifest, the index.
fn oci_archive(dir: &Path) -> PathBuf {
    engine::image_tar(dir);
    let layout = dir.join("layout");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).expect("create the layout");
    let blob = |bytes: &[u8]| -> (String, usize) {
        let hashed = Command::new("sha256sum")
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().expect("stdin").write_all(bytes)?;
                child.wait_with_output()
            })
            .expect("sha256sum");
        let hex = text(&hashed.stdout)
            .split_whitespace()
            .next()
            .expect("a digest")
            .to_string();
        fs::write(blobs.join(&hex), bytes).expect("write a blob");
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer, layer_size) = blob(&fs::read(dir.join("image.tar")).expect("read the layer"));
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let config = json!({
        "architecture": architecture,
        "os": "linux",
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer]},
    });
    let (config, config_size) = blob(config.to_string().as_bytes());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer, "size": layer_size}],
    });
    let (manifest, manifest_size) = blob(manifest.to_string().as_bytes());
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest, "size": manifest_size}],
    });
    fs::write(layout.join("index.json"), index.to_string()).expect("write index.json");
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion": "1.0.0"}"#,
    )
    .expect("write oci-layout");
    let archive = dir.join("layout.tar");
    let tar = Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(tar.success(), "tar failed");
    archive
}

#[test]
fn containerd_runs_containers_with_hakoniwa_oci() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping containerd: the test runs containerd as root");
        return;
    }
    if let Some(missing) = engine::missing(&["containerd", "ctr", "containerd-shim-runc-v2"]) {
        eprintln!("skipping containerd: {missing}");
        return;
    }
    let containerd = Containerd::start();
    let before = containers_in(Path::new(RUNTIME_ROOT));

    // ctr run: the program's output and exit code come through the shim.
    // It is pid 2: pid 1 is the sandbox's init (under runc it would be 1).
    let ran = containerd.run(
        &["--rm"],
        "first",
        &["sh", "-c", "echo hello from $$; exit 3"],
    );
    assert_eq!(ran.status.code(), Some(3), "{ran:?}");
    assert_eq!(text(&ran.stdout), "hello from 2\n", "{ran:?}");

    // ctr run -t: the program's terminal, from the container's own devpts
    // (so that it has a name there), through the console socket, when ctr
    // has one of its own (script(1) gives it one).
    if engine::missing(&["script"]).is_none() {
        let runtime = env!("CARGO_BIN_EXE_hakoniwa-oci");
        let line = format!(
            "ctr --address {socket} run -t --rm --runtime io.containerd.runc.v2 \
             --runc-binary {runtime} {IMAGE} with-tty \
             sh -c 'test -t 0 && test -t 1 && echo on a terminal; tty; stty size; exit 4'",
            socket = containerd.dir.join("containerd.sock").display(),
        );
        let mut command = Command::new("script");
        command
            .args(["-q", "-e", "-c", &line, "/dev/null"])
            .stdin(Stdio::null());
        let ran = run_bounded(command);
        assert_eq!(ran.status.code(), Some(4), "{ran:?}");
        let stdout = text(&ran.stdout);
        assert!(stdout.contains("on a terminal"), "{ran:?}");
        // (script's own terminal adds a carriage return to the container's.)
        assert!(
            stdout
                .lines()
                .any(|line| line.trim_end_matches('\r') == "/dev/pts/0"),
            "{ran:?}"
        );
    } else {
        eprintln!("containerd: skipped ctr run -t: script (util-linux) is missing");
    }

    // A running task: exec, kill with a signal it handles, kill, delete.
    let ran = containerd.run(
        &["--detach"],
        "second",
        &[
            "sh",
            "-c",
            "trap 'echo got USR1 > /tmp/signals' USR1; trap 'exit 7' TERM; \
             touch /tmp/ready; while true; do sleep 0.1; done",
        ],
    );
    assert!(ran.status.success(), "{ran:?}");
    let execed = containerd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "one",
        "second",
        "sh",
        "-c",
        "until test -e /tmp/ready; do sleep 0.05; done; echo in the container; exit 4",
    ]);
    assert_eq!(execed.status.code(), Some(4), "{execed:?}");
    assert_eq!(text(&execed.stdout), "in the container\n", "{execed:?}");

    // ctr task ps: the shim asks `ps --format json`; a header, then the
    // sandbox's init and the shell at least (its `sleep 0.1` comes and
    // goes, so it is not counted on).
    let listed = containerd.ctr(&["task", "ps", "second"]);
    assert!(listed.status.success(), "{listed:?}");
    assert!(text(&listed.stdout).lines().count() >= 3, "{listed:?}");

    let killed = containerd.ctr(&["task", "kill", "--signal", "SIGUSR1", "second"]);
    assert!(killed.status.success(), "{killed:?}");
    let execed = containerd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "two",
        "second",
        "sh",
        "-c",
        "until test -e /tmp/signals; do sleep 0.05; done; cat /tmp/signals",
    ]);
    assert_eq!(text(&execed.stdout), "got USR1\n", "{execed:?}");

    let killed = containerd.ctr(&["task", "kill", "second"]);
    assert!(killed.status.success(), "{killed:?}");
    let started = Instant::now();
    loop {
        let tasks = text(&containerd.ctr(&["task", "ls"]).stdout);
        if tasks
            .lines()
            .any(|l| l.starts_with("second ") && l.contains("STOPPED"))
        {
            break;
        }
        assert!(
            started.elapsed() < engine::DEADLINE,
            "second never stopped: {tasks}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let deleted = containerd.ctr(&["task", "delete", "second"]);
    assert!(deleted.status.success(), "{deleted:?}");
    // ctr reports a non-zero exit code as it deletes the task.
    assert!(text(&deleted.stderr).contains("exit code 7"), "{deleted:?}");
    let removed = containerd.ctr(&["container", "delete", "second"]);
    assert!(removed.status.success(), "{removed:?}");

    // Every container was deleted from the runtime's state.
    assert_eq!(
        containers_in(Path::new(RUNTIME_ROOT)),
        before,
        "hakoniwa-oci state left behind"
    );
}
