//! A [`Ruleset`] lowered, in the caller, to what the child hands the
//! kernel: the ruleset attribute, and each rule with its path as a C string
//! and its access masks already cut to what the kernel handles.

use std::ffi::CString;
use std::os::unix::ffi::OsStringExt;

use super::abi::{self, Kernel, Rights};
use super::{Enforcement, FsAccess, NetAccess, Ruleset};
use crate::error::{Error, Result};
use crate::plan::mounts::sandbox_path;
use crate::sys::LandlockRulesetAttr;

/// What the child does, prepared.
#[derive(Debug)]
pub(crate) struct LandlockPlan {
    pub attr: LandlockRulesetAttr,
    pub rules: Vec<Rule>,
    /// What each step does, in words, indexed as [`Step::index`] says.
    descriptions: Vec<String>,
}

/// One rule, ready for `landlock_add_rule`.
#[derive(Debug)]
pub(crate) enum Rule {
    /// Access beneath a path of the sandbox.
    Path {
        path: CString,
        /// The access when the path is a directory.
        allowed: u64,
        /// The access when it is any other file: the kernel refuses
        /// directory rights on those.
        allowed_on_file: u64,
        /// Skip the rule when the path does not exist.
        optional: bool,
    },
    /// Access to a TCP port.
    Port { port: u64, allowed: u64 },
}

/// A step of applying the plan; its index is what a failure record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// `landlock_create_ruleset`.
    Create,
    /// Adding rule number N of [`LandlockPlan::rules`].
    Rule(usize),
    /// `landlock_restrict_self`.
    Restrict,
}

impl Step {
    /// `Create` is 0, rule N is N+1, `Restrict` comes after the last rule.
    pub(crate) fn index(self, plan: &LandlockPlan) -> usize {
        match self {
            Step::Create => 0,
            Step::Rule(n) => n + 1,
            Step::Restrict => plan.rules.len() + 1,
        }
    }
}

/// The ruleset as planned, and what it will enforce.
#[derive(Debug)]
pub(crate) struct Lowered {
    /// `None` when the kernel can enforce nothing of it (best effort).
    pub plan: Option<LandlockPlan>,
    pub enforcement: Enforcement,
}

impl LandlockPlan {
    /// Every step in words, in the order [`Step::index`] gives them.
    pub(crate) fn descriptions(&self) -> &[String] {
        &self.descriptions
    }
}

/// Checks `ruleset`, negotiates it with the running kernel and lowers it.
pub(crate) fn lower(ruleset: &Ruleset) -> Result<Lowered> {
    lower_for(ruleset, Kernel::current())
}

fn lower_for(ruleset: &Ruleset, kernel: Kernel) -> Result<Lowered> {
    let paths = ruleset
        .fs_rules
        .iter()
        .map(|rule| {
            let path = sandbox_path("landlock path", &rule.path)?;
            CString::new(path.into_os_string().into_vec()).map_err(|err| Error::NulByte {
                what: "landlock path",
                value: String::from_utf8_lossy(&err.into_vec()).into_owned(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let negotiated = abi::negotiate(ruleset, kernel).map_err(|missing| Error::Landlock {
        missing,
        kernel: kernel.describe(),
        hint: kernel.hint(),
    })?;
    let handled = negotiated.handled;
    if handled.is_empty() {
        return Ok(Lowered {
            plan: None,
            enforcement: negotiated.enforcement,
        });
    }

    let mut rules = Vec::new();
    let mut descriptions = vec!["create the landlock ruleset".to_string()];
    for (rule, path) in ruleset.fs_rules.iter().zip(paths) {
        let allowed = abi::fs_rights(rule.access) & handled.fs;
        if allowed == 0 {
            continue;
        }
        descriptions.push(describe_fs(rule.access, &path));
        rules.push(Rule::Path {
            path,
            allowed,
            allowed_on_file: allowed & abi::FILE_RIGHTS.bits(),
            optional: rule.optional,
        });
    }
    for rule in &ruleset.net_rules {
        let allowed = abi::net_right(rule.access) & handled.net;
        if allowed == 0 {
            continue;
        }
        descriptions.push(describe_net(rule.access, rule.port));
        rules.push(Rule::Port {
            port: u64::from(rule.port),
            allowed,
        });
    }
    descriptions.push("enforce the landlock ruleset".to_string());
    Ok(Lowered {
        plan: Some(LandlockPlan {
            attr: attr(handled),
            rules,
            descriptions,
        }),
        enforcement: negotiated.enforcement,
    })
}

fn attr(handled: Rights) -> LandlockRulesetAttr {
    LandlockRulesetAttr {
        handled_access_fs: handled.fs,
        handled_access_net: handled.net,
        scoped: handled.scoped,
    }
}

fn describe_fs(access: FsAccess, path: &CString) -> String {
    format!(
        "add the landlock rule allowing {access} beneath {}",
        path.to_string_lossy()
    )
}

fn describe_net(access: NetAccess, port: u16) -> String {
    format!(
        "add the landlock rule allowing {} on port {port}",
        access.resource()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::landlock::{CompatMode, Resource, Scope};

    #[test]
    fn rules_are_cut_to_what_the_kernel_handles() {
        let mut ruleset = Ruleset::new();
        ruleset
            .add_fs_rule("/usr/", FsAccess::R | FsAccess::X)
            .add_optional_fs_rule("/data", FsAccess::W)
            .add_net_rule(443, NetAccess::TcpConnect)
            .compat(CompatMode::BestEffort);
        let lowered = lower_for(&ruleset, Kernel::Abi(3)).unwrap();
        let plan = lowered.plan.unwrap();
        assert_eq!(plan.attr.handled_access_net, 0);
        assert_eq!(plan.rules.len(), 2, "the port rule is dropped: {plan:?}");
        let Rule::Path { path, optional, .. } = &plan.rules[0] else {
            panic!("not a path rule: {plan:?}");
        };
        assert_eq!(path.to_str(), Ok("/usr"));
        assert!(!optional);
        assert_eq!(
            plan.descriptions(),
            [
                "create the landlock ruleset",
                "add the landlock rule allowing rx beneath /usr",
                "add the landlock rule allowing w beneath /data",
                "enforce the landlock ruleset",
            ]
        );
        assert_eq!(Step::Restrict.index(&plan), 3);
        assert!(!lowered.enforcement.is_complete());
    }

    #[test]
    fn a_file_rule_keeps_only_file_rights() {
        let mut ruleset = Ruleset::new();
        ruleset.add_fs_rule("/etc/hosts", FsAccess::R | FsAccess::W);
        let plan = lower_for(&ruleset, Kernel::Abi(6)).unwrap().plan.unwrap();
        let Rule::Path {
            allowed,
            allowed_on_file,
            ..
        } = plan.rules[0]
        else {
            panic!("not a path rule");
        };
        assert_eq!(allowed_on_file & !abi::FILE_RIGHTS.bits(), 0);
        assert_ne!(allowed, allowed_on_file);
    }

    #[test]
    fn nothing_to_enforce_means_no_plan() {
        let mut ruleset = Ruleset::new();
        ruleset
            .scope(Scope::Signal)
            .restrict(Resource::TcpBind)
            .compat(CompatMode::BestEffort);
        let lowered = lower_for(&ruleset, Kernel::Abi(3)).unwrap();
        assert!(lowered.plan.is_none());
        assert_eq!(lowered.enforcement.missing().len(), 2);
    }

    #[test]
    fn bad_rules_are_refused_before_fork() {
        let mut ruleset = Ruleset::new();
        ruleset.add_fs_rule("relative", FsAccess::R);
        let err = lower_for(&ruleset, Kernel::Abi(6)).unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{err}");
        let mut ruleset = Ruleset::new();
        ruleset.restrict(Resource::TcpConnect);
        let err = lower_for(&ruleset, Kernel::Abi(3)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "landlock cannot enforce tcp.connect (needs ABI 4): the kernel has landlock ABI 3"
        );
        let err = lower_for(&ruleset, Kernel::NotEnabled).unwrap_err();
        assert!(
            err.hint().is_some_and(|hint| hint.contains("lsm=")),
            "{err}"
        );
    }
}
