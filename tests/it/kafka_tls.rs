//! Kafka over TLS: a tansu broker behind stunnel (TLS with client certificates required), the
//! broker advertising stunnel's port, so that every connection, bootstrap and broker alike, is
//! TLS. noisegate connects with `security.protocol: SSL`, its key in a file or a secret PEM,
//! and refuses to start against a broker whose certificate its CA did not sign.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use crate::kafka::{Broker, free_port, kafka_yaml, produce};
use crate::support::{FakePagerDuty, PATIENCE, TestServer, alert_names, config_with, http};

/// A CA, a server certificate for 127.0.0.1 and localhost, a client certificate, and another
/// CA that signed neither, as PEM files in `dir`.
struct Pki {
    ca: PathBuf,
    other_ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    // Each its own name: OpenSSL takes a certificate whose issuer is its own subject (rcgen's
    // default name for all) for a self-signed one.
    let params = |names: &[&str], common_name: &str| {
        let mut params =
            CertificateParams::new(names.iter().map(|name| name.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params
    };
    let authority = |name: &str| {
        let mut params = params(&[], name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    };
    let (ca, other_ca) = (authority("noisegate test CA"), authority("another CA"));
    let server_key = KeyPair::generate().unwrap();
    let server = params(&["localhost", "127.0.0.1"], "broker").signed_by(&server_key, &ca).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = params(&["noisegate"], "noisegate").signed_by(&client_key, &ca).unwrap();
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", ca.pem()),
        other_ca: write("other-ca.pem", other_ca.pem()),
        server_cert: write("server.pem", server.pem()),
        server_key: write("server-key.pem", server_key.serialize_pem()),
        client_cert: write("client.pem", client.pem()),
        client_key: write("client-key.pem", client_key.serialize_pem()),
    }
}

/// stunnel in the foreground: TLS on a loopback port, a client certificate signed by the CA
/// required, to a plain-text port; stopped when dropped.
struct Stunnel {
    child: std::process::Child,
}

impl Stunnel {
    fn start(pki: &Pki, dir: &Path, accept: u16, connect: u16) -> Stunnel {
        let config = dir.join("stunnel.conf");
        std::fs::write(
            &config,
            format!(
                "foreground = yes\npid =\ndebug = info\n[kafka]\naccept = 127.0.0.1:{accept}\n\
                 connect = 127.0.0.1:{connect}\ncert = {}\nkey = {}\nCAfile = {}\n\
                 verifyChain = yes\nrequireCert = yes\n",
                pki.server_cert.display(),
                pki.server_key.display(),
                pki.ca.display()
            ),
        )
        .unwrap();
        let spawn = |program: &str| {
            std::process::Command::new(program)
                .arg(&config)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
        };
        let mut child = spawn("stunnel4").or_else(|_| spawn("stunnel")).unwrap_or_else(|error| {
            panic!("cannot run stunnel4 or stunnel ({error}): install stunnel4 (apt-get install stunnel4)")
        });
        // Its log goes to stderr; it accepts once it says so.
        let stderr = child.stderr.take().unwrap();
        let (lines, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut seen = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match log.recv_timeout(left) {
                Ok(line) if line.contains("Accepting new connections") => break,
                Ok(line) => seen.push(line),
                Err(_) => {
                    let _ = child.kill();
                    panic!("stunnel did not start accepting:\n{}", seen.join("\n"));
                }
            }
        }
        Stunnel { child }
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tansu broker behind stunnel, advertising stunnel's port, its test clients on TLS with
/// the client certificate.
fn tls_broker(pki: &Pki, dir: &Path) -> (Broker, Stunnel) {
    let (plain, tls) = (free_port(), free_port());
    let stunnel = Stunnel::start(pki, dir, tls, plain);
    let mut broker = Broker::start_on(plain, &format!("127.0.0.1:{tls}"));
    broker.properties = vec![
        ("security.protocol".to_owned(), "SSL".to_owned()),
        ("ssl.ca.location".to_owned(), pki.ca.display().to_string()),
        ("ssl.certificate.location".to_owned(), pki.client_cert.display().to_string()),
        ("ssl.key.location".to_owned(), pki.client_key.display().to_string()),
    ];
    (broker, stunnel)
}

/// `kafka_yaml` with these librdkafka properties (indented lines) too.
fn tls_yaml(broker: &Broker, group: &str, topic: &str, properties: &str) -> String {
    let sources = format!("    - {{topic: {topic}, encoding: alertmanager_v2}}");
    kafka_yaml(broker, group, &sources, "")
        .replace("  properties:\n", &format!("  properties:\n{properties}"))
}

fn alert(name: &str) -> Vec<u8> {
    format!(r#"[{{"labels":{{"alertname":"{name}","severity":"critical"}}}}]"#).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_a_client_certificate_in_files_or_secret_pems_alerts_are_paged() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let (broker, _stunnel) = tls_broker(&pki, dir.path());
    broker.create_topic("tls-files", 1).await;
    broker.create_topic("tls-pems", 1).await;
    let pagerduty = FakePagerDuty::start().await;
    let producer = broker.producer();

    // The CA, the certificate and the key in files.
    let files = format!(
        "    security.protocol: SSL\n    ssl.ca.location: \"{}\"\n    ssl.certificate.location: \"{}\"\n    \
         ssl.key.location: \"{}\"\n",
        pki.ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    );
    let server = TestServer::start(&config_with(
        &pagerduty.url,
        "",
        &tls_yaml(&broker, "tls-files", "tls-files", &files),
    ))
    .await;
    produce(&producer, "tls-files", 0, &alert("OverTlsFiles")).await;
    pagerduty
        .wait_for("the alert read over TLS paged", |events| {
            events.iter().any(|event| alert_names(event) == ["OverTlsFiles"])
        })
        .await;
    server.stop().await;

    // The same, as secret PEMs (the key and certificate given inline, as a Secret would).
    let read = |path: &Path| serde_json::to_string(&std::fs::read_to_string(path).unwrap()).unwrap();
    let key_pem = std::fs::read_to_string(&pki.client_key).unwrap();
    let pems = format!(
        "  secret_properties:\n    ssl.ca.pem: {{value: {}}}\n    ssl.certificate.pem: {{value: {}}}\n    \
         ssl.key.pem: {{value: {}}}\n",
        read(&pki.ca),
        read(&pki.client_cert),
        read(&pki.client_key)
    );
    let yaml = tls_yaml(&broker, "tls-pems", "tls-pems", "    security.protocol: SSL\n")
        .replace("  sources:\n", &format!("{pems}  sources:\n"));
    assert!(!yaml.contains("ssl.key.location"), "{yaml}");
    let server = TestServer::start(&config_with(&pagerduty.url, "", &yaml)).await;
    produce(&producer, "tls-pems", 0, &alert("OverTlsPems")).await;
    pagerduty
        .wait_for("the alert read with secret PEMs paged", |events| {
            events.iter().any(|event| alert_names(event) == ["OverTlsPems"])
        })
        .await;
    // The config in force is shown, the key's PEM not.
    let status = http().get(server.admin_url("/api/v2/status")).send().await.unwrap().text().await.unwrap();
    assert!(status.contains("security.protocol"), "{status}");
    let key_body = key_pem.lines().nth(1).unwrap();
    assert!(!status.contains(key_body) && !status.contains("PRIVATE KEY"), "{status}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_the_ca_did_not_sign_stops_serve_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let (broker, _stunnel) = tls_broker(&pki, dir.path());
    broker.create_topic("tls-wrong-ca", 1).await;
    let pagerduty = FakePagerDuty::start().await;
    let properties = format!(
        "    security.protocol: SSL\n    ssl.ca.location: \"{}\"\n    ssl.certificate.location: \"{}\"\n    \
         ssl.key.location: \"{}\"\n",
        pki.other_ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    );
    let yaml =
        config_with(&pagerduty.url, "", &tls_yaml(&broker, "tls-wrong-ca", "tls-wrong-ca", &properties));
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, format!("{yaml}\nstorage:\n  dir: data\n")).unwrap();

    let started = Instant::now();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_noisegate"))
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("noisegate starts");
    let pid = child.id();
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let Ok(output) = exited.recv_timeout(PATIENCE) else {
        let _ = std::process::Command::new("sh").args(["-c", &format!("kill -KILL {pid}")]).status();
        panic!("noisegate serve did not exit against a broker its CA does not trust");
    };
    let output = output.unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let error = stderr.lines().find(|line| line.starts_with("error: ")).unwrap_or_else(|| panic!("{stderr}"));
    let brokers = format!("kafka: cannot connect to {} over SSL", broker.address);
    for expected in [brokers.as_str(), "certificate verify failed", "ssl.ca.location"] {
        assert!(error.contains(expected), "{expected:?} missing from {error}");
    }
    // At the handshake, not after the 10s it would wait for an unreachable broker.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}: {stderr}");
    eprintln!("{error}");
}
