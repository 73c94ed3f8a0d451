//! Freeing a written event on the thread that allocated it.
//!
//! An event's memory (its record and the `String`s inside it) is allocated by the thread that
//! calls `emit!`. If the sink worker freed it, glibc's allocator would hand each block back to
//! the emitting thread's arena under that arena's lock, and caller and worker would take turns
//! waiting on it: in the comparison benchmark (`benches/compare.rs`, one emitting thread,
//! `FileSink`), that was a fifth of all samples, `malloc` and `free` together.
//!
//! So each emitting thread has an [`Origin`]: its records carry it, and once a batch is written
//! the worker puts the records back there instead of dropping them. The thread frees them
//! at its next `emit!`, while it waits for queue space, or when it exits. An origin takes at most [`HELD_RECORDS`] at a time;
//! the worker frees the rest itself, so a thread that emitted a burst and went quiet holds
//! at most that many written events until it emits again or ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::pipeline::record::Record;

/// The most written records an emitting thread is given back to free at a time.
pub(crate) const HELD_RECORDS: usize = 4096;

/// Where an emitting thread's written records come back to be freed.
pub(crate) struct Origin {
    returned: Mutex<Returned>,
    /// Set when records are waiting, so `emit!` looks at the lock only then.
    waiting: AtomicBool,
}

struct Returned {
    records: Vec<Arc<Record>>,
    /// Cleared when the thread ends: nothing is given back after that.
    open: bool,
}

/// This thread's origin, dropped (and its records freed) when the thread ends.
struct ThreadOrigin(Arc<Origin>);

impl Drop for ThreadOrigin {
    fn drop(&mut self) {
        let records = {
            let mut returned = self.0.lock();
            returned.open = false;
            std::mem::take(&mut returned.records)
        };
        free(records);
    }
}

thread_local! {
    static ORIGIN: ThreadOrigin = ThreadOrigin(Arc::new(Origin {
        returned: Mutex::new(Returned { records: Vec::new(), open: true }),
        waiting: AtomicBool::new(false),
    }));
}

impl Origin {
    fn lock(&self) -> std::sync::MutexGuard<'_, Returned> {
        self.returned.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The calling thread's origin, for a record it allocates; `None` while the thread's locals
/// are being destroyed (its records are then freed by the worker).
pub(crate) fn current() -> Option<Arc<Origin>> {
    ORIGIN.try_with(|origin| Arc::clone(&origin.0)).ok()
}

/// Frees the records the workers gave back to this thread, if any (called by `emit!`, and
/// while it waits for queue space).
pub(crate) fn free_returned() {
    let _ = ORIGIN.try_with(|origin| {
        let origin = &origin.0;
        if origin.waiting.load(Ordering::Relaxed) {
            let records = {
                let mut returned = origin.lock();
                origin.waiting.store(false, Ordering::Relaxed);
                // The next records go into a vector allocated here too, as large as the last.
                let room = Vec::with_capacity(returned.records.len());
                std::mem::replace(&mut returned.records, room)
            };
            free(records);
        }
    });
}

/// Drops `records`, one at a time. An event's own `Drop` is application code: a panic in it
/// is caught, so it cannot unwind into the `emit!` that happened to free it, nor stop the
/// records after it from being freed (a second panic while a vector unwinds would abort).
fn free(records: Vec<Arc<Record>>) {
    for record in records {
        let _ = crate::caught::catch(move || drop(record));
    }
}

/// Gives the worker's written records back to the threads that emitted them, emptying
/// `records`. Records of a thread that has ended or whose origin is full, and the pipeline's
/// own, are dropped here; so are those of a batch from more than [`ORIGINS_PER_BATCH`]
/// threads, past the first that many (the pipeline's own records use up one of them). With
/// several sinks, each sink's worker gives its share of a record back, and each counts
/// toward [`HELD_RECORDS`].
pub(crate) fn give_back(records: &mut Vec<Arc<Record>>) {
    let mut refused = Vec::new();
    for _ in 0..ORIGINS_PER_BATCH {
        let Some(first) = records.first() else {
            break;
        };
        let Some(origin) = first.origin.clone() else {
            refused.extend(records.extract_if(.., |record| record.origin.is_none()));
            continue;
        };
        // All of one thread's records go back under one lock.
        let mut returned = origin.lock();
        let mut given = false;
        for record in records.extract_if(.., |record| same_origin(record, &origin)) {
            if returned.open && returned.records.len() < HELD_RECORDS {
                returned.records.push(record);
                given = true;
            } else {
                refused.push(record);
            }
        }
        drop(returned);
        if given {
            origin.waiting.store(true, Ordering::Relaxed);
        }
    }
    refused.append(records);
    free(refused);
}

/// The most emitting threads whose records of one batch are given back to them.
const ORIGINS_PER_BATCH: usize = 8;

fn same_origin(record: &Record, origin: &Arc<Origin>) -> bool {
    record
        .origin
        .as_ref()
        .is_some_and(|o| Arc::ptr_eq(o, origin))
}
