//! The catalog: every check the engine runs, in report order.

use std::sync::OnceLock;

use super::check_def::CheckDef;
use super::checks;

/// Every check, ordered by id (the order findings are reported in).
pub fn catalog() -> &'static [CheckDef] {
    static CATALOG: OnceLock<Vec<CheckDef>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut all = checks::all();
        all.sort_by_key(|def| def.id);
        all
    })
}
