//! `VecSource`: partitions held in memory, for tests of the engine and the
//! manager. Pointer = the message's index in its partition; messages can
//! be appended while an ingestion reads them.

use super::{Batch, Message, PartitionReader, Source, SourceError, Wakeup};
use crate::pointer::{Pointer, StartPosition};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct VecSource {
    partitions: Arc<Mutex<Vec<Vec<Message>>>>,
    /// Polls still to fail, per partition.
    failures: Arc<Mutex<std::collections::BTreeMap<u32, u32>>>,
    /// Readers wait for data on a [`Wakeup`], as the file source's do,
    /// after this long between a poll's start and its look at the wakes
    /// (the window in which a wake must not be lost).
    wakeable_after: Option<Duration>,
}

impl VecSource {
    /// `partitions` empty partitions.
    pub fn new(partitions: u32) -> Self {
        VecSource {
            partitions: Arc::new(Mutex::new(vec![Vec::new(); partitions as usize])),
            failures: Arc::default(),
            wakeable_after: None,
        }
    }

    /// Readers that wait for data on a wake-up (see `wakeable_after`).
    pub fn wakeable(mut self, after: Duration) -> Self {
        self.wakeable_after = Some(after);
        self
    }

    /// Makes the next `n` polls of `partition` fail (as an unreachable source).
    pub fn fail_polls(&self, partition: u32, n: u32) {
        *self.failures.lock().unwrap_or_else(|p| p.into_inner()).entry(partition).or_default() += n;
    }

    fn take_failure(&self, partition: u32) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get_mut(&partition) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// Appends payloads to a partition; their pointers follow the last one.
    pub fn append<P: AsRef<[u8]>>(&self, partition: u32, payloads: &[P]) {
        let mut parts = self.lock();
        let part = &mut parts[partition as usize];
        for p in payloads {
            let pointer = Pointer::from(part.len() as u64);
            part.push(Message {
                pointer,
                timestamp_ms: None,
                key: None,
                headers: vec![],
                payload: Some(p.as_ref().to_vec()),
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Message>>> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Source for VecSource {
    fn partition_count(&self) -> Result<u32, SourceError> {
        Ok(self.lock().len() as u32)
    }

    fn open(&self, partition: u32, start: StartPosition) -> Result<Box<dyn PartitionReader>, SourceError> {
        let parts = self.lock();
        let part =
            parts.get(partition as usize).ok_or_else(|| SourceError::Config(format!("no partition {partition}")))?;
        let index = |p: &Pointer| {
            p.to_string().parse::<usize>().map_err(|_| SourceError::Config(format!("pointer {p} is not an index")))
        };
        let next = match &start {
            StartPosition::Earliest => 0,
            StartPosition::Latest => part.len(),
            StartPosition::At(p) => index(p)?,
            StartPosition::After(p) => index(p)? + 1,
            StartPosition::Timestamp(t) => {
                part.iter().position(|m| m.timestamp_ms.is_some_and(|ts| ts >= *t)).unwrap_or(part.len())
            }
        };
        let wakeable = self.wakeable_after.map(|after| (Wakeup::default(), after));
        Ok(Box::new(VecReader { source: self.clone(), partition: partition as usize, next, wakeable }))
    }
}

struct VecReader {
    source: VecSource,
    partition: usize,
    next: usize,
    /// The reader's wake-up and its window (`VecSource::wakeable`).
    wakeable: Option<(Wakeup, Duration)>,
}

impl PartitionReader for VecReader {
    fn poll(&mut self, max: usize, timeout: Duration) -> Result<Batch, SourceError> {
        if self.source.take_failure(self.partition as u32) {
            return Err(SourceError::Unavailable(format!("partition {} failed as asked", self.partition)));
        }
        let messages: Vec<Message> = {
            let parts = self.source.lock();
            let part = &parts[self.partition];
            part.iter().skip(self.next).take(max).cloned().collect()
        };
        if messages.is_empty() {
            match &self.wakeable {
                Some((wakeup, after)) => {
                    std::thread::sleep((*after).min(timeout));
                    let seen = wakeup.seen();
                    // Only the engine wakes this reader (appends do not).
                    let _ = wakeup.wait(seen, timeout.saturating_sub(*after));
                }
                // Nothing yet: wait a little, as a real source would.
                None => std::thread::sleep(timeout.min(Duration::from_millis(5))),
            }
        }
        self.next += messages.len();
        let caught_up = self.next >= self.source.lock()[self.partition].len();
        Ok(Batch { messages, caught_up, ..Batch::default() })
    }

    fn wakeup(&self) -> Option<Wakeup> {
        self.wakeable.as_ref().map(|(wakeup, _)| wakeup.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_order_from_each_start_position() {
        let s = VecSource::new(2);
        s.append(1, &["a", "b", "c"]);
        let payloads = |start| {
            let mut r = s.open(1, start).unwrap();
            let b = r.poll(10, Duration::ZERO).unwrap();
            (b.messages.iter().map(|m| m.payload.clone().unwrap()).collect::<Vec<_>>(), b.caught_up)
        };
        assert_eq!(payloads(StartPosition::Earliest), (vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()], true));
        assert_eq!(payloads(StartPosition::After(Pointer::from(0))).0, vec![b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(payloads(StartPosition::At(Pointer::from(2))).0, vec![b"c".to_vec()]);
        assert_eq!(payloads(StartPosition::Latest), (vec![], true));
        assert_eq!(s.partition_count().unwrap(), 2);
    }
}
