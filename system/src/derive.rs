//! What follows from a checked [`System`]: the physical memory regions, the QEMU arguments, the
//! kernel's configuration, the configuration embedded in the image, and the check of a client
//! ELF against its window. Nothing here is configured anywhere else.
use crate::config::{ClientConfig, ImageConfig, Node};
use crate::description::{ClientSource, System};
use crate::limits;
use std::fmt;
use std::format;
use std::prelude::v1::*;

impl System {
    /// Physical RAM of each node: consecutive from [`limits::RAM_BASE`], in node order.
    pub fn node_ranges(&self) -> Vec<Node> {
        let mut start = limits::RAM_BASE;
        self.nodes
            .iter()
            .map(|n| {
                let node = Node {
                    start,
                    end: start + n.bytes,
                };
                start = node.end;
                node
            })
            .collect()
    }

    /// The node of each core.
    pub fn core_node(&self) -> Vec<u8> {
        (0..self.cores)
            .map(|c| {
                self.nodes
                    .iter()
                    .position(|n| n.cores.contains(&c))
                    .expect("a checked description puts every core on a node") as u8
            })
            .collect()
    }

    /// The distinct client image sources, in first-use order; clients sharing a source share
    /// an image.
    pub fn image_sources(&self) -> Vec<ClientSource> {
        let mut out: Vec<ClientSource> = Vec::new();
        for c in &self.clients {
            if !out.contains(&c.source) {
                out.push(c.source.clone());
            }
        }
        out
    }

    /// The configuration embedded in the image; client `i`'s image is the index of its source
    /// in [`System::image_sources`].
    pub fn image_config(&self) -> ImageConfig {
        let sources = self.image_sources();
        let nodes = self.node_ranges();
        let distance = (0..nodes.len())
            .map(|a| {
                (0..nodes.len())
                    .map(|b| {
                        if a == b {
                            limits::LOCAL_DISTANCE
                        } else {
                            limits::REMOTE_DISTANCE
                        }
                    })
                    .collect()
            })
            .collect();
        ImageConfig {
            cores: self.cores,
            nodes,
            core_node: self.core_node(),
            distance,
            clients: self
                .clients
                .iter()
                .map(|c| ClientConfig {
                    name: c.name.clone(),
                    image: sources
                        .iter()
                        .position(|s| *s == c.source)
                        .expect("every source is listed") as u32,
                    cores: c.cores.clone(),
                    quota: c.quota,
                    debug: c.debug.clone(),
                    start: c.start,
                    supervisor: c.supervisor,
                })
                .collect(),
            server: self.server,
        }
    }

    /// QEMU's machine arguments: `-m`, `-smp`, one RAM backend and one `-numa node` per node
    /// (with its cores).
    pub fn qemu_args(&self) -> Vec<String> {
        let mib = |b: u64| format!("{}M", b >> 20);
        let mut args = vec_of(&[
            "-m",
            &mib(self.ram_bytes()),
            "-smp",
            &self.cores.to_string(),
        ]);
        for (i, n) in self.nodes.iter().enumerate() {
            args.push("-object".into());
            args.push(format!(
                "memory-backend-ram,id=ram{i},size={}",
                mib(n.bytes)
            ));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let cpus: String = n.cores.iter().map(|c| format!(",cpus={c}")).collect();
            args.push("-numa".into());
            args.push(format!("node,nodeid={i}{cpus},memdev=ram{i}"));
        }
        args
    }

    /// What the kernel build depends on.
    pub fn kernel_settings(&self) -> KernelSettings {
        KernelSettings {
            cores: self.cores,
            ram_end: limits::RAM_BASE + self.ram_bytes(),
            root_cnode_bits: root_cnode_bits(self.ram_bytes()),
        }
    }
}

/// Size of the root task's CNode, as a power of two: room for the capabilities of the root
/// task's own image (which embeds every client image), its untypeds, client objects, and the
/// page tables of the server window and of the clients' heap windows (one per 2 MiB of RAM in
/// each); at least the 4096 slots of a default build.
pub fn root_cnode_bits(ram_bytes: u64) -> u8 {
    let slots = 2 * (ram_bytes >> 21) + limits::ROOT_CNODE_BASE_SLOTS;
    (slots.next_power_of_two().trailing_zeros() as u8).max(12)
}

fn vec_of(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The kernel configuration a system needs (besides the debug/release flavour).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KernelSettings {
    /// `CONFIG_MAX_NUM_NODES`.
    pub cores: u32,
    /// End of RAM (exclusive): the kernel's one available physical region is
    /// `[limits::RAM_BASE, ram_end)`.
    pub ram_end: u64,
    /// `CONFIG_ROOT_CNODE_SIZE_BITS` ([`root_cnode_bits`]).
    pub root_cnode_bits: u8,
}

impl KernelSettings {
    /// A name for its build folder (`2core-1024M`).
    pub fn name(&self) -> String {
        format!(
            "{}core-{}M",
            self.cores,
            (self.ram_end - limits::RAM_BASE) >> 20
        )
    }

    /// Applies the settings to the flavour's `autoconf.h` text, which must define
    /// `CONFIG_MAX_NUM_NODES 1` and `CONFIG_ROOT_CNODE_SIZE_BITS 12`: sets the core count and
    /// the root CNode size, and adds `CONFIG_MEMSERVER_RAM_END`, read by the `virt` platform's
    /// `avail_p_regs`. `None` when the template lacks one of the lines.
    pub fn apply(&self, template: &str) -> Option<String> {
        let key = "#define CONFIG_MAX_NUM_NODES 1\n";
        let cnode = "#define CONFIG_ROOT_CNODE_SIZE_BITS 12\n";
        if !template.contains(key)
            || !template.contains(cnode)
            || template.contains("CONFIG_MEMSERVER_RAM_END")
        {
            return None;
        }
        let template = template.replace(
            cnode,
            &format!(
                "#define CONFIG_ROOT_CNODE_SIZE_BITS {}\n",
                self.root_cnode_bits
            ),
        );
        Some(template.replace(
            key,
            &format!(
                "#define CONFIG_MAX_NUM_NODES {}\n\
                 /* memserver: end of RAM, from the system description */\n\
                 #define CONFIG_MEMSERVER_RAM_END 0x{:x}\n",
                self.cores, self.ram_end
            ),
        ))
    }
}

/// Why a client ELF cannot be its client's image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Not a 64-bit little-endian aarch64 executable ELF.
    NotElf(&'static str),
    /// A loadable segment outside the client image window.
    OutsideWindow { vaddr: u64, end: u64 },
    /// More pages than the window allows.
    TooLarge { pages: u64, max: u64 },
    /// No loadable segment.
    Empty,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::NotElf(why) => write!(f, "not an aarch64 ELF executable: {why}"),
            ImageError::OutsideWindow { vaddr, end } => write!(
                f,
                "a segment at {vaddr:#x}..{end:#x} leaves the client image window {:#x}..{:#x} \
                 (link at 0x400000 with sel4/runtime/task.ld)",
                limits::CLIENT_IMAGE_START,
                limits::CLIENT_IMAGE_END
            ),
            ImageError::TooLarge { pages, max } => write!(
                f,
                "{pages} pages of segments: a client image holds at most {max} pages ({} KiB)",
                max * 4
            ),
            ImageError::Empty => write!(f, "no loadable segment"),
        }
    }
}

/// Pages a client image occupies, after checking it fits its window.
pub fn check_client_elf(elf: &[u8]) -> Result<u64, ImageError> {
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        elf.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    let u64_at = |at: usize| {
        elf.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    if elf.get(..4) != Some(b"\x7fELF") {
        return Err(ImageError::NotElf("no ELF magic"));
    }
    if elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err(ImageError::NotElf("not 64-bit little-endian"));
    }
    if u16_at(16) != Some(2) {
        return Err(ImageError::NotElf("not an executable (ET_EXEC)"));
    }
    if u16_at(18) != Some(183) {
        return Err(ImageError::NotElf("not for aarch64"));
    }
    let short = ImageError::NotElf("truncated program headers");
    let phoff = u64_at(32).ok_or(short.clone())? as usize;
    let phentsize = u16_at(54).ok_or(short.clone())? as usize;
    let phnum = u16_at(56).ok_or(short.clone())? as usize;
    let mut pages = 0u64;
    let mut any = false;
    for i in 0..phnum {
        let at = phoff.saturating_add(i.saturating_mul(phentsize));
        if u32_at(at).ok_or(short.clone())? != 1 {
            continue; // not PT_LOAD
        }
        let vaddr = u64_at(at + 16).ok_or(short.clone())?;
        let memsz = u64_at(at + 40).ok_or(short.clone())?;
        if memsz == 0 {
            continue;
        }
        any = true;
        let end = vaddr.saturating_add(memsz);
        if vaddr < limits::CLIENT_IMAGE_START || end > limits::CLIENT_IMAGE_END {
            return Err(ImageError::OutsideWindow { vaddr, end });
        }
        pages += end.div_ceil(4096) - vaddr / 4096;
    }
    if !any {
        return Err(ImageError::Empty);
    }
    if pages > limits::CLIENT_IMAGE_MAX_PAGES {
        return Err(ImageError::TooLarge {
            pages,
            max: limits::CLIENT_IMAGE_MAX_PAGES,
        });
    }
    Ok(pages)
}
