//! When each sender may send: a [`Gate`] per sender, opened by acknowledgements in the
//! closed loop and by a pacer thread on a fixed schedule in the open loop.
//!
//! The open loop does not sleep on tokio's timer: its 1 ms grain would wake every
//! sender up to 1 ms late and all on the same tick, so the offered load would arrive in
//! bursts each millisecond and every latency, counted from the scheduled time, would
//! carry up to 1 ms of the client's own lateness. A plain thread in `std::thread::sleep`
//! wakes within tens of microseconds. It releases what has fallen due and wakes the
//! writers concerned, at most once per [`TICK`], which bounds its cost at high rates
//! (a writer then sends everything that accumulated, with one flush).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use tokio::sync::Notify;

/// The pacer sleeps at least this long between releases.
const TICK: Duration = Duration::from_micros(100);

/// How many of one sender's messages it may have sent so far, and its wake-up.
#[derive(Debug, Default)]
pub struct Gate {
    open_to: AtomicUsize,
    opened: Notify,
}

impl Gate {
    /// Lets the sender send its messages up to (not including) number `count`.
    pub fn open_to(&self, count: usize) {
        if self.open_to.fetch_max(count, Ordering::Release) < count {
            // notify_one keeps a permit when nobody waits, so no wake-up is lost.
            self.opened.notify_one();
        }
    }

    /// Waits until messages beyond `next` may be sent; returns how far the gate is open.
    pub async fn wait_past(&self, next: usize) -> usize {
        loop {
            let open_to = self.open_to.load(Ordering::Acquire);
            if open_to > next {
                return open_to;
            }
            self.opened.notified().await;
        }
    }
}

/// The open loop's schedule, in nanoseconds since the run's clock started: message
/// number `g` across all senders (taken in turn) is due at `start + g / rate`, so one
/// sender's message `k` is due at `start + (k × senders + sender) / rate`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start_ns: f64,
    /// Nanoseconds between two messages across all senders.
    gap_ns: f64,
    senders: usize,
}

impl Schedule {
    /// `rate` messages per second across `senders` senders, from `start_ns` on.
    pub fn new(start_ns: u64, rate: f64, senders: usize) -> Self {
        Self {
            start_ns: start_ns as f64,
            gap_ns: 1e9 / rate,
            senders: senders.max(1),
        }
    }

    /// When message `k` of sender `sender` is due.
    pub fn due(&self, sender: usize, k: usize) -> u64 {
        let g = k as f64 * self.senders as f64 + sender as f64;
        (self.start_ns + g * self.gap_ns) as u64
    }

    /// How many messages, across all senders, are due at `now_ns`.
    fn due_by(&self, now_ns: u64) -> usize {
        let since = now_ns as f64 - self.start_ns;
        if since < 0.0 {
            0
        } else {
            (since / self.gap_ns) as usize + 1
        }
    }

    /// How many of sender `sender`'s messages are among the first `g` across all.
    fn share(&self, sender: usize, g: usize) -> usize {
        (g + self.senders - 1 - sender) / self.senders
    }
}

/// The pacer thread; it stops when this is dropped.
pub struct Pacer {
    stop: Arc<AtomicBool>,
}

impl Pacer {
    /// Starts releasing `per_sender` messages to each of `gates` on `schedule`, with
    /// times counted from `base`.
    pub fn start(
        gates: Vec<Arc<Gate>>,
        per_sender: usize,
        schedule: Schedule,
        base: Instant,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        thread::Builder::new()
            .name("gadka-load-pacer".into())
            .spawn(move || pace(&gates, per_sender, schedule, base, &stopped))?;
        Ok(Self { stop })
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn pace(
    gates: &[Arc<Gate>],
    per_sender: usize,
    schedule: Schedule,
    base: Instant,
    stop: &AtomicBool,
) {
    let senders = gates.len();
    let total = per_sender * senders;
    let mut released = 0;
    while released < total && !stop.load(Ordering::Relaxed) {
        let due = schedule.due_by(nanos_since(base)).min(total);
        if due > released {
            if due - released >= senders {
                for (sender, gate) in gates.iter().enumerate() {
                    gate.open_to(schedule.share(sender, due));
                }
            } else {
                for g in released..due {
                    let sender = g % senders;
                    gates[sender].open_to(schedule.share(sender, due));
                }
            }
            released = due;
        }
        if released < total {
            let next = schedule.due(released % senders, released / senders);
            let wait = next.saturating_sub(nanos_since(base));
            thread::sleep(Duration::from_nanos(wait).max(TICK));
        }
    }
}

/// Nanoseconds since `base`.
pub fn nanos_since(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_takes_senders_in_turn() {
        // 1000 messages/s across 4 senders: one every millisecond, each sender every 4.
        let s = Schedule::new(0, 1000.0, 4);
        assert_eq!(s.due(0, 0), 0);
        assert_eq!(s.due(1, 0), 1_000_000);
        assert_eq!(s.due(0, 1), 4_000_000);
        assert_eq!(s.due(3, 2), 11_000_000);
        assert_eq!(s.due_by(0), 1);
        assert_eq!(s.due_by(4_500_000), 5);
        // Of the first 5 messages, sender 0 has 2 (0 and 4), the others 1.
        assert_eq!(s.share(0, 5), 2);
        assert_eq!(s.share(1, 5), 1);
        assert_eq!(s.share(3, 5), 1);
        assert_eq!(s.share(3, 3), 0);
        let late = Schedule::new(20, 1000.0, 4);
        assert_eq!(late.due_by(10), 0);
    }

    #[test]
    fn gates_open_forward_only() {
        let gate = Gate::default();
        gate.open_to(3);
        gate.open_to(2);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(gate.wait_past(0)), 3);
    }

    #[test]
    fn the_pacer_releases_everything_on_time() {
        let gates: Vec<_> = (0..3).map(|_| Arc::new(Gate::default())).collect();
        let base = Instant::now();
        // 3000 messages/s, 5 per sender: 15 messages over 5 ms.
        let _pacer = Pacer::start(gates.clone(), 5, Schedule::new(0, 3000.0, 3), base).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for gate in &gates {
            assert_eq!(rt.block_on(gate.wait_past(4)), 5);
        }
        assert!(base.elapsed() >= Duration::from_micros(4_600));
    }
}
