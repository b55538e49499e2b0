//! TLS on the listeners: HTTPS and gRPC over TLS on ingest, client certificates (mTLS) on the
//! admin listener, plain connections refused at the handshake and counted.

use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use crate::support::{FakePagerDuty, TestServer, config_yaml, http};

/// A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate, as PEM
/// files in `dir`.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    /// The client's certificate and key in one PEM (as reqwest takes an identity).
    client_identity: Vec<u8>,
    ca_pem: Vec<u8>,
}

fn pki(dir: &Path) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client =
        CertificateParams::new(vec!["sender".to_owned()]).unwrap().signed_by(&client_key, &ca).unwrap();
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", ca.pem()),
        server_cert: write("server.pem", server.pem()),
        server_key: write("server-key.pem", server_key.serialize_pem()),
        client_identity: format!("{}{}", client.pem(), client_key.serialize_pem()).into_bytes(),
        ca_pem: ca.pem().into_bytes(),
    }
}

fn client(pki: &Pki, identity: bool) -> reqwest::Client {
    let _ = http();
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pki.ca_pem).unwrap()])
        .https_only(true);
    if identity {
        builder = builder.identity(reqwest::Identity::from_pem(&pki.client_identity).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_speaks_tls_and_the_admin_listener_wants_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let pagerduty = FakePagerDuty::start().await;
    let tls = format!(
        "  tls: {{cert_file: \"{cert}\", key_file: \"{key}\"}}\n  admin_tls: {{cert_file: \"{cert}\", key_file: \"{key}\", client_ca_file: \"{ca}\"}}\n",
        cert = pki.server_cert.display(),
        key = pki.server_key.display(),
        ca = pki.ca.display()
    );
    let yaml = config_yaml(&pagerduty.url, "route:\n  group_by: [alertname]\n  group_wait: 0s\n")
        .replace("  tick: 20ms\n", &format!("  tick: 20ms\n{tls}"));
    let server = TestServer::start(&yaml).await;
    let https = |path: &str| format!("https://localhost:{}{path}", server.http.port());
    let admin = |path: &str| format!("https://localhost:{}{path}", server.admin.port());

    // HTTPS ingest.
    let alert = r#"[{"labels": {"alertname": "OverTls", "severity": "critical"}}]"#;
    let response = client(&pki, false)
        .post(https("/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(alert)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(pagerduty.wait_events(1).await[0]["payload"]["summary"], "OverTls");

    // Plain HTTP to the TLS port gets no HTTP answer, and is counted.
    let plain = http().get(format!("http://127.0.0.1:{}/healthz", server.http.port())).send().await;
    assert!(plain.is_err() || plain.is_ok_and(|response| !response.status().is_success()));

    // gRPC over TLS.
    let ca = tonic::transport::Certificate::from_pem(&pki.ca_pem);
    let channel = tonic::transport::Channel::from_shared(format!("https://localhost:{}", server.grpc.port()))
        .unwrap()
        .tls_config(tonic::transport::ClientTlsConfig::new().ca_certificate(ca).domain_name("localhost"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    LogsServiceClient::new(channel).export(ExportLogsServiceRequest::default()).await.unwrap();

    // The admin listener: no client certificate, no connection; with one, served.
    assert!(client(&pki, false).get(admin("/api/v1/silences")).send().await.is_err());
    let response = client(&pki, true).get(admin("/api/v1/silences")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let metrics = client(&pki, true).get(admin("/metrics")).send().await.unwrap().text().await.unwrap();
    let failures: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("noisegate_tls_handshake_failures_total "))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0);
    assert!(failures >= 2.0, "{metrics}");
    server.stop().await;
}

#[test]
fn unreadable_or_mismatched_certificates_are_config_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let missing = dir.path().join("missing.pem");
    let yaml = format!(
        "server:\n  tls: {{cert_file: \"{}\", key_file: \"{}\"}}\n  admin_tls: {{cert_file: \"{}\", key_file: \"{}\"}}\n",
        missing.display(),
        pki.server_key.display(),
        pki.ca.display(),
        pki.server_key.display(),
    );
    let errors = noisegate::config::parse(&yaml, &|_| None).unwrap_err().to_string();
    assert!(errors.contains("server.tls: cannot read"), "{errors}");
    assert!(errors.contains("missing.pem"), "{errors}");
    assert!(errors.contains("server.admin_tls:"), "{errors}");
    assert!(errors.contains("does not match"), "{errors}");
}
