//! What one connection may hold, and for how long: a cap per client address, a deadline for the
//! first byte after the TLS handshake, and an idle timeout that only requests reset (HTTP/2 pings
//! and half-sent nothing do not). hyper's HTTP/1.1 header timeout starts only once a connection
//! is read as HTTP/1.1, and HTTP/2 has no idle timeout: these close the gaps between them.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Connections per client address (IPv4-mapped IPv6 counts as its IPv4 address).
#[derive(Debug)]
pub struct PerAddress {
    max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`PerAddress`]; given back on drop.
#[derive(Debug)]
pub struct AddressSlot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { max: max.max(1), counts: Mutex::new(HashMap::new()) })
    }

    /// A slot for `ip`, or `None` when it holds `max` connections already. The table has at most
    /// one entry per open connection: it is bounded by the global connection cap.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let ip = ip.to_canonical();
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot { table: self.clone(), ip })
    }

    /// Connections open from `ip`.
    pub fn open(&self, ip: IpAddr) -> usize {
        let counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.get(&ip.to_canonical()).copied().unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.table.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// How a connection is used: bytes seen, requests in flight, when it was last used.
#[derive(Debug)]
pub struct Activity {
    born: Instant,
    first_byte: AtomicBool,
    /// Wakes the watchdog when the first byte arrives (its deadline moves from the first-byte one,
    /// which can be later, to the idle one).
    arrived: tokio::sync::Notify,
    in_flight: AtomicUsize,
    /// Milliseconds after `born` of the last use (first byte, a request's start or end).
    last_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            born: Instant::now(),
            first_byte: AtomicBool::new(false),
            arrived: tokio::sync::Notify::new(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(self.clone())
    }

    /// When the connection is to be closed if nothing happens first; `None` while a request is
    /// in progress (its own timeouts bound it).
    fn deadline(&self, first_byte: Duration, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if !self.first_byte.load(Ordering::Acquire) {
            return Some(self.born + first_byte);
        }
        Some(self.born + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle)
    }

    /// Completes when the connection has gone unused for too long: no byte within `first_byte`
    /// of the handshake, or no request for `idle`.
    pub async fn expired(self: Arc<Self>, first_byte: Duration, idle: Duration) {
        loop {
            let silent = !self.first_byte.load(Ordering::Acquire);
            match self.deadline(first_byte, idle) {
                None => tokio::time::sleep(idle.min(Duration::from_secs(1))).await,
                Some(at) if at <= Instant::now() => return,
                Some(at) if silent => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.arrived.notified() => {}
                    }
                }
                // Later uses only move the deadline on: waking early, it is computed again.
                Some(at) => tokio::time::sleep_until(at).await,
            }
        }
    }
}

/// A request in progress on a connection.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The connection's stream, noting its first byte.
pub struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before && !self.activity.first_byte.load(Ordering::Relaxed) {
            self.activity.touch();
            self.activity.first_byte.store(true, Ordering::Release);
            // A permit is stored if the watchdog is not waiting yet.
            self.activity.arrived.notify_one();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A connection's service, counting its requests in [`Activity`].
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Counted<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S, R> hyper::service::Service<R> for Counted<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, req: R) -> Self::Future {
        let in_flight = self.activity.request();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let r = fut.await;
            drop(in_flight);
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_is_capped_and_others_are_not() {
        let t = PerAddress::new(2);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        let s1 = t.take(a).unwrap();
        let _s2 = t.take(mapped).expect("a second slot");
        assert!(t.take(a).is_none(), "a third from the same address (mapped or not)");
        assert!(t.take(b).is_some(), "another address is not affected");
        drop(s1);
        assert_eq!(t.open(a), 1);
        assert!(t.take(a).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn silent_connections_expire_at_the_first_byte_deadline_and_idle_ones_after_idle() {
        let (first, idle) = (Duration::from_secs(10), Duration::from_secs(60));
        let act = Activity::new();
        let start = Instant::now();
        act.clone().expired(first, idle).await;
        assert_eq!(start.elapsed(), first);

        // A byte at 1 s, then nothing: closed at 1 s + idle, not at the first-byte deadline.
        let (first, idle) = (Duration::from_secs(10), Duration::from_secs(3));
        let act = Activity::new();
        let watch = tokio::spawn(act.clone().expired(first, idle));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut io = Watched::new(&b"x"[..], act.clone());
        tokio::io::AsyncReadExt::read(&mut io, &mut [0u8; 1]).await.unwrap();
        let byte = Instant::now();
        watch.await.unwrap();
        assert_eq!(byte.elapsed(), idle);

        let idle = Duration::from_secs(60);
        let act = Activity::new();
        act.first_byte.store(true, Ordering::Release);
        let req = act.request();
        let watch = tokio::spawn(act.clone().expired(first, idle));
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(!watch.is_finished(), "a request in progress keeps its connection");
        let ended = Instant::now();
        drop(req);
        watch.await.unwrap();
        let waited = ended.elapsed();
        assert!(waited >= idle && waited <= idle + Duration::from_secs(1), "{waited:?}");
    }
}
