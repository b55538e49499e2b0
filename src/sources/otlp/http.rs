//! OTLP/HTTP `POST /v1/logs` and `POST /v1/traces`, written once over `Signal`: protobuf
//! (`application/x-protobuf`) or JSON (`application/json`) bodies, optionally gzip. Answers in
//! the request's encoding, with `partial_success` when some records were rejected, and a
//! `google.rpc.Status` body on errors, as the OTLP spec asks.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;

use super::{Signal, decode_protobuf, export, export_response, parse};
use crate::ingest::{IngestError, Reason};
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

/// The export endpoint of signal `S`.
pub async fn receive<S: Signal>(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    let ingest = &state.ingest;
    let source = S::HTTP_SOURCE;
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
            Encoding::Protobuf => (decode_protobuf::<S>(bytes)?, None),
            Encoding::Json => {
                let text = require_utf8(&bytes)?;
                (parse::<S>(text)?, Some(single_line_json(text)))
            }
        };
        export::<S>(ingest, source, &request, json).await
    }
    .await;
    match result {
        Ok(decoded) => {
            let response = export_response::<S>(&decoded);
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
