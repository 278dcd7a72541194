//! The core's sealing primitives over the runtime's own: gzip through `CompressionStream` /
//! `DecompressionStream`, AES-256-GCM through `crypto.subtle`. Both run as native code in
//! workerd, where flate2 and aes-gcm would run as wasm. Only the calls live here: framing,
//! nonces, AAD and keys are `crypto::stream`'s.

use std::cell::RefCell;
use std::rc::Rc;

use async_trait::async_trait;
use futures_channel::oneshot;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    AesGcmParams, CryptoKey, ReadableStream, ReadableStreamDefaultReader, SubtleCrypto,
    WorkerGlobalScope, WritableStream, WritableStreamDefaultWriter,
};

use crate::ports::{AesGcmKey, Compressor, Decompressor, PrimitiveError, SealPrimitives};

#[wasm_bindgen]
extern "C" {
    // web-sys has these only behind `--cfg=web_sys_unstable_apis`; workerd has both.
    type CompressionStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(format: &str) -> Result<CompressionStream, JsValue>;
    #[wasm_bindgen(method, getter)]
    fn readable(this: &CompressionStream) -> ReadableStream;
    #[wasm_bindgen(method, getter)]
    fn writable(this: &CompressionStream) -> WritableStream;

    type DecompressionStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(format: &str) -> Result<DecompressionStream, JsValue>;
    #[wasm_bindgen(method, getter)]
    fn readable(this: &DecompressionStream) -> ReadableStream;
    #[wasm_bindgen(method, getter)]
    fn writable(this: &DecompressionStream) -> WritableStream;
}

/// The runtime's primitives. Stateless: everything lives in the objects it hands out.
pub struct WebPrimitives;

#[async_trait(?Send)]
impl SealPrimitives for WebPrimitives {
    fn gzip(&self) -> Box<dyn Compressor> {
        Box::new(Pipe::open("CompressionStream", |format| {
            CompressionStream::new(format).map(|s| (s.readable(), s.writable()))
        }))
    }

    fn gunzip(&self) -> Box<dyn Decompressor> {
        Box::new(Pipe::open("DecompressionStream", |format| {
            DecompressionStream::new(format).map(|s| (s.readable(), s.writable()))
        }))
    }

    async fn aes_256_gcm(&self, key: &[u8; 32]) -> Result<Box<dyn AesGcmKey>, PrimitiveError> {
        let failed = |_| PrimitiveError("crypto.subtle.importKey".into());
        let subtle = subtle().ok_or_else(|| PrimitiveError("crypto.subtle missing".into()))?;
        let algorithm = Object::new();
        Reflect::set(&algorithm, &"name".into(), &"AES-GCM".into()).map_err(failed)?;
        let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
        let raw = Uint8Array::from(&key[..]);
        // Not extractable: the key bytes cannot be read back out of the CryptoKey.
        let imported = subtle
            .import_key_with_object("raw", &raw, &algorithm, false, &usages)
            .map_err(failed)?;
        raw.fill(0, 0, raw.length());
        let key = JsFuture::from(imported).await.map_err(failed)?;
        Ok(Box::new(SubtleAesGcm {
            subtle,
            key: key.unchecked_into(),
        }))
    }
}

fn subtle() -> Option<SubtleCrypto> {
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    global.crypto().ok().map(|c| c.subtle())
}

struct SubtleAesGcm {
    subtle: SubtleCrypto,
    key: CryptoKey,
}

impl SubtleAesGcm {
    fn params(nonce: &[u8; 12], aad: &[u8]) -> AesGcmParams {
        let params = AesGcmParams::new_with_u8_array("AES-GCM", &Uint8Array::from(&nonce[..]));
        params.set_additional_data_u8_array(&Uint8Array::from(aad));
        params.set_tag_length(128);
        params
    }
}

#[async_trait(?Send)]
impl AesGcmKey for SubtleAesGcm {
    async fn seal(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, PrimitiveError> {
        let failed = |_| PrimitiveError("crypto.subtle.encrypt".into());
        let promise = self
            .subtle
            .encrypt_with_object_and_u8_array(&Self::params(nonce, aad), &self.key, plaintext)
            .map_err(failed)?;
        let sealed = JsFuture::from(promise).await.map_err(failed)?;
        Ok(Uint8Array::new(&sealed).to_vec())
    }

    async fn open(&self, nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        // WebCrypto rejects with the same OperationError for every failure, so any rejection
        // counts as not authentic: the opener then fails closed.
        let promise = self
            .subtle
            .decrypt_with_object_and_u8_array(&Self::params(nonce, aad), &self.key, sealed)
            .ok()?;
        let plain = JsFuture::from(promise).await.ok()?;
        Some(Uint8Array::new(&plain).to_vec())
    }
}

/// A (de)compression stream used from Rust: input is written on its writable side while a task
/// reads its readable side into `output`. The two must run at once (a write completes only
/// once the stream has room, i.e. once earlier output was read), and the output a write
/// produces may arrive later, so each call hands back whatever has arrived; `finish` closes the
/// input and waits for the rest. Memory: what arrived since the last call.
struct Pipe {
    name: &'static str,
    writer: Option<WritableStreamDefaultWriter>,
    output: Rc<RefCell<Vec<u8>>>,
    /// Resolves when the readable side ends: `Ok` at its clean end.
    ended: Option<oneshot::Receiver<Result<(), ()>>>,
}

impl Pipe {
    fn open(
        name: &'static str,
        make: impl FnOnce(&str) -> Result<(ReadableStream, WritableStream), JsValue>,
    ) -> Pipe {
        let output = Rc::new(RefCell::new(Vec::new()));
        let Ok((readable, writable)) = make("gzip") else {
            return Pipe::broken(name, output);
        };
        let (Ok(writer), Ok(reader)) = (
            writable.get_writer(),
            readable
                .get_reader()
                .dyn_into::<ReadableStreamDefaultReader>(),
        ) else {
            return Pipe::broken(name, output);
        };
        let (done, ended) = oneshot::channel();
        let sink = output.clone();
        spawn_local(async move {
            let _ = done.send(read_all(&reader, &sink).await);
        });
        Pipe {
            name,
            writer: Some(writer),
            output,
            ended: Some(ended),
        }
    }

    /// A pipe whose every call fails: the runtime would not make the stream.
    fn broken(name: &'static str, output: Rc<RefCell<Vec<u8>>>) -> Pipe {
        Pipe {
            name,
            writer: None,
            output,
            ended: None,
        }
    }

    fn failed(&self) -> PrimitiveError {
        PrimitiveError(format!("{} failed", self.name))
    }

    async fn write(&mut self, input: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
        let writer = self.writer.as_ref().ok_or_else(|| self.failed())?;
        if !input.is_empty() {
            let chunk = Uint8Array::from(input);
            JsFuture::from(writer.write_with_chunk(&chunk))
                .await
                .map_err(|_| self.failed())?;
        }
        Ok(std::mem::take(&mut *self.output.borrow_mut()))
    }

    async fn close(mut self: Box<Self>) -> Result<Vec<u8>, PrimitiveError> {
        let writer = self.writer.take().ok_or_else(|| self.failed())?;
        let closed = JsFuture::from(writer.close()).await;
        let ended = self.ended.take().ok_or_else(|| self.failed())?;
        match (closed, ended.await) {
            (Ok(_), Ok(Ok(()))) => Ok(std::mem::take(&mut *self.output.borrow_mut())),
            _ => Err(self.failed()),
        }
    }
}

impl Drop for Pipe {
    /// An unfinished stream (an aborted segment, a download the client dropped) is aborted, so
    /// its reading task ends instead of waiting for input forever.
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            let _ = writer.abort();
        }
    }
}

/// Reads a stream to its end into `sink`; `Err` if it errors (bad input, or aborted).
async fn read_all(reader: &ReadableStreamDefaultReader, sink: &RefCell<Vec<u8>>) -> Result<(), ()> {
    loop {
        let result = JsFuture::from(reader.read()).await.map_err(|_| ())?;
        let done = Reflect::get(&result, &"done".into()).map_err(|_| ())?;
        if done.as_bool() == Some(true) {
            return Ok(());
        }
        let value = Reflect::get(&result, &"value".into()).map_err(|_| ())?;
        let bytes: Uint8Array = value.dyn_into().map_err(|_| ())?;
        let mut sink = sink.borrow_mut();
        let start = sink.len();
        sink.resize(start + bytes.length() as usize, 0);
        bytes.copy_to(&mut sink[start..]);
    }
}

#[async_trait(?Send)]
impl Compressor for Pipe {
    async fn push(&mut self, input: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
        self.write(input).await
    }

    async fn finish(self: Box<Self>) -> Result<Vec<u8>, PrimitiveError> {
        self.close().await
    }
}

#[async_trait(?Send)]
impl Decompressor for Pipe {
    async fn push(&mut self, input: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
        self.write(input).await
    }

    async fn finish(self: Box<Self>) -> Result<Vec<u8>, PrimitiveError> {
        self.close().await
    }
}
