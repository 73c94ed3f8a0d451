//! The schema lock: for each class of change, a "before" and an "after" definition of one
//! event; the lock written from "before" and checked against "after" gives the expected class
//! and the version that change needs. Then the file round trip: `update` rewrites only when
//! the versions are right, a failing check writes `events.lock.new` outside CI, and CI mode
//! never writes.

use std::path::{Path, PathBuf};

use event_core::lock::{ChangeClass, LockCheck, LockError};
use event_core::{Event, EventSchema, Version};

mod before {
    use event_core::Event;

    /// Someone tried to log in.
    #[derive(Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "1.1")]
    pub struct Login {
        pub user_id: String,
        #[event(hash)]
        pub email: String,
        pub attempts: u32,
        pub country: Option<String>,
        pub success: bool,
    }

    #[derive(Event)]
    #[event(kind = "system_event", name = "cache_warmed")]
    pub struct CacheWarmed {
        pub entries: u64,
    }
}

/// A lock in a fresh directory, written from `events`.
fn lock_of(events: &[&'static EventSchema]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.lock");
    check(&path, events, true).expect("a new lock is written");
    (dir, path)
}

fn check(path: &Path, events: &[&'static EventSchema], update: bool) -> Result<(), LockError> {
    LockCheck::new(path)
        .ci(false)
        .update(update)
        .events(events.iter().copied())
        .run()
}

/// Checks `after` (with `cache_warmed` unchanged) against a lock of `before`; returns the
/// one event reported, its class, the version it needs, and the report's text.
fn changed(after: &'static EventSchema) -> (ChangeClass, Option<Version>, String) {
    let (_dir, path) = lock_of(&[before::Login::schema(), before::CacheWarmed::schema()]);
    let err = check(&path, &[after, before::CacheWarmed::schema()], false)
        .expect_err("the lock sees the change");
    let events = err.events();
    assert_eq!(events.len(), 1, "{err}");
    assert_eq!(events[0].name, "user_login_attempt");
    (events[0].class(), events[0].needs, err.to_string())
}

#[test]
fn an_unchanged_event_passes_and_so_do_changes_no_consumer_sees() {
    let (_dir, path) = lock_of(&[before::Login::schema(), before::CacheWarmed::schema()]);
    check(
        &path,
        &[before::Login::schema(), before::CacheWarmed::schema()],
        false,
    )
    .unwrap();
    // Docs, a sensitivity label and field order: nothing to bump.
    let cosmetic = after_1::Login::schema();
    check(&path, &[cosmetic, before::CacheWarmed::schema()], false).unwrap();
}

#[test]
fn an_optional_field_added_is_compatible_and_needs_the_next_minor() {
    // Not bumped: needs 1.2.
    let (class, needs, report) = changed(after_2::Login::schema());
    assert_eq!(
        (class, needs),
        (ChangeClass::Minor, Some(Version::new(1, 2)))
    );
    assert!(
        report.contains("+ field `method` added, optional (compatible)"),
        "{report}"
    );
    assert!(
        report.contains(r#"fix: set version = "1.2" on Login (#[event(version = "1.2")])"#),
        "{report}"
    );
    // Bumped, with its `since`: right (the lock only needs recording).
    let (class, needs, report) = changed(after_3::Login::schema());
    assert_eq!((class, needs), (ChangeClass::Minor, None));
    assert!(report.contains("The versions are right"), "{report}");
    // Bumped, without `since`: says so.
    let (_, needs, report) = changed(after_4::Login::schema());
    assert_eq!(needs, None);
    assert!(
        report.contains(r#"mark the new field `method` #[event(since = "1.2")]"#),
        "{report}"
    );
    // A bump larger than needed passes.
    let (_, needs, _) = changed(after_5::Login::schema());
    assert_eq!(needs, None);
}

#[test]
fn breaking_changes_need_the_next_major() {
    let cases = [
        (
            "removed",
            after_6::Login::schema(),
            "- field `success` removed (breaking)",
        ),
        (
            "renamed",
            after_7::Login::schema(),
            "- field `attempts` removed (breaking)",
        ),
        (
            "retyped",
            after_8::Login::schema(),
            "~ field `attempts` retyped:",
        ),
        (
            "optional to required",
            after_9::Login::schema(),
            "~ field `country` optional → required (breaking)",
        ),
        (
            "treatment",
            after_10::Login::schema(),
            "~ field `email` treatment hash → redact (breaking)",
        ),
        (
            "required field added",
            after_11::Login::schema(),
            "+ field `method` added, required (older events lack it) (breaking)",
        ),
        (
            "kind",
            after_12::Login::schema(),
            "kind `security` → `user_action` (breaking)",
        ),
    ];
    for (case, after, line) in cases {
        let (class, needs, report) = changed(after);
        assert_eq!(class, ChangeClass::Major, "{case}: {report}");
        assert_eq!(needs, Some(Version::new(2, 0)), "{case}: {report}");
        assert!(report.contains(line), "{case}: {report}");
        assert!(
            report.contains(r#"fix: set version = "2.0" on Login"#),
            "{case}: {report}"
        );
    }
}

#[test]
fn a_new_major_replaces_the_old_one_and_a_vanished_event_must_be_retired() {
    let (_dir, path) = lock_of(&[before::Login::schema(), before::CacheWarmed::schema()]);
    // Version 2.0 with the field gone: the 1.x entry is replaced, not removed.
    let v2 = after_13::Login::schema();
    let err = check(&path, &[v2, before::CacheWarmed::schema()], false).unwrap_err();
    let events = err.events();
    assert_eq!(events.len(), 1, "{err}");
    assert_eq!((events[0].locked, events[0].needs), (None, None), "{err}");
    check(&path, &[v2, before::CacheWarmed::schema()], true).unwrap();
    check(&path, &[v2, before::CacheWarmed::schema()], false).unwrap();

    // `cache_warmed` gone from the binary: removed, until the lock marks it retired.
    let err = check(&path, &[v2], false).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`cache_warmed` 1.0: removed (breaking)"),
        "{text}"
    );
    check(&path, &[v2], true).unwrap();
    let lock = std::fs::read_to_string(&path).unwrap();
    assert!(lock.contains(r#""retired": true"#), "{lock}");
    check(&path, &[v2], false).unwrap();
}

#[test]
fn the_lock_file_round_trip_update_new_file_and_ci() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.lock");
    let new = dir.path().join("events.lock.new");
    let events = [before::Login::schema(), before::CacheWarmed::schema()];

    // No lock yet, in CI: fails, writes nothing, even when asked to update.
    let ci = |update| {
        LockCheck::new(&path)
            .ci(true)
            .update(update)
            .events(events)
            .run()
    };
    let err = ci(true).unwrap_err();
    assert!(
        err.to_string().contains("there is no event lock at"),
        "{err}"
    );
    assert!(err.to_string().contains("ignored in CI"), "{err}");
    assert!(!path.exists() && !new.exists());

    // Outside CI: the lock it would write goes to `events.lock.new`...
    check(&path, &events, false).unwrap_err();
    let proposed = std::fs::read_to_string(&new).unwrap();
    assert!(!path.exists());
    // ... and `update` writes exactly that, and removes the `.new`.
    check(&path, &events, true).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), proposed);
    assert!(!new.exists());
    ci(false).unwrap();

    // The file is sorted, human-readable JSON with what consumers rely on.
    let lock: serde_json::Value = serde_json::from_str(&proposed).unwrap();
    let login = &lock["events"]["user_login_attempt@1"];
    assert_eq!(login["version"], "1.1");
    assert_eq!(login["kind"], "security");
    assert_eq!(login["fingerprint"], before::Login::schema().fingerprint());
    assert_eq!(login["fields"]["email"]["treatment"], "hash");
    assert_eq!(login["fields"]["country"]["optional"], true);
    assert_eq!(
        login["fields"]["attempts"]["type"],
        r#"{"format":"uint32","minimum":0,"type":"integer"}"#
    );

    // A change whose version is too low: `update` refuses and leaves the lock as it was.
    let too_low = after_14::Login::schema();
    let err = check(&path, &[too_low, before::CacheWarmed::schema()], true).unwrap_err();
    assert!(
        err.to_string().contains("did not rewrite the lock"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), proposed);

    // A file that is not a lock says how to recover.
    std::fs::write(&path, "{ not json").unwrap();
    let err = check(&path, &events, false).unwrap_err();
    assert!(err.to_string().contains("is not a lock file"), "{err}");
}

mod after_1 {
    #[derive(event_core::Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "1.1")]
    pub struct Login {
        /// Now documented.
        success: bool,
        #[event(pii)]
        country: Option<String>,
        attempts: u32,
        /// The hashed address.
        #[event(hash)]
        email: String,
        user_id: String,
    }
}

mod after_2 {
    #[derive(event_core::Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "1.1")]
    pub struct Login {
        user_id: String,
        #[event(hash)]
        email: String,
        attempts: u32,
        country: Option<String>,
        success: bool,
        #[event(since = "1.1")]
        method: Option<String>,
    }
}

mod after_3 {
    #[derive(event_core::Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "1.2")]
    pub struct Login {
        user_id: String,
        #[event(hash)]
        email: String,
        attempts: u32,
        country: Option<String>,
        success: bool,
        #[event(since = "1.2")]
        method: Option<String>,
    }
}

mod after_4 {
    #[derive(event_core::Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "1.2")]
    pub struct Login {
        user_id: String,
        #[event(hash)]
        email: String,
        attempts: u32,
        country: Option<String>,
        success: bool,
        method: Option<String>,
    }
}

mod after_5 {
    #[derive(event_core::Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "2.0")]
    pub struct Login {
        user_id: String,
        #[event(hash)]
        email: String,
        attempts: u32,
        country: Option<String>,
        success: bool,
        #[event(since = "2.0")]
        method: Option<String>,
    }
}

mod after_6 {
    #[derive(event_core::Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "1.1")]
    pub struct Login {
        user_id: String,
        #[event(hash)]
        email: String,
        attempts: u32,
        country: Option<String>,
    }
}

mod after_7 {
    #[derive(event_core::Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "1.1")]
    pub struct Login {
        user_id: String,
        #[event(hash)]
        email: String,
        #[event(rename = "attempt_count")]
        attempts: u32,
        country: Option<String>,
        success: bool,
    }
}

mod after_8 {
    #[derive(event_core::Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "1.1")]
    pub struct Login {
        user_id: String,
        #[event(hash)]
        email: String,
        attempts: String,
        country: Option<String>,
        success: bool,
    }
}

mod after_9 {
    #[derive(event_core::Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "1.1")]
    pub struct Login {
        user_id: String,
        #[event(hash)]
        email: String,
        attempts: u32,
        country: String,
        success: bool,
    }
}

mod after_10 {
    #[derive(event_core::Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "1.1")]
    pub struct Login {
        user_id: String,
        #[event(redact)]
        email: String,
        attempts: u32,
        country: Option<String>,
        success: bool,
    }
}

mod after_11 {
    #[derive(event_core::Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "1.1")]
    pub struct Login {
        user_id: String,
        #[event(hash)]
        email: String,
        attempts: u32,
        country: Option<String>,
        success: bool,
        method: String,
    }
}

mod after_12 {
    #[derive(event_core::Event)]
    #[event(kind = "user_action", name = "user_login_attempt", version = "1.1")]
    pub struct Login {
        user_id: String,
        #[event(hash)]
        email: String,
        attempts: u32,
        country: Option<String>,
        success: bool,
    }
}

mod after_13 {
    #[derive(event_core::Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "2.0")]
    pub struct Login {
        user_id: String,
        #[event(hash)]
        email: String,
        attempts: u32,
        country: Option<String>,
    }
}

mod after_14 {
    #[derive(event_core::Event)]
    #[event(kind = "security", name = "user_login_attempt", version = "1.1")]
    pub struct Login {
        user_id: String,
        #[event(hash)]
        email: String,
        attempts: u32,
        country: Option<String>,
    }
}
