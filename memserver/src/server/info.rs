//! What a client may learn: its accounting (Stats) and slabinfo rows, its own or every client's,
//! paged through the IPC buffer with a cursor that names a cache (own scope: its creation
//! serial) or a name (server-wide), so that a walk shows every cache that lives through it
//! exactly once (see `memserver_protocol::slabinfo`).
use super::dispatch::Ctx;
use super::Server;
use memserver_protocol::ops::*;
use memserver_protocol::slabinfo::{words_name, RowWriter, END, MORE};
use memserver_protocol::{Error, Failure, MSG_MAX_WORDS};

impl Server {
    pub(super) fn stats(
        &self,
        c: &mut Ctx<'_>,
        _r: StatsReq,
        out: &mut [u64],
    ) -> Result<usize, Failure> {
        let (u, q) = (c.rec.usage, c.rec.quota);
        Ok(StatsReply {
            live_objects: u.objects,
            live_bytes: u.bytes,
            quota_objects: q.objects,
            quota_bytes: q.bytes,
            metadata_bytes: c.rec.metadata.used(),
            quota_metadata: q.metadata,
            violations: c.rec.log.total(),
        }
        .encode(out))
    }

    pub(super) fn slabinfo(
        &self,
        c: &mut Ctx<'_>,
        r: SlabinfoReq,
        out: &mut [u64; MSG_MAX_WORDS],
    ) -> Result<usize, Failure> {
        let bad = || Failure::with(Error::BadCursor, [r.cursor, 0, 0]);
        let mut w = RowWriter::new(out);
        let more = match r.scope() {
            SlabinfoScope::Own => {
                if r.after() != [0; 4] {
                    return Err(bad());
                }
                let mut last = 0;
                let stopped = self
                    .alloc
                    .slabinfo_walk_owner(c.rec.owner, r.cursor, |serial, row| {
                        let fits = w.push(&row.as_row());
                        if fits {
                            last = serial;
                        }
                        fits
                    })
                    .ok_or_else(bad)?;
                stopped.then_some(last)
            }
            SlabinfoScope::All => {
                let mut buf = [0u8; 32];
                let after = match r.cursor {
                    0 if r.after() == [0; 4] => "",
                    MORE => words_name(&r.after(), &mut buf).ok_or_else(bad)?,
                    _ => return Err(bad()),
                };
                let stopped = self
                    .alloc
                    .slabinfo_walk_names(after, |row| w.push(&row.as_row()));
                stopped.then_some(MORE)
            }
        };
        if more.is_some() && w.rows() == 0 {
            // Not even one row fits a page: never for valid names.
            return Err(Failure::new(Error::Internal));
        }
        Ok(w.finish(more.unwrap_or(END)))
    }
}
