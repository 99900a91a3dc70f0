//! The runs, summed up as a Markdown table for BENCHMARKS.md: for each measure the
//! median over the runs, their range, and the target with whether the median
//! meets it. A benchmark reports; it asserts nothing.

use crate::measure::Figures;

/// An issue-20 target for a measure's median.
#[derive(Clone, Copy)]
enum Target {
    AtMost(f64),
    Below(f64),
}

impl Target {
    fn met(self, value: f64) -> bool {
        match self {
            Target::AtMost(limit) => value <= limit,
            Target::Below(limit) => value < limit,
        }
    }

    fn show(self, unit: Unit) -> String {
        match self {
            Target::AtMost(limit) => format!("≤ {}", unit.show(limit)),
            Target::Below(limit) => format!("< {}", unit.show(limit)),
        }
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Ms,
    KiloBytes,
    MegaBytes,
    Count,
    Percent,
    Seconds,
    /// Runs in which something held (1) or not (0): shown as a count of the runs.
    Runs,
}

impl Unit {
    fn show(self, value: f64) -> String {
        match self {
            Unit::Ms if value < 10.0 => format!("{value:.1} ms"),
            Unit::Ms => format!("{value:.0} ms"),
            Unit::KiloBytes => format!("{:.1} KB", value / 1000.0),
            Unit::MegaBytes => format!("{:.1} MB", value / 1e6),
            Unit::Count => format!("{value:.0}"),
            Unit::Percent => format!("{value:.1} %"),
            Unit::Seconds => format!("{value:.1} s"),
            Unit::Runs => format!("{value:.0}"),
        }
    }
}

struct Line {
    label: &'static str,
    unit: Unit,
    target: Option<Target>,
    /// One value per run.
    values: Vec<f64>,
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// The `p`th percentile of `values`, interpolated between ranks; NaN when empty.
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::max)
}

fn lines(runs: &[Figures]) -> Vec<Line> {
    let per_run = |f: &dyn Fn(&Figures) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
    let line = |label, unit, target, values| Line {
        label,
        unit,
        target,
        values,
    };
    use Target::{AtMost, Below};
    use Unit::{Count, KiloBytes, MegaBytes, Ms, Percent, Runs, Seconds};
    let dropped = |f: &Figures| {
        let long = f.scroll.intervals.iter().filter(|&&i| i > 25.0).count();
        100.0 * long as f64 / f.scroll.intervals.len().max(1) as f64
    };
    vec![
        line(
            "navigation to the list complete",
            Ms,
            None,
            per_run(&|f| f.list_complete),
        ),
        line(
            "… the list first painted",
            Ms,
            None,
            per_run(&|f| f.list_shown),
        ),
        line(
            "cold load: bytes transferred (HTTP)",
            KiloBytes,
            None,
            per_run(&|f| f.transferred),
        ),
        line(
            "… of which the JSON API",
            KiloBytes,
            None,
            per_run(&|f| f.api_transferred),
        ),
        line("… requests", Count, None, per_run(&|f| f.requests)),
        line(
            "… socket text until the list (characters)",
            KiloBytes,
            None,
            per_run(&|f| f.socket_chars),
        ),
        line(
            "switch to the 5,000-message chat (first open)",
            Ms,
            Some(AtMost(100.0)),
            per_run(&|f| f.switch),
        ),
        line(
            "scroll to its start: frame work, median",
            Ms,
            Some(Below(16.0)),
            per_run(&|f| median(&f.scroll.works)),
        ),
        line(
            "… frame work, p95",
            Ms,
            Some(Below(16.0)),
            per_run(&|f| percentile(&f.scroll.works, 95.0)),
        ),
        line(
            "… frame work, max",
            Ms,
            Some(Below(16.0)),
            per_run(&|f| max(&f.scroll.works)),
        ),
        line(
            "… frame interval, median",
            Ms,
            None,
            per_run(&|f| median(&f.scroll.intervals)),
        ),
        line(
            "… frame interval, p95",
            Ms,
            None,
            per_run(&|f| percentile(&f.scroll.intervals, 95.0)),
        ),
        line(
            "… frame interval, max",
            Ms,
            None,
            per_run(&|f| max(&f.scroll.intervals)),
        ),
        line(
            "… frames over 25 ms apart",
            Percent,
            None,
            per_run(&dropped),
        ),
        line("… pixels scrolled", Count, None, per_run(&|f| f.scroll.px)),
        line(
            "… time to the start",
            Seconds,
            None,
            per_run(&|f| f.scroll.intervals.iter().sum::<f64>() / 1000.0),
        ),
        line(
            "… runs that reached the first message",
            Runs,
            None,
            per_run(&|f| f64::from(u8::from(f.scroll.reached))),
        ),
        line(
            "DOM nodes after scrolling back to the start",
            Count,
            Some(AtMost(3000.0)),
            per_run(&|f| f.nodes),
        ),
        line(
            "JS heap after scrolling back to the start (V8, after GC)",
            MegaBytes,
            None,
            per_run(&|f| f.js_heap),
        ),
        line(
            "… Blink's heap (the DOM), after GC",
            MegaBytes,
            None,
            per_run(&|f| f.dom_heap),
        ),
        line(
            "switch back to it from another chat",
            Ms,
            Some(AtMost(100.0)),
            per_run(&|f| f.switch_back),
        ),
        line(
            "keystroke in the composer, with it open",
            Ms,
            Some(AtMost(4.0)),
            per_run(&|f| median(&f.keys)),
        ),
        line(
            "`message` frame handled, with it open",
            Ms,
            Some(AtMost(8.0)),
            per_run(&|f| median(&f.messages)),
        ),
        line(
            "`receipt` frame handled, with it open",
            Ms,
            Some(AtMost(8.0)),
            per_run(&|f| median(&f.receipts)),
        ),
    ]
}

/// The table of all runs.
pub fn table(runs: &[Figures]) -> String {
    let mut out =
        String::from("| measure | median | runs' range | target | |\n|---|---:|---:|---|---|\n");
    for line in lines(runs) {
        let (value, range) = match line.unit {
            Unit::Runs => (
                format!("{}/{}", line.values.iter().sum::<f64>(), line.values.len()),
                String::new(),
            ),
            unit => {
                let low = line.values.iter().copied().fold(f64::NAN, f64::min);
                let range = format!("{}–{}", unit.show(low), unit.show(max(&line.values)));
                (unit.show(median(&line.values)), range)
            }
        };
        let (target, verdict) = match line.target {
            Some(t) => (
                t.show(line.unit),
                if t.met(median(&line.values)) {
                    "pass"
                } else {
                    "**fail**"
                },
            ),
            None => (String::new(), ""),
        };
        out.push_str(&format!(
            "| {} | {value} | {range} | {target} | {verdict} |\n",
            line.label
        ));
    }
    out
}
