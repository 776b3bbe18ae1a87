//! Reading a spec file for `sluice run` and `sluice ctl create`. An
//! OpenSearch index body has no `name` (OpenSearch takes it from the URL):
//! here it comes from `--name` or the file's stem, and the command says so.
//! A Druid supervisor spec is named by its `dataSchema.dataSource`: `--name`
//! must agree with it, and the stem names it only when it has none.

use anyhow::{Context, bail};
use serde_json::Value;
use sluice::spec::{NameConflict, body_name, set_name, validate_name};
use std::path::Path;

/// The spec in `path` as JSON with its name: the body's own, `flag`
/// (`--name`; a body whose `name` differs is an error naming both), or the
/// file's stem, in which case a note for stderr says so.
pub fn read_spec(path: &Path, flag: Option<&str>) -> anyhow::Result<(Value, Option<String>)> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {shown}"))?;
    let mut spec: Value = serde_json::from_str(&text).with_context(|| format!("{shown} is not valid JSON"))?;
    // A relative base_directory is relative to the spec file, not to
    // wherever the command runs (and a host refuses relative ones).
    sluice::spec::resolve_base_directory(&mut spec, path.parent().unwrap_or(Path::new(".")));
    if let Some(name) = flag {
        return match set_name(&mut spec, name) {
            Ok(_) => Ok((spec, None)),
            Err(NameConflict::Differs(own)) => bail!("{shown} names the ingestion {own} but --name says {name:?}"),
            // The spec parser says what is wrong with it.
            Err(NameConflict::NotAnObject) => Ok((spec, None)),
        };
    }
    if !spec.is_object() || body_name(&spec).is_some() {
        return Ok((spec, None));
    }
    let field = if sluice::spec::is_druid(&spec) { "dataSchema.dataSource" } else { "name" };
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if let Err(e) = validate_name(&stem) {
        bail!(
            "{shown} has no \"{field}\" and its file name {stem:?} is no valid name ({e}); add a \"{field}\" to the spec"
        );
    }
    // A Druid spec whose dataSchema is no object keeps it: the parser says so.
    let _ = set_name(&mut spec, &stem);
    Ok((spec, Some(format!("{shown} has no \"{field}\": the ingestion is named {stem:?} after the file"))))
}
