//! The book manager: every symbol's book, one order store, one [`BookEvent`] per message.
//!
//! [`Books`] is feed-agnostic: its input API takes plain integers (book index, order reference, side, price in
//! ticks, shares). The ITCH and IEX adapters ([`crate::itch`], [`crate::iex`]) translate decoded messages into
//! these calls.
//!
//! A book is either **L3** (order by order: fed by [`Books::add`], [`Books::execute`], [`Books::cancel`], …; each
//! level keeps its FIFO queue of orders) or **L2** (price levels only: fed by [`Books::level_update`], the IEX DEEP
//! price level updates, and [`Books::quote`], the IEX TOPS quotes; order counts are unknown and reported as 0).
//! A feed uses one mode; the book remembers which it saw.
//!
//! IEX DEEP updates arrive in atomic batches: an update whose event flag is clear is staged, and the staged updates
//! of the book are applied together when the update that ends the batch arrives. Until then the visible book (BBO,
//! depth, snapshots) is the book before the batch; the staged updates' events carry [`flags::IN_BATCH`].
//!
//! # Semantics
//! - Books are indexed by `u16` (ITCH stock locate; IEX interned symbol index). A book springs into existence the
//!   first time it is named.
//! - Order references are global across books (ITCH: day-unique). An order's book and side are those of its add;
//!   later messages about the order act on that book even if they name another locate.
//! - Faithful application, never repair: a crossed or locked book stays crossed/locked and is flagged.
//! - Integrity problems are counted in [`Integrity`] and flagged on the event; the book stays consistent:
//!   - unknown reference (execute/cancel/delete/replace/modify): nothing changes;
//!   - duplicate add (the reference is live): the old order is removed first, then the new one is added;
//!   - execution or cancel of more than the remaining shares: the order is removed (the event still reports the
//!     shares the feed said);
//!   - zero-share or side-less adds: rejected (nothing added).
//!
//! # Allocation
//! Steady state allocates nothing: order nodes, reference pages and price levels are recycled; new allocations happen
//! only when a high-water mark is exceeded (more live orders, pages or levels on a side than ever before) or when a
//! new book index appears. See [`Books::memory`].

use serde::Serialize;

use crate::event::{flags, sat32, BookEvent, EventKind, Price, Side};
use crate::integrity::Integrity;
use crate::level::{Level, Levels};
use crate::orders::{Order, OrderPool, RefIndex, StoreConfig, NIL};
use crate::snapshot::{BookSnapshot, LevelInfo, OrderInfo, TouchInfo};
use crate::symbol::{Symbol, SymbolDirectory};

/// Feed time and transport sequence number of the message being applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamp {
    /// Feed timestamp, ns (ITCH since midnight, IEX since the epoch).
    pub ts_ns: u64,
    /// Transport sequence number (0 when none).
    pub seq: u64,
}

impl Stamp {
    /// A stamp from a timestamp and a sequence number.
    #[inline]
    pub const fn new(ts_ns: u64, seq: u64) -> Stamp {
        Stamp { ts_ns, seq }
    }
}

/// State of the touch as last reported (to detect BBO changes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Touch {
    pub bid_price: Price,
    pub bid_qty: u64,
    pub ask_price: Price,
    pub ask_qty: u64,
}

/// The book of one symbol: two sides plus trading status. Owned by [`Books`] (orders live in its pool).
///
/// Laid out in cache lines: line 0 holds everything a message reads or writes besides its side (symbol, touch,
/// status, last update), line 1 the bid side's vectors, line 2 the offer side's, line 3 the cold rest.
#[repr(C, align(64))]
#[derive(Debug, Clone)]
pub struct Book {
    pub(crate) symbol: Symbol,
    pub(crate) touch: Touch,
    pub(crate) last_ts: u64,
    pub(crate) last_seq: u64,
    pub(crate) crossed: bool,
    /// Trading state byte (`T` trading, `H` halted, `P` paused, `Q` quotation only; 0 unknown).
    pub(crate) state: u8,
    /// IEX operational halt.
    pub(crate) op_halt: bool,
    /// Fed by price-level updates / quotes (L2) rather than orders.
    pub(crate) l2: bool,
    pub(crate) bids: Levels,
    pub(crate) asks: Levels,
    pub(crate) messages: u64,
    /// Staged L2 updates of an unfinished IEX DEEP batch.
    pub(crate) pending: Vec<PendingUpdate>,
}

/// A staged L2 price-level update (side, price, new aggregate size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingUpdate {
    side: Side,
    price: Price,
    qty: u64,
}

impl Book {
    fn new(level_capacity: usize) -> Book {
        Book {
            bids: Levels::new(Side::Buy, level_capacity),
            asks: Levels::new(Side::Sell, level_capacity),
            symbol: Symbol::EMPTY,
            touch: Touch::default(),
            crossed: false,
            state: 0,
            op_halt: false,
            last_ts: 0,
            last_seq: 0,
            messages: 0,
            l2: false,
            pending: Vec::new(),
        }
    }

    /// Sets the aggregate size of the L2 level at `price` (0 removes it).
    fn set_level(&mut self, side: Side, price: Price, qty: u64) {
        let lv = self.side_mut(side);
        match lv.find(price) {
            Ok(i) if qty == 0 => lv.remove(i),
            Ok(i) => lv.at_mut(i).qty = qty,
            Err(_) if qty == 0 => {}
            Err(i) => lv.insert_at(i, Level::new_l2(price, qty)),
        }
    }

    #[inline(always)]
    pub(crate) fn side(&self, side: Side) -> &Levels {
        if side == Side::Buy {
            &self.bids
        } else {
            &self.asks
        }
    }

    #[inline(always)]
    pub(crate) fn side_mut(&mut self, side: Side) -> &mut Levels {
        if side == Side::Buy {
            &mut self.bids
        } else {
            &mut self.asks
        }
    }

    /// Whether the symbol is not in a trading state.
    #[inline]
    pub(crate) fn halted(&self) -> bool {
        self.op_halt || (self.state != 0 && self.state != b'T')
    }

    /// Whether the book has neither levels nor a symbol.
    fn is_blank(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty() && self.symbol.is_empty() && self.messages == 0
    }
}

/// Sizes of the book stage's memory, for `--stats` and the runtime's reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MemoryReport {
    /// Books (symbols) allocated.
    pub books: usize,
    /// Orders resting now.
    pub live_orders: u64,
    /// Highest number of orders resting at once.
    pub peak_orders: u64,
    /// Price levels now (both sides, all books).
    pub levels: u64,
    /// Reference pages in use now / at peak (4 KiB each).
    pub pages_in_use: u64,
    /// Highest number of reference pages in use at once.
    pub peak_pages: u64,
    /// References held in the overflow hash map (sparse or huge references).
    pub overflow_refs: u64,
    /// Bytes of order nodes ever used (the pool's high-water mark).
    pub order_pool_bytes: u64,
    /// Bytes of the reference index actually touched (directory up to the highest page, pages handed out,
    /// overflow map).
    pub ref_index_bytes: u64,
    /// Bytes held by price levels and book headers.
    pub level_bytes: u64,
    /// Sum of the above: the memory the books have actually touched.
    pub total_bytes: u64,
    /// Address space reserved up front (order pool, reference directory and page slab), committed only as used.
    pub reserved_bytes: u64,
}

/// Every L3 book of one feed, with the shared order store, symbol directory and integrity counters.
///
/// Single-threaded: one thread owns an `Books` (shard books by index across threads if needed).
#[derive(Debug)]
pub struct Books {
    books: Vec<Book>,
    pool: OrderPool,
    index: RefIndex,
    symbols: SymbolDirectory,
    integrity: Integrity,
    messages: u64,
    level_capacity: usize,
}

impl Default for Books {
    fn default() -> Self {
        Self::new(StoreConfig::default())
    }
}

impl Books {
    /// An empty manager sized by `cfg`.
    pub fn new(cfg: StoreConfig) -> Self {
        Books {
            books: Vec::new(),
            pool: OrderPool::with_capacity(cfg.initial_orders),
            index: RefIndex::new(&cfg),
            symbols: SymbolDirectory::new(),
            integrity: Integrity::default(),
            messages: 0,
            level_capacity: cfg.level_capacity as usize,
        }
    }

    // ----------------------------------------------------------------------------------------------------------
    // Input API
    // ----------------------------------------------------------------------------------------------------------

    /// Registers `symbol` for `book` (ITCH `R`, IEX `D`). `code` is carried into the event (market category).
    pub fn directory(&mut self, st: Stamp, book: u16, symbol: Symbol, code: u8) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.directory_into(&mut ev, st, book, symbol, code);
        ev
    }

    /// Like [`Books::directory`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    pub fn directory_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        symbol: Symbol,
        code: u8,
    ) {
        self.set_name(book, symbol);
        self.event(ev, st, book, EventKind::Directory);
        ev.code = code;
        self.finish(book, ev, false);
    }

    /// A new visible order (ITCH `A`/`F`, DEEP+ `a`). `mpid` is all zero when anonymous.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        st: Stamp,
        book: u16,
        reference: u64,
        side: Side,
        price: Price,
        qty: u32,
        mpid: [u8; 4],
    ) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.add_into(&mut ev, st, book, reference, side, price, qty, mpid);
        ev
    }

    /// Like [`Books::add`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    pub fn add_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        reference: u64,
        side: Side,
        price: Price,
        qty: u32,
        mpid: [u8; 4],
    ) {
        self.event(ev, st, book, EventKind::Add);
        ev.order_ref = reference;
        ev.side = side;
        ev.price = price;
        ev.order_price = price;
        ev.qty = qty;
        ev.order_ts_ns = st.ts_ns;
        ev.mpid = mpid;
        if side == Side::None || qty == 0 {
            self.integrity.rejected += 1;
            ev.flags |= flags::ANOMALY;
            self.finish(book, ev, false);
            return;
        }
        let old = self.index.get(reference);
        let dup = old != NIL;
        if dup {
            self.integrity.duplicate_add += 1;
            ev.flags |= flags::ANOMALY;
            let ob = self.pool.get(old).book;
            self.remove_order(old);
            self.index.remove(reference);
            if ob != book {
                let mut other = *ev;
                self.finish(ob, &mut other, true);
            }
        }
        let order = Order {
            reference,
            ts_ns: st.ts_ns,
            price,
            qty,
            prev: NIL,
            next: NIL,
            book,
            side,
            _pad: 0,
            mpid,
        };
        match self.insert_order(order) {
            Some((lq, lo)) => {
                ev.remaining = qty;
                ev.level_qty = sat32(lq);
                ev.level_orders = lo;
            }
            None => {
                self.integrity.rejected += 1;
                ev.flags |= flags::ANOMALY;
            }
        }
        if dup {
            self.finish(book, ev, true);
        } else {
            self.finish_side(book, ev, side);
        }
    }

    /// An execution of a resting order at its own price (ITCH `E`, DEEP+ `L` at the order price).
    #[inline]
    pub fn execute(
        &mut self,
        st: Stamp,
        book: u16,
        reference: u64,
        qty: u32,
        match_number: u64,
    ) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.execute_into(&mut ev, st, book, reference, qty, match_number);
        ev
    }

    /// Like [`Books::execute`], writing the event into `ev` (no copy of the 128-byte event).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn execute_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        reference: u64,
        qty: u32,
        match_number: u64,
    ) {
        self.reduce_into(
            ev,
            st,
            book,
            reference,
            qty,
            EventKind::Execute,
            None,
            match_number,
            true,
        )
    }

    /// An execution at a price other than the order's (ITCH `C`; DEEP+ `L` when the trade price differs).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn execute_with_price(
        &mut self,
        st: Stamp,
        book: u16,
        reference: u64,
        qty: u32,
        match_number: u64,
        price: Price,
        printable: bool,
    ) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.execute_with_price_into(
            &mut ev,
            st,
            book,
            reference,
            qty,
            match_number,
            price,
            printable,
        );
        ev
    }

    /// Like [`Books::execute_with_price`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn execute_with_price_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        reference: u64,
        qty: u32,
        match_number: u64,
        price: Price,
        printable: bool,
    ) {
        self.reduce_into(
            ev,
            st,
            book,
            reference,
            qty,
            EventKind::ExecuteWithPrice,
            Some(price),
            match_number,
            printable,
        )
    }

    /// A partial cancel of `qty` shares (ITCH `X`).
    #[inline]
    pub fn cancel(&mut self, st: Stamp, book: u16, reference: u64, qty: u32) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.cancel_into(&mut ev, st, book, reference, qty);
        ev
    }

    /// Like [`Books::cancel`], writing the event into `ev` (no copy of the 128-byte event).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn cancel_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        reference: u64,
        qty: u32,
    ) {
        self.reduce_into(
            ev,
            st,
            book,
            reference,
            qty,
            EventKind::Cancel,
            None,
            0,
            false,
        )
    }

    /// Removal of a whole order (ITCH `D`, DEEP+ `R`).
    #[inline]
    pub fn delete(&mut self, st: Stamp, book: u16, reference: u64) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.delete_into(&mut ev, st, book, reference);
        ev
    }

    /// Like [`Books::delete`], writing the event into `ev` (no copy of the 128-byte event).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn delete_into(&mut self, ev: &mut BookEvent, st: Stamp, book: u16, reference: u64) {
        self.reduce_into(
            ev,
            st,
            book,
            reference,
            u32::MAX,
            EventKind::Delete,
            None,
            0,
            false,
        )
    }

    /// Replace (ITCH `U`): the order `old_ref` leaves the book and `new_ref` enters at `price` with `qty` shares,
    /// same book, side and MPID, at the back of the queue.
    pub fn replace(
        &mut self,
        st: Stamp,
        book: u16,
        old_ref: u64,
        new_ref: u64,
        qty: u32,
        price: Price,
    ) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.replace_into(&mut ev, st, book, old_ref, new_ref, qty, price);
        ev
    }

    /// Like [`Books::replace`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    pub fn replace_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        old_ref: u64,
        new_ref: u64,
        qty: u32,
        price: Price,
    ) {
        self.event(ev, st, book, EventKind::Replace);
        ev.order_ref = old_ref;
        ev.new_order_ref = new_ref;
        ev.price = price;
        ev.qty = qty;
        let h = self.index.get(old_ref);
        if h == NIL {
            self.integrity.unknown_order += 1;
            ev.flags |= flags::UNKNOWN_ORDER;
            self.finish(book, ev, false);
            return;
        }
        let old = *self.pool.get(h);
        self.retarget(ev, book, old.book);
        ev.side = old.side;
        ev.order_price = old.price;
        ev.order_ts_ns = old.ts_ns;
        ev.mpid = old.mpid;
        self.remove_order(h);
        self.index.remove(old_ref);
        let clash = self.index.get(new_ref);
        let dup = clash != NIL;
        if dup {
            self.integrity.duplicate_add += 1;
            ev.flags |= flags::ANOMALY;
            let cb = self.pool.get(clash).book;
            self.remove_order(clash);
            self.index.remove(new_ref);
            if cb != old.book {
                let mut other = *ev;
                self.finish(cb, &mut other, true);
            }
        }
        if qty == 0 {
            self.integrity.rejected += 1;
            ev.flags |= flags::ANOMALY;
        } else {
            let order = Order {
                reference: new_ref,
                ts_ns: st.ts_ns,
                price,
                qty,
                prev: NIL,
                next: NIL,
                ..old
            };
            match self.insert_order(order) {
                Some((lq, lo)) => {
                    ev.remaining = qty;
                    ev.level_qty = sat32(lq);
                    ev.level_orders = lo;
                }
                None => {
                    self.integrity.rejected += 1;
                    ev.flags |= flags::ANOMALY;
                }
            }
        }
        if dup {
            self.finish(old.book, ev, true);
        } else {
            self.finish_side(old.book, ev, old.side);
        }
    }

    /// Modify keeping the reference (IEX DEEP+ `M`): new size and price. The order keeps its queue position only
    /// when `keep_priority` is set, the price is unchanged and the size did not increase; otherwise it moves to the
    /// back of its (new) level and its entry time becomes `st.ts_ns`. Reported as [`EventKind::Replace`] with
    /// `new_order_ref == order_ref`.
    pub fn modify(
        &mut self,
        st: Stamp,
        book: u16,
        reference: u64,
        qty: u32,
        price: Price,
        keep_priority: bool,
    ) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.modify_into(&mut ev, st, book, reference, qty, price, keep_priority);
        ev
    }

    /// Like [`Books::modify`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    pub fn modify_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        reference: u64,
        qty: u32,
        price: Price,
        keep_priority: bool,
    ) {
        let h = self.index.get(reference);
        if h == NIL {
            self.event(ev, st, book, EventKind::Replace);
            ev.order_ref = reference;
            ev.new_order_ref = reference;
            ev.price = price;
            ev.qty = qty;
            self.integrity.unknown_order += 1;
            ev.flags |= flags::UNKNOWN_ORDER;
            self.finish(book, ev, false);
            return;
        }
        let old = *self.pool.get(h);
        if keep_priority && price == old.price && qty <= old.qty && qty > 0 {
            self.event(ev, st, book, EventKind::Replace);
            self.retarget(ev, book, old.book);
            ev.order_ref = reference;
            ev.new_order_ref = reference;
            ev.price = price;
            ev.qty = qty;
            ev.side = old.side;
            ev.order_price = old.price;
            ev.order_ts_ns = old.ts_ns;
            ev.mpid = old.mpid;
            ev.remaining = qty;
            ev.code = crate::event::REPLACE_KEPT_PRIORITY;
            let b = &mut self.books[old.book as usize];
            let lv = b.side_mut(old.side);
            if let Ok(i) = lv.find(old.price) {
                let l = lv.at_mut(i);
                l.qty -= u64::from(old.qty - qty);
                ev.level_qty = sat32(l.qty);
                ev.level_orders = l.orders;
            }
            self.pool.get_mut(h).qty = qty;
            self.finish_side(old.book, ev, old.side);
            return;
        }
        // Loses priority: same as a replace onto the same reference.
        self.replace_into(ev, st, book, reference, reference, qty, price)
    }

    /// An L2 price level update (IEX DEEP `8`/`5`): the level at `price` on `side` now holds `qty` shares
    /// (0 = gone). When `batch_end` is false the update is staged until the batch-ending update of this book arrives
    /// (see the module docs). `event_flags` is carried into the event's `code`.
    #[allow(clippy::too_many_arguments)]
    pub fn level_update(
        &mut self,
        st: Stamp,
        book: u16,
        side: Side,
        price: Price,
        qty: u32,
        batch_end: bool,
        event_flags: u8,
    ) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.level_update_into(&mut ev, st, book, side, price, qty, batch_end, event_flags);
        ev
    }

    /// Like [`Books::level_update`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    pub fn level_update_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        side: Side,
        price: Price,
        qty: u32,
        batch_end: bool,
        event_flags: u8,
    ) {
        self.event(ev, st, book, EventKind::LevelUpdate);
        ev.side = side;
        ev.price = price;
        ev.qty = qty;
        ev.code = event_flags;
        if side == Side::None {
            self.integrity.rejected += 1;
            ev.flags |= flags::ANOMALY;
            self.finish(book, ev, false);
            return;
        }
        let b = &mut self.books[book as usize];
        b.l2 = true;
        let up = PendingUpdate {
            side,
            price,
            qty: u64::from(qty),
        };
        if !batch_end {
            b.pending.push(up);
            ev.flags |= flags::IN_BATCH;
            ev.level_qty = qty;
            self.finish(book, ev, false);
            return;
        }
        for i in 0..b.pending.len() {
            let p = b.pending[i];
            b.set_level(p.side, p.price, p.qty);
        }
        b.pending.clear();
        b.set_level(side, price, up.qty);
        ev.level_qty = qty;
        self.finish(book, ev, true);
    }

    /// A top-of-book quote (IEX TOPS `Q`): the L2 book of `book` becomes exactly this bid and offer (a side with
    /// size 0 is empty). `quote_flags` is carried into the event's `code`.
    #[allow(clippy::too_many_arguments)]
    pub fn quote(
        &mut self,
        st: Stamp,
        book: u16,
        bid_price: Price,
        bid_qty: u32,
        ask_price: Price,
        ask_qty: u32,
        quote_flags: u8,
    ) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.quote_into(
            &mut ev,
            st,
            book,
            bid_price,
            bid_qty,
            ask_price,
            ask_qty,
            quote_flags,
        );
        ev
    }

    /// Like [`Books::quote`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    pub fn quote_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        bid_price: Price,
        bid_qty: u32,
        ask_price: Price,
        ask_qty: u32,
        quote_flags: u8,
    ) {
        self.event(ev, st, book, EventKind::Quote);
        ev.code = quote_flags;
        let b = &mut self.books[book as usize];
        b.l2 = true;
        b.pending.clear();
        b.bids.clear();
        b.asks.clear();
        if bid_qty != 0 {
            b.bids
                .insert_at(0, Level::new_l2(bid_price, u64::from(bid_qty)));
        }
        if ask_qty != 0 {
            b.asks
                .insert_at(0, Level::new_l2(ask_price, u64::from(ask_qty)));
        }
        self.finish(book, ev, true);
    }

    /// A trade against a non-displayed order (ITCH `P`). No book change.
    #[allow(clippy::too_many_arguments)]
    pub fn hidden_trade(
        &mut self,
        st: Stamp,
        book: u16,
        reference: u64,
        side: Side,
        qty: u32,
        price: Price,
        match_number: u64,
    ) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.hidden_trade_into(&mut ev, st, book, reference, side, qty, price, match_number);
        ev
    }

    /// Like [`Books::hidden_trade`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    pub fn hidden_trade_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        reference: u64,
        side: Side,
        qty: u32,
        price: Price,
        match_number: u64,
    ) {
        self.event(ev, st, book, EventKind::HiddenTrade);
        ev.order_ref = reference;
        ev.side = side;
        ev.qty = qty;
        ev.price = price;
        ev.match_number = match_number;
        ev.flags |= flags::PRINTABLE;
        self.finish(book, ev, false);
    }

    /// A cross (ITCH `Q`). No book change (the crossed orders are removed by their own messages).
    pub fn cross_trade(
        &mut self,
        st: Stamp,
        book: u16,
        qty: u64,
        price: Price,
        match_number: u64,
        cross_type: u8,
    ) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.cross_trade_into(&mut ev, st, book, qty, price, match_number, cross_type);
        ev
    }

    /// Like [`Books::cross_trade`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    pub fn cross_trade_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        qty: u64,
        price: Price,
        match_number: u64,
        cross_type: u8,
    ) {
        self.event(ev, st, book, EventKind::CrossTrade);
        ev.qty = sat32(qty);
        ev.price = price;
        ev.match_number = match_number;
        ev.code = cross_type;
        ev.flags |= flags::PRINTABLE;
        self.finish(book, ev, false);
    }

    /// A trade report without an order reference (IEX `T`). No book change.
    pub fn trade(
        &mut self,
        st: Stamp,
        book: u16,
        qty: u32,
        price: Price,
        trade_id: u64,
        sale_flags: u8,
    ) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.trade_into(&mut ev, st, book, qty, price, trade_id, sale_flags);
        ev
    }

    /// Like [`Books::trade`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    pub fn trade_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        qty: u32,
        price: Price,
        trade_id: u64,
        sale_flags: u8,
    ) {
        self.event(ev, st, book, EventKind::Trade);
        ev.qty = qty;
        ev.price = price;
        ev.match_number = trade_id;
        ev.code = sale_flags;
        ev.flags |= flags::PRINTABLE;
        self.finish(book, ev, false);
    }

    /// A broken trade (ITCH `B`, IEX `B`). No book change.
    pub fn broken_trade(&mut self, st: Stamp, book: u16, match_number: u64) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.broken_trade_into(&mut ev, st, book, match_number);
        ev
    }

    /// Like [`Books::broken_trade`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    pub fn broken_trade_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        match_number: u64,
    ) {
        self.event(ev, st, book, EventKind::BrokenTrade);
        ev.match_number = match_number;
        self.finish(book, ev, false);
    }

    /// Trading status of one symbol (ITCH `H`, IEX `H`): `state` (`T` = trading), 4-byte `reason`.
    pub fn trading_status(
        &mut self,
        st: Stamp,
        book: u16,
        state: u8,
        reason: [u8; 4],
    ) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.trading_status_into(&mut ev, st, book, state, reason);
        ev
    }

    /// Like [`Books::trading_status`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    pub fn trading_status_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        state: u8,
        reason: [u8; 4],
    ) {
        self.book_mut(book).state = state;
        self.event(ev, st, book, EventKind::TradingStatus);
        ev.code = state;
        ev.mpid = reason;
        self.finish(book, ev, false);
    }

    /// Operational halt (IEX `O`, ITCH `h`): `halted` says whether the symbol is now halted; `code` is the wire
    /// status byte carried into the event.
    pub fn operational_halt(&mut self, st: Stamp, book: u16, halted: bool, code: u8) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.operational_halt_into(&mut ev, st, book, halted, code);
        ev
    }

    /// Like [`Books::operational_halt`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    pub fn operational_halt_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        halted: bool,
        code: u8,
    ) {
        self.book_mut(book).op_halt = halted;
        self.event(ev, st, book, EventKind::OperationalHalt);
        ev.code = code;
        self.finish(book, ev, false);
    }

    /// Removes every order (L3) or level (L2) of `book` (IEX DEEP+ `C`).
    pub fn clear_book(&mut self, st: Stamp, book: u16) -> BookEvent {
        let mut ev = BookEvent::EMPTY;
        self.clear_book_into(&mut ev, st, book);
        ev
    }

    /// Like [`Books::clear_book`], writing the event into `ev` (no copy of the 128-byte event).
    #[allow(clippy::too_many_arguments)]
    pub fn clear_book_into(&mut self, ev: &mut BookEvent, st: Stamp, book: u16) {
        self.event(ev, st, book, EventKind::ClearBook);
        let mut removed = 0u64;
        let b = &mut self.books[book as usize];
        b.pending.clear();
        for side in [Side::Buy, Side::Sell] {
            let lv = b.side_mut(side);
            for l in lv.as_slice() {
                let mut cur = l.head;
                while cur != NIL {
                    let o = *self.pool.get(cur);
                    self.index.remove(o.reference);
                    self.pool.free(cur);
                    removed += 1;
                    cur = o.next;
                }
            }
            lv.clear();
        }
        ev.qty = sat32(removed);
        self.finish(book, ev, true);
    }

    /// A feed-wide system event (ITCH `S`, IEX `S`).
    pub fn system_event(&mut self, st: Stamp, code: u8) -> BookEvent {
        self.messages += 1;
        BookEvent {
            ts_ns: st.ts_ns,
            seq: st.seq,
            kind: EventKind::SystemEvent,
            code,
            ..BookEvent::EMPTY
        }
    }

    // ----------------------------------------------------------------------------------------------------------
    // Queries
    // ----------------------------------------------------------------------------------------------------------

    /// The symbol directory.
    pub fn symbols(&self) -> &SymbolDirectory {
        &self.symbols
    }

    /// Mutable symbol directory (adapters intern IEX symbols through it).
    pub fn symbols_mut(&mut self) -> &mut SymbolDirectory {
        &mut self.symbols
    }

    /// Integrity counters so far.
    pub fn integrity(&self) -> &Integrity {
        &self.integrity
    }

    /// Messages applied so far (every call of the input API).
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Highest book index + 1 (iterate `0..book_count()`).
    pub fn book_count(&self) -> usize {
        self.books.len()
    }

    /// Indices of books that have a symbol, levels or traffic, in index order.
    pub fn book_indices(&self) -> impl Iterator<Item = u16> + '_ {
        self.books
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.is_blank())
            .map(|(i, _)| i as u16)
    }

    /// The symbol of `book` (empty if unknown).
    pub fn symbol(&self, book: u16) -> Symbol {
        self.books
            .get(book as usize)
            .map(|b| b.symbol)
            .unwrap_or(Symbol::EMPTY)
    }

    /// Best bid and offer of `book`.
    pub fn bbo(&self, book: u16) -> TouchInfo {
        match self.books.get(book as usize) {
            Some(b) => TouchInfo {
                bid: b.bids.best().map(LevelInfo::from),
                ask: b.asks.best().map(LevelInfo::from),
            },
            None => TouchInfo::default(),
        }
    }

    /// Levels of one side of `book`, best first, with shares and order counts.
    pub fn depth(&self, book: u16, side: Side) -> impl Iterator<Item = LevelInfo> + '_ {
        self.books
            .get(book as usize)
            .filter(|_| side != Side::None)
            .map(|b| b.side(side).as_slice())
            .unwrap_or(&[])
            .iter()
            .rev()
            .map(LevelInfo::from)
    }

    /// The FIFO queue (oldest first) of the level at `price` on `side` of `book`; empty if there is no such level.
    pub fn queue(&self, book: u16, side: Side, price: Price) -> QueueIter<'_> {
        let head = self
            .books
            .get(book as usize)
            .filter(|_| side != Side::None)
            .and_then(|b| {
                let lv = b.side(side);
                lv.find(price).ok().map(|i| lv.at(i).head)
            })
            .unwrap_or(NIL);
        QueueIter {
            pool: &self.pool,
            cur: head,
        }
    }

    /// The resting order with `reference`, if any.
    pub fn order(&self, reference: u64) -> Option<OrderInfo> {
        match self.index.get(reference) {
            NIL => None,
            h => Some(OrderInfo::from(self.pool.get(h))),
        }
    }

    /// Number of staged (not yet applied) L2 updates across all books: non-zero only when the input stopped inside
    /// an IEX DEEP batch.
    pub fn pending_updates(&self) -> u64 {
        self.books.iter().map(|b| b.pending.len() as u64).sum()
    }

    /// Number of orders resting on all books.
    pub fn live_orders(&self) -> u64 {
        u64::from(self.pool.live())
    }

    /// A snapshot of `book` with at most `depth` levels per side (allocates; cold path).
    pub fn snapshot(&self, book: u16, depth: usize) -> BookSnapshot {
        let mut s = BookSnapshot::default();
        self.snapshot_into(book, depth, &mut s);
        s
    }

    /// Fills `out` with a snapshot of `book` (at most `depth` levels per side), reusing its buffers.
    #[allow(clippy::too_many_arguments)]
    pub fn snapshot_into(&self, book: u16, depth: usize, out: &mut BookSnapshot) {
        out.clear();
        out.book = book;
        if let Some(b) = self.books.get(book as usize) {
            out.l3 = !b.l2;
            out.symbol = b.symbol;
            out.ts_ns = b.last_ts;
            out.seq = b.last_seq;
            out.trading_state = b.state;
            out.halted = b.halted();
            out.bids
                .extend(b.bids.iter_best_first().take(depth).map(LevelInfo::from));
            out.asks
                .extend(b.asks.iter_best_first().take(depth).map(LevelInfo::from));
            out.bid_levels = b.bids.len();
            out.ask_levels = b.asks.len();
        }
        out.update_flags();
    }

    /// Snapshots of every non-blank book, in index order (allocates; cold path).
    pub fn snapshots(&self, depth: usize) -> Vec<BookSnapshot> {
        self.book_indices()
            .map(|i| self.snapshot(i, depth))
            .collect()
    }

    /// Memory held by the books, orders and reference index.
    pub fn memory(&self) -> MemoryReport {
        let mut levels = 0u64;
        let mut level_bytes = (self.books.capacity() * std::mem::size_of::<Book>()) as u64;
        for b in &self.books {
            levels += (b.bids.len() + b.asks.len()) as u64;
            level_bytes += (b.bids.bytes()
                + b.asks.bytes()
                + b.pending.capacity() * std::mem::size_of::<PendingUpdate>())
                as u64;
        }
        let order_pool_bytes = self.pool.committed_bytes() as u64;
        let ref_index_bytes = self.index.committed_bytes() as u64;
        MemoryReport {
            books: self.books.len(),
            live_orders: u64::from(self.pool.live()),
            peak_orders: u64::from(self.pool.peak()),
            levels,
            pages_in_use: u64::from(self.index.pages_in_use()),
            peak_pages: u64::from(self.index.peak_pages()),
            overflow_refs: self.index.overflow_len() as u64,
            order_pool_bytes,
            ref_index_bytes,
            level_bytes,
            total_bytes: order_pool_bytes + ref_index_bytes + level_bytes,
            reserved_bytes: (self.pool.reserved_bytes() + self.index.reserved_bytes()) as u64,
        }
    }

    /// Checks every structural invariant of every book (tests; O(orders)). Returns a description of the first
    /// violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut total = 0u64;
        for (bi, b) in self.books.iter().enumerate() {
            for side in [Side::Buy, Side::Sell] {
                let lv = b.side(side);
                if !lv.is_sorted_strict() {
                    return Err(format!("book {bi} {side:?}: levels not strictly sorted"));
                }
                if b.l2 {
                    if let Some(l) = lv
                        .as_slice()
                        .iter()
                        .find(|l| l.qty == 0 || l.orders != 0 || l.head != NIL)
                    {
                        return Err(format!(
                            "book {bi} {side:?} {}: bad L2 level {l:?}",
                            l.price
                        ));
                    }
                    continue;
                }
                for l in lv.as_slice() {
                    if l.orders == 0 || l.qty == 0 {
                        return Err(format!("book {bi} {side:?} {}: empty level kept", l.price));
                    }
                    let (mut n, mut q, mut prev, mut cur) = (0u32, 0u64, NIL, l.head);
                    while cur != NIL {
                        let o = self.pool.get(cur);
                        if o.prev != prev
                            || o.price != l.price
                            || o.side != side
                            || o.book as usize != bi
                            || o.qty == 0
                        {
                            return Err(format!(
                                "book {bi} {side:?} {}: bad order node {o:?}",
                                l.price
                            ));
                        }
                        if self.index.get(o.reference) != cur {
                            return Err(format!("order {} not indexed", o.reference));
                        }
                        n += 1;
                        q += u64::from(o.qty);
                        prev = cur;
                        cur = o.next;
                        if n > self.pool.live() {
                            return Err("cycle in level queue".into());
                        }
                    }
                    if prev != l.tail || n != l.orders || q != l.qty {
                        return Err(format!(
                            "book {bi} {side:?} {}: level says {} orders/{} shares, queue has {n}/{q}",
                            l.price, l.orders, l.qty
                        ));
                    }
                    total += u64::from(n);
                }
            }
        }
        if total != u64::from(self.pool.live()) {
            return Err(format!(
                "{} orders in levels, {} live in the pool",
                total,
                self.pool.live()
            ));
        }
        Ok(())
    }

    // ----------------------------------------------------------------------------------------------------------
    // Internals
    // ----------------------------------------------------------------------------------------------------------

    #[inline(always)]
    fn book_mut(&mut self, book: u16) -> &mut Book {
        let i = book as usize;
        if i >= self.books.len() {
            self.grow(i);
        }
        &mut self.books[i]
    }

    /// Names `book` from an ITCH add's stock field when no Stock Directory message has named it (a capture that
    /// starts after the directory, a feed that sends none): its adds carry the symbol, so its events and alerts do
    /// not go out nameless. A later directory message names it again. Reads the book's first line, which the add
    /// touches anyway; the naming itself runs once per book.
    #[inline(always)]
    pub(crate) fn name_from_add(&mut self, book: u16, stock: [u8; 8]) {
        if book != 0
            && self
                .books
                .get(book as usize)
                .is_none_or(|b| b.symbol == Symbol::EMPTY)
        {
            self.name_unnamed(book, Symbol::from_bytes(stock));
        }
    }

    #[cold]
    #[inline(never)]
    fn name_unnamed(&mut self, book: u16, symbol: Symbol) {
        if !symbol.is_empty() {
            self.set_name(book, symbol);
        }
    }

    /// Names ITCH book `book` (its directory entry and the book itself).
    fn set_name(&mut self, book: u16, symbol: Symbol) {
        self.symbols.insert(book, symbol);
        self.book_mut(book).symbol = symbol;
    }

    /// Sets the symbol of `book` (IEX interning).
    pub(crate) fn name_book(&mut self, book: u16, symbol: Symbol) {
        self.book_mut(book).symbol = symbol;
    }

    /// Counts a message that could not be applied at all.
    pub(crate) fn count_rejected(&mut self) {
        self.messages += 1;
        self.integrity.rejected += 1;
    }

    #[cold]
    fn grow(&mut self, i: usize) {
        let cap = self.level_capacity;
        self.books.resize_with(i + 1, || Book::new(cap));
    }

    /// A fresh event for `book` with the common fields filled.
    #[inline(always)]
    fn event(&mut self, ev: &mut BookEvent, st: Stamp, book: u16, kind: EventKind) {
        self.messages += 1;
        let b = self.book_mut(book);
        let symbol = b.symbol;
        if symbol.is_empty() {
            self.integrity.unknown_symbol += 1;
        }
        *ev = BookEvent {
            ts_ns: st.ts_ns,
            seq: st.seq,
            book,
            kind,
            symbol,
            ..BookEvent::EMPTY
        };
    }

    /// Points `ev` at the order's own book when the message named another one.
    #[inline(always)]
    fn retarget(&mut self, ev: &mut BookEvent, named: u16, actual: u16) {
        if named != actual {
            ev.book = actual;
            ev.symbol = self.books[actual as usize].symbol;
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn reduce_into(
        &mut self,
        ev: &mut BookEvent,
        st: Stamp,
        book: u16,
        reference: u64,
        qty: u32,
        kind: EventKind,
        exec_price: Option<Price>,
        match_number: u64,
        printable: bool,
    ) {
        self.event(ev, st, book, kind);
        ev.order_ref = reference;
        ev.match_number = match_number;
        if printable {
            ev.flags |= flags::PRINTABLE;
        }
        let h = self.index.get(reference);
        if h == NIL {
            self.integrity.unknown_order += 1;
            ev.flags |= flags::UNKNOWN_ORDER;
            ev.price = exec_price.unwrap_or(0);
            ev.qty = if kind == EventKind::Delete { 0 } else { qty };
            self.finish(book, ev, false);
            return;
        }
        let o = *self.pool.get(h);
        self.retarget(ev, book, o.book);
        ev.side = o.side;
        ev.price = exec_price.unwrap_or(o.price);
        ev.order_price = o.price;
        ev.order_ts_ns = o.ts_ns;
        ev.mpid = o.mpid;
        if kind == EventKind::Delete {
            ev.qty = o.qty;
        } else {
            ev.qty = qty;
            if qty > o.qty {
                ev.flags |= flags::ANOMALY;
                if kind == EventKind::Cancel {
                    self.integrity.over_cancel += 1;
                } else {
                    self.integrity.over_execution += 1;
                }
            }
        }
        if qty >= o.qty {
            let (lq, lo) = self.remove_order(h);
            self.index.remove(reference);
            ev.remaining = 0;
            ev.level_qty = sat32(lq);
            ev.level_orders = lo;
        } else {
            let lv = self.books[o.book as usize].side_mut(o.side);
            match lv.find(o.price) {
                Ok(i) => {
                    let l = lv.at_mut(i);
                    l.qty -= u64::from(qty);
                    ev.level_qty = sat32(l.qty);
                    ev.level_orders = l.orders;
                }
                Err(_) => debug_assert!(false, "resting order without level"),
            }
            let n = self.pool.get_mut(h);
            n.qty -= qty;
            ev.remaining = n.qty;
        }
        self.finish_side(o.book, ev, o.side);
    }

    /// Allocates `order`, indexes it and appends it to its level's queue. Returns the level's shares and orders.
    #[inline(always)]
    fn insert_order(&mut self, order: Order) -> Option<(u64, u32)> {
        debug_assert!(order.prev == NIL && order.next == NIL);
        let h = self.pool.alloc(order)?;
        self.index.insert(order.reference, h);
        let bi = order.book as usize;
        if bi >= self.books.len() {
            self.grow(bi);
        }
        let lv = self.books[bi].side_mut(order.side);
        let i = lv.get_or_insert(order.price);
        let l = lv.at_mut(i);
        let tail = l.tail;
        l.qty += u64::from(order.qty);
        l.orders += 1;
        l.tail = h;
        if tail == NIL {
            l.head = h;
        }
        let out = (l.qty, l.orders);
        if tail != NIL {
            self.pool.get_mut(tail).next = h;
            self.pool.get_mut(h).prev = tail;
        }
        Some(out)
    }

    /// Unlinks order `h` from its level (removing the level if it empties) and frees the node. The caller removes
    /// the reference from the index. Returns the level's remaining shares and orders.
    #[inline(always)]
    fn remove_order(&mut self, h: u32) -> (u64, u32) {
        let o = *self.pool.get(h);
        let lv = self.books[o.book as usize].side_mut(o.side);
        let out = match lv.find(o.price) {
            Ok(i) => {
                let l = lv.at_mut(i);
                l.qty -= u64::from(o.qty);
                l.orders -= 1;
                if o.prev == NIL {
                    l.head = o.next;
                }
                if o.next == NIL {
                    l.tail = o.prev;
                }
                if l.orders == 0 {
                    lv.remove(i);
                    (0, 0)
                } else {
                    (l.qty, l.orders)
                }
            }
            Err(_) => {
                debug_assert!(false, "resting order without level");
                (0, 0)
            }
        };
        if o.prev != NIL {
            self.pool.get_mut(o.prev).next = o.next;
        }
        if o.next != NIL {
            self.pool.get_mut(o.next).prev = o.prev;
        }
        self.pool.free(h);
        out
    }

    /// Fills the touch fields and flags of `ev` from `book`; when `changed`, re-reads the best levels of both sides
    /// and updates the crossed/locked counters.
    #[inline(always)]
    fn finish(&mut self, book: u16, ev: &mut BookEvent, changed: bool) {
        self.finish_as(book, ev, if changed { BOTH } else { NONE });
    }

    /// Like [`Books::finish`] after a change confined to one side (only that side's best level is re-read).
    #[inline(always)]
    fn finish_side(&mut self, book: u16, ev: &mut BookEvent, side: Side) {
        self.finish_as(book, ev, if side == Side::Buy { BID } else { ASK });
    }

    #[inline(always)]
    fn finish_as(&mut self, book: u16, ev: &mut BookEvent, changed: u8) {
        let b = &mut self.books[book as usize];
        let mut t = b.touch;
        if changed & BID != 0 {
            (t.bid_price, t.bid_qty) = b.bids.best().map_or((0, 0), |l| (l.price, l.qty));
        }
        if changed & ASK != 0 {
            (t.ask_price, t.ask_qty) = b.asks.best().map_or((0, 0), |l| (l.price, l.qty));
        }
        ev.bid_price = t.bid_price;
        ev.bid_qty = sat32(t.bid_qty);
        ev.ask_price = t.ask_price;
        ev.ask_qty = sat32(t.ask_qty);
        if t != b.touch {
            b.touch = t;
            ev.flags |= flags::BBO_CHANGED;
        }
        let both = t.bid_qty != 0 && t.ask_qty != 0;
        let crossed = both && t.bid_price > t.ask_price;
        let locked = both && t.bid_price == t.ask_price;
        if crossed {
            ev.flags |= flags::CROSSED;
        }
        if locked {
            ev.flags |= flags::LOCKED;
        }
        if b.halted() {
            ev.flags |= flags::HALTED;
        }
        b.last_ts = ev.ts_ns;
        b.last_seq = ev.seq;
        b.messages += 1;
        if changed != NONE {
            if crossed {
                self.integrity.crossed += 1;
                if !b.crossed {
                    self.integrity.crossed_episodes += 1;
                }
            }
            if locked {
                self.integrity.locked += 1;
            }
            b.crossed = crossed;
        }
    }
}

/// `finish_as` change masks.
const NONE: u8 = 0;
const BID: u8 = 1;
const ASK: u8 = 2;
const BOTH: u8 = BID | ASK;

/// Iterator over the orders of one level, oldest first (see [`Books::queue`]).
#[derive(Debug, Clone)]
pub struct QueueIter<'a> {
    pool: &'a OrderPool,
    cur: u32,
}

impl Iterator for QueueIter<'_> {
    type Item = OrderInfo;

    fn next(&mut self) -> Option<OrderInfo> {
        if self.cur == NIL {
            return None;
        }
        let o = self.pool.get(self.cur);
        self.cur = o.next;
        Some(OrderInfo::from(o))
    }
}

impl From<&Level> for LevelInfo {
    #[inline]
    fn from(l: &Level) -> LevelInfo {
        LevelInfo {
            price: l.price,
            qty: l.qty,
            orders: l.orders,
        }
    }
}

impl From<&Order> for OrderInfo {
    #[inline]
    fn from(o: &Order) -> OrderInfo {
        OrderInfo {
            reference: o.reference,
            side: o.side,
            price: o.price,
            qty: o.qty,
            ts_ns: o.ts_ns,
            book: o.book,
            mpid: o.mpid,
        }
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    #[test]
    fn book_hot_fields_share_a_cache_line() {
        assert_eq!(std::mem::size_of::<Levels>(), 64);
        assert_eq!(std::mem::align_of::<Book>(), 64);
        assert_eq!(std::mem::offset_of!(Book, bids), 64);
        assert_eq!(std::mem::offset_of!(Book, asks), 128);
        assert!(std::mem::offset_of!(Book, l2) < 64);
        assert_eq!(std::mem::size_of::<Book>(), 256);
    }
}
