//! The one-call setup for newcomers: typed events to standard output, nothing else to learn.

use event_core::{BuildError, EventGuard, EventLayer};
use tracing_subscriber::prelude::*;

use crate::StdoutSink;

/// Installs a global subscriber whose only layer sends events to standard output: readable
/// lines on a terminal, NDJSON otherwise. Keep the guard until the program ends.
///
/// For anything more (your own `fmt` layer, files, HTTP, a hash key), build an
/// [`EventLayer`] and add it to your registry instead.
///
/// ```no_run
/// #[derive(event_core::Event)]
/// #[event(kind = "system_event")]
/// struct ServiceStarted {
///     port: u16,
/// }
///
/// let _guard = event_sinks::init_stdout()?;
/// event_core::emit!(ServiceStarted { port: 8080 });
/// # Ok::<(), event_core::BuildError>(())
/// ```
pub fn init_stdout() -> Result<EventGuard, BuildError> {
    let (layer, guard) = EventLayer::builder().sink(StdoutSink::auto()).build()?;
    tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .map_err(|err| {
            BuildError::with_source(
                "global subscriber",
                "one is already installed: add an EventLayer to your own registry instead",
                err,
            )
        })?;
    Ok(guard)
}
