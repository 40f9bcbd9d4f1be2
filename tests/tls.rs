//! HTTPS: certificates made at test time, curl and openssl s_client as the
//! clients, and every bad-input case ending one connection only.
mod common;
use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

fn ca(dir: &Path, name: &str) -> (CertificateParams, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    (params, key)
}

fn leaf(dir: &Path, file: &str, cn: &str, sans: &[&str], issuer: &Issuer<&KeyPair>, expired: bool) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = params.signed_by(&key, issuer).unwrap();
    std::fs::write(dir.join(format!("{file}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{file}.key")), key.serialize_pem()).unwrap();
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, server certificates for localhost (ECDSA) and other.test, client
/// certificates (good, expired, from another CA), and RSA keys in PKCS#1 and PKCS#8.
fn pki() -> Pki {
    let dir = temp_dir("pki");
    let (ca_params, ca_key) = ca(&dir, "ca");
    let issuer = Issuer::new(ca_params, &ca_key);
    leaf(
        &dir,
        "server",
        "localhost",
        &["localhost", "127.0.0.1"],
        &issuer,
        false,
    );
    leaf(&dir, "other", "other.test", &["other.test"], &issuer, false);
    leaf(&dir, "client", "alice", &[], &issuer, false);
    leaf(&dir, "expired", "old-alice", &[], &issuer, true);
    let (rogue_params, rogue_key) = ca(&dir, "rogue");
    let rogue = Issuer::new(rogue_params, &rogue_key);
    leaf(&dir, "mallory", "mallory", &[], &rogue, false);
    // RSA server keys through openssl: PKCS#1 ("RSA PRIVATE KEY") and PKCS#8, and EC SEC1.
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    openssl(&["genrsa", "-traditional", "-out", &p("rsa1.key"), "2048"]);
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        &p("rsa1.key"),
        "-out",
        &p("rsa8.key"),
    ]);
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &p("sec1.key"),
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    for k in ["rsa1", "sec1"] {
        openssl(&[
            "req",
            "-new",
            "-key",
            &p(&format!("{k}.key")),
            "-subj",
            "/CN=localhost",
            "-out",
            &p(&format!("{k}.csr")),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &p(&format!("{k}.csr")),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &p("san.ext"),
            "-out",
            &p(&format!("{k}.pem")),
        ]);
    }
    Pki { dir }
}

const ECHO_TLS: &str = r#"
return function(req)
  local t = req.tls
  if not t then return "plain " .. req.scheme end
  local c = t.client
  return table.concat({ req.scheme, t.version, t.alpn or "-", t.sni or "-",
    c and c.subject or "no-client", c and tostring(c.verified) or "-",
    c and #c.fingerprint_sha256 or 0, c and (c.pem:match("BEGIN CERTIFICATE") and "pem" or "-") or "-" }, "|")
end
"#;

fn https(pki: &Pki, extra: &[&str]) -> Server {
    let mut args = vec![
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        "",
        "--tls-key",
        "",
        "--header-timeout",
        "1",
    ];
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    args[3] = &cert;
    args[5] = &key;
    args.extend_from_slice(extra);
    Server::start(ECHO_TLS, &args)
}

fn curl_https(s: &Server, pki: &Pki, extra: &[&str]) -> (i32, String) {
    let resolve = format!("localhost:{}:127.0.0.1", s.addr.port());
    let url = format!("https://localhost:{}/", s.addr.port());
    let ca = pki.path("ca.pem");
    let mut args = vec!["--cacert", ca.as_str(), "--resolve", resolve.as_str()];
    args.extend_from_slice(extra);
    args.push(&url);
    let (code, body) = curl(&args);
    (code, String::from_utf8_lossy(&body).into_owned())
}

/// openssl s_client's output for a connection that sends one request.
fn s_client(s: &Server, args: &[&str]) -> String {
    let connect = s.addr.to_string();
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &connect, "-ign_eof"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn still_serves(s: &Server, pki: &Pki) {
    let (code, body) = curl_https(s, pki, &[]);
    assert_eq!(code, 0, "the server stopped serving");
    assert!(body.starts_with("https|"), "{body}");
}

#[test]
fn https_request_sees_the_session() {
    let pki = pki();
    let s = https(&pki, &[]);
    let (code, body) = curl_https(&s, &pki, &["--http1.1"]);
    assert_eq!(code, 0);
    assert_eq!(body, "https|TLSv1.3|http/1.1|localhost|no-client|-|0|-");
}

#[test]
fn tls_versions_12_and_13_only() {
    let pki = pki();
    let s = https(&pki, &[]);
    assert!(s_client(&s, &["-tls1_3"]).contains("Protocol  : TLSv1.3"));
    let out12 = s_client(&s, &["-tls1_2"]);
    assert!(out12.contains("Protocol  : TLSv1.2"), "{out12}");
    assert!(out12.contains("https|TLSv1.2|"), "{out12}");
    let out11 = s_client(&s, &["-tls1_1"]);
    assert!(!out11.contains("https|"), "TLS 1.1 was accepted: {out11}");
    still_serves(&s, &pki);
}

#[test]
fn alpn_and_sni_pick_protocol_and_certificate() {
    let pki = pki();
    let (ocert, okey) = (pki.path("other.pem"), pki.path("other.key"));
    let s = https(&pki, &["--tls-cert", &ocert, "--tls-key", &okey]);
    let other = s_client(&s, &["-servername", "other.test", "-alpn", "http/1.1"]);
    assert!(
        other.contains("CN = other.test") || other.contains("CN=other.test"),
        "{other}"
    );
    assert!(other.contains("ALPN protocol: http/1.1"), "{other}");
    assert!(other.contains("|other.test|"), "{other}");
    let default = s_client(&s, &["-servername", "localhost"]);
    assert!(
        default.contains("CN = localhost") || default.contains("CN=localhost"),
        "{default}"
    );
}

#[test]
fn sessions_resume() {
    let pki = pki();
    let s = https(&pki, &[]);
    let sess = pki.path("session.pem");
    let first = s_client(&s, &["-tls1_2", "-sess_out", &sess]);
    assert!(first.contains("New,"), "{first}");
    let second = s_client(&s, &["-tls1_2", "-sess_in", &sess]);
    assert!(
        second.contains("Reused,"),
        "session was not resumed: {second}"
    );
}

#[test]
fn client_certificate_required() {
    let pki = pki();
    let ca = pki.path("ca.pem");
    let s = https(&pki, &["--client-ca", &ca, "--client-auth", "required"]);
    let (code, _) = curl_https(&s, &pki, &[]);
    assert_ne!(code, 0, "a client without a certificate got through");
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    let (code, body) = curl_https(&s, &pki, &["--cert", &cert, "--key", &key]);
    assert_eq!(code, 0);
    assert!(body.contains("CN=alice|true|64|pem"), "{body}");
    for bad in ["expired", "mallory"] {
        let (cert, key) = (
            pki.path(&format!("{bad}.pem")),
            pki.path(&format!("{bad}.key")),
        );
        let (code, _) = curl_https(&s, &pki, &["--cert", &cert, "--key", &key]);
        assert_ne!(code, 0, "{bad} certificate was accepted");
    }
    let (code, body) = curl_https(&s, &pki, &["--cert", &cert, "--key", &key]);
    assert_eq!((code, body.contains("alice")), (0, true));
    assert!(
        s.stderr().contains("TLS"),
        "refused handshakes are logged: {}",
        s.stderr()
    );
}

#[test]
fn client_certificate_optional() {
    let pki = pki();
    let ca = pki.path("ca.pem");
    let s = https(&pki, &["--client-ca", &ca, "--client-auth", "optional"]);
    let (code, body) = curl_https(&s, &pki, &[]);
    assert_eq!(code, 0);
    assert!(body.contains("|no-client|"), "{body}");
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    let (_, body) = curl_https(&s, &pki, &["--cert", &cert, "--key", &key]);
    assert!(body.contains("CN=alice|true"), "{body}");
}

#[test]
fn hostile_input_ends_one_connection() {
    let pki = pki();
    let s = https(&pki, &[]);
    // Garbage in place of a ClientHello.
    let reply = s.raw(b"\x16\x03\x01\x00\x05garbagegarbage");
    assert!(!String::from_utf8_lossy(&reply).contains("HTTP/1.1 200"));
    // Plain HTTP on the TLS port: a clear 400.
    let reply = String::from_utf8_lossy(&s.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")).into_owned();
    assert!(
        reply.starts_with("HTTP/1.1 400")
            && reply.contains("plain HTTP request was sent to HTTPS port"),
        "{reply}"
    );
    // A client that stalls mid-handshake is dropped after the header timeout.
    let mut stalled = s.connect();
    stalled.write_all(b"\x16\x03\x01").unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 64];
    let started = std::time::Instant::now();
    let n = stalled.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "expected the stalled handshake to be closed");
    assert!(started.elapsed() < Duration::from_secs(9));
    still_serves(&s, &pki);
}

#[test]
fn tls_hello_on_the_plain_port_is_refused() {
    let s = Server::start("return function() return 'ok' end", &[]);
    let reply = s.raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello");
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 400"),
        "{text}"
    );
    assert_eq!(curl(&[&s.url("/")]).1, b"ok");
}

#[test]
fn key_formats_load() {
    let pki = pki();
    for (cert, key) in [
        ("rsa1.pem", "rsa1.key"),
        ("rsa1.pem", "rsa8.key"),
        ("sec1.pem", "sec1.key"),
    ] {
        let (c, k) = (pki.path(cert), pki.path(key));
        let s = Server::start(
            ECHO_TLS,
            &[
                "--tls-listen",
                "127.0.0.1:0",
                "--tls-cert",
                &c,
                "--tls-key",
                &k,
            ],
        );
        let (code, body) = curl_https(&s, &pki, &[]);
        assert_eq!(code, 0, "{cert} + {key}");
        assert!(body.starts_with("https|"), "{body}");
    }
}

fn start_error(pki: &Pki, cert: &str, key: &str) -> String {
    let dir = temp_dir("tlserr");
    let script = dir.join("app.lua");
    std::fs::write(&script, ECHO_TLS).unwrap();
    let (c, k) = (pki.path(cert), pki.path(key));
    match Server::start_script(
        &script,
        &dir,
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            &c,
            "--tls-key",
            &k,
        ],
    ) {
        Ok(_) => panic!("started with {cert} and {key}"),
        Err(stderr) => stderr,
    }
}

#[test]
fn bad_certificates_fail_startup_with_path_and_reason() {
    let pki = pki();
    std::fs::write(
        pki.dir.join("garbage.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(pki.dir.join("empty.pem"), "nothing here\n").unwrap();
    let e = start_error(&pki, "garbage.pem", "server.key");
    assert!(e.contains("garbage.pem"), "{e}");
    let e = start_error(&pki, "empty.pem", "server.key");
    assert!(
        e.contains("empty.pem") && e.contains("no certificate"),
        "{e}"
    );
    let e = start_error(&pki, "server.pem", "other.key");
    assert!(e.contains("other.key") && e.contains("does not fit"), "{e}");
    let e = start_error(&pki, "server.pem", "empty.pem");
    assert!(e.contains("empty.pem") && e.contains("private key"), "{e}");
    let dir = temp_dir("tlsmissing");
    let script = dir.join("app.lua");
    std::fs::write(&script, ECHO_TLS).unwrap();
    let e = Server::start_script(&script, &dir, &["--tls-cert", "/nonexistent/cert.pem"])
        .err()
        .unwrap();
    assert!(
        e.contains("tls-cert") && e.contains("/nonexistent/cert.pem"),
        "{e}"
    );
}

#[test]
fn plain_http_redirects_to_https() {
    let pki = pki();
    let s = https(&pki, &["--listen", "127.0.0.1:0", "--redirect-https"]);
    // The harness reads the first address printed: the plain one comes first.
    let reply = String::from_utf8_lossy(
        &s.raw(b"GET /a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n"),
    )
    .into_owned();
    assert!(reply.starts_with("HTTP/1.1 308"), "{reply}");
    assert!(
        reply
            .to_lowercase()
            .contains("location: https://example.com:"),
        "{reply}"
    );
    assert!(reply.contains("/a?b=1"), "{reply}");
}
