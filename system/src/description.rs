//! The system description: one TOML file describing an image. Its schema (every table refuses
//! unknown keys), its parser and its checks. Every error names the file, the field (as a TOML key
//! path such as `client[1].quota.bytes`) and the reason, and comes before anything is built.
//!
//! ```toml
//! [machine]
//! cores = 2                       # 1..=4 (limits::MAX_CORES)
//! [[machine.node]]                # memory nodes, consecutive from 0x4000_0000, in node order
//! memory = "512 MiB"              # a multiple of 4 MiB; node 0 at least 256 MiB
//! cores = [0]                     # every core on exactly one node
//! [[machine.node]]
//! memory = "512 MiB"
//! cores = [1]
//!
//! [server]                        # optional
//! max_batch = 64                  # largest Refill/Drain batch, 1..=64
//! memory_per_node = "8 MiB"       # at most this much of each node in the zones (default all)
//!
//! [[client]]
//! name = "hello"
//! crate = "../examples/hello"     # a cargo package (path relative to this file) ...
//! # elf = "hello.elf"             # ... or a prebuilt ELF,
//! # build = "make"                # optionally made by this command (run in this file's folder)
//! cores = [0, 1]                  # one thread per core
//! quota = { objects = 10000, bytes = "4 MiB", metadata = "unlimited" }   # each optional
//! debug = "FZ,my_cache"           # Linux slab_debug= syntax; optional (off)
//! start = "boot"                  # or "on-request"; optional (boot)
//! supervisor = false              # may start, wait for and reap on-request clients; optional
//! ```
use crate::config::{Quota, ServerOptions, Start};
use crate::limits;
use crate::size::{self, SizeError};
use crate::slab_debug::{DebugError, SlabDebug};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::prelude::v1::*;
use std::{format, vec};

/// A checked system description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct System {
    /// The file it was read from (as given).
    pub file: PathBuf,
    /// Cores of the machine.
    pub cores: u32,
    /// Memory nodes, in node order.
    pub nodes: Vec<NodeDesc>,
    pub server: ServerOptions,
    pub clients: Vec<ClientDesc>,
}

/// A memory node of the description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeDesc {
    pub bytes: u64,
    pub cores: Vec<u32>,
}

/// A client task of the description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientDesc {
    pub name: String,
    pub source: ClientSource,
    /// Ascending.
    pub cores: Vec<u32>,
    pub quota: Quota,
    /// Checked `slab_debug` text.
    pub debug: String,
    pub start: Start,
    /// Granted the supervisor interface (see [`crate::ClientConfig::supervisor`]).
    pub supervisor: bool,
}

/// Where a client's image comes from. Paths are relative to the description's folder.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientSource {
    /// A cargo package folder, built for `aarch64-unknown-none-softfloat`.
    Crate(PathBuf),
    /// A prebuilt ELF, made first by `build` (a shell command run in the description's folder).
    Elf {
        path: PathBuf,
        build: Option<String>,
    },
}

/// What is wrong, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescriptionError {
    pub file: String,
    /// TOML key path (`machine.node[1].memory`); empty for the file as a whole.
    pub field: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub reason: Reason,
}

/// Why a description is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The file cannot be read.
    Io(String),
    /// Not TOML.
    Syntax(String),
    /// A key the schema does not have (`expected` lists the keys it has there).
    UnknownKey {
        key: String,
        expected: String,
    },
    /// A required key is absent.
    MissingKey(String),
    /// A value of the wrong type, or another schema violation (serde's message).
    Schema(String),
    Size(SizeError),
    /// No core, or more cores than the kernel build supports.
    Cores {
        cores: u32,
        max: u32,
    },
    /// No node, or more than the server's topology holds.
    Nodes {
        nodes: usize,
        max: usize,
    },
    /// A node's memory is not a multiple of the node granule.
    NodeGranule {
        bytes: u64,
        granule: u64,
    },
    /// The first node is too small for the kernel, the loader and the root task.
    FirstNodeTooSmall {
        bytes: u64,
        min: u64,
    },
    /// All nodes together exceed what the machine maps.
    RamTooLarge {
        bytes: u64,
        max: u64,
    },
    /// A core number that is not a core of the machine.
    CoreOutsideMachine {
        core: u32,
        cores: u32,
    },
    /// A core listed twice (in one list, or on two nodes).
    CoreTwice(u32),
    /// A core on no node.
    CoreOnNoNode(u32),
    /// A client on no core.
    NoClientCores,
    /// Two clients of one name.
    DuplicateName {
        name: String,
        first: usize,
    },
    /// An empty, too long or non `[A-Za-z0-9_-]` client name.
    BadName(String),
    /// Both or neither of `crate` and `elf`, or `build` without `elf`.
    ClientSource(&'static str),
    /// A bad `slab_debug` text.
    Debug(DebugError),
    /// `server.max_batch` out of range.
    MaxBatch {
        value: u32,
        max: u32,
    },
    TooManyClients {
        clients: usize,
        max: usize,
    },
    /// A path the description names does not exist (or is not what it should be).
    Path {
        path: PathBuf,
        what: &'static str,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Io(e) => write!(f, "cannot read: {e}"),
            Reason::Syntax(e) => write!(f, "not valid TOML: {e}"),
            Reason::UnknownKey { key, expected } => {
                write!(f, "unknown key `{key}` (expected {expected})")
            }
            Reason::MissingKey(k) => write!(f, "missing key `{k}`"),
            Reason::Schema(e) => write!(f, "{e}"),
            Reason::Size(e) => write!(f, "bad size: {e}"),
            Reason::Cores { cores, max } => write!(
                f,
                "{cores} cores: the kernel build supports 1 to {max} (see docs/SMP.md)"
            ),
            Reason::Nodes { nodes, max } => {
                write!(f, "{nodes} memory nodes: 1 to {max} are supported")
            }
            Reason::NodeGranule { bytes, granule } => write!(
                f,
                "{} is not a multiple of {} (the largest buddy block)",
                show_bytes(*bytes),
                show_bytes(*granule)
            ),
            Reason::FirstNodeTooSmall { bytes, min } => write!(
                f,
                "{}: the first node needs at least {} (kernel, loader, root task and its objects)",
                show_bytes(*bytes),
                show_bytes(*min)
            ),
            Reason::RamTooLarge { bytes, max } => write!(
                f,
                "{} of RAM in all nodes: QEMU `virt` maps at most {}",
                show_bytes(*bytes),
                show_bytes(*max)
            ),
            Reason::CoreOutsideMachine { core, cores } => write!(
                f,
                "core {core} is not a core of the machine (machine.cores = {cores}: cores 0 to {})",
                cores.saturating_sub(1)
            ),
            Reason::CoreTwice(c) => write!(f, "core {c} is listed twice"),
            Reason::CoreOnNoNode(c) => write!(f, "core {c} is on no memory node"),
            Reason::NoClientCores => write!(f, "a client runs on at least one core"),
            Reason::DuplicateName { name, first } => {
                write!(f, "client name `{name}` is already used by client[{first}]")
            }
            Reason::BadName(why) => write!(f, "bad client name: {why}"),
            Reason::ClientSource(why) => write!(f, "{why}"),
            Reason::Debug(e) => write!(f, "bad slab_debug options: {e}"),
            Reason::MaxBatch { value, max } => write!(f, "{value} is not in 1..={max}"),
            Reason::TooManyClients { clients, max } => {
                write!(f, "{clients} clients: at most {max} are supported")
            }
            Reason::Path { path, what } => write!(f, "{}: {what}", path.display()),
        }
    }
}

impl fmt::Display for DescriptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": `{}`", self.field)?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for DescriptionError {}

/// `512 MiB`, `1 GiB`, `4096 B`.
pub fn show_bytes(b: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if b >= 1 << shift && b.is_multiple_of(1 << shift) {
            return format!("{} {unit}", b >> shift);
        }
    }
    format!("{b} B")
}

// The schema, as serde reads it.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystem {
    machine: RawMachine,
    #[serde(default)]
    server: RawServer,
    #[serde(default, rename = "client")]
    clients: Vec<RawClient>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    cores: u32,
    #[serde(rename = "node")]
    nodes: Vec<RawNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    memory: toml::Value,
    #[serde(default)]
    cores: Vec<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    max_batch: Option<u32>,
    memory_per_node: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    name: String,
    #[serde(rename = "crate")]
    krate: Option<String>,
    elf: Option<String>,
    build: Option<String>,
    cores: Vec<u32>,
    #[serde(default)]
    quota: RawQuota,
    #[serde(default)]
    debug: String,
    #[serde(default)]
    start: RawStart,
    #[serde(default)]
    supervisor: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawQuota {
    objects: Option<toml::Value>,
    bytes: Option<toml::Value>,
    metadata: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
enum RawStart {
    #[default]
    #[serde(rename = "boot")]
    Boot,
    #[serde(rename = "on-request")]
    OnRequest,
}

/// Builds errors for one file.
struct Errors<'a> {
    file: &'a str,
    text: &'a str,
}

impl Errors<'_> {
    fn at(&self, field: impl Into<String>, reason: Reason) -> DescriptionError {
        let field = field.into();
        DescriptionError {
            file: self.file.to_owned(),
            line: line_of_field(self.text, &field),
            field,
            reason,
        }
    }
}

/// 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Best-effort line of a key path: the line of its last key after the line of its table
/// header (`[[client]]` counted by index). `None` when not found (a missing key).
fn line_of_field(text: &str, field: &str) -> Option<usize> {
    let mut table = String::new();
    let mut counts: Vec<(String, usize)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_owned();
            let n = match counts.iter_mut().find(|(k, _)| *k == name) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    counts.push((name.clone(), 0));
                    0
                }
            };
            table = format!("{name}[{n}]");
            if field == table {
                return Some(i + 1);
            }
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_owned();
            if field == table {
                return Some(i + 1);
            }
            continue;
        }
        let Some((key, _)) = t.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let full = if table.is_empty() {
            key.to_owned()
        } else {
            format!("{table}.{key}")
        };
        // `machine.node[0].memory` is written under `[[machine.node]]`; an inline table
        // (`quota = { bytes = ... }`) puts deeper keys on the same line.
        let nested = field
            .strip_prefix(full.as_str())
            .is_some_and(|rest| rest.starts_with('.'));
        if field == full || nested {
            return Some(i + 1);
        }
    }
    None
}

/// Serde's path (`client.1.quota`) in TOML key-path form (`client[1].quota`).
fn toml_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            serde_path_to_error::Segment::Enum { variant } => out.push_str(&format!("({variant})")),
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    out
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `unknown field `x`, expected one of `a`, `b`` → (`x`, "one of `a`, `b`").
fn unknown_field(message: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let expected = rest
        .trim_start_matches(',')
        .trim()
        .strip_prefix("expected ")
        .unwrap_or("none")
        .to_owned();
    Some((key.to_owned(), expected))
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split_once('`')?.0.to_owned())
}

fn schema_error(
    file: &str,
    text: &str,
    e: serde_path_to_error::Error<toml::de::Error>,
) -> DescriptionError {
    let path = toml_path(e.path());
    let inner = e.into_inner();
    let message = inner.message().trim().to_owned();
    let span_line = inner.span().map(|s| line_of(text, s.start));
    let (field, reason) = if let Some((key, expected)) = unknown_field(&message) {
        // serde_path_to_error already ends the path with the unknown key.
        let field = if path == key || path.ends_with(&format!(".{key}")) {
            path
        } else {
            join(&path, &key)
        };
        (field, Reason::UnknownKey { key, expected })
    } else if let Some(key) = missing_field(&message) {
        (join(&path, &key), Reason::MissingKey(key))
    } else if path.is_empty() && span_line.is_some() && !message.contains("invalid type") {
        (path, Reason::Syntax(message))
    } else {
        (path, Reason::Schema(message))
    };
    DescriptionError {
        file: file.to_owned(),
        line: match reason {
            Reason::Syntax(_) => span_line,
            _ => line_of_field(text, &field).or(span_line),
        },
        field,
        reason,
    }
}

fn bytes_value(v: &toml::Value, count: bool) -> Result<u64, Reason> {
    match v {
        toml::Value::Integer(n) => u64::try_from(*n)
            .map_err(|_| Reason::Schema(format!("{n} is negative")))
            .and_then(|n| {
                if n == size::UNLIMITED {
                    Err(Reason::Size(SizeError::TooLarge))
                } else {
                    Ok(n)
                }
            }),
        toml::Value::String(s) if count => size::parse_count(s).map_err(Reason::Size),
        toml::Value::String(s) => size::parse_bytes(s).map_err(Reason::Size),
        other => Err(Reason::Schema(format!(
            "expected a number or a string such as {}, found {}",
            if count {
                "\"unlimited\""
            } else {
                "\"512 MiB\""
            },
            other.type_str()
        ))),
    }
}

fn check_name(name: &str) -> Result<(), Reason> {
    if name.is_empty() {
        return Err(Reason::BadName("empty".into()));
    }
    if name.len() > limits::MAX_NAME_BYTES {
        return Err(Reason::BadName(format!(
            "longer than {} bytes",
            limits::MAX_NAME_BYTES
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(Reason::BadName(format!(
            "`{c}` (letters, digits, `-` and `_` only)"
        )));
    }
    Ok(())
}

/// Checks a core list against the machine: each below `cores`, none twice. Returns it sorted.
fn check_cores(list: &[u32], cores: u32) -> Result<Vec<u32>, (usize, Reason)> {
    let mut seen = Vec::new();
    for (i, &c) in list.iter().enumerate() {
        if c >= cores {
            return Err((i, Reason::CoreOutsideMachine { core: c, cores }));
        }
        if seen.contains(&c) {
            return Err((i, Reason::CoreTwice(c)));
        }
        seen.push(c);
    }
    seen.sort_unstable();
    Ok(seen)
}

/// Parses and checks a description given as text; `file` names it in errors and its folder is
/// where relative paths start. Touches no file: any text gives a description or an error.
pub fn parse_str(text: &str, file: &str) -> Result<System, DescriptionError> {
    let errs = Errors { file, text };
    let de = toml::Deserializer::new(text);
    let raw: RawSystem =
        serde_path_to_error::deserialize(de).map_err(|e| schema_error(file, text, e))?;

    let m = &raw.machine;
    if m.cores == 0 || m.cores > limits::MAX_CORES {
        return Err(errs.at(
            "machine.cores",
            Reason::Cores {
                cores: m.cores,
                max: limits::MAX_CORES,
            },
        ));
    }
    if m.nodes.is_empty() || m.nodes.len() > limits::MAX_NODES {
        return Err(errs.at(
            "machine.node",
            Reason::Nodes {
                nodes: m.nodes.len(),
                max: limits::MAX_NODES,
            },
        ));
    }
    let mut nodes = Vec::new();
    let mut node_of_core: Vec<Option<usize>> = vec![None; m.cores as usize];
    let mut total: u64 = 0;
    for (i, n) in m.nodes.iter().enumerate() {
        let field = format!("machine.node[{i}]");
        let bytes = match &n.memory {
            toml::Value::String(s) if s.trim() == "unlimited" => {
                Err(Reason::Size(SizeError::Unlimited))
            }
            v => bytes_value(v, false),
        }
        .map_err(|r| errs.at(format!("{field}.memory"), r))?;
        if bytes == 0 || bytes % limits::NODE_GRANULE != 0 {
            return Err(errs.at(
                format!("{field}.memory"),
                Reason::NodeGranule {
                    bytes,
                    granule: limits::NODE_GRANULE,
                },
            ));
        }
        if i == 0 && bytes < limits::MIN_FIRST_NODE_BYTES {
            return Err(errs.at(
                format!("{field}.memory"),
                Reason::FirstNodeTooSmall {
                    bytes,
                    min: limits::MIN_FIRST_NODE_BYTES,
                },
            ));
        }
        total = total.saturating_add(bytes);
        if total > limits::MAX_RAM_BYTES {
            return Err(errs.at(
                format!("{field}.memory"),
                Reason::RamTooLarge {
                    bytes: total,
                    max: limits::MAX_RAM_BYTES,
                },
            ));
        }
        let cores = check_cores(&n.cores, m.cores)
            .map_err(|(k, r)| errs.at(format!("{field}.cores[{k}]"), r))?;
        for (k, &c) in n.cores.iter().enumerate() {
            if node_of_core[c as usize].is_some() {
                return Err(errs.at(format!("{field}.cores[{k}]"), Reason::CoreTwice(c)));
            }
            node_of_core[c as usize] = Some(i);
        }
        nodes.push(NodeDesc { bytes, cores });
    }
    if let Some(c) = node_of_core.iter().position(Option::is_none) {
        return Err(errs.at("machine.node", Reason::CoreOnNoNode(c as u32)));
    }

    let mut server = ServerOptions::default();
    if let Some(b) = raw.server.max_batch {
        if b == 0 || b > limits::MAX_BATCH {
            return Err(errs.at(
                "server.max_batch",
                Reason::MaxBatch {
                    value: b,
                    max: limits::MAX_BATCH,
                },
            ));
        }
        server.max_batch = b;
    }
    if let Some(v) = &raw.server.memory_per_node {
        let field = "server.memory_per_node";
        let bytes = bytes_value(v, false).map_err(|r| errs.at(field, r))?;
        if bytes == 0 || (bytes != size::UNLIMITED && bytes % limits::NODE_GRANULE != 0) {
            return Err(errs.at(
                field,
                Reason::NodeGranule {
                    bytes,
                    granule: limits::NODE_GRANULE,
                },
            ));
        }
        server.memory_per_node = bytes;
    }

    if raw.clients.len() > limits::MAX_CLIENTS {
        return Err(errs.at(
            "client",
            Reason::TooManyClients {
                clients: raw.clients.len(),
                max: limits::MAX_CLIENTS,
            },
        ));
    }
    let mut clients: Vec<ClientDesc> = Vec::new();
    for (i, c) in raw.clients.iter().enumerate() {
        let field = format!("client[{i}]");
        check_name(&c.name).map_err(|r| errs.at(format!("{field}.name"), r))?;
        if let Some(first) = clients.iter().position(|o| o.name == c.name) {
            return Err(errs.at(
                format!("{field}.name"),
                Reason::DuplicateName {
                    name: c.name.clone(),
                    first,
                },
            ));
        }
        let source = match (&c.krate, &c.elf, &c.build) {
            (Some(p), None, None) => ClientSource::Crate(PathBuf::from(p)),
            (None, Some(p), build) => ClientSource::Elf {
                path: PathBuf::from(p),
                build: build.clone(),
            },
            (Some(_), Some(_), _) => {
                return Err(errs.at(
                    field,
                    Reason::ClientSource("give either `crate` or `elf`, not both"),
                ))
            }
            (Some(_), None, Some(_)) => {
                return Err(errs.at(
                    format!("{field}.build"),
                    Reason::ClientSource("`build` goes with `elf` (a `crate` is built by cargo)"),
                ))
            }
            (None, None, _) => {
                return Err(errs.at(
                    field,
                    Reason::ClientSource("missing key `crate` (a cargo package) or `elf`"),
                ))
            }
        };
        if c.cores.is_empty() {
            return Err(errs.at(format!("{field}.cores"), Reason::NoClientCores));
        }
        let cores = check_cores(&c.cores, m.cores)
            .map_err(|(k, r)| errs.at(format!("{field}.cores[{k}]"), r))?;
        let quota_field = |k: &str| format!("{field}.quota.{k}");
        let value = |v: &Option<toml::Value>, k: &str, count: bool| match v {
            None => Ok(size::UNLIMITED),
            Some(v) => bytes_value(v, count).map_err(|r| errs.at(quota_field(k), r)),
        };
        let quota = Quota {
            objects: value(&c.quota.objects, "objects", true)?,
            bytes: value(&c.quota.bytes, "bytes", false)?,
            metadata_bytes: value(&c.quota.metadata, "metadata", false)?,
        };
        SlabDebug::parse(&c.debug)
            .map_err(|e| errs.at(format!("{field}.debug"), Reason::Debug(e)))?;
        clients.push(ClientDesc {
            name: c.name.clone(),
            source,
            cores,
            quota,
            debug: c.debug.clone(),
            start: match c.start {
                RawStart::Boot => Start::AtBoot,
                RawStart::OnRequest => Start::OnRequest,
            },
            supervisor: c.supervisor,
        });
    }

    Ok(System {
        file: PathBuf::from(file),
        cores: m.cores,
        nodes,
        server,
        clients,
    })
}

/// Reads, parses and checks the description at `path`, and checks that the paths it names
/// exist: a `crate` folder with a `Cargo.toml`, an `elf` file (unless a `build` command makes it).
pub fn parse_file(path: &Path) -> Result<System, DescriptionError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| DescriptionError {
        file: file.clone(),
        field: String::new(),
        line: None,
        reason: Reason::Io(e.to_string()),
    })?;
    let system = parse_str(&text, &file)?;
    let errs = Errors {
        file: &file,
        text: &text,
    };
    for (i, c) in system.clients.iter().enumerate() {
        match &c.source {
            ClientSource::Crate(p) => {
                let dir = system.resolve(p);
                if !dir.join("Cargo.toml").is_file() {
                    return Err(errs.at(
                        format!("client[{i}].crate"),
                        Reason::Path {
                            path: dir,
                            what: "no Cargo.toml there (`crate` names a cargo package folder)",
                        },
                    ));
                }
            }
            ClientSource::Elf { path, build: None } => {
                let elf = system.resolve(path);
                if !elf.is_file() {
                    return Err(errs.at(
                        format!("client[{i}].elf"),
                        Reason::Path {
                            path: elf,
                            what: "no such file (add `build = \"...\"` to make it first)",
                        },
                    ));
                }
            }
            ClientSource::Elf { build: Some(_), .. } => {}
        }
    }
    Ok(system)
}

impl System {
    /// The folder relative paths start from.
    pub fn dir(&self) -> PathBuf {
        match self.file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// `path` of the description, from the current folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.dir().join(path)
    }

    /// RAM of all nodes.
    pub fn ram_bytes(&self) -> u64 {
        self.nodes.iter().map(|n| n.bytes).sum()
    }
}

#[cfg(test)]
mod tests;
