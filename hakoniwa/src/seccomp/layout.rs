//! Laying a program out from its end, so that every jump knows how far its
//! targets are when it is placed, and a leaf that only returns can share a
//! `ret` already placed further on instead of repeating it.
//!
//! The kernel compiles a filter to native code when it is installed, at a
//! cost that grows with its length (about half a microsecond per
//! instruction on the development machine): in the `default` profile half
//! of the instructions were repeated `ret`s.

use libc::sock_filter;

use super::bpf::{self, Jump};

/// The largest jump a conditional instruction can make.
const MAX_JUMP: usize = u8::MAX as usize;

/// Where a piece of the program starts: a position counted from the end
/// (the last instruction is at 0), and the instruction itself when it is a
/// lone `ret` that may be placed again nearer a jump that cannot reach it.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    at: usize,
    ret: Option<sock_filter>,
}

/// A program being laid out backwards: `code` holds it last instruction
/// first.
#[derive(Default)]
pub(crate) struct Backwards {
    code: Vec<sock_filter>,
    /// The `ret`s placed so far, by return value: the one nearest the
    /// front, the best to share.
    rets: Vec<(u32, usize)>,
}

impl Backwards {
    /// Places `insn` in front of what is there; returns where it is.
    pub(crate) fn push(&mut self, insn: sock_filter) -> Entry {
        let at = self.code.len();
        self.code.push(insn);
        if bpf::is_ret(&insn) {
            match self.rets.iter_mut().find(|(value, _)| *value == insn.k) {
                Some(nearest) => nearest.1 = at,
                None => self.rets.push((insn.k, at)),
            }
            return Entry {
                at,
                ret: Some(insn),
            };
        }
        Entry { at, ret: None }
    }

    /// Places a block whose jumps stay inside it; returns where it starts.
    pub(crate) fn block(&mut self, code: &[sock_filter]) -> Entry {
        if let [insn] = code {
            if bpf::is_ret(insn) {
                return self.ret(*insn);
            }
        }
        let mut entry = Entry { at: 0, ret: None };
        for insn in code.iter().rev() {
            entry = self.push(*insn);
        }
        Entry {
            at: entry.at,
            ret: None,
        }
    }

    /// A `ret`: the one already placed nearest the front, if there is one.
    fn ret(&mut self, insn: sock_filter) -> Entry {
        match self.rets.iter().find(|(value, _)| *value == insn.k) {
            Some(&(_, at)) => Entry {
                at,
                ret: Some(insn),
            },
            None => self.push(insn),
        }
    }

    /// Places `if A <jump> k` going to `on_true` or `on_false`. A target
    /// out of reach gets a step next to the jump: its `ret` again, or an
    /// unconditional jump (which reaches any distance).
    pub(crate) fn branch(&mut self, jump: Jump, k: u32, on_true: Entry, on_false: Entry) -> Entry {
        let (mut to_true, mut to_false) = (on_true.at, on_false.at);
        loop {
            let here = self.code.len();
            if !self.reaches(to_true) {
                to_true = self.step_to(on_true);
            } else if !self.reaches(to_false) {
                to_false = self.step_to(on_false);
            } else {
                let offset = |target: usize| (here - target - 1) as u8;
                return self.push(bpf::jump(jump, k, offset(to_true), offset(to_false)));
            }
        }
    }

    /// Whether an instruction placed next reaches `target` with a
    /// conditional jump.
    fn reaches(&self, target: usize) -> bool {
        self.code.len() - target - 1 <= MAX_JUMP
    }

    fn step_to(&mut self, entry: Entry) -> usize {
        let step = match entry.ret {
            Some(ret) => ret,
            None => bpf::jump_always((self.code.len() - entry.at - 1) as u32),
        };
        self.push(step).at
    }

    /// The program, first instruction first.
    pub(crate) fn finish(mut self) -> Vec<sock_filter> {
        self.code.reverse();
        self.code
    }
}
