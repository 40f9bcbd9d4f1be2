//! Sessions and cookies, the parts that are not Lua: signing session cookies
//! (HMAC-SHA256), the secret they are signed with, random session ids, the
//! database store, and `Set-Cookie` values.
//!
//! A signed session cookie is `EXPIRES.DATA.TAG`: the Unix time it expires,
//! the session as base64url JSON, and the base64url HMAC-SHA256 of
//! `NAME=EXPIRES.DATA` (so a cookie cannot be moved to another name). With a
//! database store the cookie holds only a random 256-bit id; the database
//! keeps the SHA-256 of the id, so its rows cannot be used as cookies.

use crate::config::Config;
use crate::db::{self, Database, Dialect, Value};
use ring::{digest, hmac, rand};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The default name of the session cookie.
pub const DEFAULT_COOKIE: &str = "flutter_session";
/// The default lifetime of a session: 14 days.
pub const DEFAULT_MAX_AGE: u64 = 14 * 86400;
/// The default name of the file a generated secret is kept in.
pub const SECRET_FILE: &str = ".flutter-session-secret";
/// The environment variable a secret can come from.
pub const SECRET_ENV: &str = "FLUTTER_SESSION_SECRET";
/// Shortest secret accepted.
pub const MIN_SECRET: usize = 16;
/// Longest cookie value a session may make (browsers keep about 4096 bytes
/// per cookie, name and attributes included).
pub const MAX_COOKIE_VALUE: usize = 3800;
/// The table of the database store.
const TABLE: &str = "flutter_sessions";

/// How a server's sessions work (from the `session_*` options).
pub struct Settings {
    pub cookie: String,
    pub max_age: u64,
    /// The database URL of the store; None: signed cookies.
    pub store: Option<String>,
    secret: Option<String>,
    previous: Option<String>,
    secret_file: PathBuf,
    keys: OnceLock<Result<Keys, String>>,
}

pub struct Keys {
    current: hmac::Key,
    previous: Option<hmac::Key>,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        let secret_file = c.session_secret_file.clone().unwrap_or_else(|| {
            let dir = match &c.script {
                Some(crate::config::Script::Path(p)) => p
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .map(Path::to_path_buf),
                _ => None,
            };
            dir.unwrap_or_else(|| PathBuf::from(".")).join(SECRET_FILE)
        });
        Settings {
            cookie: c.session_cookie.clone(),
            max_age: c.session_max_age.as_secs().max(1),
            store: c.session_store.clone(),
            secret: c.session_secret.as_ref().map(|s| s.0.clone()),
            previous: c.session_previous_secret.as_ref().map(|s| s.0.clone()),
            secret_file,
            keys: OnceLock::new(),
        }
    }

    /// The signing keys: the `session_secret` option, else the environment
    /// variable, else the secret file (generated when missing). Resolved on
    /// first use, so servers without sessions write no file.
    pub fn keys(&self) -> Result<&Keys, String> {
        self.keys
            .get_or_init(|| {
                let secret = match (&self.secret, std::env::var(SECRET_ENV)) {
                    (Some(s), _) => s.clone(),
                    (None, Ok(s)) if s.len() >= MIN_SECRET => s,
                    (None, Ok(_)) => {
                        return Err(format!(
                            "{SECRET_ENV} is shorter than {MIN_SECRET} characters"
                        ))
                    }
                    (None, Err(_)) => secret_from_file(&self.secret_file)?,
                };
                Ok(Keys {
                    current: hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
                    previous: self
                        .previous
                        .as_ref()
                        .map(|p| hmac::Key::new(hmac::HMAC_SHA256, p.as_bytes())),
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The secret kept in `path`, written there (mode 0600) on first use.
fn secret_from_file(path: &Path) -> Result<String, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let read = |path: &Path| -> Result<Option<String>, String> {
        match std::fs::read_to_string(path) {
            Ok(s) if s.trim().len() >= MIN_SECRET => Ok(Some(s.trim().to_string())),
            Ok(_) => Err(format!(
                "the session secret file {} holds fewer than {MIN_SECRET} characters",
                path.display()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!(
                "cannot read the session secret file {}: {e}",
                path.display()
            )),
        }
    };
    if let Some(s) = read(path)? {
        return Ok(s);
    }
    let secret = base64url(&random_bytes::<32>()?);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            f.write_all(format!("{secret}\n").as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            crate::log::info(&format!(
                "generated a session secret in {} (set session_secret or {SECRET_ENV} to choose one)",
                path.display()
            ));
            Ok(secret)
        }
        // Another worker wrote it first.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path)?
            .ok_or_else(|| format!("the session secret file {} is empty", path.display())),
        Err(e) => Err(format!(
            "cannot create the session secret file {} (set session_secret_file, session_secret or {SECRET_ENV}): {e}",
            path.display()
        )),
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    use rand::SecureRandom;
    let mut b = [0u8; N];
    rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| "the system's random number generator failed".to_string())?;
    Ok(b)
}

/// A new session id: 256 random bits, base64url (43 characters).
pub fn new_id() -> Result<String, String> {
    Ok(base64url(&random_bytes::<32>()?))
}

/// What the database store keeps of an id.
fn id_hash(id: &str) -> String {
    digest::digest(&digest::SHA256, id.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `s` can be a session id this server made.
pub fn plausible_id(s: &[u8]) -> bool {
    s.len() == 43
        && s.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding (RFC 4648 §5).
pub fn base64url(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    out
}

pub fn base64url_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    // Leftover bits must be zero padding of the last byte.
    if bits >= 6 || acc & ((1 << bits) - 1) != 0 {
        return None;
    }
    Some(out)
}

fn signed_text(name: &str, payload: &str) -> Vec<u8> {
    [name.as_bytes(), b"=", payload.as_bytes()].concat()
}

/// The cookie value for session `json`, valid until `expires`.
pub fn sign(keys: &Keys, name: &str, expires: u64, json: &str) -> String {
    let payload = format!("{expires}.{}", base64url(json.as_bytes()));
    let tag = hmac::sign(&keys.current, &signed_text(name, &payload));
    format!("{payload}.{}", base64url(tag.as_ref()))
}

/// A cookie that verified: the session's JSON and when it expires.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    pub json: String,
    pub expires: u64,
    /// Signed with the previous secret: to be signed anew.
    pub old_key: bool,
}

/// Checks a session cookie; the reason it is refused otherwise.
pub fn verify(keys: &Keys, name: &str, value: &[u8], now: u64) -> Result<Verified, &'static str> {
    let text = std::str::from_utf8(value).map_err(|_| "malformed")?;
    let (payload, tag) = text.rsplit_once('.').ok_or("malformed")?;
    let tag = base64url_decode(tag.as_bytes()).ok_or("malformed")?;
    let signed = signed_text(name, payload);
    let old_key = if hmac::verify(&keys.current, &signed, &tag).is_ok() {
        false
    } else if keys
        .previous
        .as_ref()
        .is_some_and(|k| hmac::verify(k, &signed, &tag).is_ok())
    {
        true
    } else {
        return Err("bad signature");
    };
    let (expires, data) = payload.split_once('.').ok_or("malformed")?;
    let expires: u64 = expires.parse().map_err(|_| "malformed")?;
    if expires <= now {
        return Err("expired");
    }
    let json = base64url_decode(data.as_bytes())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("malformed")?;
    Ok(Verified {
        json,
        expires,
        old_key,
    })
}

/// Makes sure the store's table exists (once per database and process).
fn ensure_table(db: &Arc<Database>, conn: &mut db::Conn) -> db::Result<()> {
    if db
        .schema
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains_key(TABLE)
    {
        return Ok(());
    }
    conn.batch(&format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (id TEXT PRIMARY KEY, data TEXT NOT NULL, expires BIGINT NOT NULL)"
    ))?;
    db.schema.lock().unwrap_or_else(|e| e.into_inner()).insert(
        TABLE.into(),
        vec!["id".into(), "data".into(), "expires".into()],
    );
    Ok(())
}

fn with_store<T>(
    db: &Arc<Database>,
    mut op: impl FnMut(&mut db::Conn, Dialect) -> db::Result<T>,
) -> db::Result<T> {
    db::with_connection(db, |conn| {
        let dialect = conn.dialect();
        ensure_table(db, conn)?;
        match op(conn, dialect) {
            // The table went away under us.
            Err(e) if e.missing => {
                db.schema
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(TABLE);
                ensure_table(db, conn)?;
                op(conn, dialect)
            }
            r => r,
        }
    })
}

/// The stored session `id`: its JSON and expiry, None when unknown or expired.
pub fn fetch(db: &Arc<Database>, id: &str, now: u64) -> db::Result<Option<(String, u64)>> {
    let hash = id_hash(id);
    with_store(db, |conn, d| {
        let rows = conn.query(
            &format!(
                "SELECT data, expires FROM {TABLE} WHERE id = {} AND expires > {}",
                db::placeholder(d, 1),
                db::placeholder(d, 2)
            ),
            &[Value::Text(hash.clone()), Value::Int(now as i64)],
        )?;
        Ok(match rows.rows.into_iter().next().as_deref() {
            Some([Value::Text(data), Value::Int(expires)]) => Some((data.clone(), *expires as u64)),
            _ => None,
        })
    })
}

/// Stores session `id` (replacing `old`, when the id was regenerated).
pub fn put(
    db: &Arc<Database>,
    id: &str,
    old: Option<&str>,
    json: &str,
    expires: u64,
    now: u64,
) -> db::Result<()> {
    let hash = id_hash(id);
    let old = old.map(id_hash);
    // Now and then, clear out the sessions that expired.
    let sweep = db
        .saves
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .is_multiple_of(100);
    with_store(db, |conn, d| {
        let p = |n| db::placeholder(d, n);
        conn.exec(
            &format!(
                "INSERT INTO {TABLE} (id, data, expires) VALUES ({}, {}, {}) \
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires = excluded.expires",
                p(1),
                p(2),
                p(3)
            ),
            &[
                Value::Text(hash.clone()),
                Value::Text(json.to_string()),
                Value::Int(expires as i64),
            ],
        )?;
        if let Some(old) = &old {
            conn.exec(
                &format!("DELETE FROM {TABLE} WHERE id = {}", p(1)),
                &[Value::Text(old.clone())],
            )?;
        }
        if sweep {
            conn.exec(
                &format!("DELETE FROM {TABLE} WHERE expires <= {}", p(1)),
                &[Value::Int(now as i64)],
            )?;
        }
        Ok(())
    })
}

/// Forgets session `id`.
pub fn remove(db: &Arc<Database>, id: &str) -> db::Result<()> {
    let hash = id_hash(id);
    with_store(db, |conn, d| {
        conn.exec(
            &format!("DELETE FROM {TABLE} WHERE id = {}", db::placeholder(d, 1)),
            &[Value::Text(hash.clone())],
        )
        .map(|_| ())
    })
}

/// The attributes of a `Set-Cookie` (RFC 6265 §4.1).
#[derive(Default, Debug)]
pub struct CookieAttrs {
    pub path: Option<String>,
    pub domain: Option<String>,
    pub max_age: Option<i64>,
    /// A Unix time, or a date as text.
    pub expires: Option<Expires>,
    pub http_only: bool,
    pub secure: bool,
    pub same_site: Option<String>,
    pub partitioned: bool,
}

#[derive(Debug)]
pub enum Expires {
    At(i64),
    Text(String),
}

/// RFC 6265 token characters (a cookie name).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// RFC 6265 cookie-octets (a cookie value), optionally in double quotes.
fn is_cookie_value(s: &[u8]) -> bool {
    let inner = match s {
        [b'"', inner @ .., b'"'] => inner,
        _ => s,
    };
    inner
        .iter()
        .all(|&c| matches!(c, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E))
}

/// Text allowed in an attribute value: no control characters or `;`.
fn is_attr_value(s: &str) -> bool {
    s.bytes().all(|c| (0x20..0x7f).contains(&c) && c != b';')
}

/// A `Set-Cookie` field value; the error names what is wrong.
pub fn set_cookie(name: &str, value: &[u8], a: &CookieAttrs) -> Result<String, String> {
    if !is_token(name) {
        return Err(format!("invalid cookie name {name:?}"));
    }
    if !is_cookie_value(value) {
        return Err(format!(
            "invalid cookie value {:?}: no spaces, quotes, commas, semicolons, backslashes or control characters (flutter.escape_uri encodes any text)",
            String::from_utf8_lossy(value)
        ));
    }
    let mut out = format!("{name}={}", String::from_utf8_lossy(value));
    let attr = |what: &str, v: &str| -> Result<(), String> {
        if is_attr_value(v) && !v.is_empty() {
            Ok(())
        } else {
            Err(format!("invalid cookie {what} {v:?}"))
        }
    };
    if let Some(p) = &a.path {
        attr("path", p)?;
        out.push_str("; Path=");
        out.push_str(p);
    }
    if let Some(d) = &a.domain {
        attr("domain", d)?;
        out.push_str("; Domain=");
        out.push_str(d);
    }
    if let Some(n) = a.max_age {
        out.push_str(&format!("; Max-Age={}", n.max(0)));
    }
    match &a.expires {
        Some(Expires::At(t)) => {
            out.push_str("; Expires=");
            out.push_str(&crate::http::date::http_date((*t).max(0) as u64));
        }
        Some(Expires::Text(t)) => {
            attr("expires", t)?;
            out.push_str("; Expires=");
            out.push_str(t);
        }
        None => {}
    }
    if a.secure
        || a.same_site
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("none"))
    {
        out.push_str("; Secure");
    }
    if a.http_only {
        out.push_str("; HttpOnly");
    }
    if let Some(s) = &a.same_site {
        let s = match s.to_ascii_lowercase().as_str() {
            "strict" => "Strict",
            "lax" => "Lax",
            "none" => "None",
            _ => {
                return Err(format!(
                    "invalid same_site {s:?}: expected Strict, Lax or None"
                ))
            }
        };
        out.push_str("; SameSite=");
        out.push_str(s);
    }
    if a.partitioned {
        out.push_str("; Partitioned");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(current: &str, previous: Option<&str>) -> Keys {
        Keys {
            current: hmac::Key::new(hmac::HMAC_SHA256, current.as_bytes()),
            previous: previous.map(|p| hmac::Key::new(hmac::HMAC_SHA256, p.as_bytes())),
        }
    }

    #[test]
    fn base64url_round_trips() {
        for n in 0..40 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let text = base64url(&data);
            assert!(!text.contains('='));
            assert_eq!(base64url_decode(text.as_bytes()), Some(data));
        }
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url_decode(b"Zm9"), None);
        assert_eq!(base64url_decode(b"Zm+v"), None);
    }

    #[test]
    fn signing() {
        let k = keys("a secret of sixteen+", None);
        let v = sign(&k, "s", 2000, r#"{"user":"ann"}"#);
        let ok = verify(&k, "s", v.as_bytes(), 1000).unwrap();
        assert_eq!(ok.json, r#"{"user":"ann"}"#);
        assert!(!ok.old_key);
        assert_eq!(verify(&k, "s", v.as_bytes(), 2000), Err("expired"));
        assert_eq!(
            verify(&k, "other", v.as_bytes(), 1000),
            Err("bad signature")
        );
        // Tampered data, expiry or tag.
        let forged = v.replacen("2000", "9000", 1);
        assert_eq!(
            verify(&k, "s", forged.as_bytes(), 1000),
            Err("bad signature")
        );
        let (payload, _) = v.rsplit_once('.').unwrap();
        let admin = format!("2000.{}", base64url(br#"{"user":"admin"}"#));
        let forged = v.replacen(payload, &admin, 1);
        assert_eq!(
            verify(&k, "s", forged.as_bytes(), 1000),
            Err("bad signature")
        );
        assert_eq!(verify(&k, "s", b"garbage", 1000), Err("malformed"));
        // Rotation: the old secret still verifies, marked for re-signing.
        let rotated = keys("the next secret..", Some("a secret of sixteen+"));
        assert!(verify(&rotated, "s", v.as_bytes(), 1000).unwrap().old_key);
    }

    #[test]
    fn cookies() {
        let a = CookieAttrs {
            path: Some("/".into()),
            max_age: Some(60),
            expires: Some(Expires::At(784111777)),
            http_only: true,
            same_site: Some("lax".into()),
            ..Default::default()
        };
        assert_eq!(
            set_cookie("id", b"a1", &a).unwrap(),
            "id=a1; Path=/; Max-Age=60; Expires=Sun, 06 Nov 1994 08:49:37 GMT; HttpOnly; SameSite=Lax"
        );
        assert!(set_cookie("a b", b"x", &a).is_err());
        assert!(set_cookie("a", b"x;y", &a).is_err());
        assert!(set_cookie("a", b"x\r\nSet-Cookie: y=1", &a).is_err());
        let bad_path = CookieAttrs {
            path: Some("/; Domain=evil".into()),
            ..Default::default()
        };
        assert!(set_cookie("a", b"x", &bad_path).is_err());
        let none = CookieAttrs {
            same_site: Some("None".into()),
            ..Default::default()
        };
        assert_eq!(
            set_cookie("a", b"", &none).unwrap(),
            "a=; Secure; SameSite=None"
        );
    }

    #[test]
    fn secret_file_is_made_once() {
        let dir = std::env::temp_dir().join(format!("flutter-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        let _ = std::fs::remove_file(&path);
        let a = secret_from_file(&path).unwrap();
        let b = secret_from_file(&path).unwrap();
        assert_eq!(a, b);
        assert!(a.len() >= 40);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn database_store() {
        let db = Database::open("sqlite::memory:").unwrap();
        let id = new_id().unwrap();
        assert!(plausible_id(id.as_bytes()));
        put(&db, &id, None, "{\"a\":1}", 2000, 1000).unwrap();
        assert_eq!(
            fetch(&db, &id, 1000).unwrap(),
            Some(("{\"a\":1}".into(), 2000))
        );
        assert_eq!(fetch(&db, &id, 2000).unwrap(), None);
        let id2 = new_id().unwrap();
        put(&db, &id2, Some(&id), "{}", 3000, 1000).unwrap();
        assert_eq!(fetch(&db, &id, 1000).unwrap(), None);
        remove(&db, &id2).unwrap();
        assert_eq!(fetch(&db, &id2, 1000).unwrap(), None);
    }
}
