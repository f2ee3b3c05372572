//! Capture readers (pcap, pcapng, raw ITCH) and the link/IPv4/UDP layers on arbitrary files: opening either fails
//! with an error or yields frames that lie inside the file, and the full analysis never panics.
#![no_main]

use feed::analyze::{Analyzer, AnalyzerConfig};
use feed::capture::{net, Capture, Format, Frames};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut frames) = Frames::from_bytes(data) {
        let base = data.as_ptr() as usize;
        let mut last = 0u64;
        for f in frames.by_ref() {
            let start = f.data.as_ptr() as usize;
            assert!(start >= base && start + f.data.len() <= base + data.len());
            assert_eq!(f.number, last + 1);
            last = f.number;
            if let Ok(udp) = net::udp_payload(f.link_type, f.data) {
                assert!(udp.payload.len() <= f.data.len());
            }
        }
        let _ = frames.stopped();
    }
    for format in [None, Some(Format::Pcap), Some(Format::PcapNg), Some(Format::RawItch)] {
        if let Ok(cap) = Capture::from_vec("fuzz", data.to_vec(), format) {
            let mut an = Analyzer::new(AnalyzerConfig::default());
            let mut n = 0u64;
            an.run(&cap, &mut |_, _| n += 1);
            assert_eq!(n, an.stats().messages);
        }
    }
});
