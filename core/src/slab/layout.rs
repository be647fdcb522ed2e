//! Object layout and slab order, as SLUB computes them (`calculate_alignment`, `calculate_sizes`,
//! `calculate_order`), and the per-core array tunables as SLAB's `enable_cpucache` picks them.
//! Pure functions of the creation parameters and the number of cores; no state.
//!
//! A slot is `[left red zone][object][right red zone][padding to the alignment]`; without
//! `RED_ZONE` it is just the object rounded up to the word and the alignment.
use super::error::CreateError;
use super::params::CacheFlags;
use crate::buddy::{MAX_ORDER, PAGE_SIZE};

const WORD: usize = 8;
const CACHE_LINE: usize = 64;
/// SLUB's `slub_max_order` default (`PAGE_ALLOC_COSTLY_ORDER`).
const SLUB_MAX_ORDER: u8 = 3;
/// SLUB's `MAX_OBJS_PER_PAGE`; also keeps free indexes in a `u16`.
pub const MAX_OBJS_PER_SLAB: usize = 32767;
/// Largest slot: one object in a slab of the largest buddy order.
const RECIP_SHIFT: u32 = 44;
pub const MAX_STRIDE: usize = PAGE_SIZE << MAX_ORDER;

/// Where objects sit in a slab of one cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Size the creator asked for.
    pub object_size: u32,
    /// Bytes a user may use (`ksize`): the whole slot for plain caches, exactly `object_size`
    /// when red zones or poison guard the rest.
    pub usable: u32,
    pub align: u32,
    /// Distance between consecutive slots.
    pub stride: u32,
    /// Offset of the object in its slot (the left red zone).
    pub obj_offset: u32,
    /// Bytes of the right red zone, starting at `object_size`.
    pub right_redzone: u32,
    pub objects: u32,
    /// Bytes from the first object to the end of the last slot (`objects * stride`).
    pub span: u32,
    pub order: u8,
    /// `ceil(2^44 / stride)`: `(off * recip) >> 44 == off / stride` for every `off` below
    /// 2^22 (a slab of the largest order), since the rounding error `recip * stride - 2^44` is
    /// below `stride <= 2^22`, and `off * recip < 2^63`.
    pub recip: u64,
    /// `u64::MAX / stride + 1`, i.e. `ceil(2^64 / stride)`: for every `off` below 2^32,
    /// `off * divides` (mod 2^64) is below `divides` exactly when `stride` divides `off` (Lemire,
    /// Kaser and Kurz, "Faster remainder by direct computation", 2019). Independent of the
    /// quotient's multiply, so the two run side by side.
    pub divides: u64,
}

impl Layout {
    pub fn compute(
        size: usize,
        align: usize,
        flags: CacheFlags,
        cpus: usize,
    ) -> Result<Layout, CreateError> {
        if size == 0 {
            return Err(CreateError::ZeroSize);
        }
        if !align.is_power_of_two() && align != 0 {
            return Err(CreateError::BadAlign { align });
        }
        if align > PAGE_SIZE {
            return Err(CreateError::AlignTooLarge { align });
        }
        if size > MAX_STRIDE {
            return Err(CreateError::TooLarge {
                size,
                max: MAX_STRIDE,
            });
        }
        let align = calculate_alignment(flags, align, size);
        let word_size = round_up(size, WORD);
        let (obj_offset, right) = if flags.contains(CacheFlags::RED_ZONE) {
            let right = if word_size == size {
                WORD
            } else {
                word_size - size
            };
            (round_up(WORD, align), right)
        } else {
            (0, 0)
        };
        let stride = if flags.contains(CacheFlags::RED_ZONE) {
            round_up(obj_offset + size + right, align)
        } else {
            round_up(word_size, align)
        };
        if stride > MAX_STRIDE {
            return Err(CreateError::TooLarge {
                size,
                max: MAX_STRIDE,
            });
        }
        let order = calculate_order(stride, cpus);
        let objects = (PAGE_SIZE << order) / stride;
        let usable = if flags.intersects(CacheFlags::RED_ZONE | CacheFlags::POISON) {
            size
        } else {
            stride
        };
        Ok(Layout {
            object_size: size as u32,
            usable: usable as u32,
            align: align as u32,
            stride: stride as u32,
            obj_offset: obj_offset as u32,
            right_redzone: right as u32,
            objects: objects as u32,
            span: (objects * stride) as u32,
            order,
            recip: (1u64 << RECIP_SHIFT).div_ceil(stride as u64),
            divides: u64::MAX / stride as u64 + 1,
        })
    }

    /// Bytes of one slab.
    pub fn slab_bytes(&self) -> usize {
        PAGE_SIZE << self.order
    }

    /// Bytes at the end of a slab that hold no slot.
    pub fn leftover(&self) -> usize {
        self.slab_bytes() - self.objects as usize * self.stride as usize
    }

    /// Index of the slot at byte `off` from the first object, if `off` is a slot start. `off`
    /// must be at most 2^22 (callers bound it by `span` first).
    #[inline(always)]
    pub fn index_of(&self, off: usize) -> Option<usize> {
        debug_assert!(off <= 1 << 22, "offset {off:#x} beyond the exact range");
        let off = off as u64;
        let idx = (off.wrapping_mul(self.recip) >> RECIP_SHIFT) as usize;
        (off.wrapping_mul(self.divides) < self.divides).then_some(idx)
    }
}

/// SLUB's `calculate_alignment`.
fn calculate_alignment(flags: CacheFlags, align: usize, size: usize) -> usize {
    let mut align = align;
    if flags.contains(CacheFlags::HWCACHE_ALIGN) {
        let mut ralign = CACHE_LINE;
        while size <= ralign / 2 {
            ralign /= 2;
        }
        align = align.max(ralign);
    }
    round_up(align.max(WORD), WORD)
}

fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

/// Smallest order whose block holds `bytes`.
fn get_order(bytes: usize) -> u8 {
    let pages = bytes.div_ceil(PAGE_SIZE).max(1);
    pages.next_power_of_two().trailing_zeros() as u8
}

fn order_objects(order: u8, size: usize) -> usize {
    (PAGE_SIZE << order) / size
}

/// SLUB's `calc_slab_order`: the first order from `min_order` whose leftover is at most
/// `1/fract_leftover` of the slab (or `max_order + 1` if none is).
fn calc_slab_order(size: usize, min_order: u8, max_order: u8, fract_leftover: usize) -> u8 {
    let mut order = min_order;
    while order <= max_order {
        let slab = PAGE_SIZE << order;
        if slab % size <= slab / fract_leftover {
            break;
        }
        order += 1;
    }
    order
}

/// SLUB's `calculate_order` with `min_objects = 4 * (fls(cpus) + 1)`.
fn calculate_order(size: usize, cpus: usize) -> u8 {
    let fls = (usize::BITS - cpus.max(1).leading_zeros()) as usize;
    let max_objects = order_objects(SLUB_MAX_ORDER, size).max(1);
    let min_objects = (4 * (fls + 1)).min(max_objects);
    let min_order = get_order(min_objects * size);
    if order_objects(min_order, size) > MAX_OBJS_PER_SLAB {
        return get_order(size * MAX_OBJS_PER_SLAB) - 1;
    }
    let mut fraction = 16;
    while fraction > 1 {
        let order = calc_slab_order(size, min_order, SLUB_MAX_ORDER, fraction);
        if order <= SLUB_MAX_ORDER {
            return order;
        }
        fraction /= 2;
    }
    get_order(size).min(MAX_ORDER)
}

/// Per-core array tunables (SLAB's `enable_cpucache`), shown in slabinfo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunables {
    /// Most objects a core's array holds.
    pub limit: u32,
    /// Objects moved per refill or flush.
    pub batchcount: u32,
    /// The node's shared array holds `sharedfactor * batchcount` objects.
    pub sharedfactor: u32,
    /// Most objects an alien array holds before it is flushed to its home node.
    pub alien_limit: u32,
}

impl Tunables {
    pub fn for_stride(stride: usize, cores: usize) -> Tunables {
        let limit = if stride > 128 * 1024 {
            1
        } else if stride > PAGE_SIZE {
            8
        } else if stride > 1024 {
            24
        } else if stride > 256 {
            54
        } else {
            120
        };
        let sharedfactor = if stride <= PAGE_SIZE && cores > 1 {
            8
        } else {
            0
        };
        Tunables {
            limit,
            batchcount: limit.div_ceil(2),
            sharedfactor,
            alien_limit: limit.min(12),
        }
    }

    pub fn shared_limit(&self) -> usize {
        (self.sharedfactor * self.batchcount) as usize
    }
}

/// SLUB's `min_partial`: `ilog2(size) / 2`, clamped to 5..=10.
pub fn min_partial(stride: usize) -> usize {
    ((usize::BITS - 1 - stride.max(1).leading_zeros()) as usize / 2).clamp(5, 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(size: usize, align: usize, cpus: usize) -> Layout {
        Layout::compute(size, align, CacheFlags::empty(), cpus).unwrap()
    }

    #[test]
    fn slab_test_cache_layout_is_64_per_page() {
        let l = Layout::compute(40, 8, CacheFlags::HWCACHE_ALIGN, 1).unwrap();
        assert_eq!((l.stride, l.objects, l.order), (64, 64, 0));
        assert_eq!(l.usable, 64);
    }

    #[test]
    fn kmalloc_classes_match_linux_slub() {
        // objperslab / pagesperslab of a 2-cpu SLUB machine's kmalloc caches.
        for (size, objs, order) in [
            (8, 512, 0),
            (16, 256, 0),
            (32, 128, 0),
            (64, 64, 0),
            (96, 42, 0),
            (128, 32, 0),
            (192, 21, 0),
            (256, 16, 0),
            (512, 16, 1),
            (1024, 16, 2),
            (2048, 16, 3),
            (4096, 8, 3),
            (8192, 4, 3),
        ] {
            let l = plain(size, 8, 2);
            assert_eq!((l.objects, l.order), (objs, order), "size {size}");
            assert!(l.leftover() <= l.slab_bytes() / 16 || l.order == 3);
        }
    }

    #[test]
    fn red_zone_surrounds_the_object() {
        let l = Layout::compute(40, 8, CacheFlags::RED_ZONE, 1).unwrap();
        assert_eq!((l.obj_offset, l.right_redzone, l.stride), (8, 8, 56));
        assert_eq!(l.usable, 40);
        let l = Layout::compute(13, 8, CacheFlags::RED_ZONE, 1).unwrap();
        assert_eq!((l.obj_offset, l.right_redzone, l.stride), (8, 3, 24));
    }

    #[test]
    fn reciprocal_division_is_exact_over_a_slab() {
        // Every offset of a slab of each size; under Miri (slow at plain arithmetic, and there is
        // no unsafe code here) a few sizes with small spans.
        const SIZES: &[usize] = if cfg!(miri) {
            &[24, 200]
        } else {
            &[8, 24, 40, 96, 192, 200, 1000, 3000, 8192, 12345, 100_000]
        };
        for &size in SIZES {
            let l = plain(size, 8, 4);
            for off in 0..l.span as usize + 64 {
                let want = (off % l.stride as usize == 0).then_some(off / l.stride as usize);
                assert_eq!(l.index_of(off), want, "size {size} off {off}");
            }
        }
    }

    #[test]
    fn reciprocal_division_is_exact_up_to_the_largest_slab() {
        let top = PAGE_SIZE << MAX_ORDER;
        // Every stride up to a page natively; under Miri every 29th (odd and even multiples of 8).
        const STEP: usize = if cfg!(miri) { 8 * 29 } else { 8 };
        for stride in (8..=4096)
            .step_by(STEP)
            .chain([top / 3 / 8 * 8, top / 2, top])
        {
            let l = Layout::compute(stride, 8, CacheFlags::empty(), 1).unwrap();
            let d = l.stride as usize;
            for k in [1, 2, 3, top / d / 2, top / d - 1, top / d]
                .into_iter()
                .filter(|&k| k > 0)
            {
                for off in [k * d - 1, k * d, k * d + 1] {
                    if off < top {
                        let want = (off % d == 0).then_some(off / d);
                        assert_eq!(l.index_of(off), want, "stride {d} off {off}");
                    }
                }
            }
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        let f = CacheFlags::empty();
        assert_eq!(Layout::compute(0, 8, f, 1), Err(CreateError::ZeroSize));
        assert_eq!(
            Layout::compute(8, 24, f, 1),
            Err(CreateError::BadAlign { align: 24 })
        );
        assert_eq!(
            Layout::compute(8, 8192, f, 1),
            Err(CreateError::AlignTooLarge { align: 8192 })
        );
        assert!(matches!(
            Layout::compute(MAX_STRIDE + 1, 8, f, 1),
            Err(CreateError::TooLarge { .. })
        ));
        assert!(Layout::compute(MAX_STRIDE, 8, f, 1).is_ok());
    }

    #[test]
    fn tunables_follow_slab() {
        assert_eq!(Tunables::for_stride(64, 4).limit, 120);
        assert_eq!(Tunables::for_stride(64, 4).batchcount, 60);
        assert_eq!(Tunables::for_stride(512, 4).limit, 54);
        assert_eq!(Tunables::for_stride(2048, 4).limit, 24);
        assert_eq!(Tunables::for_stride(8192, 4).limit, 8);
        assert_eq!(Tunables::for_stride(8192, 4).sharedfactor, 0);
        assert_eq!(min_partial(64), 5);
        assert_eq!(min_partial(1 << 20), 10);
    }
}
