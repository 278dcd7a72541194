//! A sealed snapshot object as an [`ItemStream`]: the verified plaintext pieces of an
//! [`ObjectStream`] cut into items. The stream checks the object's hashes as it goes and fails at
//! the end if they do not match; a diff that sees that error fails, so nothing computed from a
//! damaged snapshot is ever returned.

use async_trait::async_trait;

use super::split::ArraySplitter;
use super::{ItemSource, ItemStream, SourceError};
use crate::drift::ResourceType;
use crate::ports::ObjectStore;
use crate::snapshot::ObjectStream;

/// One object's items.
pub struct ObjectItems<'s> {
    stream: ObjectStream,
    store: &'s dyn ObjectStore,
    splitter: ArraySplitter,
    ended: bool,
}

impl<'s> ObjectItems<'s> {
    pub fn new(stream: ObjectStream, store: &'s dyn ObjectStore) -> ObjectItems<'s> {
        ObjectItems {
            stream,
            store,
            splitter: ArraySplitter::default(),
            ended: false,
        }
    }
}

#[async_trait(?Send)]
impl ItemStream for ObjectItems<'_> {
    async fn next_item(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        loop {
            if let Some(item) = self.splitter.pop() {
                return Ok(Some(item));
            }
            if self.ended {
                return Ok(None);
            }
            let piece = self
                .stream
                .next_piece(self.store)
                .await
                .map_err(|e| SourceError(e.to_string()))?;
            match piece {
                Some(piece) => self
                    .splitter
                    .push(&piece)
                    .map_err(|e| SourceError(e.to_string()))?,
                None => {
                    self.splitter
                        .finish()
                        .map_err(|e| SourceError(e.to_string()))?;
                    self.ended = true;
                }
            }
        }
    }
}

/// A snapshot as an [`ItemSource`]: `streams` opens the object of a resource type (`Ok(None)`
/// when the snapshot did not collect it), e.g. from a verified manifest.
pub struct ObjectSource<'s, F> {
    store: &'s dyn ObjectStore,
    streams: F,
}

impl<'s, F> ObjectSource<'s, F>
where
    F: Fn(ResourceType) -> Result<Option<ObjectStream>, SourceError>,
{
    pub fn new(store: &'s dyn ObjectStore, streams: F) -> ObjectSource<'s, F> {
        ObjectSource { store, streams }
    }
}

#[async_trait(?Send)]
impl<F> ItemSource for ObjectSource<'_, F>
where
    F: Fn(ResourceType) -> Result<Option<ObjectStream>, SourceError>,
{
    async fn open(
        &self,
        resource: ResourceType,
    ) -> Result<Option<Box<dyn ItemStream + '_>>, SourceError> {
        Ok((self.streams)(resource)?
            .map(|s| Box::new(ObjectItems::new(s, self.store)) as Box<dyn ItemStream + '_>))
    }
}
