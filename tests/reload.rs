//! Magic reload: edits to the script and to modules it requires are served
//! within a second, broken edits keep the old code, and no request fails.
mod common;
use common::*;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn body_of(s: &Server) -> String {
    let (code, body) = curl(&[&s.url("/")]);
    assert_eq!(code, 0);
    String::from_utf8(body).unwrap()
}

/// Polls until the server answers `want`; how long it took.
fn served_within(s: &Server, want: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if body_of(s) == want {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn rewrites_under_load_lose_nothing() {
    let mut s = Server::start(
        "return function() return 'v0' end",
        &["--reload", "--access-log", "off"],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, served, failed, addr) =
                (stop.clone(), served.clone(), failed.clone(), s.addr);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut c) = std::net::TcpStream::connect(addr) else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    for _ in 0..50 {
                        if c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").is_err() {
                            failed.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        let r = read_response(&mut c);
                        if r.status == 200 && r.text().starts_with('v') {
                            served.fetch_add(1, Ordering::Relaxed);
                        } else {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();

    let script = s.dir.join("app.lua");
    let mut current = "v0".to_string();
    for i in 1..=20 {
        if i % 4 == 0 {
            std::fs::write(
                &script,
                format!("return function() return 'v{i}' -- broken\n"),
            )
            .unwrap();
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(body_of(&s), current, "a broken edit replaced the code");
        } else {
            current = format!("v{i}");
            std::fs::write(
                &script,
                format!("return function() return '{current}' end\n"),
            )
            .unwrap();
            let took = served_within(&s, &current, Duration::from_secs(1));
            if took.is_none() {
                let st = s.wait_exit(Duration::from_millis(10));
                panic!(
                    "version {current} not served within 1 s: exit {st:?} {}",
                    s.stderr()
                );
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during reloads"
    );
    assert!(served.load(Ordering::Relaxed) > 100);
    assert!(
        s.stderr().contains("app.lua:2"),
        "the broken edit's line is logged: {}",
        s.stderr()
    );
}

#[test]
fn a_module_deep_in_a_require_chain_reloads() {
    let dir = temp_dir("modules");
    std::fs::write(
        dir.join("app.lua"),
        "local a = require 'mod_a'\nreturn function() return a.value() end",
    )
    .unwrap();
    std::fs::write(
        dir.join("mod_a.lua"),
        "local b = require 'mod_b'\nreturn { value = function() return 'a+' .. b end }",
    )
    .unwrap();
    std::fs::write(dir.join("mod_b.lua"), "return 'b1'").unwrap();
    let s = Server::start_script(&dir.join("app.lua"), &dir, &["--reload"]).unwrap();
    assert_eq!(body_of(&s), "a+b1");
    std::fs::write(dir.join("mod_b.lua"), "return 'b2'").unwrap();
    assert!(
        served_within(&s, "a+b2", Duration::from_secs(1)).is_some(),
        "{}",
        s.stderr()
    );
}

#[test]
fn without_reload_edits_wait_for_sighup() {
    let s = Server::start("return function() return 'old' end", &[]);
    std::fs::write(s.dir.join("app.lua"), "return function() return 'new' end").unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(body_of(&s), "old");
    s.signal(SIGHUP);
    assert!(served_within(&s, "new", Duration::from_secs(1)).is_some());
}
