//! The catalog lists every event type linked into the binary, and `check_catalog` reports two
//! types that share a name and version but not their fields.

use event_core::{catalog, check_catalog, Event, Version};

mod billing {
    #[derive(event_core::Event)]
    #[event(kind = "business")]
    pub struct InvoiceSent {
        pub invoice_id: u64,
    }
}

mod legacy_billing {
    /// Same name and version as `billing::InvoiceSent`, different fields.
    #[derive(event_core::Event)]
    #[event(kind = "business", name = "invoice_sent")]
    pub struct OldInvoiceSent {
        pub invoice_number: String,
    }
}

mod mirror {
    /// Same name, version and fields as `billing::InvoiceSent`: not a conflict.
    #[derive(event_core::Event)]
    #[event(kind = "business", name = "invoice_sent")]
    pub struct InvoiceSentCopy {
        /// Docs differ, fields do not.
        pub invoice_id: u64,
    }
}

#[derive(Event)]
#[event(kind = "business", version = "2.0", name = "invoice_sent")]
struct InvoiceSentV2 {
    invoice_id: u64,
    currency: String,
}

#[derive(Event)]
#[event(kind = "system_event")]
struct CatalogChecked;

#[test]
fn catalog_lists_every_event_type_once() {
    let mut names: Vec<(String, String)> = catalog()
        .map(|s| {
            (
                s.rust_type().to_owned(),
                format!("{} {}", s.name(), s.version()),
            )
        })
        // With event-core's `http` feature (on when the whole workspace is built together),
        // the request context's completed event is in every binary's catalog too.
        .filter(|(rust_type, _)| rust_type != "event_core::http::completed::HttpRequestCompleted")
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            (
                "catalog::CatalogChecked".into(),
                "catalog_checked 1.0".into()
            ),
            ("catalog::InvoiceSentV2".into(), "invoice_sent 2.0".into()),
            (
                "catalog::billing::InvoiceSent".into(),
                "invoice_sent 1.0".into()
            ),
            (
                "catalog::legacy_billing::OldInvoiceSent".into(),
                "invoice_sent 1.0".into()
            ),
            (
                "catalog::mirror::InvoiceSentCopy".into(),
                "invoice_sent 1.0".into()
            ),
            // The pipeline's own report of lost events is an event too.
            (
                "event_core::pipeline::events_dropped::EventsDropped".into(),
                "events_dropped 1.0".into()
            ),
        ]
    );
    let schema = catalog()
        .find(|s| s.rust_type().ends_with("CatalogChecked"))
        .unwrap();
    assert!(std::ptr::eq(schema, CatalogChecked::schema()));
}

#[test]
fn conflicting_definitions_are_reported() {
    let err = check_catalog().unwrap_err();
    assert_eq!(err.conflicts.len(), 1, "{err}");
    let conflict = &err.conflicts[0];
    assert_eq!(
        (conflict.name, conflict.version),
        ("invoice_sent", Version::new(1, 0))
    );
    let types: Vec<&str> = conflict.definitions.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        types,
        [
            "catalog::billing::InvoiceSent",
            "catalog::legacy_billing::OldInvoiceSent",
            "catalog::mirror::InvoiceSentCopy"
        ]
    );
    let message = err.to_string();
    assert!(
        message.starts_with("event `invoice_sent` version 1.0 is defined differently by")
            && message.ends_with("give one of them another name, or bump its version"),
        "{message}"
    );
}
