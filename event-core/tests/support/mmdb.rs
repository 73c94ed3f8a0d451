//! A small writer of MaxMind DB files (format 2.0, <https://maxmind.github.io/MaxMind-DB/>),
//! for tests only: an IPv6 search tree (IPv4 networks at `::a.b.c.d/(96 + len)`), a data
//! section with one record per network (no pointers, no deduplication), and the metadata.
//!
//! Shared by the unit tests of `event-core` and its integration tests, so it uses nothing but
//! std and `serde_json`.

#![allow(dead_code)]

use std::net::IpAddr;

use serde_json::{json, Value};

/// The marker that starts the metadata section.
const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

/// Data type number of a UTF-8 string.
const STRING: u8 = 2;
/// Data type number of a double.
const DOUBLE: u8 = 3;
/// Data type number of an unsigned 16-bit integer.
const UINT16: u8 = 5;
/// Data type number of an unsigned 32-bit integer.
const UINT32: u8 = 6;
/// Data type number of a map.
const MAP: u8 = 7;
/// Data type number of an unsigned 64-bit integer (an extended type, as all above 7).
const UINT64: u8 = 9;
/// Data type number of an array (extended).
const ARRAY: u8 = 11;
/// Data type number of a boolean (extended).
const BOOLEAN: u8 = 14;

/// Builds a MaxMind DB file in memory from networks and their records.
pub struct MmdbWriter {
    /// The metadata's `database_type`.
    database_type: String,
    /// Bits per record of the search tree: 24, 28 or 32.
    record_size: u32,
    /// Each network as an IPv6 address, its prefix length, and its record.
    networks: Vec<(u128, u32, Value)>,
}

/// A node of the search tree while it is built.
#[derive(Clone)]
enum Node {
    /// No record.
    Empty,
    /// The record of network number `.0`.
    Data(usize),
    /// The two halves: bit 0, bit 1.
    Inner(Box<[Node; 2]>),
}

/// What a record of a finished tree points at.
#[derive(Clone, Copy)]
enum Target {
    /// No record.
    Empty,
    /// The record of network number `.0`.
    Data(usize),
    /// The node numbered `.0`.
    Node(usize),
}

impl MmdbWriter {
    /// An empty database whose metadata says `database_type` (such as `GeoLite2-City`).
    pub fn new(database_type: &str) -> Self {
        MmdbWriter {
            database_type: database_type.to_owned(),
            record_size: 24,
            networks: Vec::new(),
        }
    }

    /// The same with records of `bits` bits (24, the default, 28 or 32).
    pub fn record_size(mut self, bits: u32) -> Self {
        assert!(matches!(bits, 24 | 28 | 32), "record size {bits}");
        self.record_size = bits;
        self
    }

    /// Gives `network` (such as `"81.2.69.0/24"` or `"2a02:8000::/32"`) the `record`, a JSON
    /// object of maps, strings, unsigned integers, floats, booleans and arrays. A network
    /// inserted later wins over the part of an earlier one that it covers.
    pub fn insert(&mut self, network: &str, record: Value) {
        let (address, len) = network
            .split_once('/')
            .expect("a network is address/length");
        let address: IpAddr = address.parse().expect("an IP address");
        let len: u32 = len.parse().expect("a prefix length");
        let (bits, len) = match address {
            IpAddr::V4(v4) => {
                assert!(len <= 32, "{network}: prefix too long");
                (u128::from(u32::from(v4)), len + 96)
            }
            IpAddr::V6(v6) => {
                assert!(len <= 128, "{network}: prefix too long");
                (u128::from(v6), len)
            }
        };
        assert!(
            len > 0,
            "{network}: the whole address space is not supported"
        );
        assert_eq!(bits & (u128::MAX >> len), 0, "{network}: host bits are set");
        self.networks.push((bits, len, record));
    }

    /// The database file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for (_, _, record) in &self.networks {
            offsets.push(data.len());
            encode(record, &mut data);
        }

        let mut root = Node::Inner(Box::new([Node::Empty, Node::Empty]));
        for (index, (bits, len, _)) in self.networks.iter().enumerate() {
            insert(&mut root, *bits, *len, 0, index);
        }
        let mut nodes = Vec::new();
        flatten(&root, &mut nodes);
        let node_count = nodes.len();

        let mut file = Vec::new();
        for [left, right] in nodes {
            let value = |target| match target {
                Target::Empty => node_count,
                Target::Data(index) => node_count + 16 + offsets[index],
                Target::Node(id) => id,
            };
            let (left, right) = (value(left) as u64, value(right) as u64);
            assert!(
                left.max(right) >> self.record_size == 0,
                "the tree is too large"
            );
            match self.record_size {
                24 => {
                    file.extend_from_slice(&left.to_be_bytes()[5..]);
                    file.extend_from_slice(&right.to_be_bytes()[5..]);
                }
                28 => {
                    file.extend_from_slice(&left.to_be_bytes()[5..]);
                    file.push(((left >> 24) << 4 | right >> 24) as u8);
                    file.extend_from_slice(&right.to_be_bytes()[5..]);
                }
                _ => {
                    file.extend_from_slice(&left.to_be_bytes()[4..]);
                    file.extend_from_slice(&right.to_be_bytes()[4..]);
                }
            }
        }
        file.extend_from_slice(&[0; 16]);
        file.extend_from_slice(&data);
        file.extend_from_slice(METADATA_MARKER);

        control(&mut file, MAP, 9);
        string(&mut file, "binary_format_major_version");
        unsigned(&mut file, UINT16, 2);
        string(&mut file, "binary_format_minor_version");
        unsigned(&mut file, UINT16, 0);
        string(&mut file, "build_epoch");
        unsigned(&mut file, UINT64, 1_700_000_000);
        string(&mut file, "database_type");
        string(&mut file, &self.database_type);
        string(&mut file, "description");
        encode(
            &json!({ "en": "A test database with made-up locations" }),
            &mut file,
        );
        string(&mut file, "ip_version");
        unsigned(&mut file, UINT16, 6);
        string(&mut file, "languages");
        encode(&json!(["en"]), &mut file);
        string(&mut file, "node_count");
        unsigned(&mut file, UINT32, node_count as u64);
        string(&mut file, "record_size");
        unsigned(&mut file, UINT16, u64::from(self.record_size));
        file
    }
}

/// Points the subtree of `node` (at `depth` bits) for `bits/len` at record `index`, splitting
/// a leaf on the way into two copies of itself.
fn insert(node: &mut Node, bits: u128, len: u32, depth: u32, index: usize) {
    if depth == len {
        *node = Node::Data(index);
        return;
    }
    if !matches!(node, Node::Inner(_)) {
        *node = Node::Inner(Box::new([node.clone(), node.clone()]));
    }
    if let Node::Inner(children) = node {
        let bit = (bits >> (127 - depth)) & 1;
        insert(&mut children[bit as usize], bits, len, depth + 1, index);
    }
}

/// Numbers the inner nodes depth first (the root is node 0) into `nodes`.
fn flatten(node: &Node, nodes: &mut Vec<[Target; 2]>) -> Target {
    match node {
        Node::Empty => Target::Empty,
        Node::Data(index) => Target::Data(*index),
        Node::Inner(children) => {
            let id = nodes.len();
            nodes.push([Target::Empty; 2]);
            let left = flatten(&children[0], nodes);
            let right = flatten(&children[1], nodes);
            nodes[id] = [left, right];
            Target::Node(id)
        }
    }
}

/// A control byte of `type_number` and `size`: types above 7 in an extra byte after it, then
/// sizes of 29 and more in one to three further bytes.
fn control(out: &mut Vec<u8>, type_number: u8, size: usize) {
    let (size_bits, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, vec![])
    } else if size < 285 {
        (29, vec![(size - 29) as u8])
    } else if size < 65_821 {
        (30, ((size - 285) as u16).to_be_bytes().to_vec())
    } else {
        assert!(size - 65_821 < 1 << 24, "value too large");
        (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec())
    };
    if type_number <= 7 {
        out.push(type_number << 5 | size_bits);
    } else {
        out.push(size_bits);
        out.push(type_number - 7);
    }
    out.extend_from_slice(&extra);
}

/// A UTF-8 string.
fn string(out: &mut Vec<u8>, text: &str) {
    control(out, STRING, text.len());
    out.extend_from_slice(text.as_bytes());
}

/// An unsigned integer in as few big-endian bytes as it needs (none for zero).
fn unsigned(out: &mut Vec<u8>, type_number: u8, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    control(out, type_number, bytes.len() - skip);
    out.extend_from_slice(&bytes[skip..]);
}

/// A JSON value: unsigned integers as uint32 (or uint64 when larger), floats as doubles.
fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::String(text) => string(out, text),
        Value::Bool(flag) => control(out, BOOLEAN, usize::from(*flag)),
        Value::Number(number) if number.is_f64() => {
            control(out, DOUBLE, 8);
            out.extend_from_slice(&number.as_f64().unwrap().to_be_bytes());
        }
        Value::Number(number) => {
            let n = number
                .as_u64()
                .expect("only unsigned integers are supported");
            unsigned(
                out,
                if n > u64::from(u32::MAX) {
                    UINT64
                } else {
                    UINT32
                },
                n,
            );
        }
        Value::Array(items) => {
            control(out, ARRAY, items.len());
            items.iter().for_each(|item| encode(item, out));
        }
        Value::Object(map) => {
            control(out, MAP, map.len());
            for (key, item) in map {
                string(out, key);
                encode(item, out);
            }
        }
        Value::Null => panic!("null is not a MaxMind DB type"),
    }
}

/// A GeoIP2-style City record. `subdivisions` are ISO 3166-2 codes without the country.
fn place(
    continent: &str,
    country: &str,
    subdivisions: &[&str],
    city: Option<&str>,
    time_zone: Option<&str>,
) -> Value {
    let mut record = json!({
        "continent": { "code": continent, "geoname_id": 6_255_148, "names": { "en": continent } },
        "country": { "geoname_id": 2_635_167, "iso_code": country, "names": { "en": country } },
        "registered_country": { "geoname_id": 2_635_167, "iso_code": country },
    });
    if !subdivisions.is_empty() {
        let list: Vec<Value> = subdivisions
            .iter()
            .map(|code| json!({ "geoname_id": 6_269_131, "iso_code": code, "names": { "en": code } }))
            .collect();
        record["subdivisions"] = Value::Array(list);
    }
    if let Some(city) = city {
        record["city"] = json!({
            "geoname_id": 2_643_743,
            "names": { "de": format!("{city} (de)"), "en": city, "ja": "テスト", "ru": "Тест" },
        });
        record["postal"] = json!({ "code": "X1" });
    }
    if let Some(time_zone) = time_zone {
        record["location"] = json!({
            "accuracy_radius": 100,
            "latitude": 51.5,
            "longitude": -0.125,
            "time_zone": time_zone,
        });
    }
    record
}

/// The networks of [`test_city_database`] that must never get a location, though the database
/// has a record for each: "this network" (where `::` and `::1` also fall, in the IPv4 part of
/// the tree), private, shared (CGNAT), loopback, link-local, IETF, documentation,
/// benchmarking, multicast and reserved IPv4; documentation, unique-local, link-local,
/// site-local and multicast IPv6.
pub const NETWORKS_WITHOUT_LOCATION: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "2001:db8::/32",
    "3fff::/20",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];

/// A writer holding a small City database with made-up locations (no third-party data):
///
/// | network | country | subdivisions | city | continent | time zone |
/// |---|---|---|---|---|---|
/// | 81.2.69.0/24 | GB | ENG | London | EU | Europe/London |
/// | 2.125.160.0/20 | GB | ENG, WBK | Boxford | EU | Europe/London |
/// | 216.160.83.0/24 | US | WA | Milton | NA | America/Los_Angeles |
/// | 2001:218::/32 | JP | 13 | Tokyo | AS | Asia/Tokyo |
/// | 89.160.20.0/24 | SE | – | – | EU | – |
///
/// and a London record for each of [`NETWORKS_WITHOUT_LOCATION`].
pub fn test_city_writer() -> MmdbWriter {
    let london = || place("EU", "GB", &["ENG"], Some("London"), Some("Europe/London"));
    let mut writer = MmdbWriter::new("GeoLite2-City");
    writer.insert("81.2.69.0/24", london());
    writer.insert(
        "2.125.160.0/20",
        place(
            "EU",
            "GB",
            &["ENG", "WBK"],
            Some("Boxford"),
            Some("Europe/London"),
        ),
    );
    writer.insert(
        "216.160.83.0/24",
        place(
            "NA",
            "US",
            &["WA"],
            Some("Milton"),
            Some("America/Los_Angeles"),
        ),
    );
    writer.insert(
        "2001:218::/32",
        place("AS", "JP", &["13"], Some("Tokyo"), Some("Asia/Tokyo")),
    );
    writer.insert("89.160.20.0/24", place("EU", "SE", &[], None, None));
    for network in NETWORKS_WITHOUT_LOCATION {
        writer.insert(network, london());
    }
    writer
}

/// The file of [`test_city_writer`].
pub fn test_city_database() -> Vec<u8> {
    test_city_writer().to_bytes()
}
