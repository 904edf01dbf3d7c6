//! The two history streams the tool keeps.

use std::fmt;

/// A paged history stream of a Kraken account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// `Ledgers`: every movement of every asset.
    Ledgers,
    /// `TradesHistory`: every fill.
    Trades,
}

impl Stream {
    /// Both streams, in the order a sync walks them.
    pub const ALL: [Stream; 2] = [Stream::Ledgers, Stream::Trades];

    /// The name stored in the database and shown to the user.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Ledgers => "ledgers",
            Stream::Trades => "trades",
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
