//! Sending one chunk: attempts across the endpoints (fail-over, probing the primary), retries
//! with backoff, the 413 split, and the fate each part meets.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::chunk::Chunk;
use super::super::retry::Verdict;
use super::Engine;

/// What became of a chunk (or a part of it, after a 413 split).
#[derive(Debug)]
pub(super) enum Fate {
    Delivered,
    /// Taken, but the endpoint said it rejected `rejected` of the records (OTLP partial
    /// success).
    Partial {
        status: u16,
        rejected: u64,
        reason: String,
        /// The server's message.
        answer: String,
    },
    DeadLetter {
        status: Option<u16>,
        reason: String,
        answer: String,
    },
    /// Retries exhausted, no other request succeeded meanwhile.
    Exhausted {
        answered: bool,
    },
}

/// A chunk's delivery: boxed, as a 413 split delivers the halves recursively.
pub(super) type Delivery<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Vec<(Chunk, Fate)>> + Send + 'a>>;

impl Engine {
    /// Sends one chunk until it is delivered, dead-lettered, or out of attempts; a 413 splits
    /// it and sends the halves.
    pub(super) fn deliver(self: &Arc<Self>, chunk: Chunk) -> Delivery<'_> {
        Box::pin(async move {
            if chunk.isolate {
                return self.isolate(chunk).await;
            }
            self.attempt(chunk, self.limits.retry.max_attempts, true)
                .await
        })
    }

    /// Sends one chunk up to `attempts` times. With `judge`, a chunk that kept failing on
    /// answers while the endpoint took other requests goes on to [`Engine::isolate`];
    /// without, it comes back exhausted (isolation judges its parts itself).
    fn attempt(self: &Arc<Self>, chunk: Chunk, attempts: u32, judge: bool) -> Delivery<'_> {
        Box::pin(async move {
            // Encoding (OTLP above all) and gzip are the engine's heaviest work; on the
            // runtime's blocking threads they never hold up this thread's timers and
            // answers, and with `concurrency` > 1 they run side by side where there are
            // cores for it (on the 2-core bench machine the OTLP run is CPU-bound either
            // way, and measured the same within noise). A panic while encoding dead-letters
            // the batch instead of losing it.
            let shared = Arc::new(chunk);
            let job = {
                let engine = Arc::clone(self);
                let chunk = Arc::clone(&shared);
                move || engine.service.payload(&chunk)
            };
            let payload = tokio::task::spawn_blocking(job).await;
            let chunk = Arc::try_unwrap(shared).unwrap_or_else(|shared| (*shared).clone());
            let payload = match payload {
                Ok(payload) => payload,
                Err(err) => {
                    let fate = Fate::DeadLetter {
                        status: None,
                        reason: format!("encoding the body failed ({err})"),
                        answer: String::new(),
                    };
                    return vec![(chunk, fate)];
                }
            };
            let successes_at_start = self.successes.load(Ordering::SeqCst);
            let endpoints = self.service.endpoints.len();
            let mut requests = 0u32;
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                let mut retry_after: Option<Duration> = None;
                let mut answered_any = false;
                for index in self.round() {
                    if requests > 0 {
                        self.outcomes.retried();
                    }
                    requests += 1;
                    match self.service.send(index, &payload).await {
                        Verdict::Delivered => {
                            self.successes.fetch_add(1, Ordering::SeqCst);
                            self.active.store(index, Ordering::SeqCst);
                            return vec![(chunk, Fate::Delivered)];
                        }
                        Verdict::Partial {
                            status,
                            rejected,
                            message,
                        } => {
                            self.successes.fetch_add(1, Ordering::SeqCst);
                            self.active.store(index, Ordering::SeqCst);
                            let shown = &self.service.endpoints[index].shown;
                            if rejected == 0 {
                                self.outcomes.warning(format!(
                                    "{shown}: accepted with a warning: {message}"
                                ));
                                return vec![(chunk, Fate::Delivered)];
                            }
                            let reason = format!(
                                "OTLP partial success: the endpoint rejected {rejected} of {} log records \
                                 (it does not say which; the whole batch is here)",
                                chunk.events
                            );
                            return vec![(
                                chunk,
                                Fate::Partial {
                                    status,
                                    rejected,
                                    reason,
                                    answer: message,
                                },
                            )];
                        }
                        Verdict::Split => {
                            return match chunk.split() {
                                Some((first, second)) => {
                                    let mut parts = self.deliver(first).await;
                                    parts.extend(self.deliver(second).await);
                                    parts
                                }
                                None => vec![(
                                    chunk,
                                    Fate::DeadLetter {
                                        status: Some(413),
                                        reason: "HTTP 413 Payload Too Large for a single event"
                                            .into(),
                                        answer: String::new(),
                                    },
                                )],
                            };
                        }
                        Verdict::Permanent {
                            status,
                            reason,
                            answer,
                        } => {
                            let fate = Fate::DeadLetter {
                                status: Some(status),
                                reason,
                                answer,
                            };
                            return vec![(chunk, fate)];
                        }
                        Verdict::Redirect { status, reason } => {
                            // No answer kept: a redirect's body tends to repeat the
                            // `Location` with the credentials `reason` leaves out.
                            let fate = Fate::DeadLetter {
                                status: Some(status),
                                reason,
                                answer: String::new(),
                            };
                            return vec![(chunk, fate)];
                        }
                        Verdict::Retry {
                            answered,
                            retry_after: asked,
                            reason,
                        } => {
                            answered_any |= answered;
                            retry_after = retry_after.max(asked);
                            self.outcomes.error(format!(
                                "{}: {reason}",
                                self.service.endpoints[index].shown
                            ));
                            if index == 0 && endpoints > 1 {
                                *self.next_probe.lock().unwrap_or_else(|p| p.into_inner()) =
                                    Instant::now() + self.limits.probe_interval;
                            }
                        }
                    }
                }
                let closing = self.lock().closing;
                if closing || attempt >= attempts {
                    if judge
                        && !closing
                        && answered_any
                        && self.successes.load(Ordering::SeqCst) > successes_at_start
                    {
                        // Others got through while this one kept failing: it holds poison.
                        return self.isolate(chunk).await;
                    }
                    return vec![(
                        chunk,
                        Fate::Exhausted {
                            answered: answered_any,
                        },
                    )];
                }
                let wait = self.limits.retry.backoff(attempt, retry_after);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = self.closing() => {}
                }
            }
        })
    }

    /// Delivers a chunk that holds poison: the endpoint answered 500 to it, again and again,
    /// while it took other requests. Split in halves, and each half sent once: a half the
    /// endpoint takes is delivered, one it answers 500 is split again, down to single events,
    /// which get every attempt before they are dead-lettered as poison. (The evidence that the
    /// endpoint works is what brought the chunk here: it took other requests while this one
    /// failed.) A part that fails without an answer (the endpoint went away) is left to the
    /// rules for an exhausted batch.
    /// Finding one poison event in `n` costs about `2 × log2(n)` requests and one event's
    /// attempts; a batch with many is given up after a budget of rounds (its rest dead-lettered
    /// as a poison batch), so it never holds the sink for long.
    fn isolate(self: &Arc<Self>, chunk: Chunk) -> Delivery<'_> {
        Box::pin(async move {
            self.lock().suspects.remove(&chunk.key);
            let max_attempts = self.limits.retry.max_attempts;
            let levels = u64::BITS - (chunk.events.max(1) - 1).leading_zeros();
            let mut rounds_left = 4 * levels + 3 * max_attempts;
            let mut suspects = std::collections::VecDeque::from([chunk]);
            let mut settled = Vec::new();
            while let Some(part) = suspects.pop_front() {
                if self.lock().closing {
                    settled.push((part, Fate::Exhausted { answered: false }));
                    continue;
                }
                let halves = match part.split() {
                    Some((first, second)) => vec![first, second],
                    None => vec![part],
                };
                for half in halves {
                    let single = half.events < 2;
                    let attempts = if single { max_attempts } else { 1 };
                    if rounds_left < attempts {
                        let fate = Fate::DeadLetter {
                            status: None,
                            reason: "poison batch: it holds more events the endpoint refuses \
                                     with 500 than are worth finding one by one"
                                .into(),
                            answer: String::new(),
                        };
                        settled.push((half, fate));
                        continue;
                    }
                    rounds_left -= attempts;
                    for (piece, fate) in self.attempt(half, attempts, false).await {
                        match fate {
                            Fate::Exhausted { answered: true } if piece.events < 2 => {
                                let fate = Fate::DeadLetter {
                                    status: None,
                                    reason: "poison event: the endpoint kept answering 500 to \
                                             it while it accepted other events"
                                        .into(),
                                    answer: String::new(),
                                };
                                settled.push((piece, fate));
                            }
                            Fate::Exhausted { answered: true } => suspects.push_back(piece),
                            fate => settled.push((piece, fate)),
                        }
                    }
                }
            }
            settled
        })
    }

    /// Resolves when the engine starts closing.
    async fn closing(&self) {
        let mut closing = self.closing.subscribe();
        let _ = closing.wait_for(|&closing| closing).await;
    }

    /// The endpoints to try in one attempt: the active one and those after it, wrapping; the
    /// primary first when a fallback is active and a probe is due.
    fn round(&self) -> Vec<usize> {
        let count = self.service.endpoints.len();
        let active = self.active.load(Ordering::SeqCst);
        let mut order: Vec<usize> = (0..count).map(|i| (active + i) % count).collect();
        if active != 0 {
            let mut next_probe = self.next_probe.lock().unwrap_or_else(|p| p.into_inner());
            if Instant::now() >= *next_probe {
                *next_probe = Instant::now() + self.limits.probe_interval;
                order.retain(|&i| i != 0);
                order.insert(0, 0);
            }
        }
        order
    }
}
