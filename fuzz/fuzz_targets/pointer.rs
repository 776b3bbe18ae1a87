//! Pointer parsing: `Pointer::from_str` accepts exactly the non-negative
//! decimal integers (surrounding whitespace allowed), keeps them canonical,
//! and orders them numerically, by value and by sort key alike.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::pointer::Pointer;
use std::cmp::Ordering;

fn check(text: &str) -> Option<Pointer> {
    let parsed = text.parse::<Pointer>();
    let digits = text.trim();
    let canonical = digits.trim_start_matches('0');
    let canonical = if canonical.is_empty() { "0" } else { canonical };
    let valid = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && canonical.len() <= 160;
    match parsed {
        Ok(p) => {
            assert!(valid, "{text:?} accepted as {p}");
            let shown = p.to_string();
            assert_eq!(shown, canonical);
            assert_eq!(p.as_u64(), shown.parse::<u64>().ok(), "u64 fast path iff it fits");
            assert_eq!(shown.parse::<Pointer>().as_ref(), Ok(&p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Pointer>(&json).unwrap(), p);
            Some(p)
        }
        Err(e) => {
            assert!(!valid, "{text:?} rejected: {e}");
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Two pointers, to compare: `a|b`.
    let (a, b) = text.split_once('|').unwrap_or((text, "18446744073709551616"));
    if let (Some(pa), Some(pb)) = (check(a), check(b)) {
        let (sa, sb) = (pa.to_string(), pb.to_string());
        let numeric = sa.len().cmp(&sb.len()).then_with(|| sa.cmp(&sb));
        assert_eq!(pa.cmp(&pb), numeric, "{sa} vs {sb}");
        assert_eq!(pa.sort_key().cmp(&pb.sort_key()), numeric, "sort keys of {sa} vs {sb}");
        assert_eq!(pa == pb, numeric == Ordering::Equal);
    }
});
