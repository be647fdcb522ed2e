//! The library's size classes: 16-byte steps up to 128 bytes (malloc's own granularity there),
//! four classes per doubling up to 2 KiB, then eight per doubling up to 8 KiB, each a cache of its
//! own (`malloc-<size>`). The kernel's kmalloc classes double above 256 bytes, so a 4.2 KiB request
//! (a database page and its header) would take 8 KiB; here it takes 4.5 KiB: above 2 KiB a class
//! is a whole slab's worth of a program's largest common blocks, so the finer steps pay. A class's
//! magazine holds at most [`MAG_BYTES`] of objects, so large classes keep few idle objects per
//! thread.

/// Number of classes.
pub const COUNT: usize = 40;
/// The largest request a class serves.
pub const MAX: usize = 8192;

/// Each class's object size, ascending.
pub const SIZES: [usize; COUNT] = sizes();

/// Bytes a thread's magazine of one class may hold (at least [`MAG_MIN`] objects).
pub const MAG_BYTES: usize = 16 << 10;
/// Objects a magazine holds at the least, and [`super::magazine`]'s capacity at most.
pub const MAG_MIN: usize = 4;
pub const MAG_MAX: usize = 32;

/// Each class's magazine capacity.
pub const MAG_CAP: [usize; COUNT] = caps();

/// Above this (a power of two) a doubling has [`FINE`] classes instead of four.
const FINE_FROM: usize = 2048;
const FINE: usize = 8;

const fn sizes() -> [usize; COUNT] {
    let mut out = [0; COUNT];
    let mut i = 0;
    while i < 8 {
        out[i] = (i + 1) * 16;
        i += 1;
    }
    let mut base = 128;
    while i < COUNT {
        let per = if base >= FINE_FROM { FINE } else { 4 };
        let mut q = 1;
        while q <= per {
            out[i] = base + base * q / per;
            q += 1;
            i += 1;
        }
        base *= 2;
    }
    out
}

const fn caps() -> [usize; COUNT] {
    let mut out = [0; COUNT];
    let mut i = 0;
    while i < COUNT {
        let n = MAG_BYTES / SIZES[i];
        out[i] = if n < MAG_MIN {
            MAG_MIN
        } else if n > MAG_MAX {
            MAG_MAX
        } else {
            n
        };
        i += 1;
    }
    out
}

const _: () = assert!(SIZES[COUNT - 1] == MAX);

/// The class serving `size` bytes (0 takes the smallest), or `None` above [`MAX`].
#[inline(always)]
pub fn of(size: usize) -> Option<usize> {
    if size <= 128 {
        return Some(size.max(1).div_ceil(16) - 1);
    }
    if size > MAX {
        return None;
    }
    let s = size - 1;
    let log = (usize::BITS - 1 - s.leading_zeros()) as usize;
    let fine_log = FINE_FROM.trailing_zeros() as usize;
    if log < fine_log {
        let quarter = (s >> (log - 2)) & 3;
        return Some(8 + (log - 7) * 4 + quarter);
    }
    let eighth = (s >> (log - 3)) & (FINE - 1);
    Some(8 + (fine_log - 7) * 4 + (log - fine_log) * FINE + eighth)
}

/// The cache name of class `c` (`malloc-<size>`), into `buf`.
pub fn name(c: usize, buf: &mut [u8; 16]) -> &str {
    let mut n = SIZES[c];
    let mut digits = [0u8; 8];
    let mut len = 0;
    while n > 0 {
        digits[len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
    }
    buf[..7].copy_from_slice(b"malloc-");
    for i in 0..len {
        buf[7 + i] = digits[len - 1 - i];
    }
    core::str::from_utf8(&buf[..7 + len]).unwrap_or("malloc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_takes_the_smallest_class_that_holds_it() {
        assert_eq!(SIZES[..9], [16, 32, 48, 64, 80, 96, 112, 128, 160]);
        assert!(SIZES.windows(2).all(|w| w[0] < w[1]));
        for size in 0..=MAX {
            let c = of(size).unwrap();
            assert!(SIZES[c] >= size.max(1), "{size} -> {}", SIZES[c]);
            assert!(c == 0 || SIZES[c - 1] < size, "{size} -> {}", SIZES[c]);
        }
        assert_eq!(of(MAX + 1), None);
        // A database page with its header (4096 + 272) takes 4.5 KiB, not 5.
        assert_eq!(SIZES[of(4368).unwrap()], 4608);
        assert_eq!(SIZES[of(2049).unwrap()], 2304);
    }

    #[test]
    fn a_class_is_less_than_a_quarter_above_its_request_beyond_128_bytes() {
        for size in 129..=MAX {
            let c = of(size).unwrap();
            assert!(SIZES[c] * 4 < size * 5 + 4, "{size} -> {}", SIZES[c]);
        }
    }

    #[test]
    fn names_and_magazines() {
        let mut buf = [0; 16];
        assert_eq!(name(0, &mut buf), "malloc-16");
        assert_eq!(name(COUNT - 1, &mut buf), "malloc-8192");
        assert_eq!(MAG_CAP[0], MAG_MAX);
        assert_eq!(MAG_CAP[COUNT - 1], MAG_MIN);
        assert!(MAG_CAP.iter().all(|&c| (MAG_MIN..=MAG_MAX).contains(&c)));
    }
}
