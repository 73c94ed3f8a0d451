//! `emit!` with nothing listening costs no allocation: no subscriber, or a filter that
//! disables the event. Alone in its binary: it installs a counting global allocator.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use event_core::emit;
use support::*;
use tracing_subscriber::prelude::*;

struct Counting;

thread_local! {
    // Per thread: the layer's own worker threads allocate while they start, concurrently with
    // the test, and those allocations are not `emit!`'s. Const-initialised, without a
    // destructor, so the allocator may use it.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
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

/// Allocations made on this thread by `run`.
fn allocations(run: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    run();
    ALLOCATIONS.with(Cell::get) - before
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
