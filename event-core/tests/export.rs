//! `export_schemas` writes every linked event's JSON Schema and an index of them.

use event_core::Event;

/// A report was generated.
#[derive(Event)]
#[event(kind = "business", version = "2.1")]
struct ReportGenerated {
    pages: u32,
    #[event(since = "2.1")]
    format: Option<String>,
}

#[test]
fn every_linked_event_is_exported_with_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let written = event_core::export_schemas(dir.path()).unwrap();
    let index_path = dir.path().join("index.json");
    assert_eq!(written.last(), Some(&index_path));
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
    let entries = index["events"].as_array().unwrap();
    assert_eq!(entries.len() + 1, written.len());
    let names: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["version"].as_str().unwrap()))
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "sorted by name and version");
    let entry = entries
        .iter()
        .find(|e| e["name"] == "report_generated")
        .expect("the event is in the index");
    assert_eq!(entry["version"], "2.1");
    assert_eq!(entry["kind"], "business");
    assert_eq!(entry["description"], "A report was generated.");
    assert_eq!(
        entry["fingerprint"],
        ReportGenerated::schema().fingerprint()
    );
    assert_eq!(entry["schema"], "report_generated/2.1.json");
    let file = dir.path().join("report_generated/2.1.json");
    assert!(written.contains(&file));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(schema, ReportGenerated::schema().json_schema());
}
