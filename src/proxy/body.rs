//! Bodies in flight get an idle timeout: a peer that stops sending mid-body (a stalled
//! upstream, or a client trickling an upload) cannot hold a connection forever.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::BoxError;

/// The error a body yields when no data arrived for its idle timeout.
#[derive(Debug, thiserror::Error)]
#[error("no body data for {0:?}")]
pub struct BodyIdle(pub Duration);

pin_project_lite::pin_project! {
    /// Wraps a body; fails it with [`BodyIdle`] when no frame arrives within `idle`.
    ///
    /// The timer is only touched when the body has to wait: a frame that is ready just
    /// moves `deadline`, so a small response never registers a timer at all.
    pub struct IdleTimeout<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: Sleep,
        idle: Duration,
        deadline: Instant,
    }
}

impl<B> IdleTimeout<B> {
    /// Wraps `inner`; the clock starts now.
    pub fn new(inner: B, idle: Duration) -> Self {
        let deadline = Instant::now() + idle;
        Self {
            inner,
            sleep: tokio::time::sleep_until(deadline),
            idle,
            deadline,
        }
    }
}

impl<B> Body for IdleTimeout<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                *this.deadline = Instant::now() + *this.idle;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if this.sleep.deadline() != *this.deadline {
                    let deadline = *this.deadline;
                    this.sleep.as_mut().reset(deadline);
                }
                match this.sleep.poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyIdle(*this.idle))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// True when `e` (or anything it wraps) is a [`BodyIdle`].
pub fn is_idle(e: &(dyn std::error::Error + 'static)) -> bool {
    find::<BodyIdle>(e)
}

/// True when `e` or any error in its source chain is a `T`.
pub fn find<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<T>() {
            return true;
        }
        cur = err.source();
    }
    false
}
