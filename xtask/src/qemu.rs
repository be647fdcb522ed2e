//! Owns booting an image under `qemu-system-aarch64 -machine virt,gic-version=2 -cpu cortex-a53`
//! and the machine arguments of a system description (`-m`, `-smp`, `-numa`), with a time limit:
//! the console is streamed line by line; the run ends at the harness's closing line
//! `N passed, M failed`, or at the memory server's `memserver: all clients ended` (QEMU is then
//! stopped: seL4_DebugHalt does not stop it). It fails on failed tests, on a client that exited
//! with a status other than 0 or faulted, on a kernel failure message, a root-task panic, QEMU
//! exiting, or the time limit, showing the last console lines.
use std::collections::VecDeque;
use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KEEP_LINES: usize = 40;

/// Console text that means the system failed, with what it means.
const FAILURE_MARKERS: &[(&str, &str)] = &[
    ("seL4 called fail", "kernel failure"),
    ("seL4 failed assertion", "kernel assertion failed"),
    ("halting...", "kernel halted before the closing line"),
    ("panicked at", "root task panicked"),
    ("loader: panic", "loader panicked"),
    (
        "loader: kernel image rejected",
        "loader rejected the kernel",
    ),
    (
        "loader: root task image rejected",
        "loader rejected the root task",
    ),
    ("PSCI CPU_ON", "loader could not start a core"),
];

#[derive(Debug, Clone)]
pub struct BootConfig {
    pub loader: PathBuf,
    /// `-m`, `-smp`, memory backends and `-numa` nodes (`System::qemu_args`).
    pub machine: Vec<String>,
    /// Cores (for messages).
    pub cores: u32,
    /// `-icount shift=0,sleep=off`: guest instruction counts are exact and repeatable.
    pub icount: bool,
    pub timeout: Duration,
    /// Echo the console while it runs.
    pub echo: bool,
    /// A console line starting with this ends the run successfully (a measurement that needs
    /// the boot only up to that point).
    pub stop_at: Option<&'static str>,
    /// The clients started at boot: when the server says all clients ended, each of them must
    /// have printed its end line (a garbled or missing one fails the run).
    pub boot_clients: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Passed {
    pub passed: u64,
    pub elapsed: Duration,
    /// The `measure <name> <value>` lines, in order.
    pub measures: Vec<(String, u64)>,
}

/// `measure <name> <value>` as printed by the root task's harness.
pub fn measure_line(line: &str) -> Option<(String, u64)> {
    let mut it = line.trim().strip_prefix("measure ")?.split(' ');
    let (name, value) = (it.next()?, it.next()?.parse().ok()?);
    it.next().is_none().then(|| (name.to_owned(), value))
}

#[derive(Debug, Clone)]
pub enum BootFailureKind {
    Spawn(String),
    Timeout(Duration),
    QemuExited(String),
    Marker {
        line: String,
        meaning: &'static str,
    },
    TestsFailed {
        passed: u64,
        failed: u64,
    },
    NoTests,
    /// Clients that exited with a status other than 0 or faulted (their console lines).
    ClientsFailed(Vec<String>),
    /// Clients started at boot whose end line never came (or came garbled).
    ClientsUnaccounted(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct BootFailure {
    pub kind: BootFailureKind,
    pub last_lines: Vec<String>,
}

impl fmt::Display for BootFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step `boot QEMU`: ")?;
        match &self.kind {
            BootFailureKind::Spawn(e) => write!(f, "cannot start qemu-system-aarch64: {e}")?,
            BootFailureKind::Timeout(t) => write!(
                f,
                "no closing line `N passed, M failed` within {} s",
                t.as_secs()
            )?,
            BootFailureKind::QemuExited(s) => {
                write!(f, "QEMU exited ({s}) before the closing line")?
            }
            BootFailureKind::Marker { line, meaning } => write!(f, "{meaning}: `{line}`")?,
            BootFailureKind::TestsFailed { passed, failed } => {
                write!(f, "on-target tests: {passed} passed, {failed} failed")?
            }
            BootFailureKind::NoTests => write!(f, "the closing line reports no test at all")?,
            BootFailureKind::ClientsFailed(lines) => {
                write!(f, "clients failed: {}", lines.join("; "))?
            }
            BootFailureKind::ClientsUnaccounted(names) => write!(
                f,
                "all clients ended, but no readable end line for: {}",
                names.join(", ")
            )?,
        }
        if !self.last_lines.is_empty() {
            write!(f, "\nlast console lines:")?;
            for line in &self.last_lines {
                write!(f, "\n  | {line}")?;
            }
        }
        Ok(())
    }
}

/// Parses the harness's closing line `N passed, M failed`.
pub fn closing_line(line: &str) -> Option<(u64, u64)> {
    let (passed, rest) = line.trim().split_once(" passed, ")?;
    let failed = rest.strip_suffix(" failed")?;
    Some((passed.parse().ok()?, failed.parse().ok()?))
}

/// The memory server's line once no client runs and none can start.
pub const ALL_ENDED: &str = "memserver: all clients ended";

/// Which client ended and how, from `memserver: client <name> exited with status <s>` or
/// `memserver: client <name> faulted: ...`: `(name, true)` for status 0.
pub fn client_end(line: &str) -> Option<(&str, bool)> {
    let rest = line.trim().strip_prefix("memserver: client ")?;
    let (name, how) = rest.split_once(' ')?;
    if let Some(status) = how.strip_prefix("exited with status ") {
        return Some((name, status.trim() == "0"));
    }
    how.starts_with("faulted").then_some((name, false))
}

fn marker(line: &str) -> Option<&'static str> {
    FAILURE_MARKERS
        .iter()
        .find(|(m, _)| line.contains(m))
        .map(|(_, meaning)| *meaning)
}

pub fn command(config: &BootConfig) -> Command {
    let mut cmd = Command::new("qemu-system-aarch64");
    cmd.args(["-machine", "virt,gic-version=2", "-cpu", "cortex-a53"])
        .args(&config.machine)
        // No default NIC: its option ROM (efi-virtio.rom) is not installed with --no-install-recommends.
        .args(["-nic", "none", "-nographic", "-kernel"])
        .arg(&config.loader);
    if config.icount {
        cmd.args(["-icount", "shift=0,sleep=off"]);
    }
    cmd
}

enum Event {
    Line(String),
    Eof,
}

fn spawn_reader(mut out: impl Read + Send + 'static, tx: mpsc::Sender<Event>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut line = Vec::new();
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    for &b in &buf[..n] {
                        match b {
                            b'\n' => {
                                let text = String::from_utf8_lossy(&line).into_owned();
                                line.clear();
                                if tx.send(Event::Line(text)).is_err() {
                                    return;
                                }
                            }
                            b'\r' => {}
                            _ => line.push(b),
                        }
                    }
                }
            }
        }
        if !line.is_empty() {
            let _ = tx.send(Event::Line(String::from_utf8_lossy(&line).into_owned()));
        }
        let _ = tx.send(Event::Eof);
    });
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Boots and waits for the closing line.
pub fn boot(config: &BootConfig) -> Result<Passed, BootFailure> {
    crate::step::announce(&format!(
        "boot QEMU ({} core{}, time limit {} s): {}",
        config.cores,
        if config.cores == 1 { "" } else { "s" },
        config.timeout.as_secs(),
        config.loader.display()
    ));
    let start = Instant::now();
    let mut child = command(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BootFailure {
            kind: BootFailureKind::Spawn(e.to_string()),
            last_lines: Vec::new(),
        })?;
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        spawn_reader(out, tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, tx);
    }
    let mut last: VecDeque<String> = VecDeque::new();
    let mut measures = Vec::new();
    let mut client_failures = Vec::new();
    let mut clients_ended = 0u64;
    let mut unaccounted = config.boot_clients.clone();
    let mut open_streams = 2;
    let fail = |child: &mut Child, kind, last: &VecDeque<String>| {
        stop(child);
        Err(BootFailure {
            kind,
            last_lines: last.iter().cloned().collect(),
        })
    };
    loop {
        let left = config.timeout.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(Event::Line(line)) => {
                if config.echo {
                    println!("{line}");
                }
                if last.len() == KEEP_LINES {
                    last.pop_front();
                }
                last.push_back(line.clone());
                measures.extend(measure_line(&line));
                if config.stop_at.is_some_and(|p| line.trim().starts_with(p)) {
                    let elapsed = start.elapsed();
                    stop(&mut child);
                    return Ok(Passed {
                        passed: 0,
                        elapsed,
                        measures,
                    });
                }
                if let Some((name, ok)) = client_end(&line) {
                    unaccounted.retain(|n| n != name);
                    if ok {
                        clients_ended += 1;
                    } else {
                        client_failures.push(line.trim().to_owned());
                    }
                }
                if line.trim() == ALL_ENDED {
                    let elapsed = start.elapsed();
                    stop(&mut child);
                    if !client_failures.is_empty() {
                        let kind = BootFailureKind::ClientsFailed(client_failures);
                        return fail(&mut child, kind, &last);
                    }
                    if !unaccounted.is_empty() {
                        let kind = BootFailureKind::ClientsUnaccounted(unaccounted);
                        return fail(&mut child, kind, &last);
                    }
                    return Ok(Passed {
                        passed: clients_ended,
                        elapsed,
                        measures,
                    });
                }
                if let Some((passed, failed)) = closing_line(&line) {
                    let elapsed = start.elapsed();
                    stop(&mut child);
                    return match (passed, failed) {
                        (0, 0) => fail(&mut child, BootFailureKind::NoTests, &last),
                        (p, 0) => Ok(Passed {
                            passed: p,
                            elapsed,
                            measures,
                        }),
                        (passed, failed) => fail(
                            &mut child,
                            BootFailureKind::TestsFailed { passed, failed },
                            &last,
                        ),
                    };
                }
                if let Some(meaning) = marker(&line) {
                    return fail(&mut child, BootFailureKind::Marker { line, meaning }, &last);
                }
            }
            Ok(Event::Eof) => {
                open_streams -= 1;
                if open_streams == 0 {
                    let status = child
                        .wait()
                        .map(|s| s.to_string())
                        .unwrap_or_else(|e| e.to_string());
                    return fail(&mut child, BootFailureKind::QemuExited(status), &last);
                }
            }
            Err(_) => {
                return fail(&mut child, BootFailureKind::Timeout(config.timeout), &last);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_line_is_recognised_exactly() {
        assert_eq!(closing_line("7 passed, 0 failed"), Some((7, 0)));
        assert_eq!(closing_line("  3 passed, 2 failed  "), Some((3, 2)));
        assert_eq!(closing_line("test x passed, 0 failed"), None);
        assert_eq!(closing_line("7 passed, 0 failed!"), None);
        assert_eq!(closing_line("7 passed"), None);
    }

    #[test]
    fn measure_lines_are_parsed_exactly() {
        assert_eq!(measure_line("measure a_b 42"), Some(("a_b".into(), 42)));
        assert_eq!(measure_line("measure a 4 2"), None);
        assert_eq!(measure_line("measure a x"), None);
        assert_eq!(measure_line("test a ... ok"), None);
    }

    #[test]
    fn client_ends_are_read_exactly() {
        assert_eq!(
            client_end("memserver: client hello exited with status 0"),
            Some(("hello", true))
        );
        assert_eq!(
            client_end("memserver: client hello exited with status 3"),
            Some(("hello", false))
        );
        assert_eq!(
            client_end("memserver: client a-b faulted: VM fault at 0x0"),
            Some(("a-b", false))
        );
        assert_eq!(client_end("memserver: clients ready"), None);
        assert_eq!(
            client_end("hello: memserver: client x exited with status 0"),
            None
        );
    }

    #[test]
    fn the_machine_comes_from_the_description() {
        let cmd = command(&BootConfig {
            loader: "l.elf".into(),
            machine: vec!["-m".into(), "2048M".into(), "-smp".into(), "4".into()],
            cores: 4,
            icount: true,
            timeout: Duration::from_secs(1),
            echo: false,
            stop_at: None,
            boot_clients: Vec::new(),
        });
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = args.join(" ");
        assert!(line.contains("-m 2048M -smp 4"), "{line}");
        assert!(line.contains("-nic none"), "{line}");
        assert_eq!(line.matches("-m ").count(), 1, "{line}");
    }

    #[test]
    fn failure_markers_are_found() {
        assert_eq!(
            marker("seL4 called fail at src/x.c:1"),
            Some("kernel failure")
        );
        assert_eq!(marker("ok 3 round trip"), None);
    }
}
