//! The hooks of `config.json` (runtime specification, `config.md`,
//! "POSIX-platform Hooks"): checked with the rest of the configuration,
//! run by the lifecycle at its steps, each with the container's state on
//! its standard input.
//!
//! Every hook runs through the library, as a sandbox with no namespace of
//! its own (`Container::empty`) that keeps the runtime's privileges
//! (`Runctl::AllowNewPrivs`, no seccomp filter), in a session of its own
//! (`Runctl::NewSession`): on the host for
//! `prestart`, `createRuntime`, `poststart` and `poststop`; entering the
//! namespaces of the container's held program (`Container::enter`, the
//! state's `pid`) for `createContainer` and `startContainer`. The library's
//! wall-time limit is the hook's `timeout`.

use std::io::Write;

use hakoniwa::{Container, ExitKind, Runctl, Stdio};

use crate::error::{one_line, Error, SpecError};
use crate::spec::{items, Hook, Hooks, Spec};
use crate::state::State;

/// When a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

/// Every kind, in the order of the lifecycle.
pub const ALL: [Kind; 6] = [
    Kind::Prestart,
    Kind::CreateRuntime,
    Kind::CreateContainer,
    Kind::StartContainer,
    Kind::Poststart,
    Kind::Poststop,
];

impl Kind {
    /// The key in `config.json`'s `hooks`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind.
    pub fn of(self, hooks: &Hooks) -> &[Hook] {
        items(match self {
            // Deprecated by the specification in favour of the three
            // create/start kinds, but a runtime must still run it.
            #[allow(deprecated)]
            Kind::Prestart => hooks.prestart(),
            Kind::CreateRuntime => hooks.create_runtime(),
            Kind::CreateContainer => hooks.create_container(),
            Kind::StartContainer => hooks.start_container(),
            Kind::Poststart => hooks.poststart(),
            Kind::Poststop => hooks.poststop(),
        })
    }

    /// Whether it runs in the container's namespaces rather than the
    /// runtime's.
    fn in_container(self) -> bool {
        matches!(self, Kind::CreateContainer | Kind::StartContainer)
    }

    /// Whether its failure stops the container; after the program has
    /// started, a failure is only logged.
    fn stops_the_container(self) -> bool {
        !matches!(self, Kind::Poststart | Kind::Poststop)
    }
}

/// The hooks of `kind` a configuration gives (none without `hooks`).
pub fn given(spec: &Spec, kind: Kind) -> &[Hook] {
    spec.hooks()
        .as_ref()
        .map(|hooks| kind.of(hooks))
        .unwrap_or_default()
}

/// Checks every hook: an absolute path, a timeout above zero, an
/// environment of `KEY=VALUE`; the error names the field.
pub fn check(hooks: &Hooks) -> Result<(), SpecError> {
    for kind in ALL {
        for (index, hook) in kind.of(hooks).iter().enumerate() {
            let field = |name: &str| format!("hooks.{}[{index}].{name}", kind.name());
            if !hook.path().is_absolute() {
                return Err(SpecError::field(field("path"), "not an absolute path"));
            }
            if hook.timeout().is_some_and(|timeout| timeout <= 0) {
                return Err(SpecError::field(
                    field("timeout"),
                    "must be greater than zero",
                ));
            }
            if let Some(entry) = items(hook.env())
                .iter()
                .position(|entry| !entry.contains('='))
            {
                return Err(SpecError::field(
                    field(&format!("env[{entry}]")),
                    "not of the form KEY=VALUE",
                ));
            }
        }
    }
    Ok(())
}

/// Runs the hooks of `kind` in order, `state` on their standard input.
/// For a kind whose failure stops the container, the first failure is the
/// error and the rest do not run; for the others, each failure is logged
/// as a warning and the next hook runs.
pub fn run(kind: Kind, hooks: &[Hook], state: &State) -> Result<(), Error> {
    for (index, hook) in hooks.iter().enumerate() {
        let Err(reason) = run_one(kind, hook, state) else {
            log::debug!("container {}: {} hook #{index} done", state.id, kind.name());
            continue;
        };
        let error = Error::Hook {
            kind: kind.name(),
            index,
            path: hook.path().clone(),
            reason,
        };
        if kind.stops_the_container() {
            return Err(error);
        }
        log::warn!("container {}: {error}", state.id);
    }
    Ok(())
}

/// The state as the specification has it (`runtime.md`, "State"):
/// without this runtime's own part.
fn spec_state(state: &State) -> Vec<u8> {
    let mut json = serde_json::to_value(state).expect("a state serializes");
    if let Some(fields) = json.as_object_mut() {
        fields.remove("hakoniwa");
    }
    json.to_string().into_bytes()
}

/// One hook, to its end; why it failed, if it did.
fn run_one(kind: Kind, hook: &Hook, state: &State) -> Result<(), String> {
    let mut container = Container::empty();
    // A session of its own: at its timeout, the library kills the hook's
    // process group, its children with it (a hook has no pid namespace of
    // its own to end).
    container
        .runctl(Runctl::AllowNewPrivs)
        .runctl(Runctl::NewSession);
    if kind.in_container() {
        let pid = state.pid.ok_or("the container has no process to enter")?;
        container.enter(pid);
    }
    let mut command = container.command(&hook.path().to_string_lossy());
    if let Some((arg0, args)) = items(hook.args()).split_first() {
        command.arg0(arg0).args(args);
    }
    for entry in items(hook.env()) {
        if let Some((key, value)) = entry.split_once('=') {
            command.env(key, value);
        }
    }
    if let Some(timeout) = hook.timeout() {
        command.wait_timeout(timeout.unsigned_abs());
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|error| one_line(&error))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook need not read its state; the state is far smaller than a
        // pipe's buffer, so the write never waits for it.
        let _ = stdin.write_all(&spec_state(state));
    }
    let output = child.wait_with_output().map_err(|error| one_line(&error))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    log::debug!(
        "container {}: {} hook {}: stdout {:?}, stderr {:?}",
        state.id,
        kind.name(),
        hook.path().display(),
        String::from_utf8_lossy(&output.stdout),
        stderr
    );
    let said = match stderr.trim() {
        "" => String::new(),
        text => format!(" ({text})"),
    };
    match output.status.kind {
        ExitKind::Exited(0) => Ok(()),
        ExitKind::TimedOut => Err(format!(
            "killed after its timeout of {} s",
            hook.timeout().unwrap_or_default()
        )),
        _ => Err(format!("{}{said}", output.status.reason)),
    }
}
