//! Tests of `geoip`.

use super::mmdb::{test_city_database, test_city_writer, MmdbWriter};
use super::*;
use serde_json::json;
use std::path::PathBuf;

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> TempFile {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = format!("event-core-geoip-{}-{n}-{name}.mmdb", std::process::id());
        let path = std::env::temp_dir().join(file);
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn open(name: &str, bytes: &[u8]) -> Result<GeoIp, BuildError> {
    let file = TempFile::new(name, bytes);
    GeoIp::open(&file.0)
}

fn city_database() -> GeoIp {
    open("city", &test_city_database()).unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn geo(country: &str, region: &str, city: &str, continent: &str, time_zone: &str) -> Geo {
    Geo {
        country_iso_code: Some(country.to_owned()),
        region_iso_code: Some(region.to_owned()),
        city: Some(city.to_owned()),
        continent_code: Some(continent.to_owned()),
        time_zone: Some(time_zone.to_owned()),
    }
}

/// The message of the error that opening `bytes` gives, checked to name the file.
fn open_error(name: &str, bytes: &[u8]) -> String {
    let file = TempFile::new(name, bytes);
    let err = GeoIp::open(&file.0).expect_err("the file should be refused");
    assert_eq!(err.setting(), "geoip");
    let message = err.to_string();
    assert!(message.contains(&file.0.display().to_string()), "{message}");
    message
}

#[test]
fn public_ipv4_and_ipv6_addresses_resolve() {
    let geoip = city_database();
    let london = geo("GB", "GB-ENG", "London", "EU", "Europe/London");
    assert_eq!(geoip.lookup(ip("81.2.69.160")), Some(london));
    let milton = geo("US", "US-WA", "Milton", "NA", "America/Los_Angeles");
    assert_eq!(geoip.lookup(ip("216.160.83.56")), Some(milton));
    let tokyo = geo("JP", "JP-13", "Tokyo", "AS", "Asia/Tokyo");
    assert_eq!(geoip.lookup(ip("2001:218:1234::1")), Some(tokyo));
}

#[test]
fn the_region_is_the_first_subdivision() {
    let boxford = geo("GB", "GB-ENG", "Boxford", "EU", "Europe/London");
    assert_eq!(city_database().lookup(ip("2.125.160.216")), Some(boxford));
}

#[test]
fn a_country_only_record_gives_only_country_and_continent() {
    let sweden = Geo {
        country_iso_code: Some("SE".to_owned()),
        continent_code: Some("EU".to_owned()),
        ..Geo::default()
    };
    assert_eq!(city_database().lookup(ip("89.160.20.112")), Some(sweden));
}

#[test]
fn ipv4_mapped_addresses_are_looked_up_as_ipv4() {
    let geoip = city_database();
    let london = geo("GB", "GB-ENG", "London", "EU", "Europe/London");
    assert_eq!(geoip.lookup(ip("::ffff:81.2.69.160")), Some(london));
    // The filter applies to the IPv4 address too.
    assert_eq!(geoip.lookup(ip("::ffff:10.1.2.3")), None);
}

#[test]
fn addresses_without_a_location_get_none_though_the_database_has_a_record() {
    let geoip = city_database();
    let addresses = [
        "0.0.0.0",
        "0.1.2.3",
        "10.1.2.3",
        "100.64.0.1",
        "100.127.255.254",
        "127.0.0.1",
        "169.254.1.1",
        "172.16.5.4",
        "172.31.255.1",
        "192.0.0.9",
        "192.0.2.1",
        "192.168.1.1",
        "198.18.0.1",
        "198.19.255.1",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "::10.1.2.3",
        "2001:db8::1",
        "3fff::1",
        "3fff:fff::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
    ];
    for address in addresses {
        let address = ip(address);
        // The database would answer: the filter, not the database, decides.
        let found = geoip.reader.lookup(address).unwrap();
        assert!(
            found.has_data(),
            "{address} should have a record in the test database"
        );
        assert_eq!(geoip.lookup(address), None, "{address}");
    }
    // Next to the filtered ranges, addresses with a location.
    for address in [
        "100.128.0.1",
        "172.32.0.1",
        "198.20.0.1",
        "3fff:1000::1",
        "fbff::1",
    ] {
        let address = ip(address);
        assert!(may_have_location(address), "{address}");
    }
}

#[test]
fn addresses_the_database_does_not_know_get_none() {
    let geoip = city_database();
    for address in ["8.8.8.8", "81.2.70.1", "2606:4700::1111", "2001:219::1"] {
        assert_eq!(geoip.lookup(ip(address)), None, "{address}");
    }
}

#[test]
fn a_record_without_any_member_gives_none() {
    let mut writer = test_city_writer();
    writer.insert(
        "8.8.8.0/24",
        json!({ "registered_country": { "iso_code": "US" } }),
    );
    let geoip = open("no-members", &writer.to_bytes()).unwrap();
    assert!(geoip.reader.lookup(ip("8.8.8.8")).unwrap().has_data());
    assert_eq!(geoip.lookup(ip("8.8.8.8")), None);
}

#[test]
fn records_of_28_and_32_bits_are_read() {
    let country = |code: &str| Geo {
        country_iso_code: Some(code.to_owned()),
        ..Geo::default()
    };
    for bits in [28, 32] {
        let mut writer = MmdbWriter::new("GeoIP2-Country").record_size(bits);
        // A first record of more than 2^24 bytes, so that the second is beyond what 24
        // bits can point at (as in GeoLite2-City, whose records have 28 bits).
        let padding = "x".repeat(16_800_000);
        let big = json!({ "country": { "iso_code": "GB" }, "padding": padding });
        writer.insert("81.2.69.0/24", big);
        writer.insert("2.125.160.0/20", json!({ "country": { "iso_code": "FR" } }));
        let geoip = open(&format!("record-{bits}"), &writer.to_bytes()).unwrap();
        assert_eq!(
            geoip.lookup(ip("81.2.69.1")),
            Some(country("GB")),
            "{bits} bits"
        );
        assert_eq!(
            geoip.lookup(ip("2.125.160.1")),
            Some(country("FR")),
            "{bits} bits"
        );
    }
}

#[test]
fn nodes_of_24_28_and_32_bits_give_their_two_records() {
    let node = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc];
    assert_eq!(records(&node), [0x12_3456, 0x78_9abc]);
    let node = [0x12, 0x34, 0x56, 0xab, 0x78, 0x9a, 0xbc];
    assert_eq!(records(&node), [0xa12_3456, 0xb78_9abc]);
    let node = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];
    assert_eq!(records(&node), [0x1234_5678, 0x9abc_def0]);
}

/// The writer of the tests makes files that maxminddb's own thorough check accepts.
#[test]
fn the_test_databases_pass_the_maxminddb_verifier() {
    Reader::from_source(test_city_database())
        .unwrap()
        .verify()
        .unwrap();
    for bits in [28, 32] {
        let bytes = test_city_writer().record_size(bits).to_bytes();
        Reader::from_source(bytes).unwrap().verify().unwrap();
    }
}

#[test]
fn a_missing_file_is_a_build_error() {
    let path = std::env::temp_dir().join("event-core-geoip-there-is-no-such-file.mmdb");
    let message = GeoIp::open(&path).unwrap_err().to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("cannot read the GeoIP database"),
        "{message}"
    );
    assert!(
        message.contains("pass the path of a MaxMind .mmdb file"),
        "{message}"
    );
}

#[test]
fn random_bytes_are_a_build_error() {
    // A fixed pseudo-random sequence (xorshift), the same on every run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let message = open_error("random", &bytes);
    assert!(message.contains("is not a MaxMind database"), "{message}");
    assert!(
        message.contains("pass the path of a MaxMind .mmdb file"),
        "{message}"
    );
}

#[test]
fn a_truncated_database_is_a_build_error() {
    let bytes = test_city_database();
    for len in [0, 100, bytes.len() / 2, bytes.len() - 20, bytes.len() - 1] {
        let message = open_error(&format!("truncated-{len}"), &bytes[..len]);
        assert!(
            message.contains("is not a MaxMind database"),
            "{len}: {message}"
        );
        assert!(
            message.contains("pass the path of a MaxMind"),
            "{len}: {message}"
        );
    }
}

#[test]
fn an_asn_database_is_a_build_error() {
    let mut writer = MmdbWriter::new("GeoLite2-ASN");
    writer.insert("81.2.69.0/24", json!({ "autonomous_system_number": 20712 }));
    let message = open_error("asn", &writer.to_bytes());
    let expected = "is a GeoLite2-ASN database, which has no locations";
    assert!(message.contains(expected), "{message}");
    assert!(
        message.contains("use a City or Country database"),
        "{message}"
    );
}

#[test]
fn a_damaged_search_tree_is_a_build_error() {
    let bytes = test_city_database();
    // The right record of the root, pointed far past the end of the file.
    let mut far = bytes.clone();
    far[3..6].copy_from_slice(&[0xff, 0xff, 0xff]);
    let message = open_error("tree-far", &far);
    assert!(
        message.contains("points neither at a node nor at data"),
        "{message}"
    );
    assert!(message.contains("download it again"), "{message}");
    // A record pointing into the 16 zero bytes after the tree, not at data.
    let node_count = Reader::from_source(bytes.clone())
        .unwrap()
        .metadata
        .node_count;
    let mut separator = bytes.clone();
    separator[3..6].copy_from_slice(&(node_count + 3).to_be_bytes()[1..]);
    let message = open_error("tree-separator", &separator);
    assert!(
        message.contains("points neither at a node nor at data"),
        "{message}"
    );
    // The zero bytes themselves overwritten.
    let mut no_separator = bytes.clone();
    no_separator[node_count as usize * 6 + 4] = 1;
    let message = open_error("tree-no-separator", &no_separator);
    assert!(
        message.contains("not followed by 16 zero bytes"),
        "{message}"
    );
}

#[test]
fn a_search_tree_larger_than_the_file_is_a_build_error() {
    let bytes = test_city_database();
    // The metadata's node_count (a uint32 after its key) made 2^28 - 1.
    let key = b"node_count";
    let at = bytes.windows(key.len()).rposition(|w| w == key).unwrap() + key.len();
    let size = usize::from(bytes[at] & 0x1f);
    let mut patched = bytes[..at].to_vec();
    patched.extend_from_slice(&[0xc4, 0x0f, 0xff, 0xff, 0xff]);
    patched.extend_from_slice(&bytes[at + 1 + size..]);
    let message = open_error("tree-too-large", &patched);
    assert!(message.contains("does not fit in the file"), "{message}");
    assert!(message.contains("download it again"), "{message}");
}

#[test]
fn a_damaged_data_section_is_a_build_error() {
    let mut bytes = test_city_database();
    let node_count = Reader::from_source(bytes.clone())
        .unwrap()
        .metadata
        .node_count;
    let data_start = node_count as usize * 6 + 16;
    // The first record is a map; its first key becomes extended type 13, which is no
    // type of value.
    bytes[data_start + 1] = 0x00;
    bytes[data_start + 2] = 0x06;
    let message = open_error("data", &bytes);
    assert!(message.contains("cannot be read"), "{message}");
    assert!(message.contains("download it again"), "{message}");
}

/// A record whose only member points back at the record itself: decoding it never ends
/// unless something bounds it. Open refuses the file; a lookup, had it been opened, gets
/// `None` rather than overflowing the stack.
#[test]
fn a_record_that_points_at_itself_is_refused_and_never_overflows_the_stack() {
    let mut writer = MmdbWriter::new("GeoIP2-City");
    // The first record, at offset 0 of the data section: a map (0xe1) of "a" to "b".
    writer.insert("81.2.69.0/24", json!({ "a": "b" }));
    let mut bytes = writer.to_bytes();
    let node_count = Reader::from_source(bytes.clone())
        .unwrap()
        .metadata
        .node_count;
    let data_start = node_count as usize * 6 + 16;
    let record = &mut bytes[data_start..data_start + 5];
    assert_eq!(record, [0xe1, 0x41, b'a', 0x41, b'b']);
    // "b" becomes a pointer (0x20, with an 11-bit offset of 0) to the record.
    record[3..].copy_from_slice(&[0x20, 0x00]);

    let message = open_error("loop", &bytes);
    assert!(message.contains("cannot be read"), "{message}");
    let geoip = GeoIp {
        reader: Reader::from_source(bytes).unwrap(),
    };
    assert!(decode(&geoip.reader, ip("81.2.69.1")).is_err());
    assert_eq!(geoip.lookup(ip("81.2.69.1")), None);
}

/// Records that nest deeper than `MAX_DEPTH` or hold more than `MAX_VALUES` values are
/// not read (so no record can make a lookup slow); records within both are.
#[test]
fn records_beyond_the_limits_are_not_read() {
    let nested = |depth: usize| {
        let mut value = json!("deep");
        for _ in 0..depth {
            value = json!({ "extra": value });
        }
        json!({ "country": { "iso_code": "GB" }, "extra": value })
    };
    let many = |count: usize| json!({ "country": { "iso_code": "GB" }, "extra": vec![7; count] });
    let mut writer = MmdbWriter::new("GeoIP2-Country");
    writer.insert("1.0.0.0/8", nested(10));
    writer.insert("2.0.0.0/8", nested(20));
    writer.insert("3.0.0.0/8", many(1000));
    writer.insert("4.0.0.0/8", many(5000));
    // Opened without `open`, which would refuse the file for the records it cannot read.
    let geoip = GeoIp {
        reader: Reader::from_source(writer.to_bytes()).unwrap(),
    };
    let gb = Geo {
        country_iso_code: Some("GB".to_owned()),
        ..Geo::default()
    };
    assert_eq!(geoip.lookup(ip("1.1.1.1")), Some(gb.clone()));
    assert_eq!(geoip.lookup(ip("2.1.1.1")), None);
    assert_eq!(geoip.lookup(ip("3.1.1.1")), Some(gb));
    assert_eq!(geoip.lookup(ip("4.1.1.1")), None);
}

thread_local! {
    /// Whether the panic hook keeps quiet on this thread.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` without the panic hook printing the panics that `decode` catches. Returns
/// false if a panic got out of `f`.
fn runs_without_panicking(f: impl FnOnce()) -> bool {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|quiet| quiet.get()) {
                previous(info);
            }
        }));
    });
    QUIET.with(|quiet| quiet.set(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|quiet| quiet.set(false));
    outcome.is_ok()
}

/// Every truncation and every single-byte change (of four kinds) of a small database:
/// each opens or is refused, and lookups in what opens never panic.
#[test]
fn damaged_files_never_panic() {
    let mut writer = MmdbWriter::new("GeoIP2-City");
    let record = json!({
        "city": { "geoname_id": 2_643_743, "names": { "en": "London", "ja": "ロンドン" } },
        "continent": { "code": "EU" },
        "country": { "iso_code": "GB", "is_in_european_union": false },
        "location": { "latitude": 51.5, "longitude": -0.125, "time_zone": "Europe/London" },
        "subdivisions": [{ "iso_code": "ENG" }, { "iso_code": "WBK" }],
    });
    writer.insert("81.0.0.0/8", record.clone());
    writer.insert("2001:218::/32", record);
    let bytes = writer.to_bytes();
    assert!(GeoIp::from_bytes(Path::new("test.mmdb"), bytes.clone()).is_ok());
    let addresses = ["81.2.69.160", "2001:218::1", "8.8.8.8", "2606:4700::1111"];
    let try_it = |what: String, candidate: Vec<u8>| {
        let opened = runs_without_panicking(|| {
            if let Ok(geoip) = GeoIp::from_bytes(Path::new("test.mmdb"), candidate) {
                for address in addresses {
                    let _ = geoip.lookup(ip(address));
                }
            }
        });
        assert!(opened, "{what}: a panic got out");
    };
    for len in 0..bytes.len() {
        try_it(format!("the first {len} bytes"), bytes[..len].to_vec());
    }
    for at in 0..bytes.len() {
        for flip in [0x01, 0x20, 0x80, 0xff] {
            let mut candidate = bytes.clone();
            candidate[at] ^= flip;
            try_it(format!("byte {at} xor {flip:#x}"), candidate);
        }
    }
}
