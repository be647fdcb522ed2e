//! The runtime's on-target tests: boot checks, echo clients in their own address spaces (4-word
//! and 120-word round trips, badges, instruction counts), faulting clients (fault endpoint),
//! threads of the root task on each core, and reclaiming a client's memory. Clients run one at a
//! time, each served to completion, so measurements see an idle system.

use crate::failure::{expect_eq, Failure};
use crate::harness::Harness;
use crate::images;
use core::sync::atomic::{AtomicU64, Ordering};
use harness_protocol::{
    check, echo4_reply, echo4_request, fault_mode, full_reply, full_request, label, ping_reply,
    shared_pattern, shared_reply, FAULT_ADDRESS, FULL_WORDS, HELLO_MAGIC, SHARED_PAGE_VADDR,
};
use sel4::cap_type::Endpoint;
use sel4::{
    init_thread, with_ipc_buffer, with_ipc_buffer_mut, BootInfo, Cap, CapRights, Fault,
    MessageInfo, ObjectBlueprint, Word,
};
use sel4_root_task::{
    spawn, spawn_local_thread, GrantedCap, LocalThreadSpec, LocalWindow, ObjectAllocator, Process,
    ProcessSpec, Scratch, SharedPage, DEFAULT_LOCAL_WINDOW_VADDR, DEFAULT_SCRATCH_VADDR,
};

/// Client priority: the root task's (the maximum), as the IPC fastpath requires.
const PRIORITY: u8 = 255;
/// Yields to wait for a client's first message or fault before giving up.
const POLL_YIELDS: usize = 10_000;
/// Fault badges are this bit plus the client id.
const FAULT_BADGE: Word = 0x8000;
/// Client CNode: 16 slots.
const CNODE_BITS: usize = 4;
/// Client stack pages.
const STACK_PAGES: usize = 4;
/// Each client's objects come from its own untyped of this size (reclaimed after its test).
const CLIENT_MEMORY_BITS: u8 = 20;
/// Root CNode slots for each client's objects.
const CLIENT_SLOTS: usize = 64;
/// The reclaim test's untyped: room for two faulting clients, not three.
const RECLAIM_MEMORY_BITS: u8 = 17;
/// Spawns in the reclaim test.
const RECLAIM_ROUNDS: Word = 3;

struct Echo {
    id: Word,
    badge: Word,
}

const ECHO_A: Echo = Echo { id: 1, badge: 0x11 };
const ECHO_B: Echo = Echo { id: 2, badge: 0x22 };

/// Badge of the local thread's endpoint.
const THREAD_BADGE: Word = 0x33;
/// What the root task writes for the local thread to read.
const SHARED_BEFORE: Word = 0x5eed_1234;
/// What the local thread XORs into it.
const SHARED_XOR: Word = 0xffff;
/// Memory shared between the root task and its local thread.
static SHARED: AtomicU64 = AtomicU64::new(0);

/// Everything the root task needs to spawn and serve clients.
pub struct Env {
    pub alloc: ObjectAllocator,
    pub scratch: Scratch,
    pub window: LocalWindow,
    pub root_cnode_bits: usize,
    endpoint: Cap<Endpoint>,
    fault_endpoint: Cap<Endpoint>,
}

/// What serving one echo client established.
#[derive(Debug, Default)]
struct EchoRun {
    hello: Option<(Word, Word)>,
    /// Word 0 of the shared page as the client read it, and word 1 as the harness read it.
    shared: Option<(Word, Word)>,
    badges_ok: bool,
    echo4: Option<Result<(), Failure>>,
    full: Option<Result<(), Failure>>,
    report: Option<[Word; 4]>,
}

/// Runs the boot check and sets up what the tests share (`None`: the failure is recorded).
pub fn boot(bootinfo: &BootInfo<'static>, h: &mut Harness) -> Option<Env> {
    h.record("root_task_boots", check_boot(bootinfo));
    match setup(bootinfo) {
        Ok(env) => Some(env),
        Err(why) => {
            h.record("client_task_starts", Err(why));
            None
        }
    }
}

/// Runs every test of the boot pipeline (issue 3) in order.
pub fn run_all(bootinfo: &BootInfo<'static>, env: &mut Env, h: &mut Harness) {
    let env = &mut *env;

    let a = run_echo(env, &ECHO_A);
    h.record(
        "client_task_starts",
        a.as_ref().map_err(|f| *f).and_then(|run| match run.hello {
            Some((id, magic)) => {
                expect_eq("HELLO id", ECHO_A.id, id)?;
                expect_eq("HELLO magic", HELLO_MAGIC, magic)
            }
            None => Err(Failure::NoMessage {
                waiting_for: "HELLO",
            }),
        }),
    );
    let a_run = a.ok();
    let client_checks = a_run.as_ref().and_then(|r| r.report).map_or(0, |r| r[0]);
    h.record(
        "round_trip_4_words",
        outcome(a_run.as_ref().and_then(|r| r.echo4), "4-word echo")
            .and_then(|()| client_bit(client_checks, check::ECHO4, "4-word reply")),
    );
    h.record(
        "round_trip_full_ipc_buffer",
        outcome(a_run.as_ref().and_then(|r| r.full), "120-word echo")
            .and_then(|()| client_bit(client_checks, check::FULL, "120-word reply")),
    );

    h.record(
        "page_shared_with_client",
        a_run
            .as_ref()
            .and_then(|r| r.shared)
            .ok_or(Failure::Prerequisite {
                what: "HELLO with the shared word",
            })
            .and_then(|(seen, written)| {
                expect_eq(
                    "word 0 as the client read it",
                    shared_pattern(ECHO_A.id),
                    seen,
                )?;
                expect_eq(
                    "word 1 as the harness read it",
                    shared_reply(ECHO_A.id),
                    written,
                )
            }),
    );
    h.record("untyped_watermark_matches_kernel", check_watermark(env));

    let b = run_echo(env, &ECHO_B);
    h.record(
        "badge_identifies_client",
        check_badges(a_run.as_ref(), b.as_ref()),
    );

    h.record(
        "client_fault_reported",
        run_faulter(env, 3, fault_mode::VM_FAULT).and_then(|fault| match fault {
            Fault::VmFault {
                addr,
                prefetch: false,
                ..
            } => expect_eq("fault address", FAULT_ADDRESS, addr),
            other => Err(Failure::WrongFault(other)),
        }),
    );
    h.record(
        "client_exception_reported",
        run_faulter(env, 4, fault_mode::UNDEFINED_INSTRUCTION).and_then(|fault| match fault {
            Fault::UserException { .. } => Ok(()),
            other => Err(Failure::WrongFault(other)),
        }),
    );

    h.record("thread_in_root_address_space", check_local_thread(env, 0));
    if bootinfo.num_nodes() > 1 {
        h.record("thread_on_second_core", check_local_thread(env, 1));
        h.record("second_core_runs_in_parallel", check_parallel(env));
    }
    h.record("client_memory_reclaimed", check_reclaim(env));

    h.record(
        "register_round_trip_instructions",
        check_measurements(h, a_run.as_ref()),
    );
}

fn outcome(result: Option<Result<(), Failure>>, what: &'static str) -> Result<(), Failure> {
    result.unwrap_or(Err(Failure::NoMessage { waiting_for: what }))
}

fn client_bit(checks: Word, bit: Word, what: &'static str) -> Result<(), Failure> {
    if checks & bit != 0 {
        Ok(())
    } else {
        Err(Failure::ClientCheck { what })
    }
}

fn check_boot(bootinfo: &BootInfo<'_>) -> Result<(), Failure> {
    let ram: Word = bootinfo
        .untyped_list()
        .filter(|u| !u.is_device)
        .map(|u| 1u64 << u.size_bits)
        .sum();
    if ram == 0 {
        return Err(Failure::Prerequisite {
            what: "RAM untyped memory in bootinfo",
        });
    }
    if bootinfo.empty().len() < 64 {
        return Err(Failure::Prerequisite {
            what: "empty slots in the root CNode",
        });
    }
    expect_eq(
        "bootinfo IPC buffer address",
        bootinfo.ipc_buffer_addr(),
        ipc_buffer_addr(),
    )?;
    expect_eq("node id", 0, bootinfo.node_id())
}

fn ipc_buffer_addr() -> Word {
    with_ipc_buffer(|ipc| ipc as *const _ as Word)
}

fn setup(bootinfo: &BootInfo<'_>) -> Result<Env, Failure> {
    let mut alloc = ObjectAllocator::new(bootinfo);
    let scratch = Scratch::new(&mut alloc, DEFAULT_SCRATCH_VADDR)?;
    let endpoint = alloc.allocate(ObjectBlueprint::Endpoint)?;
    let fault_endpoint = alloc.allocate(ObjectBlueprint::Endpoint)?;
    Ok(Env {
        alloc,
        scratch,
        window: LocalWindow::new(DEFAULT_LOCAL_WINDOW_VADDR),
        root_cnode_bits: usize::from(bootinfo.init_thread_cnode_size_bits()),
        endpoint,
        fault_endpoint,
    })
}

fn spawn_client(
    env: &mut Env,
    mem: &mut ObjectAllocator,
    elf: &[u8],
    fault_endpoint: Cap<Endpoint>,
    fault_badge: Word,
    caps: &[GrantedCap],
) -> Result<Process, Failure> {
    let spec = ProcessSpec {
        elf,
        priority: PRIORITY,
        cnode_size_bits: CNODE_BITS,
        stack_pages: STACK_PAGES,
        fault_endpoint,
        fault_badge,
        caps,
        affinity: 0,
    };
    Ok(spawn(mem, &mut env.scratch, init_thread::ASID_POOL, &spec)?)
}

/// Polls `ep` (whose senders all hold non-zero badges) for a message, yielding in between.
fn poll(
    ep: Cap<Endpoint>,
    waiting_for: &'static str,
) -> Result<(MessageInfo, Word, [Word; 4]), Failure> {
    for _ in 0..POLL_YIELDS {
        let (info, badge, mrs) = ep.nb_recv_with_mrs();
        if badge != 0 {
            return Ok((info, badge, mrs));
        }
        sel4::yield_now();
    }
    Err(Failure::NoMessage { waiting_for })
}

fn run_echo(env: &mut Env, echo: &Echo) -> Result<EchoRun, Failure> {
    let caps = [GrantedCap {
        src: init_thread::CNODE.relative(env.endpoint),
        rights: CapRights {
            write: true,
            read: false,
            grant: true,
        },
        badge: Some(echo.badge),
    }];
    let mut mem = env.alloc.child(CLIENT_MEMORY_BITS, CLIENT_SLOTS)?;
    // Echo clients fault to the serving endpoint itself, so a fault ends the serve loop.
    let (ep, badge) = (env.endpoint, FAULT_BADGE | echo.id);
    let mut process = spawn_client(env, &mut mem, images::ECHO, ep, badge, &caps)?;
    let shared = SharedPage::create(
        &mut mem,
        &mut process,
        SHARED_PAGE_VADDR as usize,
        &mut env.window,
        &mut env.alloc,
    )?;
    shared.write(0, shared_pattern(echo.id));
    process.start([echo.id, 0, 0, 0])?;
    let first = poll(env.endpoint, "HELLO from the echo client")?;
    let mut run = serve(env.endpoint, echo, first);
    if let Ok(r) = &mut run {
        if let Some((seen, _)) = r.shared {
            r.shared = Some((seen, shared.read(1).unwrap_or(0)));
        }
    }
    mem.reclaim()?;
    run
}

/// Serves one echo client until it says DONE.
fn serve(
    ep: Cap<Endpoint>,
    echo: &Echo,
    first: (MessageInfo, Word, [Word; 4]),
) -> Result<EchoRun, Failure> {
    let mut run = EchoRun {
        badges_ok: true,
        ..EchoRun::default()
    };
    let (mut info, mut badge, mut mrs) = first;
    loop {
        if badge == FAULT_BADGE | echo.id {
            let fault = Fault::decode(info.label(), |i| message_word(&mrs, i));
            return Err(Failure::Faulted(fault));
        }
        run.badges_ok &= badge == echo.badge;
        let length = info.length();
        let reply_length = match (info.label(), length) {
            (label::HELLO, 3) => {
                run.hello = Some((mrs[0], mrs[1]));
                run.shared = Some((mrs[2], 0));
                0
            }
            (label::ECHO, 4) => {
                let expected = echo4_request(echo.id);
                run.echo4 = Some(compare_words("4-word request", &expected, &mrs));
                mrs = echo4_reply(mrs);
                4
            }
            (label::ECHO, FULL_WORDS) => {
                run.full = Some(check_full_request(echo.id, &mrs));
                mrs = mrs.map(full_reply);
                with_ipc_buffer_mut(|ipc| {
                    for w in &mut ipc.msg[4..FULL_WORDS] {
                        *w = full_reply(*w);
                    }
                });
                FULL_WORDS
            }
            (label::PING, 4) | (label::PING5, 5) => {
                mrs = ping_reply(mrs);
                length
            }
            (label::REPORT, 4) => {
                run.report = Some(mrs);
                0
            }
            (label::DONE, _) => return Ok(run),
            (label, length) => return Err(Failure::UnexpectedMessage { label, length }),
        };
        let reply = MessageInfo::new(info.label(), 0, 0, reply_length);
        (info, badge) = ep.reply_recv_with_mrs(reply, &mut mrs);
    }
}

fn message_word(mrs: &[Word; 4], i: usize) -> Word {
    if i < 4 {
        mrs[i]
    } else {
        with_ipc_buffer(|ipc| ipc.msg[i])
    }
}

fn compare_words(what: &'static str, expected: &[Word], got: &[Word]) -> Result<(), Failure> {
    for (e, g) in expected.iter().zip(got) {
        expect_eq(what, *e, *g)?;
    }
    Ok(())
}

fn check_full_request(id: Word, mrs: &[Word; 4]) -> Result<(), Failure> {
    for i in 0..FULL_WORDS {
        expect_eq(
            "120-word request",
            full_request(id, i),
            message_word(mrs, i),
        )?;
    }
    Ok(())
}

fn check_badges(a: Option<&EchoRun>, b: Result<&EchoRun, &Failure>) -> Result<(), Failure> {
    let a = a.ok_or(Failure::Prerequisite {
        what: "echo client A",
    })?;
    let b = b.map_err(|f| *f)?;
    if !a.badges_ok || !b.badges_ok {
        return Err(Failure::Prerequisite {
            what: "every message carries its client's badge",
        });
    }
    expect_eq("client A HELLO id", ECHO_A.id, a.hello.map_or(0, |h| h.0))?;
    expect_eq("client B HELLO id", ECHO_B.id, b.hello.map_or(0, |h| h.0))
}

/// Spawns the faulting client in `mode` and waits for its fault on the fault endpoint.
fn run_faulter(env: &mut Env, id: Word, mode: Word) -> Result<Fault, Failure> {
    let mut mem = env.alloc.child(CLIENT_MEMORY_BITS, CLIENT_SLOTS)?;
    let fault = fault_in(env, &mut mem, id, mode);
    mem.reclaim()?;
    fault
}

fn fault_in(
    env: &mut Env,
    mem: &mut ObjectAllocator,
    id: Word,
    mode: Word,
) -> Result<Fault, Failure> {
    let ep = env.fault_endpoint;
    let process = spawn_client(env, mem, images::FAULTER, ep, FAULT_BADGE | id, &[])?;
    process.start([mode, 0, 0, 0])?;
    let (info, badge, mrs) = poll(ep, "fault message")?;
    expect_eq("fault badge", FAULT_BADGE | id, badge)?;
    Ok(Fault::decode(info.label(), |i| message_word(&mrs, i)))
}

/// Spawns a faulting client three times from an untyped with room for two: each time the fault
/// must arrive, and after reclaiming, the client's TCB slot must be empty and the memory usable.
fn check_reclaim(env: &mut Env) -> Result<(), Failure> {
    let mut mem = env.alloc.child(RECLAIM_MEMORY_BITS, CLIENT_SLOTS)?;
    for round in 0..RECLAIM_ROUNDS {
        let ep = env.fault_endpoint;
        let id = 0x10 + round;
        let process = spawn_client(env, &mut mem, images::FAULTER, ep, FAULT_BADGE | id, &[])?;
        process.start([fault_mode::VM_FAULT, 0, 0, 0])?;
        let (_, badge, _) = poll(ep, "fault message of a respawned client")?;
        expect_eq("fault badge", FAULT_BADGE | id, badge)?;
        mem.reclaim()?;
        if let Some(tag) = sel4::debug_cap_identify(process.tcb.bits()) {
            expect_eq("cap type in the reclaimed TCB's slot", 0, tag)?;
        }
    }
    Ok(())
}

fn check_measurements(h: &Harness, a: Option<&EchoRun>) -> Result<(), Failure> {
    let report = a.and_then(|r| r.report).ok_or(Failure::Prerequisite {
        what: "report of echo client A",
    })?;
    client_bit(report[0], check::PING, "measured replies")?;
    let (fast, slow) = (report[1], report[2]);
    h.measure("ipc_round_trip_4_registers_instructions", fast);
    h.measure("ipc_round_trip_5_words_instructions", slow);
    if fast == 0 || fast >= slow {
        return Err(Failure::Mismatch {
            what: "register-only round trip cheaper than 5 words",
            expected: slow,
            got: fast,
        });
    }
    Ok(())
}

/// A thread on `core` in the root task's own address space: it reads what the root task wrote to a
/// static, reports it over a badged endpoint, writes back, and the root task sees the write.
fn check_local_thread(env: &mut Env, core: usize) -> Result<(), Failure> {
    SHARED.store(SHARED_BEFORE, Ordering::SeqCst);
    let slot = env.alloc.slot()?;
    let rights = CapRights {
        write: true,
        read: false,
        grant: true,
    };
    init_thread::CNODE
        .relative_bits_with_depth(slot, sel4::WORD_BITS)
        .mint(
            &init_thread::CNODE.relative(env.endpoint),
            rights,
            THREAD_BADGE,
        )
        .map_err(|_| Failure::Prerequisite {
            what: "mint of the thread's endpoint",
        })?;
    let spec = LocalThreadSpec {
        entry: local_thread_main,
        arg: slot,
        stack_pages: 4,
        priority: PRIORITY,
        affinity: core,
        fault_endpoint: None,
        root_cnode_bits: env.root_cnode_bits,
        bound_notification: None,
    };
    let thread = spawn_local_thread(&mut env.alloc, &mut env.window, &spec)?;
    let (info, badge, mrs) = poll(env.endpoint, "HELLO from the local thread")?;
    expect_eq("local thread badge", THREAD_BADGE, badge)?;
    expect_eq("local thread label", label::HELLO, info.label())?;
    expect_eq("value the thread read", SHARED_BEFORE, mrs[0])?;
    sel4::reply_with_mrs(MessageInfo::new(label::HELLO, 0, 0, 0), &[0; 4]);
    let (info, badge, _) = poll(env.endpoint, "DONE from the local thread")?;
    thread
        .tcb
        .tcb_suspend()
        .map_err(|_| Failure::Prerequisite {
            what: "suspend of the local thread",
        })?;
    expect_eq("local thread badge", THREAD_BADGE, badge)?;
    expect_eq("local thread label", label::DONE, info.label())?;
    expect_eq(
        "value the thread wrote",
        SHARED_BEFORE ^ SHARED_XOR,
        SHARED.load(Ordering::SeqCst),
    )
}

extern "C" fn local_thread_main(endpoint_slot: Word) -> ! {
    let ep: Cap<Endpoint> = Cap::from_bits(endpoint_slot);
    let seen = SHARED.load(Ordering::SeqCst);
    let mut mrs = [seen, 0, 0, 0];
    ep.call_with_mrs(MessageInfo::new(label::HELLO, 0, 0, 1), &mut mrs);
    SHARED.store(seen ^ SHARED_XOR, Ordering::SeqCst);
    loop {
        let mut mrs = [0; 4];
        ep.call_with_mrs(MessageInfo::new(label::DONE, 0, 0, 0), &mut mrs);
    }
}

/// Value the root task publishes for the parallel thread.
const GO: Word = 0x60;
/// Iterations the parallel thread waits for [`GO`].
const SPIN_LIMIT: Word = 10_000_000;

/// A thread on core 1 with a higher priority than the root task spins (boundedly) until the
/// root task writes [`GO`]: on the same core the root task could not run during the spin, so
/// seeing `GO` proves the two ran in parallel on different cores.
fn check_parallel(env: &mut Env) -> Result<(), Failure> {
    SHARED.store(0, Ordering::SeqCst);
    let slot = env.alloc.slot()?;
    let rights = CapRights {
        write: true,
        read: false,
        grant: true,
    };
    init_thread::CNODE
        .relative_bits_with_depth(slot, sel4::WORD_BITS)
        .mint(
            &init_thread::CNODE.relative(env.endpoint),
            rights,
            THREAD_BADGE,
        )
        .map_err(|_| Failure::Prerequisite {
            what: "mint of the thread's endpoint",
        })?;
    let lower = PRIORITY - 1;
    init_thread::TCB
        .tcb_set_priority(lower)
        .map_err(|_| Failure::Prerequisite {
            what: "lowering the root task's priority",
        })?;
    let spec = LocalThreadSpec {
        entry: parallel_thread_main,
        arg: slot,
        stack_pages: 4,
        priority: PRIORITY,
        affinity: 1,
        fault_endpoint: None,
        root_cnode_bits: env.root_cnode_bits,
        bound_notification: None,
    };
    let result = spawn_local_thread(&mut env.alloc, &mut env.window, &spec)
        .map_err(Failure::from)
        .and_then(|thread| {
            SHARED.store(GO, Ordering::SeqCst);
            let (_, badge, mrs) = poll(env.endpoint, "report of the parallel thread")?;
            let _ = thread.tcb.tcb_suspend();
            expect_eq("parallel thread badge", THREAD_BADGE, badge)?;
            expect_eq("parallel thread saw GO while spinning", 1, mrs[0])
        });
    init_thread::TCB
        .tcb_set_priority(PRIORITY)
        .map_err(|_| Failure::Prerequisite {
            what: "restoring the root task's priority",
        })?;
    result
}

extern "C" fn parallel_thread_main(endpoint_slot: Word) -> ! {
    let ep: Cap<Endpoint> = Cap::from_bits(endpoint_slot);
    let mut seen = 0;
    for _ in 0..SPIN_LIMIT {
        if SHARED.load(Ordering::SeqCst) == GO {
            seen = 1;
            break;
        }
        core::hint::spin_loop();
    }
    loop {
        let mut mrs = [seen, 0, 0, 0];
        ep.call_with_mrs(MessageInfo::new(label::REPORT, 0, 0, 1), &mut mrs);
    }
}

/// Retypes an endpoint (forcing an alignment gap), a run of frames and a TCB from a fresh child
/// untyped and checks every frame's physical address, as the kernel reports it, against the
/// allocator's mirror of the untyped's watermark.
fn check_watermark(env: &mut Env) -> Result<(), Failure> {
    let mut mem = env.alloc.child(CLIENT_MEMORY_BITS, CLIENT_SLOTS)?;
    let result = (|| {
        mem.allocate::<Endpoint>(ObjectBlueprint::Endpoint)?;
        let run = mem.allocate_run(ObjectBlueprint::SmallPage, 16)?;
        mem.allocate::<sel4::cap_type::Tcb>(ObjectBlueprint::Tcb)?;
        let last = mem.allocate_run(ObjectBlueprint::SmallPage, 1)?;
        for i in 0..run.count {
            let frame = Cap::<sel4::cap_type::Granule>::from_bits(run.first_slot + i as Word);
            let paddr = frame
                .frame_get_address()
                .map_err(|_| Failure::Prerequisite {
                    what: "Page_GetAddress",
                })?;
            expect_eq("frame physical address", run.paddr(i).unwrap_or(0), paddr)?;
            expect_eq(
                "slot found from the address",
                frame.bits(),
                run.slot_of_paddr(paddr + 100).unwrap_or(0),
            )?;
        }
        let frame = Cap::<sel4::cap_type::Granule>::from_bits(last.first_slot);
        let paddr = frame
            .frame_get_address()
            .map_err(|_| Failure::Prerequisite {
                what: "Page_GetAddress",
            })?;
        // The TCB (2 KiB) after 16 pages leaves the next page 4 KiB further on.
        expect_eq("page after the TCB", run.first_paddr + 17 * 4096, paddr)?;
        expect_eq("same page from the run", last.first_paddr, paddr)
    })();
    mem.reclaim()?;
    result
}
