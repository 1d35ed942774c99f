//! Profile → BPF, in the caller, before the sandbox's process exists.
//!
//! The program is a table of contents of the kernel's questions:
//!
//! 1. `seccomp_data.arch`: one section per covered architecture; any
//!    other architecture is killed.
//! 2. In a section, the syscall number is looked up by binary search over
//!    ranges of numbers that get the same treatment (consecutive allowed
//!    syscalls form one range), so an allowed syscall costs a handful of
//!    instructions whatever the profile's size. On x86-64, numbers with
//!    the x32 bit set form their own range, which kills: x32 calls never
//!    reach the x86-64 rules.
//! 3. A leaf is either one `ret`, or the argument checks of that syscall's
//!    rules in profile order, ending with the default action.
//!
//! The program is laid out from its end (`layout.rs`): a leaf that only
//! returns shares a `ret` placed further on when a jump can reach it, and
//! conditional jumps, which reach at most 255 instructions ahead, get an
//! unconditional `ja` (or the `ret` again) next to them when they cannot.

use std::collections::BTreeMap;

use libc::sock_filter;

use super::arch::{self, Arch, Host};
use super::bpf::{self, Jump, Program};
use super::layout::{Backwards, Entry};
use super::{Action, ArgCmp, ArgCmpOp, Condition, Error, Filter};

/// What a filter is compiled for: the host, and what the program holds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    pub host: Host,
    /// Capability mask of the program (for `includes.caps`/`excludes.caps`).
    pub capabilities: u64,
    /// (major, minor) of the running kernel (for `minKernel`).
    pub kernel: (u32, u32),
}

impl Target {
    /// The running host, for a program holding `capabilities` (`None`: the
    /// caller's own permitted set, which the program inherits).
    pub(crate) fn current(capabilities: Option<u64>) -> Result<Self, Error> {
        let host = arch::host().ok_or(Error::UnsupportedArch)?;
        let capabilities = capabilities.unwrap_or_else(caller_capabilities);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|release| super::json::parse_kernel_version(&release))
            .unwrap_or((0, 0));
        Ok(Self {
            host,
            capabilities,
            kernel,
        })
    }
}

/// `CapPrm` of `/proc/self/status`; none if it cannot be read.
fn caller_capabilities() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let hex = line.strip_prefix("CapPrm:")?.trim();
                u64::from_str_radix(hex, 16).ok()
            })
        })
        .unwrap_or(0)
}

/// A compiled filter and what to say about it.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pub program: Program,
    pub name: String,
    /// Rules that apply to this host and program.
    pub rules: usize,
    pub architectures: Vec<Arch>,
}

/// For each syscall number, its rules' comparisons and actions in order.
type RulesByNumber<'a> = BTreeMap<u32, Vec<(&'a [ArgCmp], Action)>>;

pub(crate) fn compile(filter: &Filter, target: &Target) -> Result<Compiled, Error> {
    let host = target.host;
    let mut arches = vec![host.native];
    if let Some(compat) = host.compat.filter(|c| filter.architectures.contains(c)) {
        arches.push(compat);
    }
    let mut rules = 0;
    let mut by_arch: Vec<RulesByNumber> = vec![BTreeMap::new(); 2];
    for rule in &filter.rules {
        if !rule.checked {
            check_rule(filter, &rule.names, &rule.args, &rule.origin)?;
        }
        if !applies(&rule.condition, target) {
            continue;
        }
        rules += 1;
        for (table, arch) in by_arch.iter_mut().zip(&arches) {
            for nr in rule.names.iter().filter_map(|name| arch.syscall(name)) {
                table.entry(nr).or_default().push((&rule.args, rule.action));
            }
        }
    }

    let sections = arches
        .iter()
        .zip(&by_arch)
        .map(|(arch, table)| section(filter, *arch, table))
        .collect::<Result<Vec<_>, _>>()?;

    // Dispatch on the architecture: `jeq ARCH, 0, 1; ja SECTION` per
    // section (the `ja` reaches any distance), then kill.
    let header = 1 + 2 * sections.len() + 1;
    let mut instructions = vec![bpf::load(bpf::ARCH)];
    let mut start = header;
    for (arch, code) in arches.iter().zip(&sections) {
        instructions.push(bpf::jump(Jump::Eq, arch.audit(), 0, 1));
        let offset = start - (instructions.len() + 1);
        instructions.push(bpf::jump_always(offset as u32));
        start += code.len();
    }
    instructions.push(bpf::ret(Action::KillProcess));
    for code in sections {
        instructions.extend(code);
    }
    if instructions.len() > bpf::MAX_INSTRUCTIONS {
        return Err(Error::TooLong {
            profile: filter.name.clone(),
            length: instructions.len(),
            limit: bpf::MAX_INSTRUCTIONS,
        });
    }
    Ok(Compiled {
        program: Program {
            instructions,
            flags: filter.flags,
        },
        name: filter.name.clone(),
        rules,
        architectures: arches,
    })
}

/// Checks what a filter built in code may get wrong (the JSON loader has
/// checked its own rules already).
fn check_rule(
    filter: &Filter,
    names: &[String],
    args: &[ArgCmp],
    origin: &str,
) -> Result<(), Error> {
    if let Some(name) = names.iter().find(|name| !arch::is_known_anywhere(name)) {
        return Err(Error::UnknownSyscall {
            profile: filter.name.clone(),
            entry: origin.to_string(),
            name: name.clone(),
        });
    }
    if let Some(cmp) = args.iter().find(|cmp| cmp.arg > 5) {
        return Err(Error::Invalid {
            profile: filter.name.clone(),
            entry: origin.to_string(),
            reason: format!("argument index {} is not 0 to 5", cmp.arg),
        });
    }
    Ok(())
}

/// Whether a rule's `includes`/`excludes` let it apply here, as Docker
/// reads them: arches against the host's Go name, all of `includes.caps`
/// held, none of `excludes.caps`.
fn applies(condition: &Condition, target: &Target) -> bool {
    let arch = target.host.go_name;
    let caps = target.capabilities;
    (condition.include_arches.is_empty() || condition.include_arches.iter().any(|a| a == arch))
        && !condition.exclude_arches.iter().any(|a| a == arch)
        && condition.include_caps & !caps == 0
        && condition.exclude_caps & caps == 0
        && condition.min_kernel.is_none_or(|min| target.kernel >= min)
        && condition
            .exclude_min_kernel
            .is_none_or(|min| target.kernel < min)
}

/// What one syscall gets: the rules that still need an argument check, in
/// order, then `fallback`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Leaf {
    checks: Vec<(Vec<ArgCmp>, Action)>,
    fallback: Action,
}

impl Leaf {
    fn ret(action: Action) -> Self {
        Self {
            checks: Vec::new(),
            fallback: action,
        }
    }
}

/// The leaf of a syscall with these rules on `arch`.
fn leaf(rules: &[(&[ArgCmp], Action)], arch: Arch, default: Action) -> Leaf {
    let mut checks = Vec::new();
    let mut fallback = default;
    for (args, action) in rules {
        let mut needed = Vec::new();
        let mut possible = true;
        for cmp in *args {
            match fold(cmp, arch) {
                Folded::Always => {}
                Folded::Never => possible = false,
                Folded::Check => needed.push(*cmp),
            }
        }
        if !possible {
            continue;
        }
        if needed.is_empty() {
            fallback = *action;
            break;
        }
        checks.push((needed, *action));
    }
    // A last check that leads where falling through leads anyway is moot.
    while checks.last().is_some_and(|(_, action)| *action == fallback) {
        checks.pop();
    }
    Leaf { checks, fallback }
}

enum Folded {
    Always,
    Never,
    Check,
}

/// What can be said of a comparison without looking at the argument: on a
/// 32-bit architecture the argument's high word is zero.
fn fold(cmp: &ArgCmp, arch: Arch) -> Folded {
    let value = match cmp.op {
        ArgCmpOp::MaskedEq => cmp.datum_b,
        _ => cmp.datum_a,
    };
    let fits = value >> 32 == 0;
    if cmp.op == ArgCmpOp::MaskedEq && value & !cmp.datum_a != 0 {
        // Bits the mask clears can never be set.
        return Folded::Never;
    }
    if !arch.is_32bit() || fits {
        return Folded::Check;
    }
    match cmp.op {
        ArgCmpOp::Eq | ArgCmpOp::Gt | ArgCmpOp::Ge | ArgCmpOp::MaskedEq => Folded::Never,
        ArgCmpOp::Ne | ArgCmpOp::Lt | ArgCmpOp::Le => Folded::Always,
    }
}

/// One architecture's section: load the number, search, leaves.
fn section(filter: &Filter, arch: Arch, table: &RulesByNumber) -> Result<Vec<sock_filter>, Error> {
    let default = Leaf::ret(filter.default_action);
    // Ranges of numbers as (first number, leaf), covering 0..=u32::MAX.
    let mut ranges: Vec<(u32, Leaf)> = vec![(0, default.clone())];
    let mut push = |first: u32, leaf: Leaf| {
        if ranges.last().is_some_and(|(_, last)| *last == leaf) {
            return;
        }
        if ranges.last().is_some_and(|(start, _)| *start == first) {
            ranges.pop();
            if ranges.last().is_some_and(|(_, last)| *last == leaf) {
                return;
            }
        }
        ranges.push((first, leaf));
    };
    for (nr, rules) in table {
        push(*nr, leaf(rules, arch, filter.default_action));
        push(nr + 1, default.clone());
    }
    if arch == Arch::X86_64 {
        push(arch::X32_SYSCALL_BIT, Leaf::ret(Action::KillProcess));
    }
    let leaves = ranges
        .iter()
        .map(|(_, leaf)| leaf_code(filter, leaf, arch))
        .collect::<Result<Vec<_>, _>>()?;
    let mut code = Backwards::default();
    search(&ranges, &leaves, &mut code);
    code.push(bpf::load(bpf::NR));
    Ok(code.finish())
}

/// Binary search over `ranges`: `jge FIRST_OF_RIGHT_HALF` at each node;
/// laid out from the end, the right half first.
fn search(ranges: &[(u32, Leaf)], leaves: &[Vec<sock_filter>], out: &mut Backwards) -> Entry {
    if ranges.len() == 1 {
        return out.block(&leaves[0]);
    }
    let mid = ranges.len() / 2;
    let right = search(&ranges[mid..], &leaves[mid..], out);
    let left = search(&ranges[..mid], &leaves[..mid], out);
    out.branch(Jump::Ge, ranges[mid].0, right, left)
}

/// Where a jump in a comparison goes.
#[derive(Clone, Copy)]
enum Dest {
    /// The next instruction.
    Next,
    /// The comparison holds: on to the next one, or the rule's `ret`.
    Pass,
    /// It does not: on to the next rule.
    Fail,
}

enum Op {
    Insn(sock_filter),
    Jump(Jump, u32, Dest, Dest),
}

fn leaf_code(filter: &Filter, leaf: &Leaf, arch: Arch) -> Result<Vec<sock_filter>, Error> {
    let mut code = Vec::new();
    for (args, action) in &leaf.checks {
        // Each comparison's ops, and the index in the rule where it ends.
        let mut ops = Vec::new();
        let mut ends = Vec::new();
        for cmp in args {
            compare(cmp, arch, &mut ops);
            ends.push(ops.len());
        }
        let rule_len = ops.len() + 1;
        let mut end = ends.iter();
        let mut cmp_end = *end.next().unwrap_or(&0);
        for (at, op) in ops.into_iter().enumerate() {
            while at >= cmp_end {
                cmp_end = *end.next().unwrap_or(&rule_len);
            }
            let offset = |dest| -> Result<u8, Error> {
                let target = match dest {
                    Dest::Next => at + 1,
                    Dest::Pass => cmp_end,
                    Dest::Fail => rule_len,
                };
                u8::try_from(target - at - 1).map_err(|_| Error::Invalid {
                    profile: filter.name.clone(),
                    entry: format!("rules of syscall with {} comparisons", args.len()),
                    reason: "too many argument comparisons in one rule".to_string(),
                })
            };
            code.push(match op {
                Op::Insn(insn) => insn,
                Op::Jump(jump, k, on_true, on_false) => {
                    bpf::jump(jump, k, offset(on_true)?, offset(on_false)?)
                }
            });
        }
        code.push(bpf::ret(*action));
    }
    code.push(bpf::ret(leaf.fallback));
    Ok(code)
}

/// The ops of one comparison: fall through when it holds, `Fail` when not.
fn compare(cmp: &ArgCmp, arch: Arch, ops: &mut Vec<Op>) {
    use Dest::{Fail, Next, Pass};
    let (value, mask) = match cmp.op {
        ArgCmpOp::MaskedEq => (cmp.datum_b, Some(cmp.datum_a)),
        _ => (cmp.datum_a, None),
    };
    let (high, low) = ((value >> 32) as u32, value as u32);
    // The high word: decide when it differs, go on to the low word when
    // it is equal. On 32-bit architectures `fold` has dealt with it.
    let mask_high = mask.map(|m| (m >> 32) as u32);
    let skip_high = arch.is_32bit() || (mask_high == Some(0) && high == 0);
    if !skip_high {
        ops.push(Op::Insn(bpf::load(bpf::arg_word(cmp.arg, true))));
        match cmp.op {
            ArgCmpOp::Eq => ops.push(Op::Jump(Jump::Eq, high, Next, Fail)),
            ArgCmpOp::Ne => ops.push(Op::Jump(Jump::Eq, high, Next, Pass)),
            ArgCmpOp::Gt | ArgCmpOp::Ge => {
                ops.push(Op::Jump(Jump::Gt, high, Pass, Next));
                ops.push(Op::Jump(Jump::Eq, high, Next, Fail));
            }
            ArgCmpOp::Lt | ArgCmpOp::Le => {
                ops.push(Op::Jump(Jump::Gt, high, Fail, Next));
                ops.push(Op::Jump(Jump::Eq, high, Next, Pass));
            }
            ArgCmpOp::MaskedEq => {
                let mask_high = mask_high.unwrap_or(0);
                // A is 32 bits wide: a mask of all ones changes nothing.
                if mask_high != u32::MAX {
                    ops.push(Op::Insn(bpf::and(mask_high)));
                }
                ops.push(Op::Jump(Jump::Eq, high, Next, Fail));
            }
        }
    }
    ops.push(Op::Insn(bpf::load(bpf::arg_word(cmp.arg, false))));
    if let Some(mask) = mask.filter(|mask| *mask as u32 != u32::MAX) {
        ops.push(Op::Insn(bpf::and(mask as u32)));
    }
    ops.push(match cmp.op {
        ArgCmpOp::Ne => Op::Jump(Jump::Eq, low, Fail, Pass),
        ArgCmpOp::Gt => Op::Jump(Jump::Gt, low, Pass, Fail),
        ArgCmpOp::Ge => Op::Jump(Jump::Ge, low, Pass, Fail),
        ArgCmpOp::Lt => Op::Jump(Jump::Ge, low, Fail, Pass),
        ArgCmpOp::Le => Op::Jump(Jump::Gt, low, Fail, Pass),
        ArgCmpOp::Eq | ArgCmpOp::MaskedEq => Op::Jump(Jump::Eq, low, Pass, Fail),
    });
}
