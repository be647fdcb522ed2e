//! `memserver_exit`: how a C program ends with a status. On seL4 the task ends and the root task
//! reclaims it (everything it held returns to the server); on the host the process exits.
use core::ffi::c_int;

/// Ends the program with `status` (0: success). On seL4 every block the program still holds
/// returns to the server when the root task reclaims the task.
#[no_mangle]
pub extern "C" fn memserver_exit(status: c_int) -> ! {
    #[cfg(not(target_os = "none"))]
    std::process::exit(status);
    #[cfg(target_os = "none")]
    {
        let _ = status;
        // Until the root task offers an exit call, ending is a fault of the task, which the root
        // task reports and reclaims.
        // SAFETY: `udf` only raises an undefined-instruction exception.
        unsafe { core::arch::asm!("udf #2", options(noreturn)) }
    }
}
