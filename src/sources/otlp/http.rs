//! OTLP/HTTP `POST /v1/logs`: protobuf (`application/x-protobuf`) or JSON (`application/json`)
//! bodies, optionally gzip. Answers in the request's encoding, with `partial_success` when some
//! records were rejected, and a `google.rpc.Status` body on errors, as the OTLP spec asks.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;

use super::{decode_request, export_response, parse_json, to_json};
use crate::ingest::{CapturedBody, IngestError, Reason, SourceKind, WireFormat};
use crate::sources::http::{HttpState, media_type, read_body, status_of, with_retry_after};
use crate::sources::{require_utf8, single_line_json};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// `google.rpc.Status`, the OTLP/HTTP error body.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

pub async fn export(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    let ingest = &state.ingest;
    let source = SourceKind::OtlpHttp;
    ingest.metrics().received_request(source);
    let encoding = match media_type(&headers).as_deref() {
        Some("application/x-protobuf") | Some("application/protobuf") => Encoding::Protobuf,
        Some("application/json") => Encoding::Json,
        other => {
            let error = IngestError::new(
                Reason::UnsupportedMediaType,
                format!(
                    "unsupported content type {:?}: expected application/x-protobuf or application/json",
                    other.unwrap_or("")
                ),
            );
            ingest.reject(source, &error);
            return error_response(&error, Encoding::Json);
        }
    };
    let result = async {
        let bytes = read_body(&headers, body, ingest.limits()).await?;
        let (request, json) = match encoding {
            Encoding::Protobuf => {
                let request = ExportLogsServiceRequest::decode(bytes).map_err(|error| {
                    IngestError::new(
                        Reason::Malformed,
                        format!("invalid OTLP protobuf logs request: {error}"),
                    )
                })?;
                (request, None)
            }
            Encoding::Json => {
                let text = require_utf8(&bytes)?;
                (parse_json(text)?, Some(single_line_json(text)))
            }
        };
        let mut decoded = decode_request(&request, ingest.limits())?;
        let capture = match (ingest.recording(), json) {
            (false, _) => None,
            (true, Some(json)) => Some(CapturedBody { format: WireFormat::OtlpLogsJson, json }),
            (true, None) => Some(CapturedBody { format: WireFormat::OtlpLogsJson, json: to_json(&request)? }),
        };
        ingest.submit(source, &mut decoded, capture).await?;
        Ok::<_, IngestError>(decoded)
    }
    .await;
    match result {
        Ok(decoded) => {
            let response = export_response(&decoded);
            match encoding {
                Encoding::Protobuf => {
                    ([(header::CONTENT_TYPE, "application/x-protobuf")], response.encode_to_vec())
                        .into_response()
                }
                Encoding::Json => match serde_json::to_vec(&response) {
                    Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
                    Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
                },
            }
        }
        Err(error) => {
            ingest.reject(source, &error);
            error_response(&error, encoding)
        }
    }
}

fn error_response(error: &IngestError, encoding: Encoding) -> Response {
    with_retry_after(error.reason, status_response(error, encoding))
}

fn status_response(error: &IngestError, encoding: Encoding) -> Response {
    let status = status_of(error.reason);
    let rpc = RpcStatus { code: error.reason.grpc_code() as i32, message: error.message.clone() };
    match encoding {
        Encoding::Protobuf => {
            (status, [(header::CONTENT_TYPE, "application/x-protobuf")], rpc.encode_to_vec()).into_response()
        }
        Encoding::Json => {
            let body = serde_json::json!({ "code": rpc.code, "message": rpc.message });
            (status, axum::Json(body)).into_response()
        }
    }
}
