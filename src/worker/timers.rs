//! A worker's timers: a min-heap of deadlines. Entries are never removed
//! early; an entry whose purpose has passed is recognised and ignored when it
//! fires, which keeps arming a timer O(log n) and cancelling free.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
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
    heap: BinaryHeap<Reverse<(Instant, Timer)>>,
}

impl Timers {
    pub fn add(&mut self, at: Instant, timer: Timer) {
        self.heap.push(Reverse((at, timer)));
    }

    /// How long the loop may sleep before the next timer is due.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(now))
    }

    /// Takes the next timer due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse((_, t))| t),
            _ => None,
        }
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
}
