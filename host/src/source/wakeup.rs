//! A wake-up for a reader that waits for data. Two kinds of wake reach it:
//! [`Wakeup::wake`] (the engine: return from `poll` at once, a stop or a
//! pause is due) and [`Wakeup::data_may_have_arrived`] (the file watcher:
//! look again, and go on waiting if there is nothing yet).
//!
//! Both are counters under a lock with a condition variable: a wake between
//! a reader's look at the data and its wait is not lost, because the reader
//! waits only while the counters are still the ones it read before looking.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
pub struct Wakeup(Arc<Inner>);

#[derive(Default)]
struct Inner {
    seen: Mutex<Seen>,
    woken: Condvar,
}

/// The counters as a reader saw them before it looked for data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    wakes: u64,
    arrivals: u64,
}

/// Why a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woken {
    /// [`Wakeup::wake`]: return to the caller.
    Wake,
    /// [`Wakeup::data_may_have_arrived`]: look again.
    Data,
    TimedOut,
}

impl Wakeup {
    /// Ends a waiting `poll` (and the next wait that starts from older counters).
    pub fn wake(&self) {
        self.lock().wakes += 1;
        self.0.woken.notify_all();
    }

    /// Tells a waiting reader to look for new data.
    pub fn data_may_have_arrived(&self) {
        self.lock().arrivals += 1;
        self.0.woken.notify_all();
    }

    /// The counters to pass to [`Wakeup::wait`]; read them before looking for data.
    pub fn seen(&self) -> Seen {
        *self.lock()
    }

    /// Waits until a wake after `seen`, or until `timeout`.
    pub fn wait(&self, seen: Seen, timeout: Duration) -> Woken {
        let deadline = Instant::now() + timeout;
        let mut now_seen = self.lock();
        loop {
            if now_seen.wakes != seen.wakes {
                return Woken::Wake;
            }
            if now_seen.arrivals != seen.arrivals {
                return Woken::Data;
            }
            let now = Instant::now();
            if now >= deadline {
                return Woken::TimedOut;
            }
            now_seen = self.0.woken.wait_timeout(now_seen, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// The same wake-up (a clone of it), not merely equal counters.
    pub fn same(&self, other: &Wakeup) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.0.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for Wakeup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Wakeup").field(&self.seen()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_before_the_wait_is_not_lost_and_says_which_kind_it_was() {
        let w = Wakeup::default();
        let seen = w.seen();
        w.data_may_have_arrived();
        assert_eq!(w.wait(seen, Duration::from_secs(5)), Woken::Data);
        w.wake();
        assert_eq!(w.wait(seen, Duration::from_secs(5)), Woken::Wake, "a wake counts before data");
        assert_eq!(w.wait(w.seen(), Duration::from_millis(10)), Woken::TimedOut);
    }

    #[test]
    fn a_wake_from_another_thread_ends_a_wait() {
        let w = Wakeup::default();
        let seen = w.seen();
        let other = w.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            other.wake();
        });
        let started = Instant::now();
        assert_eq!(w.wait(seen, Duration::from_secs(30)), Woken::Wake);
        assert!(started.elapsed() < Duration::from_secs(20));
        t.join().unwrap();
    }
}
