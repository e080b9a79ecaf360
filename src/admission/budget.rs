//! A global bound on what admission requests hold at once: bytes of large request bodies (over
//! 64 KiB; reserved before a body is read: its declared length, or the body limit when none is
//! declared), bytes of what each body parses into beyond a review slot's free share (charged after
//! the counting pass of `limits`, whatever the body's size) and the number of reviews in progress. Pod reviews are a few KiB: they need only a
//! review slot, so a flood of large bodies waiting for bytes never stands in their way. A request that cannot get both within a short wait is answered 429, so a
//! flood of large bodies costs refusals, never the memory limit (and with `failurePolicy: Fail`, an
//! out-of-memory replica would refuse every tenant's brokers).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes are reserved in units of this size (semaphore permits are `u32`).
const UNIT: usize = 1024;
/// Bodies up to this size take only a review slot (at most `max_reviews` × this in memory).
pub const SMALL: usize = 64 * 1024;

#[derive(Debug)]
pub struct Budget {
    bytes: Arc<Semaphore>,
    reviews: Arc<Semaphore>,
    wait: Duration,
    max_bytes: usize,
    max_reviews: usize,
    held: AtomicUsize,
}

/// What one request holds until it is dropped.
#[derive(Debug)]
pub struct Held<'a> {
    _bytes: Option<OwnedSemaphorePermit>,
    _review: Option<OwnedSemaphorePermit>,
    reserved: usize,
    budget: &'a Budget,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.reserved, Ordering::Relaxed);
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Busy {
    #[error("{reviews} admission reviews are in progress (--max-concurrent-reviews); retry")]
    Reviews { reviews: usize },
    #[error("{held} bytes of admission requests are held (--max-inflight-bytes {max}); this one needs {want}; retry")]
    Bytes { held: usize, want: usize, max: usize },
}

impl Budget {
    /// `max_bytes` of bodies and `max_reviews` reviews at once; a request waits at most `wait` for its share.
    pub fn new(max_bytes: usize, max_reviews: usize, wait: Duration) -> Self {
        let units = max_bytes.div_ceil(UNIT).clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        let max_reviews = max_reviews.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(units)),
            reviews: Arc::new(Semaphore::new(max_reviews)),
            wait,
            max_bytes: units * UNIT,
            max_reviews,
            held: AtomicUsize::new(0),
        }
    }

    /// Reserve `want` bytes (a large body) and a review slot, waiting at most the budget's wait
    /// for both. Bytes first: a large body waiting for them holds no review slot.
    pub async fn admit(&self, want: usize) -> Result<Held<'_>, Busy> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let (bytes, reserved) = if want > SMALL {
            // Never more than the whole budget: a body at the limit still gets in, alone.
            let units = want.div_ceil(UNIT).clamp(1, self.max_bytes / UNIT) as u32;
            let busy = || Busy::Bytes { held: self.held(), want, max: self.max_bytes };
            let permit = tokio::time::timeout_at(deadline, self.bytes.clone().acquire_many_owned(units))
                .await
                .map_err(|_| busy())?
                .map_err(|_| busy())?;
            (Some(permit), units as usize * UNIT)
        } else {
            (None, 0)
        };
        let review = tokio::time::timeout_at(deadline, self.reviews.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(Busy::Reviews { reviews: self.reviews_in_progress() })?;
        self.held.fetch_add(reserved, Ordering::Relaxed);
        Ok(Held { _bytes: bytes, _review: Some(review), reserved, budget: self })
    }

    /// Reserve `want` more bytes for a request that already holds its slot: what its body parses
    /// into (`limits::parsed_bytes`), charged whatever the body's size. Waits at most the budget's wait.
    pub async fn charge(&self, want: usize) -> Result<Held<'_>, Busy> {
        let units = want.div_ceil(UNIT).clamp(1, self.max_bytes / UNIT) as u32;
        let busy = || Busy::Bytes { held: self.held(), want, max: self.max_bytes };
        let permit = tokio::time::timeout_at(
            tokio::time::Instant::now() + self.wait,
            self.bytes.clone().acquire_many_owned(units),
        )
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
        let reserved = units as usize * UNIT;
        self.held.fetch_add(reserved, Ordering::Relaxed);
        Ok(Held { _bytes: Some(permit), _review: None, reserved, budget: self })
    }

    /// Bytes reserved by requests in progress.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    fn reviews_in_progress(&self) -> usize {
        self.max_reviews - self.reviews.available_permits().min(self.max_reviews)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    #[tokio::test]
    async fn bytes_beyond_the_budget_wait_then_are_refused() {
        let b = Budget::new(4 * MIB, 10, Duration::from_millis(50));
        let first = b.admit(3 * MIB).await.unwrap();
        assert_eq!(b.held(), 3 * MIB);
        let refused = b.admit(2 * MIB).await.unwrap_err();
        assert!(matches!(refused, Busy::Bytes { held, .. } if held == 3 * MIB), "{refused:?}");
        drop(first);
        assert_eq!(b.held(), 0);
        let _ok = b.admit(4 * MIB).await.unwrap();
    }

    #[tokio::test]
    async fn a_waiting_request_gets_in_when_another_finishes() {
        let b = Arc::new(Budget::new(2 * MIB, 10, Duration::from_secs(5)));
        let first = b.admit(2 * MIB).await.unwrap();
        let b2 = b.clone();
        let waiting = tokio::spawn(async move { b2.admit(MIB).await.map(|h| h.reserved) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        assert_eq!(waiting.await.unwrap(), Ok(MIB));
    }

    #[tokio::test]
    async fn small_reviews_pass_while_large_bodies_wait_for_bytes() {
        let b = Arc::new(Budget::new(MIB, 2, Duration::from_millis(300)));
        let large = b.admit(MIB).await.unwrap();
        // Large bodies queue for bytes without taking review slots.
        let waiting: Vec<_> = (0..5)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move { b.admit(MIB).await.map(|_| ()) })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(b.admit(8 * 1024).await.is_ok(), "a pod review gets a slot");
        drop(large);
        for w in waiting {
            let _ = w.await.unwrap();
        }
    }

    #[tokio::test]
    async fn parsed_bytes_are_charged_beside_the_body_and_released() {
        let b = Budget::new(4 * MIB, 10, Duration::from_millis(50));
        let slot = b.admit(1024).await.unwrap();
        assert_eq!(b.held(), 0, "a small body reserves no bytes");
        let parsed = b.charge(3 * MIB).await.unwrap();
        assert_eq!(b.held(), 3 * MIB);
        assert!(matches!(b.charge(2 * MIB).await, Err(Busy::Bytes { .. })), "over the budget");
        drop(parsed);
        drop(slot);
        assert_eq!(b.held(), 0);
    }

    #[tokio::test]
    async fn reviews_beyond_the_limit_are_refused_and_a_huge_body_fits_alone() {
        let b = Budget::new(8 * MIB, 1, Duration::from_millis(20));
        let one = b.admit(100 * MIB).await.unwrap();
        assert_eq!(b.held(), 8 * MIB, "capped at the whole budget");
        assert!(matches!(b.admit(1).await, Err(Busy::Reviews { .. })));
        drop(one);
        assert!(b.admit(1).await.is_ok());
    }
}
