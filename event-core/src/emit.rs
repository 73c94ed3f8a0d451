//! `emit!`: from a call site to one `tracing` event, and from there to every `EventLayer`.
//!
//! Each `emit!` has its own static [`EmitCallsite`]. The event's type is only known once the
//! call runs, so the callsite builds its `Metadata` (name = event name, target = the calling
//! module, level per kind) on first use and registers itself with `tracing` then. After that an
//! `emit!` that no subscriber wants costs a level check and an atomic load: no serialization,
//! no allocation.
//!
//! An enabled event is dispatched with lazy, treated field values, so other layers (`fmt`) see
//! the name, version and treated values, computed only if they look. An `EventLayer` does not
//! look at them: during dispatch it *claims* the event through a thread-local [`Handoff`]
//! (capturing the time, id and span context), and once dispatch returns, `emit` moves the
//! typed event to each claiming pipeline. Nothing is serialized on the caller's thread.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};

use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::FieldSet;
use tracing_core::metadata::Kind;
use tracing_core::subscriber::Interest;
use tracing_core::{dispatcher, LevelFilter, Metadata};

use crate::pipeline::record::Record;
use crate::pipeline::Pipeline;
use crate::render::envelope::{Payload, RecordMeta};
use crate::Event;

/// Emits a typed event: `emit!(UserLoggedIn { user_id, .. })`.
///
/// The event is taken by value. With no subscriber, or a filter that disables it, this costs a
/// level check and an atomic load. Otherwise one `tracing` event is dispatched, named after the
/// event, with the calling module as target and the event's level, so `EnvFilter` and
/// per-layer filters work as usual; every `EventLayer` then gets the typed event.
///
/// ```
/// use event_core::{emit, Event};
///
/// #[derive(Event)]
/// #[event(kind = "business")]
/// struct OrderPlaced {
///     order_id: u64,
/// }
///
/// emit!(OrderPlaced { order_id: 7 }); // no subscriber here: nearly free
/// ```
///
/// Once the sinks have written an event, it comes back to the thread that emitted it to be
/// freed (glibc's allocator is slow when one thread frees another's memory): at that thread's
/// next `emit!`, while it waits for queue space, or when it exits. An event type's own `Drop`
/// therefore runs inside a later `emit!` of the same thread (a panic in it is caught), and must
/// not take a lock that code calling `emit!` may hold.
///
/// `emit!(level = LEVEL, event)` emits at `LEVEL` (a constant `tracing::Level`) instead of the
/// event's own level, for an event whose severity depends on what happened:
///
/// ```
/// # use event_core::{emit, Event};
/// # #[derive(Event)]
/// # #[event(kind = "system_event")]
/// # struct JobFinished { failed: u32 }
/// let failed = 3;
/// if failed > 0 {
///     emit!(level = tracing::Level::WARN, JobFinished { failed });
/// } else {
///     emit!(JobFinished { failed });
/// }
/// ```
#[macro_export]
macro_rules! emit {
    (level = $level:expr, $event:expr $(,)?) => {{
        static __EVENT_CALLSITE: $crate::__private::EmitCallsite =
            $crate::__private::EmitCallsite::with_level(
                ::core::module_path!(),
                ::core::file!(),
                ::core::line!(),
                $level,
            );
        $crate::__private::emit(&__EVENT_CALLSITE, $event)
    }};
    ($event:expr $(,)?) => {{
        static __EVENT_CALLSITE: $crate::__private::EmitCallsite =
            $crate::__private::EmitCallsite::new(
                ::core::module_path!(),
                ::core::file!(),
                ::core::line!(),
            );
        $crate::__private::emit(&__EVENT_CALLSITE, $event)
    }};
}

const INTEREST_NEVER: u8 = 0;
const INTEREST_SOMETIMES: u8 = 1;
const INTEREST_ALWAYS: u8 = 2;
const INTEREST_UNKNOWN: u8 = 3;

/// The static callsite of one `emit!`. Used by the macro only.
#[doc(hidden)]
pub struct EmitCallsite {
    module: &'static str,
    file: &'static str,
    line: u32,
    /// Set by `emit!(level = ..)`; else the event type's level.
    level: Option<tracing_core::Level>,
    metadata: OnceLock<(TypeId, Metadata<'static>)>,
    registration: Once,
    interest: AtomicU8,
}

impl EmitCallsite {
    pub const fn new(module: &'static str, file: &'static str, line: u32) -> Self {
        EmitCallsite {
            module,
            file,
            line,
            level: None,
            metadata: OnceLock::new(),
            registration: Once::new(),
            interest: AtomicU8::new(INTEREST_UNKNOWN),
        }
    }

    /// A callsite whose events are emitted at `level`.
    pub const fn with_level(
        module: &'static str,
        file: &'static str,
        line: u32,
        level: tracing_core::Level,
    ) -> Self {
        let mut callsite = EmitCallsite::new(module, file, line);
        callsite.level = Some(level);
        callsite
    }

    /// The level of events of type `E` here.
    fn level<E: Event>(&self) -> tracing_core::Level {
        match self.level {
            Some(level) => level,
            None => E::LEVEL,
        }
    }

    /// The callsite and metadata for events of type `E` here, registered on first use.
    ///
    /// A call site nearly always emits one type. In a generic function, though, one `static`
    /// serves every type the function is called with: the first type keeps this callsite, and
    /// each other type gets its own, made once and kept for the life of the process.
    fn resolve<E: Event>(&'static self) -> (&'static EmitCallsite, &'static Metadata<'static>) {
        let (type_id, metadata) = self.metadata.get_or_init(|| {
            (
                TypeId::of::<E>(),
                Metadata::new(
                    E::NAME,
                    self.module,
                    self.level::<E>(),
                    Some(self.file),
                    Some(self.line),
                    Some(self.module),
                    FieldSet::new(E::__TRACING_FIELDS, Identifier(self)),
                    Kind::EVENT,
                ),
            )
        });
        if *type_id != TypeId::of::<E>() {
            return self.for_other_type::<E>();
        }
        self.registration
            .call_once(|| tracing_core::callsite::register(self));
        (self, metadata)
    }

    #[cold]
    fn for_other_type<E: Event>(
        &'static self,
    ) -> (&'static EmitCallsite, &'static Metadata<'static>) {
        type Key = (usize, TypeId);
        static OTHERS: Mutex<Option<HashMap<Key, &'static EmitCallsite>>> = Mutex::new(None);
        let key = (self as *const EmitCallsite as usize, TypeId::of::<E>());
        let callsite = *OTHERS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(HashMap::new)
            .entry(key)
            .or_insert_with(|| {
                Box::leak(Box::new(EmitCallsite {
                    level: self.level,
                    ..EmitCallsite::new(self.module, self.file, self.line)
                }))
            });
        callsite.resolve::<E>()
    }

    fn interest(&self) -> Interest {
        match self.interest.load(Ordering::Relaxed) {
            INTEREST_NEVER => Interest::never(),
            INTEREST_ALWAYS => Interest::always(),
            _ => Interest::sometimes(),
        }
    }
}

impl Callsite for EmitCallsite {
    fn set_interest(&self, interest: Interest) {
        let value = if interest.is_never() {
            INTEREST_NEVER
        } else if interest.is_always() {
            INTEREST_ALWAYS
        } else {
            INTEREST_SOMETIMES
        };
        self.interest.store(value, Ordering::Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        &self
            .metadata
            .get()
            .expect("an emit! callsite is registered only once its metadata is built")
            .1
    }
}

/// The body of `emit!`. Used by the macro only.
#[doc(hidden)]
pub fn emit<E: Event + Send>(callsite: &'static EmitCallsite, event: E) {
    // The check `tracing`'s own macros make first: compile-time and global maximum levels.
    let level = callsite.level::<E>();
    if level > tracing::level_filters::STATIC_MAX_LEVEL || level > LevelFilter::current() {
        return;
    }
    let (callsite, metadata) = callsite.resolve::<E>();
    let interest = callsite.interest();
    if interest.is_never() {
        return;
    }
    if !interest.is_always() && !dispatcher::get_default(|current| current.enabled(metadata)) {
        return;
    }
    // Events this thread emitted earlier and the sinks have written are freed here, where
    // they were allocated.
    crate::pipeline::origin::free_returned();
    let claims = Handoff::dispatch(metadata, || event.__dispatch(metadata));
    let Some(first) = claims.first else {
        return;
    };
    if claims.more.is_empty() {
        // One layer: the event goes inline in its record, one allocation.
        return first.submit(Mutex::new(event));
    }
    let payload: Arc<dyn Payload> = Arc::new(Mutex::new(event));
    for claim in claims.more {
        claim.submit(Arc::clone(&payload));
    }
    first.submit(payload);
}

thread_local! {
    static HANDOFF: RefCell<Vec<Handoff>> = const { RefCell::new(Vec::new()) };
}

/// The event being dispatched on this thread, for the `EventLayer`s to claim. A stack, since
/// user code run during dispatch (a `Debug` impl read by another layer) may itself emit.
pub(crate) struct Handoff {
    metadata: *const Metadata<'static>,
    /// When the event was emitted and its id: taken by the first claim, shared by the others.
    stamp: Option<Stamp>,
    claims: Claims,
}

/// An event's time and id, the same for every layer that claims it.
#[derive(Clone, Copy)]
pub(crate) struct Stamp {
    pub(crate) timestamp: std::time::SystemTime,
    pub(crate) event_id: uuid::Uuid,
}

impl Stamp {
    /// Now, and a UUIDv7 whose milliseconds are that time's. Built from the one clock reading
    /// and random bits, without `Uuid::now_v7`'s process-wide lock.
    fn now() -> Stamp {
        let timestamp = std::time::SystemTime::now();
        let since_epoch = timestamp
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let uuid_time = uuid::Timestamp::from_unix(
            uuid::NoContext,
            since_epoch.as_secs(),
            since_epoch.subsec_nanos(),
        );
        Stamp {
            timestamp,
            event_id: uuid::Uuid::new_v7(uuid_time),
        }
    }
}

/// The claims on one event: nearly always one layer's, kept without allocating.
#[derive(Default)]
struct Claims {
    first: Option<Claim>,
    more: Vec<Claim>,
}

impl Handoff {
    /// Runs `dispatch` with a handoff for `metadata` open, and returns what was claimed.
    fn dispatch(metadata: &'static Metadata<'static>, dispatch: impl FnOnce()) -> Claims {
        struct Close;
        impl Drop for Close {
            fn drop(&mut self) {
                // `try_with`: this may run while the thread's locals are being destroyed.
                let _ = HANDOFF.try_with(|stack| stack.borrow_mut().pop());
            }
        }
        let _ = HANDOFF.try_with(|stack| {
            stack.borrow_mut().push(Handoff {
                metadata,
                stamp: None,
                claims: Claims::default(),
            })
        });
        let close = Close;
        dispatch();
        let claims = HANDOFF
            .try_with(|stack| {
                stack
                    .borrow_mut()
                    .last_mut()
                    .map(|handoff| std::mem::take(&mut handoff.claims))
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        drop(close);
        claims
    }

    /// Claims the event being dispatched, if `metadata` is that of an `emit!` in progress on
    /// this thread. Returns whether it was one.
    pub(crate) fn claim(
        metadata: &'static Metadata<'static>,
        claim: impl FnOnce(Stamp) -> Claim,
    ) -> bool {
        HANDOFF
            .try_with(|stack| {
                let mut stack = stack.borrow_mut();
                match stack.last_mut() {
                    Some(handoff) if std::ptr::eq(handoff.metadata, metadata) => {
                        let stamp = *handoff.stamp.get_or_insert_with(Stamp::now);
                        let claims = &mut handoff.claims;
                        match claims.first {
                            None => claims.first = Some(claim(stamp)),
                            Some(_) => claims.more.push(claim(stamp)),
                        }
                        true
                    }
                    _ => false,
                }
            })
            .unwrap_or(false)
    }
}

/// An `EventLayer`'s claim on the event being emitted; submitted once dispatch is over.
pub(crate) struct Claim {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) meta: RecordMeta,
}

impl Claim {
    fn submit<P: Payload + 'static>(self, payload: P) {
        self.pipeline.submit(Arc::new(Record::new(
            self.meta,
            payload,
            self.pipeline.size_hints(),
            crate::pipeline::origin::current(),
        )));
    }
}
