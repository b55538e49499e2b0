//! OTLP/gRPC `LogsService/Export` and `TraceService/Export` on the generated OTLP message types,
//! one service for both (by the request's path) written once over `Signal`.
//!
//! The service is written out rather than taken from the generated `LogsServiceServer` and
//! `TraceServiceServer` for one reason: the generated ones decode with a codec that answers
//! malformed protobuf with INTERNAL, and OTLP senders should get INVALID_ARGUMENT (do not retry)
//! with the decoder's message. Oversized messages are answered RESOURCE_EXHAUSTED rather than
//! tonic's OUT_OF_RANGE, which OTLP senders would retry forever.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use prost::Message;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::codegen::{BoxFuture, Service, StdError, http};
use tonic::server::{Grpc, UnaryService};
use tonic::{Code, Status};

use super::traces::Traces;
use super::{Logs, Signal, decode_protobuf, export, export_response};
use crate::auth::Tokens;
use crate::ingest::{Reason, SourceKind};
use crate::metrics::Metrics;
use crate::sources::Ingest;

/// The OTLP services of the gRPC listener: every path comes here; the export paths of logs
/// and traces are served, any other is UNIMPLEMENTED.
#[derive(Clone)]
pub struct OtlpService {
    ingest: Ingest,
    /// Bearer tokens the `authorization` metadata must carry; none means open.
    tokens: Tokens,
}

impl OtlpService {
    pub fn new(ingest: Ingest, tokens: Tokens) -> OtlpService {
        OtlpService { ingest, tokens }
    }
}

impl<B> Service<http::Request<B>> for OtlpService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let service = self.clone();
        match request.uri().path() {
            Logs::GRPC_PATH => Box::pin(serve::<Logs, B>(service, request)),
            Traces::GRPC_PATH => Box::pin(serve::<Traces, B>(service, request)),
            other => {
                let status = Status::unimplemented(format!("unknown method {other}"));
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

/// One export call of signal `S`: authentication, limits, then the generic unary handling with
/// a codec of `S`'s messages.
async fn serve<S: Signal, B>(
    service: OtlpService,
    request: http::Request<B>,
) -> Result<http::Response<tonic::body::Body>, Infallible>
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    let metrics = service.ingest.metrics_handle();
    let authorization =
        request.headers().get(http::header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    if let Err(refusal) = service.tokens.check(authorization, crate::clock::now()) {
        metrics.unauthenticated("grpc");
        return Ok(Status::unauthenticated(refusal.message()).into_http());
    }
    metrics.received_request(S::GRPC_SOURCE);
    let codec = ExportCodec::<S> { metrics: metrics.clone(), signal: PhantomData };
    let mut accept = EnabledCompressionEncodings::default();
    accept.enable(CompressionEncoding::Gzip);
    let mut grpc = Grpc::new(codec)
        .apply_compression_config(accept, EnabledCompressionEncodings::default())
        .apply_max_message_size_config(Some(service.ingest.limits().max_body_bytes), None);
    let response = grpc.unary(Export::<S> { ingest: service.ingest, signal: PhantomData }, request).await;
    Ok(resource_exhausted_when_too_large(response, &metrics, S::GRPC_SOURCE))
}

/// tonic refuses an oversized message with OUT_OF_RANGE before any handler runs; say
/// RESOURCE_EXHAUSTED instead, and count it.
fn resource_exhausted_when_too_large(
    response: http::Response<tonic::body::Body>,
    metrics: &Metrics,
    source: SourceKind,
) -> http::Response<tonic::body::Body> {
    let out_of_range = response
        .headers()
        .get(Status::GRPC_STATUS)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == (Code::OutOfRange as i32).to_string());
    if !out_of_range {
        return response;
    }
    metrics.rejected_requests(source, Reason::TooLarge);
    let message = response
        .headers()
        .get(Status::GRPC_MESSAGE)
        .and_then(|value| value.to_str().ok())
        .map(percent_decode)
        .unwrap_or_else(|| "message too large".to_owned());
    Status::resource_exhausted(message).into_http()
}

/// grpc-message is percent-encoded; undo it for the re-issued status.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).ok();
            if let Some(byte) = hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                out.push(byte);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The handler of a decoded request of signal `S`.
struct Export<S> {
    ingest: Ingest,
    signal: PhantomData<fn() -> S>,
}

impl<S: Signal> UnaryService<S::Request> for Export<S> {
    type Response = S::Response;
    type Future = BoxFuture<tonic::Response<Self::Response>, Status>;

    fn call(&mut self, request: tonic::Request<S::Request>) -> Self::Future {
        let ingest = self.ingest.clone();
        Box::pin(async move {
            let source = S::GRPC_SOURCE;
            match export::<S>(&ingest, source, request.get_ref(), None).await {
                Ok(decoded) => Ok(tonic::Response::new(export_response::<S>(&decoded))),
                Err(error) => {
                    ingest.reject(source, &error);
                    Err(Status::new(error.reason.grpc_code(), error.message))
                }
            }
        })
    }
}

/// Prost encoding of `S`'s messages, but malformed requests are INVALID_ARGUMENT (and counted).
struct ExportCodec<S> {
    metrics: Arc<Metrics>,
    signal: PhantomData<fn() -> S>,
}

impl<S: Signal> Codec for ExportCodec<S> {
    type Encode = S::Response;
    type Decode = S::Request;
    type Encoder = ResponseEncoder<S>;
    type Decoder = RequestDecoder<S>;

    fn encoder(&mut self) -> ResponseEncoder<S> {
        ResponseEncoder { signal: PhantomData }
    }

    fn decoder(&mut self) -> RequestDecoder<S> {
        RequestDecoder { metrics: self.metrics.clone(), signal: PhantomData }
    }
}

struct ResponseEncoder<S> {
    signal: PhantomData<fn() -> S>,
}

impl<S: Signal> Encoder for ResponseEncoder<S> {
    type Item = S::Response;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, buffer: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buffer).map_err(|error| Status::internal(format!("cannot encode response: {error}")))
    }
}

struct RequestDecoder<S> {
    metrics: Arc<Metrics>,
    signal: PhantomData<fn() -> S>,
}

impl<S: Signal> Decoder for RequestDecoder<S> {
    type Item = S::Request;
    type Error = Status;

    fn decode(&mut self, buffer: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        // The whole message, without a copy: prost reads a slice faster than tonic's buffer.
        let message = buffer.copy_to_bytes(buffer.remaining());
        decode_protobuf::<S>(message.as_ref()).map(Some).map_err(|error| {
            self.metrics.rejected_requests(S::GRPC_SOURCE, error.reason);
            Status::invalid_argument(error.message)
        })
    }
}
