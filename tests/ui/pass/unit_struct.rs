use event_core::Event;

/// The cache was warmed at startup.
#[derive(Event)]
#[event(kind = "system_event", version = 2)]
pub struct CacheWarmed;

fn main() {
    assert_eq!(CacheWarmed::NAME, "cache_warmed");
    assert_eq!(CacheWarmed::VERSION.to_string(), "2.0");
    assert_eq!(format!("{:?}", CacheWarmed), "CacheWarmed");
    assert_eq!(
        event_core::render_metadata(&CacheWarmed, None),
        serde_json::json!({})
    );
}
