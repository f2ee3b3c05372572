//! The single source of truth for the NASDAQ TotalView-ITCH 5.0 message layouts.
//!
//! `for_each_itch_message!(callback)` expands to `callback! { ... }` with one entry per message type, in spec order:
//!
//! ```text
//! /// docs
//! ViewName = b'T', spec_len, snake_name {
//!     /// field docs
//!     rust_field: WireType => "dump_name",
//!     ...
//! }
//! ```
//!
//! Every message starts with the common 11-byte [`Header`](super::Header) (type, stock locate, tracking number,
//! 6-byte timestamp); the entries list only the fields after it. `WireType` is one of `u8` (a one-byte
//! alpha/char field), `U16`/`U32`/`U64` (big-endian unsigned integers), `Alpha<N>` (N-byte left-justified,
//! space-padded alpha field), `Price4` (4-byte price, 4 implied decimals) or `Price8` (8-byte price, 8 implied
//! decimals). `dump_name` is the key used by `tickwatch dump`: the oracle CSV column (`order_ref`, `shares`, `price`,
//! `symbol`, `mpid`, `match_number`, ...) when the field maps to one, otherwise the Open-Markets-Initiative dissector
//! field abbreviation (`eventcode`, `marketcategory`, ...). Price fields are dumped as `<dump_name>_raw`.
//!
//! The views (`itch`) and the owned encoder structs (`encode::itch`) are both generated from this table, and the
//! layout test checks each generated view against the spec length stated here and against an independent table of
//! field widths in the test.

/// Invokes `$callback!` with the full ITCH 5.0 message table (see the module docs for the entry syntax).
macro_rules! for_each_itch_message {
    ($callback:ident) => {
        $callback! {
            /// System Event Message (`S`, 12 bytes): start/end of messages, system hours and market hours.
            SystemEvent = b'S', 12, system_event {
                /// Event code: `O` start of messages, `S` start of system hours, `Q` start of market hours,
                /// `M` end of market hours, `E` end of system hours, `C` end of messages.
                event_code: u8 => "eventcode",
            }
            /// Stock Directory (`R`, 39 bytes): one per security at the start of the day.
            StockDirectory = b'R', 39, stock_directory {
                /// Stock symbol, right-padded with spaces.
                stock: Alpha<8> => "symbol",
                /// Listing market category (`Q`, `G`, `S`, `N`, `A`, `P`, `Z`, `V`, ` `).
                market_category: u8 => "marketcategory",
                /// Financial status indicator (Nasdaq-listed only; ` ` otherwise).
                financial_status_indicator: u8 => "financialstatusindicator",
                /// Round lot size in shares.
                round_lot_size: U32 => "roundlotsize",
                /// `Y` if only round lots are accepted.
                round_lots_only: u8 => "roundlotsonly",
                /// Issue classification.
                issue_classification: u8 => "issueclassification",
                /// Issue sub-type (2 characters).
                issue_sub_type: Alpha<2> => "issuesubtype",
                /// `P` live/production, `T` test.
                authenticity: u8 => "authenticity",
                /// Reg SHO short sale threshold indicator (`Y`, `N`, ` `).
                short_sale_threshold_indicator: u8 => "shortsalethresholdindicator",
                /// IPO flag (`Y`, `N`, ` `).
                ipo_flag: u8 => "ipoflag",
                /// LULD reference price tier (`1`, `2`, ` `).
                luld_reference_price_tier: u8 => "luldreferencepricetier",
                /// ETP flag (`Y`, `N`, ` `).
                etp_flag: u8 => "etpflag",
                /// ETP leverage factor.
                etp_leverage_factor: U32 => "etpleveragefactor",
                /// Inverse ETP indicator (`Y`, `N`).
                inverse_indicator: u8 => "inverseindicator",
            }
            /// Stock Trading Action (`H`, 25 bytes): halted / paused / quotation-only / trading.
            StockTradingAction = b'H', 25, stock_trading_action {
                /// Stock symbol.
                stock: Alpha<8> => "symbol",
                /// `H` halted, `P` paused, `Q` quotation only, `T` trading.
                trading_state: u8 => "tradingstate",
                /// Reserved.
                reserved: u8 => "reserved",
                /// Trading action reason (4 characters).
                reason: Alpha<4> => "reason",
            }
            /// Reg SHO Short Sale Price Test Restricted Indicator (`Y`, 20 bytes). The header's stock locate is the
            /// "locate code".
            RegShoRestriction = b'Y', 20, reg_sho_restriction {
                /// Stock symbol.
                stock: Alpha<8> => "symbol",
                /// `0` no price test, `1` restriction intraday drop, `2` restriction remains.
                reg_sho_action: u8 => "regshoaction",
            }
            /// Market Participant Position (`L`, 26 bytes).
            MarketParticipantPosition = b'L', 26, market_participant_position {
                /// Market participant identifier (4 characters).
                mpid: Alpha<4> => "mpid",
                /// Stock symbol.
                stock: Alpha<8> => "symbol",
                /// `Y` primary market maker.
                primary_market_maker: u8 => "primarymarketmaker",
                /// Market maker mode (`N`, `P`, `S`, `R`, `L`).
                market_maker_mode: u8 => "marketmakermode",
                /// Market participant state (`A`, `E`, `W`, `S`, `D`).
                market_participant_state: u8 => "marketparticipantstate",
            }
            /// MWCB Decline Level (`V`, 35 bytes): market-wide circuit breaker levels, 8 implied decimals.
            MwcbDeclineLevel = b'V', 35, mwcb_decline_level {
                /// Level 1 (8 implied decimals).
                level1: Price8 => "level1",
                /// Level 2 (8 implied decimals).
                level2: Price8 => "level2",
                /// Level 3 (8 implied decimals).
                level3: Price8 => "level3",
            }
            /// MWCB Status (`W`, 12 bytes): a circuit breaker level was breached.
            MwcbStatus = b'W', 12, mwcb_status {
                /// Breached level (`1`, `2`, `3`).
                breached_level: u8 => "breachedlevel",
            }
            /// IPO Quoting Period Update (`K`, 28 bytes).
            IpoQuotingPeriodUpdate = b'K', 28, ipo_quoting_period_update {
                /// Stock symbol.
                stock: Alpha<8> => "symbol",
                /// IPO quotation release time, seconds since midnight.
                ipo_quotation_release_time: U32 => "ipoquotationreleasetime",
                /// `A` anticipated release time, `C` canceled/postponed.
                ipo_quotation_release_qualifier: u8 => "ipoquotationreleasequalifier",
                /// IPO price (4 implied decimals).
                ipo_price: Price4 => "ipoprice",
            }
            /// LULD Auction Collar (`J`, 35 bytes).
            LuldAuctionCollar = b'J', 35, luld_auction_collar {
                /// Stock symbol.
                stock: Alpha<8> => "symbol",
                /// Auction collar reference price (4 implied decimals).
                auction_collar_reference_price: Price4 => "auctioncollarreferenceprice",
                /// Upper auction collar price (4 implied decimals).
                upper_auction_collar_price: Price4 => "upperauctioncollarprice",
                /// Lower auction collar price (4 implied decimals).
                lower_auction_collar_price: Price4 => "lowerauctioncollarprice",
                /// Number of auction collar extensions.
                auction_collar_extension: U32 => "auctioncollarextension",
            }
            /// Operational Halt (`h`, 21 bytes).
            OperationalHalt = b'h', 21, operational_halt {
                /// Stock symbol.
                stock: Alpha<8> => "symbol",
                /// `Q` Nasdaq, `B` BX, `X` PSX.
                market_code: u8 => "marketcode",
                /// `H` halted, `T` resumed.
                operational_halt_action: u8 => "operationalhaltaction",
            }
            /// Add Order, no MPID attribution (`A`, 36 bytes).
            AddOrder = b'A', 36, add_order {
                /// Order reference number (unique for the day).
                order_ref: U64 => "order_ref",
                /// `B` buy, `S` sell.
                side: u8 => "side",
                /// Displayed shares.
                shares: U32 => "shares",
                /// Stock symbol.
                stock: Alpha<8> => "symbol",
                /// Display price (4 implied decimals).
                price: Price4 => "price",
            }
            /// Add Order with MPID attribution (`F`, 40 bytes).
            AddOrderMpid = b'F', 40, add_order_mpid {
                /// Order reference number.
                order_ref: U64 => "order_ref",
                /// `B` buy, `S` sell.
                side: u8 => "side",
                /// Displayed shares.
                shares: U32 => "shares",
                /// Stock symbol.
                stock: Alpha<8> => "symbol",
                /// Display price (4 implied decimals).
                price: Price4 => "price",
                /// Market participant identifier of the entering firm.
                attribution: Alpha<4> => "mpid",
            }
            /// Order Executed (`E`, 31 bytes): executed at the order's display price.
            OrderExecuted = b'E', 31, order_executed {
                /// Order reference number.
                order_ref: U64 => "order_ref",
                /// Executed shares.
                executed_shares: U32 => "shares",
                /// Match number (unique for the day).
                match_number: U64 => "match_number",
            }
            /// Order Executed With Price (`C`, 36 bytes): executed at a price other than the display price.
            OrderExecutedWithPrice = b'C', 36, order_executed_with_price {
                /// Order reference number.
                order_ref: U64 => "order_ref",
                /// Executed shares.
                executed_shares: U32 => "shares",
                /// Match number.
                match_number: U64 => "match_number",
                /// `Y` printable (counts toward volume), `N` not.
                printable: u8 => "printable",
                /// Execution price (4 implied decimals).
                execution_price: Price4 => "price",
            }
            /// Order Cancel (`X`, 23 bytes): partial cancellation.
            OrderCancel = b'X', 23, order_cancel {
                /// Order reference number.
                order_ref: U64 => "order_ref",
                /// Shares removed from the order.
                cancelled_shares: U32 => "shares",
            }
            /// Order Delete (`D`, 19 bytes).
            OrderDelete = b'D', 19, order_delete {
                /// Order reference number.
                order_ref: U64 => "order_ref",
            }
            /// Order Replace (`U`, 35 bytes): cancel the original order and add a new one at its priority rules.
            OrderReplace = b'U', 35, order_replace {
                /// Reference number of the order being replaced.
                original_order_ref: U64 => "order_ref",
                /// Reference number of the new order.
                new_order_ref: U64 => "new_order_ref",
                /// New displayed shares.
                shares: U32 => "shares",
                /// New display price (4 implied decimals).
                price: Price4 => "price",
            }
            /// Trade, non-cross (`P`, 44 bytes): execution of a non-displayed order.
            Trade = b'P', 44, trade {
                /// Order reference number (Nasdaq sends 0).
                order_ref: U64 => "order_ref",
                /// `B` buy, `S` sell.
                side: u8 => "side",
                /// Shares.
                shares: U32 => "shares",
                /// Stock symbol.
                stock: Alpha<8> => "symbol",
                /// Price (4 implied decimals).
                price: Price4 => "price",
                /// Match number.
                match_number: U64 => "match_number",
            }
            /// Cross Trade (`Q`, 40 bytes).
            CrossTrade = b'Q', 40, cross_trade {
                /// Shares matched in the cross (8 bytes in ITCH 5.0).
                shares: U64 => "shares",
                /// Stock symbol.
                stock: Alpha<8> => "symbol",
                /// Cross price (4 implied decimals).
                cross_price: Price4 => "price",
                /// Match number.
                match_number: U64 => "match_number",
                /// `O` opening, `C` closing, `H` IPO/halted, `I` intraday/extended.
                cross_type: u8 => "crosstype",
            }
            /// Broken Trade / Order Execution (`B`, 19 bytes).
            BrokenTrade = b'B', 19, broken_trade {
                /// Match number of the broken execution.
                match_number: U64 => "match_number",
            }
            /// Net Order Imbalance Indicator (`I`, 50 bytes).
            Noii = b'I', 50, noii {
                /// Paired shares.
                paired_shares: U64 => "pairedshares",
                /// Imbalance shares.
                imbalance_shares: U64 => "imbalanceshares",
                /// `B` buy, `S` sell, `N` none, `O` insufficient orders.
                imbalance_direction: u8 => "imbalancedirection",
                /// Stock symbol.
                stock: Alpha<8> => "symbol",
                /// Far price (4 implied decimals).
                far_price: Price4 => "farprice",
                /// Near price (4 implied decimals).
                near_price: Price4 => "nearprice",
                /// Current reference price (4 implied decimals).
                current_reference_price: Price4 => "currentreferenceprice",
                /// `O` opening, `C` closing, `H` IPO/halted, `A` extended trading close.
                cross_type: u8 => "crosstype",
                /// Price variation indicator.
                price_variation_indicator: u8 => "pricevariationindicator",
            }
            /// Retail Price Improvement Indicator (`N`, 20 bytes).
            RetailInterest = b'N', 20, retail_interest {
                /// Stock symbol.
                stock: Alpha<8> => "symbol",
                /// `B` buy side, `S` sell side, `A` both, `N` none.
                interest_flag: u8 => "interestflag",
            }
            /// Direct Listing with Capital Raise Price Discovery (`O`, 48 bytes).
            DirectListingCapitalRaise = b'O', 48, direct_listing_capital_raise {
                /// Stock symbol.
                stock: Alpha<8> => "symbol",
                /// `N` not eligible, `Y` eligible.
                open_eligibility_status: u8 => "openeligibilitystatus",
                /// Minimum allowable price (4 implied decimals).
                minimum_allowable_price: Price4 => "minimumallowableprice",
                /// Maximum allowable price (4 implied decimals).
                maximum_allowable_price: Price4 => "maximumallowableprice",
                /// Near execution price (4 implied decimals).
                near_execution_price: Price4 => "nearexecutionprice",
                /// Near execution time, ns since midnight.
                near_execution_time: U64 => "nearexecutiontime",
                /// Lower price range collar (4 implied decimals).
                lower_price_range_collar: Price4 => "lowerpricerangecollar",
                /// Upper price range collar (4 implied decimals).
                upper_price_range_collar: Price4 => "upperpricerangecollar",
            }
        }
    };
}

pub(crate) use for_each_itch_message;
