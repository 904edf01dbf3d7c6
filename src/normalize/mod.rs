//! Asset codes and the grouping of ledger legs into events.

pub mod assets;
pub mod events;
pub mod legs;
