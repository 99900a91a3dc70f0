//! Latency series and their summaries.
//!
//! Samples go into an HDR histogram (three significant figures, microseconds) rather
//! than a vector: recording is a few arithmetic operations, memory does not grow with
//! the run's length, and per-pair histograms merge exactly at the end.

use std::fmt;

use hdrhistogram::Histogram;
use serde::Serialize;

/// One latency series, in microseconds.
pub struct Latency(Histogram<u64>);

impl Latency {
    /// An empty series.
    pub fn new() -> Self {
        // Auto-resizing, so any latency fits; 3 significant figures is always valid.
        Self(Histogram::new(3).expect("a histogram with 3 significant figures"))
    }

    /// Records one sample given in nanoseconds.
    pub fn record_nanos(&mut self, nanos: u64) {
        let us = nanos / 1_000;
        // `record` grows the histogram as needed (`saturating_record` would clamp); it
        // fails only if the counts array could not be addressed, then clamp.
        if self.0.record(us).is_err() {
            self.0.saturating_record(us);
        }
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latency) {
        // Both auto-resize, so the addition grows `self` as needed; should it still
        // fail, the samples are added one value at a time.
        if self.0.add(&other.0).is_err() {
            for v in other.0.iter_recorded() {
                let (value, count) = (v.value_iterated_to(), v.count_at_value());
                if self.0.record_n(value, count).is_err() {
                    self.0.saturating_record_n(value, count);
                }
            }
        }
    }

    /// The percentiles this tool reports.
    pub fn summary(&self) -> Summary {
        let h = &self.0;
        let at = |q: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            }
        };
        Summary {
            count: h.len(),
            mean_us: (h.mean() * 10.0).round() / 10.0,
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: if h.is_empty() { 0 } else { h.max() },
        }
    }
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

/// A latency series summed up, in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest sample.
    pub max_us: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "n={:<8} p50={:>9} p90={:>9} p99={:>9} p99.9={:>9} max={:>9}",
            self.count,
            Micros(self.p50_us),
            Micros(self.p90_us),
            Micros(self.p99_us),
            Micros(self.p999_us),
            Micros(self.max_us),
        )
    }
}

/// Microseconds, printed in the unit that suits them.
struct Micros(u64);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        let text = if us < 1_000 {
            format!("{us}µs")
        } else if us < 1_000_000 {
            format!("{:.2}ms", us as f64 / 1e3)
        } else {
            format!("{:.2}s", us as f64 / 1e6)
        };
        f.pad(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_merge() {
        let mut a = Latency::new();
        let mut b = Latency::new();
        for i in 1..=1000u64 {
            a.record_nanos(i * 1_000);
            b.record_nanos(i * 1_000_000);
        }
        a.merge(&b);
        let s = a.summary();
        assert_eq!(s.count, 2000);
        assert!(s.p50_us <= s.p90_us && s.p90_us <= s.p99_us);
        assert!(s.p99_us <= s.p999_us && s.p999_us <= s.max_us);
        assert!((999_000..=1_001_000).contains(&s.max_us), "{s:?}");
        assert_eq!(Latency::new().summary().max_us, 0);
        assert_eq!(format!("{:>6}", Micros(1500)), "1.50ms");
    }
}
