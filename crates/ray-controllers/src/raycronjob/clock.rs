//! The clock of the RayCronJob controller: the crate's [`crate::clock`], which every controller now shares. Kept so
//! `raycronjob::clock::*` paths keep working.

pub use crate::clock::{Clock, ManualClock, SystemClock};
