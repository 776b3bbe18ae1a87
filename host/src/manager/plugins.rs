//! The plugin registry of a host: the built-in plugins, the registered
//! ones (kept in the state store by content hash), component files named by
//! a spec (`sluice run` only, see [`PluginFiles`]) and the compiled
//! components, each compiled once. `sluice serve` and `sluice run` resolve
//! plugins through it alike.

use super::{ActivePlugin, ManagerError, Result};
use crate::plugin::{CompiledPlugin, Limits, PluginEngine, PluginError, builtin};
use crate::spec::IngestionSpec;
use crate::state::{PluginRecord, StateStore};
use crate::util::{now_ms, sha256_hex};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The version under which the built-in plugins are listed.
pub const BUILTIN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version an ingestion shows for a plugin taken from a component file.
pub const FILE_VERSION: &str = "file";

/// Whether specs may name a component file (`"sluice": {"plugin": {"path": ...}}`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PluginFiles {
    /// Refused, with what to do instead (`sluice serve`): a host that serves
    /// many ingestions, restores them after a restart and may be replaced by
    /// another host only uses components it holds in its state store by
    /// content hash; a file on one machine may change, or be missing on the
    /// next. Registering the component gives the same result.
    #[default]
    Refused,
    /// Read from disk; relative paths are relative to this directory
    /// (`sluice run`: the spec file's directory).
    RelativeTo(PathBuf),
}

pub struct PluginRegistry {
    engine: Arc<PluginEngine>,
    store: Arc<dyn StateStore>,
    files: PluginFiles,
    /// Compiled components by SHA-256 (built-in, registered and files alike).
    compiled: Mutex<HashMap<String, CompiledPlugin>>,
}

impl PluginRegistry {
    /// A registry over `store`, caching compiled code in `cache_dir` if given.
    pub fn open(cache_dir: Option<&Path>, store: Arc<dyn StateStore>, files: PluginFiles) -> Result<Self> {
        let engine = match cache_dir {
            Some(dir) => PluginEngine::with_cache(dir),
            None => PluginEngine::new(),
        }
        .map_err(|e| ManagerError::Internal(e.to_string()))?;
        Ok(PluginRegistry { engine, store, files, compiled: Mutex::new(HashMap::new()) })
    }

    fn builtin(name: &str) -> Option<(ActivePlugin, &'static [u8])> {
        let bytes = builtin::get(name)?;
        Some((ActivePlugin { name: name.into(), version: BUILTIN_VERSION.into(), sha256: sha256_hex(bytes) }, bytes))
    }

    /// The plugin a spec names: a built-in one, a registered one (a given
    /// version, or the most recently registered), or a component file.
    pub fn resolve(&self, spec: &IngestionSpec) -> Result<(ActivePlugin, CompiledPlugin)> {
        if let Some(path) = &spec.plugin.path {
            return self.resolve_file(&spec.plugin.name, path);
        }
        let (name, version) = (&spec.plugin.name, spec.plugin.version.as_deref());
        if let Some((active, bytes)) = Self::builtin(name)
            && version.is_none_or(|v| v == BUILTIN_VERSION)
        {
            let compiled = self.compiled(&active, || Ok(bytes.to_vec()))?;
            return Ok((active, compiled));
        }
        let record = self
            .store
            .load_plugins()?
            .into_iter()
            .filter(|p| &p.name == name && version.is_none_or(|v| v == p.version))
            .max_by_key(|p| p.registered_at_ms)
            .ok_or_else(|| {
                let known = builtin::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
                ManagerError::FailedPrecondition(format!(
                    "plugin {name}{} is not registered (built in: {known})",
                    version.map(|v| format!(" version {v}")).unwrap_or_default()
                ))
            })?;
        let active = ActivePlugin { name: record.name, version: record.version, sha256: record.sha256 };
        let compiled = self.compiled(&active, || Ok(self.store.load_component(&active.sha256)?))?;
        Ok((active, compiled))
    }

    /// A component file a spec names (`sluice.plugin.path`), if this host takes files.
    fn resolve_file(&self, name: &str, path: &str) -> Result<(ActivePlugin, CompiledPlugin)> {
        let base = match &self.files {
            PluginFiles::RelativeTo(dir) => dir,
            PluginFiles::Refused => {
                return Err(ManagerError::InvalidArgument(format!(
                    "sluice.plugin.path {path:?}: this host runs registered plugins only (`sluice run` takes a \
                     component file). Register it, then name it in the spec: `sluice ctl plugin register {name} \
                     0.1.0 {path}` and \"sluice\": {{\"plugin\": {{\"name\": \"{name}\", \"version\": \"0.1.0\"}}}}"
                )));
            }
        };
        let file = base.join(path);
        let bytes = std::fs::read(&file).map_err(|e| {
            ManagerError::InvalidArgument(format!(
                "sluice.plugin.path {path:?}: cannot read the component {}: {e} (a relative path is relative to the \
                 spec file)",
                file.display()
            ))
        })?;
        let active = ActivePlugin { name: name.into(), version: FILE_VERSION.into(), sha256: sha256_hex(&bytes) };
        let compiled = self.compiled(&active, || Ok(bytes)).map_err(|e| {
            let resolved = if Path::new(path).is_absolute() { String::new() } else { format!(" ({})", file.display()) };
            ManagerError::InvalidArgument(format!("sluice.plugin.path {path:?}{resolved}: {e}"))
        })?;
        Ok((active, compiled))
    }

    /// The compiled component of `active`, compiled from `bytes` the first time.
    fn compiled(&self, active: &ActivePlugin, bytes: impl FnOnce() -> Result<Vec<u8>>) -> Result<CompiledPlugin> {
        if let Some(c) = self.lock().get(&active.sha256) {
            return Ok(c.clone());
        }
        let compiled = self
            .engine
            .compile(&active.name, &bytes()?, Limits::default())
            .map_err(|e| ManagerError::Internal(e.to_string()))?;
        self.lock().insert(active.sha256.clone(), compiled.clone());
        Ok(compiled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CompiledPlugin>> {
        self.compiled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a plugin version after checking that the component
    /// implements the `message-format` world.
    pub fn register(&self, name: &str, version: &str, component: &[u8]) -> Result<PluginRecord> {
        let valid = |s: &str| {
            !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !valid(name) || !valid(version) {
            return Err(ManagerError::InvalidArgument(
                "plugin name and version: 1-64 letters, digits, '-', '_' or '.'".into(),
            ));
        }
        if builtin::get(name).is_some() && version == BUILTIN_VERSION {
            return Err(ManagerError::AlreadyExists(format!("{name} {BUILTIN_VERSION} is built in")));
        }
        if self.store.load_plugins()?.iter().any(|p| p.name == name && p.version == version) {
            return Err(ManagerError::AlreadyExists(format!("plugin {name} version {version} is already registered")));
        }
        let compiled = self.engine.compile(name, component, Limits::default()).map_err(|e| match e {
            PluginError::Invalid { reason, .. } => {
                ManagerError::InvalidArgument(format!("not a sluice:plugin/message-format component: {reason}"))
            }
            other => ManagerError::InvalidArgument(other.to_string()),
        })?;
        let record = PluginRecord {
            name: name.into(),
            version: version.into(),
            sha256: sha256_hex(component),
            size: component.len() as u64,
            registered_at_ms: now_ms(),
        };
        self.store.save_plugin(&record, component)?;
        self.lock().insert(record.sha256.clone(), compiled);
        tracing::info!(plugin = name, version, sha256 = %record.sha256, "plugin registered");
        Ok(record)
    }

    /// Every plugin, the built-in ones first.
    pub fn list(&self) -> Result<Vec<PluginRecord>> {
        let mut out: Vec<PluginRecord> = builtin::ALL
            .iter()
            .map(|(name, bytes)| PluginRecord {
                name: (*name).into(),
                version: BUILTIN_VERSION.into(),
                sha256: sha256_hex(bytes),
                size: bytes.len() as u64,
                registered_at_ms: 0,
            })
            .collect();
        out.extend(self.store.load_plugins()?);
        Ok(out)
    }

    /// Whether `name` `version` is registered (not built in).
    pub fn is_registered(&self, name: &str, version: &str) -> Result<bool> {
        Ok(self.store.load_plugins()?.iter().any(|p| p.name == name && p.version == version))
    }

    /// Removes a registered version (the caller checks it is unused).
    pub fn remove(&self, name: &str, version: &str) -> Result<()> {
        self.store.delete_plugin(name, version)?;
        Ok(())
    }

    /// Forgets every registered plugin.
    pub fn remove_all(&self) -> Result<()> {
        for p in self.store.load_plugins()? {
            self.store.delete_plugin(&p.name, &p.version)?;
        }
        self.lock().clear();
        Ok(())
    }

    /// Every registered plugin record (for exports).
    pub fn records(&self) -> Result<Vec<PluginRecord>> {
        Ok(self.store.load_plugins()?)
    }
}

impl super::Manager {
    /// Registers a plugin version (see [`PluginRegistry::register`]).
    pub fn register_plugin(&self, name: &str, version: &str, component: &[u8]) -> Result<PluginRecord> {
        self.plugins.register(name, version, component)
    }

    /// Every plugin, the built-in ones first.
    pub fn list_plugins(&self) -> Result<Vec<PluginRecord>> {
        self.plugins.list()
    }

    /// Removes a plugin version; refused while an ingestion uses it.
    pub fn remove_plugin(&self, name: &str, version: &str) -> Result<()> {
        if !self.plugins.is_registered(name, version)? {
            return Err(ManagerError::NotFound(format!("plugin {name} version {version} is not registered")));
        }
        if let Some(user) = self.lock().values().find(|m| m.plugin.name == name && m.plugin.version == version) {
            return Err(ManagerError::FailedPrecondition(format!(
                "plugin {name} version {version} is used by ingestion {}",
                user.spec.name
            )));
        }
        self.plugins.remove(name, version)
    }
}
