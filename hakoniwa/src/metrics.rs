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
