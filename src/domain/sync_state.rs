//! Where a stream's sync stands: the newest fully synced point and the window being filled.

/// A position in a stream: an entry's id and its time in microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPoint {
    /// Ledger or trade id.
    pub id: String,
    /// The entry's time, microseconds since the epoch.
    pub micros: i64,
}

/// A window `(lo, hi]` being filled from `hi` downwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenWindow {
    /// The newest entry when the window opened; fixed until the window closes.
    pub hi: SyncPoint,
    /// The oldest entry stored so far in this window; the next page ends here (inclusive).
    pub cursor: SyncPoint,
    /// Offset within the same `end`, used only when one timestamp holds a full page.
    pub ofs: u64,
    /// Kraken's `count` on the page that opened the window: how many entries it should hold.
    pub expected: Option<u64>,
}

/// The persisted sync state of one (account, stream).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamState {
    /// The newest entry up to which the history is complete (`lo` of the next window).
    pub synced_to: Option<SyncPoint>,
    /// The window being filled, if a walk was interrupted or is under way.
    pub window: Option<OpenWindow>,
}
