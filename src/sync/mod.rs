//! Gap-free incremental sync: the window planner (pure) and the driver that runs it.

pub mod backfill;
pub mod driver;
pub mod planner;
pub mod run;

pub use crate::key_state::StoreKeyState;
pub use backfill::{
    BackfillError, BackfillMode, BackfillOptions, BackfillReport, UnknownBackfillMode, backfill,
};
pub use driver::{
    ProgressEvent, StreamReport, SyncError, SyncFailure, SyncOptions, SyncReport, sync_account,
    sync_account_into,
};
pub use run::{
    AlertDecision, ErrorKind, RunError, RunEvent, SyncPlan, alert_decision, report_json, run,
    summary_line,
};
