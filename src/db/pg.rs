//! PostgreSQL through the `postgres` crate. Its client runs a small runtime
//! of its own; flutter only calls it on blocking-pool threads.
//!
//! Parameters go in PostgreSQL's text format, so the server reads each one as
//! the type the statement gives it (a Lua integer fits bigint, numeric, real
//! or text alike). Results come in the binary format and are decoded here by
//! type; a type flutter does not know is refused with a message saying to cast
//! it to text.

use super::{Error, Result, Rows, Value};
use postgres::types::private::BytesMut;
use postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type};
use postgres::{Client, NoTls};
use std::fmt::Write;
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// Longest wait for a server to answer a connection attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub fn connect(url: &str) -> Result<Client> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e| Error::new(format!("invalid PostgreSQL URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.connect(NoTls).map_err(|e| Error {
        message: format!("cannot connect to PostgreSQL: {}", describe(&e)),
        broken: true,
        missing: false,
    })
}

/// The message of an error: the server's own for a database error.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                let _ = write!(m, " ({d})");
            }
            m
        }
        None => {
            let mut m = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                let _ = write!(m, ": {s}");
                source = s.source();
            }
            m
        }
    }
}

pub fn error(client: &Client, e: postgres::Error) -> Error {
    let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
    // Class 08: connection exception; 57P0x: the server or an administrator ended it.
    let broken = e.is_closed()
        || client.is_closed()
        || code.starts_with("08")
        || code.starts_with("57P")
        || (e.as_db_error().is_none() && std::error::Error::source(&e).is_some());
    Error {
        message: describe(&e),
        broken,
        // undefined_table, undefined_column
        missing: code == "42P01" || code == "42703",
    }
}

struct Param<'a>(&'a Value);

impl std::fmt::Debug for Param<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

fn is_integer_type(ty: &Type) -> bool {
    matches!(*ty, Type::INT2 | Type::INT4 | Type::INT8 | Type::OID)
}

fn bytea_text(out: &mut BytesMut, bytes: &[u8]) {
    out.extend_from_slice(b"\\x");
    for b in bytes {
        out.extend_from_slice(format!("{b:02x}").as_bytes());
    }
}

fn float_text(f: f64, ty: &Type) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if is_integer_type(ty) && f.fract() == 0.0 && f.abs() < 9.2e18 {
        // 2.0 from Lua arithmetic is a fine bigint.
        format!("{}", f as i64)
    } else {
        format!("{f:?}")
    }
}

/// A PostgreSQL array literal from JSON text (`{1,"a b",NULL}`).
fn array_literal(json: &str) -> std::result::Result<String, BoxError> {
    let v: serde_json::Value = serde_json::from_str(json)?;
    fn item(out: &mut String, v: &serde_json::Value) {
        use serde_json::Value as J;
        match v {
            J::Null => out.push_str("NULL"),
            J::Array(items) => {
                out.push('{');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item(out, x);
                }
                out.push('}');
            }
            other => {
                let text = match other {
                    J::String(s) => s.clone(),
                    J::Bool(b) => b.to_string(),
                    x => x.to_string(),
                };
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    if !v.is_array() {
        return Err("a table bound to an array parameter must be a sequence".into());
    }
    let mut out = String::new();
    item(&mut out, &v);
    Ok(out)
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        let is_bytea = *ty == Type::BYTEA;
        match self.0 {
            Value::Null => return Ok(IsNull::Yes),
            Value::Bool(b) if is_integer_type(ty) => {
                out.extend_from_slice(if *b { b"1" } else { b"0" })
            }
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Value::Float(f) => out.extend_from_slice(float_text(*f, ty).as_bytes()),
            Value::Text(s) if is_bytea => bytea_text(out, s.as_bytes()),
            Value::Blob(b) if is_bytea => bytea_text(out, b),
            Value::Text(s) => out.extend_from_slice(s.as_bytes()),
            Value::Blob(_) => {
                return Err(format!(
                    "a string that is not UTF-8 cannot be a {} parameter (bytea takes any bytes)",
                    ty.name()
                )
                .into())
            }
            Value::Json(s) if matches!(ty.kind(), Kind::Array(_)) => {
                out.extend_from_slice(array_literal(s)?.as_bytes())
            }
            Value::Json(s) => out.extend_from_slice(s.as_bytes()),
            Value::Array(_) => return Err("arrays are bound as JSON text".into()),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    postgres::types::to_sql_checked!();
}

/// One result value, decoded by its column's type.
struct Cell(Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Cell, BoxError> {
        decode(ty, raw).map(Cell)
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Cell, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn be<const N: usize>(raw: &[u8]) -> std::result::Result<[u8; N], BoxError> {
    raw.get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "a value is shorter than its type".into())
}

/// Microseconds from 2000-01-01 to 1970-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

fn date_text(days_since_2000: i64) -> String {
    let (y, m, d) = super::civil_from_days(days_since_2000 + PG_EPOCH_DAYS);
    format!("{y:04}-{m:02}-{d:02}")
}

fn time_text(micros: i64) -> String {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let mut s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac != 0 {
        let f = format!(".{frac:06}");
        s.push_str(f.trim_end_matches('0'));
    }
    s
}

fn timestamp_text(micros: i64, utc: bool) -> String {
    match micros {
        i64::MAX => "infinity".into(),
        i64::MIN => "-infinity".into(),
        _ => {
            let days = micros.div_euclid(86_400_000_000);
            let rest = micros.rem_euclid(86_400_000_000);
            let z = if utc { "Z" } else { "" };
            format!("{}T{}{z}", date_text(days), time_text(rest))
        }
    }
}

/// NUMERIC's binary form: an integer when it has no fraction and fits, else a float.
fn numeric(raw: &[u8]) -> std::result::Result<Value, BoxError> {
    let ndigits = u16::from_be_bytes(be(raw)?) as usize;
    let weight = i16::from_be_bytes(be(&raw[2..])?);
    let sign = u16::from_be_bytes(be(&raw[4..])?);
    let dscale = u16::from_be_bytes(be(&raw[6..])?);
    match sign {
        0xC000 => return Ok(Value::Float(f64::NAN)),
        0xD000 => return Ok(Value::Float(f64::INFINITY)),
        0xF000 => return Ok(Value::Float(f64::NEG_INFINITY)),
        _ => {}
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        digits.push(u16::from_be_bytes(be(&raw[8 + 2 * i..])?));
    }
    // Base-10000 digits; digit i is worth 10000^(weight - i).
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    }
    for w in 0..=i32::from(weight) {
        let d = digits.get(w as usize).copied().unwrap_or(0);
        if w == 0 {
            let _ = write!(text, "{d}");
        } else {
            let _ = write!(text, "{d:04}");
        }
    }
    if dscale > 0 {
        text.push('.');
        let mut frac = String::new();
        let mut i = i32::from(weight) + 1;
        while (frac.len() as u16) < dscale {
            let d = if i < 0 {
                0
            } else {
                digits.get(i as usize).copied().unwrap_or(0)
            };
            let _ = write!(frac, "{d:04}");
            i += 1;
        }
        frac.truncate(dscale as usize);
        text.push_str(&frac);
        return Ok(Value::Float(text.parse()?));
    }
    Ok(match text.parse::<i64>() {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Float(text.parse()?),
    })
}

fn array(elem: &Type, raw: &[u8]) -> std::result::Result<Value, BoxError> {
    let ndim = i32::from_be_bytes(be(raw)?);
    if ndim == 0 {
        return Ok(Value::Array(Vec::new()));
    }
    if ndim != 1 {
        return Err("multi-dimensional arrays are not converted; cast to text".into());
    }
    let len = i32::from_be_bytes(be(&raw[12..])?).max(0) as usize;
    let mut rest = raw.get(20..).ok_or("a truncated array")?;
    let mut items = Vec::with_capacity(len);
    for _ in 0..len {
        let n = i32::from_be_bytes(be(rest)?);
        rest = &rest[4..];
        if n < 0 {
            items.push(Value::Null);
        } else {
            let n = n as usize;
            let body = rest.get(..n).ok_or("a truncated array")?;
            items.push(decode(elem, body)?);
            rest = &rest[n..];
        }
    }
    Ok(Value::Array(items))
}

fn decode(ty: &Type, raw: &[u8]) -> std::result::Result<Value, BoxError> {
    Ok(match *ty {
        Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
        Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
        Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
        Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
        Type::OID => Value::Int(u32::from_sql(ty, raw)?.into()),
        Type::FLOAT4 => Value::Float(f32::from_sql(ty, raw)?.into()),
        Type::FLOAT8 => Value::Float(f64::from_sql(ty, raw)?),
        Type::NUMERIC => numeric(raw)?,
        Type::BYTEA => Value::Blob(raw.to_vec()),
        Type::VOID => Value::Null,
        Type::JSON => Value::Json(String::from_utf8(raw.to_vec())?),
        Type::JSONB => match raw.split_first() {
            Some((1, text)) => Value::Json(String::from_utf8(text.to_vec())?),
            _ => return Err("an unknown jsonb version".into()),
        },
        Type::TIMESTAMP => Value::Text(timestamp_text(i64::from_be_bytes(be(raw)?), false)),
        Type::TIMESTAMPTZ => Value::Text(timestamp_text(i64::from_be_bytes(be(raw)?), true)),
        Type::DATE => match i32::from_be_bytes(be(raw)?) {
            i32::MAX => Value::Text("infinity".into()),
            i32::MIN => Value::Text("-infinity".into()),
            d => Value::Text(date_text(d.into())),
        },
        Type::TIME => Value::Text(time_text(i64::from_be_bytes(be(raw)?))),
        Type::UUID => {
            let b: [u8; 16] = be(raw)?;
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            Value::Text(format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            ))
        }
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::CHAR => {
            Value::Text(String::from_utf8(raw.to_vec())?)
        }
        _ => match ty.kind() {
            // Enums and text-like extension types (citext) send their text.
            Kind::Enum(_) => Value::Text(String::from_utf8(raw.to_vec())?),
            Kind::Domain(base) => decode(base, raw)?,
            Kind::Array(elem) => array(elem, raw)?,
            _ if ty.name() == "citext" => Value::Text(String::from_utf8(raw.to_vec())?),
            _ => {
                return Err(format!(
                "flutter does not convert PostgreSQL type {}; cast the column to text (col::text)",
                ty.name()
            )
                .into())
            }
        },
    })
}

fn params(values: &[Value]) -> Vec<Param<'_>> {
    values.iter().map(Param).collect()
}

pub fn query(client: &mut Client, sql: &str, values: &[Value]) -> Result<Rows> {
    let ps = params(values);
    let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let rows = client.query(sql, &refs).map_err(|e| error(client, e))?;
    let mut out = Rows::default();
    let Some(first) = rows.first() else {
        // The names of an empty result are not needed.
        return Ok(out);
    };
    out.columns = first
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    for row in &rows {
        let mut values = Vec::with_capacity(out.columns.len());
        for i in 0..out.columns.len() {
            let cell: Cell = row.try_get(i).map_err(|e| Error::new(describe(&e)))?;
            values.push(cell.0);
        }
        out.rows.push(values);
    }
    Ok(out)
}

pub fn exec(client: &mut Client, sql: &str, values: &[Value]) -> Result<u64> {
    let ps = params(values);
    let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    client.execute(sql, &refs).map_err(|e| error(client, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics() {
        // 12345.678: weight 1, digits [1, 2345, 6780], dscale 3
        let raw = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c];
        assert_eq!(numeric(&raw).unwrap(), Value::Float(12345.678));
        // 42: weight 0, digits [42], dscale 0
        let raw = [0, 1, 0, 0, 0, 0, 0, 0, 0, 42];
        assert_eq!(numeric(&raw).unwrap(), Value::Int(42));
        // -0.05: weight -1, digits [500], dscale 2
        let raw = [0, 1, 0xff, 0xff, 0x40, 0, 0, 2, 0x01, 0xf4];
        assert_eq!(numeric(&raw).unwrap(), Value::Float(-0.05));
        // 20000: weight 1, digits [2], dscale 0
        let raw = [0, 1, 0, 1, 0, 0, 0, 0, 0, 2];
        assert_eq!(numeric(&raw).unwrap(), Value::Int(20000));
    }

    #[test]
    fn times() {
        assert_eq!(timestamp_text(0, true), "2000-01-01T00:00:00Z");
        assert_eq!(
            timestamp_text(86_400_000_000 + 3_723_500_000, false),
            "2000-01-02T01:02:03.5"
        );
        assert_eq!(timestamp_text(-1, true), "1999-12-31T23:59:59.999999Z");
        assert_eq!(date_text(-1), "1999-12-31");
    }

    #[test]
    fn array_literals() {
        assert_eq!(
            array_literal(r#"[1,"a \"b\"",null,true]"#).unwrap(),
            r#"{"1","a \"b\"",NULL,"true"}"#
        );
        assert!(array_literal("{}").is_err());
    }
}
