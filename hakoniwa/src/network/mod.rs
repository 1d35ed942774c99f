//! The sandbox's network: none (its own namespace, only `lo`), the host's,
//! or its own namespace connected by `pasta` (from the `passt` project), a
//! user-mode network stack that needs no privilege.
//!
//! The model lives here; `pasta.rs` turns it into pasta's command line
//! (in the plan) and starts, awaits and ends pasta (in the parent).

pub(crate) mod pasta;

/// How the sandbox reaches the network; see [`Container::network`].
///
/// [`Container::network`]: crate::Container::network
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Network {
    /// A new network namespace with only the loopback device `lo`, up: the
    /// program can talk to itself on 127.0.0.1 and to nothing else.
    None,
    /// The caller's network namespace: the host's interfaces and ports.
    Host,
    /// A new network namespace with an interface that `pasta` connects to
    /// the host's network, configured before the program starts.
    Pasta(Pasta),
}

impl From<Pasta> for Network {
    fn from(pasta: Pasta) -> Self {
        Network::Pasta(pasta)
    }
}

/// Options of `pasta(1)` for [`Network::Pasta`].
///
/// With no option, pasta configures the sandbox's interface with the
/// host's addresses and routes (`--config-net`), does not map the gateway
/// address to the host (`--no-map-gw`; opt in with the pseudo-option
/// `--map-gw`) and forwards no port in either direction (`-t none -u none
/// -T none -U none`). Each option given replaces the default it concerns:
///
/// ```
/// use hakoniwa::{Container, Pasta};
///
/// let mut pasta = Pasta::new();
/// pasta.args(["-t", "8080"]) // host port 8080 -> the sandbox's 8080
///     .args(["-T", "5432"]); // the sandbox's 127.0.0.1:5432 -> the host's
/// let mut container = Container::new();
/// container.network(pasta);
/// ```
///
/// hakoniwa decides which namespace pasta joins, when it runs and as whom:
/// `--netns`, `--userns`, `--netns-only`, `-P`/`--pid` and `--runas` are
/// refused when the command spawns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pasta {
    pub(crate) args: Vec<String>,
}

impl Pasta {
    /// pasta with the defaults above.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one option or option value, passed to pasta as given.
    pub fn arg(&mut self, arg: &str) -> &mut Self {
        self.args.push(arg.to_string());
        self
    }

    /// Adds options, passed to pasta as given, in order.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for arg in args {
            self.arg(arg.as_ref());
        }
        self
    }

    /// The options added so far.
    pub fn get_args(&self) -> &[String] {
        &self.args
    }
}
