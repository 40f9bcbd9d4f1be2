//! HTTPS with rustls: the server's TLS configuration built from `Config`
//! (certificates chosen by SNI, client certificate authentication, session
//! resumption), and what a handshake tells the handler (`req.tls`).

use crate::config::{ClientAuth, Config};
use crate::http::message::{ClientCert, TlsInfo};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConnection};
use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

/// ALPN protocols offered, most preferred first.
const ALPN: &[&[u8]] = &[b"http/1.1"];

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the TLS configuration; None when no TLS listener is configured.
/// Errors name the file and the reason.
pub fn server_config(config: &Config) -> Result<Option<Arc<ServerConfig>>, String> {
    if config.tls_listen.is_empty() {
        return Ok(None);
    }
    if config.tls_certs.is_empty() {
        return Err("--tls-listen needs --tls-cert and --tls-key".into());
    }
    if config.tls_certs.len() != config.tls_keys.len() {
        return Err(format!(
            "{} --tls-cert but {} --tls-key: give one key per certificate, in the same order",
            config.tls_certs.len(),
            config.tls_keys.len()
        ));
    }
    let provider = provider();
    let mut keys = Vec::new();
    for (cert, key) in config.tls_certs.iter().zip(&config.tls_keys) {
        keys.push(load_certified_key(cert, key, &provider)?);
    }
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let builder = match (&config.client_ca, config.client_auth) {
        (_, ClientAuth::None) => builder.with_no_client_auth(),
        (None, _) => return Err("--client-auth optional|required needs --client-ca".into()),
        (Some(ca), mode) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: not a usable CA certificate: {e}", ca.display()))?;
            }
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if mode == ClientAuth::Optional {
                v = v.allow_unauthenticated();
            }
            let verifier = v.build().map_err(|e| format!("{}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder.with_cert_resolver(Arc::new(SniResolver { keys }));
    server.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    server.ticketer =
        rustls::crypto::ring::Ticketer::new().map_err(|e| format!("TLS session tickets: {e}"))?;
    server.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    Ok(Some(Arc::new(server)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: malformed PEM certificate: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate found (expected PEM)",
            path.display()
        ));
    }
    Ok(certs)
}

/// A certificate chain and its key, with the names (SANs) it serves.
#[derive(Debug)]
struct NamedKey {
    names: Vec<String>,
    key: Arc<CertifiedKey>,
}

fn load_certified_key(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<NamedKey, String> {
    let certs = read_certs(cert)?;
    let data = std::fs::read(key).map_err(|e| format!("cannot read {}: {e}", key.display()))?;
    let der = PrivateKeyDer::from_pem_slice(&data).map_err(|e| {
        format!(
            "{}: no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}",
            key.display()
        )
    })?;
    let certified = CertifiedKey::from_der(certs, der, provider).map_err(|e| {
        format!(
            "{} and {}: the key does not fit the certificate: {e}",
            cert.display(),
            key.display()
        )
    })?;
    let names = cert_names(&certified.cert[0]).map_err(|e| format!("{}: {e}", cert.display()))?;
    Ok(NamedKey {
        names,
        key: Arc::new(certified),
    })
}

/// The DNS names a certificate is valid for (its SANs, else its CN).
fn cert_names(cert: &CertificateDer) -> Result<Vec<String>, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("malformed certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = name {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        if let Some(cn) = parsed
            .subject()
            .iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
        {
            names.push(cn.to_ascii_lowercase());
        }
    }
    Ok(names)
}

/// Picks the certificate whose names match the client's SNI (wildcards for one
/// label); the first certificate otherwise.
#[derive(Debug)]
struct SniResolver {
    keys: Vec<NamedKey>,
}

fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let chosen = hello.server_name().and_then(|sni| {
            let sni = sni.to_ascii_lowercase();
            self.keys
                .iter()
                .find(|k| k.names.iter().any(|n| name_matches(n, &sni)))
        });
        chosen.or_else(|| self.keys.first()).map(|k| k.key.clone())
    }
}

/// A new server-side TLS session for an accepted connection.
pub fn accept(config: &Arc<ServerConfig>) -> Result<ServerConnection, rustls::Error> {
    let mut conn = ServerConnection::new(config.clone())?;
    // Bounds the plaintext rustls queues, so a slow client holds back the writer.
    conn.set_buffer_limit(Some(64 << 10));
    Ok(conn)
}

/// What the completed handshake established.
pub fn info(conn: &ServerConnection) -> TlsInfo {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "unknown",
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .unwrap_or("unknown");
    TlsInfo {
        version: version.to_string(),
        cipher: cipher.to_string(),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        sni: conn.server_name().map(str::to_string),
        client: conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(client_cert),
    }
}

fn client_cert(der: &CertificateDer) -> ClientCert {
    let fingerprint = ring::digest::digest(&ring::digest::SHA256, der);
    let mut hex = String::new();
    for b in fingerprint.as_ref() {
        let _ = write!(hex, "{b:02x}");
    }
    let mut cert = ClientCert {
        // rustls refuses certificates that do not verify against --client-ca.
        verified: true,
        subject: String::new(),
        issuer: String::new(),
        serial: String::new(),
        not_before: 0,
        not_after: 0,
        fingerprint_sha256: hex,
        pem: pem_encode(der),
    };
    if let Ok((_, parsed)) = x509_parser::parse_x509_certificate(der) {
        cert.subject = parsed.subject().to_string();
        cert.issuer = parsed.issuer().to_string();
        cert.serial = parsed.raw_serial_as_string().replace(':', "");
        cert.not_before = parsed.validity().not_before.timestamp();
        cert.not_after = parsed.validity().not_after.timestamp();
    }
    cert
}

fn pem_encode(der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_names_match_one_label() {
        assert!(name_matches("*.example.com", "a.example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(name_matches("example.com", "example.com"));
    }

    #[test]
    fn pem_wraps_base64() {
        let pem = pem_encode(b"hello world");
        assert_eq!(
            pem,
            "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n"
        );
    }
}
