//! Running `hakoniwa` with bounded waits: a hung sandbox fails its test
//! with what it printed so far instead of hanging the suite.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use std::os::unix::process::ExitStatusExt;

/// Longest a single `hakoniwa` run may take before the test fails.
const RUN_DEADLINE: Duration = Duration::from_secs(30);
/// Longest to wait for a line the program announces itself with.
const LINE_DEADLINE: Duration = Duration::from_secs(10);
/// After `hakoniwa` exits, its stdout and stderr must close this soon; an
/// open pipe means a process of the sandbox outlived it.
const PIPE_DEADLINE: Duration = Duration::from_secs(5);

/// A `hakoniwa` command line, not yet started.
pub struct Invocation {
    /// What runs `hakoniwa` as the caller (`setpriv …`), possibly nothing.
    launcher: Vec<OsString>,
    hakoniwa: PathBuf,
    args: Vec<OsString>,
    cwd: PathBuf,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
}

impl Invocation {
    pub fn new(launcher: &[OsString], hakoniwa: &Path, args: &[OsString], cwd: &Path) -> Self {
        Invocation {
            launcher: launcher.to_vec(),
            hakoniwa: hakoniwa.to_owned(),
            args: args.to_vec(),
            cwd: cwd.to_owned(),
            env: Vec::new(),
            stdin: None,
        }
    }

    pub fn env(mut self, name: &str, value: impl AsRef<OsStr>) -> Self {
        self.env.push((name.into(), value.as_ref().to_owned()));
        self
    }

    pub fn stdin(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }

    /// Starts `hakoniwa` with SIGINT and SIGTERM at their default action,
    /// as from a terminal: a runner started in the background may hand
    /// them down ignored, and an ignored signal is never delivered.
    pub fn default_signals(mut self) -> Self {
        self.launcher
            .extend(["env", "--default-signal=INT,TERM"].map(OsString::from));
        self
    }

    /// Starts `hakoniwa` with one more open descriptor, `fd`, on
    /// `/dev/null` and not close-on-exec, as a careless parent would leave
    /// it.
    pub fn extra_fd(mut self, fd: u32) -> Self {
        let script = format!("exec \"$@\" {fd}</dev/null");
        self.launcher
            .extend(["sh", "-c", &script, "sh"].map(OsString::from));
        self
    }

    /// Starts `hakoniwa` with descriptor `fd` open on its stdout, for
    /// options that write to a descriptor (`--status-fd`).
    pub fn fd_to_stdout(mut self, fd: u32) -> Self {
        let script = format!("exec \"$@\" {fd}>&1");
        self.launcher
            .extend(["sh", "-c", &script, "sh"].map(OsString::from));
        self
    }

    /// Starts `hakoniwa` through another program, as the caller:
    /// `WORDS… hakoniwa ARGS…`.
    pub fn through(mut self, words: &[&OsStr]) -> Self {
        self.launcher.extend(words.iter().map(OsString::from));
        self
    }

    /// Runs to completion.
    pub fn output(self) -> Outcome {
        self.spawn().wait()
    }

    /// Starts `hakoniwa` with stdout and stderr captured.
    pub fn spawn(self) -> Running {
        let mut argv = self.launcher.clone();
        argv.push(self.hakoniwa.clone().into());
        argv.extend(self.args.iter().cloned());
        let display = argv
            .iter()
            .map(|a| shell_word(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ");
        let stdin = if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(&self.cwd)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start `{display}`: {e}"));
        if let (Some(bytes), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
            // The program may exit without reading; a broken pipe is fine.
            thread::spawn(move || pipe.write_all(&bytes));
        }
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        Running {
            child,
            display,
            stdout_lines: read_lines(stdout),
            stdout_seen: String::new(),
            stderr: read_all(stderr),
        }
    }
}

/// A `hakoniwa` process the test is talking to.
pub struct Running {
    child: Child,
    display: String,
    stdout_lines: Receiver<String>,
    stdout_seen: String,
    stderr: Receiver<String>,
}

impl Running {
    /// The host pid of `hakoniwa` (`setpriv` execs it, keeping the pid).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the next line on stdout.
    pub fn read_line(&mut self) -> String {
        match self.stdout_lines.recv_timeout(LINE_DEADLINE) {
            Ok(line) => {
                self.stdout_seen.push_str(&line);
                line
            }
            Err(e) => {
                let _ = self.child.kill();
                let status = self.child.wait().expect("reap hakoniwa");
                let outcome = self.finish(status);
                panic!("no line on stdout within {LINE_DEADLINE:?} ({e:?})\n{outcome}");
            }
        }
    }

    /// Sends a signal by name (`TERM`, `INT`…) to `hakoniwa` itself.
    pub fn signal(&self, name: &str) {
        super::host::send_signal(self.pid(), name);
    }

    /// SIGKILL to `hakoniwa` itself.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL hakoniwa");
    }

    /// Waits for `hakoniwa` to exit and for its output to close.
    pub fn wait(mut self) -> Outcome {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for hakoniwa") {
                break status;
            }
            if started.elapsed() > RUN_DEADLINE {
                let _ = self.child.kill();
                let status = self.child.wait().expect("reap hakoniwa");
                let outcome = self.finish(status);
                panic!("hakoniwa did not exit within {RUN_DEADLINE:?}\n{outcome}");
            }
            thread::sleep(Duration::from_millis(1));
        };
        self.finish(status)
    }

    fn finish(&mut self, status: ExitStatus) -> Outcome {
        let mut outcome = Outcome {
            command: self.display.clone(),
            status,
            stdout: std::mem::take(&mut self.stdout_seen),
            stderr: String::new(),
        };
        let deadline = Instant::now() + PIPE_DEADLINE;
        loop {
            match self.stdout_lines.recv_timeout(remaining(deadline)) {
                Ok(line) => outcome.stdout.push_str(&line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("stdout still open {PIPE_DEADLINE:?} after hakoniwa exited: a sandbox process outlived it\n{outcome}")
                }
            }
        }
        match self.stderr.recv_timeout(remaining(deadline)) {
            Ok(text) => outcome.stderr = text,
            Err(_) => panic!(
                "stderr still open {PIPE_DEADLINE:?} after hakoniwa exited: a sandbox process outlived it\n{outcome}"
            ),
        }
        outcome
    }
}

impl Drop for Running {
    /// A test that fails half-way must not leave a sandbox running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

fn read_lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    receiver
}

fn read_all(mut pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    receiver
}

/// How a `hakoniwa` run ended and what it printed.
pub struct Outcome {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The exit code; `hakoniwa` itself being killed is a test failure.
    pub fn code(&self) -> i32 {
        match self.status.code() {
            Some(code) => code,
            None => panic!("hakoniwa itself was killed\n{self}"),
        }
    }

    /// Asserts exit code 0 and returns the outcome for more checks.
    pub fn success(&self) -> &Self {
        assert_eq!(self.code(), 0, "expected success\n{self}");
        self
    }

    /// stdout as the probe's JSON object; the run must have succeeded.
    pub fn json(&self) -> serde_json::Value {
        self.success();
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON value: {e}\n{self}"))
    }

    /// Asserts the setup-failure contract: exit 125 and a single error line
    /// `hakoniwa: <what failed>: <why>` naming `culprit`. Only `caused by:`
    /// and `hint:` lines may follow it (DESIGN.md, exit codes).
    pub fn assert_setup_failure(&self, culprit: &str) {
        let problems = self.setup_failure_problems(culprit);
        assert!(problems.is_empty(), "{}\n{self}", problems.join("\n"));
    }

    /// What breaks the setup-failure contract, if anything.
    pub fn setup_failure_problems(&self, culprit: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.status.code() != Some(125) {
            problems.push("expected exit code 125".to_owned());
        }
        let mut lines = self.stderr.lines();
        let first = lines.next().unwrap_or_default();
        if !(first.starts_with("hakoniwa: ") && first.matches(": ").count() >= 2) {
            problems.push("first stderr line is not `hakoniwa: <what failed>: <why>`".to_owned());
        }
        if !first.contains(culprit) {
            problems.push(format!("the error line does not name {culprit:?}"));
        }
        let extra = lines
            .map(str::trim_start)
            .filter(|line| !(line.starts_with("caused by:") || line.starts_with("hint:")));
        if extra.count() > 0 {
            problems.push("more than one error line".to_owned());
        }
        if !self.stdout.is_empty() {
            problems.push("a failed setup printed on stdout".to_owned());
        }
        problems
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match (self.status.code(), self.status.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => format!("{:?}", self.status),
        };
        writeln!(f, "$ {}", self.command)?;
        writeln!(f, "--- {status}")?;
        writeln!(f, "--- stdout:\n{}", self.stdout)?;
        write!(f, "--- stderr:\n{}", self.stderr)
    }
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Quotes a word for the failure message, so it can be pasted in a shell.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
