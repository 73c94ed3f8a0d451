//! Silenced threads: nothing they log or emit reaches a subscriber or comes back into a
//! pipeline.
//!
//! Every thread the pipeline runs a sink on is silenced, and so is every thread of the sink's
//! tokio runtime (`spawn_blocking` included). A sink that starts threads of its own starts
//! them with [`spawn_silenced`] (or calls [`silence_current_thread`] first thing in them):
//! Rust has no hook that would let us see a plain `std::thread::spawn`, and a thread that is
//! not silenced feeds whatever it emits or logs back into the app's subscriber, which hands it
//! to the sink again.

use std::cell::{Cell, RefCell};
use std::io;
use std::thread::JoinHandle;

use tracing_core::dispatcher::{self, DefaultGuard};
use tracing_core::Dispatch;

thread_local! {
    static SILENCED: Cell<bool> = const { Cell::new(false) };
    /// The no-op dispatcher set for the rest of the thread's life; dropped when it ends.
    static GUARD: RefCell<Option<DefaultGuard>> = const { RefCell::new(None) };
}

/// Silences the calling thread for the rest of its life: its `tracing` calls and `emit!`s
/// reach no subscriber, and no [`EventLayer`](crate::EventLayer) takes an event from it.
///
/// For threads a [`Sink`](crate::Sink) starts itself; prefer [`spawn_silenced`]. Calling it
/// again is harmless.
pub fn silence_current_thread() {
    if SILENCED.with(|silenced| silenced.replace(true)) {
        return;
    }
    let mut guard = Some(dispatcher::set_default(&Dispatch::none()));
    // A thread-local destructor runs on the thread itself, where the guard must be dropped.
    let kept = GUARD.try_with(|slot| *slot.borrow_mut() = guard.take());
    if kept.is_err() {
        // Thread-locals are being torn down: keep the no-op dispatcher for the little that
        // is left of the thread rather than restore the app's.
        std::mem::forget(guard);
    }
}

/// Whether the calling thread is silenced.
pub fn is_silenced() -> bool {
    // A `const` cell without a destructor is readable for the thread's whole life.
    SILENCED.with(Cell::get)
}

/// Spawns a named thread that runs silenced, as [`std::thread::Builder::spawn`] does
/// otherwise. Use it for every thread a sink starts.
///
/// ```
/// let worker = event_core::spawn_silenced("my-sink-flusher", || {
///     // Neither of these reaches a subscriber or a pipeline.
///     tracing::info!("flushing");
///     assert!(event_core::is_silenced());
///     42
/// })?;
/// assert_eq!(worker.join().unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_silenced<F, T>(name: impl Into<String>, run: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            silence_current_thread();
            run()
        })
}

/// A tokio runtime for sinks: I/O and timers enabled, every thread it starts (the blocking
/// pool's, for `spawn_blocking` and DNS) silenced. Tokio's I/O driver exists when any crate
/// of the build enables tokio's `net` feature, as a sink that uses tokio sockets does.
pub(crate) fn sink_runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(silence_current_thread)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silenced_thread_reaches_no_subscriber() {
        let handle = spawn_silenced("silenced", || {
            assert!(is_silenced());
            dispatcher::get_default(|dispatch| {
                dispatch.is::<tracing_core::subscriber::NoSubscriber>()
            })
        })
        .unwrap();
        assert!(
            handle.join().unwrap(),
            "the silenced thread's default dispatcher is not a no-op"
        );
        assert!(!is_silenced());
    }

    #[test]
    fn blocking_threads_of_a_sink_runtime_are_silenced() {
        let runtime = sink_runtime().unwrap();
        let silenced = runtime
            .block_on(async { tokio::task::spawn_blocking(is_silenced).await })
            .unwrap();
        assert!(silenced);
    }
}
