//! Checks the generator against the real seL4 5.0.0 interface files (from `SEL4_SOURCE` or the
//! cargo registry copy of sel4-sys 0.0.28; `cargo fetch` puts it there) and against the numbers the
//! facts file records for this kernel.

use sel4_codegen::{Api, Config, SourceTree};

fn source() -> SourceTree {
    let fetch =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../qemu/kernel-src/Cargo.toml");
    SourceTree::locate_or_fetch(
        std::env::var_os("SEL4_SOURCE").map(Into::into),
        SourceTree::default_cargo_home(),
        &fetch,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn single_core() -> Config {
    Config::from_pairs([
        ("CONFIG_MAX_NUM_NODES", 1),
        ("CONFIG_DEBUG_BUILD", 1),
        ("CONFIG_ARCH_AARCH64", 1),
    ])
}

#[test]
fn labels_match_the_single_core_kernel() {
    let api = Api::load(&source(), &single_core()).unwrap();
    assert_eq!(api.label("UntypedRetype"), Some(1));
    assert_eq!(api.label("TCBWriteRegisters"), Some(3));
    assert_eq!(api.label("TCBSetPriority"), Some(6));
    assert_eq!(api.label("TCBSetSpace"), Some(9));
    assert_eq!(api.label("ARMPageMap"), Some(38));
    assert_eq!(api.label("TCBSetAffinity"), None);
    assert_eq!(api.label("ARMIOPageTableMap"), None);
    let labels: Vec<u64> = api.methods.iter().map(|m| m.label).collect();
    assert_eq!(labels, (1..=labels.len() as u64).collect::<Vec<_>>());
}

#[test]
fn smp_shifts_labels_by_one_from_set_affinity() {
    let mut pairs = vec![("CONFIG_MAX_NUM_NODES", 2), ("CONFIG_DEBUG_BUILD", 1)];
    let smp = Api::load(&source(), &Config::from_pairs(pairs.drain(..))).unwrap();
    let up = Api::load(&source(), &single_core()).unwrap();
    assert_eq!(smp.label("TCBSetAffinity"), Some(14));
    for m in &up.methods {
        let shifted = if m.label >= 14 { m.label + 1 } else { m.label };
        assert_eq!(smp.label(&m.id), Some(shifted), "{}", m.id);
    }
}

#[test]
fn syscalls_and_debug_syscalls() {
    let api = Api::load(&source(), &single_core()).unwrap();
    let expect = [
        ("Call", -1),
        ("ReplyRecv", -2),
        ("Send", -3),
        ("NBSend", -4),
        ("Recv", -5),
        ("Reply", -6),
        ("Yield", -7),
        ("NBRecv", -8),
        ("DebugPutChar", -9),
        ("DebugHalt", -10),
        ("DebugCapIdentify", -11),
        ("DebugSnapshot", -12),
        ("DebugNameThread", -13),
    ];
    for (name, number) in expect {
        assert_eq!(api.syscall(name), Some(number), "{name}");
    }
    let release = Api::load(
        &source(),
        &Config::from_pairs([("CONFIG_MAX_NUM_NODES", 1)]),
    )
    .unwrap();
    assert_eq!(release.syscall("DebugPutChar"), None);
    assert_eq!(release.syscall("Yield"), Some(-7));
}

#[test]
fn object_types_and_errors() {
    let api = Api::load(&source(), &single_core()).unwrap();
    let types: Vec<(&str, i64)> = api
        .object_types
        .iter()
        .filter(|v| !v.c_name.ends_with("Count"))
        .map(|v| (v.c_name.as_str(), v.value))
        .collect();
    assert_eq!(
        types,
        [
            ("seL4_UntypedObject", 0),
            ("seL4_TCBObject", 1),
            ("seL4_EndpointObject", 2),
            ("seL4_NotificationObject", 3),
            ("seL4_CapTableObject", 4),
            ("seL4_ARM_HugePageObject", 5),
            ("seL4_ARM_PageUpperDirectoryObject", 6),
            ("seL4_ARM_PageGlobalDirectoryObject", 7),
            ("seL4_ARM_SmallPageObject", 8),
            ("seL4_ARM_LargePageObject", 9),
            ("seL4_ARM_PageTableObject", 10),
            ("seL4_ARM_PageDirectoryObject", 11),
        ]
    );
    let not_enough = api
        .errors
        .iter()
        .find(|v| v.c_name == "seL4_NotEnoughMemory")
        .unwrap();
    assert_eq!(not_enough.value, 10);
}

#[test]
fn message_layouts_follow_the_kernel_generator() {
    let api = Api::load(&source(), &single_core()).unwrap();
    let rust = api.to_rust();
    // TCB_WriteRegisters: resume_target bit 0, arch_flags bits 8.., count word 1, regs words 2..36.
    assert!(rust.contains("pub fn tcb_write_registers(service: Word, resume_target: bool, arch_flags: u8, count: Word, regs: &UserContext)"));
    assert!(rust.contains("mrs[0] |= Word::from(arch_flags) << 8;"));
    assert!(rust.contains("mrs[2..36].copy_from_slice(&regs.to_words());"));
    // TCB_Configure: five data words, three caps in order cspace_root, vspace_root, bufferFrame.
    assert!(rust.contains("let caps: [Word; 3] = [cspace_root, vspace_root, buffer_frame];"));
    // CNode_Mint: dest_index, dest_depth, src_index, src_depth, rights, badge: six words.
    let mint = rust.split("pub fn cnode_mint").nth(1).unwrap();
    assert!(mint.contains("let mut mrs = [0 as Word; 6];"));
    assert!(rust.contains("pub fn arm_page_get_address(service: Word) -> Result<Word, Error>"));
}
