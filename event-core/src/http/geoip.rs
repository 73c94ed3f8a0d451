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
    let decoded = crate::caught::catch(|| reader.lookup(ip)?.decode::<Found<'_>>());
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
    match crate::caught::catch(|| Reader::from_source(probe)) {
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
mod tests;
