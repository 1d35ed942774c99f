//! Attempts that show what landlock allows: reading, executing, TCP bind
//! and connect on loopback, signalling a process, connecting to an
//! abstract unix socket. Like the other attempts, each reports
//! `{"ok", "errno", "error"}` instead of failing.
//!
//! Also `without-landlock`, which runs on the host, not in a sandbox: it
//! starts a command as if the kernel had no landlock.

use std::fs;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::actions::outcome;
use crate::sys;

/// `read PATH`: read a file, or list a directory.
pub fn read(path: &Path) -> Value {
    let result = if path.is_dir() {
        fs::read_dir(path).map(drop)
    } else {
        fs::File::open(path).and_then(|mut file| file.read(&mut [0; 64]).map(drop))
    };
    json!({ "path": path.to_string_lossy(), "read": outcome(result) })
}

/// `exec PATH [ARG...]`: run a program and wait for it.
pub fn exec(path: &str, args: &[&str]) -> Value {
    let (result, code) = match Command::new(path).args(args).status() {
        Ok(status) => (Ok(()), status.code()),
        Err(error) => (Err(error), None),
    };
    json!({ "path": path, "exec": outcome(result), "code": code })
}

fn loopback(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}

/// `tcp-bind PORT`: bind a TCP socket to 127.0.0.1:PORT.
pub fn tcp_bind(port: u16) -> Value {
    let result = TcpListener::bind(loopback(port)).map(drop);
    json!({ "port": port, "bind": outcome(result) })
}

/// `tcp-connect PORT`: listen on 127.0.0.1:PORT (a bind, which may itself
/// be refused), then connect to it.
pub fn tcp_connect(port: u16) -> Value {
    let listener = TcpListener::bind(loopback(port));
    let connect = match &listener {
        Ok(_) => TcpStream::connect(loopback(port)).map(drop),
        Err(_) => Err(io::Error::other("no listener")),
    };
    json!({
        "port": port,
        "listen": outcome(listener.map(drop)),
        "connect": outcome(connect),
    })
}

/// `signal PID`: `kill(PID, 0)`, which checks the right to signal.
pub fn signal(pid: i32) -> Value {
    json!({ "pid": pid, "signal": outcome(sys::kill(pid, 0)) })
}

/// `abstract-connect NAME`: connect to the abstract unix socket `@NAME`.
pub fn abstract_connect(name: &str) -> Value {
    let result = SocketAddr::from_abstract_name(name)
        .and_then(|addr| UnixStream::connect_addr(&addr))
        .map(drop);
    json!({ "name": name, "connect": outcome(result) })
}

/// `without-landlock COMMAND [ARG...]`: executes COMMAND with a seccomp
/// filter that fails `landlock_create_ruleset` with `ENOSYS`, the answer of
/// a kernel built without landlock. Returns only on failure.
pub fn without_landlock(command: &str, args: &[&str]) -> Value {
    if let Err(error) = sys::deny_landlock() {
        return json!({ "without_landlock": outcome(Err(error)) });
    }
    let error = Command::new(command).args(args).exec();
    json!({ "without_landlock": outcome(Err(error)) })
}

/// The subcommands of this file.
pub const COMMANDS: [&str; 7] = [
    "read",
    "exec",
    "tcp-bind",
    "tcp-connect",
    "signal",
    "abstract-connect",
    "without-landlock",
];

/// Runs one of [`COMMANDS`]; a usage problem otherwise.
pub fn run(command: &str, args: &[&str]) -> Result<Value, String> {
    let port = |text: &str| {
        text.parse::<u16>()
            .map_err(|_| format!("not a port: {text}"))
    };
    Ok(match (command, args) {
        ("read", [path]) => read(path.as_ref()),
        ("exec", [path, rest @ ..]) => exec(path, rest),
        ("tcp-bind", [text]) => tcp_bind(port(text)?),
        ("tcp-connect", [text]) => tcp_connect(port(text)?),
        ("signal", [pid]) => signal(pid.parse().map_err(|_| format!("not a pid: {pid}"))?),
        ("abstract-connect", [name]) => abstract_connect(name),
        ("without-landlock", [program, rest @ ..]) => without_landlock(program, rest),
        _ => return Err(format!("bad arguments for {command}: {args:?}")),
    })
}
