//! A page's records parsed and mapped on an idle core as well as the caller's.
//!
//! Parsing and mapping a 100-record page takes about a millisecond, and a caller waits for all
//! of it. When no other page is being worked on (a quiet server, one caller waiting), the
//! second half of the records goes to a helper thread and the answer comes sooner. Under load
//! every core is already busy with some page, so a page is worked on where it is: the split
//! only uses a core that would otherwise idle, and adds no work beyond the hand-over.

use rayon_core::{ThreadPool, ThreadPoolBuilder};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Pages with fewer records are mapped in one piece: handing half of them to another thread
/// costs about as much as mapping a few records.
pub(crate) const MIN_RECORDS: usize = 32;

/// Pages being parsed or mapped right now in this process.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// One helper per core beyond the first; none on a single core.
fn helpers() -> Option<&'static ThreadPool> {
    static POOL: OnceLock<Option<ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        if cores < 2 {
            return None;
        }
        ThreadPoolBuilder::new().num_threads(cores - 1).thread_name(|i| format!("mapping-helper-{i}")).build().ok()
    })
    .as_ref()
}

/// Each split page keeps two cores busy: `pages` fit while no core is oversubscribed.
fn room_for(pages: usize, pool: &ThreadPool) -> bool {
    pages * 2 <= pool.current_num_threads() + 1
}

/// Counts a page as being worked on for as long as it lives.
struct InFlight(usize);

impl InFlight {
    fn enter() -> InFlight {
        InFlight(IN_FLIGHT.fetch_add(1, Ordering::AcqRel) + 1)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `work` over the records `0..len`: in one call on this thread, or, for a page of at least
/// [`MIN_RECORDS`] while a core is idle, the first half here and the second on a helper at
/// the same time. The results come in record order: the second is `Some` only after a split.
pub(crate) fn halves<T: Send>(len: usize, work: impl Fn(Range<usize>) -> T + Sync) -> (T, Option<T>) {
    let page = InFlight::enter();
    let pool = match helpers() {
        Some(pool) if len >= MIN_RECORDS && room_for(page.0, pool) => pool,
        _ => return (work(0..len), None),
    };
    let middle = len / 2;
    let mut second = None;
    let first = pool.in_place_scope(|scope| {
        scope.spawn(|_| second = Some(work(middle..len)));
        work(0..middle)
    });
    (first, second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_every_record_once_in_order() {
        for len in [0, 1, MIN_RECORDS - 1, MIN_RECORDS, 101] {
            let (first, second) = halves(len, |range| range.collect::<Vec<_>>());
            let all: Vec<usize> = first.into_iter().chain(second.unwrap_or_default()).collect();
            assert_eq!(all, (0..len).collect::<Vec<_>>(), "{len} records");
        }
    }

    #[test]
    fn small_pages_stay_in_one_piece() {
        let (_, second) = halves(MIN_RECORDS - 1, |range| range.len());
        assert!(second.is_none());
    }
}
