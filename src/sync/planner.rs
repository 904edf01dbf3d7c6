//! The window walk, as pure functions: which page to ask for next, and what a page means.
//!
//! A stream is filled window by window. A window `(lo, hi]` opens with a page fetched with no
//! `end` (its newest entry becomes `hi`), then is walked downwards with `end = cursor`
//! (inclusive) and `start = lo` (exclusive), the cursor moving to the oldest entry of each page.
//! Entries arriving meanwhile are newer than `hi` and cannot shift the pages being read. When
//! one timestamp holds a full page, the walk keeps the same `end` and moves `ofs` instead.

use crate::domain::{OpenWindow, StreamState, SyncPoint};
use crate::kraken::HistoryQuery;

/// What the planner needs to know about a fetched page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSummary {
    /// Entries on the page.
    pub len: usize,
    /// The newest entry (by time, then id).
    pub newest: Option<SyncPoint>,
    /// The oldest entry (by time, then id).
    pub oldest: Option<SyncPoint>,
    /// Kraken's `count` for the query.
    pub count: Option<u64>,
}

/// The state after a page, and whether the window closed with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The state to commit with the page.
    pub state: StreamState,
    /// The window closed: the stream is complete up to `state.synced_to`.
    pub closed: bool,
    /// When the window closed: the `count` Kraken announced when it opened, and its bounds
    /// `(lo, hi]` in microseconds, for checking against what was stored.
    pub closed_window: Option<ClosedWindow>,
}

/// A window that has just been filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedWindow {
    /// Lower bound (exclusive), `None` for the whole history.
    pub lo_micros: Option<i64>,
    /// Upper bound (inclusive).
    pub hi_micros: i64,
    /// Entries Kraken announced for the window when it opened.
    pub expected: Option<u64>,
}

/// A page that the walk cannot make sense of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The offset grew past any plausible size without the cursor moving.
    #[error(
        "Kraken keeps answering the same page ({ofs} entries share one timestamp at {id}); stopping to avoid a loop"
    )]
    Stuck {
        /// The cursor id.
        id: String,
        /// The offset reached.
        ofs: u64,
    },
}

/// Largest offset tried at one cursor before the walk gives up.
const MAX_OFS: u64 = 1_000_000;

/// The request for the next page of a stream in `state`.
pub fn next_query(state: &StreamState) -> HistoryQuery {
    HistoryQuery {
        start: state.synced_to.as_ref().map(|p| p.id.clone()),
        end: state.window.as_ref().map(|w| w.cursor.id.clone()),
        ofs: state.window.as_ref().map_or(0, |w| w.ofs),
    }
}

/// True when a page is the last one of its query: short, and covering Kraken's `count`.
fn is_last_page(page: &PageSummary, ofs: u64, page_size: usize) -> bool {
    page.len < page_size && page.count.is_some_and(|c| ofs + page.len as u64 >= c)
}

fn close(state: &StreamState, hi: SyncPoint, expected: Option<u64>) -> Step {
    let lo_micros = state.synced_to.as_ref().map(|p| p.micros);
    let hi_micros = hi.micros;
    Step {
        state: StreamState {
            synced_to: Some(hi),
            window: None,
        },
        closed: true,
        closed_window: Some(ClosedWindow {
            lo_micros,
            hi_micros,
            expected,
        }),
    }
}

/// Advances the walk of `state` by the page fetched with [`next_query`]`(state)`.
pub fn advance(
    state: &StreamState,
    page: &PageSummary,
    page_size: usize,
) -> Result<Step, PlanError> {
    let (Some(newest), Some(oldest)) = (&page.newest, &page.oldest) else {
        // Nothing in (lo, end]: either nothing new at all, or the walk reached lo.
        return Ok(match &state.window {
            None => Step {
                state: state.clone(),
                closed: true,
                closed_window: None,
            },
            Some(w) => close(state, w.hi.clone(), w.expected),
        });
    };
    let Some(w) = &state.window else {
        // The opening page fixes hi.
        if is_last_page(page, 0, page_size) {
            return Ok(close(state, newest.clone(), page.count));
        }
        return Ok(Step {
            state: StreamState {
                synced_to: state.synced_to.clone(),
                window: Some(OpenWindow {
                    hi: newest.clone(),
                    cursor: oldest.clone(),
                    ofs: 0,
                    expected: page.count,
                }),
            },
            closed: false,
            closed_window: None,
        });
    };
    let moved = oldest.micros < w.cursor.micros;
    if moved && is_last_page(page, w.ofs, page_size) {
        return Ok(close(state, w.hi.clone(), w.expected));
    }
    let window = if moved {
        OpenWindow {
            cursor: oldest.clone(),
            ofs: 0,
            ..w.clone()
        }
    } else {
        // The whole page shares the cursor's timestamp: page through it with ofs.
        if page.len < page_size {
            return Ok(close(state, w.hi.clone(), w.expected));
        }
        let ofs = w.ofs + page.len as u64;
        if page.count.is_some_and(|c| ofs >= c) {
            return Ok(close(state, w.hi.clone(), w.expected));
        }
        if ofs > MAX_OFS {
            return Err(PlanError::Stuck {
                id: w.cursor.id.clone(),
                ofs,
            });
        }
        OpenWindow { ofs, ..w.clone() }
    };
    Ok(Step {
        state: StreamState {
            synced_to: state.synced_to.clone(),
            window: Some(window),
        },
        closed: false,
        closed_window: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str, micros: i64) -> SyncPoint {
        SyncPoint {
            id: id.into(),
            micros,
        }
    }

    fn page(len: usize, newest: (&str, i64), oldest: (&str, i64), count: u64) -> PageSummary {
        PageSummary {
            len,
            newest: Some(p(newest.0, newest.1)),
            oldest: Some(p(oldest.0, oldest.1)),
            count: Some(count),
        }
    }

    const EMPTY: PageSummary = PageSummary {
        len: 0,
        newest: None,
        oldest: None,
        count: Some(0),
    };

    #[test]
    fn first_sync_walks_down_from_the_newest_entry() {
        let s0 = StreamState::default();
        assert_eq!(next_query(&s0), HistoryQuery::default());
        let s1 = advance(&s0, &page(50, ("L100", 100), ("L51", 51), 100), 50).unwrap();
        assert!(!s1.closed);
        let q = next_query(&s1.state);
        assert_eq!(q.end.as_deref(), Some("L51"));
        assert_eq!(q.start, None);
        // Second page re-includes the cursor (end is inclusive): 50 entries, 49 new.
        let s2 = advance(&s1.state, &page(50, ("L51", 51), ("L2", 2), 51), 50).unwrap();
        assert!(!s2.closed);
        assert_eq!(s2.state.window.as_ref().unwrap().cursor, p("L2", 2));
        let s3 = advance(&s2.state, &page(2, ("L2", 2), ("L1", 1), 2), 50).unwrap();
        assert!(s3.closed);
        assert_eq!(s3.state.synced_to, Some(p("L100", 100)));
        assert_eq!(s3.state.window, None);
        assert_eq!(
            s3.closed_window,
            Some(ClosedWindow {
                lo_micros: None,
                hi_micros: 100,
                expected: Some(100)
            })
        );
    }

    #[test]
    fn nothing_new_closes_at_once_and_keeps_the_synced_point() {
        let s = StreamState {
            synced_to: Some(p("L9", 9)),
            window: None,
        };
        assert_eq!(next_query(&s).start.as_deref(), Some("L9"));
        let step = advance(&s, &EMPTY, 50).unwrap();
        assert!(step.closed);
        assert_eq!(step.state, s);
    }

    #[test]
    fn a_short_complete_opening_page_closes_the_window() {
        let s = StreamState {
            synced_to: Some(p("L9", 9)),
            window: None,
        };
        let step = advance(&s, &page(3, ("L12", 12), ("L10", 10), 3), 50).unwrap();
        assert!(step.closed);
        assert_eq!(step.state.synced_to, Some(p("L12", 12)));
    }

    /// The closed window is exactly `(lo, hi]`: lo is the synced point's own time (exclusive,
    /// it was stored by an earlier window), hi the newest entry; whichever way it closes.
    #[test]
    fn a_closed_window_is_exactly_from_the_synced_point_to_the_newest_entry() {
        let s = StreamState {
            synced_to: Some(p("L9", 9_000_001)),
            window: None,
        };
        // Closed by its opening page.
        let step = advance(
            &s,
            &page(3, ("L12", 12_000_000), ("L10", 10_000_000), 3),
            50,
        )
        .unwrap();
        assert_eq!(
            step.closed_window,
            Some(ClosedWindow {
                lo_micros: Some(9_000_001),
                hi_micros: 12_000_000,
                expected: Some(3)
            })
        );
        // Closed by an empty page after walking down.
        let open = StreamState {
            synced_to: Some(p("L1", 1_500_000)),
            window: Some(OpenWindow {
                hi: p("L99", 99_000_000),
                cursor: p("L50", 50_000_000),
                ofs: 0,
                expected: Some(98),
            }),
        };
        let step = advance(&open, &EMPTY, 50).unwrap();
        assert_eq!(
            step.closed_window,
            Some(ClosedWindow {
                lo_micros: Some(1_500_000),
                hi_micros: 99_000_000,
                expected: Some(98)
            })
        );
        // Nothing new at all: no window was filled.
        assert_eq!(advance(&s, &EMPTY, 50).unwrap().closed_window, None);
    }

    #[test]
    fn a_short_page_whose_count_says_more_keeps_walking() {
        // Kraken announced more than it sent: do not trust the short page, ask again.
        let s = StreamState::default();
        let step = advance(&s, &page(3, ("L12", 12), ("L10", 10), 500), 50).unwrap();
        assert!(!step.closed);
    }

    #[test]
    fn a_full_page_at_one_timestamp_pages_with_ofs() {
        let s = StreamState {
            synced_to: None,
            window: Some(OpenWindow {
                hi: p("L999", 999),
                cursor: p("LA", 500),
                ofs: 0,
                expected: Some(300),
            }),
        };
        let step = advance(&s, &page(50, ("LA", 500), ("LZ", 500), 120), 50).unwrap();
        let w = step.state.window.clone().unwrap();
        assert_eq!((w.cursor.id.as_str(), w.ofs), ("LA", 50));
        assert_eq!(next_query(&step.state).ofs, 50);
        // The next page reaches older entries: the cursor moves and ofs resets.
        let step = advance(&step.state, &page(50, ("LQ", 500), ("LB", 400), 120), 50).unwrap();
        let w = step.state.window.unwrap();
        assert_eq!((w.cursor.id.as_str(), w.ofs), ("LB", 0));
    }

    #[test]
    fn an_empty_page_inside_a_window_closes_it_at_hi() {
        let s = StreamState {
            synced_to: Some(p("L1", 1)),
            window: Some(OpenWindow {
                hi: p("L99", 99),
                cursor: p("L50", 50),
                ofs: 0,
                expected: Some(98),
            }),
        };
        let step = advance(&s, &EMPTY, 50).unwrap();
        assert!(step.closed);
        assert_eq!(step.state.synced_to, Some(p("L99", 99)));
    }

    #[test]
    fn a_server_repeating_one_page_forever_is_stopped() {
        let mut s = StreamState {
            synced_to: None,
            window: Some(OpenWindow {
                hi: p("L9", 9),
                cursor: p("L5", 5),
                ofs: 0,
                expected: None,
            }),
        };
        let same = PageSummary {
            count: None,
            ..page(50, ("L5", 5), ("L4", 5), 0)
        };
        let mut result = Ok(());
        for _ in 0..30_000 {
            match advance(&s, &same, 50) {
                Ok(step) => s = step.state,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        assert!(matches!(result, Err(PlanError::Stuck { .. })));
    }
}
