//! The state-file reader: any bytes are a record or a `Corrupt` error that
//! names the file, never a panic. Half the inputs get a valid header (length
//! and CRC-32) around them, so the fuzzer reaches the JSON body as well.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::state::file::{decode, encode};
use sluice::state::{IngestionRecord, PluginRecord, StateError};
use std::path::Path;

fn check<T>(path: &Path, bytes: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    match decode::<T>(path, bytes) {
        Ok(record) => {
            let again = decode::<T>(path, &encode(&record)).expect("an encoded record decodes");
            assert_eq!(again, record);
        }
        Err(StateError::Corrupt { path: p, reason }) => {
            assert_eq!(p, path.display().to_string());
            assert!(!reason.is_empty());
        }
        Err(other) => panic!("decode gave a non-corruption error: {other}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else { return };
    let bytes = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut framed =
            format!("sluice-state v1 length={} crc32={:08x}\n", rest.len(), crc32fast::hash(rest)).into_bytes();
        framed.extend_from_slice(rest);
        framed
    };
    let path = Path::new("/state/fuzz.json");
    check::<IngestionRecord>(path, &bytes);
    check::<PluginRecord>(path, &bytes);
});
