//! A seccomp profile in the Docker/OCI JSON format, loaded and, when it
//! loads, compiled to BPF for this host: once for a program holding the
//! caller's capabilities and once for one holding none, since
//! `includes.caps`/`excludes.caps` choose rules by them.
#![no_main]

use hakoniwa::seccomp::Filter;
use hakoniwa::Container;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = Filter::from_json("fuzz", text) else {
        return;
    };
    for drop_all in [false, true] {
        let mut container = Container::new();
        container.seccomp_filter(filter.clone());
        if drop_all {
            container.cap_drop("ALL");
        }
        let _ = container.command("/bin/true").dry_run();
    }
});
