//! The real `bintrail index` and `bintrail backfill` for the index tests, and a relay
//! whose target can be switched (to put a forked log behind a running index).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use super::pypi::run_bounded;

/// A running `bintrail index`; killed on drop.
pub struct IndexProcess {
    child: Child,
    /// Its URL, from its `bintrail: index listening on` line.
    pub url: String,
}

impl IndexProcess {
    /// Starts `bintrail index --upstream upstream --log log --listen 127.0.0.1:0
    /// --state state` and waits (60 s at most) for its listening line.
    pub fn start(upstream: &str, log: &str, state: &Path) -> IndexProcess {
        IndexProcess::start_with(upstream, log, state, &[])
    }

    /// [`IndexProcess::start`] with `extra` flags.
    pub fn start_with(upstream: &str, log: &str, state: &Path, extra: &[&str]) -> IndexProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bintrail"))
            .args(["index", "--upstream", upstream, "--log", log])
            .args(["--listen", "127.0.0.1:0", "--state"])
            .arg(state)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn bintrail index");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("bintrail: index listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => IndexProcess { child, url },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("bintrail index did not print its address within 60 s");
            }
        }
    }

    /// The absolute URL of `path` (starting with `/`).
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `host:port`, for raw requests.
    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }
}

impl Drop for IndexProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `bintrail backfill` with `args` (bounded to 5 minutes).
pub fn backfill(args: &[&str]) -> Output {
    let mut all = vec!["backfill"];
    all.extend_from_slice(args);
    run_bounded(
        Path::new(env!("CARGO_BIN_EXE_bintrail")),
        &all,
        &[],
        Duration::from_secs(300),
    )
}

/// An HTTP relay on 127.0.0.1 to a switchable target (GET only, whole bodies).
pub struct Relay {
    /// The relay's URL.
    pub url: String,
    target: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Starts relaying to `target` (a URL without trailing slash).
    pub async fn start(target: &str) -> Relay {
        let shared = Arc::new(Mutex::new(target.trim_end_matches('/').to_owned()));
        let current = shared.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let target = current.lock().unwrap().clone();
            async move {
                let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                let resp = super::client()
                    .get(format!("{target}{path}"))
                    .send()
                    .await
                    .map_err(|_| axum::http::StatusCode::BAD_GATEWAY)?;
                let status = axum::http::StatusCode::from_u16(resp.status().as_u16())
                    .map_err(|_| axum::http::StatusCode::BAD_GATEWAY)?;
                let body = resp
                    .bytes()
                    .await
                    .map_err(|_| axum::http::StatusCode::BAD_GATEWAY)?;
                Ok::<_, axum::http::StatusCode>((status, body))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Relay {
            url,
            target: shared,
            task,
        }
    }

    /// Relays to `target` from now on.
    pub fn switch(&self, target: &str) {
        *self.target.lock().unwrap() = target.trim_end_matches('/').to_owned();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
