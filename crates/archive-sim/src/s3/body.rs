//! Response bodies: nothing, bytes, or a zip produced chunk by chunk as the client reads it
//! (a download never holds more than a chunk of an object in memory). Bytes sent are
//! counted as they go.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use crate::content::zip::{ZipPlan, ZipReader};
use crate::stats::Stats;

const CHUNK: usize = 64 * 1024;

pub enum SimBody {
    Empty,
    Full(Option<Bytes>),
    Zip {
        plan: Box<ZipPlan>,
        reader: ZipReader,
        left: u64,
        stats: Arc<Stats>,
    },
    Filler {
        seed: u64,
        pos: u64,
        end: u64,
        stats: Arc<Stats>,
    },
}

impl SimBody {
    pub fn bytes(b: impl Into<Bytes>) -> SimBody {
        let b = b.into();
        if b.is_empty() {
            SimBody::Empty
        } else {
            SimBody::Full(Some(b))
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match this {
            SimBody::Empty => Poll::Ready(None),
            SimBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            SimBody::Zip {
                plan,
                reader,
                left,
                stats,
            } => {
                if *left == 0 {
                    return Poll::Ready(None);
                }
                let mut buf = Vec::with_capacity(CHUNK + 512);
                if !reader.fill(plan, &mut buf, CHUNK) {
                    *left = 0;
                    return Poll::Ready(None);
                }
                *left = left.saturating_sub(buf.len() as u64);
                stats.bytes_out(buf.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
            }
            SimBody::Filler {
                seed,
                pos,
                end,
                stats,
            } => {
                if *pos >= *end {
                    return Poll::Ready(None);
                }
                let to = (*end).min(*pos + CHUNK as u64);
                let mut buf = Vec::with_capacity(CHUNK);
                crate::content::filler(*seed, *pos, to, &mut buf);
                *pos = to;
                stats.bytes_out(buf.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            SimBody::Empty => true,
            SimBody::Full(b) => b.is_none(),
            SimBody::Zip { left, .. } => *left == 0,
            SimBody::Filler { pos, end, .. } => pos >= end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Empty => SizeHint::with_exact(0),
            SimBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            SimBody::Zip { left, .. } => SizeHint::with_exact(*left),
            SimBody::Filler { pos, end, .. } => SizeHint::with_exact(end.saturating_sub(*pos)),
        }
    }
}
