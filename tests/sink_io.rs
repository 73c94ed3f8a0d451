//! A sink may use tokio's I/O: its worker's runtime has the I/O driver as well as timers. This
//! one writes every event as a line to a `tokio::net::TcpStream` on loopback.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use event_core::{emit, Batch, EventLayer, Sink, SinkError};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing_subscriber::prelude::*;

struct TcpLineSink {
    addr: SocketAddr,
    stream: Option<TcpStream>,
}

impl Sink for TcpLineSink {
    fn name(&self) -> String {
        "tcp".into()
    }

    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => self.stream.insert(
                TcpStream::connect(self.addr)
                    .await
                    .map_err(|err| SinkError::new(format!("connect: {err}")))?,
            ),
        };
        for event in batch.iter() {
            let mut line = event.json().to_vec();
            line.push(b'\n');
            stream
                .write_all(&line)
                .await
                .map_err(|err| SinkError::new(format!("write: {err}")))?;
        }
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), SinkError> {
        if let Some(mut stream) = self.stream.take() {
            stream
                .shutdown()
                .await
                .map_err(|err| SinkError::new(format!("shutdown: {err}")))?;
        }
        Ok(())
    }
}

#[test]
fn a_sink_writes_to_a_tokio_tcp_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Reads lines until the sink closes its end.
    let receiver = std::thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        BufReader::new(socket)
            .lines()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    });

    let (layer, guard) = EventLayer::builder()
        .sink(TcpLineSink { addr, stream: None })
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for _ in 0..500 {
            emit!(login_attempt());
        }
    });
    let report = guard.shutdown(Duration::from_secs(30));
    assert!(report.is_complete(), "{report:?}");
    let stats = guard.stats();
    let sink = &stats.sinks[0];
    assert_eq!(sink.delivered, 500, "{sink:?}");
    assert!(sink.dropped.is_empty(), "{sink:?}");

    let lines = receiver.join().unwrap();
    assert_eq!(lines.len(), 500);
    for line in &lines {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["event_name"], "user_login_attempt");
    }
}
