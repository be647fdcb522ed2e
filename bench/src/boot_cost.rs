//! Boot cost against memory size, as `cargo xtask boot-cost` measures it on target (debug
//! kernel, one core, one node, QEMU `-icount`): the frames the buddy zones manage and the guest
//! instructions building them takes, per RAM size. `cargo xtask bench` passes the rows to
//! `report`, which renders them with this module.
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One booted system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootCost {
    pub mib: u64,
    /// Clients the description lists (each holds back its reservation from the zones).
    pub clients: u64,
    pub frames: u64,
    /// Guest instructions of building the zones.
    pub zones_instructions: u64,
    /// Guest instructions from the loader's start to the zones being built.
    pub boot_instructions: u64,
}

impl BootCost {
    pub fn per_frame(&self) -> f64 {
        self.zones_instructions as f64 / self.frames.max(1) as f64
    }
    pub fn share_of_ram(&self) -> f64 {
        self.frames as f64 / (self.mib << 8).max(1) as f64
    }
}

/// The growth goal of the cost curves, applied to the cost per frame.
const GOAL: f64 = crate::curves::GROWTH_GOAL;

/// The section (the plot, if any, linked after the table).
pub fn markdown(rows: &[BootCost], plot: Option<&str>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### Boot cost against memory size (on target)\n");
    let clients = rows.first().map_or(0, |r| r.clients);
    let _ = writeln!(
        s,
        "`cargo xtask boot-cost`: the harness's {clients} clients in a system of one core and one \
         node, debug kernel, booted under QEMU `-icount shift=0,sleep=off` until the root task \
         has built its buddy zones (guest instructions, exact). Goal: the cost per managed frame \
         grows by at most {GOAL}× from the smallest system to the largest, so boot cost is \
         linear in RAM.\n"
    );
    let _ = writeln!(
        s,
        "| RAM | frames managed | of RAM | zones built in (instructions) | per frame | boot to zones (instructions) |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} MiB | {} | {:.1} % | {} | {:.0} | {} |",
            r.mib,
            r.frames,
            100.0 * r.share_of_ram(),
            r.zones_instructions,
            r.per_frame(),
            r.boot_instructions
        );
    }
    let per: Vec<f64> = rows.iter().map(BootCost::per_frame).collect();
    if let Some(&first) = per.first().filter(|f| **f > 0.0) {
        let g = per.iter().fold(0.0f64, |a, &b| a.max(b)) / first;
        let _ = writeln!(
            s,
            "\nCost per frame across the range: {g:.2}× the smallest system's ({}).\n",
            if g <= GOAL { "met" } else { "**missed**" }
        );
    }
    if let Some(p) = plot {
        let _ = writeln!(s, "![boot cost against memory size]({p})\n");
    }
    s
}

/// Plot groups: per RAM size, the cost per frame and the boot's instructions relative to the
/// smallest system's, with the RAM itself as the linear reference.
pub fn groups(rows: &[BootCost]) -> Vec<(String, Vec<(String, f64)>)> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    rows.iter()
        .map(|r| {
            (
                format!("{} MiB", r.mib),
                vec![
                    ("RAM".to_string(), r.mib as f64 / first.mib.max(1) as f64),
                    (
                        "boot instr".to_string(),
                        r.boot_instructions as f64 / first.boot_instructions.max(1) as f64,
                    ),
                    (
                        "per frame".to_string(),
                        r.per_frame() / first.per_frame().max(1e-9),
                    ),
                ],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_what_xtask_writes() {
        let text = r#"[{"boot_instructions":431402753,"clients":14,"frames":98304,"mib":512,"zones_instructions":396475526}]"#;
        let rows: Vec<BootCost> = serde_json::from_str(text).unwrap();
        assert_eq!(rows[0].frames, 98304);
        assert_eq!(rows[0].per_frame().round(), 4033.0);
    }

    #[test]
    fn rows_show_share_and_cost_per_frame_and_the_growth_verdict() {
        let rows = [
            BootCost {
                mib: 512,
                clients: 14,
                frames: 65536,
                zones_instructions: 6_553_600,
                boot_instructions: 7_000_000,
            },
            BootCost {
                mib: 1024,
                clients: 14,
                frames: 131072,
                zones_instructions: 14_417_920,
                boot_instructions: 15_000_000,
            },
        ];
        let md = markdown(&rows, Some("p.svg"));
        assert!(
            md.contains("| 512 MiB | 65536 | 50.0 % | 6553600 | 100 | 7000000 |"),
            "{md}"
        );
        assert!(md.contains("1.10× the smallest system's (met)"), "{md}");
        assert!(md.contains("![boot cost against memory size](p.svg)"));
        let g = groups(&rows);
        assert_eq!(g[1].1[0].1, 2.0);
        assert!((g[1].1[2].1 - 1.1).abs() < 1e-9);
    }
}
