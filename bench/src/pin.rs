//! Pinning the calling thread to one CPU (Linux `sched_setaffinity`), so that a simulated core's
//! thread stays on one real core for a whole measurement.
use std::io;

/// Pins the calling thread to `cpu`.
pub fn to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: `cpu_set_t` is plain bits, valid when zeroed; `CPU_SET` is given an index checked
    // against `CPU_SETSIZE` above; `sched_setaffinity(0, ..)` only reads the set we own.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// CPUs online in the machine (not the calling thread's affinity mask, which pinning narrows).
pub fn online_cpus() -> usize {
    // SAFETY: `sysconf` only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinning_does_not_narrow_the_cpu_count() {
        let before = online_cpus();
        std::thread::spawn(move || {
            to_cpu(0).unwrap();
            assert_eq!(online_cpus(), before);
            assert!(to_cpu(libc::CPU_SETSIZE as usize).is_err());
        })
        .join()
        .unwrap();
    }
}
