//! What a plugin may import, and what happens to the rest.
//!
//! The sandbox grants `sluice:plugin` and WASI 0.2's cli, io, clocks, random,
//! filesystem and sockets interfaces (with an empty context: no preopened
//! directories, no environment, no network). Toolchains link more than a
//! plugin uses: a componentize-js component imports `wasi:http` for
//! StarlingMonkey's `fetch` whether or not the code calls it. Such a
//! component still loads: every import the sandbox does not grant is defined
//! as a function that fails the call with [`DeniedImport`], which the host
//! narrows to the message that made the call, like any trap.

use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, LinkerInstance, ResourceType};

/// Interface packages the sandbox implements, with the versions it accepts
/// (wasmtime matches any semver-compatible version: `@0.2.x`).
const GRANTED: &[(&str, &str)] = &[
    ("sluice:plugin/", "0.1"),
    ("sluice:plugin/", "0.2"),
    ("wasi:cli/", "0.2"),
    ("wasi:io/", "0.2"),
    ("wasi:clocks/", "0.2"),
    ("wasi:random/", "0.2"),
    ("wasi:filesystem/", "0.2"),
    ("wasi:sockets/", "0.2"),
];

/// The sandbox's granted interfaces, for messages.
pub const GRANTED_TEXT: &str = "sluice:plugin and WASI 0.2's cli, io, clocks, random, filesystem and sockets, with no files, environment or network";

/// Whether the sandbox implements the import `name` (e.g. `wasi:io/streams@0.2.12`).
pub fn is_granted(name: &str) -> bool {
    GRANTED.iter().any(|(package, major_minor)| {
        name.strip_prefix(package).and_then(|rest| rest.split_once('@')).is_some_and(|(_, version)| {
            version.strip_prefix(major_minor).is_some_and(|patch| patch.is_empty() || patch.starts_with('.'))
        })
    })
}

/// A plugin called an import the sandbox does not grant.
#[derive(Debug)]
pub struct DeniedImport {
    /// `interface#function`, e.g. `wasi:http/outgoing-handler@0.2.10#handle`.
    pub function: String,
}

impl std::fmt::Display for DeniedImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "plugin called {}, an import the sandbox does not grant (it grants only {GRANTED_TEXT})",
            self.function
        )
    }
}

impl std::error::Error for DeniedImport {}

/// Host resource type standing in for a resource of a denied interface; no
/// value of it is ever made (only denied functions could make one).
struct DeniedResource;

/// Defines every import of `component` that the sandbox does not grant as
/// functions failing with [`DeniedImport`] (and resource types nothing can
/// make). Returns the names of those imports, in the component's order.
pub fn stub_denied<T: 'static>(
    linker: &mut Linker<T>,
    engine: &Engine,
    component: &Component,
) -> wasmtime::Result<Vec<String>> {
    let ty = component.component_type();
    // Resources that granted imports (or earlier stubs) introduce: a denied
    // interface that `use`s one (wasi:http/types uses wasi:io's streams)
    // re-exports it as an alias, which must be left to the original.
    let mut known: Vec<ResourceType> = Vec::new();
    let mut denied = Vec::new();
    for (name, import) in ty.imports(engine) {
        match import.ty {
            ComponentItem::ComponentInstance(instance) if is_granted(name) => {
                known.extend(instance.exports(engine).filter_map(|(_, e)| match e.ty {
                    ComponentItem::Resource(r) => Some(r),
                    _ => None,
                }));
            }
            _ if is_granted(name) => {}
            ComponentItem::ComponentInstance(instance) => {
                let mut stub = linker.instance(name)?;
                for (export, item) in instance.exports(engine) {
                    stub_item(&mut stub, &format!("{name}#{export}"), export, item.ty, &mut known)?;
                }
                denied.push(name.to_string());
            }
            item => {
                stub_item(&mut linker.root(), name, name, item, &mut known)?;
                denied.push(name.to_string());
            }
        }
    }
    Ok(denied)
}

fn stub_item<T: 'static>(
    linker: &mut LinkerInstance<'_, T>,
    full_name: &str,
    name: &str,
    item: ComponentItem,
    known: &mut Vec<ResourceType>,
) -> wasmtime::Result<()> {
    match item {
        ComponentItem::ComponentFunc(_) => {
            let function = full_name.to_string();
            linker.func_new(name, move |_, _, _, _| {
                Err(wasmtime::Error::new(DeniedImport { function: function.clone() }))
            })
        }
        ComponentItem::Resource(r) if known.contains(&r) => Ok(()),
        ComponentItem::Resource(r) => {
            known.push(r);
            linker.resource(name, ResourceType::host::<DeniedResource>(), |_, _| Ok(()))
        }
        // Plain types need no definition; nested instances, modules and
        // components are not something WIT worlds import.
        ComponentItem::Type(_) => Ok(()),
        other => wasmtime::bail!("cannot stand in for the import {full_name} ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granted_interfaces_match_any_compatible_version() {
        assert!(is_granted("wasi:io/streams@0.2.12"));
        assert!(is_granted("wasi:cli/environment@0.2.0"));
        assert!(is_granted("wasi:sockets/tcp@0.2.9"));
        assert!(is_granted("sluice:plugin/log@0.1.0"));
        assert!(is_granted("sluice:plugin/log@0.2.0"));
        assert!(!is_granted("wasi:http/types@0.2.10"));
        assert!(!is_granted("wasi:io/streams@0.3.0"));
        assert!(!is_granted("wasi:io/streams@0.20.0"));
        assert!(!is_granted("wasi:cli/run"));
        assert!(!is_granted("my:own/thing@1.0.0"));
    }
}
