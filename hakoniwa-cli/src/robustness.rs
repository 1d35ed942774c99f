//! No input makes the parsers panic: every error is an error message.
//!
//! A bounded, seeded fuzz on the stable toolchain: each parser gets
//! mutations of valid inputs (byte flips, insertions of the format's own
//! tokens, deletions, duplications, splices between seeds) and random
//! bytes. A failure prints the seed and the input, so it can be replayed.
//! For a longer run: `HAKONIWA_FUZZ_ROUNDS=100000 cargo test -p
//! hakoniwa-cli robustness`.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use crate::{landlock, profile, values};

/// Inputs per parser in an ordinary `cargo test`.
const DEFAULT_ROUNDS: usize = 2_000;

fn rounds() -> usize {
    std::env::var("HAKONIWA_FUZZ_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS)
}

/// xorshift64*: small, fast, and the same sequence for the same seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One mutation of `input`, using `tokens` and the other `seeds`.
fn mutate(random: &mut Random, input: &[u8], seeds: &[&[u8]], tokens: &[&str]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..=random.below(4) {
        let at = random.below(bytes.len() + 1);
        match random.below(6) {
            0 if !bytes.is_empty() => {
                let i = random.below(bytes.len());
                bytes[i] ^= 1 << random.below(8);
            }
            1 => {
                let token = random.pick(tokens).as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            2 => {
                let end = (at + random.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                let end = (at + random.below(32)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            4 => {
                let other = random.pick(seeds);
                let from = random.below(other.len());
                let end = (from + random.below(64)).min(other.len());
                bytes.splice(at..at, other[from..end].iter().copied());
            }
            _ => {
                let byte = random.next() as u8;
                bytes.insert(at, byte);
            }
        }
    }
    bytes
}

/// Feeds `parse` every seed, then `rounds()` mutations and random inputs;
/// a panic fails the test with the input that caused it.
fn fuzz(name: &str, seeds: &[&[u8]], tokens: &[&str], parse: impl Fn(&str)) {
    let seed = 0x6861_6b6f_6e69_7761 ^ name.len() as u64;
    let mut random = Random(seed);
    let mut inputs: Vec<Vec<u8>> = seeds.iter().map(|s| s.to_vec()).collect();
    for round in 0..rounds() {
        inputs.push(if round % 10 == 0 {
            (0..random.below(64)).map(|_| random.next() as u8).collect()
        } else {
            let base = random.pick(seeds);
            mutate(&mut random, base, seeds, tokens)
        });
    }
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let failure = inputs.iter().find_map(|input| {
        let text = String::from_utf8_lossy(input);
        panic::catch_unwind(AssertUnwindSafe(|| parse(&text)))
            .err()
            .map(|_| text.into_owned())
    });
    panic::set_hook(hook);
    if let Some(text) = failure {
        panic!("{name} (seed {seed:#x}) panicked on {text:?}");
    }
}

#[test]
fn cli_values_never_panic() {
    let tokens = [
        "k",
        "M",
        "G",
        "T",
        "0",
        "9",
        ".",
        ":",
        ",",
        "-",
        "=",
        "size=",
        "mode=",
        "nr_inodes=",
        "18446744073709551615",
        "4294967295",
        "1e308",
        "NaN",
        "inf",
        "pasta",
        "host",
        "none",
        "unlimited",
    ];
    let seeds: [&[u8]; 10] = [
        b"64M",
        b"1.5",
        b"0",
        b"unlimited",
        b"0755",
        b"size=64M,mode=1777,nr_inodes=100",
        b"0:1000:1",
        b"1000",
        b"pasta:-t,8080,-T,5432",
        b"none",
    ];
    fuzz("cli values", &seeds, &tokens, |value| {
        let _ = values::size(value);
        let _ = values::count(value);
        let _ = values::seconds(value);
        let _ = values::mode(value);
        let _ = values::tmpfs_options(value);
        let _ = values::id_map(value);
        let _ = values::network(value);
        let _ = landlock::paths(value);
        let _ = landlock::ports(value);
    });
}

#[test]
fn seccomp_json_never_panics() {
    let podman = include_bytes!("../../hakoniwa/assets/seccomp/podman.json");
    // A slice of the real profile keeps the inputs small and fast to parse.
    let small: &[u8] = br#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [
          {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
          {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
           "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
          {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
           "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
           "excludes": {"caps": ["CAP_SYS_ADMIN"]}, "includes": {"arches": ["s390x"], "minKernel": "4.8"}},
          {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 38}
        ]}"#;
    let tokens = [
        "{",
        "}",
        "[",
        "]",
        "\"",
        ",",
        ":",
        "null",
        "true",
        "-1",
        "6",
        "18446744073709551616",
        "\"index\"",
        "\"value\"",
        "\"valueTwo\"",
        "\"op\"",
        "\"SCMP_CMP_GE\"",
        "\"args\"",
        "\"names\"",
        "\"action\"",
        "\"SCMP_ACT_KILL_THREAD\"",
        "\"SCMP_ACT_LOG\"",
        "\"errnoRet\"",
        "\"minKernel\"",
        "\"4.\"",
        "\"caps\"",
        "\"arches\"",
        "\"SCMP_ARCH_X32\"",
        "\"SCMP_ARCH_AARCH64\"",
    ];
    fuzz("seccomp json", &[small, &podman[..]], &tokens, |text| {
        let _ = hakoniwa::seccomp::Filter::from_json("fuzz", text);
    });
}

/// A copy of `docs/profiles` in a scratch directory, so that includes of
/// the seed profiles resolve; removed when dropped.
struct ProfileDir(PathBuf);

impl ProfileDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("hakoniwa-fuzz.{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/profiles");
        copy_dir(&docs, &dir);
        ProfileDir(dir)
    }
}

impl Drop for ProfileDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create the profile copy");
    for entry in fs::read_dir(from).expect("list docs/profiles").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy a profile");
        }
    }
}

#[test]
fn profiles_never_panic() {
    let dir = ProfileDir::new();
    let shell = fs::read(dir.0.join("shell.toml")).expect("docs/profiles/shell.toml");
    let gui = fs::read(dir.0.join("gui.toml")).expect("docs/profiles/gui.toml");
    let build = fs::read(dir.0.join("build.toml")).expect("docs/profiles/build.toml");
    let tokens = [
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        "env.HOME",
        "| default(",
        "[",
        "]",
        "[[",
        "=",
        "\"",
        "'''",
        "\n",
        "@include = [\"abstractions/base.toml\"]\n",
        "@include = [\"fuzz.toml\"]\n",
        "type = \"tmpfs\"",
        "type = \"devfs\"",
        "rw = true",
        "value = 1e400",
        "value = -1",
        "value = \"64X\"",
        "access = \"rwx\"",
        "port = 70000",
        "mode = \"pasta\"",
        "[[limits]]",
        "[landlock]",
        "[seccomp]",
        "[command]",
        "cmdline = []",
    ];
    let seeds: [&[u8]; 3] = [&shell, &gui, &build];
    let file = dir.0.join("fuzz.toml");
    fuzz("profiles", &seeds, &tokens, |text| {
        fs::write(&file, text).expect("write the fuzz profile");
        let _ = profile::load(&file);
    });
}
