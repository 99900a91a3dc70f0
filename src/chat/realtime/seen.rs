//! What a socket has shown, so that its `hello`, live delivery and a `resume` replay
//! never show a change twice and never skip one.
//!
//! It rests on one fact the engine guarantees: positions (a message's id, a change's
//! `pos`) are assigned in commit order, and every change committed after a socket
//! registered reaches it live, in that order. So three numbers say everything:
//! - the `hello` snapshot holds every change up to its `position`: live changes up to
//!   it are already shown;
//! - a replay shows changes in position order: live changes up to the newest
//!   replayed one are already shown;
//! - the first live change shown: every later change of mine comes (or is queued to
//!   come) live, so a replay stops short of it.
//!
//! Several nodes' writers hold to it too: their batches commit one after another
//! (`stream_head`), and each node hands its sockets every batch in that order (see
//! `docs/architecture.md`, "Positions and several writers").

use crate::ids::Position;

/// The changes one socket has shown. Three integers, whatever the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenMessages {
    hello_up_to: Position,
    replayed_up_to: Position,
    first_live: Option<Position>,
}

impl SeenMessages {
    /// A socket whose `hello` covered every change up to `position`.
    pub fn after_hello(position: Position) -> Self {
        Self {
            hello_up_to: position,
            replayed_up_to: Position::new(0),
            first_live: None,
        }
    }

    /// Whether to show a change the hub delivered live; records it if so.
    pub fn show_live(&mut self, id: Position) -> bool {
        if id <= self.hello_up_to.max(self.replayed_up_to) {
            return false;
        }
        self.first_live.get_or_insert(id);
        true
    }

    /// Whether to show a change a replay found; records it if so.
    pub fn show_replayed(&mut self, id: Position) -> bool {
        if self.first_live.is_some_and(|first| id >= first) {
            return false;
        }
        self.replayed_up_to = self.replayed_up_to.max(id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_messages_the_hello_already_had_are_skipped() {
        let mut seen = SeenMessages::after_hello(Position::new(10));
        assert!(!seen.show_live(Position::new(9)));
        assert!(!seen.show_live(Position::new(10)));
        assert!(seen.show_live(Position::new(11)));
        assert!(seen.show_live(Position::new(14)));
    }

    #[test]
    fn a_replay_before_any_live_message_covers_the_queued_ones() {
        // Messages 11 and 12 are queued live while the replay reads them from the
        // database: the replay shows them, the queue does not again.
        let mut seen = SeenMessages::after_hello(Position::new(10));
        assert!(seen.show_replayed(Position::new(5)));
        assert!(seen.show_replayed(Position::new(11)));
        assert!(seen.show_replayed(Position::new(12)));
        assert!(!seen.show_live(Position::new(11)));
        assert!(!seen.show_live(Position::new(12)));
        assert!(seen.show_live(Position::new(13)));
    }

    #[test]
    fn a_replay_after_live_messages_stops_short_of_them() {
        let mut seen = SeenMessages::after_hello(Position::new(10));
        assert!(seen.show_live(Position::new(20)));
        // The client asks for everything since 3: what it missed before 20 comes from
        // the replay, 20 and later came (or are queued to come) live.
        assert!(seen.show_replayed(Position::new(4)));
        assert!(seen.show_replayed(Position::new(19)));
        assert!(!seen.show_replayed(Position::new(20)));
        assert!(!seen.show_replayed(Position::new(25)));
        assert!(seen.show_live(Position::new(25)));
    }

    #[test]
    fn every_id_is_shown_exactly_once_across_hello_live_and_replay() {
        // Ids 1..=30 are mine; hello covers up to 8, then 9..=12 arrive live while
        // the socket replays from 0 and the rest arrive live after.
        let mut seen = SeenMessages::after_hello(Position::new(8));
        let mut shown: std::collections::HashMap<i64, u32> = (1..=8).map(|id| (id, 1)).collect();
        let mut show = |id: i64, yes: bool| {
            if yes {
                *shown.entry(id).or_default() += 1;
            }
        };
        for id in 9..=10 {
            show(id, seen.show_live(Position::new(id)));
        }
        for id in 1..=12 {
            show(id, seen.show_replayed(Position::new(id)));
        }
        for id in 11..=30 {
            show(id, seen.show_live(Position::new(id)));
        }
        // The replay is the client's explicit ask: it may repeat what the hello had.
        assert!((1..=8).all(|id| shown[&id] == 2), "{shown:?}");
        assert!((9..=30).all(|id| shown[&id] == 1), "{shown:?}");
    }
}
