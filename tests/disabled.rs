//! `emit!` with nothing listening costs no allocation (SPEC §4): no subscriber, or a filter that
//! disables the event. Alone in its binary: it counts every allocation of the process.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use event_core::emit;
use support::*;
use tracing_subscriber::prelude::*;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `run`, beyond those of building its argument.
fn allocations(run: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    run();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn disabled_emit_does_not_allocate() {
    // Warm up: the first emit! at a call site builds and registers its metadata once.
    let emit_unit = || emit!(CacheWarmed);
    emit_unit();
    assert_eq!(allocations(|| (0..1_000).for_each(|_| emit_unit())), 0);

    // A subscriber whose filter disables the event (INFO under a WARN filter).
    let sink = event_sinks::MemorySink::new();
    let (layer, guard) = event_core::EventLayer::builder()
        .sink(sink.clone())
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(layer.with_filter(tracing_subscriber::filter::LevelFilter::WARN));
    tracing::subscriber::with_default(subscriber, || {
        let emit_unit = || emit!(CacheWarmed);
        emit_unit();
        assert_eq!(allocations(|| (0..1_000).for_each(|_| emit_unit())), 0);
    });
    drop(guard);
    assert!(sink.is_empty());
}
