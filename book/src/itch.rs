//! NASDAQ TotalView-ITCH 5.0 adapter: decoded [`feed::itch::Message`] views → [`Books`] calls.
//!
//! | ITCH | book call | event |
//! |---|---|---|
//! | `R` stock directory | [`Books::directory`] | `Directory` (`code` = market category) |
//! | `H` trading action | [`Books::trading_status`] | `TradingStatus` (`code` = state, `mpid` = reason) |
//! | `h` operational halt | [`Books::operational_halt`] | `OperationalHalt` (`code` = `H`/`T`) |
//! | `S` system event | [`Books::system_event`] | `SystemEvent` |
//! | `A` / `F` add (F keeps its MPID) | [`Books::add`] | `Add` |
//! | `E` executed | [`Books::execute`] | `Execute` |
//! | `C` executed with price | [`Books::execute_with_price`] | `ExecuteWithPrice` (`PRINTABLE` from the flag) |
//! | `X` cancel | [`Books::cancel`] | `Cancel` |
//! | `D` delete | [`Books::delete`] | `Delete` |
//! | `U` replace | [`Books::replace`] | `Replace` |
//! | `P` trade (non-displayed) | [`Books::hidden_trade`] | `HiddenTrade` |
//! | `Q` cross trade | [`Books::cross_trade`] | `CrossTrade` (`code` = cross type) |
//! | `B` broken trade | [`Books::broken_trade`] | `BrokenTrade` |
//!
//! Other types (Reg SHO, market participant position, MWCB, IPO, LULD, NOII, RPII, DLCR) do not touch a book and
//! yield no event. Prices are the wire integers (4 implied decimals) widened to `i64` ticks.

use feed::itch::Message;

use crate::books::{Books, Stamp};
use crate::event::{BookEvent, Side};
use crate::symbol::Symbol;

impl Books {
    /// Applies one decoded ITCH message with transport sequence number `seq`; `None` for types that concern no book.
    #[inline]
    pub fn apply_itch(&mut self, msg: &Message<'_>, seq: u64) -> Option<BookEvent> {
        let mut ev = BookEvent::EMPTY;
        self.apply_itch_into(msg, seq, &mut ev).then_some(ev)
    }

    /// Like [`Books::apply_itch`], writing the event into `ev`; returns whether there is one (when `false`, `ev` may
    /// have been left unchanged or partly written and must be ignored).
    #[inline]
    pub fn apply_itch_into(&mut self, msg: &Message<'_>, seq: u64, ev: &mut BookEvent) -> bool {
        let h = msg.header();
        let st = Stamp::new(h.timestamp.get(), seq);
        let loc = h.stock_locate.get();
        match *msg {
            Message::AddOrder(m) => {
                let add = (m.order_ref(), m.side(), m.price(), m.shares());
                self.itch_add_into(ev, st, loc, m.stock().0, add, [0; 4])
            }
            Message::AddOrderMpid(m) => {
                let add = (m.order_ref(), m.side(), m.price(), m.shares());
                self.itch_add_into(ev, st, loc, m.stock().0, add, m.attribution().0)
            }
            Message::OrderExecuted(m) => self.execute_into(
                ev,
                st,
                loc,
                m.order_ref(),
                m.executed_shares(),
                m.match_number(),
            ),
            Message::OrderExecutedWithPrice(m) => self.execute_with_price_into(
                ev,
                st,
                loc,
                m.order_ref(),
                m.executed_shares(),
                m.match_number(),
                i64::from(m.execution_price()),
                m.printable() == b'Y',
            ),
            Message::OrderCancel(m) => {
                self.cancel_into(ev, st, loc, m.order_ref(), m.cancelled_shares())
            }
            Message::OrderDelete(m) => self.delete_into(ev, st, loc, m.order_ref()),
            Message::OrderReplace(m) => self.replace_into(
                ev,
                st,
                loc,
                m.original_order_ref(),
                m.new_order_ref(),
                m.shares(),
                i64::from(m.price()),
            ),
            Message::Trade(m) => self.hidden_trade_into(
                ev,
                st,
                loc,
                m.order_ref(),
                Side::from_itch(m.side()),
                m.shares(),
                i64::from(m.price()),
                m.match_number(),
            ),
            Message::CrossTrade(m) => self.cross_trade_into(
                ev,
                st,
                loc,
                m.shares(),
                i64::from(m.cross_price()),
                m.match_number(),
                m.cross_type(),
            ),
            Message::BrokenTrade(m) => self.broken_trade_into(ev, st, loc, m.match_number()),
            Message::StockDirectory(m) => self.directory_into(
                ev,
                st,
                loc,
                Symbol::from_bytes(m.stock().0),
                m.market_category(),
            ),
            Message::StockTradingAction(m) => {
                self.trading_status_into(ev, st, loc, m.trading_state(), m.reason().0)
            }
            Message::OperationalHalt(m) => {
                let action = m.operational_halt_action();
                self.operational_halt_into(ev, st, loc, action == b'H', action)
            }
            Message::SystemEvent(m) => *ev = self.system_event(st, m.event_code()),
            _ => return false,
        }
        true
    }

    /// An ITCH add (`A`, or `F` with its MPID): names the book from the stock field if nothing named it yet, then
    /// adds the order (`add`: reference, side byte, price, shares).
    #[inline(always)]
    fn itch_add_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        loc: u16,
        stock: [u8; 8],
        (reference, side, price, shares): (u64, u8, u32, u32),
        mpid: [u8; 4],
    ) {
        self.name_from_add(loc, stock);
        self.add_into(
            ev,
            st,
            loc,
            reference,
            Side::from_itch(side),
            i64::from(price),
            shares,
            mpid,
        );
    }
}
