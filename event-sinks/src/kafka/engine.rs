//! The accounting behind `KafkaSink`: librdkafka's delivery reports turned into outcomes, the
//! outage mode in which events go to the disk spool, and the replay of the spool in order.
//!
//! Three threads meet here: the sink's worker (which produces), the sink's poll thread (which
//! serves librdkafka's delivery reports and replays the spool), and whichever of them calls
//! librdkafka's `flush` (which serves reports too). Everything they share is in [`State`],
//! behind one mutex that is never held while calling into librdkafka, since a report needs it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::AtomicBool;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use event_core::{DropReason, Outcomes};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
};
use uuid::Uuid;

use super::redact::Redactor;
use super::route::{Route, Router};
use crate::dead_letter::{DeadLetter, DeadLetterError};
use crate::spool::{PushError, RecordHeader, Spool};

/// How long the first retry of a spool record waits after a failed replay; it doubles up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// At most this many bytes of spool records are replayed at once: the records of one batch
/// each are small when an outage spools what trickles in, and replaying them one at a time
/// (each waiting for its acknowledgements) would fall behind the spooling.
const REPLAY_BYTES: usize = 4 << 20;

/// What a message is, carried through librdkafka as its opaque: bit 0 counted, bit 1 a spool
/// replay, bits 2 to 9 the replay's generation (its low 8 bits: enough to recognise and ignore
/// the late reports of the one replay that shutdown abandons), the rest the event's index in
/// the replay.
#[derive(Clone, Copy)]
pub(super) struct Tag {
    counted: bool,
    replay: Option<ReplayTag>,
}

/// Which replay a message belongs to, and which of its events it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ReplayTag {
    /// The replay's generation, its low 8 bits.
    generation: u8,
    index: usize,
}

impl Tag {
    pub(super) fn live(counted: bool) -> Tag {
        Tag {
            counted,
            replay: None,
        }
    }

    fn encode(self) -> usize {
        let replay = match self.replay {
            Some(tag) => 2 | (usize::from(tag.generation) << 2) | (tag.index << 10),
            None => 0,
        };
        usize::from(self.counted) | replay
    }

    fn decode(bits: usize) -> Tag {
        Tag {
            counted: bits & 1 == 1,
            replay: (bits & 2 == 2).then_some(ReplayTag {
                generation: (bits >> 2) as u8,
                index: bits >> 10,
            }),
        }
    }
}

/// What became of one message.
enum Fate<'a> {
    Delivered,
    /// The broker (or librdkafka, before sending) refused it for good: dead-lettered.
    Refused(&'a KafkaError),
    /// Not delivered within the delivery timeout, or purged: spooled, or dropped without a
    /// spool.
    Undelivered(&'a KafkaError),
}

impl<'a> Fate<'a> {
    /// What a failure is: refused for good, or not delivered (yet).
    fn failed(err: &'a KafkaError) -> Fate<'a> {
        if is_permanent(err) {
            Fate::Refused(err)
        } else {
            Fate::Undelivered(err)
        }
    }
}

/// Errors that no retry can mend: the message or its topic is refused as it is.
fn is_permanent(err: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        err.rdkafka_error_code(),
        Some(
            MessageSizeTooLarge
                | InvalidMessageSize
                | InvalidMessage
                | InvalidRecord
                | MessageBatchTooLarge
                | UnsupportedForMessageFormat
                | BadMessage
                | InvalidTopic
                | UnknownTopic
                | UnknownPartition
                | UnknownTopicOrPartition
                | UnknownTopicId
                | TopicAuthorizationFailed
                | ClusterAuthorizationFailed
                | PolicyViolation
                | InvalidRequiredAcks
                | InvalidArgument
        )
    )
}

/// Events whose delivery failed, waiting to be written to the spool as one record.
#[derive(Default)]
struct Failed {
    lines: Vec<u8>,
    events: u64,
    uncounted: Vec<u64>,
}

impl Failed {
    fn push(&mut self, line: &[u8], counted: bool) {
        self.lines.extend_from_slice(line);
        self.lines.push(b'\n');
        if !counted {
            self.uncounted.push(self.events);
        }
        self.events += 1;
    }

    fn counted(&self) -> u64 {
        self.events - self.uncounted.len() as u64
    }
}

/// The spool records being replayed: the oldest, and those behind it of the same run. Kept
/// after a failed try, so that the next one sends only the events not yet settled.
struct Replay {
    generation: u64,
    /// The first record's key: a kept replay is used again only for the same records.
    key: String,
    /// How many records, to remove from the spool once all their events are delivered.
    records: usize,
    /// Per event: acknowledged or refused (by this try or an earlier one).
    settled: Vec<bool>,
    /// Per event: acknowledged.
    acknowledged: Vec<bool>,
    /// Per event: counted in `emitted` (not one of the pipeline's own reports).
    counts: Vec<bool>,
    /// Per event sent: its topic and key, hashed; `None` without a key.
    groups: Vec<Option<u64>>,
    /// Emitted by this process (counted in its stats), or by an earlier run (`recovered`).
    this_run: bool,
    /// The events of the records that count in `emitted`.
    counted: u64,
    remaining: u64,
    /// Some event was not delivered: the records stay, and the events not settled are tried
    /// again later.
    failed: bool,
    /// Events the broker refused, dead-lettered once the records are settled.
    refused: Vec<Refused>,
}

impl Replay {
    /// After a failed try: an event acknowledged behind one of its key that was not (librdkafka
    /// can deliver a partition's later messages when earlier ones timed out) is sent again
    /// too, so that the key's last copies arrive in order.
    fn keep_order(&mut self) {
        let mut first_open: HashMap<u64, usize> = HashMap::new();
        for (index, group) in self.groups.iter().enumerate() {
            if let (false, Some(group)) = (self.settled[index], group) {
                first_open.entry(*group).or_insert(index);
            }
        }
        for (index, group) in self.groups.iter().enumerate() {
            let behind = group
                .and_then(|group| first_open.get(&group))
                .is_some_and(|&open| open < index);
            if behind && self.acknowledged[index] {
                self.settled[index] = false;
                self.acknowledged[index] = false;
            }
        }
    }
}

/// An event the broker refused during a replay.
struct Refused {
    line: Vec<u8>,
    counted: bool,
    reason: String,
    error: String,
    topic: String,
}

struct State {
    spool: Option<Spool>,
    /// Delivery is failing (or an earlier run left events in the spool): new events go to
    /// the spool, behind those already there, until the replay has emptied it.
    outage: bool,
    /// The poll thread is to purge librdkafka's queues, so that what they hold comes back
    /// now, as purged, and goes to the spool in order.
    purge: bool,
    failed: Failed,
    /// Live messages handed to librdkafka and not yet reported, and how many of them count.
    live: u64,
    live_counted: u64,
    /// Deliveries not yet counted in the outcomes: counted a poll's worth at a time, and
    /// whenever nothing is live any more.
    delivered: u64,
    /// Threads waiting on `changed`: a report wakes them only when there are some.
    waiters: u32,
    replay: Option<Replay>,
    /// The replay whose last try failed, until the next try.
    retry: Option<Replay>,
    generation: u64,
    next_replay: Instant,
    backoff: Duration,
    /// Shutting down: nothing is replayed, and without a spool what fails is dropped with
    /// reason `shutdown`.
    closing: bool,
    /// Shutdown gave up waiting: what was still live is counted dropped, later reports not.
    abandoned: bool,
    /// Refused live events being written to the dead-letter file, outside the lock.
    writing: u64,
    /// Damaged spool stretches already reported.
    reported_corrupt: u64,
}

/// What the worker, the poll thread and librdkafka's reports share.
pub(super) struct Shared {
    outcomes: OnceLock<Outcomes>,
    state: Mutex<State>,
    changed: Condvar,
    /// `None` without one, and after shutdown (which releases the file).
    dead_letter: Mutex<Option<DeadLetter>>,
    run: Uuid,
    redactor: Redactor,
    pub(super) stop: AtomicBool,
}

/// The producer's context: librdkafka calls it with delivery reports, errors and logs.
pub(super) struct Context {
    pub(super) shared: std::sync::Arc<Shared>,
}

pub(super) type KafkaProducer = BaseProducer<Context>;

impl ClientContext for Context {
    // librdkafka logs from its own threads; forwarding to `log`/`tracing` (the default) could
    // reach the application's subscriber and this very pipeline. Errors are kept as the
    // sink's last warning instead, with configured secrets removed.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Error as i32) {
            if let Some(outcomes) = self.shared.outcomes.get() {
                let text = self.shared.redactor.clean(log_message);
                outcomes.warning(format!("librdkafka {fac}: {text}"));
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(outcomes) = self.shared.outcomes.get() {
            let text = self.shared.redactor.clean(&format!("{error}: {reason}"));
            match error.rdkafka_error_code() {
                Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::Fatal) => {
                    outcomes.error(text);
                }
                _ => outcomes.warning(text),
            }
        }
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let (fate, message) = match result {
            Ok(message) => (Fate::Delivered, message),
            Err((err, message)) => (Fate::failed(err), message),
        };
        let line = message.payload().unwrap_or_default();
        self.shared
            .settle(Tag::decode(opaque), fate, line, message.topic());
    }
}

impl Shared {
    pub(super) fn new(
        spool: Option<Spool>,
        dead_letter: Option<DeadLetter>,
        redactor: Redactor,
    ) -> Shared {
        // What an earlier run left in the spool goes first.
        let outage = spool.as_ref().is_some_and(|spool| !spool.is_empty());
        Shared {
            outcomes: OnceLock::new(),
            state: Mutex::new(State {
                spool,
                outage,
                purge: false,
                failed: Failed::default(),
                live: 0,
                live_counted: 0,
                delivered: 0,
                waiters: 0,
                replay: None,
                retry: None,
                generation: 0,
                next_replay: Instant::now(),
                backoff: FIRST_BACKOFF,
                closing: false,
                abandoned: false,
                writing: 0,
                reported_corrupt: 0,
            }),
            changed: Condvar::new(),
            dead_letter: Mutex::new(dead_letter),
            run: Uuid::new_v4(),
            redactor,
            stop: AtomicBool::new(false),
        }
    }

    pub(super) fn attach(&self, outcomes: Outcomes) {
        let _ = self.outcomes.set(outcomes);
    }

    fn outcomes(&self) -> &Outcomes {
        self.outcomes
            .get()
            .expect("attached before the first batch")
    }

    /// The outcomes handle, once the sink is attached to a pipeline.
    pub(super) fn attached(&self) -> Option<&Outcomes> {
        self.outcomes.get()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one message's fate: from a delivery report, or from `send` refusing it.
    fn settle(&self, tag: Tag, fate: Fate<'_>, line: &[u8], topic: &str) {
        let outcomes = self.outcomes();
        // A refused live event is written to the dead-letter file (and synced) before the
        // state is locked, so the worker is not held up by the disk; and before it stops
        // being live, so shutdown does not close the file under it.
        // `writing` keeps `abandon` from counting the event dropped meanwhile.
        let mut unwritten = None;
        if let (None, Fate::Refused(err)) = (tag.replay, &fate) {
            let writing = {
                let mut state = self.lock();
                state.writing += u64::from(!state.abandoned);
                !state.abandoned
            };
            if writing {
                let reason = self.refusal(err);
                unwritten = Some(self.write_dead_letter(line, topic, &reason, &error_code(err)));
            }
        }
        let mut state = self.lock();
        if unwritten.is_some() {
            state.writing -= 1;
        }
        match tag.replay {
            None => {
                // Saturating: after `abandon`, reports may still come for what it counted.
                state.live = state.live.saturating_sub(1);
                if tag.counted {
                    state.live_counted = state.live_counted.saturating_sub(1);
                }
                if !state.abandoned {
                    match fate {
                        Fate::Delivered => state.delivered += u64::from(tag.counted),
                        Fate::Refused(_) => {
                            if let (true, Some(unwritten)) = (tag.counted, unwritten) {
                                match unwritten {
                                    None => outcomes.dead_lettered(1),
                                    Some(reason) => outcomes.dropped(reason, 1),
                                }
                            }
                        }
                        Fate::Undelivered(err) => self.undelivered(&mut state, err, line, tag),
                    }
                }
            }
            Some(ReplayTag { generation, index }) => {
                let Some(replay) = state
                    .replay
                    .as_mut()
                    .filter(|r| r.generation as u8 == generation && index < r.settled.len())
                else {
                    return;
                };
                replay.remaining -= 1;
                match fate {
                    Fate::Delivered => {
                        replay.settled[index] = true;
                        replay.acknowledged[index] = true;
                    }
                    Fate::Refused(err) => {
                        replay.settled[index] = true;
                        replay.refused.push(Refused {
                            line: line.to_vec(),
                            counted: tag.counted,
                            reason: self.refusal(err),
                            error: error_code(err),
                            topic: topic.to_owned(),
                        });
                    }
                    Fate::Undelivered(err) => {
                        if !replay.failed {
                            outcomes.error(format!(
                                "replaying the spool failed ({}); trying again later",
                                self.redactor.clean(&err.to_string())
                            ));
                        }
                        replay.failed = true;
                    }
                }
                if replay.remaining == 0 {
                    self.finish_replay(&mut state);
                }
            }
        }
        if state.live == 0 {
            self.count_delivered(&mut state);
        }
        let wake = state.waiters > 0;
        drop(state);
        if wake {
            self.changed.notify_all();
        }
    }

    /// Counts the deliveries reported since the last time.
    fn count_delivered(&self, state: &mut State) {
        let delivered = std::mem::take(&mut state.delivered);
        if delivered > 0 {
            self.outcomes().delivered(delivered);
        }
    }

    /// Waits on `changed` for at most `timeout`.
    fn wait<'a>(
        &self,
        mut state: MutexGuard<'a, State>,
        timeout: Duration,
    ) -> MutexGuard<'a, State> {
        state.waiters += 1;
        let mut state = self
            .changed
            .wait_timeout(state, timeout)
            .unwrap_or_else(|p| p.into_inner())
            .0;
        state.waiters -= 1;
        state
    }

    fn refusal(&self, err: &KafkaError) -> String {
        let text = self.redactor.clean(&err.to_string());
        self.outcomes()
            .error(format!("the broker refused events for good: {text}"));
        format!("refused for good: {text}")
    }

    /// A live message that was not delivered in time (or was purged): to the spool, or lost.
    fn undelivered(&self, state: &mut State, err: &KafkaError, line: &[u8], tag: Tag) {
        let outcomes = self.outcomes();
        let text = self.redactor.clean(&err.to_string());
        if state.spool.is_some() {
            state.failed.push(line, tag.counted);
            if !state.outage {
                state.outage = true;
                state.purge = true;
                outcomes.error(format!(
                    "events were not delivered ({text}); spooling until the brokers take them"
                ));
            }
        } else if tag.counted {
            let reason = if state.closing {
                DropReason::Shutdown
            } else {
                DropReason::SinkError
            };
            outcomes.dropped(reason, 1);
            outcomes.error(format!("events were not delivered and dropped: {text}"));
        }
    }

    /// Appends a refused event to the dead-letter file; `Some(reason)` when it could not be,
    /// and the event is dropped for that reason.
    fn write_dead_letter(
        &self,
        line: &[u8],
        topic: &str,
        reason: &str,
        error: &str,
    ) -> Option<DropReason> {
        let mut file = self.dead_letter.lock().unwrap_or_else(|p| p.into_inner());
        let Some(file) = file.as_mut() else {
            return Some(DropReason::SinkError);
        };
        #[derive(serde::Serialize)]
        struct Why<'a> {
            reason: &'a str,
            /// librdkafka's name for the error, such as `MessageSizeTooLarge`.
            error: &'a str,
            topic: &'a str,
        }
        let why = Why {
            reason,
            error,
            topic,
        };
        match file.write([line], &why) {
            Ok(()) => None,
            Err(DeadLetterError::Full) => {
                self.outcomes()
                    .error("the dead-letter file reached its size bound (dead_letter_max_bytes)");
                Some(DropReason::DeadLetterFull)
            }
            Err(DeadLetterError::Io(err)) => {
                self.outcomes()
                    .error(format!("writing the dead-letter file failed: {err}"));
                Some(DropReason::SinkError)
            }
        }
    }

    /// Writes the failed events to the spool as one record.
    fn spool_failed(&self, state: &mut State) {
        if state.failed.events == 0 {
            return;
        }
        let failed = std::mem::take(&mut state.failed);
        let header = RecordHeader {
            v: 1,
            key: Uuid::new_v4().to_string(),
            events: failed.events,
            uncounted: failed.uncounted.clone(),
            run: self.run,
            failures: 0,
            isolate: false,
        };
        self.push(state, &header.record(&failed.lines), failed.counted());
    }

    fn push(&self, state: &mut State, record: &[u8], counted: u64) {
        let outcomes = self.outcomes();
        let spool = state.spool.as_mut().expect("only called with a spool");
        match spool.push(record) {
            Ok(()) => outcomes.spooled(counted),
            Err(PushError::Full { max_bytes }) => {
                outcomes.dropped(DropReason::SpoolFull, counted);
                outcomes.error(format!(
                    "the spool is full ({max_bytes} bytes); events dropped"
                ));
            }
            Err(PushError::Io(err)) => {
                outcomes.dropped(DropReason::SinkError, counted);
                outcomes.error(format!("writing the spool failed: {err}; events dropped"));
            }
        }
    }

    /// Settles the replayed record once every event of it is reported.
    fn finish_replay(&self, state: &mut State) {
        let Some(mut replay) = state.replay.take() else {
            return;
        };
        if replay.failed {
            replay.keep_order();
            state.next_replay = Instant::now() + state.backoff;
            state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
            state.retry = Some(replay);
            // One more attempt to come, counted as `retried` (librdkafka's own retries of a
            // message are not seen, and not counted).
            self.outcomes().retried();
            return;
        }
        let outcomes = self.outcomes();
        let this_run = replay.this_run;
        let delivered = (replay.acknowledged.iter().zip(&replay.counts))
            .filter(|(acknowledged, counts)| **acknowledged && **counts)
            .count() as u64;
        if this_run {
            outcomes.unspooled(replay.counted);
            outcomes.delivered(delivered);
        } else {
            outcomes.recovered(delivered);
        }
        for refused in &replay.refused {
            let unwritten = self.write_dead_letter(
                &refused.line,
                &refused.topic,
                &refused.reason,
                &refused.error,
            );
            if !refused.counted {
                continue;
            }
            match (this_run, unwritten) {
                (true, None) => outcomes.dead_lettered(1),
                (true, Some(reason)) => outcomes.dropped(reason, 1),
                (false, None) => outcomes.recovered_dead_lettered(1),
                (false, Some(_)) => outcomes.recovered_dropped(1),
            }
        }
        state.backoff = FIRST_BACKOFF;
        if let Some(spool) = state.spool.as_mut() {
            // Each `peek` first: it moves past (and counts) damage between the records, as
            // the look-ahead that chose them skipped it.
            let popped = (0..replay.records).try_for_each(|_| {
                spool.peek()?;
                spool.pop()
            });
            if let Err(err) = popped {
                outcomes.error(format!("removing a replayed record from the spool: {err}"));
            }
        }
        self.leave_outage_if_done(state);
    }

    fn leave_outage_if_done(&self, state: &mut State) {
        let drained = state.spool.as_ref().is_none_or(Spool::is_empty);
        if drained && state.failed.events == 0 && state.live == 0 && state.replay.is_none() {
            state.outage = false;
        }
    }

    fn report_corrupt(&self, state: &mut State) {
        let Some(spool) = state.spool.as_ref() else {
            return;
        };
        let skipped = spool.skipped();
        let total = skipped.torn_tails + skipped.corrupt_records + skipped.missing_segments;
        if total > state.reported_corrupt {
            self.outcomes()
                .spool_corrupt(total - state.reported_corrupt);
            state.reported_corrupt = total;
        }
    }

    /// The worker's side: hands one event to librdkafka, or, in an outage, tells the caller
    /// to spool it. Waits while librdkafka's queue is full.
    pub(super) fn send(
        &self,
        producer: &KafkaProducer,
        route: &Route,
        line: &[u8],
        tag: Tag,
    ) -> Sent {
        loop {
            {
                let mut state = self.lock();
                if state.outage {
                    // Behind what is still live: those reports go to the spool first.
                    while state.live > 0 && !state.abandoned {
                        state = self.wait(state, Duration::from_millis(50));
                    }
                    return Sent::Spool;
                }
                state.live += 1;
                state.live_counted += u64::from(tag.counted);
            }
            match produce(producer, route, line, tag) {
                Ok(()) => return Sent::Queued,
                Err(err) if err.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    let mut state = self.lock();
                    state.live -= 1;
                    state.live_counted -= u64::from(tag.counted);
                    // The poll thread serves reports; wait for one to make room.
                    drop(self.wait(state, Duration::from_millis(10)));
                }
                Err(err) => {
                    self.settle(tag, Fate::failed(&err), line, &route.topic);
                    return Sent::Queued;
                }
            }
        }
    }

    /// Appends events the worker could not send (an outage) to the spool, behind the
    /// failed ones.
    pub(super) fn spool_lines(&self, lines: &[u8], events: u64, uncounted: Vec<u64>) {
        let mut state = self.lock();
        self.spool_failed(&mut state);
        let counted = events - uncounted.len() as u64;
        let header = RecordHeader {
            v: 1,
            key: Uuid::new_v4().to_string(),
            events,
            uncounted,
            run: self.run,
            failures: 0,
            isolate: false,
        };
        self.push(&mut state, &header.record(lines), counted);
        // The poll thread may have emptied the spool and left the outage since `send` said
        // to spool: the record just written must still be replayed before new events go.
        state.outage = true;
    }

    /// The poll thread's work after each poll: purge when an outage began, spool what
    /// failed, and replay the spool's oldest records when it is time.
    pub(super) fn tend(&self, producer: &KafkaProducer, router: &Router, route: &mut Route) {
        let purge = std::mem::take(&mut self.lock().purge);
        if purge {
            producer.purge(PurgeConfig::default().queue().inflight());
        }
        let mut state = self.lock();
        self.count_delivered(&mut state);
        self.spool_failed(&mut state);
        self.report_corrupt(&mut state);
        if !state.outage
            || state.closing
            || state.replay.is_some()
            || state.live > 0
            || Instant::now() < state.next_replay
        {
            return;
        }
        let Some(spool) = state.spool.as_mut() else {
            return;
        };
        let record = match spool.peek() {
            Ok(Some(record)) => record.to_vec(),
            Ok(None) => {
                self.report_corrupt(&mut state);
                self.leave_outage_if_done(&mut state);
                drop(state);
                self.changed.notify_all();
                return;
            }
            Err(err) => {
                self.outcomes()
                    .error(format!("reading the spool failed: {err}"));
                state.next_replay = Instant::now() + state.backoff;
                return;
            }
        };
        let Some((header, lines)) = RecordHeader::read(&record) else {
            // A record that passed its CRC but is not ours: skipped, counted.
            self.outcomes().spool_corrupt(1);
            if let Some(spool) = state.spool.as_mut() {
                let _ = spool.pop();
            }
            return;
        };
        // The records behind it, of the same run, go along (see `REPLAY_BYTES`). The event
        // index that goes into the opaque has `usize::BITS - 10` bits: 4 Mi events where
        // `usize` has 32 bits, more than memory holds as records.
        let following = spool.peek_following(REPLAY_BYTES.saturating_sub(record.len()));
        // A failed try of these same records is taken up again: the same records, and only
        // the events it did not settle.
        let retry = state.retry.take().filter(|retry| retry.key == header.key);
        let run = header.run;
        let key = header.key.clone();
        let mut envelopes = Vec::new();
        let mut records = 0;
        let mut counted = 0;
        let parsed = std::iter::once(Some((header, lines))).chain(
            following
                .iter()
                .map(|r| RecordHeader::read(r).filter(|(header, _)| header.run == run)),
        );
        for record in parsed {
            let Some((header, lines)) = record else {
                break;
            };
            if retry.as_ref().is_some_and(|retry| records == retry.records) {
                break;
            }
            records += 1;
            counted += header.events - header.uncounted.len() as u64;
            let lines = lines.split(|&b| b == b'\n').filter(|line| !line.is_empty());
            for (index, line) in (0u64..).zip(lines) {
                envelopes.push((line, !header.uncounted.contains(&index)));
            }
        }
        state.generation += 1;
        let generation = state.generation;
        let mut replay = match retry {
            Some(retry) if retry.records == records && retry.settled.len() == envelopes.len() => {
                retry
            }
            _ => Replay {
                generation,
                key,
                records,
                settled: vec![false; envelopes.len()],
                acknowledged: vec![false; envelopes.len()],
                counts: envelopes.iter().map(|(_, counted)| *counted).collect(),
                groups: vec![None; envelopes.len()],
                this_run: run == self.run,
                counted,
                remaining: 0,
                failed: false,
                refused: Vec::new(),
            },
        };
        replay.generation = generation;
        replay.failed = false;
        replay.remaining = replay.settled.iter().filter(|settled| !**settled).count() as u64;
        let unsettled: Vec<usize> = (0..envelopes.len())
            .filter(|&index| !replay.settled[index])
            .collect();
        state.replay = Some(replay);
        if unsettled.is_empty() {
            self.finish_replay(&mut state);
            return;
        }
        drop(state);
        for index in unsettled {
            let (line, counted) = envelopes[index];
            let tag = Tag {
                counted,
                replay: Some(ReplayTag {
                    generation: generation as u8,
                    index,
                }),
            };
            if let Err(message) = router.route_line(line, route) {
                let err = KafkaError::MessageProduction(RDKafkaErrorCode::InvalidMessage);
                self.outcomes().error(format!(
                    "a spooled line is not an envelope ({message}); dead-lettered"
                ));
                self.settle(tag, Fate::Refused(&err), line, "");
                continue;
            }
            if let Some(replay) = self.lock().replay.as_mut() {
                replay.groups[index] = route.key().map(|key| {
                    let mut hasher = std::collections::hash_map::DefaultHasher::new();
                    (&route.topic, key).hash(&mut hasher);
                    hasher.finish()
                });
            }
            loop {
                // Shutdown abandons the replay (its records stay in the spool): stop sending.
                if self.lock().closing {
                    return;
                }
                match produce(producer, route, line, tag) {
                    Ok(()) => break,
                    Err(err) if err.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                        producer.poll(Duration::from_millis(10));
                    }
                    Err(err) => {
                        self.settle(tag, Fate::failed(&err), line, &route.topic);
                        break;
                    }
                }
            }
        }
    }

    /// Waits until no live message is left with librdkafka, or `deadline`; the number left.
    pub(super) fn wait_live(&self, deadline: Instant) -> u64 {
        let mut state = self.lock();
        loop {
            if state.live == 0 {
                self.spool_failed(&mut state);
                return 0;
            }
            let now = Instant::now();
            if now >= deadline {
                return state.live;
            }
            state = self.wait(state, (deadline - now).min(Duration::from_millis(50)));
        }
    }

    /// Shutdown begins: no more replays; failures from now on are counted `shutdown` without
    /// a spool. A replay under way is abandoned: its record stays in the spool.
    pub(super) fn close(&self) {
        let mut state = self.lock();
        state.closing = true;
        state.replay = None;
    }

    /// Closes the spool and the dead-letter file once shutdown has settled everything, so
    /// that the next sink (in this process or the next) can claim them at once.
    pub(super) fn release(&self) {
        self.lock().spool = None;
        *self.dead_letter.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Shutdown gives up on what is still live: counted dropped (`shutdown`), so nothing is
    /// left pending; reports that come later are ignored.
    pub(super) fn abandon(&self) -> u64 {
        let mut state = self.lock();
        // A refused event being written to the dead-letter file is counted by its writer
        // (one synced line: not long).
        while state.writing > 0 {
            state = self.wait(state, Duration::from_millis(10));
        }
        self.count_delivered(&mut state);
        self.spool_failed(&mut state);
        state.abandoned = true;
        let counted = std::mem::take(&mut state.live_counted);
        if counted > 0 {
            self.outcomes().dropped(DropReason::Shutdown, counted);
        }
        drop(state);
        self.changed.notify_all();
        counted
    }
}

/// What [`Shared::send`] did with an event.
pub(super) enum Sent {
    /// Handed to librdkafka (or already settled, refused).
    Queued,
    /// Not sent: an outage is on, and the event goes to the spool.
    Spool,
}

fn produce(
    producer: &KafkaProducer,
    route: &Route,
    line: &[u8],
    tag: Tag,
) -> Result<(), KafkaError> {
    let mut record = BaseRecord::with_opaque_to(&route.topic, tag.encode())
        .payload(line)
        .headers(route.headers());
    if let Some(key) = route.key() {
        record = record.key(key);
    }
    producer.send(record).map_err(|(err, _)| err)
}

/// librdkafka's name for an error, such as `MessageSizeTooLarge`.
fn error_code(err: &KafkaError) -> String {
    match err.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => "Other".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_through_the_opaque() {
        for tag in [
            Tag::live(true),
            Tag::live(false),
            Tag {
                counted: true,
                replay: Some(ReplayTag {
                    generation: 7,
                    index: 0,
                }),
            },
            Tag {
                counted: false,
                replay: Some(ReplayTag {
                    generation: u8::MAX,
                    index: usize::MAX >> 10,
                }),
            },
        ] {
            let back = Tag::decode(tag.encode());
            assert_eq!((back.counted, back.replay), (tag.counted, tag.replay));
        }
    }

    /// After a failed try, what was acknowledged behind an unacknowledged event of its key is
    /// sent again; other keys, unkeyed events and refused events stay settled.
    #[test]
    fn a_failed_try_resends_what_a_key_got_out_of_order() {
        let (a, b) = (Some(1), Some(2));
        let mut replay = Replay {
            generation: 1,
            key: String::new(),
            records: 1,
            settled: vec![true, false, true, true, true, true, true],
            acknowledged: vec![true, false, true, false, true, true, true],
            counts: vec![true; 7],
            groups: vec![a, a, a, a, b, None, b],
            this_run: true,
            counted: 7,
            remaining: 0,
            failed: true,
            refused: Vec::new(),
        };
        replay.keep_order();
        assert_eq!(
            replay.settled,
            [true, false, false, true, true, true, true],
            "the acknowledged event behind the open one of key a is sent again; the refused one is not"
        );
        assert_eq!(
            replay.acknowledged,
            [true, false, false, false, true, true, true]
        );
    }

    #[test]
    fn permanent_errors_are_the_ones_no_retry_mends() {
        let production = KafkaError::MessageProduction;
        assert!(is_permanent(&production(
            RDKafkaErrorCode::MessageSizeTooLarge
        )));
        assert!(is_permanent(&production(
            RDKafkaErrorCode::TopicAuthorizationFailed
        )));
        assert!(is_permanent(&production(RDKafkaErrorCode::UnknownTopic)));
        assert!(!is_permanent(&production(
            RDKafkaErrorCode::MessageTimedOut
        )));
        assert!(!is_permanent(&production(RDKafkaErrorCode::PurgeQueue)));
        assert!(!is_permanent(&production(
            RDKafkaErrorCode::NotEnoughReplicas
        )));
    }
}
