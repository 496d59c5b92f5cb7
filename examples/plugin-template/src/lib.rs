//! A KAI-Fusion plugin to start from: each signed-in user's own notes
//! (an owned model: the host fills and checks the owner), tagged with a
//! list, counted atomically, and a hook that keeps a note's title in step
//! when a core document it links to is renamed.

use kai_sdk::persistence::{self, Change, Select};
use kai_sdk::prelude::*;
use serde_json::{Value as Json, json};

pub fn plugin() -> Plugin {
    Plugin::new("plugin-template", env!("CARGO_PKG_VERSION"))
        .description("A starting point for your own plugin")
        .model(
            Model::new("note")
                .owned()
                .field(Field::string("title"))
                .field(Field::string_list("tags").default(Value::list(Vec::<&str>::new())))
                .field(Field::int("views").default(0))
                .field(Field::uuid("document_id").references("document").nullable()),
        )
        .reads(CoreModel::Documents)
        .on_event("document.updated", Delivery::Transactional, follow_rename)
        .route(Route::post("/api/v1/greetings/notes"), create)
        .route(Route::get("/api/v1/greetings/notes"), list)
        .route(Route::post("/api/v1/greetings/notes/{id}/view"), view)
}

/// `{"title": "...", "tags": ["..."], "document_id": "..."}`.
fn create(req: &Request) -> Result<Response, Error> {
    let body: Json = req.json()?;
    let title = body["title"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::invalid("title: required text"))?;
    let tags: Vec<&str> = body["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .collect();
    let mut fields = vec![("title", Value::from(title)), ("tags", Value::list(tags))];
    if let Some(document) = body["document_id"].as_str() {
        // As the caller: a document they cannot read is not found.
        models::get_document(document).map_err(HostError::expose)?;
        fields.push(("document_id", Value::Uuid(document.to_string())));
    }
    let id = persistence::insert("note", &fields)?;
    Response::json(201, &json!({ "id": id }))
}

/// The caller's notes, `?tag=` narrowing them, most viewed first.
fn list(req: &Request) -> Result<Response, Error> {
    let filter = match req.query("tag") {
        Some(tag) => Filter::contains("tags", tag),
        None => Filter::all(),
    };
    let page = Select::from("note")
        .filter(filter)
        .order(desc("views"))
        .limit(50)
        .cursor(req.query("cursor").map(str::to_string))
        .fields(&["title", "tags", "views"])
        .fetch()
        .map_err(HostError::expose)?;
    Ok(Response::json_bytes(200, page.json_page().to_vec()))
}

/// Counts a view in the database (`views = views + 1`) and answers with the
/// note as it is now.
fn view(req: &Request) -> Result<Response, Error> {
    let id = req.param_uuid("id")?;
    let notes = persistence::update_returning(
        "note",
        &Filter::eq("id", id),
        &[("views", Change::increment(1))],
    )?;
    let note = notes
        .first()
        .ok_or_else(|| Error::not_found("no such note"))?;
    Response::json(200, &note.to_json())
}

/// Inside the rename's transaction: notes linked to the document take its
/// new title. The hook runs as the user who renamed the document, so the
/// owner rules narrow it to that user's notes.
fn follow_rename(event: &Event) -> Result<(), String> {
    let document = event.new_document().ok_or("no document in the event")?;
    persistence::update_where(
        "note",
        &Filter::eq("document_id", Value::Uuid(document.id.clone())),
        &[("title", Change::set(document.title.as_str()))],
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

kai_sdk::plugin!(plugin);

/// Native tests: the handlers run in `cargo test`, and their host calls run
/// the real host's code on a private database (`kai-test-host`).
#[cfg(test)]
mod tests {
    use kai_sdk::testing::TestRequest;
    use kai_test_host::TestHost;
    use serde_json::{Value, json};

    fn post(path: &str, body: Value, user: &str) -> TestRequest {
        TestRequest::post(path)
            .json(&body)
            .as_principal(user, &["member"])
    }

    fn titles(host: &TestHost, query: &str, user: &str) -> Vec<String> {
        let path = format!("/api/v1/greetings/notes{query}");
        let response = host.send(TestRequest::get(&path).as_principal(user, &["member"]));
        assert_eq!(response.status, 200);
        let body = response.body_json();
        let items = body["items"].as_array().unwrap();
        items
            .iter()
            .map(|item| item["title"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn notes_are_their_owners_own_and_filter_by_tag() {
        let host = TestHost::new(super::plugin);
        let (ann, bob) = (
            host.member("ann@example.com"),
            host.member("bob@example.com"),
        );
        let path = "/api/v1/greetings/notes";
        for (title, tags) in [("rust", json!(["lang"])), ("tea", json!(["drink"]))] {
            let created = host.send(post(path, json!({ "title": title, "tags": tags }), &ann));
            assert_eq!(created.status, 201);
        }
        assert_eq!(titles(&host, "?tag=lang", &ann), ["rust"]);
        assert_eq!(titles(&host, "", &ann).len(), 2);
        assert!(
            titles(&host, "", &bob).is_empty(),
            "bob sees none of ann's notes"
        );
    }

    #[test]
    fn views_count_atomically_and_only_for_the_owner() {
        let host = TestHost::new(super::plugin);
        let (ann, bob) = (
            host.member("ann@example.com"),
            host.member("bob@example.com"),
        );
        let created = host.send(post(
            "/api/v1/greetings/notes",
            json!({ "title": "t" }),
            &ann,
        ));
        let id = created.body_json()["id"].as_str().unwrap().to_string();
        let view = format!("/api/v1/greetings/notes/{id}/view");
        for expected in 1..=3 {
            let viewed = host.send(post(&view, json!({}), &ann));
            assert_eq!(viewed.body_json()["views"], expected);
        }
        assert_eq!(host.send(post(&view, json!({}), &bob)).status, 404);
    }

    #[test]
    fn a_renamed_document_renames_the_notes_that_link_to_it() {
        let host = TestHost::new(super::plugin);
        let ann = host.member("ann@example.com");
        let document = host.document(&ann, "Plan");
        let note = json!({ "title": "Plan", "document_id": document });
        assert_eq!(
            host.send(post("/api/v1/greetings/notes", note, &ann))
                .status,
            201
        );
        host.rename_document(&ann, &document, "Plan B").unwrap();
        assert_eq!(titles(&host, "", &ann), ["Plan B"]);
    }

    #[test]
    fn bad_input_is_refused_and_changes_nothing() {
        let host = TestHost::new(super::plugin);
        let ann = host.member("ann@example.com");
        let path = "/api/v1/greetings/notes";
        assert_eq!(
            host.send(post(path, json!({ "title": "" }), &ann)).status,
            422
        );
        let unknown =
            json!({ "title": "t", "document_id": "0190a1b2-0000-7000-8000-000000000000" });
        assert_eq!(host.send(post(path, unknown, &ann)).status, 404);
        assert!(titles(&host, "", &ann).is_empty());
        let anonymous = host.send(TestRequest::get(path));
        assert_eq!(anonymous.status, 401);
    }
}
