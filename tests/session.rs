//! Sessions and cookies over real sockets: signed cookies, the database
//! store (SQLite and PostgreSQL), key rotation, bad cookies, HTTPS.

mod common;

use common::{curl, Server};

const APP: &str = r#"
local flutter = require "flutter"
local shared = { body = "shared" }
return function(req)
  local s = req.session
  if req.path == "/login" then
    s:regenerate()
    s.user = req.args.user
    s.cart = { "apple", { n = 2 } }
    return "welcome"
  elseif req.path == "/me" then
    return { json = { user = s.user or flutter.json.null, cart = s.cart or flutter.json.null } }
  elseif req.path == "/count" then
    s.n = (s.n or 0) + 1
    return tostring(s.n)
  elseif req.path == "/logout" then
    flutter.session.destroy(req)
    return "bye"
  elseif req.path == "/regen" then
    flutter.session.regenerate(s)
    return "regenerated"
  elseif req.path == "/forms" then
    s.seen = true
    local form = req.args.form
    if form == "string" then return "a string"
    elseif form == "one" then return { headers = { ["set-cookie"] = "a=1" }, body = "one" }
    elseif form == "list" then return { headers = { ["set-cookie"] = { "a=1", "b=2" } }, body = "list" }
    elseif form == "head" then return { head = { mimetype = "text/plain" }, body = "head" }
    elseif form == "shared" then return shared end
  elseif req.path == "/shared" then
    return shared
  elseif req.path == "/cookie" then
    local ok, err = pcall(flutter.cookie, "bad name", "x")
    local ok2, err2 = pcall(flutter.cookie, "a", "x;y")
    local ok3, err3 = pcall(flutter.cookie, "a", "x", { colour = "red" })
    return { headers = { ["set-cookie"] = {
        flutter.cookie("pref", "dark", { path = "/app", domain = "example.com", max_age = 3600,
          expires = 784111777, http_only = true, secure = true, same_site = "Strict" }),
        flutter.cookie("n", 42),
      } },
      json = { err = err, err2 = err2, err3 = err3, cookies = req.cookies } }
  elseif req.path == "/big" then
    s.blob = string.rep("x", 5000)
    return "big"
  end
  return "plain"
end
"#;

/// A curl call keeping cookies in `jar`: (status, Set-Cookie values, body).
fn call(s: &Server, jar: &str, path: &str, extra: &[&str]) -> (u16, Vec<String>, String) {
    let url = s.url(path);
    let mut args = vec!["-i", "-b", jar, "-c", jar];
    args.extend_from_slice(extra);
    args.push(&url);
    let (code, out) = curl(&args);
    assert_eq!(code, 0, "curl {path}");
    parse(&out)
}

fn parse(out: &[u8]) -> (u16, Vec<String>, String) {
    let text = String::from_utf8_lossy(out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let cookies = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.trim().to_string())
        .collect();
    (status, cookies, body.to_string())
}

/// Sends `cookie` as the Cookie header, without a jar.
fn with_cookie(s: &Server, path: &str, cookie: &str) -> (u16, Vec<String>, String) {
    let (code, out) = curl(&["-i", "-H", &format!("cookie: {cookie}"), &s.url(path)]);
    assert_eq!(code, 0);
    parse(&out)
}

fn session_value(cookies: &[String]) -> String {
    let c = cookies
        .iter()
        .find(|c| c.starts_with("flutter_session="))
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"));
    c["flutter_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// What /me answers for an empty session.
const EMPTY: &str = r#"{"user":null,"cart":null}"#;

/// `body` and `want` as JSON values, equal.
fn same_json(body: &str, want: &str) -> bool {
    let a: Result<serde_json::Value, _> = serde_json::from_str(body);
    a.ok() == serde_json::from_str(want).ok()
}

fn count_lines(s: &Server, needle: &str) -> usize {
    s.stderr().lines().filter(|l| l.contains(needle)).count()
}

fn wait_for_log(s: &Server, needle: &str, n: usize) {
    for _ in 0..100 {
        if count_lines(s, needle) >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The flow every store must support; `id_only` for the database store.
fn session_flow(s: &Server, id_only: bool) {
    let dir = common::temp_dir("jar");
    let jar = dir.join("jar");
    let jar = jar.to_str().unwrap();

    // A request that does not touch the session sets no cookie.
    let (st, cookies, _) = call(s, jar, "/plain", &[]);
    assert_eq!((st, cookies.len()), (200, 0));
    let (_, cookies, body) = call(s, jar, "/me", &[]);
    assert!(
        cookies.is_empty(),
        "an empty session sets no cookie: {cookies:?}"
    );
    assert!(same_json(&body, EMPTY), "{body}");

    let (_, cookies, _) = call(s, jar, "/login?user=ann", &[]);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let c = &cookies[0];
    for attr in [
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=1209600",
        "Expires=",
    ] {
        assert!(c.contains(attr), "{attr} missing from {c}");
    }
    assert!(!c.contains("Secure"), "no Secure over plain HTTP: {c}");
    let first = session_value(&cookies);
    if id_only {
        assert_eq!(first.len(), 43, "only an id in the cookie: {first}");
        assert!(!first.contains('.'));
    }

    let (_, cookies, body) = call(s, jar, "/me", &[]);
    assert!(
        same_json(&body, r#"{"user":"ann","cart":["apple",{"n":2}]}"#),
        "{body}"
    );
    assert!(
        cookies.is_empty(),
        "an unchanged session is not sent again: {cookies:?}"
    );

    // Changes are saved.
    for n in 1..=3 {
        let (_, _, body) = call(s, jar, "/count", &[]);
        assert_eq!(body, n.to_string());
    }

    // Regeneration: a new cookie, the same data, the old cookie no longer works (database store).
    let (_, cookies, _) = call(s, jar, "/regen", &[]);
    let second = session_value(&cookies);
    assert_ne!(first, second);
    let (_, _, body) = call(s, jar, "/me", &[]);
    assert!(body.contains("\"ann\""), "{body}");
    let (st, _, body) = with_cookie(s, "/me", &format!("flutter_session={first}"));
    assert_eq!(st, 200);
    if id_only {
        assert!(same_json(&body, EMPTY), "the old id is gone: {body}");
    }

    // Destroy: the cookie is removed, the data gone.
    let (_, cookies, _) = call(s, jar, "/logout", &[]);
    assert_eq!(cookies.len(), 1);
    assert!(
        cookies[0].starts_with("flutter_session=;") && cookies[0].contains("Max-Age=0"),
        "{cookies:?}"
    );
    let (_, _, body) = with_cookie(s, "/me", &format!("flutter_session={second}"));
    if id_only {
        assert!(same_json(&body, EMPTY), "{body}");
    }
    let (_, cookies, body) = call(s, jar, "/me", &[]);
    assert!(same_json(&body, EMPTY), "{body}");
    assert!(cookies.is_empty());

    // Bad cookies: a fresh session and one log line each, never an error page.
    let before = count_lines(s, "session");
    let bad = [
        "garbage",
        "1.2.3",
        "%00%01",
        "9999999999.eyJ1c2VyIjoiYWRtaW4ifQ.AAAA",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ];
    for (i, v) in bad.iter().enumerate() {
        let (st, _, body) = with_cookie(s, "/me", &format!("flutter_session={v}"));
        assert_eq!(st, 200, "cookie {v}");
        assert!(same_json(&body, EMPTY), "cookie {v}: {body}");
        wait_for_log(s, "session", before + i + 1);
        assert_eq!(
            count_lines(s, "session"),
            before + i + 1,
            "one line for {v}:\n{}",
            s.stderr()
        );
    }
    // A bad cookie and a login: the new session replaces it.
    let (_, cookies, _) = with_cookie(s, "/count", "flutter_session=garbage");
    assert_ne!(session_value(&cookies), "garbage");

    // Cookies the handler sets are kept beside the session's, whatever the response form.
    for (form, want) in [
        ("string", 1),
        ("one", 2),
        ("list", 3),
        ("head", 1),
        ("shared", 1),
    ] {
        let jar2 = dir.join(format!("jar-{form}"));
        let (st, cookies, _) = call(
            s,
            jar2.to_str().unwrap(),
            &format!("/forms?form={form}"),
            &[],
        );
        assert_eq!(st, 200);
        assert_eq!(cookies.len(), want, "{form}: {cookies:?}");
        assert!(
            cookies.iter().any(|c| c.starts_with("flutter_session=")),
            "{form}"
        );
    }
    // The shared response table was not changed by the session's cookie.
    let (_, cookies, body) = call(s, &dir.join("fresh").to_string_lossy(), "/shared", &[]);
    assert_eq!((cookies.len(), body.as_str()), (0, "shared"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn signed_cookie_sessions() {
    let s = Server::start(APP, &["--session-secret", "a test secret of enough length"]);
    session_flow(&s, false);
    // The cookie store tells a too-big session at once (500 and a reason).
    let (_, st) = curl(&["-o", "/dev/null", "-w", "%{http_code}", &s.url("/big")]);
    assert_eq!(String::from_utf8_lossy(&st), "500");
    wait_for_log(&s, "session_store", 1);
    assert!(s.stderr().contains("session_store"), "{}", s.stderr());
}

/// A session is saved only by the request that touched it: read, or assigned
/// without being read, even while other requests touch theirs meanwhile.
#[test]
fn only_the_requests_that_touch_a_session_save_it() {
    const TOUCHY: &str = r#"
local flutter = require "flutter"
return function(req)
  if req.path == "/assign" then
    req.session = { user = "ann" }  -- never read first
    return "assigned"
  elseif req.path == "/who" then
    return req.session.user or "nobody"
  elseif req.path == "/slow" then
    req.note = "other fields are stored as given"
    flutter.sleep(0.3)
    return req.note
  elseif req.path == "/touch" then
    req.session.seen = true
    return "touched"
  end
end
"#;
    let s = Server::start(
        TOUCHY,
        &["--session-secret", "a test secret of enough length"],
    );
    let (status, cookies, body) = with_cookie(&s, "/assign", "x=1");
    assert_eq!((status, body.as_str()), (200, "assigned"));
    let value = session_value(&cookies);
    let (_, cookies, body) = with_cookie(&s, "/who", &format!("flutter_session={value}"));
    assert_eq!(body, "ann");
    assert!(
        cookies.is_empty(),
        "an unchanged session sets no cookie: {cookies:?}"
    );

    // /slow waits while /touch opens and saves a session: /slow saves none.
    let url = s.url("/slow");
    let slow = std::thread::spawn(move || curl(&["-i", &url]));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let (_, cookies, body) = with_cookie(&s, "/touch", "x=1");
    assert_eq!(body, "touched");
    session_value(&cookies);
    let (code, out) = slow.join().unwrap();
    assert_eq!(code, 0);
    let (status, cookies, body) = parse(&out);
    assert_eq!(
        (status, body.as_str()),
        (200, "other fields are stored as given")
    );
    assert!(
        cookies.is_empty(),
        "/slow did not touch its session: {cookies:?}"
    );
}

#[test]
fn cookie_helper() {
    let s = Server::start(APP, &[]);
    let (_, cookies, body) = with_cookie(&s, "/cookie", "a=1; b=two");
    assert_eq!(
        cookies,
        [
            "pref=dark; Path=/app; Domain=example.com; Max-Age=3600; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; HttpOnly; SameSite=Strict",
            "n=42"
        ]
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["err"].as_str().unwrap().contains("invalid cookie name"),
        "{v}"
    );
    assert!(
        v["err2"].as_str().unwrap().contains("invalid cookie value"),
        "{v}"
    );
    assert!(v["err3"].as_str().unwrap().contains("colour"), "{v}");
    assert_eq!(v["cookies"], serde_json::json!({"a": "1", "b": "two"}));
}

#[test]
fn expired_cookie_gives_a_new_session() {
    let s = Server::start(
        APP,
        &[
            // Expiry has whole seconds: with 1 s, two requests that straddle
            // a second's turn would find the cookie expired already.
            "--session-max-age",
            "2",
            "--session-secret",
            "a test secret of enough length",
        ],
    );
    let (_, cookies, _) = with_cookie(&s, "/count", "x=1");
    let v = session_value(&cookies);
    assert!(cookies[0].contains("Max-Age=2"));
    let (_, _, body) = with_cookie(&s, "/count", &format!("flutter_session={v}"));
    assert_eq!(body, "2");
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let (st, _, body) = with_cookie(&s, "/count", &format!("flutter_session={v}"));
    assert_eq!((st, body.as_str()), (200, "1"));
    wait_for_log(&s, "expired", 1);
    assert_eq!(
        count_lines(&s, "session cookie refused (expired)"),
        1,
        "{}",
        s.stderr()
    );
}

/// Secrets: from the environment, generated into a file once, and rotated.
#[test]
fn secrets_files_and_rotation() {
    let dir = common::temp_dir("secret");
    let script = dir.join("app.lua");
    std::fs::write(&script, APP).unwrap();
    let secret_file = dir.join("secret");
    let sf = secret_file.to_str().unwrap();
    // Generated on first use, mode 0600, and kept: a cookie survives a restart.
    let s = Server::start_script(
        &script,
        &common::temp_dir("srv"),
        &["--session-secret-file", sf],
    )
    .unwrap();
    assert!(!secret_file.exists(), "no file before a session is used");
    let (_, cookies, _) = with_cookie(&s, "/count", "x=1");
    let v = session_value(&cookies);
    drop(s);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&secret_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let generated = std::fs::read_to_string(&secret_file)
        .unwrap()
        .trim()
        .to_string();
    let s = Server::start_script(
        &script,
        &common::temp_dir("srv"),
        &["--session-secret-file", sf],
    )
    .unwrap();
    let (_, _, body) = with_cookie(&s, "/count", &format!("flutter_session={v}"));
    assert_eq!(body, "2", "{}", s.stderr());
    drop(s);

    // A new secret alone refuses the old cookie; with the old one as previous it
    // is accepted and signed anew with the new one. A secret may begin with '-'
    // (a generated one is base64url).
    let new = "-the next secret, long enough";
    let s = Server::start_script(
        &script,
        &common::temp_dir("srv"),
        &["--session-secret", new],
    )
    .unwrap();
    let (_, _, body) = with_cookie(&s, "/count", &format!("flutter_session={v}"));
    assert_eq!(body, "1");
    drop(s);
    let s = Server::start_script(
        &script,
        &common::temp_dir("srv"),
        &[
            "--session-secret",
            new,
            "--session-previous-secret",
            &generated,
        ],
    )
    .unwrap();
    let (_, cookies, body) = with_cookie(&s, "/me", &format!("flutter_session={v}"));
    assert!(same_json(&body, EMPTY), "{body}");
    let resigned = session_value(&cookies);
    assert_ne!(resigned, v, "signed anew with the new secret");
    drop(s);
    let s = Server::start_script(
        &script,
        &common::temp_dir("srv"),
        &["--session-secret", new],
    )
    .unwrap();
    let (_, _, body) = with_cookie(&s, "/count", &format!("flutter_session={resigned}"));
    assert_eq!(body, "2", "{}", s.stderr());
    drop(s);
    assert!(Server::start_script(
        &script,
        &common::temp_dir("srv"),
        &["--session-secret", "short"]
    )
    .is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn secret_from_the_environment() {
    let dir = common::temp_dir("env-secret");
    let script = dir.join("app.lua");
    std::fs::write(&script, APP).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_flutter"));
    cmd.env("FLUTTER_SESSION_SECRET", "from the environment, long")
        .args(["--listen", "127.0.0.1:0", "--workers", "1"])
        .arg(&script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line
        .trim()
        .trim_start_matches("flutter: serving ")
        .trim_end_matches('/');
    let (_, out) = curl(&["-i", &format!("{url}/count")]);
    let (_, cookies, _) = parse(&out);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(cookies.len(), 1);
    assert!(
        !dir.join(".flutter-session-secret").exists(),
        "no file when the environment has a secret"
    );
    // The same secret in the option verifies the cookie.
    let s = Server::start_script(
        &script,
        &common::temp_dir("srv"),
        &["--session-secret", "from the environment, long"],
    )
    .unwrap();
    let (_, _, body) = with_cookie(
        &s,
        "/count",
        &format!("flutter_session={}", session_value(&cookies)),
    );
    assert_eq!(body, "2");
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sqlite_session_store() {
    let dir = common::temp_dir("store");
    let url = format!("sqlite:{}", dir.join("sessions.db").display());
    let s = Server::start(APP, &["--session-store", &url]);
    session_flow(&s, true);
    // What the database keeps: a hash of the id, never the id itself.
    drop(s);
    let s = Server::start(
        r#"local db = require("flutter").db.open(DB)
           return function() return { json = db:query("SELECT id, data FROM flutter_sessions") } end"#
            .replace("DB", &format!("{url:?}"))
            .as_str(),
        &[],
    );
    let (_, out) = curl(&[&s.url("/")]);
    let rows: serde_json::Value = serde_json::from_slice(&out).unwrap();
    for r in rows.as_array().unwrap() {
        assert_eq!(r["id"].as_str().unwrap().len(), 64, "{r}");
    }
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn pg_session_store() {
    let base = std::env::var("FLUTTER_TEST_PG").unwrap_or_else(|_| {
        panic!("FLUTTER_TEST_PG is not set: run tests/run-all, which starts a PostgreSQL cluster for these tests")
    });
    let mut c = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    c.batch_execute(
        "DROP SCHEMA IF EXISTS flutter_sessions_test CASCADE; CREATE SCHEMA flutter_sessions_test",
    )
    .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3Dflutter_sessions_test");
    let s = Server::start(APP, &["--session-store", &url]);
    session_flow(&s, true);
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM flutter_sessions_test.flutter_sessions",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(n >= 1);
}

#[test]
fn secure_cookie_under_tls() {
    let dir = common::temp_dir("tls-session");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let s = Server::start(
        APP,
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    let url = format!("https://127.0.0.1:{}/count", s.addr.port());
    let (code, out) = curl(&["-k", "-i", &url]);
    assert_eq!(code, 0);
    let (st, cookies, _) = parse(&out);
    assert_eq!(st, 200);
    assert!(cookies[0].contains("; Secure"), "{cookies:?}");
    let _ = std::fs::remove_dir_all(dir);
}
