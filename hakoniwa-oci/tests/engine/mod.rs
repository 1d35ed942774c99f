//! What the container-engine tests share: a busybox image built offline,
//! commands with a deadline, the runtime's leftover state.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::bounded;

/// Longest one engine command may take.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The statically linked busybox (`busybox-static`), which runs in an
/// image without libraries.
const BUSYBOX: &str = "/bin/busybox";

/// Which of `programs` (or a static busybox) this machine lacks, said as
/// a reason to skip.
pub fn missing(programs: &[&str]) -> Option<String> {
    for program in programs {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("{program} is not installed"));
        }
    }
    // A dynamic executable names its loader (PT_INTERP) near its start.
    let head = fs::read(BUSYBOX).unwrap_or_default();
    let head = &head[..head.len().min(4096)];
    if head.is_empty() || head.windows(7).any(|w| w == b"ld-linu") {
        return Some("a static /bin/busybox (busybox-static) is not installed".into());
    }
    None
}

/// `DIR/rootfs`, busybox and its applets, `/etc/passwd` and `/etc/group`;
/// then `DIR/image.tar`, that tree as a tar.
pub fn image_tar(dir: &Path) {
    let rootfs = dir.join("rootfs");
    for sub in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(rootfs.join(sub)).expect("create a rootfs dir");
    }
    chmod(&rootfs.join("tmp"), 0o1777);
    fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copy busybox");
    let applets = Command::new(rootfs.join("bin/busybox"))
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in text(&applets.stdout).lines() {
        if applet != "busybox" {
            symlink("busybox", rootfs.join("bin").join(applet)).expect("link an applet");
        }
    }
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )
    .expect("write /etc/passwd");
    fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("write /etc/group");
    let tar = Command::new("tar")
        .arg("-cf")
        .arg(dir.join("image.tar"))
        .arg("-C")
        .arg(&rootfs)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(tar.success(), "tar failed");
    chmod(&dir.join("image.tar"), 0o644);
}

/// Runs `command` to its end, within [`DEADLINE`]. Its streams go to files:
/// engines leave detached processes holding pipes.
pub fn run_bounded(mut command: Command) -> Output {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir().join(format!(
        "hakoniwa-oci-engine-out-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let (out, err) = (base.with_extension("out"), base.with_extension("err"));
    let status = bounded::run_within(&mut command, DEADLINE, &out, &err);
    let output = Output {
        status,
        stdout: fs::read(&out).expect("read stdout"),
        stderr: fs::read(&err).expect("read stderr"),
    };
    let _ = fs::remove_file(&out);
    let _ = fs::remove_file(&err);
    output
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The container directories `hakoniwa-oci` holds under its state `root`.
pub fn containers_in(root: &Path) -> Vec<String> {
    fs::read_dir(root)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A directory the test made under a system one (`/var/lib/containers`,
/// `/run/containerd`), removed when dropped if it did not exist before.
pub struct SystemDir {
    path: PathBuf,
    made: bool,
}

impl SystemDir {
    pub fn watch(path: &str) -> SystemDir {
        SystemDir {
            path: PathBuf::from(path),
            made: !Path::new(path).exists(),
        }
    }
}

impl Drop for SystemDir {
    fn drop(&mut self) {
        if self.made {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
