//! [`Client`]: one client's connection to the server core its transport talks to, with the
//! handshake, the message plumbing and the kmalloc family (magazines per size class).
use crate::magazine::Magazine;
use crate::transport::Transport;
use memserver_protocol::ops::*;
use memserver_protocol::slabinfo::{name_words, RowReader, END, HEADER, MORE};
use memserver_protocol::violations::{self, ViolationRecord, ViolationsHead};
use memserver_protocol::{
    Error, Failure, Message, Request, SlabinfoRow, MAX_BATCH, MSG_MAX_WORDS, PROTOCOL_VERSION,
};

/// Client-side tuning.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Objects per Refill/Drain message, `1..=MAX_BATCH`; 0 turns magazines off (one message per
    /// operation).
    pub batch: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { batch: 32 }
    }
}

/// The client's accounting as the server sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    pub live_objects: u64,
    pub live_bytes: u64,
    pub quota_objects: u64,
    pub quota_bytes: u64,
    /// Bytes of server metadata charged for this client.
    pub metadata_bytes: u64,
    /// Its metadata quota (`u64::MAX`: bounded by the server's metadata budget only).
    pub quota_metadata: u64,
    /// Violations the server's debug checks found in its objects (see [`Client::violations`]).
    pub violations: u64,
}

/// `n * size`, or `SizeTooLarge` if the product overflows.
fn array_bytes(n: usize, size: usize) -> Result<usize, Failure> {
    n.checked_mul(size).ok_or(Failure::with(
        Error::SizeTooLarge,
        [n as u64, size as u64, 0],
    ))
}

/// Magazine slot used for a batch; calls are synchronous, so one slot suffices per client thread.
pub(crate) const SLOT: u64 = 0;

pub struct Client<T: Transport> {
    pub(crate) transport: T,
    pub(crate) msg: Message,
    pub(crate) batch: usize,
    core: u64,
    kmags: [Magazine; KMALLOC_CLASSES.len()],
    /// Bit `k`: kmalloc class `k` has debug checks at the server, so its blocks never stay in
    /// a magazine (each kmalloc and kfree is a message the server checks).
    kmalloc_checked: u64,
}

impl<T: Transport> Client<T> {
    /// Greets the server (version handshake) and returns the connected client.
    pub fn connect(transport: T, config: Config) -> Result<Self, Failure> {
        if config.batch > MAX_BATCH {
            return Err(Failure::with(
                Error::BadBatch,
                [config.batch as u64, MAX_BATCH as u64, 0],
            ));
        }
        let mut c = Client {
            transport,
            msg: Message::default(),
            batch: config.batch,
            core: 0,
            kmags: [const { Magazine::new() }; KMALLOC_CLASSES.len()],
            kmalloc_checked: 0,
        };
        let reply: HelloReply = c.call(HelloReq {
            version: PROTOCOL_VERSION,
        })?;
        if reply.max_batch < c.batch as u64 {
            c.batch = reply.max_batch as usize;
        }
        c.core = reply.core;
        c.kmalloc_checked = reply.kmalloc_checked;
        Ok(c)
    }

    /// The server core this client talks to.
    pub fn core(&self) -> u64 {
        self.core
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Messages sent so far.
    pub fn messages(&self) -> u64 {
        self.transport.messages()
    }

    /// Sends one fixed-size request and decodes its reply.
    pub(crate) fn call<O: Op>(&mut self, req: O) -> Result<O::Reply, Failure> {
        self.msg.label = O::LABEL.word();
        self.msg.len = req.encode(&mut self.msg.words);
        self.transport.call(&mut self.msg);
        self.reply::<O::Reply>()
    }

    pub(crate) fn call_request(&mut self, req: &Request<'_>) -> Result<(), Failure> {
        let (label, len) = req.encode(&mut self.msg.words);
        self.msg.label = label;
        self.msg.len = len;
        self.transport.call(&mut self.msg);
        if self.msg.label != 0 {
            return Err(self.failure());
        }
        Ok(())
    }

    fn failure(&self) -> Failure {
        let body = self.msg.words.get(..self.msg.len).unwrap_or(&[]);
        Failure::from_reply(self.msg.label, body)
    }

    pub(crate) fn reply<R: Body>(&self) -> Result<R, Failure> {
        if self.msg.label != 0 {
            return Err(self.failure());
        }
        let body = self
            .msg
            .words
            .get(..self.msg.len)
            .ok_or(Failure::new(Error::Internal))?;
        R::decode(body)
    }

    /// Sends a raw message (for tests of the server's validation); returns the reply.
    pub fn raw_call(&mut self, label: u64, words: &[u64]) -> (u64, &[u64]) {
        let n = words.len().min(MSG_MAX_WORDS);
        self.msg.label = label;
        self.msg.len = n;
        self.msg.words[..n].copy_from_slice(&words[..n]);
        self.transport.call(&mut self.msg);
        let len = self.msg.len.min(MSG_MAX_WORDS);
        (self.msg.label, &self.msg.words[..len])
    }

    pub fn stats(&mut self) -> Result<Stats, Failure> {
        let r: StatsReply = self.call(StatsReq {})?;
        Ok(Stats {
            live_objects: r.live_objects,
            live_bytes: r.live_bytes,
            quota_objects: r.quota_objects,
            quota_bytes: r.quota_bytes,
            metadata_bytes: r.metadata_bytes,
            quota_metadata: r.quota_metadata,
            violations: r.violations,
        })
    }

    /// kmalloc objects held in this client's magazines (live at the server, not in use here).
    pub fn kmalloc_cached(&self) -> usize {
        self.kmags.iter().map(|m| m.len()).sum()
    }

    /// Returns every kmalloc object held in magazines to the server.
    pub fn flush_kmalloc(&mut self) -> Result<(), Failure> {
        for class in 0..self.kmags.len() {
            while self.kmags[class].len() > 0 {
                let mut addrs = [0u64; MAX_BATCH];
                let n = self.kmags[class].take_bottom(MAX_BATCH, &mut addrs);
                self.kfree_drain(class, &addrs[..n])?;
            }
        }
        Ok(())
    }

    /// Leaves: everything this client owns returns to the server. Objects still in use become
    /// invalid.
    pub fn detach(mut self) -> Result<(), Failure> {
        self.call(DetachReq {}).map(|_| ())
    }

    /// `kmalloc(size)`: a block of at least `size` bytes. Sizes up to the largest class go through
    /// that class's magazine. Size 0 is `ZERO_SIZE_PTR` (16), as in Linux, with no message: not
    /// null, but no block (`kfree` of it does nothing, `ksize` of it is 0).
    pub fn kmalloc(&mut self, size: usize) -> Result<usize, Failure> {
        self.kmalloc_flags(size, 0)
    }

    /// `kzalloc(size)`: as `kmalloc`, zeroed.
    pub fn kzalloc(&mut self, size: usize) -> Result<usize, Failure> {
        self.kmalloc_flags(size, alloc_flags::ZERO)
    }

    /// The kmalloc class whose magazine serves `size`, if one does (not with magazines off,
    /// for a size of 0 or above the largest class, nor for a class with debug checks).
    #[inline]
    fn magazine_class(&self, size: usize) -> Option<usize> {
        match kmalloc_class(size as u64) {
            Some(class)
                if self.batch > 0 && size > 0 && self.kmalloc_checked & (1 << class) == 0 =>
            {
                Some(class)
            }
            _ => None,
        }
    }

    fn kmalloc_flags(&mut self, size: usize, flags: u64) -> Result<usize, Failure> {
        if size == 0 {
            return Ok(ZERO_SIZE_PTR as usize);
        }
        let class = match self.magazine_class(size) {
            Some(class) => class,
            None => {
                let r: KmallocReply = self.call(KmallocReq {
                    size: size as u64,
                    flags,
                })?;
                return Ok(r.addr as usize);
            }
        };
        let addr = match self.kmags[class].pop() {
            Some(a) => a,
            None => self.kmalloc_refill(class)?,
        };
        if flags & alloc_flags::ZERO != 0 {
            // SAFETY: `addr` is a kmalloc object of class `class` that the server handed to this
            // client and that nobody else holds (it was in our magazine); it spans the class size.
            unsafe { core::ptr::write_bytes(addr as *mut u8, 0, KMALLOC_CLASSES[class] as usize) };
        }
        Ok(addr)
    }

    #[cold]
    fn kmalloc_refill(&mut self, class: usize) -> Result<usize, Failure> {
        let r: KmallocRefillReply = self.call(KmallocRefillReq {
            size: KMALLOC_CLASSES[class],
            slot: SLOT,
            count: self.batch as u64,
            flags: 0,
        })?;
        let n = (r.count as usize).min(MAX_BATCH);
        let mut addrs = [0u64; MAX_BATCH];
        self.transport
            .magazine()
            .read_slot(SLOT as usize, &mut addrs[..n]);
        let (last, rest) = addrs[..n]
            .split_last()
            .ok_or(Failure::new(Error::Internal))?;
        self.kmags[class].extend(rest);
        Ok(*last as usize)
    }

    /// `kmalloc_node(size, flags, node)`: a block from memory node `node`, falling back to the
    /// nearest other node unless `flags` has [`alloc_flags::THISNODE`]; [`alloc_flags::ZERO`]
    /// zeroes it (`kzalloc_node`). One register-only message.
    pub fn kmalloc_node(&mut self, size: usize, flags: u64, node: u32) -> Result<usize, Failure> {
        let r: KmallocReply = self.call(KmallocNodeReq {
            size: size as u64,
            node: node as u64,
            flags,
        })?;
        Ok(r.addr as usize)
    }

    /// `krealloc(addr, new_size, flags)`: the block resized, in place when it fits its usable
    /// size, else moved (contents copied, the old block freed). Address 0 or `ZERO_SIZE_PTR`
    /// allocates; size 0 frees and returns `ZERO_SIZE_PTR`. With red zoning, the bytes beyond `new_size` become red zone and the
    /// bytes it grows over are zeroed; [`alloc_flags::ZERO`] zeroes what a moved block grows by.
    /// Refused: the old block is unchanged. One register-only message.
    pub fn krealloc(&mut self, addr: usize, new_size: usize, flags: u64) -> Result<usize, Failure> {
        let r: KmallocReply = self.call(KreallocReq {
            addr: addr as u64,
            size: new_size as u64,
            flags,
        })?;
        Ok(r.addr as usize)
    }

    /// `kmalloc_array(n, size)`: `n * size` bytes; an overflowing product is `SizeTooLarge`
    /// (detail: `[n, size]`).
    pub fn kmalloc_array(&mut self, n: usize, size: usize) -> Result<usize, Failure> {
        let bytes = array_bytes(n, size)?;
        self.kmalloc(bytes)
    }

    /// `kcalloc(n, size)`: `kmalloc_array`, zeroed.
    pub fn kcalloc(&mut self, n: usize, size: usize) -> Result<usize, Failure> {
        let bytes = array_bytes(n, size)?;
        self.kzalloc(bytes)
    }

    /// `kfree(addr)` without a size: one message (the stub cannot know the class); nothing
    /// for null and `ZERO_SIZE_PTR`, as in Linux.
    pub fn kfree(&mut self, addr: usize) -> Result<(), Failure> {
        if addr == 0 || addr == ZERO_SIZE_PTR as usize {
            return Ok(());
        }
        self.call(KfreeReq { addr: addr as u64 }).map(|_| ())
    }

    /// `kfree` of a block allocated with `kmalloc(size)`: goes through the class magazine
    /// (nothing for null and `ZERO_SIZE_PTR`).
    pub fn kfree_sized(&mut self, addr: usize, size: usize) -> Result<(), Failure> {
        if addr == 0 || addr == ZERO_SIZE_PTR as usize {
            return Ok(());
        }
        let class = match self.magazine_class(size) {
            Some(class) => class,
            None => return self.kfree(addr),
        };
        let limit = 2 * self.batch;
        if self.kmags[class].push(addr, limit) {
            return Ok(());
        }
        if self.kmags[class].top() == Some(addr) {
            return Err(Failure::with(Error::DoubleFree, [addr as u64, 0, 0]));
        }
        let mut addrs = [0u64; MAX_BATCH];
        let n = self.kmags[class].take_bottom(self.batch, &mut addrs);
        let r = self.kfree_drain(class, &addrs[..n]);
        if !self.kmags[class].push(addr, limit) {
            // Only after a refused drain: keep the freed block rather than lose it.
            self.kmags[class].extend(&[addr as u64]);
        }
        r
    }

    /// Returns `addrs` (taken from the magazine of `class`) to the server; on refusal the
    /// survivors go back into that magazine.
    fn kfree_drain(&mut self, class: usize, addrs: &[u64]) -> Result<(), Failure> {
        self.transport.magazine().write_slot(SLOT as usize, addrs);
        let r = self.call(KfreeDrainReq {
            slot: SLOT,
            count: addrs.len() as u64,
        });
        if let Err(f) = &r {
            let mut keep = [0; MAX_BATCH];
            self.kmags[class].extend(crate::magazine::survivors(f, addrs, &mut keep));
        }
        r.map(|_| ())
    }

    /// `ksize(addr)`: the usable size of a kmalloc block (0 for `ZERO_SIZE_PTR`).
    pub fn ksize(&mut self, addr: usize) -> Result<usize, Failure> {
        if addr == ZERO_SIZE_PTR as usize {
            return Ok(0);
        }
        let r: KsizeReply = self.call(KsizeReq { addr: addr as u64 })?;
        Ok(r.usable as usize)
    }

    /// Writes `/proc/slabinfo` text (both header lines, one row per cache) for this client's caches
    /// (`all == false`) or for every cache of the server. Rows travel in as many messages as needed.
    pub fn slabinfo(&mut self, all: bool, out: &mut impl core::fmt::Write) -> Result<(), Failure> {
        out.write_str(HEADER)
            .map_err(|_| Failure::new(Error::Internal))?;
        self.slabinfo_rows(all, |row| {
            let _ = row.write_line(out);
        })
    }

    /// Reads this client's violation log from `cursor` (0 at first, then the `next` of the
    /// previous call): calls `f` for each report, oldest first, as many as one reply holds.
    /// The returned head says where to continue (`next`), how many reports the server's bounded
    /// log overwrote before they were read (`lost`) and how many were ever logged (`total`);
    /// `next == total` means the log is read to its end.
    pub fn violations(
        &mut self,
        cursor: u64,
        mut f: impl FnMut(&ViolationRecord),
    ) -> Result<ViolationsHead, Failure> {
        self.call_request(&Request::Violations(ViolationsReq { cursor }))?;
        let body = &self.msg.words[..self.msg.len.min(MSG_MAX_WORDS)];
        let (head, records) = violations::decode(body)?;
        for r in records {
            f(&r);
        }
        Ok(head)
    }

    /// Calls `f` for every slabinfo row, in as many requests as needed: every cache (or, with
    /// `all`, every name) that exists during the whole walk comes exactly once, whatever other
    /// clients create or destroy meanwhile (see `memserver_protocol::slabinfo`).
    pub fn slabinfo_rows(
        &mut self,
        all: bool,
        mut f: impl FnMut(&SlabinfoRow<'_>),
    ) -> Result<(), Failure> {
        let mut cursor = 0;
        let mut after = [0u64; 4];
        loop {
            self.call_request(&Request::Slabinfo(SlabinfoReq {
                scope: all as u64,
                cursor,
                after0: after[0],
                after1: after[1],
                after2: after[2],
                after3: after[3],
            }))?;
            let body = &self.msg.words[..self.msg.len.min(MSG_MAX_WORDS)];
            let mut rows = RowReader::new(body)?;
            let mut last = None;
            while let Some(row) = rows.next_row() {
                let row = row?;
                f(&row);
                last = Some(row.name);
            }
            if rows.next == END {
                return Ok(());
            }
            // Each page must move the walk on: own scope towards older caches, server-wide
            // past the last name received.
            let last = last.ok_or(Failure::new(Error::BadCursor))?;
            if all {
                let words = name_words(last).ok_or(Failure::new(Error::BadCursor))?;
                // Byte order of the names: each word's bytes read as a big-endian number.
                let key = |w: [u64; 4]| w.map(|x| u64::from_be_bytes(x.to_ne_bytes()));
                if rows.next != MORE || (cursor == MORE && key(words) <= key(after)) {
                    return Err(Failure::new(Error::BadCursor));
                }
                after = words;
            } else if rows.next == 0 || (cursor != 0 && rows.next >= cursor) {
                return Err(Failure::new(Error::BadCursor));
            }
            cursor = rows.next;
        }
    }
}
