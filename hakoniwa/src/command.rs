//! `Command`: the program to run in a container, with its arguments,
//! environment, working directory and standard streams.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::child::{Child, Output};
use crate::container::Container;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::runtime::{self, ChildStdio};
use crate::status::ExitStatus;

/// Where a standard stream of the program goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdio {
    /// The caller's own stream.
    Inherit,
    /// `/dev/null` of the host.
    Null,
    /// A pipe to the caller, reachable through [`Child`]'s fields.
    MakePipe,
}

impl Stdio {
    /// The caller's own stream.
    pub fn inherit() -> Self {
        Stdio::Inherit
    }

    /// `/dev/null`.
    pub fn null() -> Self {
        Stdio::Null
    }

    /// A pipe to the caller.
    pub fn piped() -> Self {
        Stdio::MakePipe
    }
}

/// A program to run in a [`Container`], made by [`Container::command`].
///
/// The program starts with an empty environment: only what [`env`](Self::env)
/// and [`envs`](Self::envs) add. Its working directory is `/` unless
/// [`current_dir`](Self::current_dir) says otherwise.
#[derive(Clone, Debug)]
pub struct Command {
    container: Container,
    pub(crate) program: String,
    pub(crate) arg0: Option<OsString>,
    pub(crate) args: Vec<OsString>,
    pub(crate) envs: Vec<(OsString, OsString)>,
    pub(crate) current_dir: Option<PathBuf>,
    pub(crate) wait_timeout: Option<Duration>,
    pass_fds: Vec<RawFd>,
    pub(crate) terminal: bool,
    stdin: Option<Stdio>,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
}

impl Command {
    pub(crate) fn new(program: &str, container: Container) -> Self {
        Self {
            container,
            program: program.to_string(),
            arg0: None,
            args: Vec::new(),
            envs: Vec::new(),
            current_dir: None,
            wait_timeout: None,
            pass_fds: Vec::new(),
            terminal: false,
            stdin: None,
            stdout: None,
            stderr: None,
        }
    }

    /// Sets the program's `argv[0]`, which is otherwise the program as
    /// given (as `std::os::unix::process::CommandExt::arg0`).
    pub fn arg0<S: AsRef<OsStr>>(&mut self, arg0: S) -> &mut Self {
        self.arg0 = Some(arg0.as_ref().to_os_string());
        self
    }

    /// Adds an argument.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    /// Sets an environment variable of the program.
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, value: V) -> &mut Self {
        let key = key.as_ref().to_os_string();
        let value = value.as_ref().to_os_string();
        match self.envs.iter_mut().find(|(name, _)| *name == key) {
            Some(entry) => entry.1 = value,
            None => self.envs.push((key, value)),
        }
        self
    }

    /// Sets environment variables of the program.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (key, value) in vars {
            self.env(key, value);
        }
        self
    }

    /// Sets the working directory, a path inside the sandbox.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Self {
        self.current_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Kills the whole sandbox when the program has run this long (wall
    /// clock, from its start); its status is then
    /// [`ExitKind::TimedOut`](crate::ExitKind::TimedOut). Takes whole
    /// seconds (`u64`, as in hakoniwa 1.x) or a `Duration`.
    pub fn wait_timeout<T: Into<WallTime>>(&mut self, limit: T) -> &mut Self {
        self.wait_timeout = Some(limit.into().0);
        self
    }

    /// Lets the program inherit the caller's descriptor `fd`, with the same
    /// number (it must be open, and above 2). Every other descriptor but the
    /// standard streams is closed before the program runs.
    pub fn pass_fd(&mut self, fd: RawFd) -> &mut Self {
        if !self.pass_fds.contains(&fd) {
            self.pass_fds.push(fd);
        }
        self
    }

    /// Gives the program a new terminal from the sandbox's own devpts (its
    /// `/dev/ptmx`), as its standard input, output and error and as the
    /// controlling terminal of a new session (`setsid`, `TIOCSCTTY`), so
    /// that it has a name inside: `tty` prints `/dev/pts/0`. The terminal
    /// is bound at `/dev/console` too. The caller gets its master end from
    /// [`Child::terminal`] once [`spawn`](Self::spawn) or
    /// [`spawn_held`](Self::spawn_held) returns.
    ///
    /// The container needs a devfs at `/dev`
    /// ([`Container::devfsmount`]) — or, for a running sandbox entered
    /// ([`Container::enter`]), a `/dev/ptmx`; the terminal is then not
    /// bound at its `/dev/console`. The standard streams cannot be set as
    /// well.
    pub fn terminal(&mut self) -> &mut Self {
        self.terminal = true;
        self
    }

    /// Where the program's standard input comes from.
    pub fn stdin(&mut self, cfg: Stdio) -> &mut Self {
        self.stdin = Some(cfg);
        self
    }

    /// Where the program's standard output goes.
    pub fn stdout(&mut self, cfg: Stdio) -> &mut Self {
        self.stdout = Some(cfg);
        self
    }

    /// Where the program's standard error goes.
    pub fn stderr(&mut self, cfg: Stdio) -> &mut Self {
        self.stderr = Some(cfg);
        self
    }

    /// The program, as given.
    pub fn get_program(&self) -> &str {
        &self.program
    }

    /// The arguments, without the program.
    pub fn get_args(&self) -> impl Iterator<Item = &OsStr> {
        self.args.iter().map(OsString::as_os_str)
    }

    /// The environment variables set so far, in the order first set.
    pub fn get_envs(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.envs
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// The working directory, if one was set.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.current_dir.as_deref()
    }

    /// Checks the whole configuration as [`spawn`](Self::spawn) does (paths,
    /// id maps, the user, capabilities, the seccomp filter, landlock) and
    /// describes the sandbox it would make, without making it: no process
    /// is created and nothing on the host changes.
    pub fn dry_run(&self) -> Result<DryRun> {
        let plan = Plan::new(&self.container, self)?;
        let lines = plan
            .describe()
            .into_iter()
            .filter(|(level, _)| *level <= log::Level::Info)
            .map(|(_, line)| line)
            .collect();
        Ok(DryRun { lines })
    }

    /// Starts the program in a new sandbox. Streams not configured are
    /// inherited.
    ///
    /// Errors are about the configuration or the caller's resources; a
    /// failure inside the new sandbox comes back from [`Child::wait`] as an
    /// [`ExitStatus`] of kind [`SetupFailed`](crate::ExitKind::SetupFailed).
    pub fn spawn(&mut self) -> Result<Child> {
        self.spawn_with(Stdio::Inherit, Stdio::Inherit)
    }

    /// Builds the sandbox as [`spawn`](Self::spawn) does — namespaces, id
    /// maps, cgroup, network, root, hostname, and the program's working
    /// directory, limits, user, capabilities and landlock — and returns
    /// once the program is ready, held just before its seccomp filter and
    /// `execve`, waiting for [`Child::start`]. Streams not configured are
    /// inherited.
    ///
    /// With [`Runctl::AllowNewPrivs`](crate::Runctl::AllowNewPrivs) the
    /// filter must come before the user switch (it needs CAP_SYS_ADMIN
    /// without no_new_privs), so there the program is held before its user
    /// and capability sets are applied, and those come after the start.
    ///
    /// The filter comes after the hold, so that it stays the last step and
    /// never has to allow the hold's read. While held, the program's
    /// process ([`Child::program_id`]) is in all of the sandbox's
    /// namespaces and open to the caller through `/proc` (dumpable), so
    /// that something may be run in them ([`Container::enter`]); nothing of
    /// the sandbox runs but init. [`Child::wait`] waits for the end, which
    /// for a held program comes only from a signal;
    /// [`kill`](Child::kill) and dropping the `Child` end the sandbox. The
    /// wall-time limit counts from the build, the hold included.
    ///
    /// A failure inside the sandbox before the hold is an error here,
    /// [`Error::Setup`], naming the step (the sandbox is gone by then); one
    /// after [`Child::start`] (the program not found, a refused filter)
    /// comes back from [`Child::wait`] as for `spawn`.
    pub fn spawn_held(&mut self) -> Result<Child> {
        let mut child = self.spawn_as(Stdio::Inherit, Stdio::Inherit, true)?;
        child.wait_until_held()?;
        Ok(child)
    }

    /// Runs the program to its end, streams inherited unless configured.
    pub fn status(&mut self) -> Result<ExitStatus> {
        self.spawn()?.wait()
    }

    /// Runs the program to its end and collects its output. Standard input
    /// is `/dev/null` and standard output and error are captured unless
    /// configured.
    pub fn output(&mut self) -> Result<Output> {
        self.spawn_with(Stdio::Null, Stdio::MakePipe)?
            .wait_with_output()
    }

    fn spawn_with(&mut self, default_in: Stdio, default_out: Stdio) -> Result<Child> {
        self.spawn_as(default_in, default_out, false)
    }

    fn spawn_as(&mut self, default_in: Stdio, default_out: Stdio, held: bool) -> Result<Child> {
        let mut plan = Plan::new(&self.container, self)?;
        plan.held = held;
        plan.log();
        if self.terminal {
            // The terminal replaces the streams in the sandbox: none to set.
            let streams = [
                (self.stdin, Stream::Input),
                (self.stdout, Stream::Output),
                (self.stderr, Stream::Error),
            ];
            if let Some((_, stream)) = streams.iter().find(|(cfg, _)| cfg.is_some()) {
                return Err(Error::TerminalStdio {
                    stream: stream.name(),
                });
            }
        }
        let (child_in, parent_in) = prepare(self.stdin.unwrap_or(default_in), Stream::Input)?;
        let (child_out, parent_out) = prepare(self.stdout.unwrap_or(default_out), Stream::Output)?;
        let (child_err, parent_err) = prepare(self.stderr.unwrap_or(default_out), Stream::Error)?;
        let stdio = ChildStdio {
            stdin: child_in,
            stdout: child_out,
            stderr: child_err,
            pass: checked_pass_fds(&self.pass_fds)?,
        };
        let spawned = runtime::spawn(&plan, stdio)?;
        let mut child = Child::new(
            spawned,
            held,
            plan.descriptions(&self.container),
            parent_in.map(io::PipeWriter::from),
            parent_out.map(io::PipeReader::from),
            parent_err.map(io::PipeReader::from),
        );
        // A held program's terminal comes before it says it is held.
        if self.terminal && !held {
            child.wait_for_terminal()?;
        }
        Ok(child)
    }
}

/// The sandbox a [`Command`] would run in, as [`Command::dry_run`] found
/// it: one line per namespace list, id map, mount step in the order of
/// application, limit, landlock rule, seccomp profile, and the program with
/// its environment and working directory. `Display` prints the lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DryRun {
    lines: Vec<String>,
}

impl DryRun {
    /// The description, a line each.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

impl std::fmt::Display for DryRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// A wall-time limit: whole seconds or a [`Duration`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallTime(Duration);

impl From<u64> for WallTime {
    fn from(seconds: u64) -> Self {
        WallTime(Duration::from_secs(seconds))
    }
}

impl From<Duration> for WallTime {
    fn from(limit: Duration) -> Self {
        WallTime(limit)
    }
}

#[derive(Clone, Copy)]
enum Stream {
    Input,
    Output,
    Error,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Input => "input",
            Stream::Output => "output",
            Stream::Error => "error",
        }
    }
}

/// The descriptors to pass, sorted, after checking each is open and not a
/// standard stream.
fn checked_pass_fds(fds: &[RawFd]) -> Result<Vec<RawFd>> {
    let mut checked = Vec::with_capacity(fds.len());
    for &fd in fds {
        if fd <= 2 || crate::sys::fd_flags(fd).is_err() {
            return Err(Error::PassFd { fd });
        }
        checked.push(fd);
    }
    checked.sort_unstable();
    Ok(checked)
}

/// The program's end of a stream and the caller's end, if any.
fn prepare(cfg: Stdio, stream: Stream) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    let failed = |source| Error::Stdio {
        stream: stream.name(),
        source,
    };
    match cfg {
        Stdio::Inherit => Ok((None, None)),
        Stdio::Null => {
            let null = File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map_err(failed)?;
            Ok((Some(null.into()), None))
        }
        Stdio::MakePipe => {
            let (reader, writer) = io::pipe().map_err(failed)?;
            Ok(match stream {
                Stream::Input => (Some(reader.into()), Some(writer.into())),
                Stream::Output | Stream::Error => (Some(writer.into()), Some(reader.into())),
            })
        }
    }
}
