//! The snapshot and feature record types, matching `publish/schema/snapshot.schema.json` and
//! `publish/schema/feature.schema.json`. (The alert record belongs to detect: `detect/schema/alert.schema.json`.)
//!
//! Prices in snapshots are integers in units of 1/10000 of the currency (the 4 implied decimals of ITCH 5.0
//! and IEX-TP); derived float features (`vwap`, `notional`) are in currency units.

use serde::{Deserialize, Serialize};

use crate::record::{write_json, EncodeError, Publishable, RecordKind};

/// Why a snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotReason {
    /// The periodic per-symbol snapshot.
    Periodic,
    /// Taken because an alert fired for the symbol.
    Alert,
}

/// One price level of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// Price in 1/10000 currency units.
    pub price: i64,
    /// Displayed shares at the level.
    pub size: u64,
    /// Number of orders at the level (0 when the feed is price-level only).
    pub orders: u32,
}

/// A depth-N book snapshot (topic `snapshots`, key = symbol; meant for a compacted topic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRecord {
    /// Symbol, unpadded.
    pub symbol: String,
    /// Stock locate code of the symbol in the feed.
    pub stock_locate: u16,
    /// Feed time (ns) of the last event applied to the book.
    pub event_ts_ns: u64,
    /// Transport sequence of that event.
    pub seq: u64,
    /// Why the snapshot was taken.
    pub reason: SnapshotReason,
    /// Detector whose alert triggered the snapshot (`reason = alert`), else `None`.
    pub trigger: Option<String>,
    /// Number of levels requested per side (sides may hold fewer).
    pub depth: u16,
    /// Bid levels, best (highest) first.
    pub bids: Vec<Level>,
    /// Ask levels, best (lowest) first.
    pub asks: Vec<Level>,
}

impl Publishable for SnapshotRecord {
    fn kind(&self) -> RecordKind {
        RecordKind::Snapshot
    }
    fn feed_ts_ns(&self) -> u64 {
        self.event_ts_ns
    }
    fn write_key(&self, key: &mut Vec<u8>) {
        key.extend_from_slice(self.symbol.as_bytes());
    }
    fn write_payload(&self, payload: &mut Vec<u8>) -> Result<(), EncodeError> {
        write_json(self, payload)
    }
}

/// Kind of window a feature record covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// A sliding window ending at `window_end_ns`.
    Sliding,
    /// A tumbling (non-overlapping) window.
    Tumbling,
}

/// Window features of one symbol (topic `features`, key = symbol).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureRecord {
    /// Symbol, unpadded.
    pub symbol: String,
    /// Stock locate code.
    pub stock_locate: u16,
    /// Feed time (ns) of the event that closed or last updated the window.
    pub event_ts_ns: u64,
    /// Sliding or tumbling.
    pub window: WindowKind,
    /// Window start, feed time (ns), inclusive.
    pub window_start_ns: u64,
    /// Window end, feed time (ns), exclusive.
    pub window_end_ns: u64,
    /// Order messages for the symbol in the window (adds, cancels, deletes, replaces, executions).
    pub messages: u64,
    /// `messages` per second of window length.
    pub msg_rate: f64,
    /// Orders added.
    pub adds: u64,
    /// Cancels and deletes (full or partial).
    pub cancels: u64,
    /// Executions (visible and hidden trades).
    pub executions: u64,
    /// Shares traded.
    pub volume: u64,
    /// Value traded, currency units.
    pub notional: f64,
    /// Volume-weighted average price, currency units; `None` without trades.
    pub vwap: Option<f64>,
    /// Order messages per execution; `None` without executions.
    pub order_to_trade: Option<f64>,
    /// Cancels per add; `None` without adds.
    pub cancel_rate: Option<f64>,
    /// Median displayed size of orders added (streaming estimate); `None` without adds.
    pub median_order_size: Option<f64>,
    /// Last trade price change over the window, basis points; `None` with fewer than two trades.
    pub move_bps: Option<f64>,
}

impl Publishable for FeatureRecord {
    fn kind(&self) -> RecordKind {
        RecordKind::Feature
    }
    fn feed_ts_ns(&self) -> u64 {
        self.event_ts_ns
    }
    fn write_key(&self, key: &mut Vec<u8>) {
        key.extend_from_slice(self.symbol.as_bytes());
    }
    fn write_payload(&self, payload: &mut Vec<u8>) -> Result<(), EncodeError> {
        write_json(self, payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field names of the Rust structs must be exactly the schema's properties (both directions).
    fn schema_properties(file: &str) -> (Vec<String>, Vec<String>) {
        let path = format!("{}/schema/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut props: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut required: Vec<String> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        props.sort();
        required.sort();
        (props, required)
    }

    fn keys(value: &serde_json::Value) -> Vec<String> {
        let mut k: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn snapshot_matches_schema_fields() {
        let snap = SnapshotRecord {
            symbol: "AAPL".into(),
            stock_locate: 7,
            event_ts_ns: 34_200_000_000_000,
            seq: 99,
            reason: SnapshotReason::Alert,
            trigger: Some("spoofing".into()),
            depth: 5,
            bids: vec![Level {
                price: 1_500_100,
                size: 300,
                orders: 2,
            }],
            asks: vec![],
        };
        let rec = snap.clone().into_record().unwrap();
        assert_eq!(rec.kind, RecordKind::Snapshot);
        assert_eq!(rec.key, b"AAPL");
        let value: serde_json::Value = serde_json::from_slice(&rec.payload).unwrap();
        let (props, required) = schema_properties("snapshot.schema.json");
        assert_eq!(keys(&value), props);
        assert_eq!(required, props);
        assert_eq!(value["reason"], "alert");
        assert_eq!(value["bids"][0]["price"], 1_500_100);
        let back: SnapshotRecord = serde_json::from_slice(&rec.payload).unwrap();
        assert_eq!(back, snap);
    }

    #[test]
    fn feature_matches_schema_fields() {
        let feat = FeatureRecord {
            symbol: "MSFT".into(),
            stock_locate: 3,
            event_ts_ns: 10,
            window: WindowKind::Sliding,
            window_start_ns: 0,
            window_end_ns: 10,
            messages: 12,
            msg_rate: 1.2e9,
            adds: 6,
            cancels: 5,
            executions: 1,
            volume: 100,
            notional: 15010.0,
            vwap: Some(150.10),
            order_to_trade: Some(12.0),
            cancel_rate: Some(5.0 / 6.0),
            median_order_size: None,
            move_bps: None,
        };
        let rec = feat.clone().into_record().unwrap();
        let value: serde_json::Value = serde_json::from_slice(&rec.payload).unwrap();
        let (props, required) = schema_properties("feature.schema.json");
        assert_eq!(keys(&value), props);
        assert_eq!(required, props);
        assert!(value["median_order_size"].is_null());
        let back: FeatureRecord = serde_json::from_slice(&rec.payload).unwrap();
        assert_eq!(back, feat);
    }
}
