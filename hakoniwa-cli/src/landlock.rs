//! Values of the `--landlock-*` options: path lists and port lists. Names
//! (restrictions, scopes, the compat mode) parse with the library's
//! `FromStr`, so that profiles spell them the same way.

use std::path::PathBuf;

/// `--landlock-fs-ro` and friends: paths in the sandbox separated by `,`
/// or `:` (both as in hakoniwa 1.x). A path written `?PATH` is optional:
/// its rule is skipped when `PATH` does not exist in the sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PathList(pub Vec<PathEntry>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PathEntry {
    pub path: PathBuf,
    pub optional: bool,
}

/// `--landlock-tcp-bind`, `--landlock-tcp-connect`: ports separated by
/// `,` or `:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PortList(pub Vec<u16>);

fn items(value: &str) -> impl Iterator<Item = &str> {
    value.split([',', ':'])
}

pub(crate) fn paths(value: &str) -> Result<PathList, String> {
    items(value)
        .map(|item| {
            let (path, optional) = match item.strip_prefix('?') {
                Some(path) => (path, true),
                None => (item, false),
            };
            if path.is_empty() {
                return Err(format!("{value:?} has an empty path"));
            }
            if !path.starts_with('/') {
                return Err(format!(
                    "{path:?} is not absolute (landlock paths are paths in the sandbox)"
                ));
            }
            Ok(PathEntry {
                path: path.into(),
                optional,
            })
        })
        .collect::<Result<_, _>>()
        .map(PathList)
}

pub(crate) fn ports(value: &str) -> Result<PortList, String> {
    items(value)
        .map(|item| {
            item.parse()
                .map_err(|_| format!("{item:?} is not a port number (0-65535)"))
        })
        .collect::<Result<_, _>>()
        .map(PortList)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_take_both_separators_and_the_optional_marker() {
        let list = paths("/usr:/etc,?/opt/extra").unwrap();
        let got: Vec<(String, bool)> = list
            .0
            .iter()
            .map(|entry| (entry.path.display().to_string(), entry.optional))
            .collect();
        assert_eq!(
            got,
            [
                ("/usr".to_string(), false),
                ("/etc".to_string(), false),
                ("/opt/extra".to_string(), true)
            ]
        );
    }

    #[test]
    fn bad_paths_are_named() {
        assert_eq!(
            paths("/usr,home").unwrap_err(),
            "\"home\" is not absolute (landlock paths are paths in the sandbox)"
        );
        assert_eq!(
            paths("/usr,,/etc").unwrap_err(),
            "\"/usr,,/etc\" has an empty path"
        );
        assert!(paths("?").is_err());
    }

    #[test]
    fn ports_are_numbers_up_to_65535() {
        assert_eq!(ports("80,443:8080"), Ok(PortList(vec![80, 443, 8080])));
        assert_eq!(
            ports("443,65536").unwrap_err(),
            "\"65536\" is not a port number (0-65535)"
        );
        assert!(ports("http").is_err());
        assert!(ports("").is_err());
        assert!(ports("-1").is_err());
    }
}
