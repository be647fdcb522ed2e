//! Per-client quota and usage: live objects and their usable bytes, counted at the server when
//! objects are handed out (into a magazine or directly) and when they come back. A charge that
//! would exceed the quota is refused whole with `QuotaExceeded` and changes nothing.
use memserver_protocol::{Error, Failure};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub bytes: u64,
    pub objects: u64,
}

impl Quota {
    pub const UNLIMITED: Quota = Quota {
        bytes: u64::MAX,
        objects: u64::MAX,
    };
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub objects: u64,
}

impl Usage {
    /// Checks that `objects` more objects of `bytes` bytes in total fit in `quota`.
    pub fn check(&self, quota: &Quota, objects: u64, bytes: u64) -> Result<(), Failure> {
        let o = self.objects.saturating_add(objects);
        if o > quota.objects {
            return Err(Failure::with(Error::QuotaExceeded, [1, quota.objects, o]));
        }
        let b = self.bytes.saturating_add(bytes);
        if b > quota.bytes {
            return Err(Failure::with(Error::QuotaExceeded, [0, quota.bytes, b]));
        }
        Ok(())
    }

    pub fn charge(&mut self, objects: u64, bytes: u64) {
        self.objects += objects;
        self.bytes += bytes;
    }

    pub fn release(&mut self, objects: u64, bytes: u64) {
        debug_assert!(self.objects >= objects && self.bytes >= bytes);
        self.objects = self.objects.saturating_sub(objects);
        self.bytes = self.bytes.saturating_sub(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_refuses_whole_charges() {
        let q = Quota {
            bytes: 100,
            objects: 3,
        };
        let mut u = Usage::default();
        u.check(&q, 3, 24).unwrap();
        u.charge(3, 24);
        assert_eq!(
            u.check(&q, 1, 8).unwrap_err(),
            Failure::with(Error::QuotaExceeded, [1, 3, 4])
        );
        u.release(2, 16);
        assert_eq!(
            u.check(&q, 1, 100).unwrap_err(),
            Failure::with(Error::QuotaExceeded, [0, 100, 108])
        );
        assert!(u.check(&q, 1, 92).is_ok());
    }
}
