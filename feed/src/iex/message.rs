//! Zerocopy views of every IEX TOPS 1.6, DEEP 1.0 and DEEP+ 1.0 message, and [`decode`].
//!
//! Every message starts with its type byte at offset 0, a one-byte type-specific field (flags, status, side or
//! reserved) at offset 1 and an 8-byte timestamp (ns since the Unix epoch) at offset 2; all but the System Event
//! carry an 8-byte space-padded symbol at offset 10. Integers are little endian; prices are signed 8-byte integers
//! with 4 implied decimals (`1_000_000` = $100.00). Sizes below are the spec's "total message data length",
//! type byte included, i.e. the block's length prefix.
//!
//! | type | view | TOPS | DEEP | DEEP+ | bytes |
//! |---|---|:-:|:-:|:-:|--:|
//! | `S` | [`SystemEvent`] | x | x | x | 10 |
//! | `D` | [`SecurityDirectory`] | x | x | x | 31 |
//! | `H` | [`TradingStatus`] | x | x | x | 22 |
//! | `I` | [`RetailLiquidityIndicator`] | x | x | x | 18 |
//! | `O` | [`OperationalHaltStatus`] | x | x | x | 18 |
//! | `P` | [`ShortSalePriceTestStatus`] | x | x | x | 19 |
//! | `E` | [`SecurityEvent`] | x | x | x | 18 |
//! | `Q` | [`QuoteUpdate`] | x | | | 42 |
//! | `8` `5` | [`PriceLevelUpdate`] (buy / sell) | | x | | 30 |
//! | `T` | [`TradeReport`] | x | x | x | 38 |
//! | `X` | [`OfficialPrice`] | x | x | | 26 |
//! | `B` | [`TradeBreak`] | x | x | x | 38 |
//! | `A` | [`AuctionInformation`] | x | x | | 80 |
//! | `a` | [`AddOrder`] | | | x | 38 |
//! | `M` | [`OrderModify`] | | | x | 38 |
//! | `R` | [`OrderDelete`] | | | x | 26 |
//! | `L` | [`OrderExecuted`] | | | x | 46 |
//! | `C` | [`ClearBook`] | | | x | 18 |

use zerocopy::little_endian::{I64, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::{trim_alpha, Protocol};

macro_rules! wire_ty {
    (u8) => {
        u8
    };
    (u32) => {
        U32
    };
    (u64) => {
        U64
    };
    (i64) => {
        I64
    };
    (price) => {
        I64
    };
    (alpha8) => {
        [u8; 8]
    };
    (alpha4) => {
        [u8; 4]
    };
}

macro_rules! native_ty {
    (u8) => {
        u8
    };
    (u32) => {
        u32
    };
    (u64) => {
        u64
    };
    (i64) => {
        i64
    };
    (price) => {
        i64
    };
    (alpha8) => {
        &[u8; 8]
    };
    (alpha4) => {
        &[u8; 4]
    };
}

macro_rules! read_field {
    (u8, $e:expr) => {
        $e
    };
    (alpha8, $e:expr) => {
        &$e
    };
    (alpha4, $e:expr) => {
        &$e
    };
    ($other:ident, $e:expr) => {
        $e.get()
    };
}

/// Declares a message view: a `repr(C)` zerocopy struct starting with the type byte, one accessor per field
/// returning the native value, and `SPEC_LEN`.
macro_rules! iex_view {
    ($(
        $(#[$doc:meta])*
        $name:ident, $len:literal {
            $( $(#[$fdoc:meta])* $field:ident: $kind:ident, )*
        }
    )*) => {$(
        $(#[$doc])*
        #[derive(Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
        #[repr(C)]
        pub struct $name {
            message_type: u8,
            $( $field: wire_ty!($kind), )*
        }

        impl $name {
            /// Length of the message as the spec defines it, type byte included.
            pub const SPEC_LEN: usize = $len;

            /// The message type byte.
            #[inline]
            pub fn message_type(&self) -> u8 {
                self.message_type
            }

            $(
                $(#[$fdoc])*
                #[inline]
                pub fn $field(&self) -> native_ty!($kind) {
                    read_field!($kind, self.$field)
                }
            )*
        }
    )*};
}

iex_view! {
    /// System Event (`S`, 10 bytes): start/end of messages, system hours and regular market hours.
    SystemEvent, 10 {
        /// `O` start of messages, `S` start of system hours, `R` start of regular market hours, `M` end of regular
        /// market hours, `E` end of system hours, `C` end of messages.
        system_event: u8,
        /// Time of the event, ns since the Unix epoch.
        timestamp: i64,
    }

    /// Security Directory (`D`, 31 bytes): reference data of one security (pre-market spin and changes).
    SecurityDirectory, 31 {
        /// Flags: `0x80` test security, `0x40` when issued, `0x20` ETP.
        flags: u8,
        /// Time of the information, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol (Nasdaq integrated symbology), space padded.
        symbol: alpha8,
        /// Shares per round lot.
        round_lot_size: u32,
        /// Corporate-action adjusted previous official closing price (4 implied decimals).
        adjusted_poc_price: price,
        /// LULD tier: 0 not applicable, 1 tier 1, 2 tier 2.
        luld_tier: u8,
    }

    /// Trading Status (`H`, 22 bytes).
    TradingStatus, 22 {
        /// `H` halted, `O` halt released into an order acceptance period, `P` paused, `T` trading.
        trading_status: u8,
        /// Time of the status change, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
        /// Reason (`T1`, `IPO1`, `MCB3`, `NA`, ...), space padded; blank for `T` and `P`.
        reason: alpha4,
    }

    /// Retail Liquidity Indicator (`I`, 18 bytes).
    RetailLiquidityIndicator, 18 {
        /// ` ` not applicable, `A` buy interest, `B` sell interest, `C` buy and sell interest.
        retail_liquidity_indicator: u8,
        /// Time of the update, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
    }

    /// Operational Halt Status (`O`, 18 bytes).
    OperationalHaltStatus, 18 {
        /// `O` operationally halted on IEX, `N` not halted.
        operational_halt_status: u8,
        /// Time of the status, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
    }

    /// Short Sale Price Test Status (`P`, 19 bytes), Reg SHO Rule 201.
    ShortSalePriceTestStatus, 19 {
        /// 0 not in effect, 1 in effect (a binary value, not a character).
        short_sale_price_test_status: u8,
        /// Time of the status, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
        /// ` ` no test, `A` activated, `C` continued, `D` deactivated, `N` detail not available.
        detail: u8,
    }

    /// Security Event (`E`, 18 bytes): opening or closing process complete for a security.
    SecurityEvent, 18 {
        /// `O` opening process complete, `C` closing process complete.
        security_event: u8,
        /// Time of the event, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
    }

    /// Quote Update (`Q`, 42 bytes, TOPS): IEX best bid and offer.
    QuoteUpdate, 42 {
        /// Flags: `0x80` symbol halted / not available, `0x40` pre/post-market session.
        flags: u8,
        /// Time of the update, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
        /// Aggregate size at the best bid.
        bid_size: u32,
        /// Best bid price (4 implied decimals).
        bid_price: price,
        /// Best ask price (4 implied decimals).
        ask_price: price,
        /// Aggregate size at the best ask.
        ask_size: u32,
    }

    /// Price Level Update (`8` buy side, `5` sell side; 30 bytes, DEEP): the aggregate displayed size at one price.
    /// A size of 0 removes the level.
    PriceLevelUpdate, 30 {
        /// Event flags: 1 = event processing complete (last update of an atomic batch), 0 = the book is in
        /// transition (more updates of the same event follow). See [`PriceLevelUpdate::ends_batch`].
        event_flags: u8,
        /// Time of the update, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
        /// Aggregate displayed size at the price level (0 = level removed).
        size: u32,
        /// Price of the level (4 implied decimals).
        price: price,
    }

    /// Trade Report (`T`, 38 bytes; the DEEP+ "Trade Message" has the same layout).
    TradeReport, 38 {
        /// Sale condition flags, see [`SaleConditions`].
        sale_condition_flags: u8,
        /// Time of the trade, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
        /// Trade volume.
        size: u32,
        /// Trade price (4 implied decimals).
        price: price,
        /// IEX trade id.
        trade_id: u64,
    }

    /// Official Price (`X`, 26 bytes, TOPS and DEEP): IEX official opening or closing price of an IEX-listed security.
    OfficialPrice, 26 {
        /// `Q` official opening price, `M` official closing price.
        price_type: u8,
        /// Time of the price, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
        /// Official price (4 implied decimals).
        official_price: price,
    }

    /// Trade Break (`B`, 38 bytes): an execution on IEX was broken the same day.
    TradeBreak, 38 {
        /// Sale condition flags of the broken trade, see [`SaleConditions`].
        sale_condition_flags: u8,
        /// Time of the break, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
        /// Broken volume.
        size: u32,
        /// Broken price (4 implied decimals).
        price: price,
        /// Trade id of the trade that was broken.
        trade_id: u64,
    }

    /// Auction Information (`A`, 80 bytes, TOPS and DEEP): IEX auction imbalance information.
    AuctionInformation, 80 {
        /// `O` opening, `C` closing, `I` IPO, `H` halt, `V` volatility auction.
        auction_type: u8,
        /// Time of the information, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
        /// Shares paired at the reference price.
        paired_shares: u32,
        /// Reference price (4 implied decimals).
        reference_price: price,
        /// Indicative clearing price (4 implied decimals).
        indicative_clearing_price: price,
        /// Imbalance shares at the reference price.
        imbalance_shares: u32,
        /// `B` buy-side imbalance, `S` sell-side, `N` none.
        imbalance_side: u8,
        /// Number of extensions of the auction.
        extension_number: u8,
        /// Projected auction time, seconds since the Unix epoch.
        scheduled_auction_time: u32,
        /// Clearing price using eligible auction orders only (4 implied decimals).
        auction_book_clearing_price: price,
        /// Reference price for the auction collars (4 implied decimals).
        collar_reference_price: price,
        /// Lower auction collar (4 implied decimals).
        lower_auction_collar: price,
        /// Upper auction collar (4 implied decimals).
        upper_auction_collar: price,
    }

    /// Add Order (`a`, 38 bytes, DEEP+): a displayed order was added to the book.
    AddOrder, 38 {
        /// `8` buy, `5` sell; see [`AddOrder::side_enum`].
        side: u8,
        /// Time of the order, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
        /// Order id (referenced by later M, R and L messages).
        order_id: u64,
        /// Displayed size.
        size: u32,
        /// Booking price (4 implied decimals).
        price: price,
    }

    /// Order Modify (`M`, 38 bytes, DEEP+): a displayed order's price, size or priority changed. The order keeps
    /// its id.
    OrderModify, 38 {
        /// Modify flags: the priority bit says whether the order kept its time priority (see
        /// [`OrderModify::maintains_priority`]).
        modify_flags: u8,
        /// Time of the modification, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
        /// Id of the modified order.
        order_id: u64,
        /// New total displayed size.
        size: u32,
        /// New booking price (4 implied decimals).
        price: price,
    }

    /// Order Delete (`R`, 26 bytes, DEEP+): a displayed order left the book.
    OrderDelete, 26 {
        /// Reserved byte.
        reserved: u8,
        /// Time of the deletion, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
        /// Id of the deleted order.
        order_id: u64,
    }

    /// Order Executed (`L`, 46 bytes, DEEP+): a displayed order was executed against (remove it when its remaining
    /// size reaches 0).
    OrderExecuted, 46 {
        /// Sale condition flags, see [`SaleConditions`].
        sale_condition_flags: u8,
        /// Time of the execution, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
        /// Id of the executed order.
        order_id: u64,
        /// Executed size.
        size: u32,
        /// Execution price (4 implied decimals; may differ from the booked price).
        price: price,
        /// IEX trade id.
        trade_id: u64,
    }

    /// Clear Book (`C`, 18 bytes, DEEP+): every order of the symbol left the book.
    ClearBook, 18 {
        /// Reserved byte.
        reserved: u8,
        /// Time of the clear, ns since the Unix epoch.
        timestamp: i64,
        /// Symbol, space padded.
        symbol: alpha8,
    }
}

/// Side of a DEEP price level or a DEEP+ order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Buy (`8` on the wire).
    Buy,
    /// Sell (`5` on the wire).
    Sell,
}

impl Side {
    /// The side for an IEX side byte (`8` buy, `5` sell).
    #[inline]
    pub const fn from_byte(b: u8) -> Option<Side> {
        match b {
            b'8' => Some(Side::Buy),
            b'5' => Some(Side::Sell),
            _ => None,
        }
    }

    /// The IEX side byte.
    #[inline]
    pub const fn as_byte(self) -> u8 {
        match self {
            Side::Buy => b'8',
            Side::Sell => b'5',
        }
    }
}

impl PriceLevelUpdate {
    /// Side of the level, from the message type (`8` buy, `5` sell).
    #[inline]
    pub fn side(&self) -> Side {
        if self.message_type == b'5' {
            Side::Sell
        } else {
            Side::Buy
        }
    }

    /// True when this update completes an atomic book event (event flags bit `0x01`): the book is consistent
    /// after applying it. Updates with the flag clear are intermediate and should not be published as a BBO.
    #[inline]
    pub fn ends_batch(&self) -> bool {
        self.event_flags & 0x01 != 0
    }
}

impl AddOrder {
    /// Side of the order, `None` for a byte other than `8`/`5`.
    #[inline]
    pub fn side_enum(&self) -> Option<Side> {
        Side::from_byte(self.side)
    }
}

impl OrderModify {
    /// True if the modified order kept its time priority.
    ///
    /// The DEEP+ specification (1.02) names the priority flag "Bit 0" of the modify flags (1 = maintain priority,
    /// 0 = reset) while its other flag tables number bits from the least significant (bit 7 = `0x80`); the
    /// Open-Markets-Initiative dissector reads the flag from `0x80` instead. We follow the specification's
    /// numbering (`0x01`); [`OrderModify::modify_flags`] gives the raw byte.
    #[inline]
    pub fn maintains_priority(&self) -> bool {
        self.modify_flags & 0x01 != 0
    }
}

/// Sale condition flags of trades, trade breaks and DEEP+ order executions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SaleConditions(pub u8);

impl SaleConditions {
    /// `0x80` Intermarket sweep order.
    pub const INTERMARKET_SWEEP: u8 = 0x80;
    /// `0x40` Extended hours (Form T).
    pub const EXTENDED_HOURS: u8 = 0x40;
    /// `0x20` Odd lot.
    pub const ODD_LOT: u8 = 0x20;
    /// `0x10` Trade-through exempt (not subject to Reg NMS Rule 611).
    pub const TRADE_THROUGH_EXEMPT: u8 = 0x10;
    /// `0x08` Single-price cross trade (TOPS 1.6 and later; unused in TOPS 1.5).
    pub const SINGLE_PRICE_CROSS: u8 = 0x08;

    /// Trade resulted from an ISO.
    #[inline]
    pub fn intermarket_sweep(self) -> bool {
        self.0 & Self::INTERMARKET_SWEEP != 0
    }
    /// Trade outside the regular market session.
    #[inline]
    pub fn extended_hours(self) -> bool {
        self.0 & Self::EXTENDED_HOURS != 0
    }
    /// Trade of less than one round lot.
    #[inline]
    pub fn odd_lot(self) -> bool {
        self.0 & Self::ODD_LOT != 0
    }
    /// Trade not subject to the trade-through rule.
    #[inline]
    pub fn trade_through_exempt(self) -> bool {
        self.0 & Self::TRADE_THROUGH_EXEMPT != 0
    }
    /// Trade from a single-price cross (auction).
    #[inline]
    pub fn single_price_cross(self) -> bool {
        self.0 & Self::SINGLE_PRICE_CROSS != 0
    }
    /// Eligible to update last sale and high/low (not extended hours, not odd lot).
    #[inline]
    pub fn last_sale_eligible(self) -> bool {
        !self.extended_hours() && !self.odd_lot()
    }
}

impl TradeReport {
    /// Sale conditions as a typed value.
    #[inline]
    pub fn sale_conditions(&self) -> SaleConditions {
        SaleConditions(self.sale_condition_flags)
    }
}

impl TradeBreak {
    /// Sale conditions as a typed value.
    #[inline]
    pub fn sale_conditions(&self) -> SaleConditions {
        SaleConditions(self.sale_condition_flags)
    }
}

impl OrderExecuted {
    /// Sale conditions as a typed value.
    #[inline]
    pub fn sale_conditions(&self) -> SaleConditions {
        SaleConditions(self.sale_condition_flags)
    }
}

/// A decoded IEX message: a borrowed view into the packet. `Copy`, two words. Equality compares the viewed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// `S`
    SystemEvent(&'a SystemEvent),
    /// `D`
    SecurityDirectory(&'a SecurityDirectory),
    /// `H`
    TradingStatus(&'a TradingStatus),
    /// `I`
    RetailLiquidityIndicator(&'a RetailLiquidityIndicator),
    /// `O`
    OperationalHaltStatus(&'a OperationalHaltStatus),
    /// `P`
    ShortSalePriceTestStatus(&'a ShortSalePriceTestStatus),
    /// `E`
    SecurityEvent(&'a SecurityEvent),
    /// `Q` (TOPS)
    QuoteUpdate(&'a QuoteUpdate),
    /// `8` / `5` (DEEP)
    PriceLevelUpdate(&'a PriceLevelUpdate),
    /// `T`
    TradeReport(&'a TradeReport),
    /// `X` (TOPS, DEEP)
    OfficialPrice(&'a OfficialPrice),
    /// `B`
    TradeBreak(&'a TradeBreak),
    /// `A` (TOPS, DEEP)
    AuctionInformation(&'a AuctionInformation),
    /// `a` (DEEP+)
    AddOrder(&'a AddOrder),
    /// `M` (DEEP+)
    OrderModify(&'a OrderModify),
    /// `R` (DEEP+)
    OrderDelete(&'a OrderDelete),
    /// `L` (DEEP+)
    OrderExecuted(&'a OrderExecuted),
    /// `C` (DEEP+)
    ClearBook(&'a ClearBook),
}

/// Why a message block could not be decoded. Small and `Copy`: the hot path counts these, it does not log them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The block is empty.
    #[error("empty message")]
    Empty,
    /// The type byte is not a message of this protocol.
    #[error("unknown {protocol} message type 0x{message_type:02x}")]
    UnknownType {
        /// Protocol the packet declared.
        protocol: Protocol,
        /// The type byte.
        message_type: u8,
    },
    /// The block is shorter than the message's spec length.
    #[error("{protocol} message '{}' of {len} bytes is shorter than its {need}-byte layout", *message_type as char)]
    TooShort {
        /// Protocol the packet declared.
        protocol: Protocol,
        /// The type byte.
        message_type: u8,
        /// Bytes present.
        len: usize,
        /// Spec length.
        need: usize,
    },
}

impl Protocol {
    /// The message types [`decode`] accepts for this protocol, with their spec lengths (type byte included), in
    /// the order of the protocol's specification. For generators and tests.
    pub const fn message_types(self) -> &'static [(u8, usize)] {
        /// The administrative messages every protocol shares, then `$ty => $view` pairs.
        macro_rules! types {
            ($($ty:literal => $view:ident),* $(,)?) => {
                [
                    (b'S', SystemEvent::SPEC_LEN),
                    (b'D', SecurityDirectory::SPEC_LEN),
                    (b'H', TradingStatus::SPEC_LEN),
                    (b'I', RetailLiquidityIndicator::SPEC_LEN),
                    (b'O', OperationalHaltStatus::SPEC_LEN),
                    (b'P', ShortSalePriceTestStatus::SPEC_LEN),
                    (b'E', SecurityEvent::SPEC_LEN),
                    $(($ty, $view::SPEC_LEN)),*
                ]
            };
        }
        const TOPS: [(u8, usize); 12] = types![
            b'Q' => QuoteUpdate, b'T' => TradeReport, b'X' => OfficialPrice, b'B' => TradeBreak,
            b'A' => AuctionInformation,
        ];
        const DEEP: [(u8, usize); 13] = types![
            b'8' => PriceLevelUpdate, b'5' => PriceLevelUpdate, b'T' => TradeReport, b'X' => OfficialPrice,
            b'B' => TradeBreak, b'A' => AuctionInformation,
        ];
        const DEEP_PLUS: [(u8, usize); 14] = types![
            b'a' => AddOrder, b'M' => OrderModify, b'R' => OrderDelete, b'L' => OrderExecuted,
            b'T' => TradeReport, b'B' => TradeBreak, b'C' => ClearBook,
        ];
        match self {
            Protocol::Tops => &TOPS,
            Protocol::Deep => &DEEP,
            Protocol::DeepPlus => &DEEP_PLUS,
        }
    }
}

/// Decodes one message (the bytes of a block, type byte first) of `protocol`. Never allocates, never panics.
///
/// A message longer than its layout decodes (IEX may append fields); a shorter one or a type byte the protocol does
/// not define is an error.
#[inline]
pub fn decode(protocol: Protocol, bytes: &[u8]) -> Result<Message<'_>, DecodeError> {
    let Some(&message_type) = bytes.first() else {
        return Err(DecodeError::Empty);
    };
    macro_rules! view {
        ($variant:ident) => {
            match $variant::ref_from_prefix(bytes) {
                Ok((m, _)) => Ok(Message::$variant(m)),
                Err(_) => Err(DecodeError::TooShort {
                    protocol,
                    message_type,
                    len: bytes.len(),
                    need: $variant::SPEC_LEN,
                }),
            }
        };
    }
    use Protocol::{Deep, DeepPlus, Tops};
    match (message_type, protocol) {
        (b'S', _) => view!(SystemEvent),
        (b'D', _) => view!(SecurityDirectory),
        (b'H', _) => view!(TradingStatus),
        (b'I', _) => view!(RetailLiquidityIndicator),
        (b'O', _) => view!(OperationalHaltStatus),
        (b'P', _) => view!(ShortSalePriceTestStatus),
        (b'E', _) => view!(SecurityEvent),
        (b'T', _) => view!(TradeReport),
        (b'B', _) => view!(TradeBreak),
        (b'8' | b'5', Deep) => view!(PriceLevelUpdate),
        (b'Q', Tops) => view!(QuoteUpdate),
        (b'X', Tops | Deep) => view!(OfficialPrice),
        (b'A', Tops | Deep) => view!(AuctionInformation),
        (b'a', DeepPlus) => view!(AddOrder),
        (b'M', DeepPlus) => view!(OrderModify),
        (b'R', DeepPlus) => view!(OrderDelete),
        (b'L', DeepPlus) => view!(OrderExecuted),
        (b'C', DeepPlus) => view!(ClearBook),
        _ => Err(DecodeError::UnknownType {
            protocol,
            message_type,
        }),
    }
}

/// Applies `$body` to the view inside any `Message` variant, bound to `$m`.
macro_rules! with_view {
    ($msg:expr, $m:ident => $body:expr) => {
        match $msg {
            Message::SystemEvent($m) => $body,
            Message::SecurityDirectory($m) => $body,
            Message::TradingStatus($m) => $body,
            Message::RetailLiquidityIndicator($m) => $body,
            Message::OperationalHaltStatus($m) => $body,
            Message::ShortSalePriceTestStatus($m) => $body,
            Message::SecurityEvent($m) => $body,
            Message::QuoteUpdate($m) => $body,
            Message::PriceLevelUpdate($m) => $body,
            Message::TradeReport($m) => $body,
            Message::OfficialPrice($m) => $body,
            Message::TradeBreak($m) => $body,
            Message::AuctionInformation($m) => $body,
            Message::AddOrder($m) => $body,
            Message::OrderModify($m) => $body,
            Message::OrderDelete($m) => $body,
            Message::OrderExecuted($m) => $body,
            Message::ClearBook($m) => $body,
        }
    };
}

/// Applies `$body` to the view of every variant that has a symbol.
macro_rules! with_symbol_view {
    ($msg:expr, $m:ident => $body:expr, else $none:expr) => {
        match $msg {
            Message::SystemEvent(_) => $none,
            Message::SecurityDirectory($m) => $body,
            Message::TradingStatus($m) => $body,
            Message::RetailLiquidityIndicator($m) => $body,
            Message::OperationalHaltStatus($m) => $body,
            Message::ShortSalePriceTestStatus($m) => $body,
            Message::SecurityEvent($m) => $body,
            Message::QuoteUpdate($m) => $body,
            Message::PriceLevelUpdate($m) => $body,
            Message::TradeReport($m) => $body,
            Message::OfficialPrice($m) => $body,
            Message::TradeBreak($m) => $body,
            Message::AuctionInformation($m) => $body,
            Message::AddOrder($m) => $body,
            Message::OrderModify($m) => $body,
            Message::OrderDelete($m) => $body,
            Message::OrderExecuted($m) => $body,
            Message::ClearBook($m) => $body,
        }
    };
}

impl<'a> Message<'a> {
    /// The message type byte.
    #[inline]
    pub fn message_type(&self) -> u8 {
        with_view!(*self, m => m.message_type)
    }

    /// Timestamp of the message, ns since the Unix epoch.
    #[inline]
    pub fn timestamp(&self) -> i64 {
        with_view!(*self, m => m.timestamp.get())
    }

    /// The 8-byte space-padded symbol; `None` for a System Event.
    #[inline]
    pub fn symbol_raw(&self) -> Option<&'a [u8; 8]> {
        with_symbol_view!(*self, m => Some(&m.symbol), else None)
    }

    /// The symbol with trailing spaces removed; `None` for a System Event.
    #[inline]
    pub fn symbol(&self) -> Option<&'a [u8]> {
        self.symbol_raw().map(|s| trim_alpha(s))
    }

    /// The spec layout length of this message type.
    #[inline]
    pub fn spec_len(&self) -> usize {
        with_view!(*self, m => core::mem::size_of_val(m))
    }

    /// The bytes the view covers (the message's spec-length prefix, type byte first).
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        with_view!(*self, m => m.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_types_are_what_decode_accepts() {
        for p in Protocol::ALL {
            let types = p.message_types();
            for t in 0..=u8::MAX {
                let buf = [t; 128];
                let listed = types.iter().find(|(ty, _)| *ty == t);
                match (decode(p, &buf), listed) {
                    (Ok(m), Some(&(_, len))) => {
                        assert_eq!(m.spec_len(), len, "{p:?} {}", t as char);
                        assert!(decode(p, &buf[..len - 1]).is_err());
                    }
                    (Err(_), None) => {}
                    (r, l) => panic!("{p:?} {}: decode {:?}, listed {l:?}", t as char, r.is_ok()),
                }
            }
        }
    }

    #[test]
    fn decode_rejects_types_outside_the_protocol() {
        let mut add = [0u8; 38];
        add[0] = b'a';
        assert!(matches!(
            decode(Protocol::DeepPlus, &add),
            Ok(Message::AddOrder(_))
        ));
        assert_eq!(
            decode(Protocol::Deep, &add).unwrap_err(),
            DecodeError::UnknownType {
                protocol: Protocol::Deep,
                message_type: b'a'
            }
        );
        let mut q = [0u8; 42];
        q[0] = b'Q';
        assert!(decode(Protocol::Tops, &q).is_ok());
        assert!(decode(Protocol::Deep, &q).is_err());
        assert!(decode(Protocol::DeepPlus, &q).is_err());
        assert_eq!(decode(Protocol::Tops, &[]).unwrap_err(), DecodeError::Empty);
        assert_eq!(
            decode(Protocol::Tops, &q[..41]).unwrap_err(),
            DecodeError::TooShort {
                protocol: Protocol::Tops,
                message_type: b'Q',
                len: 41,
                need: 42
            }
        );
    }

    #[test]
    fn longer_messages_decode_and_ignore_the_tail() {
        let mut s = [0u8; 14];
        s[0] = b'S';
        s[1] = b'O';
        s[2..10].copy_from_slice(&7i64.to_le_bytes());
        let m = decode(Protocol::Deep, &s).unwrap();
        assert_eq!(m.timestamp(), 7);
        assert_eq!(m.bytes().len(), 10);
        assert_eq!(m.symbol(), None);
    }

    #[test]
    fn price_level_side_and_batch_flag() {
        let mut b = [0u8; 30];
        b[0] = b'5';
        b[1] = 0;
        let Ok(Message::PriceLevelUpdate(u)) = decode(Protocol::Deep, &b) else {
            panic!()
        };
        assert_eq!(u.side(), Side::Sell);
        assert!(!u.ends_batch());
        b[0] = b'8';
        b[1] = 1;
        let Ok(Message::PriceLevelUpdate(u)) = decode(Protocol::Deep, &b) else {
            panic!()
        };
        assert_eq!(u.side(), Side::Buy);
        assert!(u.ends_batch());
    }
}
