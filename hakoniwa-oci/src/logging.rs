//! `--log FILE --log-format text|json --debug`: container engines read the
//! runtime's log (containerd parses JSON lines `{"level","msg","time"}`
//! for its error messages).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::ValueEnum;

/// How each log line is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `LEVEL message`.
    Text,
    /// One JSON object a line: `level`, `msg`, `time` (RFC 3339, UTC).
    Json,
}

/// Writes records to the log file, or to standard error without one.
struct Logger {
    out: Mutex<Box<dyn Write + Send>>,
    format: Format,
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = record.level().as_str().to_ascii_lowercase();
        let message = record.args().to_string();
        let line = match self.format {
            Format::Text => format!("{level}: {message}\n"),
            Format::Json => {
                let mut line = serde_json::json!({
                    "level": level,
                    "msg": message,
                    "time": rfc3339(SystemTime::now()),
                })
                .to_string();
                line.push('\n');
                line
            }
        };
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A log that cannot be written must not stop the runtime.
        let _ = out.write_all(line.as_bytes());
    }

    fn flush(&self) {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = out.flush();
    }
}

/// Installs the logger: warnings and errors, everything with `debug`.
pub fn init(file: Option<&Path>, format: Format, debug: bool) -> io::Result<()> {
    let out: Box<dyn Write + Send> = match file {
        Some(path) => Box::new(open(path)?),
        None => Box::new(io::stderr()),
    };
    let logger = Logger {
        out: Mutex::new(out),
        format,
    };
    log::set_boxed_logger(Box::new(logger)).map_err(io::Error::other)?;
    log::set_max_level(if debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Warn
    });
    Ok(())
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `2026-11-29T19:41:05.123Z`.
fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, which counts in 400-year eras from March).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_rfc3339_in_utc() {
        let time = UNIX_EPOCH + Duration::from_millis(1_795_981_265_123);
        assert_eq!(rfc3339(time), "2026-11-29T19:41:05.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
