//! [`GlobalClient`]: a `GlobalAlloc` over a [`Client`], so `Vec`, `Box`, `String` and friends
//! allocate from the server through kmalloc magazines. One spin lock serialises the threads of the
//! process on the client (the client stub is single-threaded by design).
use crate::{Client, Transport};
use core::alloc::{GlobalAlloc, Layout};
use memserver_protocol::ops::KMALLOC_CLASSES;
use spin::Mutex;

pub struct GlobalClient<T: Transport> {
    client: Mutex<Option<Client<T>>>,
}

impl<T: Transport> Default for GlobalClient<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Transport> GlobalClient<T> {
    pub const fn new() -> Self {
        GlobalClient {
            client: Mutex::new(None),
        }
    }

    /// Installs the connected client; allocations fail (null) until then.
    pub fn install(&self, client: Client<T>) {
        *self.client.lock() = Some(client);
    }

    /// Takes the client back out (e.g. to detach).
    pub fn take(&self) -> Option<Client<T>> {
        self.client.lock().take()
    }

    /// Runs `f` on the installed client.
    pub fn with<R>(&self, f: impl FnOnce(&mut Client<T>) -> R) -> Option<R> {
        self.client.lock().as_mut().map(f)
    }
}

/// The kmalloc size that serves `layout`: power-of-two classes are aligned to their size, others
/// (96, 192) only to 8 here, so an alignment above 8 takes the next power of two.
fn kmalloc_size(layout: Layout) -> usize {
    let size = layout.size().max(1);
    if layout.align() <= 8 {
        size
    } else {
        size.max(layout.align()).next_power_of_two()
    }
}

fn is_class(size: usize) -> bool {
    KMALLOC_CLASSES.iter().any(|&c| c as usize >= size)
}

// SAFETY: `alloc` returns null or a block of at least `layout.size()` bytes aligned to
// `layout.align()` (checked before returning) that the server handed to this client alone;
// `dealloc` returns exactly such a block with the size it was allocated for.
unsafe impl<T: Transport + Send> GlobalAlloc for GlobalClient<T> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.allocate(layout, false)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.allocate(layout, true)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let size = kmalloc_size(layout);
        if let Some(c) = self.client.lock().as_mut() {
            let _ = if is_class(size) {
                c.kfree_sized(ptr as usize, size)
            } else {
                c.kfree(ptr as usize)
            };
        }
    }
}

impl<T: Transport> GlobalClient<T> {
    fn allocate(&self, layout: Layout, zero: bool) -> *mut u8 {
        let size = kmalloc_size(layout);
        let mut guard = self.client.lock();
        let Some(c) = guard.as_mut() else {
            return core::ptr::null_mut();
        };
        let r = if zero {
            c.kzalloc(size)
        } else {
            c.kmalloc(size)
        };
        match r {
            Ok(addr) if addr % layout.align() == 0 => addr as *mut u8,
            Ok(addr) => {
                let _ = c.kfree_sized(addr, size);
                core::ptr::null_mut()
            }
            Err(_) => core::ptr::null_mut(),
        }
    }
}
