//! `memserver_exit`: how a C program ends with a status. On seL4 the task sends its exit status to
//! the root task, which ends every thread of the client and reclaims it (everything it held returns
//! to the server); on the host the process exits.
use core::ffi::c_int;

/// Ends the program with `status` (0: success); what the console holds is written first. On seL4
/// the root task reports the status and reclaims the task: every block the program still holds
/// returns to the server.
#[no_mangle]
pub extern "C" fn memserver_exit(status: c_int) -> ! {
    #[cfg(not(target_os = "none"))]
    {
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        std::process::exit(status)
    }
    #[cfg(target_os = "none")]
    {
        crate::runtime::flush_console();
        // The status travels as a word; a negative status keeps its two's-complement bits.
        memserver_client_sel4::exit(crate::runtime::core(), status as i64 as sel4::Word)
    }
}
