//! What a client may learn: its accounting (Stats) and slabinfo rows, its own or every client's,
//! paged through the IPC buffer with a cursor (the row index in the core's newest-first order).
use super::dispatch::Ctx;
use super::Server;
use memserver_protocol::ops::*;
use memserver_protocol::slabinfo::{RowWriter, END};
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
        }
        .encode(out))
    }

    pub(super) fn slabinfo(
        &self,
        c: &mut Ctx<'_>,
        r: SlabinfoReq,
        out: &mut [u64; MSG_MAX_WORDS],
    ) -> Result<usize, Failure> {
        let filter = match r.scope() {
            SlabinfoScope::Own => Some(c.rec.owner),
            SlabinfoScope::All => None,
        };
        let rows = self.alloc.slabinfo_view(filter);
        let start = usize::try_from(r.cursor)
            .ok()
            .filter(|&s| s <= rows.len())
            .ok_or(Failure::with(
                Error::BadCursor,
                [r.cursor, rows.len() as u64, 0],
            ))?;
        let mut w = RowWriter::new(out);
        let mut next = start;
        for row in &rows[start..] {
            if !w.push(&row.as_row()) {
                break;
            }
            next += 1;
        }
        if next == start && start < rows.len() {
            return Err(Failure::new(Error::Internal));
        }
        let cursor = if next == rows.len() { END } else { next as u64 };
        Ok(w.finish(cursor))
    }
}
