//! The exporter pushes (it awaits a [`PackSink`] after each page); a response body pulls (the
//! client asks for the next piece when it has room). This joins the two with a channel of one
//! slot instead of restructuring the exporter into a state machine: the exporter runs inside the
//! body stream itself, suspended in [`PackSink::write`] until the reader has taken the previous
//! piece, so memory holds one piece plus one page whatever the pack's size, and an export whose
//! reader goes away stops at its next write.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures_channel::mpsc;
use futures_util::{Stream, StreamExt};

use super::{PackSink, SinkError};

/// The exporter's end of the channel.
pub struct ChannelSink(mpsc::Sender<Vec<u8>>);

#[async_trait(?Send)]
impl PackSink for ChannelSink {
    async fn write(&mut self, chunk: Vec<u8>) -> Result<(), SinkError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let gone = |_| SinkError("the reader went away".into());
        poll_fn(|cx| self.0.poll_ready(cx)).await.map_err(gone)?;
        self.0.start_send(chunk).map_err(gone)
    }
}

/// The bytes `produce` writes to its sink, as a stream that runs it as it is read. The stream
/// ends after the last piece when `produce` succeeds, and with its error (after every piece
/// written before it) when it fails.
pub fn pull<E: Unpin, F>(produce: impl FnOnce(ChannelSink) -> F) -> Pull<F, E>
where
    F: Future<Output = Result<(), E>>,
{
    // A buffer of 0 is one slot: each sender may always put one message in.
    let (tx, rx) = mpsc::channel(0);
    Pull {
        producer: Some(Box::pin(produce(ChannelSink(tx)))),
        failure: None,
        rx,
    }
}

/// See [`pull`].
pub struct Pull<F, E> {
    /// Holds the sender: when it finishes and is dropped, the channel ends.
    producer: Option<Pin<Box<F>>>,
    failure: Option<E>,
    rx: mpsc::Receiver<Vec<u8>>,
}

impl<F, E: Unpin> Stream for Pull<F, E>
where
    F: Future<Output = Result<(), E>>,
{
    type Item = Result<Vec<u8>, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(producer) = this.producer.as_mut() {
            if let Poll::Ready(result) = producer.as_mut().poll(cx) {
                this.producer = None;
                this.failure = result.err();
            }
        }
        match this.rx.poll_next_unpin(cx) {
            Poll::Ready(Some(piece)) => Poll::Ready(Some(Ok(piece))),
            Poll::Ready(None) => Poll::Ready(this.failure.take().map(Err)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn pieces_are_produced_only_as_they_are_read() {
        let written = Rc::new(Cell::new(0));
        let counter = written.clone();
        let stream = pull(move |mut sink| async move {
            for i in 0..5u8 {
                sink.write(vec![i]).await.map_err(|_| "sink")?;
                counter.set(counter.get() + 1);
            }
            Ok::<_, &str>(())
        });
        let mut stream = Box::pin(stream);
        assert_eq!(block_on(stream.next()), Some(Ok(vec![0])));
        // One piece taken: the producer ran at most one slot ahead.
        assert!(written.get() <= 2, "{}", written.get());
        let rest: Vec<_> = block_on(stream.collect::<Vec<_>>());
        assert_eq!(rest, (1..5u8).map(|i| Ok(vec![i])).collect::<Vec<_>>());
    }

    #[test]
    fn a_failure_ends_the_stream_with_the_error() {
        let stream = pull(|mut sink| async move {
            sink.write(b"zip".to_vec()).await.map_err(|_| "sink")?;
            Err::<(), _>("source failed")
        });
        let items: Vec<_> = block_on(stream.collect::<Vec<_>>());
        assert_eq!(items, vec![Ok(b"zip".to_vec()), Err("source failed")]);
    }
}
