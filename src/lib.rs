//! End-to-end tests and examples of the typed-event framework live in `tests/` and
//! `examples/`; this package has no code of its own.
