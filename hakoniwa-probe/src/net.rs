//! Traffic through the sandbox's network, for the `--network` tests: one
//! TCP exchange or one UDP datagram, either end.
//!
//! ```text
//! tcp-serve ADDR          listen, print {"listening": ADDR}, answer one
//!                         line with "pong: LINE", report what came
//! tcp-request ADDR TEXT   connect, send TEXT, report the answer
//! udp-recv ADDR           bind, print {"listening": ADDR}, report one datagram
//! udp-send ADDR TEXT      send TEXT a few times (UDP may drop one)
//! ```
//!
//! Servers announce themselves on a line of their own before waiting, so
//! that the test connects only once they listen. Failures are reported as
//! outcomes, like the other attempts.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use serde_json::{json, Value};

use crate::actions::outcome;

pub const COMMANDS: [&str; 4] = ["tcp-serve", "tcp-request", "udp-recv", "udp-send"];

/// Longest a server waits for its one client.
const WAIT: Duration = Duration::from_secs(10);

pub fn run(command: &str, args: &[&str]) -> Result<Value, String> {
    let address = |text: &str| {
        text.parse::<SocketAddr>()
            .map_err(|_| format!("not an address: {text}"))
    };
    Ok(match (command, args) {
        ("tcp-serve", [addr]) => tcp_serve(address(addr)?),
        ("tcp-request", [addr, text]) => tcp_request(address(addr)?, text),
        ("udp-recv", [addr]) => udp_recv(address(addr)?),
        ("udp-send", [addr, text]) => udp_send(address(addr)?, text),
        _ => return Err(format!("bad arguments for {command}: {args:?}")),
    })
}

fn tcp_serve(addr: SocketAddr) -> Value {
    let listener = match TcpListener::bind(addr) {
        Ok(listener) => listener,
        Err(error) => return json!({ "listen": outcome(Err(error)) }),
    };
    crate::print(&json!({ "listening": addr.to_string() }));
    let exchange = || -> io::Result<String> {
        let (stream, _) = listener.accept()?;
        stream.set_read_timeout(Some(WAIT))?;
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line)?;
        let line = line.trim_end().to_owned();
        (&stream).write_all(format!("pong: {line}\n").as_bytes())?;
        Ok(line)
    };
    match exchange() {
        Ok(line) => json!({ "received": line }),
        Err(error) => json!({ "received": null, "error": error.to_string() }),
    }
}

fn tcp_request(addr: SocketAddr, text: &str) -> Value {
    let exchange = || -> io::Result<String> {
        let stream = TcpStream::connect_timeout(&addr, WAIT)?;
        stream.set_read_timeout(Some(WAIT))?;
        (&stream).write_all(format!("{text}\n").as_bytes())?;
        let mut reply = String::new();
        BufReader::new(&stream).read_line(&mut reply)?;
        Ok(reply.trim_end().to_owned())
    };
    match exchange() {
        Ok(reply) => json!({ "connect": outcome(Ok(())), "reply": reply }),
        Err(error) => json!({ "connect": outcome(Err(error)), "reply": null }),
    }
}

fn udp_recv(addr: SocketAddr) -> Value {
    let socket = match UdpSocket::bind(addr) {
        Ok(socket) => socket,
        Err(error) => return json!({ "bind": outcome(Err(error)) }),
    };
    crate::print(&json!({ "listening": addr.to_string() }));
    let mut buf = [0; 1500];
    let received = socket
        .set_read_timeout(Some(WAIT))
        .and_then(|()| socket.recv(&mut buf));
    match received {
        Ok(n) => json!({ "received": String::from_utf8_lossy(&buf[..n]) }),
        Err(error) => json!({ "received": null, "error": error.to_string() }),
    }
}

fn udp_send(addr: SocketAddr, text: &str) -> Value {
    let local: SocketAddr = match addr {
        SocketAddr::V4(_) => "0.0.0.0:0",
        SocketAddr::V6(_) => "[::]:0",
    }
    .parse()
    .expect("a valid wildcard address");
    let send = || -> io::Result<()> {
        let socket = UdpSocket::bind(local)?;
        for _ in 0..3 {
            socket.send_to(text.as_bytes(), addr)?;
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    };
    json!({ "sent": outcome(send()) })
}
