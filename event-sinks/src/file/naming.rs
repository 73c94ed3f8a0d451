//! Names of rotated files: `<stem>.<seq>.<UTC time>.<ext>[.gz]`, such as
//! `events.00000042.20261121T103000Z.ndjson.gz`. The zero-padded sequence number comes first,
//! so names sort in rotation order even if the wall clock jumps back; the time is for people
//! and for retention by age.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How a sink's active file is named, and so its rotated files.
#[derive(Clone, Debug)]
pub(crate) struct Naming {
    pub(crate) dir: PathBuf,
    stem: String,
    ext: String,
}

/// A rotated file found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rotated {
    pub(crate) path: PathBuf,
    pub(crate) seq: u64,
    pub(crate) rotated_at: SystemTime,
    pub(crate) gzipped: bool,
}

impl Naming {
    /// From the active file's path: `logs/events.ndjson` → dir `logs`, stem `events`, ext
    /// `ndjson`.
    pub(crate) fn new(active: &Path) -> Option<Naming> {
        let dir = match active.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file = active.file_name()?.to_str()?;
        let (stem, ext) = match file.split_once('.') {
            Some((stem, ext)) => (stem, ext),
            None => (file, "log"),
        };
        if stem.is_empty() {
            return None;
        }
        Some(Naming {
            dir,
            stem: stem.to_owned(),
            ext: ext.to_owned(),
        })
    }

    pub(crate) fn rotated(&self, seq: u64, at: SystemTime) -> PathBuf {
        let stamp = compact_utc(at);
        self.dir
            .join(format!("{}.{seq:08}.{stamp}.{}", self.stem, self.ext))
    }

    /// Parses a file name of this sink's rotated files.
    pub(crate) fn parse(&self, path: &Path) -> Option<Rotated> {
        let name = path.file_name()?.to_str()?;
        let rest = name.strip_prefix(&self.stem)?.strip_prefix('.')?;
        let (seq, rest) = rest.split_once('.')?;
        let (stamp, rest) = rest.split_once('.')?;
        let gzipped = match rest.strip_suffix(".gz") {
            Some(ext) if ext == self.ext => true,
            _ if rest == self.ext => false,
            _ => return None,
        };
        if seq.len() < 8 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Rotated {
            path: path.to_path_buf(),
            seq: seq.parse().ok()?,
            rotated_at: parse_compact_utc(stamp)?,
            gzipped,
        })
    }

    /// Every rotated file of this sink, oldest first. A file both gzipped and not (a crash
    /// mid-compression) is listed once, as the plain file.
    pub(crate) fn list(&self) -> std::io::Result<Vec<Rotated>> {
        let mut found: Vec<Rotated> = std::fs::read_dir(&self.dir)?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| self.parse(&entry.path()))
            .collect();
        found.sort_by_key(|r| (r.seq, r.gzipped));
        found.dedup_by_key(|r| r.seq);
        Ok(found)
    }

    /// Leftovers of an interrupted compression: `*.gz.tmp` files of this sink.
    pub(crate) fn temporary_files(&self) -> std::io::Result<Vec<PathBuf>> {
        Ok(std::fs::read_dir(&self.dir)?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".gz.tmp"))
                    .is_some_and(|n| self.parse(Path::new(n)).is_some())
            })
            .collect())
    }
}

/// `20261121T103000Z`.
fn compact_utc(at: SystemTime) -> String {
    // humantime writes `2026-11-21T10:30:00Z`; keep the digits that sort.
    let text = humantime::format_rfc3339_seconds(at).to_string();
    text.replace(['-', ':'], "")
}

fn parse_compact_utc(stamp: &str) -> Option<SystemTime> {
    // `20261121T103000Z` → `2026-11-21T10:30:00Z`.
    if stamp.len() != 16 || !stamp.is_ascii() {
        return None;
    }
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..15]
    );
    humantime::parse_rfc3339(&text).ok()
}

/// The age of a file rotated at `rotated_at`, now.
pub(crate) fn age(rotated_at: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(rotated_at).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names_round_trip_and_sort() {
        let naming = Naming::new(Path::new("logs/events.ndjson")).unwrap();
        let at = humantime::parse_rfc3339("2026-11-21T10:30:00Z").unwrap();
        let path = naming.rotated(42, at);
        assert_eq!(
            path,
            Path::new("logs/events.00000042.20261121T103000Z.ndjson")
        );
        let parsed = naming.parse(&path).unwrap();
        assert_eq!(
            (parsed.seq, parsed.rotated_at, parsed.gzipped),
            (42, at, false)
        );
        let gz = PathBuf::from(format!("{}.gz", path.display()));
        assert!(naming.parse(&gz).unwrap().gzipped);
        assert!(naming.parse(Path::new("logs/events.ndjson")).is_none());
        assert!(naming
            .parse(Path::new("logs/other.00000001.20261121T103000Z.ndjson"))
            .is_none());
        // Sequence first: a later rotation sorts after, even with an earlier clock.
        let earlier = naming.rotated(43, at - Duration::from_secs(3600));
        assert!(earlier > path);
    }
}
