//! HTTPS: the client verifies certificates (the root store is loaded lazily, see src/tls.rs),
//! and honours SSL_CERT_FILE for a private CA.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::support::*;

/// A private CA (its PEM) and an HTTPS server on 127.0.0.1 with a certificate it signed,
/// answering every request with a file.io upload answer.
fn https_server(env: &Env) -> (String, std::path::PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let ca_pem = env.path("ca.pem");
    std::fs::write(&ca_pem, ca_cert.pem()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let base = url.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, base) = (config.clone(), base.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut reader = BufReader::new(&mut tls);
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return; // the client refused the certificate
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                let json = file_details("Tls123", &base, "a.txt", 5);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                    json.len()
                );
                let _ = tls.write_all(answer.as_bytes());
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (url, ca_pem)
}

#[test]
fn an_unknown_certificate_authority_is_refused() {
    let env = Env::new();
    let (url, _) = https_server(&env);
    env.write("a.txt", "hello");
    let out = env
        .cmd()
        .args(["--server", &url, "--retries", "0", "upload", "a.txt"])
        .assert()
        .code(7);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.starts_with("fileio: error: uploading a.txt failed: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("certificate"),
        "names the certificate problem: {stderr}"
    );
    assert!(
        stderr.contains(
            "hint: the server's certificate is not trusted; for a private CA, set SSL_CERT_FILE"
        ),
        "says what to do: {stderr}"
    );
}

#[test]
fn ssl_cert_file_trusts_a_private_certificate_authority() {
    let env = Env::new();
    let (url, ca_pem) = https_server(&env);
    env.write("a.txt", "hello");
    env.cmd()
        .env("SSL_CERT_FILE", &ca_pem)
        .args(["--server", &url, "upload", "a.txt"])
        .assert()
        .success()
        .stdout(format!("{url}/Tls123\n"));
}
