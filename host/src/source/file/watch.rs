//! Waiting for appends without polling: one filesystem watcher per process
//! (inotify on Linux) watches the stream directories of the open readers and
//! wakes the reader of a file when the file changes.
//!
//! A reader registers its file's path with its [`Wakeup`]; the directory is
//! watched while at least one reader of it is registered. Events are
//! matched by path, so an append to one partition wakes only its reader.
//! When a watch cannot be set up (no inotify instance left, a filesystem
//! without change events) [`watch`] returns `None` and the reader goes on
//! re-reading its file at a short interval.

use crate::source::Wakeup;
use notify::{Event, RecommendedWatcher, RecursiveMode, Watcher as _};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// A reader's registration; dropping it ends the watch of its file.
pub(super) struct Watched {
    path: PathBuf,
    wakeup: Wakeup,
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(w) = watcher() {
            w.unregister(&self.path, &self.wakeup);
        }
    }
}

/// Watches `file`'s directory and wakes `wakeup` on every change of `file`;
/// `None` when the platform or the directory gives no change events.
pub(super) fn watch(file: &Path, wakeup: &Wakeup) -> Option<Watched> {
    if !delivers_events(&directory(file)) {
        return None;
    }
    let w = watcher()?;
    w.register(file, wakeup).then(|| Watched { path: file.to_path_buf(), wakeup: wakeup.clone() })
}

/// The registered readers: file path -> their wake-ups; directory -> readers in it.
#[derive(Default)]
struct Registry {
    files: HashMap<PathBuf, Vec<Wakeup>>,
    dirs: HashMap<PathBuf, usize>,
}

struct FileWatcher {
    notify: Mutex<RecommendedWatcher>,
    registry: Arc<Mutex<Registry>>,
}

fn watcher() -> Option<&'static FileWatcher> {
    static WATCHER: OnceLock<Option<FileWatcher>> = OnceLock::new();
    WATCHER
        .get_or_init(|| {
            let registry = Arc::new(Mutex::new(Registry::default()));
            let events = registry.clone();
            match notify::recommended_watcher(move |event: notify::Result<Event>| deliver(&events, event)) {
                Ok(notify) => Some(FileWatcher { notify: Mutex::new(notify), registry }),
                Err(e) => {
                    tracing::warn!(error = %e, "no filesystem watcher: file sources re-read their files every 20 ms");
                    None
                }
            }
        })
        .as_ref()
}

/// Wakes the readers an event concerns: those of its paths, or all of them
/// when events were lost (a queue overflow) or the event names no path.
fn deliver(registry: &Mutex<Registry>, event: notify::Result<Event>) {
    let registry = registry.lock().unwrap_or_else(|p| p.into_inner());
    let all = match &event {
        Ok(e) => e.need_rescan() || e.paths.is_empty(),
        Err(_) => true,
    };
    if all {
        registry.files.values().flatten().for_each(Wakeup::data_may_have_arrived);
    } else if let Ok(e) = event {
        for path in &e.paths {
            registry.files.get(path).into_iter().flatten().for_each(Wakeup::data_may_have_arrived);
        }
    }
}

/// False for the network and user-space filesystems (NFS, SMB/CIFS, 9p,
/// FUSE, AFS, Ceph), where inotify does not see the writes of other hosts
/// or processes: their readers keep re-reading every 20 ms.
fn delivers_events(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        const REMOTE: &[i64] = &[
            0x6969,      // NFS
            0x517b,      // SMB
            0xff53_4d42, // CIFS
            0xfe53_4d42, // SMB2
            0x0102_1997, // 9p (VM and WSL shares)
            0x6573_5546, // FUSE
            0x5346_414f, // AFS
            0x00c3_6400, // Ceph
        ];
        // (`f_type`'s integer type differs between architectures.)
        #[allow(clippy::unnecessary_cast)]
        if let Ok(fs) = rustix::fs::statfs(dir)
            && REMOTE.contains(&(fs.f_type as i64))
        {
            tracing::debug!(dir = %dir.display(), f_type = fs.f_type, "a network filesystem: its files are re-read every 20 ms");
            return false;
        }
    }
    true
}

fn directory(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl FileWatcher {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, file: &Path, wakeup: &Wakeup) -> bool {
        let dir = directory(file);
        // The notify lock first, then the registry's, everywhere: the event
        // thread takes only the registry's.
        let mut notify = self.notify.lock().unwrap_or_else(|p| p.into_inner());
        let mut registry = self.lock();
        if !registry.dirs.contains_key(&dir) {
            drop(registry);
            if let Err(e) = notify.watch(&dir, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the stream directory: its readers re-read their files every 20 ms");
                return false;
            }
            registry = self.lock();
        }
        *registry.dirs.entry(dir).or_insert(0) += 1;
        registry.files.entry(file.to_path_buf()).or_default().push(wakeup.clone());
        true
    }

    fn unregister(&self, file: &Path, wakeup: &Wakeup) {
        let dir = directory(file);
        let mut notify = self.notify.lock().unwrap_or_else(|p| p.into_inner());
        let mut registry = self.lock();
        if let Some(list) = registry.files.get_mut(file) {
            if let Some(i) = list.iter().position(|w| w.same(wakeup)) {
                list.swap_remove(i);
            }
            if list.is_empty() {
                registry.files.remove(file);
            }
        }
        let Some(count) = registry.dirs.get_mut(&dir) else { return };
        *count -= 1;
        if *count == 0 {
            registry.dirs.remove(&dir);
            drop(registry);
            // The directory may be gone already; nothing to undo then.
            let _ = notify.unwatch(&dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{payloads, source};
    use super::*;
    use crate::pointer::StartPosition;
    use crate::source::Source;
    use std::io::Write;
    use std::time::{Duration, Instant};

    /// A reader waits for appends on the filesystem's change events: an
    /// append ends a long wait with the new line, and so does the engine's
    /// wake (with nothing). Either one failing leaves the poll waiting its
    /// full 60 s.
    #[test]
    fn a_waiting_reader_is_woken_by_an_append_and_by_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let source = source(dir.path());
        let path = source.partition_path(0);
        std::fs::write(&path, "a\n").unwrap();
        let mut reader = source.open(0, StartPosition::Earliest).unwrap();
        assert_eq!(payloads(&reader.poll(10, Duration::from_secs(1)).unwrap()), vec![(0, "a".to_string())]);
        let wakeup = reader.wakeup().expect("a file reader can be woken");

        let appender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"b\n").unwrap();
        });
        let started = Instant::now();
        let batch = reader.poll(10, Duration::from_secs(60)).unwrap();
        assert_eq!(payloads(&batch), vec![(1, "b".to_string())]);
        assert!(started.elapsed() < Duration::from_secs(30), "the append did not end the wait");
        appender.join().unwrap();

        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            wakeup.wake();
        });
        let started = Instant::now();
        let batch = reader.poll(10, Duration::from_secs(60)).unwrap();
        assert!(batch.messages.is_empty() && batch.caught_up);
        assert!(started.elapsed() < Duration::from_secs(30), "the engine's wake did not end the wait");
        waker.join().unwrap();
    }

    /// The reader of a partition file that does not exist yet is woken when
    /// it is created, through the watch on the stream directory.
    #[cfg(target_os = "linux")]
    #[test]
    fn file_readers_are_watched_and_a_created_file_wakes_its_reader() {
        let dir = tempfile::tempdir().unwrap();
        let source = source(dir.path());
        let mut reader = source.open(3, StartPosition::Earliest).unwrap();
        let path = source.partition_path(3);
        let creator = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            std::fs::write(&path, "x\n").unwrap();
        });
        let batch = reader.poll(10, Duration::from_secs(60)).unwrap();
        creator.join().unwrap();
        // (An empty batch: woken by the creation before the line was written.)
        let batch = if batch.messages.is_empty() { reader.poll(10, Duration::from_secs(60)).unwrap() } else { batch };
        assert_eq!(payloads(&batch), vec![(0, "x".to_string())]);
        assert!(watch(&source.partition_path(5), &Wakeup::default()).is_some(), "inotify watches the directory");
    }
}
