//! The pairs of users known to have a direct conversation, so that a send addressed
//! to a user (`to_user`) does not ask the database each time whether it starts a new
//! one (which the allowance of new conversations counts). A conversation, once made,
//! is never removed, so what is known stays true; one read per pair and process
//! learns it. Past a bound the set is forgotten all at once and learnt again, as the
//! writer's own cache is (`engine/cache.rs`).

use std::{collections::HashSet, sync::RwLock};

use crate::ids::Pair;

/// Pairs held before the set is emptied: about 5 MB.
const MOST: usize = 200_000;

#[derive(Default)]
pub struct KnownPairs(RwLock<HashSet<Pair>>);

impl KnownPairs {
    pub fn contains(&self, pair: Pair) -> bool {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&pair)
    }

    pub fn insert(&self, pair: Pair) {
        let mut pairs = self.0.write().unwrap_or_else(|e| e.into_inner());
        if pairs.len() >= MOST {
            pairs.clear();
        }
        pairs.insert(pair);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;

    fn pair(a: i64, b: i64) -> Pair {
        Pair::new(UserId::new(a), UserId::new(b)).expect("two users")
    }

    #[test]
    fn a_pair_is_known_either_way_round_once_inserted() {
        let known = KnownPairs::default();
        assert!(!known.contains(pair(1, 2)));
        known.insert(pair(2, 1));
        assert!(known.contains(pair(1, 2)));
        assert!(!known.contains(pair(1, 3)));
    }

    #[test]
    fn past_the_bound_it_starts_again() {
        let known = KnownPairs::default();
        for i in 0..MOST as i64 {
            known.insert(pair(1, i + 2));
        }
        assert!(known.contains(pair(1, 2)));
        known.insert(pair(3, 4));
        assert!(known.contains(pair(3, 4)));
        assert!(!known.contains(pair(1, 2)));
    }
}
