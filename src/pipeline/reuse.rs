//! One rule for reusing an intermediate that an earlier run wrote (`features.h5`, `result_<model>.h5`):
//! it is reused only when the input hash recorded inside it equals the hash of the current inputs *and*
//! its bytes still match the checksum recorded beside it (`.sha256`). Anything else is recomputed, and
//! the log says which file and why.

use std::path::Path;

use tracing::{info, warn};

use crate::fsutil::checksum;

/// Whether the existing file at `path` may be reused. `recorded` reads the input hash recorded in the file
/// (or says why it cannot), `expected` the hash of the current inputs; `label` names the target or
/// model in the log, `redo` says what happens instead ("regenerating it", "predicting again").
pub(crate) fn may_reuse(
    label: &str,
    path: &Path,
    recorded: impl FnOnce() -> Result<String, String>,
    expected: &str,
    redo: &str,
) -> bool {
    if !path.exists() {
        return false;
    }
    match recorded() {
        Err(e) => {
            warn!("{label}: {e}; {redo}");
            return false;
        }
        Ok(h) if h != expected => {
            info!(
                "{label}: {} was made from other inputs; {redo}",
                path.display()
            );
            return false;
        }
        Ok(_) => {}
    }
    // Hashed only when the file would be reused.
    let integrity = checksum::check(path);
    if !integrity.is_match() {
        warn!("{label}: {} {}; {redo}", path.display(), integrity.reason());
        return false;
    }
    true
}
