//! One writer per file: the spool directory and the dead-letter file are claimed with an
//! advisory lock (`flock`) for as long as their sink lives, so two sinks (in one process or
//! two) never write the same one, which would truncate and interleave each other's records.

use std::fs::File;
use std::io;
use std::path::Path;

/// Claims `file` (opened from `path`) for this sink alone. A file system without advisory
/// locks (some network file systems) is not refused: the claim is then a promise only.
pub(crate) fn claim(file: &File, path: &Path) -> io::Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            format!(
                "`{}` is in use by another sink, in this process or another: give each sink \
                 its own",
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(_)) => Ok(()),
    }
}
