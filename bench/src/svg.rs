//! The plots of `BENCHMARKS.md`, written as SVG text: the throughput plot (one line per allocator
//! over the kmalloc size classes, operations per second on a logarithmic y axis), and grouped bars
//! of ratios (linear from 0) or of growth factors (logarithmic from 1).
use std::fmt::Write;

/// One allocator's points: (class label, million operations per second).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(String, f64)>,
}

const W: f64 = 760.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 6] = [
    "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The plot; `None` when there is nothing positive to draw.
pub fn throughput_plot(title: &str, series: &[Series]) -> Option<String> {
    let labels: Vec<&str> = series
        .first()?
        .points
        .iter()
        .map(|(l, _)| l.as_str())
        .collect();
    let values = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in values.filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if labels.is_empty() || hi <= 0.0 {
        return None;
    }
    let (lo_dec, hi_dec) = (
        lo.log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x = |i: usize| LEFT + pw * (i as f64 + 0.5) / labels.len() as f64;
    let y = |v: f64| TOP + ph * (1.0 - (v.log10() - lo_dec) / (hi_dec - lo_dec));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        LEFT + pw / 2.0,
        esc(title)
    );
    let mut d = lo_dec;
    while d <= hi_dec + 1e-9 {
        let yy = y(10f64.powf(d));
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            yy + 4.0,
            fmt_ops(10f64.powf(d))
        );
        d += 1.0;
    }
    for (i, l) in labels.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x(i),
            TOP + ph + 18.0,
            esc(l)
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">object size (bytes, kmalloc class)</text>"#,
        LEFT + pw / 2.0,
        H - 18.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18 {}) rotate(-90)" text-anchor="middle">operations per second (alloc or free)</text>"#,
        TOP + ph / 2.0
    );
    for (k, se) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let pts: Vec<String> = se
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.1 > 0.0 && p.1.is_finite())
            .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.1)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        for p in &pts {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(s, r#"<circle cx="{px}" cy="{py}" r="3" fill="{colour}"/>"#);
        }
        let ly = TOP + 10.0 + 20.0 * k as f64;
        let lx = LEFT + pw + 14.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            lx + 20.0,
            lx + 26.0,
            ly + 4.0,
            esc(&se.name)
        );
    }
    s.push_str("</svg>\n");
    Some(s)
}

fn fmt_ops(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.0}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.0}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Grouped bars: for each group (a program), one bar per allocator of a ratio (1 = the
/// reference), on a linear axis from 0 with a line at 1. `None` when there is nothing to draw.
pub fn ratio_bars(title: &str, groups: &[(String, Vec<(String, f64)>)]) -> Option<String> {
    bars(title, groups, Scale::Linear)
}

/// Grouped bars of growth factors (1 = the reference) on a logarithmic axis from 1 to the next
/// decade above the largest, with a line at 1.3 (the growth goal of the cost curves); bars
/// below 1 are drawn as 1. `None` when there is nothing to draw.
pub fn growth_bars(title: &str, groups: &[(String, Vec<(String, f64)>)]) -> Option<String> {
    bars(title, groups, Scale::Log)
}

#[derive(Clone, Copy, PartialEq)]
enum Scale {
    Linear,
    Log,
}

fn bars(title: &str, groups: &[(String, Vec<(String, f64)>)], scale: Scale) -> Option<String> {
    let names: Vec<&str> = groups.first()?.1.iter().map(|(n, _)| n.as_str()).collect();
    let hi = groups
        .iter()
        .flat_map(|g| g.1.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    if names.is_empty() || hi <= 0.0 {
        return None;
    }
    let top = match scale {
        Scale::Linear => (hi * 1.1).max(1.2).ceil(),
        Scale::Log => 10f64.powf(hi.max(2.0).log10().ceil()),
    };
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let gw = pw / groups.len() as f64;
    let bw = gw * 0.8 / names.len() as f64;
    let y = |v: f64| match scale {
        Scale::Linear => TOP + ph * (1.0 - v / top),
        Scale::Log => TOP + ph * (1.0 - v.max(1.0).log10() / top.log10()),
    };
    let (floor, reference) = match scale {
        Scale::Linear => (0.0, 1.0),
        Scale::Log => (1.0, crate::curves::GROWTH_GOAL),
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        LEFT + pw / 2.0,
        esc(title)
    );
    let mut t = floor;
    while t <= top + 1e-9 {
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{t:.1}×</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            y(t) + 4.0,
            y = y(t)
        );
        t = match scale {
            Scale::Linear if top > 4.0 => t + 1.0,
            Scale::Linear => t + 0.5,
            Scale::Log => t * 10.0,
        };
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" x2="{}" y1="{y1:.1}" y2="{y1:.1}" stroke="#000" stroke-dasharray="4 3"/>"##,
        LEFT + pw,
        y1 = y(reference)
    );
    for (gi, (label, bars)) in groups.iter().enumerate() {
        let gx = LEFT + gw * gi as f64 + gw * 0.1;
        for (bi, (_, v)) in bars.iter().enumerate() {
            if !v.is_finite() {
                continue;
            }
            let v = v.min(top);
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                gx + bw * bi as f64,
                y(v),
                bw * 0.9,
                y(floor) - y(v),
                COLOURS[bi % COLOURS.len()]
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + gw * (gi as f64 + 0.5),
            H - BOTTOM + 18.0,
            esc(label)
        );
    }
    for (i, n) in names.iter().enumerate() {
        let ly = TOP + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{}" y="{:.1}">{}</text>"#,
            W - RIGHT + 16.0,
            ly,
            COLOURS[i % COLOURS.len()],
            W - RIGHT + 34.0,
            ly + 10.0,
            esc(n)
        );
    }
    let _ = writeln!(s, "</svg>");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_has_one_line_per_series_and_every_label() {
        let s = |n: &str, f: f64| Series {
            name: n.into(),
            points: vec![("8".into(), 1e8 * f), ("8k".into(), 3e7 * f)],
        };
        let svg = throughput_plot("t<1>", &[s("a", 1.0), s("b", 2.0)]).unwrap();
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains(">8k<") && svg.contains("t&lt;1&gt;"));
        assert!(svg.contains(">100M<"));
        assert!(throughput_plot("x", &[]).is_none());
    }

    #[test]
    fn growth_bars_use_decades_and_mark_the_goal() {
        let g = vec![
            (
                "1k".to_string(),
                vec![("a".to_string(), 1.0), ("b".to_string(), 1.0)],
            ),
            (
                "10M".to_string(),
                vec![("a".to_string(), 1.05), ("b".to_string(), 35.0)],
            ),
        ];
        let svg = growth_bars("t", &g).unwrap();
        assert!(svg.contains(">1.0×<") && svg.contains(">10.0×<") && svg.contains(">100.0×<"));
        assert!(!svg.contains(">1000.0×<"));
        assert_eq!(
            svg.matches("<rect x=").count(),
            4 + 2,
            "four bars, two legend keys"
        );
        let lin = ratio_bars("t", &g).unwrap();
        assert!(lin.contains(">0.0×<"));
    }
}
