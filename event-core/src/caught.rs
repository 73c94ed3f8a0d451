//! Catching the panics of code the framework runs for the application (a field's `Serialize`
//! or `Display`, a sink) without printing them. Such a panic is caught, counted and reported
//! in the stats, and the application goes on; Rust's default panic hook would also print its
//! message to stderr, from a sink worker too, and the message may quote a value.
//!
//! The first catch installs, once per process, a panic hook that stays silent for panics
//! inside a catch point and hands every other panic to the hook that was set before (the
//! default one, or the application's). A hook the application sets later replaces it, and
//! caught panics are then printed again, by the application's choice.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many catch points this thread is inside.
    static CATCHING: Cell<usize> = const { Cell::new(0) };
}

static HOOK: Once = Once::new();

/// Runs `f`, catching a panic in it, which no panic hook prints.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    // Under `panic = "abort"` nothing is caught: the message must be printed before the
    // process ends. And a hook cannot be set by a thread that is panicking already (an event
    // written in a `Drop` during unwinding): the next catch installs it.
    if cfg!(panic = "unwind") && !std::thread::panicking() {
        install_hook();
    }
    /// Leaves the catch point, also when `f` unwinds.
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            let _ = CATCHING.try_with(|depth| depth.set(depth.get() - 1));
        }
    }
    CATCHING.with(|depth| depth.set(depth.get() + 1));
    let _leave = Leave;
    panic::catch_unwind(AssertUnwindSafe(f))
}

/// Installs the hook, once per process.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let caught = CATCHING.try_with(|depth| depth.get() > 0).unwrap_or(false);
            if !caught {
                previous(info);
            }
        }));
    });
}
