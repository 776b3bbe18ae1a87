//! The `file` source: OpenSearch's ingestion-fs layout.
//!
//! Partition N of stream S is `<base_directory>/<S>/<N>.ndjson`; one message
//! per line; the pointer is the 0-based line number. The reader follows a file
//! as it grows and never emits a trailing line until its newline arrives.
//! Files carry no timestamps, so `reset_by_timestamp` falls back to the
//! earliest line with a warning, as OpenSearch does.
//!
//! A followed file that is truncated or replaced under the reader (a rewrite,
//! log rotation) is detected, and the reader fails with
//! [`SourceError::PositionLost`], which blocks the shard until its pointer is
//! reset (see [`follow`]). At open, a file with fewer lines than the start
//! position needs is detected the same way. A file truncated or replaced
//! while no reader had it open and grown back past the checkpoint's line
//! cannot be told apart from the original: the checkpoint holds only the
//! line number.

use super::{Batch, Message, PartitionReader, Source, SourceError, Wakeup, Woken};
use crate::pointer::{Pointer, StartPosition};
use follow::{FillError, Followed};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod follow;
mod watch;

/// How often an idle reader looks for new lines when its file is not
/// watched (see [`watch`]); a watched reader looks when woken.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(20);

pub struct FileSource {
    dir: PathBuf,
    /// Bytes of a line kept in memory: a longer line is read through but
    /// only its first `max_line_bytes + 1` bytes are kept, enough for the
    /// plugin layer to reject it as too large (a line of gigabytes must not
    /// become a buffer of gigabytes).
    max_line_bytes: usize,
}

impl FileSource {
    pub fn from_params(params: &BTreeMap<String, String>) -> Result<Self, SourceError> {
        for key in params.keys() {
            if key != "stream" && key != "base_directory" {
                return Err(SourceError::Config(format!(
                    "unknown file source parameter [param.{key}]; allowed: stream, base_directory"
                )));
            }
        }
        let get =
            |k: &str| params.get(k).ok_or_else(|| SourceError::Config(format!("the file source needs [param.{k}]")));
        Ok(FileSource {
            dir: Path::new(get("base_directory")?).join(get("stream")?),
            max_line_bytes: crate::spec::Limits::default().max_message_bytes(),
        })
    }

    /// Keeps at most `max + 1` bytes of any line (see [`FileSource`]).
    pub fn with_max_line_bytes(mut self, max: usize) -> Self {
        self.max_line_bytes = max;
        self
    }

    /// The error for a stream directory that does not exist: what was
    /// expected, and what the base directory holds instead.
    fn missing_stream(&self) -> SourceError {
        let base = self.dir.parent().unwrap_or(Path::new("."));
        let stream = self.dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let shown = if base.is_absolute() {
            base.display().to_string()
        } else {
            let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
            format!("{} (relative to the working directory {cwd})", base.display())
        };
        match std::fs::read_dir(base) {
            Err(_) => SourceError::Config(format!(
                "param.base_directory {shown} does not exist; the file source reads <base_directory>/<stream>/<N>.ndjson"
            )),
            Ok(entries) => {
                let mut streams: Vec<String> = entries
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                streams.sort();
                let found = if streams.is_empty() { "no stream directories".to_string() } else { streams.join(", ") };
                SourceError::Config(format!(
                    "param.stream {stream:?}: no directory {stream} in {shown}; it holds: {found}"
                ))
            }
        }
    }

    pub fn partition_path(&self, partition: u32) -> PathBuf {
        self.dir.join(format!("{partition}.ndjson"))
    }
}

impl Source for FileSource {
    fn partition_count(&self) -> Result<u32, SourceError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            // A missing stream directory is most likely a typo or a wrong
            // working directory: say what is there instead of reading nothing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(self.missing_stream()),
            Err(e) => return Err(SourceError::Io { path: self.dir.display().to_string(), source: e }),
        };
        let mut present = std::collections::BTreeSet::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(n) = name.to_str().and_then(|n| n.strip_suffix(".ndjson")) else { continue };
            if let Ok(n) = n.parse::<u32>() {
                present.insert(n);
            }
        }
        let count = present.last().map_or(0, |n| n + 1);
        let missing: Vec<u32> = (0..count).filter(|n| !present.contains(n)).collect();
        if !missing.is_empty() {
            // Not an error: a missing file is an empty partition that may
            // appear later. But a gap is usually a mistake, so it is said.
            tracing::warn!(
                stream = %self.dir.display(),
                ?missing,
                "partition files {} exist but {} missing: those shards read nothing until the files appear",
                present.iter().map(|n| format!("{n}.ndjson")).collect::<Vec<_>>().join(", "),
                missing.iter().map(|n| format!("{n}.ndjson")).collect::<Vec<_>>().join(", ")
            );
        }
        Ok(count)
    }

    fn open(&self, partition: u32, start: StartPosition) -> Result<Box<dyn PartitionReader>, SourceError> {
        let first_line = match start.clone() {
            StartPosition::Earliest => Some(0),
            StartPosition::At(p) => Some(line_number(p)?),
            StartPosition::After(p) => Some(line_number(p)? + 1),
            StartPosition::Timestamp(_) => {
                tracing::warn!(partition, "files have no timestamps: reset_by_timestamp starts at the earliest line");
                Some(0)
            }
            // Resolved against the file as it is when first opened.
            StartPosition::Latest => None,
        };
        let path = self.partition_path(partition);
        let wakeup = Wakeup::default();
        let watched = watch::watch(&path, &wakeup);
        Ok(Box::new(FileReader {
            path,
            wakeup,
            watched,
            file: None,
            start,
            first_line,
            next_line: 0,
            partial: Vec::new(),
            partial_cut: false,
            max_line_bytes: self.max_line_bytes,
            lost: None,
        }))
    }
}

fn line_number(p: Pointer) -> Result<u64, SourceError> {
    p.as_u64().ok_or_else(|| SourceError::Config(format!("pointer {p} is not a line number")))
}

struct FileReader {
    path: PathBuf,
    /// Woken by the watcher when the file changes, and by the engine.
    wakeup: Wakeup,
    /// `None`: no change events for this file; the reader re-reads it every
    /// [`FOLLOW_INTERVAL`] while it waits.
    watched: Option<watch::Watched>,
    /// `None` until the file exists.
    file: Option<Followed>,
    /// Where the reader was opened (for the position of a lost start).
    start: StartPosition,
    /// The first line to emit; `None` means "the end of the file as found".
    first_line: Option<u64>,
    /// The line number of the next complete line in the file.
    next_line: u64,
    /// Bytes of a line whose newline has not been read yet (at most
    /// `max_line_bytes + 1` of them).
    partial: Vec<u8>,
    /// Bytes of `partial`'s line were dropped (it is over the limit).
    partial_cut: bool,
    max_line_bytes: usize,
    /// The file was truncated or replaced under the reader: (position,
    /// reason). Every poll from then on fails with it.
    lost: Option<(String, String)>,
}

impl FileReader {
    fn io(&self, e: std::io::Error) -> SourceError {
        SourceError::Io { path: self.path.display().to_string(), source: e }
    }

    /// Opens the file if it exists now; `false` if it does not exist yet.
    fn ensure_open(&mut self) -> Result<bool, SourceError> {
        if self.file.is_some() {
            return Ok(true);
        }
        match Followed::open(&self.path) {
            Ok(f) => {
                self.file = Some(f);
                if self.first_line.is_none() {
                    // `latest`: skip every complete line present now.
                    let mut skipped = 0;
                    while self.read_line()?.is_some() {
                        skipped += 1;
                    }
                    self.first_line = Some(skipped);
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A missing file is an empty partition; `latest` then means line 0.
                let first = *self.first_line.get_or_insert(0);
                if first > 0 {
                    // The lines before the position are gone with the file.
                    return Err(self.lose(
                        self.start.to_string(),
                        format!(
                            "file {} does not exist (it was deleted or moved away), but the position needs its first {first} lines",
                            self.path.display()
                        ),
                    ));
                }
                Ok(false)
            }
            Err(e) => Err(self.io(e)),
        }
    }

    /// Records that the position is lost, and returns the error.
    fn lose(&mut self, position: String, reason: String) -> SourceError {
        tracing::warn!(path = %self.path.display(), %position, %reason, "file position lost");
        self.lost = Some((position.clone(), reason.clone()));
        SourceError::PositionLost { position, reason }
    }

    /// Reads the next complete line (without its newline), if there is one.
    /// A line longer than `max_line_bytes` is cut to `max_line_bytes + 1`.
    fn read_line(&mut self) -> Result<Option<(u64, Vec<u8>)>, SourceError> {
        let keep = self.max_line_bytes.saturating_add(1);
        let file = self.file.as_mut().expect("file opened");
        loop {
            let buf = match file.fill(&self.path) {
                Ok(buf) => buf,
                Err(FillError::Io(e)) => {
                    return Err(SourceError::Io { path: self.path.display().to_string(), source: e });
                }
                Err(FillError::Changed(what)) => {
                    // Whatever was held back of an unfinished line is not a
                    // line of the new file: it is never emitted.
                    let position = format!("line {}", self.next_line);
                    let reason = format!("file {} {what}", self.path.display());
                    return Err(self.lose(position, reason));
                }
            };
            if buf.is_empty() {
                // EOF, possibly in the middle of a line that is still being written.
                return Ok(None);
            }
            let (used, complete) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            let content = &buf[..used - complete as usize];
            let room = keep.saturating_sub(self.partial.len());
            self.partial_cut |= content.len() > room;
            self.partial.extend_from_slice(&content[..content.len().min(room)]);
            file.consume(used);
            if complete {
                break;
            }
        }
        let mut line = std::mem::take(&mut self.partial);
        if line.last() == Some(&b'\r') && !self.partial_cut {
            line.pop();
        }
        self.partial_cut = false;
        let number = self.next_line;
        self.next_line += 1;
        Ok(Some((number, line)))
    }

    /// At the end of the file: a start position past its last line means the
    /// file lost lines since that position was committed.
    fn check_start_reached(&mut self, first: u64) -> Result<(), SourceError> {
        if self.next_line >= first {
            return Ok(());
        }
        let reason = format!(
            "file {} has only {} lines, but the position needs at least {first}: it was truncated or replaced since",
            self.path.display(),
            self.next_line
        );
        Err(self.lose(self.start.to_string(), reason))
    }

    fn lost_error(&self) -> Option<SourceError> {
        self.lost
            .as_ref()
            .map(|(position, reason)| SourceError::PositionLost { position: position.clone(), reason: reason.clone() })
    }
}

impl PartitionReader for FileReader {
    fn poll(&mut self, max: usize, timeout: Duration) -> Result<Batch, SourceError> {
        if let Some(e) = self.lost_error() {
            return Err(e);
        }
        let deadline = Instant::now() + timeout;
        let mut messages = Vec::new();
        loop {
            // Read before looking: a change after the look wakes the wait.
            let seen = self.wakeup.seen();
            if self.ensure_open()? {
                let first = self.first_line.unwrap_or(0);
                while messages.len() < max {
                    let next = match self.read_line() {
                        Ok(next) => next,
                        // Lines read before the file changed are lines of the
                        // old file: they are delivered, the error comes next.
                        Err(SourceError::PositionLost { .. }) if !messages.is_empty() => {
                            return Ok(Batch { messages, caught_up: false, ..Batch::default() });
                        }
                        Err(e) => return Err(e),
                    };
                    match next {
                        Some((number, _)) if number < first => continue,
                        Some((number, line)) => messages.push(Message {
                            pointer: Pointer::Small(number),
                            timestamp_ms: None,
                            key: None,
                            headers: Vec::new(),
                            payload: Some(line),
                        }),
                        None => {
                            self.check_start_reached(first)?;
                            break;
                        }
                    }
                }
                if messages.len() == max {
                    return Ok(Batch { messages, caught_up: false, ..Batch::default() });
                }
            }
            let now = Instant::now();
            if !messages.is_empty() || now >= deadline {
                return Ok(Batch { messages, caught_up: true, ..Batch::default() });
            }
            let left = deadline - now;
            let wait = if self.watched.is_some() { left } else { FOLLOW_INTERVAL.min(left) };
            // The engine's wake (a stop) returns; a change of the file looks again.
            if self.wakeup.wait(seen, wait) == Woken::Wake {
                return Ok(Batch { messages, caught_up: true, ..Batch::default() });
            }
        }
    }

    fn wakeup(&self) -> Option<Wakeup> {
        Some(self.wakeup.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    pub(super) fn source(dir: &Path) -> FileSource {
        let params = BTreeMap::from([
            ("base_directory".to_string(), dir.display().to_string()),
            ("stream".to_string(), "s".to_string()),
        ]);
        std::fs::create_dir_all(dir.join("s")).unwrap();
        FileSource::from_params(&params).unwrap()
    }

    pub(super) fn payloads(b: &Batch) -> Vec<(u64, String)> {
        b.messages
            .iter()
            .map(|m| (m.pointer.as_u64().unwrap(), String::from_utf8(m.payload.clone().unwrap()).unwrap()))
            .collect()
    }

    #[test]
    fn reads_lines_with_line_number_pointers_and_start_positions() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path());
        std::fs::write(src.partition_path(0), "a\nb\r\nc\nd\n").unwrap();
        let t = Duration::from_millis(10);
        let mut r = src.open(0, StartPosition::Earliest).unwrap();
        let b = r.poll(2, t).unwrap();
        assert_eq!(payloads(&b), vec![(0, "a".into()), (1, "b".into())]);
        assert!(!b.caught_up);
        let b = r.poll(10, t).unwrap();
        assert_eq!(payloads(&b), vec![(2, "c".into()), (3, "d".into())]);
        assert!(b.caught_up);
        let b = src.open(0, StartPosition::After(Pointer::Small(1))).unwrap().poll(10, t).unwrap();
        assert_eq!(payloads(&b), vec![(2, "c".into()), (3, "d".into())]);
        let b = src.open(0, StartPosition::At(Pointer::Small(3))).unwrap().poll(10, t).unwrap();
        assert_eq!(payloads(&b), vec![(3, "d".into())]);
        let b = src.open(0, StartPosition::Timestamp(5)).unwrap().poll(10, t).unwrap();
        assert_eq!(b.messages.len(), 4, "timestamp falls back to earliest");
        let mut latest = src.open(0, StartPosition::Latest).unwrap();
        assert!(latest.poll(10, t).unwrap().messages.is_empty());
        std::fs::OpenOptions::new().append(true).open(src.partition_path(0)).unwrap().write_all(b"e\n").unwrap();
        assert_eq!(payloads(&latest.poll(10, t).unwrap()), vec![(4, "e".into())]);
    }

    #[test]
    fn follows_a_growing_file_and_holds_back_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path());
        let t = Duration::from_millis(10);
        let mut r = src.open(1, StartPosition::Earliest).unwrap();
        let b = r.poll(10, t).unwrap();
        assert!(b.messages.is_empty() && b.caught_up, "a missing file is an empty partition");
        let mut f = std::fs::File::create(src.partition_path(1)).unwrap();
        f.write_all(b"one\ntw").unwrap();
        assert_eq!(payloads(&r.poll(10, t).unwrap()), vec![(0, "one".into())]);
        assert!(r.poll(10, t).unwrap().messages.is_empty(), "partial line held back");
        f.write_all(b"o\n").unwrap();
        assert_eq!(payloads(&r.poll(10, t).unwrap()), vec![(1, "two".into())]);
    }

    #[test]
    fn counts_partitions_and_checks_params() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path());
        assert_eq!(src.partition_count().unwrap(), 0);
        std::fs::write(src.partition_path(0), "").unwrap();
        std::fs::write(src.partition_path(2), "").unwrap();
        std::fs::write(dir.path().join("s/notes.txt"), "").unwrap();
        assert_eq!(src.partition_count().unwrap(), 3);
        assert!(crate::source::check_partitions(&src, 2).unwrap_err().to_string().contains("3 partitions"));
        let err = FileSource::from_params(&BTreeMap::from([("stream".into(), "s".into())])).err().unwrap();
        assert!(err.to_string().contains("base_directory"), "{err}");
    }

    #[test]
    fn a_missing_stream_or_base_directory_says_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("users")).unwrap();
        std::fs::create_dir_all(dir.path().join("orders")).unwrap();
        let params = |stream: &str, base: &Path| {
            BTreeMap::from([
                ("stream".to_string(), stream.to_string()),
                ("base_directory".into(), base.display().to_string()),
            ])
        };
        let typo =
            FileSource::from_params(&params("usres", dir.path())).unwrap().partition_count().unwrap_err().to_string();
        assert!(typo.contains("param.stream \"usres\"") && typo.contains("it holds: orders, users"), "{typo}");
        let nowhere = dir.path().join("nope");
        let base =
            FileSource::from_params(&params("users", &nowhere)).unwrap().partition_count().unwrap_err().to_string();
        assert!(base.contains("param.base_directory") && base.contains("does not exist"), "{base}");
    }

    #[test]
    fn a_line_longer_than_the_limit_is_cut_just_past_it_and_the_next_line_follows() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path()).with_max_line_bytes(1000);
        let long = "x".repeat(600_000);
        std::fs::write(src.partition_path(0), format!("a\r\n{long}\nb\n{}\r\n", "y".repeat(1000))).unwrap();
        let mut r = src.open(0, StartPosition::Earliest).unwrap();
        let batch = r.poll(10, Duration::from_millis(10)).unwrap();
        let lens: Vec<(u64, usize)> =
            batch.messages.iter().map(|m| (m.pointer.as_u64().unwrap(), m.payload.as_ref().unwrap().len())).collect();
        assert_eq!(lens, [(0, 1), (1, 1001), (2, 1), (3, 1000)]);
        assert_eq!(batch.messages[2].payload.as_deref(), Some(&b"b"[..]));
    }

    fn lost(r: &mut Box<dyn PartitionReader>) -> (String, String) {
        match r.poll(10, Duration::from_millis(10)) {
            Err(SourceError::PositionLost { position, reason }) => (position, reason),
            other => panic!("expected PositionLost, got {other:?}"),
        }
    }

    #[test]
    fn a_truncated_file_loses_the_position_and_keeps_it_lost() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path());
        let t = Duration::from_millis(10);
        std::fs::write(src.partition_path(0), "one\ntwo\nthree\n").unwrap();
        let mut r = src.open(0, StartPosition::Earliest).unwrap();
        assert_eq!(r.poll(10, t).unwrap().messages.len(), 3);
        std::fs::write(src.partition_path(0), "new\n").unwrap();
        let (position, reason) = lost(&mut r);
        assert_eq!(position, "line 3");
        assert!(reason.ends_with("0.ndjson was truncated (size 4 < read offset 14)"), "{reason}");
        // The new file grows past the old offset: still lost, nothing read.
        std::fs::write(src.partition_path(0), "new\nlonger than before\n").unwrap();
        assert_eq!(lost(&mut r).1, reason);
    }

    #[test]
    fn a_held_back_half_line_is_never_completed_by_a_rewritten_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path());
        let t = Duration::from_millis(10);
        std::fs::write(src.partition_path(0), "a\nb\nhal").unwrap();
        let mut r = src.open(0, StartPosition::Earliest).unwrap();
        assert_eq!(payloads(&r.poll(10, t).unwrap()), vec![(0, "a".into()), (1, "b".into())]);
        assert!(r.poll(10, t).unwrap().messages.is_empty(), "half line held back");
        // Rewritten past the old offset before the reader looked again.
        std::fs::write(src.partition_path(0), "x\ny\nzzzzf\nw\n").unwrap();
        let (position, reason) = lost(&mut r);
        assert_eq!(position, "line 2");
        assert!(reason.ends_with("was truncated and rewritten (the 7 bytes before read offset 7 changed)"), "{reason}");
    }

    #[test]
    fn a_file_rewritten_with_the_same_beginning_is_read_on() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path());
        let t = Duration::from_millis(10);
        std::fs::write(src.partition_path(0), "a\nb\n").unwrap();
        let mut r = src.open(0, StartPosition::Earliest).unwrap();
        assert_eq!(r.poll(10, t).unwrap().messages.len(), 2);
        // A copy of the same lines and one more (`cp` over it): nothing lost.
        std::fs::write(src.partition_path(0), "a\nb\nc\n").unwrap();
        assert_eq!(payloads(&r.poll(10, t).unwrap()), vec![(2, "c".into())]);
    }

    #[test]
    fn a_rotated_file_is_read_to_its_end_then_the_position_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path());
        let t = Duration::from_millis(10);
        let path = src.partition_path(0);
        std::fs::write(&path, "o1\no2\no3\n").unwrap();
        let mut r = src.open(0, StartPosition::Earliest).unwrap();
        assert_eq!(payloads(&r.poll(1, t).unwrap()), vec![(0, "o1".into())]);
        // Rotation: the old file renamed away, a new one created at the path.
        std::fs::rename(&path, path.with_extension("ndjson.1")).unwrap();
        let mut r2 = src.open(0, StartPosition::Earliest).unwrap();
        assert!(r2.poll(10, t).unwrap().messages.is_empty(), "between rename and create: an empty partition");
        std::fs::write(&path, "n1\n").unwrap();
        // The rest of the old file first, then the error.
        assert_eq!(payloads(&r.poll(10, t).unwrap()), vec![(1, "o2".into()), (2, "o3".into())]);
        let (position, reason) = lost(&mut r);
        assert_eq!(position, "line 3");
        assert!(reason.contains("0.ndjson was replaced (inode changed"), "{reason}");
        // Replaced by a rename over it, and nothing was left to read.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, "m1\n").unwrap();
        let mut r = src.open(0, StartPosition::Earliest).unwrap();
        assert_eq!(r.poll(10, t).unwrap().messages.len(), 1);
        std::fs::rename(&tmp, &path).unwrap();
        assert!(lost(&mut r).1.contains("was replaced"));
    }

    #[test]
    fn opening_past_the_end_of_a_file_that_lost_lines_loses_the_position() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path());
        let t = Duration::from_millis(10);
        std::fs::write(src.partition_path(0), "a\nb\nc").unwrap();
        // Two complete lines: after line 1 and at line 2 are their end, fine.
        assert!(src.open(0, StartPosition::After(Pointer::Small(1))).unwrap().poll(10, t).unwrap().messages.is_empty());
        assert!(src.open(0, StartPosition::At(Pointer::Small(2))).unwrap().poll(10, t).unwrap().messages.is_empty());
        // After line 2 needs three complete lines.
        let (position, reason) = lost(&mut src.open(0, StartPosition::After(Pointer::Small(2))).unwrap());
        assert_eq!(position, "after 2");
        assert!(
            reason.ends_with("has only 2 lines, but the position needs at least 3: it was truncated or replaced since"),
            "{reason}"
        );
        // A missing file has no lines at all.
        let (position, reason) = lost(&mut src.open(1, StartPosition::After(Pointer::Small(0))).unwrap());
        assert_eq!(position, "after 0");
        assert!(reason.contains("1.ndjson does not exist"), "{reason}");
        assert!(src.open(1, StartPosition::At(Pointer::Small(0))).unwrap().poll(10, t).unwrap().messages.is_empty());
    }
}
