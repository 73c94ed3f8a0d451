//! Work on rotated files, off the sink's write path: gzip compression and retention, in order,
//! on one background thread per sink.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[cfg(feature = "gzip")]
use flate2::write::GzEncoder;
#[cfg(feature = "gzip")]
use flate2::Compression;

use super::naming::{age, Naming};
use crate::Clock;

/// How many rotated files, and how old, to keep.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Retention {
    pub(crate) keep_files: Option<usize>,
    pub(crate) keep_for: Option<Duration>,
}

enum Job {
    Compress(PathBuf),
    Retain,
    /// Answers once every job before it is done.
    Barrier(Sender<()>),
}

/// The handle the sink keeps.
pub(crate) struct Housekeeping {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// The last error, for the sink to report.
    pub(crate) last_error: Arc<Mutex<Option<String>>>,
}

impl Housekeeping {
    pub(crate) fn start(
        naming: Naming,
        retention: Retention,
        clock: Arc<dyn Clock>,
    ) -> io::Result<Self> {
        let (jobs, receiver) = mpsc::channel();
        let last_error = Arc::new(Mutex::new(None));
        let errors = Arc::clone(&last_error);
        let thread = event_core::spawn_silenced("event-file-housekeeping", move || {
            run(receiver, &naming, retention, &*clock, &errors)
        })?;
        Ok(Housekeeping {
            jobs: Some(jobs),
            thread: Some(thread),
            last_error,
        })
    }

    pub(crate) fn compress(&self, path: PathBuf) {
        self.send(Job::Compress(path));
    }

    pub(crate) fn retain(&self) {
        self.send(Job::Retain);
    }

    /// Waits until every job sent so far is done.
    pub(crate) fn wait(&self) {
        let (done, wait) = mpsc::channel();
        self.send(Job::Barrier(done));
        let _ = wait.recv();
    }

    fn send(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }
}

impl Drop for Housekeeping {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    jobs: Receiver<Job>,
    naming: &Naming,
    retention: Retention,
    clock: &dyn Clock,
    errors: &Mutex<Option<String>>,
) {
    // Compressions that failed (a full disk), tried again before each later job: at the
    // sink's next rotation or flush, so a file is compressed once there is room.
    let mut unfinished: Vec<PathBuf> = Vec::new();
    for job in jobs {
        unfinished.retain(|path| {
            path.exists()
                && compress(path)
                    .inspect_err(|err| {
                        *errors.lock().unwrap_or_else(|p| p.into_inner()) = Some(err.to_string());
                    })
                    .is_err()
        });
        let result = match job {
            Job::Compress(path) => {
                let result = compress(&path);
                if result.is_err() {
                    unfinished.push(path);
                }
                result
            }
            Job::Retain => retain(naming, retention, clock),
            Job::Barrier(done) => {
                let _ = done.send(());
                Ok(())
            }
        };
        if let Err(err) = result {
            *errors.lock().unwrap_or_else(|p| p.into_inner()) = Some(err.to_string());
        }
    }
}

/// Without the `gzip` feature no sink asks for compression (its builder refuses `gzip(true)`).
#[cfg(not(feature = "gzip"))]
pub(crate) fn compress(_: &Path) -> io::Result<()> {
    Ok(())
}

/// `file` → `file.gz` (via `file.gz.tmp`, fsynced, renamed), then `file` is removed. On
/// failure no `.gz.tmp` is left behind, and `file` stays as it was.
#[cfg(feature = "gzip")]
pub(crate) fn compress(path: &Path) -> io::Result<()> {
    let tmp = PathBuf::from(format!("{}.gz.tmp", path.display()));
    let result = compress_via(path, &tmp);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(feature = "gzip")]
fn compress_via(path: &Path, tmp: &Path) -> io::Result<()> {
    use std::fs::File;
    use std::io::{BufReader, BufWriter};

    use crate::file::open_private;

    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let mut input = BufReader::new(File::open(path)?);
    let output = open_private(tmp, true)?;
    let mut encoder = GzEncoder::new(BufWriter::new(output), Compression::default());
    io::copy(&mut input, &mut encoder)?;
    let output = encoder.finish()?.into_inner().map_err(|e| e.into_error())?;
    output.sync_all()?;
    fs::rename(tmp, &gz)?;
    // The `.gz` must be durable before the plain file goes.
    if let Some(dir) = gz.parent() {
        super::sync_dir(dir)?;
    }
    fs::remove_file(path)
}

/// Deletes rotated files beyond the count and older than the age.
pub(crate) fn retain(naming: &Naming, retention: Retention, clock: &dyn Clock) -> io::Result<()> {
    let rotated = naming.list()?;
    let now = clock.now();
    let excess = retention
        .keep_files
        .map_or(0, |keep| rotated.len().saturating_sub(keep));
    for (index, file) in rotated.iter().enumerate() {
        let too_many = index < excess;
        let too_old = retention
            .keep_for
            .is_some_and(|keep_for| age(file.rotated_at, now) > keep_for);
        if too_many || too_old {
            remove_rotated(&file.path)?;
        }
    }
    Ok(())
}

/// Removes a rotated file and any other form of it (plain, gzipped, half-compressed).
fn remove_rotated(path: &Path) -> io::Result<()> {
    let plain = path
        .to_str()
        .map(|p| p.trim_end_matches(".gz").to_owned())
        .unwrap_or_default();
    for candidate in [
        plain.clone(),
        format!("{plain}.gz"),
        format!("{plain}.gz.tmp"),
    ] {
        match fs::remove_file(&candidate) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
