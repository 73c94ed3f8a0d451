//! `FileSink`: NDJSON to a file, one envelope per line, rotated by size and/or interval.

mod housekeeping;
mod naming;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use event_core::{Batch, BuildError, DropReason, Outcomes, Sink, SinkError};

use crate::{Clock, SystemClock};
use housekeeping::{Housekeeping, Retention};
use naming::Naming;

/// When the sink calls `fsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// On `EventGuard::flush`, at rotation and at shutdown. The default: a crash loses at most
    /// what was written since the last flush.
    OnFlush,
    /// After every batch as well: a crash loses at most the batch being written. Slower.
    EveryBatch,
    /// Never: the operating system decides.
    Never,
}

/// Writes events as NDJSON to a file; see [`FileSink::builder`].
///
/// The file at `path` is the one being written. When it reaches `rotate_size` bytes, or has
/// been open for `rotate_every` (whichever comes first), it is renamed to
/// `<stem>.<seq>.<UTC time>.<ext>` beside it (`events.00000042.20261121T103000Z.ndjson`), gzipped
/// there if asked (off the write path), and a new file is started. A line is never split
/// between files: a file may only exceed `rotate_size` when a single event is larger. Retention
/// keeps at most `keep_files` rotated files, none older than `keep_for`, and is applied when the
/// sink starts too. Files are created with mode `0600`.
pub struct FileSink {
    path: PathBuf,
    naming: Naming,
    rotate_size: Option<u64>,
    rotate_every: Option<Duration>,
    gzip: bool,
    fsync: Fsync,
    clock: Arc<dyn Clock>,
    file: File,
    /// The active file was renamed away by a rotation but its successor could not be created
    /// (no space, no inodes): `file` is the renamed one and must not be written; every batch
    /// tries to create the active file again first.
    active_missing: bool,
    size: u64,
    opened_at: SystemTime,
    next_seq: u64,
    buffer: Vec<u8>,
    housekeeping: Housekeeping,
}

/// Configures a [`FileSink`].
pub struct FileSinkBuilder {
    path: PathBuf,
    rotate_size: Option<u64>,
    rotate_every: Option<Duration>,
    gzip: bool,
    retention: Retention,
    fsync: Fsync,
    clock: Arc<dyn Clock>,
}

impl FileSink {
    /// A sink writing to `path`, such as `logs/events.ndjson`. Without other settings it never
    /// rotates.
    pub fn builder(path: impl Into<PathBuf>) -> FileSinkBuilder {
        FileSinkBuilder {
            path: path.into(),
            rotate_size: None,
            rotate_every: None,
            gzip: false,
            retention: Retention::default(),
            fsync: Fsync::OnFlush,
            clock: Arc::new(SystemClock),
        }
    }
}

impl FileSinkBuilder {
    /// Rotates when the file would exceed `bytes`.
    pub fn rotate_size(mut self, bytes: u64) -> Self {
        self.rotate_size = Some(bytes);
        self
    }

    /// Rotates when the file has been open for `interval`.
    pub fn rotate_every(mut self, interval: Duration) -> Self {
        self.rotate_every = Some(interval);
        self
    }

    /// Gzips rotated files (on a background thread). Needs the cargo feature `gzip` (on by
    /// default); without it, [`build`](Self::build) returns a `BuildError` that says so.
    pub fn gzip(mut self, enabled: bool) -> Self {
        self.gzip = enabled;
        self
    }

    /// Keeps at most `count` rotated files, deleting the oldest.
    pub fn keep_files(mut self, count: usize) -> Self {
        self.retention.keep_files = Some(count);
        self
    }

    /// Deletes rotated files older than `age` (by the time in their name).
    pub fn keep_for(mut self, age: Duration) -> Self {
        self.retention.keep_for = Some(age);
        self
    }

    /// When to fsync (default [`Fsync::OnFlush`]).
    pub fn fsync(mut self, policy: Fsync) -> Self {
        self.fsync = policy;
        self
    }

    /// The clock for intervals, ages and names (default: the system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Creates the directory if needed, opens the file, applies retention, and resumes any
    /// compression a previous run left unfinished.
    pub fn build(self) -> Result<FileSink, BuildError> {
        let setting = "FileSink path";
        let naming = Naming::new(&self.path).ok_or_else(|| {
            BuildError::new(
                setting,
                format!(
                    "`{}` is not a file path, such as `logs/events.ndjson`",
                    self.path.display()
                ),
            )
        })?;
        if self.gzip && !cfg!(feature = "gzip") {
            return Err(BuildError::new(
                "FileSink gzip",
                "compressing rotated files needs the `gzip` feature of event-sinks \
                 (on by default): enable it, or leave gzip off",
            ));
        }
        if self.rotate_size == Some(0) || self.rotate_every == Some(Duration::ZERO) {
            return Err(BuildError::new(
                "FileSink rotation",
                "rotate_size and rotate_every must be more than zero",
            ));
        }
        fs::create_dir_all(&naming.dir).map_err(|err| {
            BuildError::with_source(
                setting,
                format!(
                    "cannot create the directory `{}`: {err}",
                    naming.dir.display()
                ),
                err,
            )
        })?;
        let file = open_private(&self.path, false).map_err(|err| {
            BuildError::with_source(
                setting,
                format!("cannot open `{}` for writing: {err}", self.path.display()),
                err,
            )
        })?;
        let (size, modified) = resume(&self.path, &file).map_err(|err| {
            BuildError::with_source(
                setting,
                format!(
                    "cannot prepare `{}` for appending: {err}",
                    self.path.display()
                ),
                err,
            )
        })?;
        let listing_error = |err: io::Error| {
            BuildError::with_source(
                setting,
                format!("cannot list `{}`: {err}", naming.dir.display()),
                err,
            )
        };
        for leftover in naming.temporary_files().map_err(listing_error)? {
            let _ = fs::remove_file(leftover);
        }
        // Numbered before retention, so numbers go on even if retention removes every file.
        let next_seq = naming
            .list()
            .map_err(listing_error)?
            .last()
            .map_or(1, |last| last.seq + 1);
        housekeeping::retain(&naming, self.retention, &*self.clock).map_err(listing_error)?;
        let rotated = naming.list().map_err(listing_error)?;
        let housekeeping =
            Housekeeping::start(naming.clone(), self.retention, Arc::clone(&self.clock)).map_err(
                |err| BuildError::with_source(setting, "cannot start its housekeeping thread", err),
            )?;
        if self.gzip {
            for file in rotated.into_iter().filter(|file| !file.gzipped) {
                housekeeping.compress(file.path);
            }
        }
        // An existing file keeps its age for interval rotation (if the clock agrees it is past).
        let now = self.clock.now();
        let opened_at = modified.filter(|m| size > 0 && *m <= now).unwrap_or(now);
        Ok(FileSink {
            opened_at,
            path: self.path,
            naming,
            rotate_size: self.rotate_size,
            rotate_every: self.rotate_every,
            gzip: self.gzip,
            fsync: self.fsync,
            clock: self.clock,
            file,
            active_missing: false,
            size,
            next_seq,
            buffer: Vec::with_capacity(64 << 10),
            housekeeping,
        })
    }
}

/// Makes an existing active file safe to append to: mode `0600`, and a last line torn by a
/// crash cut off, so the next line does not merge into it. Returns its size and modification
/// time.
fn resume(path: &Path, file: &File) -> io::Result<(u64, Option<SystemTime>)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    let metadata = file.metadata()?;
    let mut size = metadata.len();
    if size > 0 {
        // `file` is append-only: read through another handle.
        let whole = last_newline_end(&File::open(path)?, size)?;
        if whole != size {
            file.set_len(whole)?;
            size = whole;
        }
    }
    Ok((size, metadata.modified().ok()))
}

/// The length of `file` up to and including its last newline (0 if it has none).
fn last_newline_end(file: &File, size: u64) -> io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut reader = file;
    let mut end = size;
    let mut chunk = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let len = (end - start) as usize;
        reader.seek(SeekFrom::Start(start))?;
        reader.read_exact(&mut chunk[..len])?;
        if let Some(pos) = chunk[..len].iter().rposition(|&b| b == b'\n') {
            return Ok(start + pos as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Appends `bytes` to `file`, whose length is `size`. On failure the file is cut back to
/// `size`, so no line is left half written.
fn append(file: &mut File, size: &mut u64, bytes: &[u8]) -> io::Result<()> {
    let result = file.write_all(bytes);
    match result {
        Ok(()) => *size += bytes.len() as u64,
        Err(_) => {
            let _ = file.set_len(*size);
        }
    }
    result
}

/// Makes renames in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Opens `path` for appending (or truncating), created with mode `0600`.
pub(crate) fn open_private(path: &Path, truncate: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true);
    if truncate {
        options.write(true).truncate(true);
    } else {
        options.append(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl FileSink {
    /// Appends the buffered lines. On failure the file is cut back to its last whole line (a
    /// line is never left half written) and the lines are dropped, not retried later.
    fn write_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let result = append(&mut self.file, &mut self.size, &self.buffer);
        self.buffer.clear();
        result
    }

    /// Writes the buffered lines and counts their `counted` events: delivered once written,
    /// dropped (`sink_error`) if the write failed (the file is cut back then).
    fn write_counted(&mut self, outcomes: &Outcomes, counted: &mut u64) -> io::Result<()> {
        let result = self.write_buffer();
        match result {
            Ok(()) => outcomes.delivered(*counted),
            Err(_) => outcomes.dropped(DropReason::SinkError, *counted),
        }
        *counted = 0;
        result
    }

    /// Closes the current file under its rotated name and starts a new one. The buffer is
    /// written first.
    fn rotate(&mut self) -> io::Result<()> {
        self.write_buffer()?;
        if self.fsync != Fsync::Never {
            self.file.sync_all()?;
        }
        let now = self.clock.now();
        let rotated = self.naming.rotated(self.next_seq, now);
        self.next_seq += 1;
        fs::rename(&self.path, &rotated)?;
        if self.gzip {
            self.housekeeping.compress(rotated);
        }
        self.housekeeping.retain();
        // Until the new file exists, nothing may go to the renamed one's handle.
        self.active_missing = true;
        self.reopen()
    }

    /// Creates the active file after a rotation renamed it away.
    fn reopen(&mut self) -> io::Result<()> {
        self.file = open_private(&self.path, false)?;
        self.active_missing = false;
        self.size = 0;
        self.opened_at = self.clock.now();
        if self.fsync != Fsync::Never {
            sync_dir(&self.naming.dir)?;
        }
        Ok(())
    }

    /// Writes the batch's lines, rotating where needed, counting each event as its lines are
    /// written: a batch that fails half way (a full disk during a rotation) keeps what went to
    /// disk delivered and counts only the rest dropped.
    fn write_lines(&mut self, batch: &Batch<'_>, outcomes: &Outcomes) -> io::Result<()> {
        // The events from `at` on were not written: counted dropped.
        let fail = |at: usize, err: io::Error| {
            let rest = batch.iter().skip(at).filter(|event| event.is_counted());
            outcomes.dropped(DropReason::SinkError, rest.count() as u64);
            Err(err)
        };
        if self.active_missing {
            if let Err(err) = self.reopen() {
                return fail(0, err);
            }
        }
        if self.interval_elapsed() {
            if self.size > 0 {
                if let Err(err) = self.rotate() {
                    return fail(0, err);
                }
            } else {
                // Nothing was written this interval: no empty file, the next one starts now.
                self.opened_at = self.clock.now();
            }
        }
        self.buffer.clear();
        // The pipeline's lines as they are, when no rotation falls inside them: one write,
        // no copy.
        if let Some(lines) = batch.ndjson() {
            let fits = self
                .rotate_size
                .is_none_or(|max| self.size + lines.len() as u64 <= max);
            if fits {
                let counted = batch.iter().filter(|event| event.is_counted()).count() as u64;
                if let Err(err) = append(&mut self.file, &mut self.size, lines) {
                    return fail(0, err);
                }
                outcomes.delivered(counted);
                return self.after_batch();
            }
        }
        let mut buffered = 0;
        for (at, event) in batch.iter().enumerate() {
            let line = event.json().len() as u64 + 1;
            let pending = self.buffer.len() as u64;
            let full = self
                .rotate_size
                .is_some_and(|max| self.size + pending > 0 && self.size + pending + line > max);
            if full {
                if let Err(err) = self.write_counted(outcomes, &mut buffered) {
                    return fail(at, err);
                }
                if let Err(err) = self.rotate() {
                    return fail(at, err);
                }
            }
            self.buffer.extend_from_slice(event.json());
            self.buffer.push(b'\n');
            buffered += u64::from(event.is_counted());
        }
        self.write_counted(outcomes, &mut buffered)?;
        self.after_batch()
    }

    /// What follows every batch written: an fsync, if asked.
    fn after_batch(&mut self) -> io::Result<()> {
        if self.fsync == Fsync::EveryBatch {
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn interval_elapsed(&self) -> bool {
        self.rotate_every.is_some_and(|every| {
            self.clock
                .now()
                .duration_since(self.opened_at)
                .is_ok_and(|open| open >= every)
        })
    }
}

impl Sink for FileSink {
    fn name(&self) -> String {
        format!("file:{}", self.path.display())
    }

    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        // Counted here, line by line, so a batch cut short by a full disk is counted exactly.
        let outcomes = batch.take_over();
        self.write_lines(batch, &outcomes)?;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        self.write_buffer()?;
        if self.fsync != Fsync::Never {
            self.file.sync_all()?;
        }
        // Rotated files are compressed and retention applied before flush returns.
        self.housekeeping.wait();
        match self
            .housekeeping
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            Some(err) => Err(SinkError::new(format!(
                "housekeeping of rotated files: {err}"
            ))),
            None => Ok(()),
        }
    }
}
