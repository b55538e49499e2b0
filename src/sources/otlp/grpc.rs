//! OTLP/gRPC `LogsService/Export` on the generated OTLP message types.
//!
//! The service is written out rather than taken from the generated `LogsServiceServer` for one
//! reason: the generated one decodes with a codec that answers malformed protobuf with INTERNAL,
//! and OTLP senders should get INVALID_ARGUMENT (do not retry) with the decoder's message.
//! Oversized messages are answered RESOURCE_EXHAUSTED rather than tonic's OUT_OF_RANGE, which
//! OTLP senders would retry forever.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use prost::Message;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::codegen::{BoxFuture, Service, StdError, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Status};

use super::{decode_request, export_response, to_json};
use crate::auth::Tokens;
use crate::ingest::{CapturedBody, IngestError, Reason, SourceKind, WireFormat};
use crate::metrics::Metrics;
use crate::sources::Ingest;

const SERVICE: &str = "opentelemetry.proto.collector.logs.v1.LogsService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

#[derive(Clone)]
pub struct LogsService {
    ingest: Ingest,
    /// Bearer tokens the `authorization` metadata must carry; none means open.
    tokens: Tokens,
}

impl LogsService {
    pub fn new(ingest: Ingest, tokens: Tokens) -> LogsService {
        LogsService { ingest, tokens }
    }
}

impl NamedService for LogsService {
    const NAME: &'static str = SERVICE;
}

impl<B> Service<http::Request<B>> for LogsService
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
        Box::pin(async move {
            if request.uri().path() != EXPORT_PATH {
                return Ok(
                    Status::unimplemented(format!("unknown method {}", request.uri().path())).into_http()
                );
            }
            let metrics = service.ingest.metrics_handle();
            let authorization =
                request.headers().get(http::header::AUTHORIZATION).and_then(|value| value.to_str().ok());
            if let Err(refusal) = service.tokens.check(authorization, crate::clock::now()) {
                metrics.unauthenticated("grpc");
                return Ok(Status::unauthenticated(refusal.message()).into_http());
            }
            metrics.received_request(SourceKind::OtlpGrpc);
            let codec = ExportCodec { metrics: metrics.clone() };
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            let mut grpc = Grpc::new(codec)
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(service.ingest.limits().max_body_bytes), None);
            let response = grpc.unary(Export(service), request).await;
            Ok(resource_exhausted_when_too_large(response, &metrics))
        })
    }
}

/// tonic refuses an oversized message with OUT_OF_RANGE before any handler runs; say
/// RESOURCE_EXHAUSTED instead, and count it.
fn resource_exhausted_when_too_large(
    response: http::Response<tonic::body::Body>,
    metrics: &Metrics,
) -> http::Response<tonic::body::Body> {
    let out_of_range = response
        .headers()
        .get(Status::GRPC_STATUS)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == (Code::OutOfRange as i32).to_string());
    if !out_of_range {
        return response;
    }
    metrics.rejected_requests(SourceKind::OtlpGrpc, Reason::TooLarge);
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

struct Export(LogsService);

impl UnaryService<ExportLogsServiceRequest> for Export {
    type Response = ExportLogsServiceResponse;
    type Future = BoxFuture<tonic::Response<Self::Response>, Status>;

    fn call(&mut self, request: tonic::Request<ExportLogsServiceRequest>) -> Self::Future {
        let ingest = self.0.ingest.clone();
        Box::pin(async move {
            let request = request.into_inner();
            let source = SourceKind::OtlpGrpc;
            let result = async {
                let mut decoded = decode_request(&request, ingest.limits())?;
                let capture = if ingest.recording() {
                    Some(CapturedBody { format: WireFormat::OtlpLogsJson, json: to_json(&request)? })
                } else {
                    None
                };
                ingest.submit(source, &mut decoded, capture).await?;
                Ok::<_, IngestError>(decoded)
            }
            .await;
            match result {
                Ok(decoded) => Ok(tonic::Response::new(export_response(&decoded))),
                Err(error) => {
                    ingest.reject(source, &error);
                    Err(Status::new(error.reason.grpc_code(), error.message))
                }
            }
        })
    }
}

/// Prost encoding, but malformed requests are INVALID_ARGUMENT (and counted).
struct ExportCodec {
    metrics: Arc<Metrics>,
}

impl Codec for ExportCodec {
    type Encode = ExportLogsServiceResponse;
    type Decode = ExportLogsServiceRequest;
    type Encoder = ResponseEncoder;
    type Decoder = RequestDecoder;

    fn encoder(&mut self) -> ResponseEncoder {
        ResponseEncoder
    }

    fn decoder(&mut self) -> RequestDecoder {
        RequestDecoder { metrics: self.metrics.clone() }
    }
}

struct ResponseEncoder;

impl Encoder for ResponseEncoder {
    type Item = ExportLogsServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, buffer: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buffer).map_err(|error| Status::internal(format!("cannot encode response: {error}")))
    }
}

struct RequestDecoder {
    metrics: Arc<Metrics>,
}

impl Decoder for RequestDecoder {
    type Item = ExportLogsServiceRequest;
    type Error = Status;

    fn decode(&mut self, buffer: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        ExportLogsServiceRequest::decode(buffer).map(Some).map_err(|error| {
            self.metrics.rejected_requests(SourceKind::OtlpGrpc, Reason::Malformed);
            Status::invalid_argument(format!("invalid OTLP protobuf logs request: {error}"))
        })
    }
}
