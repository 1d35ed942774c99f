//! The bundle's `config.json` (OCI runtime specification, `config.md` and
//! `config-linux.md`), read into the `oci-spec` crate's model: the one the
//! other Rust runtimes read it with. Fields it does not know are ignored, as
//! the specification requires of a runtime; `lower.rs` decides which of the
//! known ones this runtime can honour.

use std::fs;
use std::path::Path;

use serde::de::DeserializeOwned;

pub use oci_spec::runtime::{
    Hook, Hooks, Linux, LinuxDevice, LinuxResources, Mount, Process, Spec,
};

use crate::error::SpecError;

/// The configuration file's name in a bundle.
pub const CONFIG_FILE: &str = "config.json";

/// Reads and parses `BUNDLE/config.json`; a parse error names the field.
pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
    let path = bundle.join(CONFIG_FILE);
    parse(&read(&path)?).map_err(|error| error.in_file(&path))
}

/// Parses the text of a `config.json`.
pub fn parse(text: &str) -> Result<Spec, SpecError> {
    let spec: Spec = from_json(text)?;
    if !spec.version().starts_with("1.") {
        return Err(SpecError::field(
            "ociVersion",
            format!("version {:?} is not supported (1.x is)", spec.version()),
        ));
    }
    Ok(spec)
}

/// Reads and parses a process file (`exec --process`): the `process`
/// object of a configuration; a parse error names the field.
pub fn load_process(path: &Path) -> Result<Process, SpecError> {
    from_json(&read(path)?).map_err(|error| error.in_file(path))
}

/// Parses a `linux.resources` object (`update --resources`); an error
/// names the field.
pub fn parse_resources(text: &str) -> Result<LinuxResources, SpecError> {
    from_json(text)
}

/// The items of one of the model's optional lists (absent is empty).
pub fn items<T>(list: &Option<Vec<T>>) -> &[T] {
    list.as_deref().unwrap_or_default()
}

fn read(path: &Path) -> Result<String, SpecError> {
    fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, SpecError> {
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer)
        .map_err(|error| SpecError::field(error.path().to_string(), error.inner().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_error_names_the_field() {
        let text = r#"{"ociVersion": "1.0.2", "process": {"user": {"uid": "root", "gid": 0}, "cwd": "/"}}"#;
        let error = parse(text).unwrap_err().to_string();
        assert!(error.starts_with("process.user.uid: "), "{error}");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let text =
            r#"{"ociVersion": "1.2.0", "future": 1, "linux": {"intelRdt": {}, "future": []}}"#;
        let spec = parse(text).expect("a valid spec");
        assert!(spec.process().is_none());
    }

    #[test]
    fn another_major_version_is_refused() {
        let error = parse(r#"{"ociVersion": "2.0.0"}"#).unwrap_err();
        assert!(error.to_string().starts_with("ociVersion: "), "{error}");
    }

    #[test]
    fn an_unknown_capability_names_its_set() {
        let text = r#"{"ociVersion": "1.0.2", "process": {"user": {"uid": 0, "gid": 0}, "cwd": "/",
            "capabilities": {"permitted": ["CAP_CHOWN", "CAP_FLY"]}}}"#;
        let error = parse(text).unwrap_err().to_string();
        assert!(
            error.starts_with("process.capabilities.permitted"),
            "{error}"
        );
    }
}
