//! The schema lock: events versioned like an API.
//!
//! A lock file (`events.lock`, committed with the application) records, for each event name
//! and major version, what consumers of the event rely on: its version, kind, fingerprint and,
//! per emitted field, its key, wire type, treatment, optionality and `since`. [`check_lock`],
//! called from a test, compares every event type linked into the test binary with it and fails
//! with a report of each change, its class and the version it needs:
//!
//! | change | class | needs |
//! |---|---|---|
//! | an `Option` field added, with `#[event(since = "…")]` equal to the new version | compatible | the next minor version |
//! | a field removed, renamed or retyped; optional ↔ required; a treatment changed; a required field added; the kind changed | breaking | the next major version |
//! | doc comments, descriptions, sensitivity labels (`pii`), field order | none | nothing |
//!
//! A rename of the event itself shows as one event removed and a new one. An event missing from
//! the binary is reported as removed, unless the lock marks it `"retired": true` or the binary
//! has a later major version of it. A declared version higher than needed passes; a lower one
//! fails, naming the version to set.
//!
//! Once the versions are right, `UPDATE_EVENT_LOCK=1 cargo test` rewrites the lock (it refuses
//! while a change lacks its version, and records events missing from the binary as retired).
//! Outside CI, a failing check also writes the lock it would write as `events.lock.new` beside
//! it, to diff; with the `CI` environment variable set it never writes anything.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{EventSchema, Treatment, Version};

/// Checks the events linked into this binary against the lock at `path` (see the
/// [module documentation](self)). Reads `UPDATE_EVENT_LOCK` (set to `1`: rewrite the lock when
/// the versions are right) and `CI` (set: never write a file).
///
/// ```no_run
/// #[test]
/// fn events_match_their_lock() {
///     event_core::lock::check_lock(concat!(env!("CARGO_MANIFEST_DIR"), "/events.lock")).unwrap();
/// }
/// ```
pub fn check_lock(path: impl AsRef<Path>) -> Result<(), LockError> {
    LockCheck::new(path).run()
}

/// [`check_lock`] with its settings spelled out, and the events given rather than taken from
/// the catalog (for tests of the lock itself).
#[derive(Debug)]
pub struct LockCheck {
    path: PathBuf,
    update: bool,
    ci: bool,
    events: Option<Vec<&'static EventSchema>>,
}

impl LockCheck {
    /// A check of the lock at `path`, with `update` and `ci` read from the environment
    /// (`UPDATE_EVENT_LOCK=1`, `CI` set) and the events of the [catalog](crate::catalog).
    pub fn new(path: impl AsRef<Path>) -> Self {
        LockCheck {
            path: path.as_ref().to_owned(),
            update: std::env::var("UPDATE_EVENT_LOCK").is_ok_and(|v| v == "1"),
            ci: std::env::var_os("CI").is_some_and(|v| !v.is_empty()),
            events: None,
        }
    }

    /// Whether to rewrite the lock when every version is right.
    pub fn update(mut self, update: bool) -> Self {
        self.update = update;
        self
    }

    /// Whether this runs in CI, where no file is ever written.
    pub fn ci(mut self, ci: bool) -> Self {
        self.ci = ci;
        self
    }

    /// Checks these events instead of the catalog's.
    pub fn events(mut self, events: impl IntoIterator<Item = &'static EventSchema>) -> Self {
        self.events = Some(events.into_iter().collect());
        self
    }

    /// Runs the check: `Ok` when the lock records exactly these events; otherwise the
    /// report. With `update`, a lock whose changes all have their versions is rewritten
    /// (and `Ok` returned).
    pub fn run(self) -> Result<(), LockError> {
        let events = self
            .events
            .clone()
            .unwrap_or_else(|| crate::catalog().collect());
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => Some(text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(self.error(LockProblem::Unreadable(err.to_string()))),
        };
        let lock = match &text {
            Some(text) => serde_json::from_str::<LockFile>(text)
                .map_err(|err| self.error(LockProblem::Malformed(err.to_string())))?,
            None => LockFile::default(),
        };
        let report = compare(&lock, &events);
        let next = report.next_lock(&lock, &events);
        let next_text = next.to_text();
        if text.as_deref() == Some(next_text.as_str()) && report.is_clean() {
            if !self.ci {
                let _ = std::fs::remove_file(self.new_path());
            }
            return Ok(());
        }
        let versions_right = report.versions_right();
        if self.update && versions_right && !self.ci {
            std::fs::write(&self.path, &next_text)
                .map_err(|err| self.error(LockProblem::Unwritable(err.to_string())))?;
            let _ = std::fs::remove_file(self.new_path());
            return Ok(());
        }
        let mut written = None;
        if !self.ci && std::fs::write(self.new_path(), &next_text).is_ok() {
            written = Some(self.new_path());
        }
        Err(LockError {
            path: self.path.clone(),
            problem: LockProblem::Changed {
                report,
                missing: text.is_none(),
                update_refused: self.update && !versions_right,
                update_in_ci: self.update && self.ci,
                written,
            },
        })
    }

    fn new_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(".new");
        self.path.with_file_name(name)
    }

    fn error(&self, problem: LockProblem) -> LockError {
        LockError {
            path: self.path.clone(),
            problem,
        }
    }
}

/// Why the events do not match their lock. Its `Display` (and `Debug`, so that `unwrap()`
/// prints it) is the report: per event, each change, its class and the version to set.
pub struct LockError {
    path: PathBuf,
    problem: LockProblem,
}

enum LockProblem {
    Unreadable(String),
    Malformed(String),
    Unwritable(String),
    Changed {
        report: Report,
        missing: bool,
        update_refused: bool,
        update_in_ci: bool,
        written: Option<PathBuf>,
    },
}

impl LockError {
    /// Each event that differs from the lock, with its changes.
    pub fn events(&self) -> &[EventChange] {
        match &self.problem {
            LockProblem::Changed { report, .. } => &report.events,
            _ => &[],
        }
    }
}

impl std::error::Error for LockError {}

impl fmt::Debug for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.problem {
            LockProblem::Unreadable(err) => {
                write!(f, "the event lock `{path}` cannot be read: {err}")
            }
            LockProblem::Malformed(err) => write!(
                f,
                "the event lock `{path}` is not a lock file ({err}); restore it from version \
                 control, or delete it and run `UPDATE_EVENT_LOCK=1 cargo test` to write it anew"
            ),
            LockProblem::Unwritable(err) => {
                write!(f, "the event lock `{path}` cannot be written: {err}")
            }
            LockProblem::Changed {
                report,
                missing,
                update_refused,
                update_in_ci,
                written,
            } => {
                if *missing {
                    writeln!(f, "there is no event lock at `{path}` yet.")?;
                } else {
                    writeln!(f, "the events differ from their lock `{path}`:")?;
                }
                for event in &report.events {
                    writeln!(f)?;
                    write!(f, "{event}")?;
                }
                writeln!(f)?;
                if *update_refused {
                    writeln!(
                        f,
                        "UPDATE_EVENT_LOCK=1 did not rewrite the lock: set the versions above first."
                    )?;
                } else if *update_in_ci {
                    writeln!(
                        f,
                        "UPDATE_EVENT_LOCK=1 is ignored in CI (CI is set): nothing was written."
                    )?;
                } else if report.versions_right() {
                    writeln!(
                        f,
                        "The versions are right: run `UPDATE_EVENT_LOCK=1 cargo test` to record \
                         this in the lock, and commit it."
                    )?;
                } else {
                    writeln!(
                        f,
                        "Set the versions above, then run `UPDATE_EVENT_LOCK=1 cargo test` to record \
                         them in the lock, and commit it."
                    )?;
                }
                if let Some(new) = written {
                    writeln!(
                        f,
                        "The lock these events make is in `{}`, to diff.",
                        new.display()
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// How much a change breaks the event's consumers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeClass {
    /// Nothing a consumer sees changed in a way it must handle (a version raised alone).
    None,
    /// Compatible: consumers keep working (an optional field added). Needs a minor version.
    Minor,
    /// Breaking: consumers must change. Needs a major version.
    Major,
}

impl ChangeClass {
    fn word(self) -> &'static str {
        match self {
            ChangeClass::None => "no change",
            ChangeClass::Minor => "compatible",
            ChangeClass::Major => "breaking",
        }
    }
}

/// One change to one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// What changed, such as "field `email` removed".
    pub what: String,
    /// Its class.
    pub class: ChangeClass,
}

/// What became of one event, compared with its lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventChange {
    /// The event's name.
    pub name: String,
    /// The Rust type that defines it now; `None` when it is gone from the binary.
    pub rust_type: Option<String>,
    /// The version in the lock; `None` for an event new to the lock.
    pub locked: Option<Version>,
    /// The version the binary declares; `None` when it is gone.
    pub declared: Option<Version>,
    /// The version the changes need, when the declared one is too low.
    pub needs: Option<Version>,
    /// The changes, field by field.
    pub changes: Vec<Change>,
    /// Further fixes the changes need (a missing `since`).
    pub fixes: Vec<String>,
}

impl EventChange {
    /// The strongest class among the changes.
    pub fn class(&self) -> ChangeClass {
        self.changes
            .iter()
            .map(|c| c.class)
            .max()
            .unwrap_or(ChangeClass::None)
    }

    fn version_right(&self) -> bool {
        self.needs.is_none() && self.fixes.is_empty()
    }

    fn short_type(&self) -> &str {
        let path = self.rust_type.as_deref().unwrap_or(&self.name);
        path.rsplit("::").next().unwrap_or(path)
    }
}

impl fmt::Display for EventChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ty = self.rust_type.as_deref().unwrap_or("no type any more");
        match (self.locked, self.declared) {
            (None, Some(declared)) => writeln!(
                f,
                "`{}` ({ty}) {declared}: new, not in the lock yet",
                self.name
            )?,
            (Some(locked), None) => writeln!(
                f,
                "`{}` {locked}: removed (breaking): no type in the binary declares it any more",
                self.name
            )?,
            (Some(locked), Some(declared)) => writeln!(
                f,
                "`{}` ({ty}): {}, locked {locked}, declared {declared}",
                self.name,
                self.class().word()
            )?,
            (None, None) => {}
        }
        for change in &self.changes {
            writeln!(f, "    {} ({})", change.what, change.class.word())?;
        }
        if let Some(needs) = self.needs {
            writeln!(
                f,
                "  fix: set version = \"{needs}\" on {} (#[event(version = \"{needs}\")])",
                self.short_type()
            )?;
        }
        for fix in &self.fixes {
            writeln!(f, "  fix: {fix}")?;
        }
        if self.locked.is_some() && self.declared.is_none() {
            writeln!(
                f,
                "  fix: restore it, or accept its removal: `UPDATE_EVENT_LOCK=1 cargo test` marks \
                 it \"retired\" in the lock"
            )?;
        }
        Ok(())
    }
}

/// The lock file, as written: sorted, one entry per event name and major version.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    /// The format of this file.
    lock_version: u32,
    events: BTreeMap<String, LockedEvent>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockedEvent {
    name: String,
    version: Version,
    kind: String,
    fingerprint: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    retired: bool,
    fields: BTreeMap<String, LockedField>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockedField {
    #[serde(rename = "type")]
    wire_type: String,
    treatment: String,
    optional: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<Version>,
}

const LOCK_FORMAT: u32 = 1;

impl LockFile {
    fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a lock always serializes");
        text.push('\n');
        text
    }
}

fn key_of(name: &str, version: Version) -> String {
    format!("{name}@{}", version.major)
}

fn treatment_text(treatment: Treatment) -> String {
    match treatment {
        Treatment::Mask { keep_last } => format!("mask(keep_last = {keep_last})"),
        Treatment::Error {
            redact_message: true,
        } => "error(redact_message)".to_owned(),
        other => other.as_str().to_owned(),
    }
}

fn locked(schema: &EventSchema) -> LockedEvent {
    LockedEvent {
        name: schema.name().to_owned(),
        version: schema.version(),
        kind: schema.kind().as_str().to_owned(),
        fingerprint: schema.fingerprint().to_owned(),
        retired: false,
        fields: schema
            .fields()
            .iter()
            .filter_map(|field| {
                let wire_type = schema.wire_type(field.key())?.to_owned();
                Some((
                    field.key().to_owned(),
                    LockedField {
                        wire_type,
                        treatment: treatment_text(field.treatment()),
                        optional: field.optional(),
                        since: field.since(),
                    },
                ))
            })
            .collect(),
    }
}

/// Every event compared with the lock.
struct Report {
    events: Vec<EventChange>,
}

impl Report {
    fn is_clean(&self) -> bool {
        self.events.is_empty()
    }

    /// Whether every change has the version (and `since`) it needs, so the lock may be
    /// rewritten.
    fn versions_right(&self) -> bool {
        self.events.iter().all(EventChange::version_right)
    }

    /// The lock these events make: theirs, then what the old lock keeps (retired events,
    /// majors a later one replaced, and events removed now, as retired).
    fn next_lock(&self, old: &LockFile, events: &[&'static EventSchema]) -> LockFile {
        let mut next = LockFile {
            lock_version: LOCK_FORMAT,
            events: BTreeMap::new(),
        };
        for schema in current(events).into_values() {
            next.events
                .insert(key_of(schema.name(), schema.version()), locked(schema));
        }
        for (key, entry) in &old.events {
            if !next.events.contains_key(key) {
                let mut kept = entry.clone();
                let replaced = next
                    .events
                    .values()
                    .any(|e| e.name == entry.name && e.version.major > entry.version.major);
                kept.retired = kept.retired || !replaced;
                next.events.insert(key.clone(), kept);
            }
        }
        next
    }
}

/// The binary's events by lock key; of two with the same name and major, the later version.
fn current(events: &[&'static EventSchema]) -> BTreeMap<String, &'static EventSchema> {
    let mut by_key: BTreeMap<String, &'static EventSchema> = BTreeMap::new();
    for &schema in events {
        let key = key_of(schema.name(), schema.version());
        match by_key.get(&key) {
            Some(other) if other.version() >= schema.version() => {}
            _ => {
                by_key.insert(key, schema);
            }
        }
    }
    by_key
}

fn compare(lock: &LockFile, events: &[&'static EventSchema]) -> Report {
    let current = current(events);
    let mut report = Vec::new();
    for (key, &schema) in &current {
        match lock.events.get(key) {
            None => report.push(EventChange {
                name: schema.name().to_owned(),
                rust_type: Some(schema.rust_type().to_owned()),
                locked: None,
                declared: Some(schema.version()),
                needs: None,
                changes: Vec::new(),
                fixes: Vec::new(),
            }),
            Some(entry) => {
                let now = locked(schema);
                if now != *entry {
                    report.push(changed(entry, &now, schema));
                }
            }
        }
    }
    let names_now: BTreeSet<(&str, u16)> = current
        .values()
        .map(|s| (s.name(), s.version().major))
        .collect();
    for (key, entry) in &lock.events {
        let later_major = names_now
            .iter()
            .any(|(name, major)| *name == entry.name && *major > entry.version.major);
        if !current.contains_key(key) && !entry.retired && !later_major {
            report.push(EventChange {
                name: entry.name.clone(),
                rust_type: None,
                locked: Some(entry.version),
                declared: None,
                needs: None,
                changes: Vec::new(),
                fixes: Vec::new(),
            });
        }
    }
    Report { events: report }
}

/// The changes from `was` to `now` (same name and major), and the version they need.
fn changed(was: &LockedEvent, now: &LockedEvent, schema: &EventSchema) -> EventChange {
    let declared = now.version;
    let mut changes = Vec::new();
    let mut fixes = Vec::new();
    let mut change = |what: String, class| changes.push(Change { what, class });
    if was.kind != now.kind {
        change(
            format!("kind `{}` → `{}`", was.kind, now.kind),
            ChangeClass::Major,
        );
    }
    for (key, old) in &was.fields {
        let Some(new) = now.fields.get(key) else {
            change(format!("- field `{key}` removed"), ChangeClass::Major);
            continue;
        };
        if old.wire_type != new.wire_type {
            change(
                format!(
                    "~ field `{key}` retyped: {} → {}",
                    old.wire_type, new.wire_type
                ),
                ChangeClass::Major,
            );
        }
        if old.optional != new.optional {
            let (from, to) = if old.optional {
                ("optional", "required")
            } else {
                ("required", "optional")
            };
            change(format!("~ field `{key}` {from} → {to}"), ChangeClass::Major);
        }
        if old.since != new.since {
            let shown = |since: Option<Version>| since.map_or("none".to_owned(), |v| v.to_string());
            change(
                format!(
                    "~ field `{key}` since {} → {}",
                    shown(old.since),
                    shown(new.since)
                ),
                ChangeClass::None,
            );
        }
        if old.treatment != new.treatment {
            change(
                format!(
                    "~ field `{key}` treatment {} → {}",
                    old.treatment, new.treatment
                ),
                ChangeClass::Major,
            );
        }
    }
    for (key, new) in &now.fields {
        if was.fields.contains_key(key) {
            continue;
        }
        if new.optional {
            change(
                format!("+ field `{key}` added, optional"),
                ChangeClass::Minor,
            );
            if new.since != Some(declared) {
                let field = schema
                    .fields()
                    .iter()
                    .find(|f| f.key() == key)
                    .map_or(key.as_str(), |f| f.name());
                let version = needed(was.version, ChangeClass::Minor).max(declared);
                fixes.push(format!(
                    "mark the new field `{field}` #[event(since = \"{version}\")]: the version \
                     that added it"
                ));
            }
        } else {
            change(
                format!("+ field `{key}` added, required (older events lack it)"),
                ChangeClass::Major,
            );
        }
    }
    if declared < was.version {
        change(
            format!("version lowered {} → {declared}", was.version),
            ChangeClass::None,
        );
    }
    let class = changes
        .iter()
        .map(|c| c.class)
        .max()
        .unwrap_or(ChangeClass::None);
    let least = needed(was.version, class);
    let needs = (declared < least).then_some(least);
    EventChange {
        name: now.name.clone(),
        rust_type: Some(schema.rust_type().to_owned()),
        locked: Some(was.version),
        declared: Some(declared),
        needs,
        changes,
        fixes,
    }
}

/// The least version a change of `class` from `locked` needs.
fn needed(locked: Version, class: ChangeClass) -> Version {
    match class {
        ChangeClass::None => locked,
        ChangeClass::Minor => Version::new(locked.major, locked.minor.saturating_add(1)),
        ChangeClass::Major => Version::new(locked.major.saturating_add(1), 0),
    }
}
