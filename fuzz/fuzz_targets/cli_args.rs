//! A `hakoniwa run` command line, one argument per line of the input,
//! taken as far as `--dry-run` takes it: every flag's value parser (sizes,
//! durations, id maps, mount specs, landlock lists, network specs…), the
//! lowering to a sandbox and the plan, without running anything.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = hakoniwa_cli::dry_run(text.split('\n'));
});
