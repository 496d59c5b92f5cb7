//! `GET /api/v1/hello/{name}` answering `{"message": "hello, <name>"}`,
//! the same work as the `hello` plugin, as a `wasi:http` proxy component.

use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Hello;

wasi::http::proxy::export!(Hello);

impl wasi::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (status, body) = match path.strip_prefix("/api/v1/hello/") {
            Some(name) if !name.is_empty() && !name.contains('/') => (
                200,
                serde_json::json!({ "message": format!("hello, {name}") }),
            ),
            _ => (404, serde_json::json!({ "error": "not found" })),
        };
        let headers = Fields::from_list(&[(
            "content-type".to_string(),
            b"application/json".to_vec(),
        )])
        .expect("valid header");
        let response = OutgoingResponse::new(headers);
        response.set_status_code(status).expect("valid status");
        let outgoing = response.body().expect("response body");
        ResponseOutparam::set(response_out, Ok(response));
        let stream = outgoing.write().expect("body stream");
        stream
            .blocking_write_and_flush(body.to_string().as_bytes())
            .expect("writing the body");
        drop(stream);
        OutgoingBody::finish(outgoing, None).expect("finishing the body");
    }
}
