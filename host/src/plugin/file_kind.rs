//! Telling a file that is no component at all (a wrong path, a core module)
//! from a component that fails to compile, in plain words.

/// Why `bytes` cannot be a WebAssembly component, said plainly (wasmtime's
/// own parse error for a wrong file is a debug dump of byte arrays).
pub(super) fn not_a_component(bytes: &[u8]) -> Option<String> {
    const MAGIC: &[u8] = b"\0asm";
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        let head: String =
            bytes.iter().take(16).map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }).collect();
        return Some(format!("not a WebAssembly file: it does not start with \\0asm (it starts with {head:?})"));
    }
    // Bytes 4..8: version and layer; a core module is layer 0, a component layer 1.
    if bytes[6..8] == [0, 0] {
        return Some(
            "a core WebAssembly module, not a component: build the plugin for wasm32-wasip2 (cargo, componentize-py, \
         componentize-js) or wrap the module with `wasm-tools component new`"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod not_a_component_tests {
    #[test]
    fn a_wrong_file_or_a_core_module_is_said_plainly() {
        let text = super::not_a_component(b"notjson, not wasm").unwrap();
        assert!(text.contains("not a WebAssembly file") && text.contains("notjson"), "{text}");
        assert!(!text.contains("0x"), "{text}");
        let core = super::not_a_component(b"\0asm\x01\x00\x00\x00").unwrap();
        assert!(core.contains("core WebAssembly module, not a component"), "{core}");
        assert_eq!(super::not_a_component(b"\0asm\x0d\x00\x01\x00"), None);
    }
}
