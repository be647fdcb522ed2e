//! A whole request decoded from untrusted words: the label picks the operation, the body must have
//! exactly its length, and the stateless field checks run. The server then only checks state.
use crate::ops::*;
use crate::{varlen, Failure, Label};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Hello(HelloReq),
    Detach(DetachReq),
    Stats(StatsReq),
    CacheCreate(CacheCreateReq, &'a str),
    CacheDestroy(DestroyReq),
    CacheShrink(ShrinkReq),
    Alloc(AllocReq),
    Free(FreeReq),
    Refill(RefillReq),
    Drain(DrainReq),
    Kmalloc(KmallocReq),
    Kfree(KfreeReq),
    Ksize(KsizeReq),
    KmallocRefill(KmallocRefillReq),
    KfreeDrain(KfreeDrainReq),
    Slabinfo(SlabinfoReq),
}

fn body<T: Op>(words: &[u64]) -> Result<T, Failure> {
    let value = T::decode(words)?;
    value.check()?;
    Ok(value)
}

impl<'a> Request<'a> {
    pub fn decode(label: u64, words: &'a [u64]) -> Result<Self, Failure> {
        Ok(match Label::try_from(label)? {
            Label::Hello => Request::Hello(body(words)?),
            Label::Detach => Request::Detach(body(words)?),
            Label::Stats => Request::Stats(body(words)?),
            Label::CacheCreate => {
                let fixed = CacheCreateReq::WORDS;
                if words.len() <= fixed {
                    return Err(Failure::with(
                        crate::Error::BadLength,
                        [fixed as u64 + 1, words.len() as u64, 0],
                    ));
                }
                let req: CacheCreateReq = body(&words[..fixed])?;
                let name: &str = varlen::read_value(&words[fixed..])?;
                varlen::check_name(name)?;
                Request::CacheCreate(req, name)
            }
            Label::CacheDestroy => Request::CacheDestroy(body(words)?),
            Label::CacheShrink => Request::CacheShrink(body(words)?),
            Label::Alloc => Request::Alloc(body(words)?),
            Label::Free => Request::Free(body(words)?),
            Label::Refill => Request::Refill(body(words)?),
            Label::Drain => Request::Drain(body(words)?),
            Label::Kmalloc => Request::Kmalloc(body(words)?),
            Label::Kfree => Request::Kfree(body(words)?),
            Label::Ksize => Request::Ksize(body(words)?),
            Label::KmallocRefill => Request::KmallocRefill(body(words)?),
            Label::KfreeDrain => Request::KfreeDrain(body(words)?),
            Label::Slabinfo => Request::Slabinfo(body(words)?),
        })
    }

    /// Splits off the borrowed cache name, so that the rest of the request no longer borrows
    /// the message (the server reuses the message buffer for the reply).
    pub fn split_name(self) -> (Request<'static>, Option<&'a str>) {
        match self {
            Request::CacheCreate(r, name) => (Request::CacheCreate(r, ""), Some(name)),
            Request::Hello(r) => (Request::Hello(r), None),
            Request::Detach(r) => (Request::Detach(r), None),
            Request::Stats(r) => (Request::Stats(r), None),
            Request::CacheDestroy(r) => (Request::CacheDestroy(r), None),
            Request::CacheShrink(r) => (Request::CacheShrink(r), None),
            Request::Alloc(r) => (Request::Alloc(r), None),
            Request::Free(r) => (Request::Free(r), None),
            Request::Refill(r) => (Request::Refill(r), None),
            Request::Drain(r) => (Request::Drain(r), None),
            Request::Kmalloc(r) => (Request::Kmalloc(r), None),
            Request::Kfree(r) => (Request::Kfree(r), None),
            Request::Ksize(r) => (Request::Ksize(r), None),
            Request::KmallocRefill(r) => (Request::KmallocRefill(r), None),
            Request::KfreeDrain(r) => (Request::KfreeDrain(r), None),
            Request::Slabinfo(r) => (Request::Slabinfo(r), None),
        }
    }

    pub fn label(&self) -> Label {
        match self {
            Request::Hello(_) => Label::Hello,
            Request::Detach(_) => Label::Detach,
            Request::Stats(_) => Label::Stats,
            Request::CacheCreate(..) => Label::CacheCreate,
            Request::CacheDestroy(_) => Label::CacheDestroy,
            Request::CacheShrink(_) => Label::CacheShrink,
            Request::Alloc(_) => Label::Alloc,
            Request::Free(_) => Label::Free,
            Request::Refill(_) => Label::Refill,
            Request::Drain(_) => Label::Drain,
            Request::Kmalloc(_) => Label::Kmalloc,
            Request::Kfree(_) => Label::Kfree,
            Request::Ksize(_) => Label::Ksize,
            Request::KmallocRefill(_) => Label::KmallocRefill,
            Request::KfreeDrain(_) => Label::KfreeDrain,
            Request::Slabinfo(_) => Label::Slabinfo,
        }
    }

    /// Encodes the request into `words`; returns (label, length). `words` must hold
    /// [`crate::MSG_MAX_WORDS`]; a name that does not fit yields length 0 (never for valid names).
    pub fn encode(&self, words: &mut [u64]) -> (u64, usize) {
        let len = match self {
            Request::Hello(r) => r.encode(words),
            Request::Detach(r) => r.encode(words),
            Request::Stats(r) => r.encode(words),
            Request::CacheCreate(r, name) => {
                let fixed = r.encode(words);
                varlen::write_value(&mut words[fixed..], name).map_or(0, |n| fixed + n)
            }
            Request::CacheDestroy(r) => r.encode(words),
            Request::CacheShrink(r) => r.encode(words),
            Request::Alloc(r) => r.encode(words),
            Request::Free(r) => r.encode(words),
            Request::Refill(r) => r.encode(words),
            Request::Drain(r) => r.encode(words),
            Request::Kmalloc(r) => r.encode(words),
            Request::Kfree(r) => r.encode(words),
            Request::Ksize(r) => r.encode(words),
            Request::KmallocRefill(r) => r.encode(words),
            Request::KfreeDrain(r) => r.encode(words),
            Request::Slabinfo(r) => r.encode(words),
        };
        (self.label().word(), len)
    }
}
