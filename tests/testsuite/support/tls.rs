//! An HTTPS ping endpoint on loopback whose certificate a company's own CA signed (as a
//! TLS-intercepting proxy's is): trusted only where that CA is.

use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

pub struct TlsReceiver {
    pub port: u16,
    /// The CA's certificate (PEM), for `SSL_CERT_FILE`.
    pub ca_file: PathBuf,
    /// Bodies of the pings received over TLS.
    pub bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    _dir: tempfile::TempDir,
}

impl TlsReceiver {
    pub fn start() -> TlsReceiver {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Example Corp TLS inspection CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("corp-ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let kept = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let config = config.clone();
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut reader = BufReader::new(rustls::StreamOwned::new(conn, stream));
                    while let Some(request) = super::read_request(&mut reader) {
                        kept.lock().unwrap().push(request.body);
                        let tls = reader.get_mut();
                        let ok = tls
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                            .and_then(|()| tls.flush());
                        if ok.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        TlsReceiver {
            port,
            ca_file,
            bodies,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}/ping/tok_9f8e7d6c5b4a3921", self.port)
    }
}
