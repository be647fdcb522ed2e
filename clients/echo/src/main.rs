//! Harness client: says hello with its id, echoes 4 register words and a full 120-word IPC
//! buffer, checks the replies, measures register-only and 5-word round trips with the PMU cycle
//! counter (guest instructions under QEMU `-icount shift=0`), reports, and says done.
//! Start arguments: x0 = its id. Slot `FIRST_GRANTED` holds its badged endpoint to the harness;
//! a page shared with the harness is mapped at `SHARED_PAGE_VADDR`.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![no_std]
#![no_main]

use harness_protocol::{
    check, echo4_reply, echo4_request, full_reply, full_request, label, ping_reply,
};
use harness_protocol::{shared_reply, FULL_WORDS, HELLO_MAGIC, MEASURE_ROUNDS, SHARED_PAGE_VADDR};
use sel4::cap_type::Endpoint;
use sel4::{pmu, with_ipc_buffer, with_ipc_buffer_mut, Cap, MessageInfo, Word};

/// Slot of the endpoint (the first granted capability: see `sel4_root_task::child_slots`).
const SERVER: Cap<Endpoint> = Cap::from_bits(2);

sel4_runtime::declare_child_task!(main);

fn main(args: [Word; 4]) {
    let id = args[0];
    let shared = SHARED_PAGE_VADDR as *mut Word;
    // SAFETY: the harness maps a read-write page at SHARED_PAGE_VADDR before starting this task
    // (harness protocol); volatile because the harness reads and writes it too.
    let seen = unsafe { core::ptr::read_volatile(shared) };
    // SAFETY: as above; word 1 lies in the same page.
    unsafe { core::ptr::write_volatile(shared.add(1), shared_reply(id)) };
    let mut mrs = [id, HELLO_MAGIC, seen, 0];
    SERVER.call_with_mrs(MessageInfo::new(label::HELLO, 0, 0, 3), &mut mrs);

    let mut checks = 0;
    let req = echo4_request(id);
    let mut mrs = req;
    let reply = SERVER.call_with_mrs(MessageInfo::new(label::ECHO, 0, 0, 4), &mut mrs);
    if reply.length() == 4 && mrs == echo4_reply(req) {
        checks |= check::ECHO4;
    }

    with_ipc_buffer_mut(|ipc| {
        for (i, w) in ipc.msg.iter_mut().enumerate() {
            *w = full_request(id, i);
        }
    });
    let reply = SERVER.call(MessageInfo::new(label::ECHO, 0, 0, FULL_WORDS));
    let full_ok = with_ipc_buffer(|ipc| {
        (0..FULL_WORDS).all(|i| ipc.msg[i] == full_reply(full_request(id, i)))
    });
    if reply.length() == FULL_WORDS && full_ok {
        checks |= check::FULL;
    }

    let (fast, fast_ok) = measure(label::PING, 4);
    let (slow, slow_ok) = measure(label::PING5, 5);
    if fast_ok && slow_ok {
        checks |= check::PING;
    }

    let mut mrs = [checks, fast, slow, id];
    SERVER.call_with_mrs(MessageInfo::new(label::REPORT, 0, 0, 4), &mut mrs);
    let mut mrs = [id, 0, 0, 0];
    SERVER.call_with_mrs(MessageInfo::new(label::DONE, 0, 0, 1), &mut mrs);
}

/// Minimum instructions of one round trip with `length` words, over a warm-up and
/// `MEASURE_ROUNDS` rounds; and whether every reply was right.
fn measure(lbl: Word, length: usize) -> (Word, bool) {
    let mut best = Word::MAX;
    let mut ok = true;
    for round in 0..MEASURE_ROUNDS + 2 {
        let req = [round as Word, 10, 20, 30];
        let mut mrs = req;
        if length > 4 {
            with_ipc_buffer_mut(|ipc| ipc.msg[4] = 40);
        }
        let t0 = pmu::cycle_counter();
        let reply = SERVER.call_with_mrs(MessageInfo::new(lbl, 0, 0, length), &mut mrs);
        let t1 = pmu::cycle_counter();
        ok &= reply.length() == length && mrs == ping_reply(req);
        if round >= 2 {
            best = best.min(t1.wrapping_sub(t0));
        }
    }
    (best, ok)
}
