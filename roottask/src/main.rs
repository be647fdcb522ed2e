//! The seL4 root task: the memory server. It boots, turns RAM untyped memory into the buddy zones
//! of the memory server, starts one serve loop per core, starts the client tasks the image's
//! system description lists to start at boot (from ELF images embedded at build time, see
//! build.rs), and serves them; clients listed to start on request are started by a client the
//! description grants the supervisor interface. Once no client is left, it says so and halts.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod client_window;
mod clients;
mod frames;
mod handout;
mod heap;
mod profile;
mod service;
mod staging;
mod supervisor;
mod system;

use alloc::vec::Vec;
use clients::{ClientSpec, Spawner, CLIENT_MEMORY_BITS};
use frames::Sel4Platform;
use sel4::{init_thread, BootInfo, Cap, CapRights, Word};
use sel4_root_task::{
    debug_println, spawn_local_thread, LocalThreadSpec, LocalWindow, ObjectAllocator, Scratch,
    DEFAULT_LOCAL_WINDOW_VADDR, DEFAULT_SCRATCH_VADDR,
};
use service::MemServer;

sel4_root_task::declare_root_task!(main);

/// Priority of the server threads: the root task's and the clients' (the IPC fastpath needs it).
const PRIORITY: u8 = 255;

/// The memory server, shared by the serve loops of all cores.
static MEMSERVER: spin::Once<MemServer> = spin::Once::new();

fn main(bootinfo: &BootInfo<'static>) -> ! {
    debug_println!(
        "memserver root task: {} untyped caps, {} empty slots, node {} of {}",
        bootinfo.untyped().len(),
        bootinfo.empty().len(),
        bootinfo.node_id(),
        bootinfo.num_nodes()
    );
    match boot(bootinfo) {
        Ok(ms) => ms.serve(0),
        Err(what) => {
            debug_println!("memserver: boot failed: {what}");
            sel4::debug_halt()
        }
    }
}

/// Builds the server and starts the serve loops of the other cores and the boot clients.
fn boot(bootinfo: &BootInfo<'static>) -> Result<&'static MemServer, alloc::string::String> {
    use alloc::format;
    let mut alloc = ObjectAllocator::new(bootinfo);
    if let Err(e) = sel4_root_task::init_uart_console(bootinfo, &mut alloc) {
        // Nothing can be printed on a release kernel without it; on a debug kernel this line shows.
        debug_println!("memserver: console on the UART: {}", e.what());
    }
    let heap_bytes = heap::bytes_for(bootinfo);
    heap::init(&mut alloc, heap_bytes).map_err(|e| format!("heap of {heap_bytes} bytes: {e:?}"))?;
    debug_println!("memserver: heap of {} MiB", heap_bytes >> 20);
    let scratch =
        Scratch::new(&mut alloc, DEFAULT_SCRATCH_VADDR).map_err(|e| format!("scratch: {e:?}"))?;
    let platform =
        Sel4Platform::build_measured(&mut alloc).map_err(|e| format!("platform: {e}"))?;
    let cores = bootinfo.num_nodes() as usize;
    let topology = system::topology(cores).map_err(|e| format!("topology: {e}"))?;
    let specs = client_specs()?;
    let max_batch = system::config()
        .map_err(|e| format!("system: {e}"))?
        .server
        .max_batch as usize;
    let capacity = (alloc.untyped_pool().free_bytes() >> CLIENT_MEMORY_BITS) as usize;
    let spawner = Spawner {
        alloc,
        scratch,
        window: LocalWindow::new(DEFAULT_LOCAL_WINDOW_VADDR),
        spare: Vec::new(),
    };
    let mut ms = MemServer::new(platform, topology, specs, spawner, capacity, max_batch)
        .map_err(|e| format!("server: {e}"))?;
    ms.frames_checked = match check_frames(&ms) {
        Ok(()) => true,
        Err(what) => {
            debug_println!("memserver: frame self-check failed: {what}");
            false
        }
    };
    print_zones(&ms);
    let ms: &'static MemServer = MEMSERVER.call_once(|| ms);
    let root_cnode_bits = usize::from(bootinfo.init_thread_cnode_size_bits());
    for core in 1..cores {
        start_server_thread(ms, core, root_cnode_bits)?;
    }
    ms.start_boot_clients();
    Ok(ms)
}

/// A server thread: serves its core's endpoint forever.
extern "C" fn server_thread(core: Word) -> ! {
    loop {
        if let Some(ms) = MEMSERVER.get() {
            ms.serve(core as usize);
        }
        sel4::yield_now();
    }
}

/// One server thread pinned to `core`, in the root task's address space, its stop notification
/// bound before it runs; its faults go to core 0's endpoint (badge `SERVER_FAULT_BIT | core`).
fn start_server_thread(
    ms: &MemServer,
    core: usize,
    root_cnode_bits: usize,
) -> Result<(), alloc::string::String> {
    let failed = |what: &str| alloc::format!("server thread for core {core}: {what}");
    let mut sp = ms.spawner.lock();
    let sp = &mut *sp;
    let slot = sp
        .alloc
        .slot()
        .map_err(|e| failed(&alloc::format!("{e:?}")))?;
    let rights = CapRights {
        write: true,
        read: false,
        grant: true,
    };
    init_thread::CNODE
        .relative_bits_with_depth(slot, sel4::WORD_BITS)
        .mint(
            &init_thread::CNODE.relative(ms.endpoints[0]),
            rights,
            service::SERVER_FAULT_BIT | core as Word,
        )
        .map_err(|e| failed(&alloc::format!("its fault endpoint: {e:?}")))?;
    let spec = LocalThreadSpec {
        entry: server_thread,
        arg: core as Word,
        stack_pages: 64,
        priority: PRIORITY,
        affinity: core,
        fault_endpoint: Some(sel4::CPtr::from_bits(slot)),
        root_cnode_bits,
        bound_notification: Some(ms.stop_objects[core]),
    };
    spawn_local_thread(&mut sp.alloc, &mut sp.window, &spec)
        .map(drop)
        .map_err(|e| failed(&alloc::format!("{e:?}")))
}

/// The frame capability found by arithmetic from a server address is the frame at that address
/// (three frames per zone, checked with `Page_GetAddress` on a copy).
fn check_frames(ms: &MemServer) -> Result<(), &'static str> {
    let p = ms.platform;
    let nodes = system::config()
        .map_err(|_| "system configuration")?
        .nodes
        .len();
    if (0..nodes).any(|n| !p.zones().iter().any(|z| z.node.0 as usize == n)) {
        return Err("a zone on every memory node");
    }
    let temp = p.temp_slot(0);
    for z in p.zones() {
        if p.node_of(z.vaddr) != Some(z.node) {
            return Err("node of the zone's memory");
        }
        for i in [0, z.frames / 3, z.frames - 1] {
            let vaddr = z.vaddr + i * sel4::PAGE_SIZE;
            let frame = p.frame_of(vaddr).ok_or("frame of a zone address")?;
            let slot = init_thread::CNODE.relative_bits_with_depth(temp, sel4::WORD_BITS);
            slot.copy(&p.frame_cap(frame), CapRights::read_write())
                .map_err(|_| "copy of a frame cap")?;
            let got = Cap::<sel4::cap_type::Granule>::from_bits(temp).frame_get_address();
            let _ = slot.delete();
            if got.ok() != p.paddr_of(vaddr) {
                return Err("physical address of the frame found by arithmetic");
            }
        }
    }
    Ok(())
}

fn print_zones(ms: &MemServer) {
    let p = ms.platform;
    debug_println!(
        "memserver: {} frames in {} zones; room for {} clients",
        p.total_frames(),
        p.zones().len(),
        ms.capacity()
    );
    let (budget, free) = ms.server.metadata_budget();
    debug_println!(
        "memserver: {} KiB of heap for client metadata ({} KiB unreserved)",
        budget >> 10,
        free >> 10
    );
    for z in p.zones() {
        debug_println!(
            "memserver: node {} phys {:#x} at server {:#x}",
            z.node.0,
            z.paddr,
            z.vaddr
        );
    }
}

/// The clients of the image's system description (their images are in the blob).
fn client_specs() -> Result<Vec<ClientSpec>, alloc::string::String> {
    let (config, images) = system::load().map_err(|e| alloc::format!("system: {e}"))?;
    config
        .clients
        .iter()
        .map(|c| {
            let elf = images
                .get(c.image)
                .ok_or_else(|| alloc::format!("client {}: no image {}", c.name, c.image))?;
            Ok(ClientSpec {
                name: c.name.clone(),
                elf,
                cores: c.cores.iter().map(|&k| k as usize).collect(),
                quota: memserver::server::Quota {
                    objects: c.quota.objects,
                    bytes: c.quota.bytes,
                    metadata: c.quota.metadata_bytes,
                },
                at_boot: c.start == memserver_system::Start::AtBoot,
                supervisor: c.supervisor,
                debug: c.debug.clone(),
            })
        })
        .collect()
}
