//! A tiny HTTP/1.1 file server on 127.0.0.1 for the download tests: GET with optional
//! `Range: bytes=N-` (206, or 416 past the end), 404 for unknown paths. It answers at most
//! `max_requests` connections and stops by itself after that or after 10 s, whichever first.
//! It can break its first answer off after some bytes of body, as a dropped connection does.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeenRequest {
    pub path: String,
    pub range: Option<String>,
}

pub(crate) struct TestServer {
    port: u16,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves `files` (URL path → body) in a background thread.
    pub(crate) fn serve(files: Vec<(String, Vec<u8>)>, max_requests: usize) -> Self {
        Self::serve_cut(files, max_requests, None)
    }

    /// As [`serve`](Self::serve), closing the first connection after `cut` body bytes (the
    /// headers still announce the whole length).
    pub(crate) fn serve_cut(files: Vec<(String, Vec<u8>)>, max_requests: usize, cut: Option<usize>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let port = listener.local_addr().expect("bound address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut served = 0;
            while served < max_requests && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let cut = if served == 0 { cut } else { None };
                        served += 1;
                        answer(stream, &files, &log, cut);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => break,
                }
            }
        });
        Self { port, seen, thread: Some(thread) }
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The URL of `file` at the root.
    pub(crate) fn url(&self, file: &str) -> String {
        format!("{}/{file}", self.base_url())
    }

    /// The requests answered so far.
    pub(crate) fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().expect("log lock").clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The thread ends by itself (request budget or deadline); wait only if it already has.
        if let Some(thread) = self.thread.take() {
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

/// Reads one request, logs it (before answering, so the client never sees an answer to an
/// unlogged request) and writes the response; gives up silently on an unreadable request.
fn answer(
    stream: TcpStream,
    files: &[(String, Vec<u8>)],
    log: &Mutex<Vec<SeenRequest>>,
    cut: Option<usize>,
) -> Option<()> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_owned());
            }
        }
    }
    log.lock().expect("log lock").push(SeenRequest { path: path.clone(), range: range.clone() });
    let mut out = stream;
    let body = files.iter().find(|(p, _)| *p == path).map(|(_, b)| b.as_slice());
    let start =
        range.as_deref().and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse::<usize>().ok());
    let response: Vec<u8> = match (body, start) {
        (None, _) => head("404 Not Found", 0, "").into_bytes(),
        (Some(body), Some(start)) if start >= body.len() => {
            head("416 Range Not Satisfiable", 0, &format!("Content-Range: bytes */{}\r\n", body.len()))
                .into_bytes()
        }
        (Some(body), Some(start)) => {
            let extra = format!("Content-Range: bytes {start}-{}/{}\r\n", body.len() - 1, body.len());
            [head("206 Partial Content", body.len() - start, &extra).as_bytes(), &body[start..]].concat()
        }
        (Some(body), None) => [head("200 OK", body.len(), "").as_bytes(), body].concat(),
    };
    let header_len = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
    let sent = cut.map_or(response.len(), |c| (header_len + c).min(response.len()));
    out.write_all(&response[..sent]).ok()?;
    out.flush().ok()
}

fn head(status: &str, length: usize, extra: &str) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Length: {length}\r\n{extra}Connection: close\r\n\r\n")
}
