//! Sinks and writers for the pipeline tests.
#![allow(dead_code)]

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_core::{Batch, Sink, SinkError};
use event_sinks::MemorySink;

/// A `MemorySink` that takes `delay` per batch: a sink that cannot keep up.
pub struct SlowSink {
    pub inner: MemorySink,
    pub delay: Duration,
}

impl Sink for SlowSink {
    fn name(&self) -> String {
        self.inner.name()
    }

    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        std::thread::sleep(self.delay);
        self.inner.write_batch(batch).await
    }
}

/// A sink whose writes never complete.
pub struct StuckSink;

impl Sink for StuckSink {
    fn name(&self) -> String {
        "stuck".into()
    }

    async fn write_batch(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        std::future::pending().await
    }
}

/// A byte buffer many writers can share (for `fmt` layers and `StdoutSink`).
#[derive(Clone, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SharedBuffer {
    type Writer = SharedBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The top-level keys of a JSON object line, in the order written.
pub fn key_order(line: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(key) = map.next_key::<String>()? {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(Visitor)
        }
    }
    serde_json::from_str::<Keys>(line).unwrap().0
}
