//! `/proc/self/mountinfo` as JSON. The format is in proc(5):
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
//! ```
//!
//! (7) is zero or more optional fields ended by the `-` separator (8).

use serde_json::{json, Value};

/// One JSON object per line, in mount order.
pub fn parse(text: &str) -> Value {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Value> {
    let (before, after) = line.split_once(" - ")?;
    let mut fields = before.split(' ');
    let id = fields.next()?;
    let parent = fields.next()?;
    let _device = fields.next()?;
    let root = fields.next()?;
    let mount_point = fields.next()?;
    let options = fields.next()?;
    let mut fields = after.split(' ');
    let fs_type = fields.next()?;
    let source = fields.next()?;
    let super_options = fields.next().unwrap_or_default();
    let options: Vec<&str> = options.split(',').collect();
    Some(json!({
        "id": id.parse::<u32>().ok()?,
        "parent": parent.parse::<u32>().ok()?,
        "root": unescape(root),
        "mount_point": unescape(mount_point),
        "read_only": options.contains(&"ro"),
        "options": options,
        "fs_type": fs_type,
        "source": unescape(source),
        "super_options": super_options.split(',').collect::<Vec<_>>(),
    }))
}

/// The kernel writes space, tab, newline and backslash in paths as `\OOO`
/// octal escapes (`seq_show_option`, `mangle_path`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let digits = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(digits, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_line_with_optional_fields() {
        let line = "36 35 98:0 /mnt1 /mnt\\0402 ro,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue";
        assert_eq!(
            parse(line),
            json!([{
                "id": 36,
                "parent": 35,
                "root": "/mnt1",
                "mount_point": "/mnt 2",
                "read_only": true,
                "options": ["ro", "noatime"],
                "fs_type": "ext3",
                "source": "/dev/root",
                "super_options": ["rw", "errors=continue"],
            }])
        );
    }

    #[test]
    fn skips_lines_it_cannot_read() {
        assert_eq!(parse("garbage\n"), json!([]));
    }

    #[test]
    fn leaves_lone_backslashes() {
        assert_eq!(unescape("a\\b\\134c"), "a\\b\\c");
    }
}
