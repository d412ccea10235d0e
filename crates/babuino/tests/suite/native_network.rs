//! Network: nothing but loopback by default; with an allow-list, only the egress proxy, which
//! lets allowed names through and records every attempt.

use super::native_util::{code, require_native, run_script, run_with_env};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A tiny HTTP server on the host's loopback that counts connections.
struct Server {
    port: u16,
    hits: Arc<AtomicUsize>,
}

fn server() -> Server {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            h.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nhello-allowed",
            );
        }
    });
    Server { port, hits }
}

const FETCH: &str = r#"
import os, sys, urllib.request
def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ''
    except Exception as e:
        return 'error', str(e)
"#;

#[test]
fn allowed_host_goes_through_the_proxy_and_others_are_blocked() {
    require_native!();
    let s = server();
    let script = format!(
        "{FETCH}\nprint('allowed', fetch('http://allowed.test:{p}/x'))\nprint('other', fetch('http://evil.test:{p}/x'))\nprint('ip', fetch('http://127.0.0.1:{p}/x'))\nprint('port', fetch('http://allowed.test:{q}/x'))\n",
        p = s.port,
        q = s.port.wrapping_add(1)
    );
    let c = code("fetch.py", &script);
    let allow = format!("allowed.test:{}", s.port);
    let resolve = format!("allowed.test=127.0.0.1:{}", s.port);
    let o = run_with_env(
        &["--network-allow", &allow],
        &c,
        &[("BABUINO_TEST_RESOLVE", &resolve)],
    );
    let out = o.program_output();
    assert!(
        out.contains("allowed (200, 'hello-allowed"),
        "{out}\n{}",
        o.stdout
    );
    assert!(out.contains("other (403"), "{out}");
    assert!(out.contains("ip (403"), "{out}");
    assert!(out.contains("port (403"), "{out}");
    assert_eq!(
        s.hits.load(Ordering::SeqCst),
        1,
        "only the allowed request reached the server"
    );
    assert!(
        o.has_event("allowed-connect", "allowed.test"),
        "{:?}",
        o.report["events"]
    );
    assert!(o.has_event("blocked-connect", "evil.test"));
    assert!(o.has_event("blocked-connect", "127.0.0.1"));
}

#[test]
fn program_ignoring_proxy_variables_reaches_nothing() {
    require_native!();
    let s = server();
    let script = format!(
        "import socket\nfor addr in [('127.0.0.1', {p}), ('1.1.1.1', 443), ('169.254.169.254', 80)]:\n    try:\n        socket.create_connection(addr, timeout=2); print('CONNECTED', addr)\n    except OSError as e:\n        print('failed', addr, e.errno)\ntry:\n    socket.getaddrinfo('example.com', 443); print('RESOLVED')\nexcept OSError:\n    print('no dns')\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntry:\n    s.sendto(b'q', ('8.8.8.8', 53)); print('SENT')\nexcept OSError:\n    print('no udp')\ntry:\n    socket.create_connection(('2606:4700::1111', 443), timeout=2); print('CONNECTED6')\nexcept OSError:\n    print('no ipv6')\n",
        p = s.port
    );
    let allow = format!("allowed.test:{}", s.port);
    for flags in [vec![], vec!["--network-allow", allow.as_str()]] {
        let c = code("direct.py", &script);
        let o = run_with_env(&flags, &c, &[]);
        let out = o.program_output();
        assert!(!out.contains("CONNECTED"), "{out}");
        assert!(!out.contains("RESOLVED"), "{out}");
        assert!(!out.contains("SENT"), "{out}");
        assert!(out.contains("no ipv6"), "{out}");
        assert!(
            o.has_event("blocked-connect", "connect 1.1.1.1:443"),
            "{:?}",
            o.report["events"]
        );
        assert!(o.has_event("blocked-connect", "169.254.169.254:80"));
        assert!(o.has_event("blocked-connect", "send 8.8.8.8:53"));
    }
    assert_eq!(
        s.hits.load(Ordering::SeqCst),
        0,
        "a host service was reached"
    );
}

#[test]
fn tls_sni_must_match_the_connect_host() {
    require_native!();
    let s = server();
    let script = r#"
import socket, ssl, os
port = int(os.environ['PROXY_PORT'])
s = socket.create_connection(('127.0.0.1', port), timeout=5)
s.sendall(b'CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\n\r\n')
print('proxy said', s.recv(100).split(b'\r\n')[0])
ctx = ssl.create_default_context()
try:
    ctx.wrap_socket(s, server_hostname='evil.test').do_handshake()
    print('HANDSHAKE')
except Exception as e:
    print('tls failed')
"#;
    let c = code("sni.py", script);
    let resolve = format!("allowed.test=127.0.0.1:{}", s.port);
    let o = run_with_env(
        &[
            "--network-allow",
            "allowed.test:443",
            "--env",
            "PROXY_PORT=3128",
        ],
        &c,
        &[("BABUINO_TEST_RESOLVE", &resolve)],
    );
    let out = o.program_output();
    assert!(out.contains("proxy said b'HTTP/1.1 200"), "{out}");
    assert!(out.contains("tls failed"), "{out}");
    assert!(
        o.has_event("blocked-connect", "TLS SNI evil.test"),
        "{:?}",
        o.report["events"]
    );
    assert_eq!(s.hits.load(Ordering::SeqCst), 0);
}

#[test]
fn wildcard_entries_match_subdomains_only() {
    require_native!();
    let s = server();
    let script = format!(
        "{FETCH}\nprint('sub', fetch('http://api.example.test:{p}/'))\nprint('apex', fetch('http://example.test:{p}/'))\n",
        p = s.port
    );
    let c = code("wild.py", &script);
    let allow = format!("*.example.test:{}", s.port);
    let resolve = format!(
        "api.example.test=127.0.0.1:{0},example.test=127.0.0.1:{0}",
        s.port
    );
    let o = run_with_env(
        &["--network-allow", &allow],
        &c,
        &[("BABUINO_TEST_RESOLVE", &resolve)],
    );
    let out = o.program_output();
    assert!(out.contains("sub (200"), "{out}");
    assert!(out.contains("apex (403"), "{out}");
}

#[test]
fn no_allow_list_means_no_proxy_variables() {
    require_native!();
    let o = run_script(
        "env.py",
        "import os\nprint('proxy' , os.environ.get('HTTPS_PROXY'))\n",
        &[],
    );
    assert!(o.program_output().contains("proxy None"), "{}", o.stderr);
    assert_eq!(o.report["details"]["network"], "none (loopback only)");
}

#[test]
fn localhost_on_the_allow_list_reaches_that_host_port_only() {
    require_native!();
    let s = server();
    let script = format!(
        "{FETCH}\nprint('allowed', fetch('http://localhost:{p}/'))\nprint('other', fetch('http://localhost:{q}/'))\n",
        p = s.port,
        q = s.port.wrapping_add(1)
    );
    let c = code("lh.py", &script);
    let allow = format!("localhost:{}", s.port);
    let o = run_with_env(&["--network-allow", &allow], &c, &[]);
    let out = o.program_output();
    assert!(out.contains("allowed (200"), "{out}");
    assert!(out.contains("other (403"), "{out}");
    assert_eq!(s.hits.load(Ordering::SeqCst), 1);
}

/// Live (opt-in, needs PyPI): `pip download` inside the sandbox with the `@pypi` preset: through
/// the egress proxy to Sentinel's registry proxy, which fetches from PyPI. Advisories are off
/// (OSV is not reachable from every machine). Run with
/// `BABUINO_LIVE_TESTS=1 cargo test -p babuino pip_through`.
#[test]
fn pip_through_the_proxy_with_the_pypi_preset_live() {
    if std::env::var_os("BABUINO_LIVE_TESTS").is_none() {
        eprintln!("skipped: live test (set BABUINO_LIVE_TESTS=1)");
        return;
    }
    require_native!();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("wheels");
    let o = super::native_util::finish(
        std::process::Command::new(super::native_util::BIN)
            .args([
                "run",
                "--json",
                "--network-allow",
                "@pypi",
                "--timeout",
                "120s",
                "--output",
            ])
            .arg(&target)
            .args([
                "python3",
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-d",
                "/out",
                "six==1.16.0",
            ])
            .env("SENTINEL_ADVISORIES", "off")
            .output()
            .unwrap(),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(target.join("six-1.16.0-py2.py3-none-any.whl").exists());
    assert!(
        o.has_event("allowed-connect", "http sentinel.babuino.internal:80"),
        "{:?}",
        o.report["events"]
    );
}
