//! The program's one connection to the server: a [`Client`] behind a lock that is only ever
//! tried, so a call that arrives while another runs (a constructor calling back into the API, or a
//! second thread) fails with `MEMSERVER_E_IN_USE` instead of spinning forever.
use crate::error::{MEMSERVER_E_IN_USE, MEMSERVER_E_NOT_CONNECTED};
use core::ffi::c_int;
use memserver_client::Client;
use spin::Mutex;

/// The transport of this build: the endpoint of the client's server core on seL4, the in-process
/// transport on the host.
#[cfg(target_os = "none")]
pub type Transport = memserver_client_sel4::Sel4Transport;
#[cfg(not(target_os = "none"))]
pub type Transport = memserver_client::host::HostTransport;

static CLIENT: Mutex<Option<Client<Transport>>> = Mutex::new(None);

/// Installs the connected client the C calls use; returns the one it replaces. On seL4 the
/// runtime does this before `main`; on the host a test does.
///
/// Fails (giving `client` back) while a C call runs.
// The client comes back by value as it went in: there is no heap to box it in on seL4.
#[allow(clippy::result_large_err)]
pub fn install(client: Client<Transport>) -> Result<Option<Client<Transport>>, Client<Transport>> {
    match CLIENT.try_lock() {
        Some(mut g) => Ok(g.replace(client)),
        None => Err(client),
    }
}

/// Takes the client out (to detach it); the C calls then fail with `MEMSERVER_E_NOT_CONNECTED`.
/// `None` if none is installed or a C call runs.
pub fn take() -> Option<Client<Transport>> {
    CLIENT.try_lock()?.take()
}

/// Runs `f` on the client; `Err(code)` if there is none, if another call holds it, or if `f`
/// fails.
pub(crate) fn with<R>(
    f: impl FnOnce(&mut Client<Transport>) -> Result<R, c_int>,
) -> Result<R, c_int> {
    let mut guard = CLIENT.try_lock().ok_or(MEMSERVER_E_IN_USE)?;
    let client = guard.as_mut().ok_or(MEMSERVER_E_NOT_CONNECTED)?;
    f(client)
}
