//! A worker's timers, ordered by when they are due. A connection's deadline
//! timer is cancelled when the connection closes or needs an earlier one: with
//! a connection per request, leaving them to expire would keep one entry per
//! connection of the last header_timeout (220,000 at 22k connections/s).
//! A sleep's wake-up is left to fire (it is checked against the request).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Check connection `key`'s deadline.
    Deadline { key: usize },
    /// Resume the sleeping request `seq` on connection `key`.
    Wake { key: usize, seq: u64 },
}

#[derive(Default)]
pub struct Timers {
    due: BTreeSet<(Instant, Timer)>,
}

impl Timers {
    pub fn add(&mut self, at: Instant, timer: Timer) {
        self.due.insert((at, timer));
    }

    /// Removes a timer added for `at`, if it has not fired.
    pub fn cancel(&mut self, at: Instant, timer: Timer) {
        self.due.remove(&(at, timer));
    }

    /// How long the loop may sleep before the next timer is due.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.due
            .first()
            .map(|(at, _)| at.saturating_duration_since(now))
    }

    /// Takes the next timer due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        match self.due.first() {
            Some((at, _)) if *at <= now => self.due.pop_first().map(|(_, t)| t),
            _ => None,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_order() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.add(now + Duration::from_millis(20), Timer::Deadline { key: 2 });
        t.add(
            now + Duration::from_millis(10),
            Timer::Wake { key: 1, seq: 7 },
        );
        assert_eq!(t.timeout(now), Some(Duration::from_millis(10)));
        assert_eq!(t.pop_due(now), None);
        let later = now + Duration::from_millis(30);
        assert_eq!(t.pop_due(later), Some(Timer::Wake { key: 1, seq: 7 }));
        assert_eq!(t.pop_due(later), Some(Timer::Deadline { key: 2 }));
        assert_eq!(t.pop_due(later), None);
    }

    #[test]
    fn cancelled_timers_are_gone() {
        let now = Instant::now();
        let mut t = Timers::default();
        let at = now + Duration::from_secs(10);
        t.add(at, Timer::Deadline { key: 3 });
        t.add(at, Timer::Deadline { key: 4 });
        t.cancel(at, Timer::Deadline { key: 3 });
        assert_eq!(t.len(), 1);
        assert_eq!(t.pop_due(at), Some(Timer::Deadline { key: 4 }));
        t.cancel(at, Timer::Deadline { key: 4 });
        assert_eq!(t.len(), 0);
    }
}
