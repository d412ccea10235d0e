//! The host-side egress proxy: the only way out of a sandbox that has an allow-list.
//!
//! The sandbox itself has no network interface but loopback. Its `HTTP_PROXY`/`HTTPS_PROXY`
//! point at a loopback port inside the sandbox that is relayed to this proxy's Unix socket (native
//! backend) or to a QEMU guestfwd (micro-VM backend). The proxy:
//! - accepts `CONNECT host:port` and plain HTTP requests in absolute form (`GET http://host/…`);
//! - checks the target against the allow-list (exact names, `*.domain`, optional port);
//! - refuses IP literals (an allow-list holds names only) and names that resolve to loopback,
//!   private or link-local addresses (cloud metadata, host services) unless told otherwise;
//! - resolves DNS itself, so the sandbox never needs a resolver;
//! - after `CONNECT`, reads the TLS ClientHello and refuses it when its SNI names another host;
//! - records every allowed and blocked attempt as an [`Event`].
//!
//! A program that ignores the proxy variables reaches nothing: there is no route out.

use crate::report::{Event, EventKind};
use crate::spec::NetworkPolicy;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// Largest request head accepted (request line plus headers).
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections handled at once; more are refused (a sandbox must not exhaust the host's threads).
const MAX_CONNECTIONS: usize = 128;
/// How long connecting to an upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections to the registry route at once: Sentinel's proxy runs in babuino's own process and
/// may hold a registry document (up to 64 MB) per request, so a sandbox must not open many.
pub const MAX_ROUTE_CONNECTIONS: usize = 16;

/// Test hook: `BABUINO_TEST_RESOLVE=name=ip:port[,name=ip:port]` makes the proxy send `name` (any
/// port) to the given address, so tests can reach a local server under an allowed host name.
pub const TEST_RESOLVE_ENV: &str = "BABUINO_TEST_RESOLVE";

/// Errors starting the proxy.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("cannot listen on {0}: {1}")]
    Listen(String, io::Error),
    #[error("invalid {TEST_RESOLVE_ENV} entry {0:?}: expected name=ip:port")]
    BadOverride(String),
}

/// Where the proxy listens.
#[derive(Debug, Clone)]
pub enum ProxyListen {
    /// A Unix socket at this path (created; removed on shutdown).
    Unix(PathBuf),
    /// A TCP address (use port 0 for any free port).
    Tcp(SocketAddr),
}

/// Proxy options beyond the allow-list.
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// Fixed answers for names (tests; see [`TEST_RESOLVE_ENV`]). Overridden names may point at
    /// loopback.
    pub resolve_overrides: HashMap<String, SocketAddr>,
    /// Allow names that resolve to private/loopback addresses (off by default).
    pub allow_private: bool,
}

impl ProxyOptions {
    /// Options with overrides read from [`TEST_RESOLVE_ENV`] if set.
    pub fn from_env() -> Result<Self, EgressError> {
        let mut o = ProxyOptions::default();
        if let Ok(v) = std::env::var(TEST_RESOLVE_ENV) {
            o.resolve_overrides = parse_overrides(&v)?;
        }
        Ok(o)
    }
}

/// Parses `name=ip:port,name2=ip:port`.
pub fn parse_overrides(s: &str) -> Result<HashMap<String, SocketAddr>, EgressError> {
    let mut m = HashMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, addr) = part
            .split_once('=')
            .ok_or_else(|| EgressError::BadOverride(part.to_string()))?;
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| EgressError::BadOverride(part.to_string()))?;
        m.insert(name.to_ascii_lowercase(), addr);
    }
    Ok(m)
}

struct Shared {
    policy: NetworkPolicy,
    options: ProxyOptions,
    started: Instant,
    events: Mutex<Vec<Event>>,
    tx: Mutex<Option<mpsc::Sender<Event>>>,
    stop: AtomicBool,
    active: std::sync::atomic::AtomicUsize,
    route_active: std::sync::atomic::AtomicUsize,
}

/// Gives a registry-route slot back when its connection ends.
struct RouteSlot<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for RouteSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    fn record(&self, kind: EventKind, detail: String) {
        let ev = Event {
            time_ms: self.started.elapsed().as_millis() as u64,
            kind,
            detail,
        };
        if let Ok(tx) = self.tx.lock()
            && let Some(tx) = tx.as_ref()
        {
            let _ = tx.send(ev.clone());
        }
        if let Ok(mut evs) = self.events.lock() {
            evs.push(ev);
        }
    }
}

/// A running egress proxy. Dropping it stops accepting connections.
pub struct EgressProxy {
    shared: Arc<Shared>,
    listen: ProxyListen,
    accept: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for EgressProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressProxy")
            .field("listen", &self.listen)
            .finish()
    }
}

impl EgressProxy {
    /// Starts the proxy. `started` is the instant event times are measured from.
    pub fn start(
        policy: NetworkPolicy,
        listen: ProxyListen,
        options: ProxyOptions,
        started: Instant,
    ) -> Result<Self, EgressError> {
        let shared = Arc::new(Shared {
            policy,
            options,
            started,
            events: Mutex::new(Vec::new()),
            tx: Mutex::new(None),
            stop: AtomicBool::new(false),
            active: std::sync::atomic::AtomicUsize::new(0),
            route_active: std::sync::atomic::AtomicUsize::new(0),
        });
        let (listen, accept) = match listen {
            ProxyListen::Unix(path) => {
                let _ = std::fs::remove_file(&path);
                let l = UnixListener::bind(&path)
                    .map_err(|e| EgressError::Listen(path.display().to_string(), e))?;
                let sh = shared.clone();
                let h = thread::spawn(move || {
                    for conn in l.incoming() {
                        if sh.stop.load(Ordering::SeqCst) {
                            break;
                        }
                        if let Ok(c) = conn {
                            spawn_handler(&sh, Conn::Unix(c));
                        }
                    }
                });
                (ProxyListen::Unix(path), h)
            }
            ProxyListen::Tcp(addr) => {
                let l = TcpListener::bind(addr)
                    .map_err(|e| EgressError::Listen(addr.to_string(), e))?;
                let local = l
                    .local_addr()
                    .map_err(|e| EgressError::Listen(addr.to_string(), e))?;
                let sh = shared.clone();
                let h = thread::spawn(move || {
                    for conn in l.incoming() {
                        if sh.stop.load(Ordering::SeqCst) {
                            break;
                        }
                        if let Ok(c) = conn {
                            spawn_handler(&sh, Conn::Tcp(c));
                        }
                    }
                });
                (ProxyListen::Tcp(local), h)
            }
        };
        Ok(EgressProxy {
            shared,
            listen,
            accept: Some(accept),
        })
    }

    /// Where it actually listens (the TCP port is filled in).
    pub fn listen(&self) -> &ProxyListen {
        &self.listen
    }

    /// Receives each event as it happens (one receiver; a later call replaces the earlier).
    pub fn subscribe(&self) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel();
        if let Ok(mut t) = self.shared.tx.lock() {
            *t = Some(tx);
        }
        rx
    }

    /// Events so far.
    pub fn events(&self) -> Vec<Event> {
        self.shared
            .events
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// Stops accepting and returns all events.
    pub fn shutdown(mut self) -> Vec<Event> {
        self.stop();
        self.events()
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop with a connection of our own.
        match &self.listen {
            ProxyListen::Unix(p) => {
                let _ = UnixStream::connect(p);
            }
            ProxyListen::Tcp(a) => {
                let _ = TcpStream::connect_timeout(a, Duration::from_secs(1));
            }
        }
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        if let ProxyListen::Unix(p) = &self.listen {
            let _ = std::fs::remove_file(p);
        }
        if let Ok(mut t) = self.shared.tx.lock() {
            *t = None;
        }
    }
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.stop();
        }
    }
}

/// A client or upstream connection.
pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn try_clone(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
        })
    }
    fn shutdown(&self, how: Shutdown) {
        let _ = match self {
            Conn::Unix(s) => s.shutdown(how),
            Conn::Tcp(s) => s.shutdown(how),
        };
    }
    fn set_read_timeout(&self, d: Option<Duration>) {
        let _ = match self {
            Conn::Unix(s) => s.set_read_timeout(d),
            Conn::Tcp(s) => s.set_read_timeout(d),
        };
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Copies both directions until both sides are done.
pub fn splice(a: Conn, b: Conn) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let t = thread::spawn(move || {
        let (mut r, mut w) = (a2, b2);
        let _ = io::copy(&mut r, &mut w);
        w.shutdown(Shutdown::Write);
    });
    let (mut r, mut w) = (b, a);
    let _ = io::copy(&mut r, &mut w);
    w.shutdown(Shutdown::Write);
    let _ = t.join();
}

/// A parsed proxy request.
#[derive(Debug, PartialEq, Eq)]
pub enum ProxyRequest {
    /// `CONNECT host:port`.
    Connect { host: String, port: u16 },
    /// Absolute-form HTTP request; `head` is the rewritten origin-form head to send upstream.
    Http {
        host: String,
        port: u16,
        head: Vec<u8>,
    },
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    BadRequest(String),
    Blocked(String),
}

/// Parses a proxy request head (everything up to and including the blank line).
pub fn parse_request(head: &[u8]) -> Result<ProxyRequest, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| Refusal::BadRequest("not utf-8".into()))?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest(format!("bad request line {first:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Refusal::BadRequest(format!(
            "unsupported version {version:?}"
        )));
    }
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = split_host_port(target, None)
            .ok_or_else(|| Refusal::BadRequest(format!("bad CONNECT target {target:?}")))?;
        return Ok(ProxyRequest::Connect { host, port });
    }
    let rest = target.strip_prefix("http://").ok_or_else(|| {
        Refusal::BadRequest(format!(
            "only CONNECT and absolute http:// requests are proxied, got {target:?}"
        ))
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(Refusal::BadRequest("credentials in URL".into()));
    }
    let (host, port) = split_host_port(authority, Some(80))
        .ok_or_else(|| Refusal::BadRequest(format!("bad host {authority:?}")))?;
    let mut out = format!("{method} {path} {version}\r\n");
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if name.starts_with("proxy-") || name == "connection" || name == "keep-alive" {
            continue;
        }
        if name == "host" {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Host: {authority}\r\nConnection: close\r\n\r\n"));
    Ok(ProxyRequest::Http {
        host,
        port,
        head: out.into_bytes(),
    })
}

fn split_host_port(s: &str, default_port: Option<u16>) -> Option<(String, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port?,
            None => return None,
        };
        return Some((h.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_ascii_lowercase(), p.parse().ok()?)),
        None => Some((s.to_ascii_lowercase(), default_port?)),
    }
    .filter(|(h, _)| !h.is_empty())
}

fn read_head(c: &mut Conn) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = c.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof in head"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
    }
}

fn respond(c: &mut Conn, status: &str, body: &str) {
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = c.write_all(msg.as_bytes());
}

fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
                || v4.octets()[0] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80)
        }
    }
}

impl Shared {
    /// Decides and resolves: the address to connect to, or why not.
    fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        if host.parse::<IpAddr>().is_ok() || !crate::spec::is_host_name(host) {
            return Err(format!(
                "{host}:{port} (IP literals and non-names are not allowed)"
            ));
        }
        // The registry route: exactly one virtual host and port, to exactly one loopback address
        // (Sentinel's registry proxy). Checked before the allow-list, which cannot name it.
        if let Some(route) = &self.policy.registry
            && host == route.host
        {
            return if port == route.port {
                Ok(route.target)
            } else {
                Err(format!(
                    "{host}:{port} (the registry route serves port {} only)",
                    route.port
                ))
            };
        }
        if host == crate::spec::INTERNAL_DOMAIN
            || host.ends_with(&format!(".{}", crate::spec::INTERNAL_DOMAIN))
        {
            return Err(format!(
                "{host}:{port} (reserved internal name, not routed)"
            ));
        }
        if !self.policy.allows(host, port) {
            return Err(format!("{host}:{port} (not in allow-list)"));
        }
        if let Some(addr) = self.options.resolve_overrides.get(host) {
            return Ok(*addr);
        }
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("{host}:{port} (dns lookup failed: {e})"))?
            .collect();
        let allow_local = self.options.allow_private || host == "localhost";
        addrs
            .iter()
            .find(|a| allow_local || is_public(&a.ip()))
            .copied()
            .ok_or_else(|| format!("{host}:{port} (resolves only to private or local addresses)"))
    }
}

fn spawn_handler(sh: &Arc<Shared>, mut client: Conn) {
    if sh.active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
        sh.active.fetch_sub(1, Ordering::SeqCst);
        sh.record(
            EventKind::Limit,
            format!("egress proxy: more than {MAX_CONNECTIONS} connections at once, refused"),
        );
        respond(
            &mut client,
            "503 Service Unavailable",
            "babuino: too many connections\n",
        );
        return;
    }
    let sh = sh.clone();
    thread::spawn(move || {
        handle(&sh, client);
        sh.active.fetch_sub(1, Ordering::SeqCst);
    });
}

fn handle(sh: &Shared, mut client: Conn) {
    if sh.stop.load(Ordering::SeqCst) {
        return;
    }
    client.set_read_timeout(Some(HEAD_TIMEOUT));
    let Ok((head, rest)) = read_head(&mut client) else {
        respond(
            &mut client,
            "400 Bad Request",
            "babuino: unreadable request\n",
        );
        return;
    };
    let req = match parse_request(&head) {
        Ok(r) => r,
        Err(Refusal::BadRequest(why)) | Err(Refusal::Blocked(why)) => {
            sh.record(EventKind::BlockedConnect, format!("request refused: {why}"));
            respond(&mut client, "400 Bad Request", &format!("babuino: {why}\n"));
            return;
        }
    };
    let (host, port, verb) = match &req {
        ProxyRequest::Connect { host, port } => (host.clone(), *port, "connect"),
        ProxyRequest::Http { host, port, .. } => (host.clone(), *port, "http"),
    };
    let addr = match sh.resolve(&host, port) {
        Ok(a) => a,
        Err(why) => {
            sh.record(EventKind::BlockedConnect, format!("{verb} {why}"));
            respond(
                &mut client,
                "403 Forbidden",
                &format!("babuino: blocked {verb} {why}\n"),
            );
            return;
        }
    };
    let _slot = if sh.policy.registry.as_ref().is_some_and(|r| r.host == host) {
        if sh.route_active.fetch_add(1, Ordering::SeqCst) >= MAX_ROUTE_CONNECTIONS {
            sh.route_active.fetch_sub(1, Ordering::SeqCst);
            sh.record(
                EventKind::Limit,
                format!(
                    "egress proxy: more than {MAX_ROUTE_CONNECTIONS} connections to the registry route at once, refused"
                ),
            );
            respond(
                &mut client,
                "503 Service Unavailable",
                "babuino: too many registry connections\n",
            );
            return;
        }
        Some(RouteSlot(&sh.route_active))
    } else {
        None
    };
    let mut early = rest;
    if matches!(req, ProxyRequest::Connect { .. }) {
        if client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .is_err()
        {
            return;
        }
        // Look at the first bytes: when they are a TLS ClientHello, its SNI must name the host.
        if early.is_empty() {
            client.set_read_timeout(Some(Duration::from_millis(2000)));
            let mut b = [0u8; 4096];
            if let Ok(n) = client.read(&mut b) {
                early.extend_from_slice(&b[..n]);
            }
        }
        if let Some(sni) = tls_sni(&early) {
            let sni = sni.to_ascii_lowercase();
            if sni != host && !sh.policy.allows(&sni, port) {
                sh.record(
                    EventKind::BlockedConnect,
                    format!("connect {host}:{port} (TLS SNI {sni} is not the CONNECT host)"),
                );
                return;
            }
        }
    }
    let upstream = match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
        Ok(s) => s,
        Err(e) => {
            sh.record(
                EventKind::BlockedConnect,
                format!("{verb} {host}:{port} (upstream unreachable: {e})"),
            );
            if matches!(req, ProxyRequest::Http { .. }) {
                respond(
                    &mut client,
                    "502 Bad Gateway",
                    "babuino: upstream unreachable\n",
                );
            }
            return;
        }
    };
    sh.record(EventKind::AllowedConnect, format!("{verb} {host}:{port}"));
    client.set_read_timeout(None);
    let mut up = Conn::Tcp(upstream);
    if let ProxyRequest::Http { head, .. } = &req
        && up.write_all(head).is_err()
    {
        return;
    }
    if !early.is_empty() && up.write_all(&early).is_err() {
        return;
    }
    splice(client, up);
}

/// The server name of a TLS ClientHello, when `data` starts with one.
pub fn tls_sni(data: &[u8]) -> Option<String> {
    // record header: type 22, version, length
    if data.len() < 5 || data[0] != 22 {
        return None;
    }
    let hs = data.get(5..)?;
    // handshake: type 1 (client hello), 3-byte length
    if *hs.first()? != 1 {
        return None;
    }
    let mut p = 4 + 2 + 32; // header, version, random
    let sid_len = *hs.get(p)? as usize;
    p += 1 + sid_len;
    let cs_len = u16::from_be_bytes([*hs.get(p)?, *hs.get(p + 1)?]) as usize;
    p += 2 + cs_len;
    let cm_len = *hs.get(p)? as usize;
    p += 1 + cm_len;
    let ext_total = u16::from_be_bytes([*hs.get(p)?, *hs.get(p + 1)?]) as usize;
    p += 2;
    let end = (p + ext_total).min(hs.len());
    while p + 4 <= end {
        let ty = u16::from_be_bytes([hs[p], hs[p + 1]]);
        let len = u16::from_be_bytes([hs[p + 2], hs[p + 3]]) as usize;
        p += 4;
        if ty == 0 {
            // server_name list: 2-byte list length, then type(1) len(2) name
            let name_type = *hs.get(p + 2)?;
            let name_len = u16::from_be_bytes([*hs.get(p + 3)?, *hs.get(p + 4)?]) as usize;
            if name_type != 0 {
                return None;
            }
            let name = hs.get(p + 5..p + 5 + name_len)?;
            return std::str::from_utf8(name).ok().map(str::to_string);
        }
        p += len;
    }
    None
}

/// Relays TCP connections accepted on `listener` to the Unix socket at `target` (runs inside the
/// sandbox, so programs reach the host proxy through an ordinary loopback port). Never returns
/// unless accepting fails.
pub fn forward_tcp_to_unix(listener: TcpListener, target: &Path) -> io::Error {
    loop {
        match listener.accept() {
            Ok((c, _)) => {
                let target = target.to_path_buf();
                thread::spawn(move || {
                    if let Ok(u) = UnixStream::connect(&target) {
                        splice(Conn::Tcp(c), Conn::Unix(u));
                    }
                });
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::HostPattern;

    fn policy(items: &[&str]) -> NetworkPolicy {
        NetworkPolicy {
            allow: items
                .iter()
                .map(|s| HostPattern::parse(s).unwrap())
                .collect(),
            registry: None,
        }
    }

    fn shared(policy: NetworkPolicy) -> Shared {
        Shared {
            policy,
            options: ProxyOptions::default(),
            started: Instant::now(),
            events: Mutex::new(vec![]),
            tx: Mutex::new(None),
            stop: AtomicBool::new(false),
            active: std::sync::atomic::AtomicUsize::new(0),
            route_active: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    #[test]
    fn the_registry_route_takes_a_bounded_number_of_connections() {
        use std::io::{BufRead, BufReader};
        let sentinel = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = sentinel.local_addr().unwrap();
        // Accepts and holds every connection (a slow upstream).
        thread::spawn(move || {
            let mut held = Vec::new();
            for c in sentinel.incoming().flatten() {
                held.push(c);
            }
        });
        let mut p = policy(&[]);
        p.registry = Some(crate::spec::RegistryRoute {
            host: crate::spec::REGISTRY_VHOST.into(),
            port: 80,
            target,
            via: "sentinel".into(),
            ecosystems: vec![crate::spec::PackageRegistry::Pypi],
        });
        let proxy = EgressProxy::start(
            p,
            ProxyListen::Tcp("127.0.0.1:0".parse().unwrap()),
            ProxyOptions::default(),
            Instant::now(),
        )
        .unwrap();
        let ProxyListen::Tcp(addr) = proxy.listen().clone() else {
            panic!("not tcp")
        };
        let mut open = Vec::new();
        for _ in 0..MAX_ROUTE_CONNECTIONS {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"CONNECT sentinel.babuino.internal:80 HTTP/1.1\r\n\r\n")
                .unwrap();
            let mut line = String::new();
            BufReader::new(c.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert!(line.starts_with("HTTP/1.1 200"), "{line}");
            open.push(c);
        }
        let mut extra = TcpStream::connect(addr).unwrap();
        extra
            .write_all(b"CONNECT sentinel.babuino.internal:80 HTTP/1.1\r\n\r\n")
            .unwrap();
        let mut resp = String::new();
        let _ = extra.read_to_string(&mut resp);
        assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
        drop(open);
        let events = proxy.shutdown();
        assert!(
            events
                .iter()
                .any(|e| e.kind == EventKind::Limit && e.detail.contains("registry route"))
        );
    }

    #[test]
    fn the_registry_route_reaches_one_loopback_port_only() {
        let mut p = policy(&["*.internal", "localhost:9999"]);
        p.registry = Some(crate::spec::RegistryRoute {
            host: crate::spec::REGISTRY_VHOST.into(),
            port: 80,
            target: "127.0.0.1:4242".parse().unwrap(),
            via: "sentinel".into(),
            ecosystems: vec![crate::spec::PackageRegistry::Pypi],
        });
        let sh = shared(p);
        assert_eq!(
            sh.resolve("sentinel.babuino.internal", 80).unwrap(),
            "127.0.0.1:4242".parse().unwrap()
        );
        assert!(
            sh.resolve("sentinel.babuino.internal", 4242)
                .unwrap_err()
                .contains("port 80 only")
        );
        // Other internal names are never resolved, even when a wildcard covers them.
        assert!(sh.resolve("other.babuino.internal", 80).is_err());
        assert!(sh.resolve("127.0.0.1", 4242).is_err());
        // Without the route the virtual host goes nowhere.
        let sh = shared(policy(&["*.babuino.internal"]));
        assert!(sh.resolve("sentinel.babuino.internal", 80).is_err());
    }

    #[test]
    fn parses_connect_and_absolute_http() {
        assert_eq!(
            parse_request(b"CONNECT api.github.com:443 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap(),
            ProxyRequest::Connect {
                host: "api.github.com".into(),
                port: 443
            }
        );
        let r = parse_request(
            b"GET http://Example.com/a?b HTTP/1.1\r\nHost: example.com\r\nProxy-Authorization: x\r\nAccept: */*\r\n\r\n",
        )
        .unwrap();
        let ProxyRequest::Http { host, port, head } = r else {
            panic!("not http")
        };
        assert_eq!((host.as_str(), port), ("example.com", 80));
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("GET /a?b HTTP/1.1\r\n"), "{head}");
        assert!(!head.contains("Proxy-Authorization"));
        assert!(head.contains("Accept: */*"));
        assert!(parse_request(b"GET /relative HTTP/1.1\r\n\r\n").is_err());
        assert!(parse_request(b"GET http://u:p@x.com/ HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn refuses_ip_literals_and_unlisted_hosts() {
        let sh = Shared {
            policy: policy(&["allowed.test", "*.example.org"]),
            options: ProxyOptions {
                resolve_overrides: parse_overrides("allowed.test=127.0.0.1:9").unwrap(),
                allow_private: false,
            },
            started: Instant::now(),
            events: Mutex::new(vec![]),
            tx: Mutex::new(None),
            stop: AtomicBool::new(false),
            active: std::sync::atomic::AtomicUsize::new(0),
            route_active: std::sync::atomic::AtomicUsize::new(0),
        };
        assert!(
            sh.resolve("127.0.0.1", 443)
                .unwrap_err()
                .contains("IP literal")
        );
        assert!(sh.resolve("169.254.169.254", 80).is_err());
        assert!(
            sh.resolve("evil.com", 443)
                .unwrap_err()
                .contains("not in allow-list")
        );
        assert!(
            sh.resolve("allowed.test", 22)
                .unwrap_err()
                .contains("not in allow-list")
        );
        assert_eq!(
            sh.resolve("allowed.test", 443).unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
    }

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "192.168.1.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
        ] {
            assert!(!is_public(&ip.parse().unwrap()), "{ip}");
        }
        assert!(is_public(&"140.82.112.3".parse().unwrap()));
    }

    #[test]
    fn reads_sni() {
        // A minimal ClientHello with SNI "example.com".
        let name = b"example.com";
        let mut sni_ext = vec![0, 0];
        let list_len = (name.len() + 3) as u16;
        sni_ext.extend_from_slice(&(list_len + 2).to_be_bytes());
        sni_ext.extend_from_slice(&list_len.to_be_bytes());
        sni_ext.push(0);
        sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni_ext.extend_from_slice(name);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0u8; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // cipher suites
        body.extend_from_slice(&[1, 0]); // compression
        body.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&sni_ext);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        assert_eq!(tls_sni(&rec).as_deref(), Some("example.com"));
        assert_eq!(tls_sni(b"GET / HTTP/1.1"), None);
    }

    #[test]
    fn tcp_proxy_relays_allowed_and_records_blocked() {
        use std::io::{BufRead, BufReader};
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_port = upstream.local_addr().unwrap().port();
        thread::spawn(move || {
            for c in upstream.incoming().flatten() {
                let mut c = c;
                let _ = c.write_all(b"hello from upstream\n");
            }
        });
        let mut options = ProxyOptions::default();
        options.resolve_overrides.insert(
            "allowed.test".into(),
            format!("127.0.0.1:{up_port}").parse().unwrap(),
        );
        let proxy = EgressProxy::start(
            policy(&[&format!("allowed.test:{up_port}")]),
            ProxyListen::Tcp("127.0.0.1:0".parse().unwrap()),
            options,
            Instant::now(),
        )
        .unwrap();
        let ProxyListen::Tcp(addr) = proxy.listen().clone() else {
            panic!("not tcp")
        };
        let mut c = TcpStream::connect(addr).unwrap();
        write!(c, "CONNECT allowed.test:{up_port} HTTP/1.1\r\n\r\n").unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        r.read_line(&mut line).unwrap(); // blank line
        c.write_all(b"x").unwrap(); // not TLS: relayed as is
        let mut hello = String::new();
        r.read_line(&mut hello).unwrap();
        assert_eq!(hello, "hello from upstream\n");
        let mut b = TcpStream::connect(addr).unwrap();
        b.write_all(b"CONNECT evil.test:443 HTTP/1.1\r\n\r\n")
            .unwrap();
        let mut resp = String::new();
        let _ = b.read_to_string(&mut resp);
        assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
        let events = proxy.shutdown();
        assert!(events.iter().any(|e| e.kind == EventKind::AllowedConnect
            && e.detail == format!("connect allowed.test:{up_port}")));
        assert!(events.iter().any(|e| e.kind == EventKind::BlockedConnect
            && e.detail.contains("evil.test:443 (not in allow-list)")));
    }
}
