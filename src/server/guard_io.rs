//! Deadlines on a client connection's bytes that the HTTP layer does not enforce itself:
//! a client that stops reading (slow-read attack) must not hold a connection, a response
//! buffer and an upstream connection forever — a write that cannot make progress for
//! `limits.send_timeout` fails the connection; and a client that connects and does not
//! send its opening bytes (the HTTP/2 preface, or the first byte of an HTTP/1.1 request —
//! hyper's own header timer takes over from there) is dropped after
//! `limits.header_read_timeout`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, Sleep};

pin_project! {
    /// `io`, whose writes and flushes fail with `TimedOut` once stalled for `limit`, and
    /// whose reads fail the same way if the first `opening` bytes have not come in time.
    pub struct Guarded<T> {
        #[pin]
        io: T,
        limit: Duration,
        stalled: Option<Pin<Box<Sleep>>>,
        // Until the opening bytes arrive: their deadline. `None` once they have.
        first_byte: Option<Pin<Box<Sleep>>>,
        // Opening bytes still to come.
        opening: usize,
    }
}

impl<T> Guarded<T> {
    /// Wraps `io`: `opening` bytes must arrive within `opening_timeout`.
    pub fn new(io: T, send_timeout: Duration, opening: usize, opening_timeout: Duration) -> Self {
        Self {
            io,
            limit: send_timeout,
            stalled: None,
            first_byte: Some(Box::pin(sleep(opening_timeout))),
            opening,
        }
    }
}

/// Starts (or checks) the stall timer after a write returned `Pending`.
fn stall(
    stalled: &mut Option<Pin<Box<Sleep>>>,
    limit: Duration,
    cx: &mut Context<'_>,
) -> Poll<io::Error> {
    let timer = stalled.get_or_insert_with(|| Box::pin(sleep(limit)));
    match timer.as_mut().poll(cx) {
        Poll::Ready(()) => Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            "client stopped reading",
        )),
        Poll::Pending => Poll::Pending,
    }
}

impl<T: AsyncWrite> AsyncWrite for Guarded<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        match this.io.poll_write(cx, buf) {
            Poll::Pending => stall(this.stalled, *this.limit, cx).map(Err),
            ready => {
                *this.stalled = None;
                ready
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        match this.io.poll_flush(cx) {
            Poll::Pending => stall(this.stalled, *this.limit, cx).map(Err),
            ready => {
                *this.stalled = None;
                ready
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        match this.io.poll_write_vectored(cx, bufs) {
            Poll::Pending => stall(this.stalled, *this.limit, cx).map(Err),
            ready => {
                *this.stalled = None;
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl<T: AsyncRead> AsyncRead for Guarded<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.io.poll_read(cx, buf);
        let Some(deadline) = this.first_byte.as_mut() else {
            return polled;
        };
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                *this.opening = this.opening.saturating_sub(buf.filled().len() - before);
                if *this.opening == 0 {
                    *this.first_byte = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client sent nothing",
                ))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}
