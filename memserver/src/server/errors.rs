//! Maps the core's error types to the wire's [`Failure`]: a stable code plus detail words, with
//! every address translated to the client's address space. Pure functions.
use crate::slab::{
    AllocError, CreateError, DestroyError, FreeError, KmallocError, Violation, ViolationKind,
};
use memserver_protocol::{Error, Failure};

/// Server address -> client address.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub offset: usize,
}

impl Window {
    pub fn to_client(&self, addr: usize) -> u64 {
        addr.wrapping_add(self.offset) as u64
    }

    /// Client address -> server address; `None` if it does not fit a server address.
    pub fn to_server(&self, addr: u64) -> Option<usize> {
        usize::try_from(addr)
            .ok()
            .map(|a| a.wrapping_sub(self.offset))
    }

    /// [`to_server`](Self::to_server) of every address of `raw` into `out`, in one branch-free
    /// pass; `false` if any is null or does not fit (then `out` holds no meaning).
    #[inline]
    pub fn to_server_all(&self, raw: &[u64], out: &mut [usize]) -> bool {
        let n = raw.len().min(out.len());
        let (raw, out) = (&raw[..n], &mut out[..n]);
        let mut bad = 0u64;
        for i in 0..n {
            let a = raw[i];
            let s = usize::try_from(a);
            bad |= (a == 0) as u64 | s.is_err() as u64;
            out[i] = s.unwrap_or(0).wrapping_sub(self.offset);
        }
        bad == 0
    }
}

pub fn violation(v: &Violation, w: Window) -> Failure {
    let error = match v.kind {
        ViolationKind::RedZoneLeft | ViolationKind::RedZoneRight => Error::RedZone,
        ViolationKind::Poison | ViolationKind::Padding => Error::Poison,
        // Reported in the violation log only (the destroy itself is refused as busy).
        ViolationKind::Leak => Error::CacheBusy,
    };
    Failure::with(
        error,
        [
            w.to_client(v.object),
            v.offset as i64 as u64,
            v.found as u64,
        ],
    )
}

/// A batch free that stopped after freeing `freed` objects. Every address of a batch is checked
/// before any is freed, under the client's lock, so only a broken invariant of the server gets
/// here: `Internal`, with the count in `detail[2]` (the one refusal that changed something; the
/// client keeps the rest of the batch).
#[cold]
pub fn stopped_part_way(freed: usize) -> Failure {
    Failure::with(Error::Internal, [0, 0, freed as u64])
}

pub fn alloc(e: &AllocError) -> Failure {
    match e {
        AllocError::BadCache(_) => Failure::new(Error::StaleHandle),
        AllocError::OutOfMemory => Failure::new(Error::OutOfMemory),
        AllocError::BadNode => Failure::new(Error::BadField),
        AllocError::Metadata(m) => super::quota::metadata_refused(m),
    }
}

pub fn free(e: &FreeError, w: Window) -> Failure {
    let at = |a: &usize| [w.to_client(*a), 0, 0];
    match e {
        FreeError::BadCache(_) => Failure::new(Error::StaleHandle),
        FreeError::Null => Failure::new(Error::NullPointer),
        FreeError::NotOurs { addr } | FreeError::NeverAllocated { addr } => {
            Failure::with(Error::NotAllocated, at(addr))
        }
        FreeError::WrongCache { addr } => Failure::with(Error::WrongCache, at(addr)),
        FreeError::Interior { addr, object } => Failure::with(
            Error::InteriorPointer,
            [w.to_client(*addr), addr.wrapping_sub(*object) as u64, 0],
        ),
        FreeError::DoubleFree { addr, .. } => Failure::with(Error::DoubleFree, at(addr)),
        FreeError::ForeignOwner { addr } => Failure::with(Error::ForeignPointer, at(addr)),
        FreeError::Corrupted(v) => violation(v, w),
    }
}

pub fn kmalloc(e: &KmallocError, w: Window) -> Failure {
    match e {
        KmallocError::TooLarge { size, max } => {
            Failure::with(Error::SizeTooLarge, [*size as u64, *max as u64, 0])
        }
        KmallocError::BadSet => Failure::new(Error::Internal),
        KmallocError::OutOfMemory => Failure::new(Error::OutOfMemory),
        KmallocError::Corrupted(v) => violation(v, w),
        KmallocError::Overflow { n, size } => {
            Failure::with(Error::SizeTooLarge, [*n as u64, *size as u64, 0])
        }
        KmallocError::BadNode => Failure::new(Error::BadField),
        KmallocError::BadPointer(e) => free(e, w),
        KmallocError::Metadata(m) => super::quota::metadata_refused(m),
    }
}

pub fn create(e: &CreateError) -> Failure {
    match e {
        CreateError::EmptyName | CreateError::BadNameByte { .. } => Failure::new(Error::BadName),
        CreateError::NameTooLong { len, max } => {
            Failure::with(Error::BadName, [*len as u64, *max as u64, 0])
        }
        CreateError::ZeroSize => Failure::new(Error::SizeZero),
        CreateError::TooLarge { size, max } => {
            Failure::with(Error::SizeTooLarge, [*size as u64, *max as u64, 0])
        }
        CreateError::BadAlign { align } | CreateError::AlignTooLarge { align } => {
            Failure::with(Error::BadAlign, [*align as u64, 0, 0])
        }
        CreateError::UnknownFlags { bits } => {
            Failure::with(Error::UnknownFlag, [*bits as u64, 0, 0])
        }
        CreateError::TooManyCaches => Failure::new(Error::TooMany),
        CreateError::Metadata(m) => super::quota::metadata_refused(m),
    }
}

pub fn destroy(e: &DestroyError) -> Failure {
    match e {
        DestroyError::BadCache(_) => Failure::new(Error::StaleHandle),
        DestroyError::Busy { live } => Failure::with(Error::CacheBusy, [*live as u64, 0, 0]),
    }
}
