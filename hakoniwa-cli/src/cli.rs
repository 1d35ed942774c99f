//! The command line's root: parsing, logging, error rendering, exit codes.

use std::error::Error as StdError;
use std::ffi::OsString;
use std::fmt;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::run::RunArgs;

/// Exit code when the sandbox could not be set up (bad flag, refused
/// mount, missing tool…), as in DESIGN.md and `hakoniwa::ExitStatus`.
pub(crate) const EXIT_SETUP_FAILED: i32 = hakoniwa::ExitStatus::SETUP_FAILED;

/// Run a program in a rootless Linux sandbox.
#[derive(Debug, Parser)]
#[command(name = "hakoniwa", version, about, propagate_version = true)]
struct Cli {
    /// Log each setup step on stderr (-vv for every mount step)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run a command in a sandbox
    Run(Box<RunArgs>),
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell)
    Completion {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page of hakoniwa, or of one of its commands (roff)
    Man {
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
    },
}

/// A failure of the command line itself: what failed, why, and a hint.
#[derive(Debug)]
pub(crate) struct CliError {
    pub message: String,
    pub source: Option<Box<dyn StdError>>,
    pub hint: Option<String>,
}

impl CliError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl From<hakoniwa::Error> for CliError {
    fn from(err: hakoniwa::Error) -> Self {
        let hint = err.hint().map(str::to_string);
        Self {
            message: err.to_string(),
            source: err.source().map(|source| source.to_string().into()),
            hint,
        }
    }
}

impl fmt::Display for CliError {
    /// `hakoniwa: <what failed>: <why>`, then `caused by:` for deeper
    /// causes, then `hint:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hakoniwa: {}", self.message)?;
        let mut source = self.source.as_deref();
        if let Some(why) = source {
            write!(f, ": {why}")?;
            source = why.source();
        }
        while let Some(cause) = source {
            write!(f, "\ncaused by: {cause}")?;
            source = cause.source();
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// Parses the command line, runs it, and returns the exit code.
pub fn main() -> i32 {
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(err) => return clap_error(err),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => return clap_error(err),
    };
    init_logging(cli.verbose);
    let result = match cli.command {
        Commands::Run(args) => {
            let run_matches = matches.subcommand_matches("run").unwrap_or(&matches);
            crate::run::run(*args, run_matches)
        }
        Commands::Completion { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "hakoniwa", &mut std::io::stdout());
            Ok(0)
        }
        Commands::Man { command } => man(command.as_deref()),
    };
    result.unwrap_or_else(|err| {
        eprintln!("{err}");
        EXIT_SETUP_FAILED
    })
}

/// What `hakoniwa run --dry-run ARGS…` prints, `args` being the words
/// after `run`: every stage runs (parsing, the profile of `-c` with its
/// template and includes, the flags laid over it, the lowering, the plan),
/// but no process is created. An error is the message the command prints.
pub fn dry_run<I, T>(args: I) -> Result<String, String>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let line = ["hakoniwa", "run", "--dry-run"]
        .into_iter()
        .map(OsString::from)
        .chain(args.into_iter().map(Into::into));
    let usage = |err: clap::Error| format!("invalid command line: {err}");
    let matches = Cli::command().try_get_matches_from(line).map_err(usage)?;
    let cli = Cli::from_arg_matches(&matches).map_err(usage)?;
    let (Commands::Run(args), Some(run_matches)) = (cli.command, matches.subcommand_matches("run"))
    else {
        return Err("invalid command line: not a run".to_string());
    };
    let (_options, command) =
        crate::run::prepare(*args, run_matches).map_err(|err| err.to_string())?;
    let description = command
        .dry_run()
        .map_err(|err| CliError::from(err).to_string())?;
    Ok(description.to_string())
}

/// `hakoniwa man [COMMAND]`: the page of the command line, generated from
/// its definition, so that it never disagrees with `--help`.
fn man(name: Option<&str>) -> Result<i32, CliError> {
    let root = Cli::command();
    let page = match name {
        None => clap_mangen::Man::new(root),
        Some(name) => {
            let command = root.find_subcommand(name).ok_or_else(|| {
                CliError::new(format!(
                    "no man page for {name:?}: the commands are run, completion and man"
                ))
            })?;
            let page = command
                .clone()
                .display_name(format!("hakoniwa-{name}"))
                .bin_name(format!("hakoniwa {name}"));
            clap_mangen::Man::new(page)
        }
    };
    let mut out = Vec::new();
    page.render(&mut out)
        .and_then(|()| std::io::Write::write_all(&mut std::io::stdout(), &out))
        .map_err(|err| CliError {
            message: "failed to write the man page".into(),
            source: Some(Box::new(err)),
            hint: None,
        })?;
    Ok(0)
}

/// Help and version go to stdout with code 0; a usage error is one line
/// naming the culprit, code 125.
fn clap_error(err: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                EXIT_SETUP_FAILED
            } else {
                0
            }
        }
        _ => {
            let text = err.to_string();
            let first = text.lines().next().unwrap_or("invalid command line");
            let why = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!(
                "{}",
                CliError::new(format!("invalid command line: {why}"))
                    .hint("see 'hakoniwa --help' or 'hakoniwa run --help'")
            );
            EXIT_SETUP_FAILED
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    };
    env_logger::Builder::new()
        .filter_level(level)
        .format(|buf, record| {
            use std::io::Write;
            writeln!(buf, "hakoniwa: {}", record.args())
        })
        .init();
}
