//! GeoIP: the location of a client's address, from a MaxMind database file (`.mmdb`, such as
//! GeoLite2-City or GeoIP2-Country), read whole into memory when the layer is built.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use maxminddb::{Metadata, Reader};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::Geo;
use crate::BuildError;

/// The setting that [`BuildError`]s of this module name.
const SETTING: &str = "geoip";

/// What every message about an unusable file ends with.
const WHAT_TO_PASS: &str = "pass the path of a MaxMind .mmdb file, such as GeoLite2-City.mmdb";

/// The bytes that start the metadata section of a MaxMind database.
const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

/// The zero bytes between the search tree and the data section.
const SEPARATOR_LEN: usize = 16;

/// How many records `open` decodes to check the data section.
const RECORDS_TO_CHECK: usize = 64;

/// A MaxMind database held in memory: a lookup never does I/O.
#[derive(Debug)]
pub(crate) struct GeoIp {
    /// The reader, over the whole file.
    reader: Reader<Vec<u8>>,
}

impl GeoIp {
    /// Reads the whole database at `path` into memory and checks it: that it is a MaxMind
    /// database with locations (City or Country, not ASN or ISP), that its search tree points
    /// only inside the file, and that the first records decode. A damaged file is an error
    /// here, never a panic later.
    pub(crate) fn open(path: &Path) -> Result<GeoIp, BuildError> {
        let bytes = std::fs::read(path).map_err(|err| {
            let message = format!(
                "cannot read the GeoIP database {}: {err}; {WHAT_TO_PASS}",
                path.display()
            );
            BuildError::with_source(SETTING, message, err)
        })?;
        GeoIp::from_bytes(path, bytes)
    }

    /// [`GeoIp::open`] for the `bytes` of the file at `path` (which messages name).
    fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<GeoIp, BuildError> {
        let not_a_database = |why: &str| {
            let message = format!(
                "{} is not a MaxMind database ({why}); {WHAT_TO_PASS}",
                path.display()
            );
            BuildError::new(SETTING, message)
        };
        let damaged = |why: &str| {
            let message = format!(
                "{} is a damaged MaxMind database ({why}); download it again",
                path.display()
            );
            BuildError::new(SETTING, message)
        };

        let metadata_start = bytes
            .windows(METADATA_MARKER.len())
            .rposition(|window| window == METADATA_MARKER)
            .ok_or_else(|| {
                not_a_database("it has no MaxMind metadata, which a truncated download lacks too")
            })?;
        let metadata = read_metadata(&bytes[metadata_start..]).map_err(|err| {
            not_a_database(&format!(
                "its metadata cannot be read, it may be truncated: {err}"
            ))
        })?;
        if metadata.binary_format_major_version != 2 {
            let version = metadata.binary_format_major_version;
            return Err(not_a_database(&format!("format version {version}, not 2")));
        }
        if !matches!(metadata.ip_version, 4 | 6) {
            let version = metadata.ip_version;
            return Err(not_a_database(&format!("IP version {version}, not 4 or 6")));
        }
        let kind = &metadata.database_type;
        if !["City", "Country", "Enterprise"]
            .iter()
            .any(|k| kind.contains(k))
        {
            let message = format!(
                "{} is a {kind} database, which has no locations; use a City or Country \
                 database, such as GeoLite2-City.mmdb",
                path.display()
            );
            return Err(BuildError::new(SETTING, message));
        }

        let samples = check_tree(&bytes[..metadata_start], &metadata).map_err(|e| damaged(&e))?;
        let reader = Reader::from_source(bytes).map_err(|err| damaged(&err.to_string()))?;
        for address in samples {
            if let Err(err) = decode(&reader, address) {
                return Err(damaged(&format!(
                    "the record of {address} cannot be read: {err}"
                )));
            }
        }
        Ok(GeoIp { reader })
    }

    /// The location of `ip`, or `None` for an address that has none: private, loopback,
    /// link-local, unspecified, documentation, shared (CGNAT, 100.64.0.0/10), unique-local
    /// IPv6 (fc00::/7), multicast, broadcast and other reserved ranges; an address the
    /// database does not know; and one whose record has none of the members. An IPv4-mapped
    /// IPv6 address (`::ffff:a.b.c.d`) is looked up as the IPv4 address.
    pub(crate) fn lookup(&self, ip: IpAddr) -> Option<Geo> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        if !may_have_location(ip) {
            return None;
        }
        // An IPv6 address in an IPv4 database, or a damaged record, is an error: no location.
        decode(&self.reader, ip).ok()??.into_geo()
    }
}

/// The record of `ip` in `reader`, `Ok(None)` when it has none, or why it cannot be read.
fn decode(reader: &Reader<Vec<u8>>, ip: IpAddr) -> Result<Option<Found<'_>>, String> {
    // The decoder of maxminddb 0.27 panics on some damaged data when overflow checks are on
    // (debug builds): an unchecked addition on the byte of an extended type. Such a record
    // is one that cannot be read. Catching costs nothing while nothing panics.
    let decoded = std::panic::catch_unwind(|| reader.lookup(ip)?.decode::<Found<'_>>());
    match decoded {
        Ok(result) => result.map_err(|err| err.to_string()),
        Err(_) => Err("the MaxMind decoder failed on it".to_owned()),
    }
}

/// The metadata at `from_marker` (the marker and what follows it), read on its own: behind
/// one all-zero search tree node, so that the reader, which walks the first nodes of the tree
/// when it opens, cannot read past the end of a file whose tree is damaged.
fn read_metadata(from_marker: &[u8]) -> Result<Metadata, String> {
    let mut probe = vec![0; 8];
    probe.extend_from_slice(from_marker);
    // The metadata goes through the same decoder as the records (see `decode`).
    match std::panic::catch_unwind(|| Reader::from_source(probe)) {
        Ok(result) => result
            .map(|reader| reader.metadata)
            .map_err(|err| err.to_string()),
        Err(_) => Err("the MaxMind decoder failed on it".to_owned()),
    }
}

/// Checks the search tree in `head` (the file up to its metadata): it fits, the 16 zero bytes
/// follow it, and every record points at a node, at "no data", or into the data section. A
/// lookup then never reads outside the file. Returns an address in each of the first
/// networks that have a record, whose records `open` then decodes.
fn check_tree(head: &[u8], metadata: &Metadata) -> Result<Vec<IpAddr>, String> {
    let node_count = metadata.node_count as usize;
    // The reader accepts only records of 24, 28 and 32 bits: nodes of 6, 7 and 8 bytes.
    let node_len = usize::from(metadata.record_size) / 4;
    let tree_len = node_count * node_len;
    let data_start = tree_len + SEPARATOR_LEN;
    if node_count == 0 {
        return Err("its search tree is empty".to_owned());
    }
    if data_start > head.len() {
        return Err(format!(
            "its search tree of {node_count} nodes does not fit in the file"
        ));
    }
    if head[tree_len..data_start].iter().any(|&byte| byte != 0) {
        return Err("its search tree is not followed by 16 zero bytes".to_owned());
    }
    let data_len = head.len() - data_start;
    let nodes: Vec<&[u8]> = head[..tree_len].chunks_exact(node_len).collect();
    for (number, node) in nodes.iter().enumerate() {
        for record in records(node) {
            let in_data = record
                .checked_sub(node_count + SEPARATOR_LEN)
                .is_some_and(|offset| offset < data_len);
            if record > node_count && !in_data {
                return Err(format!(
                    "node {number} of its search tree points neither at a node nor at data"
                ));
            }
        }
    }

    // Depth first from the root, a bounded walk (the tree may have cycles; a lookup stops
    // after 128 bits whatever it finds).
    let width: u32 = if metadata.ip_version == 6 { 128 } else { 32 };
    let mut samples = Vec::new();
    let mut stack = vec![(0, 0_u128, 0_u32)];
    let mut steps = 0;
    while let Some((node, prefix, depth)) = stack.pop() {
        steps += 1;
        if samples.len() >= RECORDS_TO_CHECK || steps > 100 * RECORDS_TO_CHECK {
            break;
        }
        let [left, right] = records(nodes[node]);
        for (bit, record) in [(1, right), (0, left)] {
            let prefix = prefix | bit << (width - 1 - depth);
            if record > node_count {
                // IPv4 networks, also those at ::a.b.c.d in an IPv6 tree, as IPv4 addresses.
                samples.push(match u32::try_from(prefix) {
                    Ok(v4) => IpAddr::V4(v4.into()),
                    Err(_) => IpAddr::V6(prefix.into()),
                });
            } else if record < node_count && depth + 1 < width {
                stack.push((record, prefix, depth + 1));
            }
        }
    }
    Ok(samples)
}

/// The two records (left, right) of a search tree node of 6, 7 or 8 bytes.
fn records(node: &[u8]) -> [usize; 2] {
    let number = |bytes: &[u8]| bytes.iter().fold(0, |n, &b| n << 8 | usize::from(b));
    match node.len() {
        6 => [number(&node[..3]), number(&node[3..])],
        // 28 bits: the middle byte holds the high nibble of each record.
        7 => [
            usize::from(node[3] >> 4) << 24 | number(&node[..3]),
            usize::from(node[3] & 0x0f) << 24 | number(&node[4..]),
        ],
        _ => [number(&node[..4]), number(&node[4..])],
    }
}

/// Whether `ip` is an address that can have a location: false for the ranges that never
/// reach the public internet or are reserved, so they are never looked up.
fn may_have_location(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            let no_location = a == 0 // "this network", 0.0.0.0/8, including 0.0.0.0
                || v4.is_private() // 10/8, 172.16/12, 192.168/16
                || v4.is_loopback()
                || v4.is_link_local()
                || (a == 100 && b & 0xc0 == 64) // shared address space (CGNAT), 100.64/10
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, 192.0.0/24
                || v4.is_documentation()
                || (a == 198 && b & 0xfe == 18) // benchmarking, 198.18/15
                || v4.is_multicast()
                || a >= 240; // reserved, 240/4, including the broadcast address
            !no_location
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let no_location = s[..6] == [0; 6] // ::/96: unspecified, loopback, IPv4-compatible
                || v6.is_unicast_link_local()
                || v6.is_unique_local()
                || s[0] & 0xffc0 == 0xfec0 // site-local (deprecated), fec0::/10
                || v6.is_multicast()
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation, 2001:db8::/32
                || (s[0] == 0x3fff && s[1] < 0x1000); // documentation, 3fff::/20
            !no_location
        }
    }
}

/// The slot of [`Found::texts`] for `continent.code`.
const CONTINENT: usize = 0;
/// The slot of [`Found::texts`] for `country.iso_code`.
const COUNTRY: usize = 1;
/// The slot of [`Found::texts`] for `subdivisions[0].iso_code`.
const REGION: usize = 2;
/// The slot of [`Found::texts`] for `city.names.en`.
const CITY: usize = 3;
/// The slot of [`Found::texts`] for `location.time_zone`.
const TIME_ZONE: usize = 4;

/// The part of a value that a lookup reads.
enum Shape {
    /// A string, kept in this slot of [`Found::texts`].
    Text(usize),
    /// A map, of which these members are read and the others skipped.
    Map(&'static [(&'static str, Shape)]),
    /// An array, of which the first element is read and the others skipped.
    First(&'static Shape),
    /// Nothing: the value is skipped.
    Skip,
}

/// The members of a GeoIP2 City or Country record that [`Geo`] needs. The region is the first
/// of the `subdivisions`, the largest (England for Boxford, not West Berkshire).
const RECORD: Shape = Shape::Map(&[
    ("continent", Shape::Map(&[("code", Shape::Text(CONTINENT))])),
    ("country", Shape::Map(&[("iso_code", Shape::Text(COUNTRY))])),
    (
        "subdivisions",
        Shape::First(&Shape::Map(&[("iso_code", Shape::Text(REGION))])),
    ),
    (
        "city",
        Shape::Map(&[("names", Shape::Map(&[("en", Shape::Text(CITY))]))]),
    ),
    (
        "location",
        Shape::Map(&[("time_zone", Shape::Text(TIME_ZONE))]),
    ),
]);

/// How deeply a record may nest (maps, arrays): GeoIP2 records nest three or four deep. The
/// decoder's own limit, 512 levels, would overflow a thread's stack in a debug build first.
const MAX_DEPTH: u32 = 16;

/// How many values a lookup may go through: a GeoIP2 City record has a few hundred.
const MAX_VALUES: u32 = 4096;

/// The strings of a record that [`RECORD`] names, borrowed from the database.
///
/// The record is read by a visitor of its own rather than by derived structs: these skip
/// members they do not name with maxminddb's `skip_value`, which in 0.27 follows pointers
/// with no depth limit, so a damaged record with a pointer loop overflows the stack. Here
/// every value goes through the decoder's own checks, within [`MAX_DEPTH`] and
/// [`MAX_VALUES`].
struct Found<'de> {
    /// The strings found, by slot ([`CONTINENT`], [`COUNTRY`], …).
    texts: [Option<&'de str>; 5],
    /// How many more values the lookup may go through.
    values_left: u32,
}

impl<'de> Deserialize<'de> for Found<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut found = Found {
            texts: [None; 5],
            values_left: MAX_VALUES,
        };
        let read = Read {
            shape: &RECORD,
            found: &mut found,
            depth: 0,
        };
        read.deserialize(deserializer)?;
        Ok(found)
    }
}

/// Reads a value of `shape` into `found`, at `depth` in the record.
struct Read<'s, 'f, 'de> {
    /// What of the value to read.
    shape: &'s Shape,
    /// Where the strings go.
    found: &'f mut Found<'de>,
    /// How many maps and arrays the value is in.
    depth: u32,
}

impl<'de> Read<'_, '_, 'de> {
    /// A reader for a value inside this one.
    fn inner<'s>(&mut self, shape: &'s Shape) -> Read<'s, '_, 'de> {
        Read {
            shape,
            found: self.found,
            depth: self.depth + 1,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Read<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.depth > MAX_DEPTH {
            return Err(de::Error::custom("the record nests too deeply"));
        }
        if self.found.values_left == 0 {
            return Err(de::Error::custom("the record has too many values"));
        }
        self.found.values_left -= 1;
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Read<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a MaxMind DB value")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<(), E> {
        if let Shape::Text(slot) = self.shape {
            self.found.texts[*slot] = Some(text);
        }
        Ok(())
    }

    // A member of another type than the one expected counts as absent.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let members = match self.shape {
            Shape::Map(members) => members,
            _ => &[][..],
        };
        while let Some(key) = map.next_key::<&'de str>()? {
            let shape = members
                .iter()
                .find(|(name, _)| *name == key)
                .map_or(&Shape::Skip, |(_, shape)| shape);
            map.next_value_seed(self.inner(shape))?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut shape = match self.shape {
            Shape::First(first) => first,
            _ => &Shape::Skip,
        };
        while seq.next_element_seed(self.inner(shape))?.is_some() {
            shape = &Shape::Skip;
        }
        Ok(())
    }
}

impl Found<'_> {
    /// The owned [`Geo`], or `None` when the record has none of its members.
    fn into_geo(self) -> Option<Geo> {
        let [continent, country, region, city, time_zone] =
            self.texts.map(|text| text.filter(|text| !text.is_empty()));
        let geo = Geo {
            country_iso_code: country.map(str::to_owned),
            region_iso_code: country.zip(region).map(|(c, r)| format!("{c}-{r}")),
            city: city.map(str::to_owned),
            continent_code: continent.map(str::to_owned),
            time_zone: time_zone.map(str::to_owned),
        };
        (geo != Geo::default()).then_some(geo)
    }
}

#[cfg(test)]
#[path = "../../tests/support/mmdb.rs"]
mod mmdb;

#[cfg(test)]
mod tests {
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
        let many =
            |count: usize| json!({ "country": { "iso_code": "GB" }, "extra": vec![7; count] });
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
}
