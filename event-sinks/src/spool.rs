//! The on-disk spool of the HTTP and Kafka sinks: batches that could not be sent wait here,
//! in order, until their destination takes them again, in this process or the next.
//!
//! Layout: a directory of segment files `<seq:020>.spool`, written in sequence order and read
//! oldest first. A segment holds framed records:
//!
//! ```text
//! magic 0xFF 0xE5 0x56 0x31 | len: u32 LE | crc32(payload): u32 LE | payload (len bytes)
//! ```
//!
//! Payloads are UTF-8 (envelopes and their batch's header), and the magic starts with `0xFF`,
//! a byte UTF-8 never contains, so after damage the reader finds the next record by scanning
//! for the magic. A record that fails its checks is skipped and counted, never fatal:
//! - a *torn tail*: the file ends inside a record (the process died, or the disk filled, while
//!   writing it);
//! - a *corrupt record*: bad magic, impossible length or wrong CRC; the reader resumes at the
//!   next magic;
//! - a *missing segment*: a gap in the sequence numbers (a file was deleted).
//!
//! Durability: each record is written with one `write` call and `sync_data`ed before `push`
//! returns, and a new segment's directory entry is synced, so a record `push` accepted survives
//! a SIGKILL and a power loss; a power loss during `push` can leave that one record torn. What
//! was read is not recorded on disk until its whole segment is deleted, so after a crash the
//! records of a partly replayed segment are sent again (at-least-once, with their original
//! idempotency keys). Files are created `0600`, the directory `0700`.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

const MAGIC: [u8; 4] = [0xFF, 0xE5, 0x56, 0x31];
const HEADER: usize = 12;

/// The first line of a record as both sinks write it: a JSON object, then the batch's
/// envelopes, each followed by `\n`. A record of either sink reads back in the other.
#[derive(Serialize, Deserialize)]
pub(crate) struct RecordHeader {
    /// The record format, 1.
    pub(crate) v: u32,
    /// The batch's idempotency key (the HTTP sink's `Idempotency-Key`).
    pub(crate) key: String,
    /// How many envelopes follow.
    pub(crate) events: u64,
    /// Which of them (by index) are the pipeline's own reports, not counted in `emitted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) uncounted: Vec<u64>,
    /// The process run that emitted them: this run's are counted in its stats, an earlier
    /// run's apart, as `recovered`.
    pub(crate) run: Uuid,
    /// Times the batch exhausted its retries while its endpoint answered.
    pub(crate) failures: u32,
    /// Judged to hold a poison event (the HTTP sink splits it to find it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) isolate: bool,
}

impl RecordHeader {
    /// The record: this header's line, then `lines`.
    pub(crate) fn record(&self, lines: &[u8]) -> Vec<u8> {
        let mut record = serde_json::to_vec(self).expect("a header always serializes");
        record.push(b'\n');
        record.extend_from_slice(lines);
        record
    }

    /// A record's header and lines; `None` if it is not a record of this format (one that
    /// passed its CRC but was written by something else).
    pub(crate) fn read(record: &[u8]) -> Option<(RecordHeader, &[u8])> {
        let newline = record.iter().position(|&b| b == b'\n')?;
        let header: RecordHeader = serde_json::from_slice(&record[..newline]).ok()?;
        (header.v == 1).then_some((header, &record[newline + 1..]))
    }
}

/// What the reader skipped, since the spool was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Skipped {
    /// Records cut short at the end of a segment.
    pub(crate) torn_tails: u64,
    /// Damaged stretches (each is at least one record) passed over.
    pub(crate) corrupt_records: u64,
    /// Segments missing from the sequence.
    pub(crate) missing_segments: u64,
}

/// Why a record was not spooled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PushError {
    /// The spool holds `max_bytes` already.
    #[error("the spool is full ({max_bytes} bytes)")]
    Full {
        /// The configured bound.
        max_bytes: u64,
    },
    /// The disk refused.
    #[error("writing the spool: {0}")]
    Io(#[from] io::Error),
}

/// A segment waiting to be read.
struct Segment {
    seq: u64,
    path: PathBuf,
    bytes: u64,
}

/// The segment being written.
struct Writer {
    seq: u64,
    file: File,
    bytes: u64,
}

/// The segment being read, in memory (a segment is at most `segment_bytes` long).
struct Reader {
    seq: u64,
    data: Vec<u8>,
    offset: usize,
}

/// A bounded, ordered queue of records on disk.
pub(crate) struct Spool {
    /// The claim on the directory (see `claim`), released when the spool closes.
    _lock: File,
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Closed segments, oldest first (the one being read is the first).
    segments: VecDeque<Segment>,
    writer: Option<Writer>,
    reader: Option<Reader>,
    /// The sequence number the next segment gets.
    next_seq: u64,
    /// The bytes of every segment on disk, the one being written included.
    bytes: u64,
    /// The sequence number last read, to notice missing segments.
    last_read_seq: Option<u64>,
    skipped: Skipped,
}

impl Spool {
    /// Opens (creating it if needed) the spool in `dir`, holding at most `max_bytes`, with
    /// what earlier runs left there queued first.
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> io::Result<Spool> {
        create_private_dir(dir)?;
        // The claim on the directory, held while the spool is open. Created for writing, it
        // also finds out now, not when an outage begins, that segments cannot be (a
        // read-only file system, a directory of someone else's).
        let lock_path = dir.join("lock");
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let lock = options.open(&lock_path)?;
        crate::claim::claim(&lock, dir)?;
        let mut segments = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(seq) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".spool"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let bytes = entry.metadata()?.len();
            segments.push(Segment {
                seq,
                path: entry.path(),
                bytes,
            });
        }
        segments.sort_by_key(|s| s.seq);
        let next_seq = segments.last().map_or(0, |s| s.seq + 1);
        let bytes = segments.iter().map(|s| s.bytes).sum();
        Ok(Spool {
            _lock: lock,
            dir: dir.to_owned(),
            max_bytes,
            // Small enough to read whole, large enough that a batch fits and files are few.
            segment_bytes: (max_bytes / 16).clamp(64 << 10, 8 << 20),
            last_read_seq: segments.first().map(|s| s.seq.saturating_sub(1)),
            segments: segments.into(),
            writer: None,
            reader: None,
            next_seq,
            bytes,
            skipped: Skipped::default(),
        })
    }

    /// The bytes on disk.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether no record is waiting (torn or corrupt leftovers may still be on disk until
    /// read past).
    pub(crate) fn is_empty(&self) -> bool {
        self.segments.is_empty()
            && self.reader.is_none()
            && self.writer.as_ref().is_none_or(|w| w.bytes == 0)
    }

    /// What the reader skipped so far.
    pub(crate) fn skipped(&self) -> Skipped {
        self.skipped
    }

    /// Appends `record`, durably (see the module's notes), or says why not.
    pub(crate) fn push(&mut self, record: &[u8]) -> Result<(), PushError> {
        let framed = (HEADER + record.len()) as u64;
        if self.bytes + framed > self.max_bytes {
            return Err(PushError::Full {
                max_bytes: self.max_bytes,
            });
        }
        let len = u32::try_from(record.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record over 4 GiB"))?;
        if self
            .writer
            .as_ref()
            .is_some_and(|w| w.bytes > 0 && w.bytes + framed > self.segment_bytes)
        {
            self.close_writer();
        }
        if self.writer.is_none() {
            self.writer = Some(self.new_segment()?);
        }
        let writer = self.writer.as_mut().expect("opened above");
        let mut frame = Vec::with_capacity(HEADER + record.len());
        frame.extend_from_slice(&MAGIC);
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(record).to_le_bytes());
        frame.extend_from_slice(record);
        let written = writer
            .file
            .write_all(&frame)
            .and_then(|()| writer.file.sync_data());
        if let Err(err) = written {
            // Cut back to the last whole record (a full disk), so the segment holds no torn
            // frame for a reader to skip and count as corrupt.
            let _ = writer.file.set_len(writer.bytes);
            return Err(err.into());
        }
        writer.bytes += framed;
        self.bytes += framed;
        Ok(())
    }

    /// The oldest record, without removing it; `None` when the spool is empty.
    pub(crate) fn peek(&mut self) -> io::Result<Option<&[u8]>> {
        loop {
            if self.reader.is_none() && !self.open_next_reader()? {
                return Ok(None);
            }
            let reader = self.reader.as_mut().expect("opened above");
            match next_record(&reader.data, reader.offset, &mut self.skipped) {
                Some((start, end)) => {
                    reader.offset = start - HEADER;
                    let reader = self.reader.as_ref().expect("still open");
                    return Ok(Some(&reader.data[start..end]));
                }
                None => self.finish_reader()?,
            }
        }
    }

    /// The records after the one [`peek`](Self::peek) returned, oldest first, while their
    /// sizes add up to at most `max_bytes`; only those already read into memory (of the
    /// segment being read). Copies: the caller keeps them while the spool is written.
    #[cfg(feature = "kafka")]
    pub(crate) fn peek_following(&self, max_bytes: usize) -> Vec<Vec<u8>> {
        let mut following = Vec::new();
        let Some(reader) = self.reader.as_ref() else {
            return following;
        };
        let mut scratch = Skipped::default();
        let Some((_, mut offset)) = next_record(&reader.data, reader.offset, &mut scratch) else {
            return following;
        };
        let mut total = 0;
        while let Some((start, end)) = next_record(&reader.data, offset, &mut scratch) {
            total += end - start;
            if total > max_bytes {
                break;
            }
            following.push(reader.data[start..end].to_vec());
            offset = end;
        }
        following
    }

    /// Removes the record [`peek`](Self::peek) returned. After a segment's last record, the
    /// segment file goes at once: a process that stops now (cleanly or not) does not send its
    /// records again on the next start.
    pub(crate) fn pop(&mut self) -> io::Result<()> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(());
        };
        if let Some((_, end)) = next_record(&reader.data, reader.offset, &mut Skipped::default()) {
            reader.offset = end;
        }
        if reader.offset >= reader.data.len() {
            self.finish_reader()?;
        }
        Ok(())
    }

    fn new_segment(&mut self) -> io::Result<Writer> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let path = self.segment_path(seq);
        let mut options = OpenOptions::new();
        options.create_new(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        sync_dir(&self.dir)?;
        Ok(Writer {
            seq,
            file,
            bytes: 0,
        })
    }

    fn segment_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.spool"))
    }

    /// Closes the segment being written, queueing it for reading.
    fn close_writer(&mut self) {
        if let Some(writer) = self.writer.take() {
            self.segments.push_back(Segment {
                seq: writer.seq,
                path: self.segment_path(writer.seq),
                bytes: writer.bytes,
            });
        }
    }

    /// Loads the oldest segment for reading; `false` if there is none.
    fn open_next_reader(&mut self) -> io::Result<bool> {
        if self.segments.is_empty() && self.writer.as_ref().is_some_and(|w| w.bytes > 0) {
            // Reading catches up with writing: the current segment is read from now on.
            self.close_writer();
        }
        let Some(segment) = self.segments.front() else {
            return Ok(false);
        };
        if let Some(last) = self.last_read_seq {
            self.skipped.missing_segments += segment.seq.saturating_sub(last + 1);
        }
        let data = match fs::read(&segment.path) {
            Ok(data) => data,
            // Deleted under us: counted as missing, and the next one is read.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                self.skipped.missing_segments += 1;
                let segment = self.segments.pop_front().expect("checked above");
                self.bytes -= segment.bytes;
                self.last_read_seq = Some(segment.seq);
                return self.open_next_reader();
            }
            Err(err) => return Err(err),
        };
        self.reader = Some(Reader {
            seq: segment.seq,
            data,
            offset: 0,
        });
        Ok(true)
    }

    /// Deletes the segment read to its end.
    fn finish_reader(&mut self) -> io::Result<()> {
        let reader = self.reader.take().expect("called with a reader");
        let segment = self.segments.pop_front().expect("the reader's segment");
        debug_assert_eq!(segment.seq, reader.seq);
        match fs::remove_file(&segment.path) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        self.bytes -= segment.bytes;
        self.last_read_seq = Some(segment.seq);
        Ok(())
    }
}

/// The payload range of the first whole record at or after `offset`, counting what is skipped
/// on the way.
fn next_record(data: &[u8], mut offset: usize, skipped: &mut Skipped) -> Option<(usize, usize)> {
    let mut in_damage = false;
    loop {
        let rest = &data[offset..];
        if rest.is_empty() {
            return None;
        }
        if rest.len() < HEADER {
            let n = rest.len().min(MAGIC.len());
            if rest[..n] == MAGIC[..n] {
                skipped.torn_tails += 1;
                return None;
            }
        } else if rest[..4] == MAGIC {
            let len = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
            let start = offset + HEADER;
            if len <= rest.len() - HEADER {
                if crc32fast::hash(&data[start..start + len]) == crc {
                    return Some((start, start + len));
                }
            } else if find_magic(&data[offset + 1..]).is_none() {
                // The file ends inside this record.
                skipped.torn_tails += 1;
                return None;
            }
        }
        // Damage: skipped up to the next record start, counted once per stretch.
        if !in_damage {
            skipped.corrupt_records += 1;
            in_damage = true;
        }
        offset += 1 + find_magic(&data[offset + 1..])?;
    }
}

fn find_magic(data: &[u8]) -> Option<usize> {
    data.windows(MAGIC.len()).position(|w| w == MAGIC)
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("{{\"batch\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 300)).into_bytes())
            .collect()
    }

    /// Everything the spool gives back, popping as it goes.
    fn drain(spool: &mut Spool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(record) = spool.peek().unwrap() {
            out.push(record.to_vec());
            spool.pop().unwrap();
        }
        out
    }

    fn segment_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "spool"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn records_come_back_in_order_across_segments_and_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let all = records(2000);
        let mut spool = Spool::open(dir.path(), 64 << 20).unwrap();
        for r in &all[..1000] {
            spool.push(r).unwrap();
        }
        assert_eq!(
            spool.peek().unwrap().unwrap(),
            &all[0][..],
            "peek does not remove"
        );
        assert_eq!(spool.peek().unwrap().unwrap(), &all[0][..]);
        spool.pop().unwrap();
        drop(spool);
        let mut spool = Spool::open(dir.path(), 64 << 20).unwrap();
        for r in &all[1000..] {
            spool.push(r).unwrap();
        }
        assert!(segment_files(dir.path()).len() > 1, "several segments");
        let back = drain(&mut spool);
        // Not recorded on disk: the record popped before reopening comes again (at least once).
        assert_eq!(back, all);
        assert!(spool.is_empty());
        assert_eq!(spool.bytes(), 0);
        assert_eq!(spool.skipped(), Skipped::default());
        assert!(
            segment_files(dir.path()).is_empty(),
            "read segments are deleted"
        );
    }

    #[test]
    fn a_segment_read_to_its_end_is_gone_before_the_next_peek() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 64 << 20).unwrap();
        for r in records(3) {
            spool.push(&r).unwrap();
        }
        for _ in 0..3 {
            spool.peek().unwrap().unwrap();
            spool.pop().unwrap();
        }
        // Stopping here (no further peek) must not leave the records to be sent again.
        drop(spool);
        assert!(segment_files(dir.path()).is_empty());
        let mut spool = Spool::open(dir.path(), 64 << 20).unwrap();
        assert_eq!(spool.peek().unwrap(), None);
    }

    #[test]
    fn a_full_spool_refuses_and_frees_space_as_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1000).unwrap();
        let record = vec![b'a'; 188]; // 200 bytes framed
        for _ in 0..5 {
            spool.push(&record).unwrap();
        }
        assert!(matches!(
            spool.push(&record),
            Err(PushError::Full { max_bytes: 1000 })
        ));
        assert_eq!(drain(&mut spool).len(), 5);
        spool.push(&record).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let spool_dir = dir.path().join("spool");
        let mut spool = Spool::open(&spool_dir, 1 << 20).unwrap();
        spool.push(b"{}").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&spool_dir), 0o700);
        assert_eq!(mode(&segment_files(&spool_dir)[0]), 0o600);
    }

    /// Writes `n` records into a fresh spool, spread over several segments, and closes it.
    fn spooled(dir: &Path, all: &[Vec<u8>]) {
        let mut spool = Spool::open(dir, 1 << 30).unwrap();
        spool.segment_bytes = 4096;
        for r in all {
            spool.push(r).unwrap();
        }
    }

    #[test]
    fn a_torn_tail_is_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let all = records(50);
        spooled(dir.path(), &all);
        let last = segment_files(dir.path()).pop().unwrap();
        let len = fs::metadata(&last).unwrap().len();
        // Cut the last record of the last segment in half.
        fs::OpenOptions::new()
            .write(true)
            .open(&last)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 30).unwrap();
        let back = drain(&mut spool);
        assert_eq!(back, all[..49]);
        assert_eq!(
            spool.skipped(),
            Skipped {
                torn_tails: 1,
                ..Skipped::default()
            }
        );
    }

    #[test]
    fn flipped_bytes_lose_only_the_damaged_record() {
        let dir = tempfile::tempdir().unwrap();
        let all = records(50);
        spooled(dir.path(), &all);
        let first = segment_files(dir.path()).remove(0);
        let mut data = fs::read(&first).unwrap();
        // The second record: one byte of its payload, then (in the third) its magic.
        let second = HEADER + all[0].len();
        data[second + HEADER + 3] ^= 0x20;
        let third = second + HEADER + all[1].len();
        data[third] = b'!';
        fs::write(&first, &data).unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 30).unwrap();
        let back = drain(&mut spool);
        let mut expected = all.clone();
        expected.drain(1..3);
        assert_eq!(back, expected);
        assert_eq!(spool.skipped().corrupt_records, 1, "one damaged stretch");
    }

    /// The look-ahead of the Kafka replay: the records after the oldest, within the segment
    /// read and the byte bound, past damage as `peek` goes past it; then a `peek` and a `pop`
    /// per record taken remove exactly those, counting the damage once.
    #[cfg(feature = "kafka")]
    #[test]
    fn the_records_following_the_oldest_are_read_ahead_past_damage() {
        let dir = tempfile::tempdir().unwrap();
        let all = records(50);
        spooled(dir.path(), &all);
        let first = segment_files(dir.path()).remove(0);
        let mut data = fs::read(&first).unwrap();
        let third = HEADER + all[0].len() + HEADER + all[1].len();
        data[third + HEADER + 3] ^= 0x20;
        fs::write(&first, &data).unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(spool.peek().unwrap().unwrap(), &all[0][..]);
        let following = spool.peek_following(usize::MAX);
        let mut expected: Vec<Vec<u8>> = all[1..].to_vec();
        expected.remove(1);
        assert!(following.len() > 5, "several records of the first segment");
        assert_eq!(following[..], expected[..following.len()]);
        let bounded = spool.peek_following(all[1].len() + all[3].len());
        assert_eq!(
            bounded,
            [all[1].clone(), all[3].clone()],
            "up to the byte bound"
        );
        assert_eq!(
            spool.skipped(),
            Skipped::default(),
            "reading ahead counts nothing"
        );
        for _ in 0..3 {
            spool.peek().unwrap();
            spool.pop().unwrap();
        }
        assert_eq!(spool.peek().unwrap().unwrap(), &all[4][..]);
        assert_eq!(
            spool.skipped().corrupt_records,
            1,
            "the damage, counted once"
        );
    }

    #[test]
    fn a_deleted_middle_segment_is_counted_and_the_rest_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let all = records(200);
        spooled(dir.path(), &all);
        let files = segment_files(dir.path());
        assert!(files.len() >= 3);
        let lost = fs::read(&files[1]).unwrap();
        fs::remove_file(&files[1]).unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 30).unwrap();
        let back = drain(&mut spool);
        let lost_count = all.len() - back.len();
        assert!(lost_count > 0);
        // What is back is everything but one contiguous run: the deleted segment's records.
        let first_lost = back.iter().zip(&all).position(|(a, b)| a != b).unwrap();
        assert_eq!(back[..first_lost], all[..first_lost]);
        assert_eq!(back[first_lost..], all[first_lost + lost_count..]);
        let mut offset = 0;
        for r in &all[first_lost..first_lost + lost_count] {
            assert_eq!(&lost[offset + HEADER..offset + HEADER + r.len()], &r[..]);
            offset += HEADER + r.len();
        }
        assert_eq!(spool.skipped().missing_segments, 1);
    }

    #[test]
    fn garbage_files_never_stop_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(format!("{:020}.spool", 0)), [0xFFu8; 100]).unwrap();
        fs::write(dir.path().join(format!("{:020}.spool", 1)), b"").unwrap();
        fs::write(dir.path().join(format!("{:020}.spool", 2)), &MAGIC[..3]).unwrap();
        fs::write(dir.path().join("unrelated.txt"), b"left alone").unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 30).unwrap();
        spool.push(b"after").unwrap();
        assert_eq!(drain(&mut spool), [b"after".to_vec()]);
        assert_eq!(
            spool.skipped(),
            Skipped {
                torn_tails: 1,
                corrupt_records: 1,
                missing_segments: 0,
            }
        );
        assert!(dir.path().join("unrelated.txt").exists());
    }

    mod model {
        //! The spool against a model of what it promises, over random sequences of pushes,
        //! reads and restarts, clean or torn by a crash in the middle of a write: every record
        //! pushed comes back, in order, exactly once, except that a restart may send again
        //! records already read from the segment it was reading (a contiguous run of the
        //! last ones read, before any new one).

        use std::collections::VecDeque;
        use std::io::Write;

        use proptest::prelude::*;

        use super::*;

        #[derive(Clone, Debug)]
        enum Op {
            /// A record of this many bytes of padding.
            Push(usize),
            /// Reads the oldest record and removes it.
            Take,
            /// The process stops and starts again.
            Restart,
            /// The process is killed in the middle of writing a record of this many bytes:
            /// that much of its frame reaches the newest segment.
            TornRestart(usize),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => (0usize..6_000).prop_map(Op::Push),
                3 => Just(Op::Take),
                1 => Just(Op::Restart),
                1 => (1usize..HEADER + 100).prop_map(Op::TornRestart),
            ]
        }

        /// What the spool must hand out.
        #[derive(Default)]
        struct Model {
            /// Pushed, not yet taken.
            pending: VecDeque<Vec<u8>>,
            /// Every record taken, oldest first, each once.
            taken: Vec<Vec<u8>>,
            /// After a restart: the records taken before it that may still come again, in
            /// order (a repeat may start at any of them, and goes on with the next), until a
            /// pending one comes.
            may_repeat: Option<VecDeque<Vec<u8>>>,
        }

        impl Model {
            /// Checks a record the spool handed out.
            fn handed_out(&mut self, record: &[u8]) {
                if self.pending.front().is_some_and(|next| next == record) {
                    self.may_repeat = None;
                    self.taken.push(self.pending.pop_front().unwrap());
                    return;
                }
                let repeat = self
                    .may_repeat
                    .as_mut()
                    .unwrap_or_else(|| panic!("out of order: {:?}", name(record)));
                // A repeat starts anywhere in what was taken and goes on in order.
                let at = repeat
                    .iter()
                    .position(|r| r == record)
                    .unwrap_or_else(|| panic!("never pushed, or lost: {:?}", name(record)));
                repeat.drain(..=at);
            }
        }

        fn name(record: &[u8]) -> String {
            String::from_utf8_lossy(&record[..record.len().min(12)]).into_owned()
        }

        fn newest_segment(dir: &Path) -> Option<PathBuf> {
            super::segment_files(dir).pop()
        }

        const MAX_BYTES: u64 = 1 << 20;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn the_spool_keeps_every_record_in_order_across_crashes(
                ops in proptest::collection::vec(op(), 1..80)
            ) {
                let dir = tempfile::tempdir().unwrap();
                let mut spool = Spool::open(dir.path(), MAX_BYTES).unwrap();
                let mut model = Model::default();
                let mut torn = 0;
                // Whether this process has written a segment (the one a crash can tear: a
                // new process writes to a new segment).
                let mut writing = false;
                for (seq, op) in ops.into_iter().enumerate() {
                    match op {
                        Op::Push(len) => {
                            let record = format!("{seq:08}:{}", "x".repeat(len)).into_bytes();
                            match spool.push(&record) {
                                Ok(()) => {
                                    model.pending.push_back(record);
                                    writing = true;
                                }
                                Err(PushError::Full { .. }) => {
                                    prop_assert!(spool.bytes() + (HEADER + record.len()) as u64 > MAX_BYTES);
                                }
                                Err(err) => panic!("{err}"),
                            }
                        }
                        Op::Take => {
                            let record = spool.peek().unwrap().map(<[u8]>::to_vec);
                            match record {
                                Some(record) => {
                                    model.handed_out(&record);
                                    spool.pop().unwrap();
                                }
                                None => prop_assert!(model.pending.is_empty()),
                            }
                        }
                        Op::Restart | Op::TornRestart(_) => {
                            drop(spool);
                            if let (Op::TornRestart(bytes), Some(newest), true) =
                                (&op, newest_segment(dir.path()), writing)
                            {
                                let mut frame = MAGIC.to_vec();
                                frame.extend_from_slice(&100u32.to_le_bytes());
                                frame.extend_from_slice(&[0xAB; HEADER + 100]);
                                let mut file = OpenOptions::new().append(true).open(newest).unwrap();
                                file.write_all(&frame[..*bytes]).unwrap();
                                torn += 1;
                            }
                            spool = Spool::open(dir.path(), MAX_BYTES).unwrap();
                            writing = false;
                            model.may_repeat = Some(model.taken.iter().cloned().collect());
                        }
                    }
                }
                // Everything still pending comes back, after at most a run of repeats.
                while let Some(record) = spool.peek().unwrap().map(<[u8]>::to_vec) {
                    model.handed_out(&record);
                    spool.pop().unwrap();
                }
                prop_assert!(model.pending.is_empty(), "{} records lost", model.pending.len());
                // A torn write is skipped and counted (since the last open), never more.
                let skipped = spool.skipped();
                prop_assert_eq!(skipped.corrupt_records + skipped.missing_segments, 0);
                prop_assert!(skipped.torn_tails <= torn);
                prop_assert_eq!(spool.bytes(), 0);
            }
        }
    }
}
