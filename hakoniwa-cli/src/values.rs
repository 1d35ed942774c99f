//! Parsers for option values that are more than a string: sizes, counts,
//! durations. Each error names the value and says what was expected.

use std::time::Duration;

/// `RLIM_INFINITY`: no limit.
pub(crate) const UNLIMITED: u64 = u64::MAX;

/// A size in bytes: `4096`, `64k`, `64M`, `1G`, `2T` (powers of 1024,
/// case-insensitive, with an optional `B` or `iB`), or `unlimited`.
pub(crate) fn size(value: &str) -> Result<u64, String> {
    if value == "unlimited" {
        return Ok(UNLIMITED);
    }
    let digits_end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, suffix) = value.split_at(digits_end);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{value:?} is not a size (bytes, or a number with k, M, G or T)"))?;
    let lower = suffix.to_ascii_lowercase();
    let unit = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => {
            return Err(format!(
                "{value:?} has an unknown size suffix {suffix:?} (use k, M, G or T)"
            ))
        }
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{value:?} is too large"))
}

/// A count or a number of seconds: a non-negative integer, or `unlimited`.
pub(crate) fn count(value: &str) -> Result<u64, String> {
    if value == "unlimited" {
        return Ok(UNLIMITED);
    }
    value
        .parse()
        .map_err(|_| format!("{value:?} is not a non-negative integer"))
}

/// A positive number of seconds, fractions allowed: `1`, `0.5`, `2.25`.
pub(crate) fn seconds(value: &str) -> Result<Duration, String> {
    let seconds: f64 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number of seconds"))?;
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(format!("{value:?} is not a positive number of seconds"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{value:?} is too large"))
}

/// A file mode in octal: `700`, `0755`, `1777`.
pub(crate) fn mode(value: &str) -> Result<u32, String> {
    u32::from_str_radix(value, 8)
        .ok()
        .filter(|mode| *mode <= 0o7777)
        .ok_or_else(|| format!("{value:?} is not an octal mode (0 to 7777)"))
}

/// `size=SIZE,mode=OCTAL,nr_inodes=N` for a tmpfs.
pub(crate) fn tmpfs_options(value: &str) -> Result<hakoniwa::TmpfsOptions, String> {
    let mut options = hakoniwa::TmpfsOptions::default();
    for option in value.split(',').filter(|option| !option.is_empty()) {
        match option.split_once('=') {
            Some(("size", size)) => options.size = Some(self::size(size)?),
            Some(("mode", octal)) => options.mode = Some(mode(octal)?),
            Some(("nr_inodes", count)) => options.nr_inodes = Some(self::size(count)?),
            _ => {
                return Err(format!(
                    "unknown option {option:?} (size=SIZE, mode=OCTAL, nr_inodes=N)"
                ))
            }
        }
    }
    Ok(options)
}

/// An id map: `CONTAINER[:HOST[:COUNT]]`; HOST defaults to the caller's
/// own id (`None` here), COUNT to 1.
pub(crate) fn id_map(value: &str) -> Result<(u32, Option<u32>, u32), String> {
    let number = |part: &str, what: &str| -> Result<u32, String> {
        part.parse()
            .map_err(|_| format!("{value:?}: {what} {part:?} is not an id (0 to 4294967295)"))
    };
    let mut parts = value.split(':');
    let inside = number(parts.next().unwrap_or_default(), "container id")?;
    let host = parts
        .next()
        .map(|part| number(part, "host id"))
        .transpose()?;
    let count = parts
        .next()
        .map(|part| number(part, "count"))
        .transpose()?
        .unwrap_or(1);
    if parts.next().is_some() {
        return Err(format!("{value:?} is not CONTAINER[:HOST[:COUNT]]"));
    }
    if count == 0 {
        return Err(format!("{value:?}: the count must be at least 1"));
    }
    Ok((inside, host, count))
}

/// `none`, `host`, `pasta` or `pasta:OPTIONS`, pasta's options separated
/// by commas. A word that does not start with `-` right after another such
/// word continues that value, so that a port list keeps its commas:
/// `pasta:-t,22,25,-T,5432` passes `-t 22,25 -T 5432`.
pub(crate) fn network(value: &str) -> Result<hakoniwa::Network, String> {
    use hakoniwa::{Network, Pasta};
    match value.split_once(':') {
        None if value == "none" => Ok(Network::None),
        None if value == "host" => Ok(Network::Host),
        None if value == "pasta" => Ok(Pasta::new().into()),
        Some(("pasta", options)) => {
            let mut pasta = Pasta::new();
            pasta.args(pasta_options(options));
            Ok(pasta.into())
        }
        Some(("none" | "host", _)) => Err(format!("{value:?}: only pasta takes options")),
        _ => Err(format!(
            "{value:?} is not a network (none, host, pasta or pasta:OPTIONS)"
        )),
    }
}

fn pasta_options(list: &str) -> Vec<String> {
    let mut options: Vec<String> = Vec::new();
    let mut after_value = false;
    for word in list.split(',').filter(|word| !word.is_empty()) {
        let is_value = !word.starts_with('-');
        match options.last_mut() {
            Some(last) if is_value && after_value => {
                last.push(',');
                last.push_str(word);
            }
            _ => options.push(word.to_string()),
        }
        after_value = is_value;
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        use hakoniwa::{Network, Pasta};
        assert_eq!(network("none"), Ok(Network::None));
        assert_eq!(network("host"), Ok(Network::Host));
        assert_eq!(network("pasta"), Ok(Network::Pasta(Pasta::new())));
        let Ok(Network::Pasta(pasta)) = network("pasta:-t,22,25,-T,5432,--map-gw,-u,~53") else {
            panic!("not pasta");
        };
        assert_eq!(
            pasta.get_args(),
            ["-t", "22,25", "-T", "5432", "--map-gw", "-u", "~53"]
        );
        assert!(network("host:-t,80").is_err());
        assert!(network("slirp4netns").is_err());
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(size("4096"), Ok(4096));
        assert_eq!(size("64k"), Ok(64 << 10));
        assert_eq!(size("64M"), Ok(64 << 20));
        assert_eq!(size("1GiB"), Ok(1 << 30));
        assert_eq!(size("2tb"), Ok(2 << 40));
        assert_eq!(size("unlimited"), Ok(UNLIMITED));
        for bad in ["", "-1", "1.5G", "12X", "M", "99999999999999999999T"] {
            assert!(size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seconds_allow_fractions_but_not_zero_or_less() {
        assert_eq!(seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(seconds("2"), Ok(Duration::from_secs(2)));
        for bad in ["0", "-1", "abc", "inf", "NaN"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(count("12"), Ok(12));
        assert!(count("-3").is_err());
    }

    #[test]
    fn id_maps_default_to_the_caller_and_one_id() {
        assert_eq!(id_map("0"), Ok((0, None, 1)));
        assert_eq!(id_map("1:100000:65536"), Ok((1, Some(100000), 65536)));
        for bad in ["", "a", "0:1:0", "0:1:2:3", "-1", "0:x"] {
            assert!(id_map(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tmpfs_options_and_modes_parse() {
        let options = tmpfs_options("size=64m,mode=1777,nr_inodes=1k").unwrap();
        assert_eq!(options.size, Some(64 << 20));
        assert_eq!(options.mode, Some(0o1777));
        assert_eq!(options.nr_inodes, Some(1024));
        for bad in ["size=1x", "mode=9", "uid=0", "size"] {
            assert!(tmpfs_options(bad).is_err(), "{bad}");
        }
        assert_eq!(mode("0700"), Ok(0o700));
        assert!(mode("17777").is_err());
    }
}
