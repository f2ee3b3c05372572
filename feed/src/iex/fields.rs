//! Field-by-field rendering of IEX messages with the oracle's names and value formats (`tickwatch dump`, golden
//! tests).
//!
//! [`for_each_field`] calls back once per field, in wire order, with the name the oracle CSVs use
//! (`../shared/data/oracle/README.md`): a column name (`timestamp`, `symbol`, `side`, `shares`, `price`,
//! `order_ref`, `match_number`) when the field maps to one of the columns listed in [`ORACLE_COLUMNS`], otherwise the
//! Open-Markets-Initiative dissector's field abbreviation (`tradingstatus`, `saleconditionflags`, `bidprice`, ...).
//! Flag bytes come as the byte ([`FieldValue::Hex`]), the names of the set flags as `<name>_text`
//! ([`FieldValue::Flags`], only when one is set) and one field per bit group (`oddlot`, `unused3`, ...), as the
//! dissector shows them. A [`FieldValue::Price`] stands for two oracle values: `<name>` (decimal) and `<name>_raw`
//! (the wire integer).
//!
//! Notes on dissector conventions reproduced here:
//! * DEEP price-level messages carry the side only in the type byte (`8`/`5`); no `side` field is emitted for them.
//! * DEEP+ Order Modify: the dissector splits the modify flags as `unused7` (`0x7f`) and `priority` (`0x80`); the
//!   specification calls the priority flag "bit 0" (see [`OrderModify::maintains_priority`]). The dump shows the
//!   dissector's split of the raw byte, which is also given in full as `modifyflags`.
//! * Auction Information `extensionnumber` is a one-byte count that the dissector shows as a character (`""` for 0).
//! * TOPS 1.5 names sale-condition bits `0x0f` `unused4`; 1.6 splits them into `singlepricecrosstrade` (`0x08`) and
//!   `unused3` (`0x07`). The 1.6 names are used for all TOPS data (same protocol id, same bytes).
//!
//! Nothing here allocates; [`FieldValue`] implements `Display` with the oracle's text for the value.
//!
//! [`OrderModify::maintains_priority`]: super::message::OrderModify::maintains_priority

use std::fmt;

use super::message::Message;
use super::trim_alpha;

/// Oracle CSV columns that message fields can map to (the rest of a message's fields go to `fields_json`).
pub const ORACLE_COLUMNS: [&str; 7] = [
    "timestamp",
    "symbol",
    "side",
    "shares",
    "price",
    "order_ref",
    "match_number",
];

/// One field value, typed; `Display` renders it as the oracle shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue<'a> {
    /// Unsigned integer (decimal).
    Uint(u64),
    /// Signed integer (decimal).
    Int(i64),
    /// One-byte character field: the character, `""` for NUL, U+FFFD for a non-ASCII byte.
    Char(u8),
    /// Fixed-width alpha field with trailing spaces and NULs removed (lossy UTF-8).
    Text(&'a [u8]),
    /// Price with 4 implied decimals: displayed as a decimal without trailing zeros (`9.955`, `10`, `0`); the
    /// oracle also holds the integer as `<name>_raw`.
    Price(i64),
    /// A flag byte as two lowercase hex digits.
    Hex(u8),
    /// Names of the set flags, joined with `|`, lowest bit first.
    Flags(FlagNames),
}

impl FieldValue<'_> {
    /// The raw integer of a [`FieldValue::Price`] (`<name>_raw`), `None` for other values.
    #[inline]
    pub fn price_raw(&self) -> Option<i64> {
        match *self {
            FieldValue::Price(p) => Some(p),
            _ => None,
        }
    }
}

impl fmt::Display for FieldValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FieldValue::Uint(v) => write!(f, "{v}"),
            FieldValue::Int(v) => write!(f, "{v}"),
            FieldValue::Char(0) => Ok(()),
            FieldValue::Char(b) if b.is_ascii() => fmt::Write::write_char(f, char::from(b)),
            FieldValue::Char(_) => f.write_str("\u{fffd}"),
            FieldValue::Text(t) => write!(f, "{}", String::from_utf8_lossy(trim_alpha(t))),
            FieldValue::Price(p) => write!(f, "{}", PriceDisplay(p)),
            FieldValue::Hex(b) => write!(f, "{b:02x}"),
            FieldValue::Flags(n) => write!(f, "{n}"),
        }
    }
}

/// Displays a 4-implied-decimal price as a decimal with trailing zeros (and a bare trailing point) removed:
/// `1234500` → `123.45`, `100000` → `10`, `-5` → `-0.0005`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceDisplay(pub i64);

impl fmt::Display for PriceDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        let abs = v.unsigned_abs();
        let (int, mut frac) = (abs / 10_000, abs % 10_000);
        if v < 0 {
            f.write_str("-")?;
        }
        write!(f, "{int}")?;
        if frac == 0 {
            return Ok(());
        }
        let mut digits = 4;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        write!(f, ".{frac:0digits$}")
    }
}

/// A flag byte and the table naming its bits; `Display` joins the names of the set bits with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagNames {
    bits: u8,
    names: &'static [(u8, &'static str)],
}

impl FlagNames {
    /// True if any named flag is set.
    #[inline]
    pub fn any(&self) -> bool {
        self.names.iter().any(|&(mask, _)| self.bits & mask != 0)
    }
}

impl fmt::Display for FlagNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for &(mask, name) in self.names {
            if self.bits & mask != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

const SALE_CONDITION_NAMES: &[(u8, &str)] = &[
    (0x08, "Singleprice Cross Trade"),
    (0x10, "Trade Through Exempt"),
    (0x20, "Odd Lot"),
    (0x40, "Extended Hours"),
    (0x80, "Intermarket Sweep"),
];
const SECURITY_DIRECTORY_NAMES: &[(u8, &str)] = &[
    (0x20, "Etp"),
    (0x40, "When Issued"),
    (0x80, "Test Security"),
];
const QUOTE_UPDATE_NAMES: &[(u8, &str)] =
    &[(0x40, "Market Session"), (0x80, "Symbol Availability")];
const MODIFY_NAMES: &[(u8, &str)] = &[(0x80, "Priority")];

/// Emits a flag byte the way the dissector shows it: the hex byte, `<name>_text` when a named flag is set, then
/// the bit fields listed in `bits` (name, mask) with their values shifted down.
#[inline]
fn flags<'a>(
    f: &mut impl FnMut(&'static str, FieldValue<'a>),
    name: &'static str,
    text_name: &'static str,
    b: u8,
    names: &'static [(u8, &'static str)],
    bits: &[(&'static str, u8)],
) {
    f(name, FieldValue::Hex(b));
    let n = FlagNames { bits: b, names };
    if n.any() {
        f(text_name, FieldValue::Flags(n));
    }
    for &(bit_name, mask) in bits {
        f(
            bit_name,
            FieldValue::Uint(u64::from((b & mask) >> mask.trailing_zeros())),
        );
    }
}

#[inline]
fn sale_conditions<'a>(f: &mut impl FnMut(&'static str, FieldValue<'a>), b: u8) {
    flags(
        f,
        "saleconditionflags",
        "saleconditionflags_text",
        b,
        SALE_CONDITION_NAMES,
        &[
            ("unused3", 0x07),
            ("singlepricecrosstrade", 0x08),
            ("tradethroughexempt", 0x10),
            ("oddlot", 0x20),
            ("extendedhours", 0x40),
            ("intermarketsweep", 0x80),
        ],
    );
}

/// Calls `f(name, value)` for every field of `msg` in wire order, with the oracle's names (see the module docs).
/// The message type and the transport fields (frame, index, sequence, session, length) are the caller's.
pub fn for_each_field<'a>(msg: &Message<'a>, mut f: impl FnMut(&'static str, FieldValue<'a>)) {
    use FieldValue::{Char, Int, Price, Text, Uint};
    f("timestamp", Int(msg.timestamp()));
    if let Some(sym) = msg.symbol() {
        f("symbol", Text(sym));
    }
    match *msg {
        Message::SystemEvent(m) => f("systemevent", Char(m.system_event())),
        Message::SecurityDirectory(m) => {
            flags(
                &mut f,
                "securitydirectoryflags",
                "securitydirectoryflags_text",
                m.flags(),
                SECURITY_DIRECTORY_NAMES,
                &[
                    ("unused5", 0x1f),
                    ("etp", 0x20),
                    ("whenissued", 0x40),
                    ("testsecurity", 0x80),
                ],
            );
            f("roundlotsize", Uint(m.round_lot_size().into()));
            f("adjustedpocprice", Price(m.adjusted_poc_price()));
            f("luldtier", Uint(m.luld_tier().into()));
        }
        Message::TradingStatus(m) => {
            f("tradingstatus", Char(m.trading_status()));
            f("reason", Text(trim_alpha(m.reason())));
        }
        Message::RetailLiquidityIndicator(m) => f(
            "retailliquidityindicator",
            Char(m.retail_liquidity_indicator()),
        ),
        Message::OperationalHaltStatus(m) => {
            f("operationalhaltstatus", Char(m.operational_halt_status()))
        }
        Message::ShortSalePriceTestStatus(m) => {
            f(
                "shortsalepriceteststatus",
                Uint(m.short_sale_price_test_status().into()),
            );
            f("detail", Char(m.detail()));
        }
        Message::SecurityEvent(m) => f("securityevent", Char(m.security_event())),
        Message::QuoteUpdate(m) => {
            flags(
                &mut f,
                "quoteupdateflags",
                "quoteupdateflags_text",
                m.flags(),
                QUOTE_UPDATE_NAMES,
                &[
                    ("unused6", 0x3f),
                    ("marketsession", 0x40),
                    ("symbolavailability", 0x80),
                ],
            );
            f("bidsize", Uint(m.bid_size().into()));
            f("bidprice", Price(m.bid_price()));
            f("askprice", Price(m.ask_price()));
            f("asksize", Uint(m.ask_size().into()));
        }
        Message::PriceLevelUpdate(m) => {
            f("eventflags", Uint(m.event_flags().into()));
            f("shares", Uint(m.size().into()));
            f("price", Price(m.price()));
        }
        Message::TradeReport(m) => {
            sale_conditions(&mut f, m.sale_condition_flags());
            f("shares", Uint(m.size().into()));
            f("price", Price(m.price()));
            f("match_number", Uint(m.trade_id()));
        }
        Message::OfficialPrice(m) => {
            f("pricetype", Char(m.price_type()));
            f("officialprice", Price(m.official_price()));
        }
        Message::TradeBreak(m) => {
            sale_conditions(&mut f, m.sale_condition_flags());
            f("shares", Uint(m.size().into()));
            f("price", Price(m.price()));
            f("match_number", Uint(m.trade_id()));
        }
        Message::AuctionInformation(m) => {
            f("auctiontype", Char(m.auction_type()));
            f("pairedshares", Uint(m.paired_shares().into()));
            f("referenceprice", Price(m.reference_price()));
            f(
                "indicativeclearingprice",
                Price(m.indicative_clearing_price()),
            );
            f("imbalanceshares", Uint(m.imbalance_shares().into()));
            f("imbalanceside", Char(m.imbalance_side()));
            f("extensionnumber", Char(m.extension_number()));
            f(
                "scheduledauctiontime",
                Uint(m.scheduled_auction_time().into()),
            );
            f(
                "auctionbookclearingprice",
                Price(m.auction_book_clearing_price()),
            );
            f("collarreferenceprice", Price(m.collar_reference_price()));
            f("lowerauctioncollar", Price(m.lower_auction_collar()));
            f("upperauctioncollar", Price(m.upper_auction_collar()));
        }
        Message::AddOrder(m) => {
            f("side", Char(m.side()));
            f("order_ref", Uint(m.order_id()));
            f("shares", Uint(m.size().into()));
            f("price", Price(m.price()));
        }
        Message::OrderModify(m) => {
            flags(
                &mut f,
                "modifyflags",
                "modifyflags_text",
                m.modify_flags(),
                MODIFY_NAMES,
                &[("unused7", 0x7f), ("priority", 0x80)],
            );
            f("order_ref", Uint(m.order_id()));
            f("shares", Uint(m.size().into()));
            f("price", Price(m.price()));
        }
        Message::OrderDelete(m) => {
            f("reserved1", Char(m.reserved()));
            f("order_ref", Uint(m.order_id()));
        }
        Message::OrderExecuted(m) => {
            sale_conditions(&mut f, m.sale_condition_flags());
            f("order_ref", Uint(m.order_id()));
            f("shares", Uint(m.size().into()));
            f("price", Price(m.price()));
            f("match_number", Uint(m.trade_id()));
        }
        Message::ClearBook(m) => f("reserved1", Char(m.reserved())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_display_matches_dissector_text() {
        let cases = [
            (0, "0"),
            (10_000, "1"),
            (100_000, "10"),
            (99_550, "9.955"),
            (9_998, "0.9998"),
            (1_383_300, "138.33"),
            (422_000, "42.2"),
            (-5, "-0.0005"),
            (-10_000, "-1"),
            (i64::MIN, "-922337203685477.5808"),
        ];
        for (raw, text) in cases {
            assert_eq!(PriceDisplay(raw).to_string(), text, "raw {raw}");
        }
    }

    #[test]
    fn char_and_flag_rendering() {
        assert_eq!(FieldValue::Char(0).to_string(), "");
        assert_eq!(FieldValue::Char(b' ').to_string(), " ");
        assert_eq!(FieldValue::Char(0xff).to_string(), "\u{fffd}");
        assert_eq!(FieldValue::Hex(0x0c).to_string(), "0c");
        let n = FlagNames {
            bits: 0xe8,
            names: SALE_CONDITION_NAMES,
        };
        assert_eq!(
            n.to_string(),
            "Singleprice Cross Trade|Odd Lot|Extended Hours|Intermarket Sweep"
        );
        assert!(!FlagNames {
            bits: 0x07,
            names: SALE_CONDITION_NAMES
        }
        .any());
    }
}
