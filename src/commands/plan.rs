//! `lakesync plan`'s view of how the selection would be listed: for every data-type folder
//! whose symbols the selection leaves open, the symbols discovery finds and whether one
//! whole listing or narrowed prefixes is cheaper ([`crate::list::discover::choose`]).

use crate::error::EnvError;
use crate::list::discover::{self, FolderChoice};
use crate::list::multi::ListCounts;
use crate::list::paired::DEFAULT_IN_FLIGHT;
use crate::list::sides::Sides;
use crate::os::signals::Interrupt;
use crate::os::workdir::make_workdir;
use crate::settings::Settings;

/// The listing choices of the selection, and what discovery cost. Empty when there is
/// nothing to discover (no selection, `--symbols` given, or a source manifest).
pub async fn listing_choices(
    settings: &Settings,
    interrupt: &Interrupt,
) -> Result<(Vec<FolderChoice>, ListCounts), EnvError> {
    let Some(sel) = &settings.selection else {
        return Ok(Default::default());
    };
    if settings.source_manifest.is_some() || sel.open_folders().is_empty() {
        return Ok(Default::default());
    }
    let sides = Sides::prepare(settings, interrupt).await?;
    let workdir = make_workdir(settings.temp_dir.as_deref())?;
    let lister = sides.lister(&sides.source_globals);
    let (found, counts) = discover::discover(
        &lister,
        &settings.source,
        sel,
        DEFAULT_IN_FLIGHT,
        workdir.path(),
    )
    .await
    .map_err(|e| EnvError::new(format!("symbol discovery: {e}"), e.hint()))?;
    Ok((discover::choose(sel, &found), counts))
}
