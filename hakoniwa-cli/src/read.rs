//! Reading a file the user named, whole: a profile, a template it
//! includes, a file copied in with `--file`. Bounded, so that `/dev/zero`
//! or a pipe that never ends is an error, not all of the machine's memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The most read from one file: far more than any profile needs; a larger
/// file for `--file` is better bound (`-b`).
pub(crate) const LIMIT: u64 = 16 << 20;

pub(crate) fn bytes(path: &Path) -> io::Result<Vec<u8>> {
    let mut contents = Vec::new();
    File::open(path)?
        .take(LIMIT + 1)
        .read_to_end(&mut contents)?;
    if contents.len() as u64 > LIMIT {
        return Err(io::Error::other(format!("larger than {} MiB", LIMIT >> 20)));
    }
    Ok(contents)
}

pub(crate) fn text(path: &Path) -> io::Result<String> {
    String::from_utf8(bytes(path)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_is_an_error() {
        let err = bytes(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(err.to_string(), "larger than 16 MiB");
        assert_eq!(text(Path::new("/dev/null")).unwrap(), "");
    }
}
