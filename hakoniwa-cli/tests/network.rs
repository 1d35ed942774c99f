//! `--network none|host|pasta[:OPTIONS]`: what the program sees of the
//! network in each mode, traffic through pasta's forwarded ports in both
//! directions, and pasta's lifetime: it ends with the run, however the run
//! ends, and a failure to start it is one clear error.
//!
//! Tests that need pasta say `skipped: …` where it is missing, or where the
//! caller cannot use `/dev/net/tun` (`.ci/run` provides both).

#[macro_use]
mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use common::host::{self, Process};
use common::{facts, Caller};

sandbox_tests![
    none_has_only_loopback_and_it_is_up,
    host_is_the_callers_network,
    pasta_configures_an_interface_like_the_hosts,
    pasta_forwards_no_port_unless_asked,
    pasta_connects_a_sandbox_whose_maps_leave_the_caller_out,
    tcp_from_the_host_reaches_a_server_inside,
    tcp_from_inside_reaches_a_server_on_the_host,
    udp_from_inside_reaches_a_resolver_on_the_host,
    hundred_runs_leave_no_pasta,
    pasta_ends_with_the_run_however_it_ends,
    sigkill_of_hakoniwa_ends_pasta,
    missing_pasta_is_named_with_a_hint,
    options_pasta_rejects_are_reported,
    options_hakoniwa_sets_are_refused,
];

/// How long pasta may outlive a run.
const DEATH_DEADLINE: Duration = Duration::from_secs(2);

/// Why pasta cannot run for `caller` here, if it cannot.
fn pasta_missing(caller: &Caller) -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if !std::env::split_paths(&path).any(|dir| dir.join("pasta").is_file()) {
        return Some("pasta is not installed (apt install passt)".into());
    }
    let tun = Path::new("/dev/net/tun");
    let usable = fs::metadata(tun).is_ok_and(|m| caller.is_root() || m.mode() & 0o006 == 0o006);
    (!usable).then(|| format!("{} is not usable by uid {}", tun.display(), caller.uid()))
}

/// Runs `test` unless pasta cannot run, which it prints.
fn with_pasta(caller: &Caller, test: impl FnOnce()) {
    match pasta_missing(caller) {
        Some(reason) => {
            let name = thread::current().name().unwrap_or("test").to_owned();
            skipped!("skipped: {name}: {reason}");
        }
        None => test(),
    }
}

/// `ip -j addr` inside a sandbox with `network`, by interface name.
fn interfaces(caller: &Caller, network: &str) -> Vec<Value> {
    let outcome = caller
        .run(&["--network", network], &["ip", "-j", "addr"])
        .output();
    let json: Value = serde_json::from_str(outcome.success().stdout.trim())
        .unwrap_or_else(|e| panic!("ip -j addr printed no JSON: {e}\n{outcome}"));
    json.as_array().expect("a list of interfaces").clone()
}

fn is_up(interface: &Value) -> bool {
    interface["flags"]
        .as_array()
        .is_some_and(|flags| flags.iter().any(|f| f == "UP"))
}

fn ipv4(interface: &Value) -> Vec<String> {
    interface["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["family"] == "inet")
        .map(|a| a["local"].as_str().expect("an address").to_owned())
        .collect()
}

/// A TCP port free on the host's loopback at this instant.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// Processes left that carry `marker` in their environment (`hakoniwa`
/// passes its own to pasta).
fn pasta_processes(marker: &str) -> Vec<Process> {
    host::processes_marked(marker)
        .into_iter()
        .filter(|p| p.comm.starts_with("pasta") || p.comm.starts_with("passt"))
        .collect()
}

fn marker(caller: &Caller, what: &str) -> String {
    format!("network.{what}.{}.{}", std::process::id(), caller.uid())
}

fn none_has_only_loopback_and_it_is_up(caller: &Caller) {
    let interfaces = interfaces(caller, "none");
    let names: Vec<&str> = interfaces
        .iter()
        .map(|i| i["ifname"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["lo"], "{interfaces:#?}");
    assert!(is_up(&interfaces[0]), "lo is down: {interfaces:#?}");
    // The program can talk to itself.
    let attempt = caller.attempt(&["--network", "none"], &["tcp-connect", "4040"]);
    facts::assert_allowed(&attempt["connect"], "a connection on 127.0.0.1");
    let facts = caller.facts(&["--network", "none"]);
    assert!(facts::new_namespaces(&facts).contains("net"));
}

fn host_is_the_callers_network(caller: &Caller) {
    // --network host wins over --unshare-all.
    let facts = caller.facts(&["--unshare-all", "--network", "host"]);
    assert!(!facts::new_namespaces(&facts).contains("net"));
    assert_eq!(facts::namespace(&facts, "net"), host::namespace("net"));
}

fn pasta_configures_an_interface_like_the_hosts(caller: &Caller) {
    with_pasta(caller, || {
        let inside = interfaces(caller, "pasta");
        let lo = inside.iter().find(|i| i["ifname"] == "lo").expect("lo");
        assert!(is_up(lo), "lo is down: {inside:#?}");
        let outer: Vec<&Value> = inside.iter().filter(|i| i["ifname"] != "lo").collect();
        assert_eq!(outer.len(), 1, "one interface besides lo: {inside:#?}");
        assert!(is_up(outer[0]), "the interface is down: {inside:#?}");
        // pasta gives the sandbox the host's address (it translates).
        let host = interfaces(caller, "host");
        let host_addresses: Vec<String> = host.iter().flat_map(ipv4).collect();
        let addresses = ipv4(outer[0]);
        assert!(
            addresses.iter().any(|a| host_addresses.contains(a)),
            "{addresses:?} not among the host's {host_addresses:?}"
        );
    });
}

/// pasta joins the sandbox's namespaces while its init, already a mapped
/// user other than the caller, builds the root.
fn pasta_connects_a_sandbox_whose_maps_leave_the_caller_out(caller: &Caller) {
    with_pasta(caller, || {
        let test = "pasta_connects_a_sandbox_whose_maps_leave_the_caller_out";
        let Some((start, _)) = common::subordinate_ids(caller, test) else {
            return;
        };
        let range = format!("0:{start}:1000");
        let args = ["-u", &range, "-g", &range, "--network", "pasta"];
        let outcome = caller
            .run(&args, &["sh", "-c", "id -u; ip -j addr"])
            .output();
        let stdout = &outcome.success().stdout;
        let (uid, json) = stdout.split_once('\n').expect("two outputs");
        assert_eq!(uid, "0", "{outcome}");
        let inside: Value = serde_json::from_str(json).expect("ip -j addr");
        let up = inside
            .as_array()
            .expect("a list of interfaces")
            .iter()
            .filter(|i| i["ifname"] != "lo" && is_up(i))
            .count();
        assert_eq!(up, 1, "{outcome}");
    });
}

fn pasta_forwards_no_port_unless_asked(caller: &Caller) {
    with_pasta(caller, || {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        let attempt = caller.attempt(&["--network", "pasta"], &["tcp-request", &addr, "x"]);
        facts::assert_refused(&attempt["connect"], None, "a host port not forwarded");
    });
}

fn tcp_from_the_host_reaches_a_server_inside(caller: &Caller) {
    with_pasta(caller, || {
        let port = free_port();
        let network = format!("pasta:-t,{port}");
        let listen = format!("0.0.0.0:{port}");
        let mut running = caller
            .probe(&["--network", &network], &["tcp-serve", &listen])
            .spawn();
        let announced: Value = serde_json::from_str(&running.read_line()).expect("JSON");
        assert_eq!(announced["listening"], listen);
        let stream =
            TcpStream::connect(("127.0.0.1", port)).expect("connect to the forwarded port");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        (&stream).write_all(b"ping\n").expect("send");
        let mut reply = String::new();
        BufReader::new(&stream)
            .read_line(&mut reply)
            .expect("reply");
        assert_eq!(reply, "pong: ping\n");
        // The server's report follows its announcement.
        let outcome = running.wait();
        let last = outcome.success().stdout.lines().last().unwrap_or_default();
        let report: Value = serde_json::from_str(last).expect("JSON");
        assert_eq!(report["received"], "ping", "{outcome}");
    });
}

fn tcp_from_inside_reaches_a_server_on_the_host(caller: &Caller) {
    with_pasta(caller, || {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).expect("read");
            (&stream)
                .write_all(format!("pong: {line}").as_bytes())
                .expect("answer");
        });
        let network = format!("pasta:-T,{port}");
        let target = format!("127.0.0.1:{port}");
        let report = caller.attempt(&["--network", &network], &["tcp-request", &target, "hello"]);
        facts::assert_allowed(
            &report["connect"],
            "a connection to the forwarded host port",
        );
        assert_eq!(report["reply"], "pong: hello");
        server.join().expect("the server thread");
    });
}

/// The way to a resolver on the host's loopback (systemd-resolved's
/// 127.0.0.53, a local dnsmasq): forward its port with `-U`.
fn udp_from_inside_reaches_a_resolver_on_the_host(caller: &Caller) {
    with_pasta(caller, || {
        let resolver = UdpSocket::bind("127.0.0.1:0").expect("bind");
        resolver
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let port = resolver.local_addr().expect("address").port();
        let network = format!("pasta:-U,{port}");
        let target = format!("127.0.0.1:{port}");
        let report = caller.attempt(&["--network", &network], &["udp-send", &target, "query"]);
        facts::assert_allowed(&report["sent"], "sending to the forwarded host port");
        let mut buf = [0; 64];
        let n = resolver
            .recv(&mut buf)
            .expect("a datagram from the sandbox");
        assert_eq!(&buf[..n], b"query");
    });
}

fn hundred_runs_leave_no_pasta(caller: &Caller) {
    with_pasta(caller, || {
        let marker = marker(caller, "hundred");
        for run in 0..100 {
            let outcome = caller
                .run(&["--network", "pasta"], &["/bin/true"])
                .env("HAKONIWA_TEST_MARKER", &marker)
                .output();
            assert_eq!(outcome.code(), 0, "run {run}\n{outcome}");
        }
        let left = host::wait_for_death(&pasta_processes(&marker), DEATH_DEADLINE);
        assert!(left.is_empty(), "pasta processes left: {left:#?}");
    });
}

fn pasta_ends_with_the_run_however_it_ends(caller: &Caller) {
    with_pasta(caller, || {
        let marker = marker(caller, "ends");
        let probe = caller.probe_bind();
        let cases: [(&[&str], &[&str], i32); 3] = [
            // the program ends by itself, with a failure
            (&["-b", &probe], &["/probe/hakoniwa-probe", "exit", "3"], 3),
            // the wall-time limit kills the sandbox
            (
                &["-b", &probe, "--limit-walltime", "0.3"],
                &["/probe/hakoniwa-probe", "sleep", "30"],
                137,
            ),
            // the program is not found: a failure after pasta started
            (&[], &["/no/such/program"], 127),
        ];
        for (args, command, code) in cases {
            let mut run_args = vec!["--network", "pasta"];
            run_args.extend_from_slice(args);
            let outcome = caller
                .run(&run_args, command)
                .env("HAKONIWA_TEST_MARKER", &marker)
                .output();
            assert_eq!(outcome.code(), code, "{outcome}");
            let left = host::wait_for_death(&pasta_processes(&marker), DEATH_DEADLINE);
            assert!(left.is_empty(), "pasta outlived {command:?}: {left:#?}");
        }
    });
}

fn sigkill_of_hakoniwa_ends_pasta(caller: &Caller) {
    with_pasta(caller, || {
        let marker = marker(caller, "sigkill");
        let mut running = caller
            .probe(&["--network", "pasta"], &["sleep", "30"])
            .env("HAKONIWA_TEST_MARKER", &marker)
            .spawn();
        // The program has started, so pasta is ready.
        running.read_line();
        let pasta = pasta_processes(&marker);
        assert!(
            !pasta.is_empty(),
            "no pasta process found while the program runs"
        );
        running.kill();
        let left = host::wait_for_death(&pasta, DEATH_DEADLINE);
        assert!(
            left.is_empty(),
            "pasta outlived a SIGKILLed hakoniwa: {left:#?}"
        );
    });
}

fn missing_pasta_is_named_with_a_hint(caller: &Caller) {
    // A PATH that holds setpriv (the unprivileged launcher) and no pasta.
    let bin = caller.dir("path-without-pasta");
    let setpriv = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("setpriv"))
        .find(|path| path.is_file());
    if let Some(setpriv) = setpriv {
        symlink(setpriv, bin.join("setpriv")).expect("link setpriv");
    }
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
    let outcome = caller
        .run(&["--network", "pasta"], &["/bin/true"])
        .env("PATH", &bin)
        .output();
    outcome.assert_setup_failure("pasta");
    assert!(
        outcome.stderr.contains("hint: ") && outcome.stderr.contains("apt install passt"),
        "no install hint\n{outcome}"
    );
}

fn options_pasta_rejects_are_reported(caller: &Caller) {
    with_pasta(caller, || {
        // An option pasta does not know: its own message.
        let outcome = caller
            .run(&["--network", "pasta:--no-such-option"], &["/bin/true"])
            .output();
        outcome.assert_setup_failure("--no-such-option");
        // A value pasta refuses: its own message too.
        let outcome = caller
            .run(&["--network", "pasta:-a,not-an-address"], &["/bin/true"])
            .output();
        outcome.assert_setup_failure("not-an-address");
    });
}

fn options_hakoniwa_sets_are_refused(caller: &Caller) {
    for (option, culprit) in [
        ("pasta:--netns,/run/netns/x", "--netns"),
        ("pasta:--runas=0", "--runas"),
        ("pasta:-P,/tmp/pid", "--pid"),
    ] {
        let outcome = caller.run(&["--network", option], &["/bin/true"]).output();
        outcome.assert_setup_failure(culprit);
    }
    let outcome = caller
        .run(&["--network", "slirp4netns"], &["/bin/true"])
        .output();
    outcome.assert_setup_failure("slirp4netns");
}
