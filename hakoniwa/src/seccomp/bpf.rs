//! Classic BPF as seccomp uses it: the few instructions the compiler emits,
//! and the `seccomp_data` offsets they read.

use std::fmt;

use libc::sock_filter;

use super::Action;

/// `BPF_LD | BPF_W | BPF_ABS`: load a 32-bit word of `seccomp_data`.
const LD_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_AND | BPF_K`.
const AND_K: u16 = 0x54;
/// `BPF_JMP | BPF_JA`.
const JA: u16 = 0x05;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
const JEQ_K: u16 = 0x15;
/// `BPF_JMP | BPF_JGT | BPF_K`.
const JGT_K: u16 = 0x25;
/// `BPF_JMP | BPF_JGE | BPF_K`.
const JGE_K: u16 = 0x35;
/// `BPF_RET | BPF_K`.
const RET_K: u16 = 0x06;

/// `offsetof(struct seccomp_data, nr)`.
pub(crate) const NR: u32 = 0;
/// `offsetof(struct seccomp_data, arch)`.
pub(crate) const ARCH: u32 = 4;

/// `offsetof(struct seccomp_data, args[index])` plus 4 for the high word:
/// the arguments are 64-bit, in the host's byte order, which is little
/// endian on every architecture we compile for.
pub(crate) fn arg_word(index: u32, high: bool) -> u32 {
    16 + 8 * index + if high { 4 } else { 0 }
}

/// `BPF_MAXINSNS`: the longest program the kernel accepts.
pub(crate) const MAX_INSTRUCTIONS: usize = 4096;

/// The conditional jumps we emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Jump {
    Eq,
    Gt,
    Ge,
}

pub(crate) const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

pub(crate) fn load(offset: u32) -> sock_filter {
    insn(LD_ABS, 0, 0, offset)
}

pub(crate) fn and(mask: u32) -> sock_filter {
    insn(AND_K, 0, 0, mask)
}

/// `if A <jump> k goto +jt else goto +jf` (offsets from the next one).
pub(crate) fn jump(jump: Jump, k: u32, jt: u8, jf: u8) -> sock_filter {
    let code = match jump {
        Jump::Eq => JEQ_K,
        Jump::Gt => JGT_K,
        Jump::Ge => JGE_K,
    };
    insn(code, jt, jf, k)
}

/// `goto +offset`.
pub(crate) fn jump_always(offset: u32) -> sock_filter {
    insn(JA, 0, 0, offset)
}

/// Whether `insn` is a `ret` of a constant.
pub(crate) fn is_ret(insn: &sock_filter) -> bool {
    insn.code == RET_K
}

pub(crate) fn ret(action: Action) -> sock_filter {
    insn(RET_K, 0, 0, return_value(action))
}

/// `SECCOMP_RET_*` with its data.
pub(crate) fn return_value(action: Action) -> u32 {
    match action {
        Action::Allow => libc::SECCOMP_RET_ALLOW,
        Action::Errno(errno) => libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA),
        Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
        Action::Log => libc::SECCOMP_RET_LOG,
        Action::Trace(data) => libc::SECCOMP_RET_TRACE | u32::from(data),
        Action::Trap => libc::SECCOMP_RET_TRAP,
    }
}

/// A compiled filter, ready for `seccomp(SECCOMP_SET_MODE_FILTER)`.
#[derive(Clone)]
pub(crate) struct Program {
    pub instructions: Vec<sock_filter>,
    /// `SECCOMP_FILTER_FLAG_*`.
    pub flags: u32,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Program({} instructions, flags {:#x})",
            self.instructions.len(),
            self.flags
        )
    }
}

/// A test-only interpreter of the instructions above, which checks each
/// jump as the kernel's verifier would.
#[cfg(test)]
pub(crate) mod interpreter {
    use super::*;

    /// `struct seccomp_data`, as the kernel fills it.
    #[derive(Clone, Copy, Debug, Default)]
    pub(crate) struct Data {
        pub nr: u32,
        pub arch: u32,
        pub args: [u64; 6],
    }

    impl Data {
        fn word(&self, offset: u32) -> u32 {
            match offset {
                NR => self.nr,
                ARCH => self.arch,
                16..=63 => {
                    let arg = self.args[(offset as usize - 16) / 8];
                    if offset % 8 == 4 {
                        (arg >> 32) as u32
                    } else {
                        arg as u32
                    }
                }
                _ => panic!("load of offset {offset}"),
            }
        }
    }

    /// The `SECCOMP_RET_*` value `program` returns for `data`, and the
    /// number of instructions it ran.
    pub(crate) fn run(program: &[sock_filter], data: &Data) -> (u32, usize) {
        assert!(program.len() <= MAX_INSTRUCTIONS);
        let mut a = 0u32;
        let mut pc = 0usize;
        let mut steps = 0;
        loop {
            let insn = program.get(pc).expect("ran off the end of the program");
            steps += 1;
            let next = pc + 1;
            let taken = |cond: bool| next + usize::from(if cond { insn.jt } else { insn.jf });
            pc = match insn.code {
                LD_ABS => {
                    a = data.word(insn.k);
                    next
                }
                AND_K => {
                    a &= insn.k;
                    next
                }
                JA => next + insn.k as usize,
                JEQ_K => taken(a == insn.k),
                JGT_K => taken(a > insn.k),
                JGE_K => taken(a >= insn.k),
                RET_K => return (insn.k, steps),
                code => panic!("unknown instruction {code:#x} at {pc}"),
            };
            assert!(pc < program.len(), "jump past the end");
        }
    }
}
