//! One test per kind of bad description, and the derivations of a good one.
use super::*;
use crate::derive::{check_client_elf, ImageError};
use crate::slab_debug::DebugErrorKind;

const GOOD: &str = r#"
[machine]
cores = 2

[[machine.node]]
memory = "512 MiB"
cores = [0]

[[machine.node]]
memory = "512 MiB"
cores = [1]

[server]
max_batch = 32

[[client]]
name = "alpha"
crate = "../clients/ms-alpha"
cores = [1, 0]
quota = { objects = 1000, bytes = "4 MiB" }
debug = "FZ,cache_a"

[[client]]
name = "beta"
elf = "beta.elf"
build = "make"
cores = [1]
start = "on-request"
supervisor = true

[[client]]
name = "alpha-2"
crate = "../clients/ms-alpha"
cores = [0]
"#;

fn parse(text: &str) -> Result<System, DescriptionError> {
    parse_str(text, "systems/x.toml")
}

/// The error of `GOOD` with `from` replaced by `to` (which must occur).
fn bad(from: &str, to: &str) -> DescriptionError {
    assert!(GOOD.contains(from), "{from}");
    let e = parse(&GOOD.replacen(from, to, 1)).unwrap_err();
    assert_eq!(e.file, "systems/x.toml");
    e
}

#[test]
fn a_good_description_parses_with_defaults() {
    let s = parse(GOOD).unwrap();
    assert_eq!(s.cores, 2);
    assert_eq!(s.ram_bytes(), 1 << 30);
    assert_eq!(s.server.max_batch, 32);
    assert_eq!(s.server.memory_per_node, u64::MAX);
    assert_eq!(s.clients.len(), 3);
    let a = &s.clients[0];
    assert_eq!(a.cores, [0, 1]);
    assert_eq!(
        a.quota,
        Quota {
            objects: 1000,
            bytes: 4 << 20,
            metadata_bytes: u64::MAX
        }
    );
    assert_eq!(a.start, Start::AtBoot);
    assert_eq!(
        a.source,
        ClientSource::Crate(PathBuf::from("../clients/ms-alpha"))
    );
    assert_eq!(s.clients[1].start, Start::OnRequest);
    assert!(s.clients[1].supervisor && !a.supervisor);
    assert_eq!(s.clients[1].quota, Quota::UNLIMITED);
    assert_eq!(
        s.resolve(Path::new("beta.elf")),
        Path::new("systems/beta.elf")
    );
}

#[test]
fn derivations_follow_the_description() {
    let s = parse(GOOD).unwrap();
    let ranges = s.node_ranges();
    assert_eq!(ranges[0].start, 0x4000_0000);
    assert_eq!(ranges[0].end, 0x6000_0000);
    assert_eq!(ranges[1].start, 0x6000_0000);
    assert_eq!(ranges[1].end, 0x8000_0000);
    let c = s.image_config();
    assert_eq!(c.core_node, [0, 1]);
    assert_eq!(c.distance, [[10, 20], [20, 10]]);
    // Two clients of one crate share its image.
    assert_eq!(s.image_sources().len(), 2);
    assert_eq!(
        c.clients.iter().map(|c| c.image).collect::<Vec<_>>(),
        [0, 1, 0]
    );
    assert_eq!(c.check(2), Ok(()));
    assert_eq!(
        s.qemu_args().join(" "),
        "-m 1024M -smp 2 \
         -object memory-backend-ram,id=ram0,size=512M \
         -object memory-backend-ram,id=ram1,size=512M \
         -numa node,nodeid=0,cpus=0,memdev=ram0 \
         -numa node,nodeid=1,cpus=1,memdev=ram1"
    );
    let k = s.kernel_settings();
    assert_eq!(k.name(), "2core-1024M");
    assert_eq!(k.root_cnode_bits, 16);
    let conf = k
        .apply("#define CONFIG_A 1\n#define CONFIG_MAX_NUM_NODES 1\n#define CONFIG_ROOT_CNODE_SIZE_BITS 12\n")
        .unwrap();
    assert!(conf.contains("#define CONFIG_MAX_NUM_NODES 2\n"));
    assert!(conf.contains("#define CONFIG_ROOT_CNODE_SIZE_BITS 16\n"));
    assert!(conf.contains("#define CONFIG_MEMSERVER_RAM_END 0x80000000\n"));
    assert_eq!(k.apply("#define CONFIG_A 1\n"), None);
}

#[test]
fn four_gib_reach_above_four_gib_physical() {
    let text = GOOD.replace("\"512 MiB\"", "\"2 GiB\"");
    let s = parse(&text).unwrap();
    assert_eq!(s.node_ranges()[1].end, 0x1_4000_0000);
    assert_eq!(s.kernel_settings().ram_end, 0x1_4000_0000);
    assert_eq!(s.kernel_settings().root_cnode_bits, 16);
    let big = parse(&GOOD.replace("\"512 MiB\"", "\"100 GiB\"")).unwrap();
    assert_eq!(big.kernel_settings().root_cnode_bits, 18);
}

#[test]
fn not_toml() {
    let e = bad("cores = 2", "cores = = 2");
    assert!(matches!(e.reason, Reason::Syntax(_)), "{e}");
    assert_eq!(e.line, Some(3));
}

#[test]
fn unknown_key_anywhere() {
    let e = bad("max_batch = 32", "max_batch = 32\nspeed = 3");
    assert_eq!(e.field, "server.speed");
    assert!(matches!(&e.reason, Reason::UnknownKey { key, .. } if key == "speed"));
    assert_eq!(e.line, Some(15));
    let e = bad("debug = \"FZ,cache_a\"", "debug = \"FZ\"\nprio = 3");
    assert_eq!(e.field, "client[0].prio");
    let e = bad("bytes = \"4 MiB\"", "byte = \"4 MiB\"");
    assert_eq!(e.field, "client[0].quota.byte");
    let e = bad("[server]", "[servr]");
    assert_eq!(e.field, "servr");
    let e = bad(
        "memory = \"512 MiB\"\ncores = [0]",
        "memory = \"512 MiB\"\ncpus = [0]",
    );
    assert_eq!(e.field, "machine.node[0].cpus");
    let shown = e.to_string();
    assert!(
        shown.starts_with("systems/x.toml:7: `machine.node[0].cpus`: unknown key `cpus`"),
        "{shown}"
    );
}

#[test]
fn missing_key() {
    let e = bad("name = \"beta\"\n", "");
    assert_eq!(e.field, "client[1].name");
    assert_eq!(e.reason, Reason::MissingKey("name".into()));
    let e = bad("[machine]\ncores = 2\n", "[machine]\n");
    assert_eq!(e.field, "machine.cores");
    let e = bad("cores = [1]\nstart", "start");
    assert_eq!(e.field, "client[1].cores");
}

#[test]
fn wrong_type() {
    let e = bad("cores = 2", "cores = \"two\"");
    assert_eq!(e.field, "machine.cores");
    assert!(matches!(e.reason, Reason::Schema(_)), "{e}");
    let e = bad("start = \"on-request\"", "start = \"later\"");
    assert_eq!(e.field, "client[1].start");
}

#[test]
fn more_cores_than_the_kernel_build_supports() {
    let e = bad("cores = 2", "cores = 5");
    assert_eq!(e.field, "machine.cores");
    assert_eq!(e.reason, Reason::Cores { cores: 5, max: 4 });
    assert!(bad("cores = 2", "cores = 0")
        .to_string()
        .contains("0 cores"));
}

#[test]
fn node_sizes_that_do_not_fit() {
    let e = bad("memory = \"512 MiB\"", "memory = \"510 MiB\"");
    assert_eq!(e.field, "machine.node[0].memory");
    assert!(matches!(e.reason, Reason::NodeGranule { .. }));
    let e = bad("memory = \"512 MiB\"", "memory = \"128 MiB\"");
    assert!(matches!(e.reason, Reason::FirstNodeTooSmall { .. }));
    let text = GOOD.replacen("\"512 MiB\"", "\"200 GiB\"", 1);
    let e = parse(&text.replacen("\"512 MiB\"", "\"60 GiB\"", 1)).unwrap_err();
    assert_eq!(e.field, "machine.node[1].memory");
    assert!(matches!(e.reason, Reason::RamTooLarge { .. }));
    let e = bad("memory = \"512 MiB\"", "memory = \"unlimited\"");
    assert_eq!(e.reason, Reason::Size(SizeError::Unlimited));
    let e = bad("memory = \"512 MiB\"", "memory = 0");
    assert!(matches!(e.reason, Reason::NodeGranule { .. }));
}

#[test]
fn too_many_or_no_nodes() {
    let node = "[[machine.node]]\nmemory = \"64 MiB\"\n";
    let e =
        parse(&GOOD.replacen("[server]", &format!("{node}{node}{node}[server]"), 1)).unwrap_err();
    assert_eq!(e.reason, Reason::Nodes { nodes: 5, max: 4 });
    let e = parse("[machine]\ncores = 1\nnode = []\n").unwrap_err();
    assert_eq!(e.reason, Reason::Nodes { nodes: 0, max: 4 });
}

#[test]
fn cores_on_no_node_twice_or_outside_the_machine() {
    let e = bad("cores = [1]\n\n[server]", "cores = []\n\n[server]");
    assert_eq!(e.reason, Reason::CoreOnNoNode(1));
    let e = bad("cores = [1]\n\n[server]", "cores = [0]\n\n[server]");
    assert_eq!(e.field, "machine.node[1].cores[0]");
    assert_eq!(e.reason, Reason::CoreTwice(0));
    let e = bad("cores = [0]", "cores = [0, 2]");
    assert_eq!(e.field, "machine.node[0].cores[1]");
    assert_eq!(e.reason, Reason::CoreOutsideMachine { core: 2, cores: 2 });
}

#[test]
fn client_cores_outside_the_machine_or_none() {
    let e = bad("cores = [1, 0]", "cores = [1, 3]");
    assert_eq!(e.field, "client[0].cores[1]");
    assert_eq!(e.reason, Reason::CoreOutsideMachine { core: 3, cores: 2 });
    let e = bad("cores = [1, 0]", "cores = [1, 1]");
    assert_eq!(e.reason, Reason::CoreTwice(1));
    let e = bad("cores = [1, 0]", "cores = []");
    assert_eq!(e.field, "client[0].cores");
    assert_eq!(e.reason, Reason::NoClientCores);
}

#[test]
fn bad_quotas() {
    let e = bad("bytes = \"4 MiB\"", "bytes = \"4 MB\"");
    assert_eq!(e.field, "client[0].quota.bytes");
    assert_eq!(e.reason, Reason::Size(SizeError::DecimalUnit));
    let e = bad("bytes = \"4 MiB\"", "bytes = \"lots\"");
    assert_eq!(e.reason, Reason::Size(SizeError::NoNumber));
    let e = bad("objects = 1000", "objects = \"1K\"");
    assert_eq!(e.field, "client[0].quota.objects");
    assert_eq!(e.reason, Reason::Size(SizeError::UnitOnCount));
    let e = bad("objects = 1000", "objects = -1");
    assert!(matches!(e.reason, Reason::Schema(_)));
    let e = bad("objects = 1000", "objects = 1.5");
    assert!(matches!(e.reason, Reason::Schema(_)));
    // "unlimited" and units that parse.
    let s = parse(&GOOD.replace(
        "bytes = \"4 MiB\"",
        "bytes = \"unlimited\", metadata = \"1G\"",
    ))
    .unwrap();
    assert_eq!(s.clients[0].quota.bytes, u64::MAX);
    assert_eq!(s.clients[0].quota.metadata_bytes, 1 << 30);
}

#[test]
fn bad_debug_flags() {
    let e = bad("debug = \"FZ,cache_a\"", "debug = \"FX\"");
    assert_eq!(e.field, "client[0].debug");
    assert!(matches!(
        e.reason,
        Reason::Debug(d) if d.kind == DebugErrorKind::UnknownOption('X')
    ));
    let e = bad("debug = \"FZ,cache_a\"", "debug = \"T\"");
    assert!(matches!(e.reason, Reason::Debug(d) if d.kind == DebugErrorKind::Unsupported('T')));
}

#[test]
fn duplicate_and_bad_client_names() {
    let e = bad("name = \"alpha-2\"", "name = \"alpha\"");
    assert_eq!(e.field, "client[2].name");
    assert_eq!(
        e.reason,
        Reason::DuplicateName {
            name: "alpha".into(),
            first: 0
        }
    );
    let e = bad("name = \"beta\"", "name = \"be ta\"");
    assert!(matches!(e.reason, Reason::BadName(_)));
    let e = bad("name = \"beta\"", "name = \"\"");
    assert!(matches!(e.reason, Reason::BadName(_)));
}

#[test]
fn client_sources_are_one_of_crate_or_elf() {
    let e = bad("elf = \"beta.elf\"\nbuild = \"make\"\n", "");
    assert_eq!(e.field, "client[1]");
    assert!(matches!(e.reason, Reason::ClientSource(_)));
    let e = bad("elf = \"beta.elf\"", "elf = \"beta.elf\"\ncrate = \"x\"");
    assert!(matches!(e.reason, Reason::ClientSource(_)));
    let e = bad(
        "crate = \"../clients/ms-alpha\"\ncores = [0]",
        "crate = \"../clients/ms-alpha\"\nbuild = \"make\"\ncores = [0]",
    );
    assert_eq!(e.field, "client[2].build");
}

#[test]
fn bad_server_options() {
    let e = bad("max_batch = 32", "max_batch = 65");
    assert_eq!(e.field, "server.max_batch");
    assert_eq!(e.reason, Reason::MaxBatch { value: 65, max: 64 });
    assert!(matches!(
        bad("max_batch = 32", "max_batch = 0").reason,
        Reason::MaxBatch { .. }
    ));
}

#[test]
fn too_many_clients() {
    let mut text =
        String::from("[machine]\ncores = 1\n[[machine.node]]\nmemory = \"256 MiB\"\ncores = [0]\n");
    for i in 0..=limits::MAX_CLIENTS {
        text.push_str(&format!(
            "[[client]]\nname = \"c{i}\"\ncrate = \"c\"\ncores = [0]\n"
        ));
    }
    let e = parse(&text).unwrap_err();
    assert!(matches!(e.reason, Reason::TooManyClients { .. }));
}

#[test]
fn missing_paths_are_refused_by_parse_file() {
    let dir = std::env::temp_dir().join(format!("memserver-system-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("pkg").join("Cargo.toml"), "").unwrap();
    let base = "[machine]\ncores = 1\n[[machine.node]]\nmemory = \"256 MiB\"\ncores = [0]\n[[client]]\nname = \"a\"\ncores = [0]\n";
    let write = |name: &str, extra: &str| {
        let p = dir.join(name);
        std::fs::write(&p, format!("{base}{extra}\n")).unwrap();
        p
    };
    assert!(parse_file(&write("ok.toml", "crate = \"pkg\"")).is_ok());
    assert!(parse_file(&write("build.toml", "elf = \"made.elf\"\nbuild = \"true\"")).is_ok());
    let e = parse_file(&write("nocrate.toml", "crate = \"nope\"")).unwrap_err();
    assert_eq!(e.field, "client[0].crate");
    assert!(matches!(e.reason, Reason::Path { .. }));
    let e = parse_file(&write("noelf.toml", "elf = \"none.elf\"")).unwrap_err();
    assert_eq!(e.field, "client[0].elf");
    let e = parse_file(&dir.join("absent.toml")).unwrap_err();
    assert!(matches!(e.reason, Reason::Io(_)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn arbitrary_text_gives_an_error_not_a_panic() {
    for text in [
        "",
        "\u{0}",
        "[[",
        "machine = 3",
        "[machine]\ncores = -1",
        "[machine]\ncores = 99999999999",
        "[[machine.node]]\nmemory = \"\u{1F600}\"",
        "[[client]]\n[[client]]",
    ] {
        assert!(parse(text).is_err(), "{text:?}");
    }
}

/// A minimal aarch64 ELF with one PT_LOAD segment.
fn elf(vaddr: u64, memsz: u64) -> Vec<u8> {
    let mut e = vec![0u8; 64 + 56];
    e[..4].copy_from_slice(b"\x7fELF");
    e[4] = 2;
    e[5] = 1;
    e[16..18].copy_from_slice(&2u16.to_le_bytes());
    e[18..20].copy_from_slice(&183u16.to_le_bytes());
    e[32..40].copy_from_slice(&64u64.to_le_bytes());
    e[54..56].copy_from_slice(&56u16.to_le_bytes());
    e[56..58].copy_from_slice(&1u16.to_le_bytes());
    e[64..68].copy_from_slice(&1u32.to_le_bytes());
    e[64 + 16..64 + 24].copy_from_slice(&vaddr.to_le_bytes());
    e[64 + 40..64 + 48].copy_from_slice(&memsz.to_le_bytes());
    e
}

#[test]
fn client_elves_must_fit_their_window() {
    assert_eq!(check_client_elf(&elf(0x40_0000, 0x2001)), Ok(3));
    assert!(matches!(
        check_client_elf(&elf(0x1000, 0x1000)),
        Err(ImageError::OutsideWindow { .. })
    ));
    assert!(matches!(
        check_client_elf(&elf(0x40_0000, 0x10_0000_0000)),
        Err(ImageError::OutsideWindow { .. })
    ));
    assert_eq!(
        check_client_elf(&elf(0x40_0000, (limits::CLIENT_IMAGE_MAX_PAGES + 1) * 4096)),
        Err(ImageError::TooLarge {
            pages: limits::CLIENT_IMAGE_MAX_PAGES + 1,
            max: limits::CLIENT_IMAGE_MAX_PAGES
        })
    );
    assert!(matches!(
        check_client_elf(b"#!/bin/sh"),
        Err(ImageError::NotElf(_))
    ));
    let mut e = elf(0x40_0000, 0x1000);
    e[18] = 62; // x86-64
    assert!(matches!(check_client_elf(&e), Err(ImageError::NotElf(_))));
    assert!(matches!(
        check_client_elf(&elf(0x40_0000, 0)),
        Err(ImageError::Empty)
    ));
    // Every truncation before the last field read (p_memsz) is refused.
    for n in 0..64 + 48 {
        assert!(check_client_elf(&elf(0x40_0000, 1)[..n]).is_err());
    }
}
