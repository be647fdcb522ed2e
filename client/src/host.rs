//! The in-process host transport: client threads call, the server's handler serves, one
//! [`Endpoint`] per simulated core carrying exactly what a seL4 IPC carries (badge, label, length,
//! message words, copied in and out), and each client has a shared [`MagazinePage`] per core.
//!
//! Two modes ([`Mode`]). **Direct** (the default): the calling thread runs the handler itself,
//! because on seL4 a `Call` to a waiting server on the same core is the kernel's IPC fastpath, a
//! direct switch into the server thread, not a hand-over between two running threads.
//! **Threaded**: one server thread per core, and the caller and the server thread hand the message
//! back and forth; kept as a diagnostic of what such a hand-over costs.
//!
//! Locking: an endpoint admits one caller at a time (a spin flag, like the kernel's endpoint
//! queue), so a core's handler never runs twice at once in either mode. Threaded mode then hands
//! the message over through `state` (IDLE -> REQUEST -> REPLY -> IDLE). A waiter spins for a while
//! (a round trip with a partner running on another CPU never involves the scheduler), then parks;
//! the partner unparks it after publishing the new state. Parking uses the Dekker pattern on
//! `SeqCst` atomics: the waiter sets its `parked` flag and re-checks the state, the partner sets
//! the state and checks the flag, so at least one of them sees the other and no wake-up is lost
//! (an early `unpark` makes the next `park` return at once).
use crate::Transport;
use memserver_protocol::{MagazinePage, Message, MSG_MAX_WORDS};
use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

/// How a call reaches the server's handler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// The calling thread runs the handler (seL4's fastpath switch into the server thread).
    #[default]
    Direct,
    /// One server thread per core; the message is handed over between two running threads.
    Threaded,
}

/// The server's handler: `(core, badge, message)`, turning the request in `message` into the reply.
type Handler = dyn Fn(usize, u64, &mut Message) + Send + Sync;

const IDLE: u32 = 0;
const REQUEST: u32 = 1;
const REPLY: u32 = 2;

std::thread_local! {
    /// Set while this thread runs a handler in direct mode: a call from inside the handler (the
    /// server calling a transport, e.g. through a global allocator routed to the client) would
    /// wait for itself forever, so it panics instead.
    static IN_HANDLER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// How long a waiter spins before parking: covers a partner running on another CPU (a round trip
/// of a batch takes a few microseconds) without burning a whole time slice when it is not.
const SPIN_TIME: Duration = Duration::from_micros(5);

/// Spins briefly, then yields (only for the caller lock, contended by clients of one core).
struct Backoff(u32);

impl Backoff {
    fn snooze(&mut self) {
        self.0 = self.0.saturating_add(1);
        if self.0 < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Waits until `ready()` holds: spins for [`SPIN_TIME`], then parks with `parked` raised.
fn wait(parked: &AtomicBool, timeout: Option<Duration>, ready: impl Fn() -> bool) {
    let start = Instant::now();
    let mut spins = 0u32;
    while !ready() {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(16) && start.elapsed() > SPIN_TIME {
            park_until(parked, timeout, &ready);
            return;
        }
    }
}

#[cold]
fn park_until(parked: &AtomicBool, timeout: Option<Duration>, ready: &impl Fn() -> bool) {
    loop {
        parked.store(true, Ordering::SeqCst);
        if ready() {
            break;
        }
        match timeout {
            Some(t) => std::thread::park_timeout(t),
            None => std::thread::park(),
        }
    }
    parked.store(false, Ordering::SeqCst);
}

fn copy_message(to: &mut Message, from: &Message) {
    let n = from.len.min(MSG_MAX_WORDS);
    to.label = from.label;
    to.len = n;
    to.words[..n].copy_from_slice(&from.words[..n]);
}

/// Runs the handler on one request in `msg`, leaving a reply the kernel could deliver: a
/// panicking handler is answered with `Internal` and counted, the length clamped.
fn serve_one(handler: &Handler, core: usize, badge: u64, msg: &mut Message, panics: &AtomicU64) {
    if catch_unwind(AssertUnwindSafe(|| handler(core, badge, msg))).is_err() {
        panics.fetch_add(1, Ordering::Relaxed);
        msg.label = memserver_protocol::Error::Internal.code();
        msg.len = 0;
    }
    msg.len = msg.len.min(MSG_MAX_WORDS);
}

/// The server thread's side of a threaded endpoint.
struct Threaded {
    state: AtomicU32,
    stop: AtomicBool,
    server_parked: AtomicBool,
    client_parked: AtomicBool,
    server: OnceLock<Thread>,
    /// The calling thread (to unpark it); written by the caller holding `caller`.
    client: UnsafeCell<Option<Thread>>,
}

/// One server core's endpoint.
pub struct Endpoint {
    core: usize,
    handler: Arc<Handler>,
    panics: Arc<AtomicU64>,
    /// Held by the one caller being served.
    caller: AtomicBool,
    /// `None` in direct mode.
    threaded: Option<Threaded>,
    badge: UnsafeCell<u64>,
    /// The server side's copy of the message (the kernel copies words in and out).
    msg: UnsafeCell<Message>,
}

// SAFETY: `badge`, `msg` and `threaded.client` are only touched by the caller holding `caller`
// (direct mode: for the whole call; threaded mode: while `state` is IDLE or REPLY), and by the
// server thread while `state` is REQUEST; the transitions are release/acquire (or SeqCst).
unsafe impl Sync for Endpoint {}

impl Endpoint {
    fn new(core: usize, mode: Mode, handler: Arc<Handler>, panics: Arc<AtomicU64>) -> Self {
        Endpoint {
            core,
            handler,
            panics,
            caller: AtomicBool::new(false),
            threaded: (mode == Mode::Threaded).then(|| Threaded {
                state: AtomicU32::new(IDLE),
                stop: AtomicBool::new(false),
                server_parked: AtomicBool::new(false),
                client_parked: AtomicBool::new(false),
                server: OnceLock::new(),
                client: UnsafeCell::new(None),
            }),
            badge: UnsafeCell::new(0),
            msg: UnsafeCell::new(Message::default()),
        }
    }

    /// `seL4_Call` with `badge`: like the kernel, clamps the length to [`MSG_MAX_WORDS`].
    pub fn call(&self, badge: u64, msg: &mut Message) {
        if self.threaded.is_none() && IN_HANDLER.with(|h| h.get()) {
            panic!("host transport: a call from inside the server's handler (direct mode)");
        }
        let mut b = Backoff(0);
        while self
            .caller
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            b.snooze();
        }
        match &self.threaded {
            None => {
                // SAFETY: we hold `caller`, and no server thread exists in direct mode.
                let server_msg = unsafe { &mut *self.msg.get() };
                copy_message(server_msg, msg);
                IN_HANDLER.with(|h| h.set(true));
                serve_one(&*self.handler, self.core, badge, server_msg, &self.panics);
                IN_HANDLER.with(|h| h.set(false));
                copy_message(msg, server_msg);
            }
            Some(t) => self.hand_over(t, badge, msg),
        }
        self.caller.store(false, Ordering::Release);
    }

    /// Threaded mode: publishes the request to the server thread and waits for its reply.
    fn hand_over(&self, t: &Threaded, badge: u64, msg: &mut Message) {
        // SAFETY: we hold `caller` and `state` is IDLE, so the server thread does not touch the cells.
        unsafe {
            *self.badge.get() = badge;
            copy_message(&mut *self.msg.get(), msg);
            if (*t.client.get()).as_ref().map(|t| t.id()) != Some(std::thread::current().id()) {
                *t.client.get() = Some(std::thread::current());
            }
        }
        t.state.store(REQUEST, Ordering::SeqCst);
        if t.server_parked.load(Ordering::SeqCst) {
            if let Some(s) = t.server.get() {
                s.unpark();
            }
        }
        wait(&t.client_parked, None, || {
            t.state.load(Ordering::SeqCst) == REPLY
        });
        // SAFETY: `state` is REPLY: the server thread is done with the cells until the next REQUEST.
        unsafe { copy_message(msg, &*self.msg.get()) };
        t.state.store(IDLE, Ordering::Relaxed);
    }

    /// Threaded mode's server thread: serves requests until stopped.
    fn serve(&self) {
        let Some(t) = &self.threaded else {
            return;
        };
        let _ = t.server.set(std::thread::current());
        loop {
            wait(&t.server_parked, Some(Duration::from_millis(20)), || {
                t.state.load(Ordering::SeqCst) == REQUEST || t.stop.load(Ordering::SeqCst)
            });
            if t.state.load(Ordering::SeqCst) != REQUEST {
                return;
            }
            // SAFETY: `state` is REQUEST: the caller waits for REPLY and does not touch the cells.
            let (badge, msg) = unsafe { (*self.badge.get(), &mut *self.msg.get()) };
            serve_one(&*self.handler, self.core, badge, msg, &self.panics);
            // SAFETY: still REQUEST: the caller wrote `client` before it and waits; once REPLY is
            // published the next caller may overwrite the cell, so take the handle now.
            let waiter = unsafe { (*t.client.get()).clone() };
            t.state.store(REPLY, Ordering::SeqCst);
            if t.client_parked.load(Ordering::SeqCst) {
                if let Some(w) = waiter {
                    w.unpark();
                }
            }
        }
    }
}

/// A client's transport to one core.
pub struct HostTransport {
    endpoint: Arc<Endpoint>,
    badge: u64,
    page: Arc<MagazinePage>,
    messages: u64,
}

impl Transport for HostTransport {
    #[inline]
    fn call(&mut self, msg: &mut Message) {
        self.messages += 1;
        self.endpoint.call(self.badge, msg);
    }

    fn magazine(&self) -> &MagazinePage {
        &self.page
    }

    fn messages(&self) -> u64 {
        self.messages
    }
}

/// The simulated cores' endpoints, each served with `handler(core, badge, message)` (and, in
/// threaded mode, their server threads).
pub struct HostSystem {
    mode: Mode,
    endpoints: Vec<Arc<Endpoint>>,
    threads: Vec<JoinHandle<()>>,
    panics: Arc<AtomicU64>,
}

impl HostSystem {
    /// `cores` endpoints in the default mode ([`Mode::Direct`]).
    pub fn start<F>(cores: usize, handler: F) -> Self
    where
        F: Fn(usize, u64, &mut Message) + Send + Sync + 'static,
    {
        Self::with_mode(Mode::default(), cores, handler)
    }

    /// `cores` endpoints served in `mode`.
    pub fn with_mode<F>(mode: Mode, cores: usize, handler: F) -> Self
    where
        F: Fn(usize, u64, &mut Message) + Send + Sync + 'static,
    {
        let handler: Arc<Handler> = Arc::new(handler);
        let panics = Arc::new(AtomicU64::new(0));
        let endpoints: Vec<_> = (0..cores)
            .map(|core| Arc::new(Endpoint::new(core, mode, handler.clone(), panics.clone())))
            .collect();
        let threads = match mode {
            Mode::Direct => Vec::new(),
            Mode::Threaded => endpoints
                .iter()
                .enumerate()
                .map(|(core, ep)| {
                    let ep = ep.clone();
                    std::thread::Builder::new()
                        .name(format!("memserver-core{core}"))
                        .spawn(move || ep.serve())
                        .expect("spawn server thread")
                })
                .collect(),
        };
        HostSystem {
            mode,
            endpoints,
            threads,
            panics,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn cores(&self) -> usize {
        self.endpoints.len()
    }

    /// A transport for the client with `badge` to `core`, using `page` as its magazine page there.
    /// `None` if the core does not exist.
    pub fn transport(
        &self,
        core: usize,
        badge: u64,
        page: Arc<MagazinePage>,
    ) -> Option<HostTransport> {
        Some(HostTransport {
            endpoint: self.endpoints.get(core)?.clone(),
            badge,
            page,
            messages: 0,
        })
    }

    /// Handler panics so far (each answered with `Internal`); a correct server has none.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }
}

impl Drop for HostSystem {
    fn drop(&mut self) {
        for t in self.endpoints.iter().filter_map(|ep| ep.threaded.as_ref()) {
            t.stop.store(true, Ordering::SeqCst);
            if let Some(s) = t.server.get() {
                s.unpark();
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A fresh, zeroed magazine page.
pub fn magazine_page() -> Arc<MagazinePage> {
    Arc::new(MagazinePage::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler that answers with the badge, core and words it received (label 0), panics on
    /// label 99 and makes an over-long reply on label 98.
    fn echo(core: usize, badge: u64, msg: &mut Message) {
        match msg.label {
            99 => panic!("handler panic"),
            98 => msg.len = MSG_MAX_WORDS + 5,
            _ => {
                let n = msg.len;
                msg.words.copy_within(..n, 2);
                msg.words[0] = badge;
                msg.words[1] = core as u64;
                msg.len = n + 2;
                msg.label = 0;
            }
        }
    }

    fn check_mode(mode: Mode) {
        let sys = HostSystem::with_mode(mode, 2, echo);
        assert_eq!(sys.mode(), mode);
        assert!(sys.transport(2, 1, magazine_page()).is_none());
        let mut t = sys.transport(1, 0xabc, magazine_page()).unwrap();
        let mut msg = Message {
            label: 7,
            len: 3,
            ..Message::default()
        };
        msg.words[..4].copy_from_slice(&[10, 20, 30, 40]);
        t.call(&mut msg);
        assert_eq!((msg.label, msg.len), (0, 5));
        assert_eq!(&msg.words[..5], &[0xabc, 1, 10, 20, 30]);
        assert_eq!(t.messages(), 1);
        msg.label = 98;
        t.call(&mut msg);
        assert_eq!(
            msg.len, MSG_MAX_WORDS,
            "reply length clamped like the kernel's"
        );
        msg.label = 99;
        t.call(&mut msg);
        assert_eq!(msg.label, memserver_protocol::Error::Internal.code());
        assert_eq!(sys.panics(), 1);
    }

    #[test]
    fn both_modes_carry_badge_core_and_words_and_answer_panics() {
        check_mode(Mode::Direct);
        check_mode(Mode::Threaded);
    }

    /// In direct mode a handler that calls a transport (which would wait for itself) panics;
    /// the caller is answered with `Internal` and the endpoint stays usable.
    #[test]
    fn a_call_from_inside_the_handler_is_refused() {
        // The handler reaches its own endpoint through a weak reference: a strong one would be
        // a cycle (endpoint -> handler -> endpoint) that is never freed.
        let inner: Arc<OnceLock<std::sync::Weak<Endpoint>>> = Arc::new(OnceLock::new());
        let i = inner.clone();
        let sys = HostSystem::with_mode(Mode::Direct, 1, move |_, badge, msg| {
            if badge == 1 {
                let mut t = HostTransport {
                    endpoint: i.get().unwrap().upgrade().unwrap(),
                    badge: 2,
                    page: magazine_page(),
                    messages: 0,
                };
                t.call(&mut Message::default());
            }
            msg.label = 0;
        });
        let _ = inner.set(Arc::downgrade(
            &sys.transport(0, 2, magazine_page()).unwrap().endpoint,
        ));
        let mut t = sys.transport(0, 1, magazine_page()).unwrap();
        let mut msg = Message::default();
        t.call(&mut msg);
        assert_eq!(msg.label, memserver_protocol::Error::Internal.code());
        assert_eq!(sys.panics(), 1);
        let mut ok = sys.transport(0, 3, magazine_page()).unwrap();
        ok.call(&mut msg);
        assert_eq!((msg.label, sys.panics()), (0, 1), "endpoint still serves");
    }

    /// Calls from several threads to one endpoint are served one at a time in both modes.
    #[test]
    fn one_caller_at_a_time() {
        // Calls per thread; under Miri (which checks each access for data races) fewer.
        const CALLS: usize = if cfg!(miri) { 40 } else { 200 };
        for mode in [Mode::Direct, Mode::Threaded] {
            let busy = Arc::new(AtomicBool::new(false));
            let overlaps = Arc::new(AtomicU64::new(0));
            let (b, o) = (busy.clone(), overlaps.clone());
            let sys = Arc::new(HostSystem::with_mode(mode, 1, move |_, _, msg| {
                if b.swap(true, Ordering::SeqCst) {
                    o.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::yield_now();
                b.store(false, Ordering::SeqCst);
                msg.label = 0;
            }));
            let threads: Vec<_> = (0..4)
                .map(|i| {
                    let sys = sys.clone();
                    std::thread::spawn(move || {
                        let mut t = sys.transport(0, i, magazine_page()).unwrap();
                        let mut msg = Message::default();
                        for _ in 0..CALLS {
                            t.call(&mut msg);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(overlaps.load(Ordering::SeqCst), 0, "{mode:?}");
        }
    }
}
