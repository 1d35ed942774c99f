//! What a run cost: resource usage of the program, measured by init.

use std::time::Duration;

/// Resource usage of the program and the children it waited for, from
/// `wait4(2)`, plus the wall-clock time from its fork to its end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rusage {
    /// Wall-clock time from the program's start to its end.
    pub real_time: Duration,
    /// CPU time in user mode.
    pub user_time: Duration,
    /// CPU time in kernel mode.
    pub system_time: Duration,
    /// Largest resident set size, in KiB.
    pub max_rss: u64,
    /// Page faults served without I/O.
    pub minor_faults: u64,
    /// Page faults that needed I/O.
    pub major_faults: u64,
    /// Times the program gave up the CPU (waiting for something).
    pub voluntary_context_switches: u64,
    /// Times the program was preempted.
    pub involuntary_context_switches: u64,
}

/// Number of words in the wire form.
pub(crate) const WORDS: usize = 8;

impl Rusage {
    /// Init side: from `wait4`'s usage and the measured wall-clock time.
    /// Makes no allocation.
    pub(crate) fn from_wait4(usage: &libc::rusage, real_time: Duration) -> Self {
        let time = |tv: libc::timeval| {
            Duration::new(tv.tv_sec.max(0) as u64, (tv.tv_usec.max(0) as u32) * 1000)
        };
        let count = |n: libc::c_long| n.max(0) as u64;
        Self {
            real_time,
            user_time: time(usage.ru_utime),
            system_time: time(usage.ru_stime),
            max_rss: count(usage.ru_maxrss),
            minor_faults: count(usage.ru_minflt),
            major_faults: count(usage.ru_majflt),
            voluntary_context_switches: count(usage.ru_nvcsw),
            involuntary_context_switches: count(usage.ru_nivcsw),
        }
    }

    /// CPU time, user and system.
    pub fn cpu_time(&self) -> Duration {
        self.user_time + self.system_time
    }

    pub(crate) fn to_words(self) -> [u64; WORDS] {
        let nanos = |d: Duration| d.as_nanos().min(u64::MAX as u128) as u64;
        [
            nanos(self.real_time),
            nanos(self.user_time),
            nanos(self.system_time),
            self.max_rss,
            self.minor_faults,
            self.major_faults,
            self.voluntary_context_switches,
            self.involuntary_context_switches,
        ]
    }

    pub(crate) fn from_words(words: [u64; WORDS]) -> Self {
        Self {
            real_time: Duration::from_nanos(words[0]),
            user_time: Duration::from_nanos(words[1]),
            system_time: Duration::from_nanos(words[2]),
            max_rss: words[3],
            minor_faults: words[4],
            major_faults: words[5],
            voluntary_context_switches: words[6],
            involuntary_context_switches: words[7],
        }
    }
}

/// The program's peak memory, read from `/proc/PID/status` at the moment it
/// exits (opt-in: [`Runctl::GetProcPidStatus`](crate::Runctl)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcPidStatus {
    /// Peak virtual memory size (`VmPeak`), in KiB.
    pub vm_peak: u64,
    /// Peak resident set size (`VmHWM`), in KiB.
    pub vm_hwm: u64,
}

impl ProcPidStatus {
    /// Init side: reads `/proc/PID/status` of the program, stopped at its
    /// exit. Makes no allocation: the path and the text live on the stack.
    pub(crate) fn read(pid: i32) -> Option<Self> {
        let mut path = [0u8; 32];
        let prefix = b"/proc/";
        path[..prefix.len()].copy_from_slice(prefix);
        let at = prefix.len() + write_decimal(&mut path[prefix.len()..], pid.unsigned_abs());
        let suffix = b"/status";
        path.get_mut(at..at + suffix.len())?.copy_from_slice(suffix);
        let path = std::ffi::CStr::from_bytes_until_nul(&path).ok()?;
        let flags = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC;
        let file = nix::fcntl::open(path, flags, nix::sys::stat::Mode::empty()).ok()?;
        let mut text = [0u8; 4096];
        let mut length = 0;
        while length < text.len() {
            match nix::unistd::read(&file, &mut text[length..]) {
                Ok(0) => break,
                Ok(n) => length += n,
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return None,
            }
        }
        Self::parse(&text[..length])
    }

    /// `VmPeak:` and `VmHWM:` of a `/proc/PID/status` text.
    fn parse(text: &[u8]) -> Option<Self> {
        let field = |name: &[u8]| {
            text.split(|&b| b == b'\n').find_map(|line| {
                let value = line.strip_prefix(name)?;
                let digits = value.iter().skip_while(|b| !b.is_ascii_digit());
                let mut number: u64 = 0;
                for &b in digits.take_while(|b| b.is_ascii_digit()) {
                    number = number.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
                }
                Some(number)
            })
        };
        Some(Self {
            vm_peak: field(b"VmPeak:")?,
            vm_hwm: field(b"VmHWM:")?,
        })
    }
}

/// Writes `n` in decimal at the start of `buf`, without allocating (for the
/// sandbox's processes); the number of bytes.
pub(crate) fn write_decimal(buf: &mut [u8], mut n: u32) -> usize {
    let mut digits = [0u8; 10];
    let mut count = 0;
    loop {
        digits[count] = b'0' + (n % 10) as u8;
        count += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (slot, digit) in buf.iter_mut().zip(digits[..count].iter().rev()) {
        *slot = *digit;
    }
    count.min(buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_memory_is_read_from_a_status_text() {
        let text = b"Name:\tx\nVmPeak:\t  204800 kB\nVmSize:\t 1000 kB\nVmHWM:\t  1024 kB\n";
        assert_eq!(
            ProcPidStatus::parse(text),
            Some(ProcPidStatus {
                vm_peak: 204800,
                vm_hwm: 1024
            })
        );
        assert_eq!(ProcPidStatus::parse(b"Name:\tzombie\n"), None);
    }

    #[test]
    fn our_own_status_reads() {
        let own = ProcPidStatus::read(std::process::id() as i32).unwrap();
        assert!(own.vm_peak >= own.vm_hwm && own.vm_hwm > 0, "{own:?}");
    }
}
