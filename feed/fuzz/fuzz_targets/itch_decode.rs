//! ITCH 5.0 decoder: any bytes either decode to a view whose fields can all be read and which re-encodes to the same
//! bytes, or give a `DecodeError` consistent with the spec length table. Also walks the input as a raw ITCH stream.
#![no_main]

use feed::capture::RawMessages;
use feed::encode::itch::Message as Owned;
use feed::itch::{self, DecodeError};
use libfuzzer_sys::fuzz_target;

fn check(bytes: &[u8]) {
    match itch::decode(bytes) {
        Ok(m) => {
            assert_eq!(itch::spec_len(bytes[0]), Some(bytes.len()));
            assert_eq!(m.as_bytes(), bytes);
            let mut n = 0u64;
            m.for_each_field(|_, v| n = n.wrapping_add(match v {
                itch::FieldValue::Char(c) => c as u64,
                itch::FieldValue::UInt(x) => x,
                itch::FieldValue::Alpha(a) => a.len() as u64,
                itch::FieldValue::Price4(p) => p as u64,
                itch::FieldValue::Price8(p) => p,
            }));
            let owned = Owned::from(m);
            let mut buf = [0u8; 64];
            let len = owned.encode(&mut buf).expect("64 bytes hold any ITCH message");
            assert_eq!(&buf[..len], bytes, "re-encoding changed the bytes");
            std::hint::black_box(n);
        }
        Err(DecodeError::Empty) => assert!(bytes.is_empty()),
        Err(DecodeError::UnknownType(t)) => assert_eq!(itch::spec_len(t), None),
        Err(DecodeError::LengthMismatch { ty, expected, got }) => {
            assert_eq!(itch::spec_len(ty), Some(expected as usize));
            assert_ne!(expected as usize, got);
            assert_eq!(got, bytes.len());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut it = RawMessages::new(data);
    let mut total = 0usize;
    for (off, m) in it.by_ref() {
        assert!(off as usize + 2 + m.len() <= data.len());
        total += 2 + m.len();
        check(m);
    }
    assert!(total <= data.len());
    if it.cut_short().is_none() {
        assert_eq!(total, data.len());
    }
});
