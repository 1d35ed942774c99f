//! The `hakoniwa` command; its code is the crate's library (`lib.rs`).
//!
//! It starts as a C program does, without Rust's own start-up code: that
//! reads the whole of `/proc/self/maps` (through glibc's
//! `pthread_getattr_np`) to set up a handler that reports a stack
//! overflow of the main thread, about a tenth of a millisecond of every
//! run (BENCHMARKS.md). Without it a stack overflow is a plain SIGSEGV.
//! The rest of that start-up is [`hakoniwa_cli::prepare_process`]; the
//! arguments still reach `std::env::args`, which glibc hands to the
//! standard library at load time.
#![no_main]

/// The C `main` that libc calls.
#[allow(unsafe_code)] // `no_mangle`: the name must be exactly `main`.
#[no_mangle]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    hakoniwa_cli::prepare_process();
    // `exit` flushes standard output, as returning from Rust's main would.
    std::process::exit(hakoniwa_cli::main());
}
