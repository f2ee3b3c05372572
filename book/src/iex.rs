//! IEX adapter: decoded [`feed::iex::Message`] views (TOPS, DEEP, DEEP+) → [`Books`] calls.
//!
//! IEX names the symbol in every message; the adapter interns it into the book manager's
//! [`SymbolDirectory`](crate::symbol::SymbolDirectory) (a hash lookup of the 8 symbol bytes as one `u64`; a new
//! symbol allocates once) and uses the resulting `u16` as the book index.
//!
//! | IEX | book call | event |
//! |---|---|---|
//! | `D` security directory | [`Books::directory`] | `Directory` (`code` = directory flags) |
//! | `H` trading status | [`Books::trading_status`] | `TradingStatus` |
//! | `O` operational halt | [`Books::operational_halt`] | `OperationalHalt` (`O` halted, `N` not) |
//! | `S` system event | [`Books::system_event`] | `SystemEvent` |
//! | `Q` quote update (TOPS) | [`Books::quote`] | `Quote` (L2 book = the quote) |
//! | `8` / `5` price level update (DEEP) | [`Books::level_update`] | `LevelUpdate`, staged until the batch ends |
//! | `T` trade report | [`Books::trade`] | `Trade` (`code` = sale condition flags) |
//! | `B` trade break | [`Books::broken_trade`] | `BrokenTrade` (`match_number` = trade id) |
//! | `a` add order (DEEP+) | [`Books::add`] | `Add` |
//! | `M` order modify (DEEP+) | [`Books::modify`] | `Replace` with `new_order_ref == order_ref` |
//! | `R` order delete (DEEP+) | [`Books::delete`] | `Delete` |
//! | `L` order executed (DEEP+) | [`Books::execute_with_price`] | `Execute` (at the order's price) or `ExecuteWithPrice` |
//! | `C` clear book (DEEP+) | [`Books::clear_book`] | `ClearBook` |
//!
//! Retail liquidity, short-sale test, security event, official price and auction messages touch no book and yield
//! no event. IEX timestamps (signed ns since the epoch) before 1970 are clamped to 0.

use feed::iex::message::Side as IexSide;
use feed::iex::Message;

use crate::books::{Books, Stamp};
use crate::event::{flags, BookEvent, EventKind, Side};
use crate::symbol::Symbol;

#[inline(always)]
fn side(s: IexSide) -> Side {
    match s {
        IexSide::Buy => Side::Buy,
        IexSide::Sell => Side::Sell,
    }
}

impl Books {
    /// The book index of an IEX symbol, interning it (and naming its book) on first sight. `None` only when 65 535
    /// symbols are already known.
    #[inline]
    pub fn iex_book(&mut self, raw: &[u8; 8]) -> Option<u16> {
        let sym = Symbol::from_bytes(*raw);
        if let Some(i) = self.symbols().lookup(sym) {
            return Some(i);
        }
        self.intern_symbol(sym)
    }

    #[cold]
    fn intern_symbol(&mut self, sym: Symbol) -> Option<u16> {
        let i = self.symbols_mut().intern(sym)?;
        self.name_book(i, sym);
        Some(i)
    }

    /// Applies one decoded IEX message with sequence number `seq`; `None` for types that concern no book (and
    /// for messages of a 65 536th symbol, counted as rejected).
    #[inline]
    pub fn apply_iex(&mut self, msg: &Message<'_>, seq: u64) -> Option<BookEvent> {
        let mut ev = BookEvent::EMPTY;
        self.apply_iex_into(msg, seq, &mut ev).then_some(ev)
    }

    /// Like [`Books::apply_iex`], writing the event into `ev`; returns whether there is one (when `false`, `ev` may
    /// have been left unchanged or partly written and must be ignored).
    #[inline]
    pub fn apply_iex_into(&mut self, msg: &Message<'_>, seq: u64, ev: &mut BookEvent) -> bool {
        let st = Stamp::new(u64::try_from(msg.timestamp()).unwrap_or(0), seq);
        if let Message::SystemEvent(m) = *msg {
            *ev = self.system_event(st, m.system_event());
            return true;
        }
        let Some(raw) = msg.symbol_raw() else {
            return false;
        };
        let Some(book) = self.iex_book(raw) else {
            self.count_rejected();
            return false;
        };
        match *msg {
            Message::PriceLevelUpdate(m) => self.level_update_into(
                ev,
                st,
                book,
                side(m.side()),
                m.price(),
                m.size(),
                m.ends_batch(),
                m.event_flags(),
            ),
            Message::QuoteUpdate(m) => self.quote_into(
                ev,
                st,
                book,
                m.bid_price(),
                m.bid_size(),
                m.ask_price(),
                m.ask_size(),
                m.flags(),
            ),
            Message::TradeReport(m) => self.trade_into(
                ev,
                st,
                book,
                m.size(),
                m.price(),
                m.trade_id(),
                m.sale_condition_flags(),
            ),
            Message::TradeBreak(m) => {
                self.broken_trade_into(ev, st, book, m.trade_id());
                ev.price = m.price();
                ev.qty = m.size();
                ev.code = m.sale_condition_flags();
            }
            Message::AddOrder(m) => {
                let s = m.side_enum().map_or(Side::None, side);
                self.add_into(ev, st, book, m.order_id(), s, m.price(), m.size(), [0; 4])
            }
            Message::OrderModify(m) => self.modify_into(
                ev,
                st,
                book,
                m.order_id(),
                m.size(),
                m.price(),
                m.maintains_priority(),
            ),
            Message::OrderDelete(m) => self.delete_into(ev, st, book, m.order_id()),
            Message::OrderExecuted(m) => {
                self.execute_with_price_into(
                    ev,
                    st,
                    book,
                    m.order_id(),
                    m.size(),
                    m.trade_id(),
                    m.price(),
                    true,
                );
                if !ev.has(flags::UNKNOWN_ORDER) && ev.price == ev.order_price {
                    ev.kind = EventKind::Execute;
                }
                ev.code = m.sale_condition_flags();
            }
            Message::ClearBook(_) => self.clear_book_into(ev, st, book),
            Message::SecurityDirectory(m) => {
                self.directory_into(ev, st, book, Symbol::from_bytes(*m.symbol()), m.flags())
            }
            Message::TradingStatus(m) => {
                self.trading_status_into(ev, st, book, m.trading_status(), *m.reason())
            }
            Message::OperationalHaltStatus(m) => {
                let s = m.operational_halt_status();
                self.operational_halt_into(ev, st, book, s == b'O', s)
            }
            _ => return false,
        }
        true
    }
}
