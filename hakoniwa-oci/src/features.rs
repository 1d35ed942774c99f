//! `features`: what this runtime supports, as the runtime specification's
//! features document (`features.md`) describes it.

use serde_json::{json, Value};

use crate::state::OCI_VERSION;

/// The features document.
pub fn features() -> Value {
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": crate::hooks::ALL.map(|kind| kind.name()),
        // The mount options `config.json`'s mounts are read for; others
        // are ignored (see docs/oci.md).
        "mountOptions": ["bind", "rbind", "ro", "size", "mode", "nr_inodes"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            // Limits, pause, update and cgroupsPath on either version;
            // systemd's form of cgroupsPath is made without systemd.
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": true},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features.hakoniwa.version": env!("CARGO_PKG_VERSION"),
        },
    })
}
