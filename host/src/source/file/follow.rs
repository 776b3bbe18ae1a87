//! Reading a followed file: a buffer over positioned reads that checks, before
//! each read of new bytes, that the file is still the one being read.
//!
//! A followed file can change under the reader: truncated (`> file`, a
//! rewrite), or replaced (log rotation renames it and creates a new one). Its
//! lines are then numbered anew, and reading on at the old byte offset would
//! start in the middle of a line. So before reading more, [`Followed::fill`]
//! checks that the file is not shorter than what was read, that the last
//! bytes read ([`LOOKBEHIND`] of them) are still there, and, at the end of
//! the file, that the path still names the file that was opened.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

/// Bytes read from the file at once.
const CHUNK: usize = 256 * 1024;
/// Bytes before the read offset that are kept and checked against the file
/// before new bytes are read: a file truncated and rewritten past the offset
/// between two reads differs there (unless it is the same text).
pub(super) const LOOKBEHIND: usize = 4096;

/// How the file changed under the reader.
#[derive(Debug)]
pub(super) enum Changed {
    Truncated { size: u64, offset: u64 },
    Rewritten { bytes: usize, offset: u64 },
    Replaced { old: (u64, u64), new: (u64, u64) },
}

impl std::fmt::Display for Changed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Changed::Truncated { size, offset } => write!(f, "was truncated (size {size} < read offset {offset})"),
            Changed::Rewritten { bytes, offset } => {
                write!(f, "was truncated and rewritten (the {bytes} bytes before read offset {offset} changed)")
            }
            Changed::Replaced { old, new } => write!(
                f,
                "was replaced (inode changed: device {} inode {} became device {} inode {}); the old file was read to its end",
                old.0, old.1, new.0, new.1
            ),
        }
    }
}

#[derive(Debug)]
pub(super) enum FillError {
    Io(std::io::Error),
    Changed(Changed),
}

impl From<std::io::Error> for FillError {
    fn from(e: std::io::Error) -> Self {
        FillError::Io(e)
    }
}

pub(super) struct Followed {
    file: File,
    /// (device, inode) of the opened file.
    id: (u64, u64),
    /// `buf[..start]`: bytes already consumed (at most [`LOOKBEHIND`] of
    /// them are kept across refills); `buf[start..end]`: read, not consumed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The file offset of `buf[end]`: how far the file has been read.
    read_to: u64,
    /// For comparing the look-behind with the file.
    scratch: Vec<u8>,
}

impl Followed {
    pub(super) fn open(path: &Path) -> std::io::Result<Followed> {
        let file = File::open(path)?;
        let m = file.metadata()?;
        Ok(Followed {
            file,
            id: (m.dev(), m.ino()),
            buf: vec![0; LOOKBEHIND + CHUNK],
            start: 0,
            end: 0,
            read_to: 0,
            scratch: vec![0; LOOKBEHIND],
        })
    }

    /// Bytes read and not consumed yet; reads more when there are none.
    /// Empty at the end of the file. `path` is where the file was opened.
    pub(super) fn fill(&mut self, path: &Path) -> Result<&[u8], FillError> {
        if self.start < self.end {
            return Ok(&self.buf[self.start..self.end]);
        }
        let size = self.file.metadata()?.len();
        if size < self.read_to {
            return Err(FillError::Changed(Changed::Truncated { size, offset: self.read_to }));
        }
        if size == self.read_to {
            // Nothing new in this file. If the path now names another file,
            // this one was rotated away (and read to its end).
            return match std::fs::metadata(path) {
                Ok(m) if (m.dev(), m.ino()) != self.id => {
                    Err(FillError::Changed(Changed::Replaced { old: self.id, new: (m.dev(), m.ino()) }))
                }
                Ok(_) => Ok(&[]),
                // Renamed away and not created again yet.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(&[]),
                Err(e) => Err(e.into()),
            };
        }
        // New bytes: keep the last bytes read, check them, then read on.
        let keep = self.end.min(LOOKBEHIND);
        self.buf.copy_within(self.end - keep..self.end, 0);
        (self.start, self.end) = (keep, keep);
        if keep > 0 {
            let at = self.read_to - keep as u64;
            match self.file.read_exact_at(&mut self.scratch[..keep], at) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    let size = self.file.metadata()?.len();
                    return Err(FillError::Changed(Changed::Truncated { size, offset: self.read_to }));
                }
                Err(e) => return Err(e.into()),
            }
            if self.scratch[..keep] != self.buf[..keep] {
                return Err(FillError::Changed(Changed::Rewritten { bytes: keep, offset: self.read_to }));
            }
        }
        let n = loop {
            match self.file.read_at(&mut self.buf[keep..], self.read_to) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        };
        self.end = keep + n;
        self.read_to += n as u64;
        Ok(&self.buf[self.start..self.end])
    }

    /// Marks `n` bytes of what [`fill`](Self::fill) returned as consumed.
    pub(super) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }
}
