//! The scenario clients of the test running now: starting them through the supervisor interface,
//! serving their reports on the driver's inbox (checks, figures, polls) until they end, their
//! outcome, and reaping them.
//!
//! A child's reports arrive with its table index + 1 as the badge; the end of any child arrives
//! as a signal of the notification bound to this thread (badge `CHILD_ENDED_BADGE`), after which
//! every running child's state is asked. Everything is in fixed-size storage: the driver makes no
//! allocation of its own, so the server's accounting sees only the scenario clients.

use crate::failure::MsFailure;
use heapless::Vec;
use memserver_client_sel4::abi::{self, supervisor::stats};
use memserver_client_sel4::supervisor::{ChildState, Reaped, Supervisor};
use ms_harness::label;
use sel4::cap_type::Endpoint;
use sel4::{Cap, MessageInfo, Word};

/// Children at once.
pub const MAX_CHILDREN: usize = 40;
/// Figures kept per child.
const MAX_FIGURES: usize = 16;
/// Check ids below this have their result kept (the adversarial rows).
pub const KEPT_CHECKS: Word = 40;
/// Kept check results of all children.
const MAX_KEPT: usize = 64;

/// A check a child reported.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    pub id: Word,
    pub passed: bool,
    pub value: Word,
    pub expected: Word,
}

/// One child.
#[derive(Debug)]
pub struct Child {
    pub handle: Word,
    pub id: Word,
    pub state: ChildState,
    pub failed: usize,
    pub first_failed: Option<Check>,
    pub figures: Vec<(Word, Word), MAX_FIGURES>,
    pub go: bool,
}

impl Child {
    fn index(&self) -> Word {
        self.handle & 0xffff_ffff
    }
}

/// The children of the running test.
pub struct Children {
    pub sup: Supervisor,
    inbox: Cap<Endpoint>,
    pub list: Vec<Child, MAX_CHILDREN>,
    /// (position in `list`, check) of checks with ids below [`KEPT_CHECKS`].
    kept: Vec<(usize, Check), MAX_KEPT>,
    /// Name-to-index cache of the system description.
    names: Vec<(&'static str, usize), 32>,
}

impl Children {
    /// The driver's supervisor interface and inbox.
    ///
    /// # Safety
    /// The system description must grant this task the supervisor interface.
    pub unsafe fn new() -> Self {
        Self {
            // SAFETY: the caller's contract.
            sup: unsafe { Supervisor::from_abi() },
            inbox: Cap::from_bits(abi::INBOX_SLOT),
            list: Vec::new(),
            kept: Vec::new(),
            names: Vec::new(),
        }
    }

    /// The system description's index of client `name`.
    fn index_of(&mut self, name: &'static str) -> Result<usize, MsFailure> {
        if let Some(&(_, i)) = self.names.iter().find(|(n, _)| *n == name) {
            return Ok(i);
        }
        let i = self.sup.lookup(name).map_err(|_| {
            MsFailure::Setup("a scenario client missing from the system description")
        })?;
        let _ = self.names.push((name, i));
        Ok(i)
    }

    /// Starts client `name` with `[mode, id, param]`; its position in [`Children::list`].
    pub fn start(
        &mut self,
        name: &'static str,
        mode: Word,
        id: Word,
        param: Word,
    ) -> Result<usize, MsFailure> {
        let index = self.index_of(name)?;
        if self.list.is_full() {
            return Err(MsFailure::Setup("too many children"));
        }
        let handle = self
            .sup
            .start(index, [mode, id, param])
            .map_err(|_| MsFailure::Setup("client start"))?;
        let _ = self.list.push(Child {
            handle,
            id,
            state: ChildState::Running,
            failed: 0,
            first_failed: None,
            figures: Vec::new(),
            go: false,
        });
        Ok(self.list.len() - 1)
    }

    /// Serves the children's reports until every child has ended.
    pub fn serve_all(&mut self) -> Result<(), MsFailure> {
        self.serve_until(|c| c.list.iter().all(|k| k.state != ChildState::Running))
    }

    /// Serves the children's reports until `done` holds.
    pub fn serve_until(&mut self, mut done: impl FnMut(&Self) -> bool) -> Result<(), MsFailure> {
        self.poll_states()?;
        let mut pending: Option<MessageInfo> = None;
        let mut mrs = [0; 4];
        while !done(self) {
            let (info, badge) = match pending.take() {
                Some(r) => self.inbox.reply_recv_with_mrs(r, &mut mrs),
                None => {
                    let (info, badge, m) = self.inbox.recv_with_mrs();
                    mrs = m;
                    (info, badge)
                }
            };
            if badge & abi::CHILD_ENDED_BADGE != 0 {
                self.poll_states()?;
                continue;
            }
            pending = Some(self.message(badge, info, &mut mrs));
        }
        if let Some(r) = pending {
            sel4::reply_with_mrs(r, &mrs);
        }
        Ok(())
    }

    /// Asks the state of every running child.
    fn poll_states(&mut self) -> Result<(), MsFailure> {
        for c in self
            .list
            .iter_mut()
            .filter(|c| c.state == ChildState::Running)
        {
            c.state = self
                .sup
                .status(c.handle)
                .map_err(|_| MsFailure::Setup("status of a child"))?;
        }
        Ok(())
    }

    /// Records a child's message; the reply to send.
    fn message(&mut self, badge: Word, info: MessageInfo, mrs: &mut [Word; 4]) -> MessageInfo {
        let index = badge.wrapping_sub(1);
        let Some(pos) = self.list.iter().position(|c| c.index() == index) else {
            return MessageInfo::new(1, 0, 0, 0);
        };
        let c = &mut self.list[pos];
        match info.label() {
            label::CHECK => {
                let k = Check {
                    id: mrs[0],
                    passed: mrs[1] == 1,
                    value: mrs[2],
                    expected: mrs[3],
                };
                if !k.passed {
                    c.failed += 1;
                    c.first_failed.get_or_insert(k);
                }
                if k.id < KEPT_CHECKS {
                    let _ = self.kept.push((pos, k));
                }
                MessageInfo::new(0, 0, 0, 0)
            }
            label::FIGURE => {
                let _ = c.figures.push((mrs[0], mrs[1]));
                MessageInfo::new(0, 0, 0, 0)
            }
            label::POLL => {
                mrs[0] = c.go as Word;
                MessageInfo::new(0, 0, 0, 1)
            }
            _ => MessageInfo::new(1, 0, 0, 0),
        }
    }

    /// The last result child `i` reported for check `id` (below [`KEPT_CHECKS`]).
    pub fn kept(&self, i: usize, id: Word) -> Option<Check> {
        self.kept
            .iter()
            .rev()
            .find(|(p, k)| *p == i && k.id == id)
            .map(|(_, k)| *k)
    }

    /// Lets child `i` go on at its next poll.
    pub fn go(&mut self, i: usize) {
        if let Some(c) = self.list.get_mut(i) {
            c.go = true;
        }
    }

    /// Child `i`.
    pub fn get(&self, i: usize) -> Result<&Child, MsFailure> {
        self.list.get(i).ok_or(MsFailure::Setup("child vanished"))
    }

    /// Child `i` exited with status 0 and no failed check.
    pub fn outcome(&self, i: usize) -> Result<(), MsFailure> {
        let c = self.get(i)?;
        let first = c.first_failed.map(|k| (k.id, k.value, k.expected));
        match c.state {
            ChildState::Exited { status: 0 } if c.failed == 0 => Ok(()),
            ChildState::Exited { status } => Err(MsFailure::ClientChecks {
                client: c.id,
                failed: status.max(c.failed as Word),
                first,
            }),
            ChildState::Faulted { kind, addr } => Err(MsFailure::Faulted {
                client: c.id,
                kind,
                addr,
            }),
            ChildState::Running => Err(MsFailure::Setup("client still running")),
        }
    }

    /// The values of figure `id` child `i` reported, in order.
    pub fn figures(&self, i: usize, id: Word) -> impl Iterator<Item = Word> + '_ {
        self.list
            .get(i)
            .into_iter()
            .flat_map(move |c| c.figures.iter().filter(move |f| f.0 == id).map(|f| f.1))
    }

    /// The first value of figure `id` of child `i`.
    pub fn figure(&self, i: usize, id: Word) -> Option<Word> {
        self.figures(i, id).next()
    }

    /// Child `i`'s statistics.
    pub fn stats(&self, i: usize) -> Result<[Word; stats::client::WORDS], MsFailure> {
        let c = self.get(i)?;
        self.sup
            .client_stats(c.handle)
            .map_err(|_| MsFailure::Setup("client stats"))
    }

    /// Reaps child `i` (it must have ended); what the server purged.
    pub fn reap(&mut self, i: usize) -> Result<Reaped, MsFailure> {
        let c = self.get(i)?;
        let r = self
            .sup
            .reap(c.handle)
            .map_err(|_| MsFailure::Setup("reap"))?;
        if let Some(c) = self.list.get_mut(i) {
            c.handle = Word::MAX;
        }
        Ok(r)
    }

    /// Lets every child go on, serves until every child ended and reaps them all; forgets them.
    pub fn reclaim_all(&mut self) {
        for c in self.list.iter_mut() {
            c.go = true;
        }
        let _ = self.serve_all();
        for c in &self.list {
            if c.handle != Word::MAX {
                let _ = self.sup.reap(c.handle);
            }
        }
        self.list.clear();
        self.kept.clear();
    }

    /// The server's statistics.
    pub fn server(&self) -> Result<[Word; stats::server::WORDS], MsFailure> {
        self.sup
            .server_stats()
            .map_err(|_| MsFailure::Setup("server stats"))
    }
}
