//! `wasi:http` in plugin calls, on wasmtime's implementation: the view it
//! works through, the gate on outbound requests (one leaves only for an
//! origin the plugin was granted; anything else is `HTTP-request-denied`
//! before a connection is made), and one incoming request served by a
//! component's `wasi:http/incoming-handler`, whose response is collected
//! while the guest runs, up to the plugin's response cap.

use super::call::{Call, CallContext, CallError, CallState, HostContext};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use std::convert::Infallible;
use wasmtime::component::Resource;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{HostIncomingRequest, HostResponseOutparam};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

impl<H: HostContext> WasiHttpView for CallState<H> {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let (table, ctx, hooks) = self.http_parts();
        WasiHttpCtxView { ctx, table, hooks }
    }
}

type SendResult = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>;

impl<H: HostContext> WasiHttpHooks for CallContext<H> {
    /// Sends a request only to a granted origin, with no redirects followed
    /// (wasmtime's client follows none).
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let url = url::Url::parse(&request.uri().to_string()).ok();
        let allowed = url
            .as_ref()
            .is_some_and(|url| self.host.as_ref().is_some_and(|h| h.outbound_allowed(url)));
        if !allowed {
            tracing::warn!(
                origin = %url.as_ref().map(|u| u.origin().ascii_serialization()).unwrap_or_default(),
                "outbound request refused: the origin is not granted"
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let mut request = request;
        if let Some(traceparent) = &self.traceparent
            && !request.headers().contains_key("traceparent")
            && let Ok(value) = http::HeaderValue::from_str(traceparent)
        {
            // The trace goes on to the origin, the request's server span
            // as the parent, unless the component set its own.
            request.headers_mut().insert("traceparent", value);
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

impl<H: HostContext> Call<'_, H> {
    /// Serves one request with a `wasi:http` component: the guest's
    /// `incoming-handler.handle` runs while the response it sets is read,
    /// so a body larger than the channel between them still flows. The
    /// inner error is the guest's failure to answer (an error code, no
    /// response, a body over `limit`); a trap or the deadline is the outer
    /// one, as for any call.
    pub(super) async fn handle_http(
        mut self,
        proxy: &ProxyPre<CallState<H>>,
        request: http::Request<Bytes>,
        limit: usize,
    ) -> Result<Result<http::Response<Bytes>, HttpFailure>, CallError> {
        self.use_real_clocks();
        let result = self
            .run(async |store| {
                let exchange = exchange(store.data_mut(), request)?;
                let mut response = exchange.response;
                let instance = proxy.instantiate_async(&mut *store).await?;
                let guest = instance.wasi_http_incoming_handler().call_handle(
                    &mut *store,
                    exchange.request,
                    exchange.outparam,
                );
                let mut guest = std::pin::pin!(guest);
                // The response may be set while the guest runs on (writing
                // the body), or just before it returns.
                let set = tokio::select! {
                    biased;
                    set = &mut response => set.ok(),
                    finished = &mut guest => {
                        finished?;
                        match response.try_recv() {
                            Ok(set) => {
                                return Ok(collect(set, limit).await);
                            }
                            Err(_) => None,
                        }
                    }
                };
                let Some(set) = set else {
                    return Ok(Err(HttpFailure::Guest(
                        "the component returned without setting a response".into(),
                    )));
                };
                // Read the body while the guest writes it; a body over the
                // limit ends the call there.
                let mut body = std::pin::pin!(collect(set, limit));
                tokio::select! {
                    biased;
                    collected = &mut body => Ok(collected),
                    finished = guest => {
                        finished?;
                        // What it wrote is buffered: read it to its end.
                        Ok(body.await)
                    }
                }
            })
            .await;
        self.finish(result)
    }
}

/// How serving a request went wrong on the guest's side, short of a trap.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpFailure {
    #[error("the response body is over the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("{0}")]
    Guest(String),
}

/// A request's resources in the guest's table, and where its response
/// arrives.
struct Exchange {
    request: Resource<HostIncomingRequest>,
    outparam: Resource<HostResponseOutparam>,
    response: tokio::sync::oneshot::Receiver<Result<http::Response<HyperOutgoingBody>, ErrorCode>>,
}

/// Puts `request` into the guest's table with an outparam for its answer.
fn exchange<H: HostContext>(
    state: &mut CallState<H>,
    request: http::Request<Bytes>,
) -> wasmtime::Result<Exchange> {
    let (sender, response) = tokio::sync::oneshot::channel();
    let mut view = state.http();
    let request = request
        .map(|body| Full::new(body).map_err(|never: Infallible| -> HttpError { match never {} }));
    Ok(Exchange {
        request: view.new_incoming_request(Scheme::Http, request)?,
        outparam: view.new_response_outparam(sender)?,
        response,
    })
}

/// Reads a response the guest set, up to `limit` bytes of body.
async fn collect(
    response: Result<http::Response<HyperOutgoingBody>, ErrorCode>,
    limit: usize,
) -> Result<http::Response<Bytes>, HttpFailure> {
    let response = response.map_err(|code| {
        HttpFailure::Guest(format!("the component answered with the error {code:?}"))
    })?;
    let (parts, body) = response.into_parts();
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(http::Response::from_parts(parts, collected.to_bytes())),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(HttpFailure::TooLarge { limit })
        }
        Err(error) => Err(HttpFailure::Guest(format!(
            "the response body failed: {error}"
        ))),
    }
}
