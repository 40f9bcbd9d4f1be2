//! A small pool of threads for work that cannot be made non-blocking (SQL
//! drivers, file system calls). A worker hands a job over, its request's
//! coroutine yields, and the result comes back through the worker's
//! [`Completions`], whose `mio::Waker` wakes the worker's loop.

use mio::Waker;
use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// What a job produces; the worker turns it into Lua values.
pub type Output = Box<dyn Any + Send>;
/// A job run on a pool thread.
pub type Job = Box<dyn FnOnce() -> Output + Send>;

/// Results on their way back to one worker.
pub struct Completions {
    done: Mutex<Vec<(u64, Output)>>,
    waker: Arc<Waker>,
}

impl Completions {
    pub fn new(waker: Arc<Waker>) -> Arc<Completions> {
        Arc::new(Completions {
            done: Mutex::new(Vec::new()),
            waker,
        })
    }

    fn push(&self, ticket: u64, out: Output) {
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((ticket, out));
        let _ = self.waker.wake();
    }

    /// Takes every result that has arrived.
    pub fn take(&self) -> Vec<(u64, Output)> {
        std::mem::take(&mut *self.done.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Queued jobs with their tickets and destinations, and whether the pool is closing.
type Jobs = (VecDeque<(u64, Job, Arc<Completions>)>, bool);

struct Queue {
    jobs: Mutex<Jobs>,
    ready: Condvar,
}

pub struct Pool {
    queue: Arc<Queue>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn new(threads: usize) -> Arc<Pool> {
        let queue = Arc::new(Queue {
            jobs: Mutex::new((VecDeque::new(), false)),
            ready: Condvar::new(),
        });
        let threads = (0..threads.max(1))
            .filter_map(|i| {
                let q = queue.clone();
                std::thread::Builder::new()
                    .name(format!("flutter-pool-{i}"))
                    .spawn(move || run(&q))
                    .ok()
            })
            .collect();
        Arc::new(Pool { queue, threads })
    }

    /// Runs `job` on a pool thread; its output reaches `to` under `ticket`.
    pub fn submit(&self, ticket: u64, job: Job, to: Arc<Completions>) {
        let mut q = self.queue.jobs.lock().unwrap_or_else(|e| e.into_inner());
        q.0.push_back((ticket, job, to));
        self.queue.ready.notify_one();
    }
}

fn run(q: &Queue) {
    loop {
        let (ticket, job, to) = {
            let mut jobs = q.jobs.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(j) = jobs.0.pop_front() {
                    break j;
                }
                if jobs.1 {
                    return;
                }
                jobs = q.ready.wait(jobs).unwrap_or_else(|e| e.into_inner());
            }
        };
        // A panicking job must not take the pool thread with it.
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
            .unwrap_or_else(|_| Box::new(Panicked) as Output);
        to.push(ticket, out);
    }
}

/// The output of a job that panicked.
pub struct Panicked;

impl Drop for Pool {
    fn drop(&mut self) {
        self.queue.jobs.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.queue.ready.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};

    #[test]
    fn results_come_back_and_wake_the_loop() {
        let mut poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), Token(1)).unwrap());
        let done = Completions::new(waker);
        let pool = Pool::new(2);
        for t in 0..4u64 {
            pool.submit(
                t,
                Box::new(move || Box::new(t * 10) as Output),
                done.clone(),
            );
        }
        pool.submit(9, Box::new(|| panic!("job failed")), done.clone());
        let mut got = Vec::new();
        let mut events = Events::with_capacity(8);
        while got.len() < 5 {
            poll.poll(&mut events, Some(std::time::Duration::from_secs(5)))
                .unwrap();
            got.extend(done.take());
        }
        got.sort_by_key(|(t, _)| *t);
        for (t, out) in &got[..4] {
            assert_eq!(out.downcast_ref::<u64>(), Some(&(t * 10)));
        }
        assert!(got[4].1.downcast_ref::<Panicked>().is_some());
    }
}
