//! Each provider's limits, limited and not: the exact normalized headers.
//!
//! The cases are the `limited_and_not` list of `cases.json`.

use super::*;

// ---------- providers ----------

#[test]
fn providers_limited_and_not() {
    run(&DATA.limited_and_not);
}
