//! The unit of publication: a [`Record`] (kind, key, feed timestamp, JSON payload) and the
//! [`Publishable`] boundary that turns stage structs into records on the publish thread.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// What a record is; selects the topic (`alerts`, `snapshots`, `features`) and the JSON schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RecordKind {
    /// A detector alert (schema `detect/schema/alert.schema.json`).
    Alert = 0,
    /// A depth-N book snapshot (schema `publish/schema/snapshot.schema.json`).
    Snapshot = 1,
    /// A window feature record (schema `publish/schema/feature.schema.json`).
    Feature = 2,
}

impl RecordKind {
    /// Every kind, in wire-code order.
    pub const ALL: [RecordKind; 3] = [RecordKind::Alert, RecordKind::Snapshot, RecordKind::Feature];

    /// The record type as written in the `record_type` header: `alert`, `snapshot` or `feature`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordKind::Alert => "alert",
            RecordKind::Snapshot => "snapshot",
            RecordKind::Feature => "feature",
        }
    }

    /// The topic name before the configurable prefix: `alerts`, `snapshots` or `features`.
    pub const fn topic_suffix(self) -> &'static str {
        match self {
            RecordKind::Alert => "alerts",
            RecordKind::Snapshot => "snapshots",
            RecordKind::Feature => "features",
        }
    }

    /// The one-byte code used in the spool file format.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Inverse of [`RecordKind::code`].
    pub const fn from_code(code: u8) -> Option<RecordKind> {
        match code {
            0 => Some(RecordKind::Alert),
            1 => Some(RecordKind::Snapshot),
            2 => Some(RecordKind::Feature),
            _ => None,
        }
    }

    /// Index into per-kind arrays (`0..3`).
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error parsing a [`RecordKind`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown record kind {0:?} (expected alert, snapshot or feature)")]
pub struct UnknownKind(pub String);

impl FromStr for RecordKind {
    type Err = UnknownKind;

    /// Accepts the header spelling (`alert`) and the topic spelling (`alerts`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "alert" | "alerts" => Ok(RecordKind::Alert),
            "snapshot" | "snapshots" => Ok(RecordKind::Snapshot),
            "feature" | "features" => Ok(RecordKind::Feature),
            other => Err(UnknownKind(other.to_owned())),
        }
    }
}

/// One record to publish: the same bytes go to Kafka (message value) and to JSON lines (one line).
///
/// `payload` is one compact JSON object without a newline; `key` is the symbol (the Kafka message key, so
/// every record of a symbol lands in one partition and keeps its order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Which topic / schema.
    pub kind: RecordKind,
    /// Message key: the symbol, e.g. `b"AAPL"` (no padding).
    pub key: Vec<u8>,
    /// Feed timestamp of the event the record describes (exchange nanoseconds), sent as a header.
    pub feed_ts_ns: u64,
    /// The JSON document.
    pub payload: Vec<u8>,
}

impl Record {
    /// Builds a record from parts.
    pub fn new(
        kind: RecordKind,
        key: impl Into<Vec<u8>>,
        feed_ts_ns: u64,
        payload: impl Into<Vec<u8>>,
    ) -> Record {
        Record {
            kind,
            key: key.into(),
            feed_ts_ns,
            payload: payload.into(),
        }
    }

    /// Builds a record whose payload is `value` serialised as compact JSON.
    pub fn from_json<T: Serialize + ?Sized>(
        kind: RecordKind,
        key: impl Into<Vec<u8>>,
        feed_ts_ns: u64,
        value: &T,
    ) -> Result<Record, EncodeError> {
        let mut payload = Vec::with_capacity(256);
        write_json(value, &mut payload)?;
        Ok(Record::new(kind, key, feed_ts_ns, payload))
    }

    /// Checks the invariants every sink relies on: a non-empty payload without a newline byte (so one record is
    /// one JSON line) and a key of at most [`MAX_KEY_LEN`] bytes.
    pub fn validate(&self) -> Result<(), EncodeError> {
        if self.payload.is_empty() {
            return Err(EncodeError::Invalid("empty payload"));
        }
        if self.payload.contains(&b'\n') {
            return Err(EncodeError::Invalid("payload contains a newline"));
        }
        if self.key.len() > MAX_KEY_LEN {
            return Err(EncodeError::Invalid("key longer than 1024 bytes"));
        }
        Ok(())
    }
}

/// Longest accepted key (symbols are at most 8 bytes in ITCH and IEX; this is a sanity bound).
pub const MAX_KEY_LEN: usize = 1024;

/// Error turning a stage struct into a [`Record`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// serde_json refused the value (e.g. a non-finite float).
    #[error("JSON encoding failed: {0}")]
    Json(#[from] serde_json::Error),
    /// The encoded record breaks a sink invariant.
    #[error("invalid record: {0}")]
    Invalid(&'static str),
}

/// Serialises `value` as compact JSON, appending to `out`.
pub fn write_json<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    serde_json::to_writer(out, value)?;
    Ok(())
}

/// The boundary between the pipeline's structs and the publish stage.
///
/// Values of the implementing type travel through the hand-off ring unchanged (fixed-size `Copy` structs are
/// ideal: nothing is formatted on the hot thread); the publish thread calls these methods to build the
/// [`Record`]. Implementations may allocate (they run on the publish thread only).
///
/// The runtime implements this for a local enum over the detect alert, the book snapshot and the feature
/// structs; [`Record`] implements it for pre-encoded records (tests, `drain`).
pub trait Publishable: Send + 'static {
    /// Which topic / schema.
    fn kind(&self) -> RecordKind;
    /// Feed timestamp (exchange nanoseconds) of the event.
    fn feed_ts_ns(&self) -> u64;
    /// Appends the key (the symbol, unpadded) to `key`.
    fn write_key(&self, key: &mut Vec<u8>);
    /// Appends the JSON payload (one compact object, no newline) to `payload`.
    fn write_payload(&self, payload: &mut Vec<u8>) -> Result<(), EncodeError>;

    /// Builds the record. The default calls the four methods above; [`Record`] returns itself.
    fn into_record(self) -> Result<Record, EncodeError>
    where
        Self: Sized,
    {
        let mut key = Vec::with_capacity(8);
        self.write_key(&mut key);
        let mut payload = Vec::with_capacity(256);
        self.write_payload(&mut payload)?;
        Ok(Record {
            kind: self.kind(),
            key,
            feed_ts_ns: self.feed_ts_ns(),
            payload,
        })
    }
}

impl Publishable for Record {
    fn kind(&self) -> RecordKind {
        self.kind
    }

    fn feed_ts_ns(&self) -> u64 {
        self.feed_ts_ns
    }

    fn write_key(&self, key: &mut Vec<u8>) {
        key.extend_from_slice(&self.key);
    }

    fn write_payload(&self, payload: &mut Vec<u8>) -> Result<(), EncodeError> {
        payload.extend_from_slice(&self.payload);
        Ok(())
    }

    fn into_record(self) -> Result<Record, EncodeError> {
        Ok(self)
    }
}

/// Kafka header carrying the record type (`alert`, `snapshot`, `feature`), ASCII.
pub const HEADER_RECORD_TYPE: &str = "record_type";
/// Kafka header carrying the feed timestamp in nanoseconds, ASCII decimal.
pub const HEADER_FEED_TS_NS: &str = "feed_ts_ns";
/// Kafka header carrying the record id `<run id, 16 hex>-<sequence, 16 hex>`: unique per record and unchanged
/// when a spooled record is re-sent, so a consumer can drop the rare duplicate left by an unacknowledged
/// in-flight send at shutdown.
pub const HEADER_RECORD_ID: &str = "record_id";

/// Identity of a record inside the Kafka sink: the run that first accepted it and its sequence number.
///
/// Sequence numbers increase strictly in acceptance order and continue across runs that share a spool, so they
/// also order the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId {
    /// Random id of the run that first accepted the record.
    pub run_id: u64,
    /// Acceptance sequence number.
    pub seq: u64,
}

impl RecordId {
    /// The `record_id` header value.
    pub fn header_value(&self) -> String {
        format!("{:016x}-{:016x}", self.run_id, self.seq)
    }

    /// Parses a `record_id` header value.
    pub fn parse(s: &str) -> Option<RecordId> {
        let (run, seq) = s.split_once('-')?;
        if run.len() != 16 || seq.len() != 16 {
            return None;
        }
        Some(RecordId {
            run_id: u64::from_str_radix(run, 16).ok()?,
            seq: u64::from_str_radix(seq, 16).ok()?,
        })
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}-{:016x}", self.run_id, self.seq)
    }
}

/// A record with its identity, as it sits in the Kafka sink's queues and in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Identity and order.
    pub id: RecordId,
    /// The record.
    pub record: Record,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in RecordKind::ALL {
            assert_eq!(RecordKind::from_code(kind.code()), Some(kind));
            assert_eq!(kind.as_str().parse::<RecordKind>().ok(), Some(kind));
            assert_eq!(kind.topic_suffix().parse::<RecordKind>().ok(), Some(kind));
        }
        assert_eq!(RecordKind::from_code(3), None);
        assert!("alertz".parse::<RecordKind>().is_err());
    }

    #[test]
    fn record_id_header_round_trips() {
        let id = RecordId {
            run_id: 0xdead_beef_0123_4567,
            seq: 42,
        };
        assert_eq!(id.header_value(), "deadbeef01234567-000000000000002a");
        assert_eq!(RecordId::parse(&id.header_value()), Some(id));
        assert_eq!(RecordId::parse("x-1"), None);
    }

    #[test]
    fn validate_rejects_newlines_and_empty() {
        assert!(Record::new(RecordKind::Alert, "A", 1, "{}")
            .validate()
            .is_ok());
        assert!(Record::new(RecordKind::Alert, "A", 1, "")
            .validate()
            .is_err());
        assert!(Record::new(RecordKind::Alert, "A", 1, "{\n}")
            .validate()
            .is_err());
        assert!(Record::new(RecordKind::Alert, vec![b'A'; 2000], 1, "{}")
            .validate()
            .is_err());
    }

    #[test]
    fn from_json_is_compact_and_escapes_newlines() {
        let rec = Record::from_json(
            RecordKind::Feature,
            "X",
            5,
            &serde_json::json!({"a": "x\ny"}),
        )
        .unwrap();
        assert_eq!(rec.payload, br#"{"a":"x\ny"}"#.to_vec());
        assert!(rec.validate().is_ok());
        let nan = Record::from_json(RecordKind::Feature, "X", 5, &f64::NAN);
        // serde_json writes non-finite floats as null rather than failing; the payload stays valid JSON.
        assert_eq!(nan.unwrap().payload, b"null".to_vec());
    }
}
