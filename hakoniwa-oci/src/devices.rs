//! `linux.devices` → device nodes bound from the host. Inside a user
//! namespace no device node can be made (`mknod` is refused, a new tmpfs is
//! `nodev`), so each one is the host's node of the same type and numbers,
//! bound with `Container::devbindmount`; the host's mode and owner hold.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use hakoniwa::Container;
use oci_spec::runtime::LinuxDeviceType;

use crate::error::SpecError;
use crate::spec::{LinuxDevice, Mount};

/// The nodes of the library's devfs (a `tmpfs` at `/dev`), with their
/// numbers: listed by engines among the devices, and there already.
const DEVFS: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// A character or a block device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Char,
    Block,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Char => "char",
            Kind::Block => "block",
        }
    }
}

/// Binds each device of `linux.devices` at its path, after the mounts
/// (a devfs at `/dev` must exist first).
pub fn lower(
    container: &mut Container,
    devices: &[LinuxDevice],
    mounts: &[Mount],
) -> Result<(), SpecError> {
    let devfs = mounts
        .iter()
        .any(|m| m.destination() == Path::new("/dev") && m.typ().as_deref() == Some("tmpfs"));
    for (index, device) in devices.iter().enumerate() {
        let field = format!("linux.devices[{index}]");
        let refuse = |reason: String| SpecError::field(field.clone(), reason);
        let path = device
            .path()
            .to_str()
            .ok_or_else(|| refuse("the path is not valid UTF-8".to_string()))?;
        let kind = match device.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
            LinuxDeviceType::B => Kind::Block,
            LinuxDeviceType::P => {
                return Err(refuse(format!("{path}: a FIFO device is not supported")))
            }
            LinuxDeviceType::A => return Err(refuse(format!("{path}: type \"a\" names no node"))),
        };
        if !path.starts_with('/') {
            return Err(refuse(format!("{path} is not an absolute path")));
        }
        let number = |n: i64| {
            u64::try_from(n).map_err(|_| refuse(format!("{path}: {n} is not a device number")))
        };
        let numbers = (number(device.major())?, number(device.minor())?);
        if devfs && kind == Kind::Char && DEVFS.contains(&(path, numbers.0, numbers.1)) {
            continue;
        }
        let source = host_node(path, kind, numbers).ok_or_else(|| {
            refuse(format!(
                "{}: the host has no {} device {}:{} to bind (at that path or in /dev), and a \
                 device node cannot be made in the container",
                path,
                kind.name(),
                numbers.0,
                numbers.1,
            ))
        })?;
        let source = source
            .to_str()
            .ok_or_else(|| refuse(format!("{} is not valid UTF-8", source.display())))?;
        container.devbindmount(source, path);
    }
    Ok(())
}

/// The host's node of this type and numbers: at the same path, or else
/// the first in `/dev` and its directories (an engine may rename a device:
/// podman's `--device /dev/fuse:/dev/f`).
fn host_node(path: &str, kind: Kind, (major, minor): (u64, u64)) -> Option<PathBuf> {
    let matches = |candidate: &Path| {
        fs::metadata(candidate).is_ok_and(|meta| {
            let file_type = meta.file_type();
            let right_kind = match kind {
                Kind::Char => file_type.is_char_device(),
                Kind::Block => file_type.is_block_device(),
            };
            right_kind
                && nix::sys::stat::major(meta.rdev()) == major
                && nix::sys::stat::minor(meta.rdev()) == minor
        })
    };
    if matches(Path::new(path)) {
        return fs::canonicalize(path).ok();
    }
    let entries = |dir: &Path| -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = fs::read_dir(dir)
            .map(|list| list.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default();
        found.sort();
        found
    };
    let top = entries(Path::new("/dev"));
    let nested = top
        .iter()
        .filter(|p| p.symlink_metadata().is_ok_and(|m| m.is_dir()))
        .flat_map(|dir| entries(dir));
    top.iter()
        .cloned()
        .chain(nested)
        .filter(|p| p.symlink_metadata().is_ok_and(|m| !m.is_symlink()))
        .find(|p| matches(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(path: &str, kind: &str, major: i64, minor: i64) -> LinuxDevice {
        let json = format!(
            r#"{{"path": "{path}", "type": "{kind}", "major": {major}, "minor": {minor}}}"#
        );
        serde_json::from_str(&json).expect("a device")
    }

    #[test]
    fn the_host_node_is_found_by_path_or_by_number() {
        assert_eq!(
            host_node("/dev/null", Kind::Char, (1, 3)),
            Some(PathBuf::from("/dev/null"))
        );
        assert_eq!(
            host_node("/dev/renamed", Kind::Char, (1, 5)),
            Some(PathBuf::from("/dev/zero"))
        );
        assert_eq!(host_node("/dev/null", Kind::Block, (1, 3)), None);
    }

    #[test]
    fn a_device_that_cannot_be_had_is_refused_naming_its_index() {
        let error = lower(
            &mut Container::empty(),
            &[
                device("/dev/null", "c", 1, 3),
                device("/dev/nothing", "c", 250, 250),
            ],
            &[],
        )
        .expect_err("refused")
        .to_string();
        assert!(
            error.starts_with("linux.devices[1]: /dev/nothing: "),
            "{error}"
        );
        let error = lower(&mut Container::empty(), &[device("/dev/p", "p", 0, 0)], &[])
            .expect_err("refused")
            .to_string();
        assert!(error.starts_with("linux.devices[0]: "), "{error}");
    }
}
