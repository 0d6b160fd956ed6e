//! A local HTTP receiver for webhook tests: answers with scripted statuses
//! (then 200) and keeps every request's path and body.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;

#[derive(Default)]
pub struct Received {
    /// Statuses to answer, in order; 200 once they run out.
    pub script: Mutex<Vec<u16>>,
    /// (path, body) of every request.
    pub requests: Mutex<Vec<(String, String)>>,
}

pub struct Receiver {
    pub url: String,
    pub received: Arc<Received>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    pub fn start(script: &[u16]) -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let received = Arc::new(Received { script: Mutex::new(script.to_vec()), ..Received::default() });
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = received.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let received = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let received = received.clone();
                        async move {
                            let path = req.uri().path().to_owned();
                            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            received.requests.lock().unwrap().push((path, String::from_utf8_lossy(&body).into_owned()));
                            let mut script = received.script.lock().unwrap();
                            let status = if script.is_empty() { 200 } else { script.remove(0) };
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .status(StatusCode::from_u16(status).unwrap())
                                    .header("retry-after", "0")
                                    .body(Full::new(Bytes::from_static(b"ok")))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Receiver { url, received, _runtime: runtime }
    }

    pub fn requests(&self) -> Vec<(String, String)> {
        self.received.requests.lock().unwrap().clone()
    }
}
