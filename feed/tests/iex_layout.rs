//! Layout of every IEX view against the specifications' message lengths and field offsets, written out here
//! independently of the views (IEX TOPS 1.6, DEEP 1.0, DEEP+ 1.02 and IEX-TP 1 specifications).

use feed::iex::message::*;
use feed::iex::{decode, Message, Protocol, TransportHeader};

#[test]
fn every_view_has_its_spec_length() {
    let table: [(&str, usize, usize); 18] = [
        ("SystemEvent", std::mem::size_of::<SystemEvent>(), 10),
        (
            "SecurityDirectory",
            std::mem::size_of::<SecurityDirectory>(),
            31,
        ),
        ("TradingStatus", std::mem::size_of::<TradingStatus>(), 22),
        (
            "RetailLiquidityIndicator",
            std::mem::size_of::<RetailLiquidityIndicator>(),
            18,
        ),
        (
            "OperationalHaltStatus",
            std::mem::size_of::<OperationalHaltStatus>(),
            18,
        ),
        (
            "ShortSalePriceTestStatus",
            std::mem::size_of::<ShortSalePriceTestStatus>(),
            19,
        ),
        ("SecurityEvent", std::mem::size_of::<SecurityEvent>(), 18),
        ("QuoteUpdate", std::mem::size_of::<QuoteUpdate>(), 42),
        (
            "PriceLevelUpdate",
            std::mem::size_of::<PriceLevelUpdate>(),
            30,
        ),
        ("TradeReport", std::mem::size_of::<TradeReport>(), 38),
        ("OfficialPrice", std::mem::size_of::<OfficialPrice>(), 26),
        ("TradeBreak", std::mem::size_of::<TradeBreak>(), 38),
        (
            "AuctionInformation",
            std::mem::size_of::<AuctionInformation>(),
            80,
        ),
        ("AddOrder", std::mem::size_of::<AddOrder>(), 38),
        ("OrderModify", std::mem::size_of::<OrderModify>(), 38),
        ("OrderDelete", std::mem::size_of::<OrderDelete>(), 26),
        ("OrderExecuted", std::mem::size_of::<OrderExecuted>(), 46),
        ("ClearBook", std::mem::size_of::<ClearBook>(), 18),
    ];
    for (name, size, spec) in table {
        assert_eq!(size, spec, "{name}");
    }
    assert_eq!(std::mem::size_of::<TransportHeader>(), 40);
    assert_eq!(std::mem::align_of::<AuctionInformation>(), 1);
    assert_eq!(SystemEvent::SPEC_LEN, 10);
    assert_eq!(AuctionInformation::SPEC_LEN, 80);
}

fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    buf[off..off + bytes.len()].copy_from_slice(bytes);
}

/// Builds a message with distinct values at the spec offsets and checks every accessor reads them back.
#[test]
fn fields_sit_at_spec_offsets() {
    // Auction Information: the longest layout, every field type.
    let mut a = [0u8; 80];
    put(&mut a, 0, b"A");
    put(&mut a, 1, b"C");
    put(&mut a, 2, &1_499_697_242_499_992_827i64.to_le_bytes());
    put(&mut a, 10, b"ZEXIT   ");
    put(&mut a, 18, &11u32.to_le_bytes());
    put(&mut a, 22, &99_600i64.to_le_bytes());
    put(&mut a, 30, &100_200i64.to_le_bytes());
    put(&mut a, 38, &3_008u32.to_le_bytes());
    put(&mut a, 42, b"B");
    put(&mut a, 43, &[2]);
    put(&mut a, 44, &1_499_715_000u32.to_le_bytes());
    put(&mut a, 48, &100_400i64.to_le_bytes());
    put(&mut a, 56, &99_550i64.to_le_bytes());
    put(&mut a, 64, &89_600i64.to_le_bytes());
    put(&mut a, 72, &(-109_500i64).to_le_bytes());
    let Ok(Message::AuctionInformation(m)) = decode(Protocol::Tops, &a) else {
        panic!("A")
    };
    assert_eq!(m.auction_type(), b'C');
    assert_eq!(m.timestamp(), 1_499_697_242_499_992_827);
    assert_eq!(m.symbol(), b"ZEXIT   ");
    assert_eq!(m.paired_shares(), 11);
    assert_eq!(m.reference_price(), 99_600);
    assert_eq!(m.indicative_clearing_price(), 100_200);
    assert_eq!(m.imbalance_shares(), 3_008);
    assert_eq!(m.imbalance_side(), b'B');
    assert_eq!(m.extension_number(), 2);
    assert_eq!(m.scheduled_auction_time(), 1_499_715_000);
    assert_eq!(m.auction_book_clearing_price(), 100_400);
    assert_eq!(m.collar_reference_price(), 99_550);
    assert_eq!(m.lower_auction_collar(), 89_600);
    assert_eq!(m.upper_auction_collar(), -109_500);
    assert!(decode(Protocol::Deep, &a).is_ok());

    // Quote Update (TOPS).
    let mut q = [0u8; 42];
    put(&mut q, 0, b"Q");
    put(&mut q, 1, &[0xc0]);
    put(&mut q, 2, &5i64.to_le_bytes());
    put(&mut q, 10, b"ATSG    ");
    put(&mut q, 18, &18_773u32.to_le_bytes());
    put(&mut q, 22, &241_900i64.to_le_bytes());
    put(&mut q, 30, &242_500i64.to_le_bytes());
    put(&mut q, 38, &60_677u32.to_le_bytes());
    let Ok(Message::QuoteUpdate(m)) = decode(Protocol::Tops, &q) else {
        panic!("Q")
    };
    assert_eq!((m.flags(), m.timestamp()), (0xc0, 5));
    assert_eq!(
        (m.bid_size(), m.bid_price(), m.ask_price(), m.ask_size()),
        (18_773, 241_900, 242_500, 60_677)
    );

    // Order Executed (DEEP+), 46 bytes.
    let mut l = [0u8; 46];
    put(&mut l, 0, b"L");
    put(&mut l, 1, &[0x40]);
    put(&mut l, 2, &6i64.to_le_bytes());
    put(&mut l, 10, b"IBKR    ");
    put(&mut l, 18, &27_866_022_694_354_957u64.to_le_bytes());
    put(&mut l, 26, &100u32.to_le_bytes());
    put(&mut l, 30, &1_380_000i64.to_le_bytes());
    put(&mut l, 38, &27_866_022_694_354_968u64.to_le_bytes());
    let Ok(Message::OrderExecuted(m)) = decode(Protocol::DeepPlus, &l) else {
        panic!("L")
    };
    assert_eq!(m.order_id(), 27_866_022_694_354_957);
    assert_eq!(
        (m.size(), m.price(), m.trade_id()),
        (100, 1_380_000, 27_866_022_694_354_968)
    );
    assert!(m.sale_conditions().extended_hours());

    // Add Order / Modify / Delete / Clear Book (DEEP+).
    let mut ad = [0u8; 38];
    put(&mut ad, 0, b"a");
    put(&mut ad, 1, b"5");
    put(&mut ad, 18, &429_974u64.to_le_bytes());
    put(&mut ad, 26, &100u32.to_le_bytes());
    put(&mut ad, 30, &990_500i64.to_le_bytes());
    let Ok(Message::AddOrder(m)) = decode(Protocol::DeepPlus, &ad) else {
        panic!("a")
    };
    assert_eq!(
        (m.side_enum(), m.order_id(), m.size(), m.price()),
        (Some(Side::Sell), 429_974, 100, 990_500)
    );
    ad[0] = b'M';
    ad[1] = 0x01;
    let Ok(Message::OrderModify(m)) = decode(Protocol::DeepPlus, &ad) else {
        panic!("M")
    };
    assert!(m.maintains_priority());
    assert_eq!((m.order_id(), m.size(), m.price()), (429_974, 100, 990_500));
    let mut r = [0u8; 26];
    put(&mut r, 0, b"R");
    put(&mut r, 18, &429_974u64.to_le_bytes());
    let Ok(Message::OrderDelete(m)) = decode(Protocol::DeepPlus, &r) else {
        panic!("R")
    };
    assert_eq!(m.order_id(), 429_974);
    let mut c = [0u8; 18];
    put(&mut c, 0, b"C");
    put(&mut c, 10, b"ZIEXT   ");
    let Ok(Message::ClearBook(m)) = decode(Protocol::DeepPlus, &c) else {
        panic!("C")
    };
    assert_eq!(m.symbol(), b"ZIEXT   ");

    // Security Directory: round lot at 18, price at 22, LULD tier at 30.
    let mut d = [0u8; 31];
    put(&mut d, 0, b"D");
    put(&mut d, 1, &[0x80]);
    put(&mut d, 18, &100u32.to_le_bytes());
    put(&mut d, 22, &990_500i64.to_le_bytes());
    put(&mut d, 30, &[1]);
    let Ok(Message::SecurityDirectory(m)) = decode(Protocol::DeepPlus, &d) else {
        panic!("D")
    };
    assert_eq!(
        (
            m.flags(),
            m.round_lot_size(),
            m.adjusted_poc_price(),
            m.luld_tier()
        ),
        (0x80, 100, 990_500, 1)
    );

    // Trading status reason at 18..22; short sale detail at 18; official price at 18.
    let mut h = [0u8; 22];
    put(&mut h, 0, b"H");
    put(&mut h, 18, b"T1  ");
    let Ok(Message::TradingStatus(m)) = decode(Protocol::Tops, &h) else {
        panic!("H")
    };
    assert_eq!(m.reason(), b"T1  ");
    let mut p = [0u8; 19];
    put(&mut p, 0, b"P");
    put(&mut p, 1, &[1]);
    put(&mut p, 18, b"A");
    let Ok(Message::ShortSalePriceTestStatus(m)) = decode(Protocol::Deep, &p) else {
        panic!("P")
    };
    assert_eq!((m.short_sale_price_test_status(), m.detail()), (1, b'A'));
    let mut x = [0u8; 26];
    put(&mut x, 0, b"X");
    put(&mut x, 1, b"Q");
    put(&mut x, 18, &1_000_000i64.to_le_bytes());
    let Ok(Message::OfficialPrice(m)) = decode(Protocol::Tops, &x) else {
        panic!("X")
    };
    assert_eq!((m.price_type(), m.official_price()), (b'Q', 1_000_000));

    // Trade report / break: size 18, price 22, trade id 30. Price level update: size 18, price 22.
    let mut t = [0u8; 38];
    put(&mut t, 0, b"T");
    put(&mut t, 18, &283u32.to_le_bytes());
    put(&mut t, 22, &1_489_100i64.to_le_bytes());
    put(&mut t, 30, &128_140u64.to_le_bytes());
    let Ok(Message::TradeReport(m)) = decode(Protocol::Tops, &t) else {
        panic!("T")
    };
    assert_eq!(
        (m.size(), m.price(), m.trade_id()),
        (283, 1_489_100, 128_140)
    );
    t[0] = b'B';
    let Ok(Message::TradeBreak(m)) = decode(Protocol::DeepPlus, &t) else {
        panic!("B")
    };
    assert_eq!(
        (m.size(), m.price(), m.trade_id()),
        (283, 1_489_100, 128_140)
    );
    let mut u = [0u8; 30];
    put(&mut u, 0, b"8");
    put(&mut u, 1, &[1]);
    put(&mut u, 18, &2_982u32.to_le_bytes());
    put(&mut u, 22, &252_000i64.to_le_bytes());
    let Ok(Message::PriceLevelUpdate(m)) = decode(Protocol::Deep, &u) else {
        panic!("8")
    };
    assert_eq!(
        (m.side(), m.size(), m.price(), m.ends_batch()),
        (Side::Buy, 2_982, 252_000, true)
    );
}

#[test]
fn transport_header_fields_sit_at_spec_offsets() {
    let mut h = [0u8; 40];
    put(&mut h, 0, &[1, 0]);
    put(&mut h, 2, &0x8005u16.to_le_bytes());
    put(&mut h, 4, &1u32.to_le_bytes());
    put(&mut h, 8, &1_310_523_392u32.to_le_bytes());
    put(&mut h, 12, &0u16.to_le_bytes());
    put(&mut h, 14, &0u16.to_le_bytes());
    put(&mut h, 16, &1_252_425u64.to_le_bytes());
    put(&mut h, 24, &59_330u64.to_le_bytes());
    put(&mut h, 32, &1_727_790_988_348_659_471i64.to_le_bytes());
    let v = TransportHeader::view(&h).unwrap();
    assert_eq!(
        (v.version(), v.message_protocol_id(), v.protocol()),
        (1, 0x8005, Some(Protocol::DeepPlus))
    );
    assert_eq!((v.channel_id(), v.session_id()), (1, 1_310_523_392));
    assert_eq!(
        (v.payload_length(), v.message_count(), v.is_heartbeat()),
        (0, 0, true)
    );
    assert_eq!(
        (v.stream_offset(), v.first_message_sequence_number()),
        (1_252_425, 59_330)
    );
    assert_eq!(v.send_time(), 1_727_790_988_348_659_471);
}
