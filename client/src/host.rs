//! The in-process host transport: client threads call, one server thread per simulated core
//! serves. Each core has an [`Endpoint`] carrying exactly what a seL4 IPC carries (badge, label,
//! length, message words), and each client has a shared [`MagazinePage`] per core.
//!
//! Locking: an endpoint admits one caller at a time (a spin flag, like the kernel's endpoint queue);
//! the caller and the server thread then hand the message back and forth through `state`
//! (IDLE -> REQUEST -> REPLY -> IDLE). A waiter spins for a while (a round trip with a partner
//! running on another CPU never involves the scheduler), then parks; the partner unparks it after
//! publishing the new state. Parking uses the Dekker pattern on `SeqCst` atomics: the waiter sets
//! its `parked` flag and re-checks the state, the partner sets the state and checks the flag, so
//! at least one of them sees the other and no wake-up is lost (an early `unpark` makes the next
//! `park` return at once).
use crate::Transport;
use memserver_protocol::{MagazinePage, Message, MSG_MAX_WORDS};
use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

const IDLE: u32 = 0;
const REQUEST: u32 = 1;
const REPLY: u32 = 2;

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

/// One server core's endpoint.
pub struct Endpoint {
    caller: AtomicBool,
    state: AtomicU32,
    stop: AtomicBool,
    server_parked: AtomicBool,
    client_parked: AtomicBool,
    server: OnceLock<Thread>,
    /// The calling thread (to unpark it); written by the caller holding `caller`.
    client: UnsafeCell<Option<Thread>>,
    badge: UnsafeCell<u64>,
    msg: UnsafeCell<Message>,
}

// SAFETY: `badge` and `msg` are only touched by the caller holding `caller` while `state` is IDLE
// or REPLY, and by the server thread while `state` is REQUEST; the transitions are release/acquire.
unsafe impl Sync for Endpoint {}

fn copy_message(to: &mut Message, from: &Message) {
    let n = from.len.min(MSG_MAX_WORDS);
    to.label = from.label;
    to.len = n;
    to.words[..n].copy_from_slice(&from.words[..n]);
}

impl Endpoint {
    fn new() -> Self {
        Endpoint {
            caller: AtomicBool::new(false),
            state: AtomicU32::new(IDLE),
            stop: AtomicBool::new(false),
            server_parked: AtomicBool::new(false),
            client_parked: AtomicBool::new(false),
            server: OnceLock::new(),
            client: UnsafeCell::new(None),
            badge: UnsafeCell::new(0),
            msg: UnsafeCell::new(Message::default()),
        }
    }

    /// `seL4_Call` with `badge`: like the kernel, clamps the length to [`MSG_MAX_WORDS`].
    pub fn call(&self, badge: u64, msg: &mut Message) {
        let mut b = Backoff(0);
        while self
            .caller
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            b.snooze();
        }
        // SAFETY: we hold `caller` and `state` is IDLE, so the server thread does not touch the cells.
        unsafe {
            *self.badge.get() = badge;
            copy_message(&mut *self.msg.get(), msg);
            if (*self.client.get()).as_ref().map(|t| t.id()) != Some(std::thread::current().id()) {
                *self.client.get() = Some(std::thread::current());
            }
        }
        self.state.store(REQUEST, Ordering::SeqCst);
        if self.server_parked.load(Ordering::SeqCst) {
            if let Some(t) = self.server.get() {
                t.unpark();
            }
        }
        wait(&self.client_parked, None, || {
            self.state.load(Ordering::SeqCst) == REPLY
        });
        // SAFETY: `state` is REPLY: the server thread is done with the cells until the next REQUEST.
        unsafe { copy_message(msg, &*self.msg.get()) };
        self.state.store(IDLE, Ordering::Relaxed);
        self.caller.store(false, Ordering::Release);
    }

    /// Serves requests until stopped. A panicking handler is answered with `Internal` and counted.
    fn serve(&self, panics: &AtomicU64, mut handler: impl FnMut(u64, &mut Message)) {
        let _ = self.server.set(std::thread::current());
        loop {
            wait(&self.server_parked, Some(Duration::from_millis(20)), || {
                self.state.load(Ordering::SeqCst) == REQUEST || self.stop.load(Ordering::SeqCst)
            });
            if self.state.load(Ordering::SeqCst) != REQUEST {
                return;
            }
            // SAFETY: `state` is REQUEST: the caller waits for REPLY and does not touch the cells.
            let (badge, msg) = unsafe { (*self.badge.get(), &mut *self.msg.get()) };
            if catch_unwind(AssertUnwindSafe(|| handler(badge, msg))).is_err() {
                panics.fetch_add(1, Ordering::Relaxed);
                msg.label = memserver_protocol::Error::Internal.code();
                msg.len = 0;
            }
            msg.len = msg.len.min(MSG_MAX_WORDS);
            // SAFETY: still REQUEST: the caller wrote `client` before it and waits; once REPLY is
            // published the next caller may overwrite the cell, so take the handle now.
            let waiter = unsafe { (*self.client.get()).clone() };
            self.state.store(REPLY, Ordering::SeqCst);
            if self.client_parked.load(Ordering::SeqCst) {
                if let Some(t) = waiter {
                    t.unpark();
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

/// The server threads, one per simulated core, each serving its endpoint with `handler(core,
/// badge, message)`; the handler turns the request in `message` into the reply.
pub struct HostSystem {
    endpoints: Vec<Arc<Endpoint>>,
    threads: Vec<JoinHandle<()>>,
    panics: Arc<AtomicU64>,
}

impl HostSystem {
    pub fn start<F>(cores: usize, handler: F) -> Self
    where
        F: Fn(usize, u64, &mut Message) + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        let panics = Arc::new(AtomicU64::new(0));
        let endpoints: Vec<_> = (0..cores).map(|_| Arc::new(Endpoint::new())).collect();
        let threads = endpoints
            .iter()
            .enumerate()
            .map(|(core, ep)| {
                let (ep, handler, panics) = (ep.clone(), handler.clone(), panics.clone());
                std::thread::Builder::new()
                    .name(format!("memserver-core{core}"))
                    .spawn(move || ep.serve(&panics, |badge, msg| handler(core, badge, msg)))
                    .expect("spawn server thread")
            })
            .collect();
        HostSystem {
            endpoints,
            threads,
            panics,
        }
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
        for ep in &self.endpoints {
            ep.stop.store(true, Ordering::SeqCst);
            if let Some(t) = ep.server.get() {
                t.unpark();
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
