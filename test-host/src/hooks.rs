//! The plugin as the services see its subscriptions: a core change it
//! subscribed to runs its event handler natively, inside the change's unit
//! of work for a transactional hook, from the outbox after commit
//! otherwise, exactly as a server delivers to a loaded plugin.

use crate::calls::NativeCalls;
use futures::future::BoxFuture;
use kai_host::capabilities::{DeclaredModels, HostAccess, HostServices, PluginDirectory};
use kai_host::domain::grant::Grant;
use kai_host::services::events::{Delivery, DeliveryError, Event, EventKind, Hooks, Subscriber};
use kai_host::store::session::Session;
use kai_host::wit::bindings::exports::kai::fusion::describe::Delivery as WitDelivery;
use kai_host::wit::bindings::exports::kai::fusion::events::Event as WitEvent;
use kai_host::wit::manifest::Manifest;
use kai_sdk::Plugin;
use std::sync::{Arc, Weak};
use tokio::runtime::Handle;

/// The one plugin a test host holds, as host calls look plugins up.
pub struct Directory(pub Arc<DeclaredModels>);

impl PluginDirectory for Directory {
    fn models_of(&self, name: &str) -> Option<Arc<DeclaredModels>> {
        (self.0.plugin == name).then(|| self.0.clone())
    }
}

/// The plugin's subscriptions, for the services to deliver to.
pub struct TestHooks {
    build: fn() -> Plugin,
    plugin: String,
    /// (event kind, delivery) of each subscription the grant allows.
    subscriptions: Vec<(String, Delivery)>,
    services: Arc<HostServices>,
    models: Arc<DeclaredModels>,
    grant: Arc<Grant>,
    handle: Handle,
    me: Weak<TestHooks>,
}

impl TestHooks {
    pub fn new(
        build: fn() -> Plugin,
        manifest: &Manifest,
        services: Arc<HostServices>,
        models: Arc<DeclaredModels>,
        grant: Arc<Grant>,
        handle: Handle,
    ) -> Arc<TestHooks> {
        let subscriptions = manifest
            .subscriptions
            .iter()
            .filter(|s| grant.event(&s.event))
            .map(|s| {
                let delivery = match s.delivery {
                    WitDelivery::Transactional => Delivery::Transactional,
                    WitDelivery::AfterCommit => Delivery::AfterCommit,
                };
                (s.event.clone(), delivery)
            })
            .collect();
        Arc::new_cyclic(|me| TestHooks {
            build,
            plugin: manifest.name.clone(),
            subscriptions,
            services,
            models,
            grant,
            handle,
            me: me.clone(),
        })
    }
}

impl Hooks for TestHooks {
    fn subscribers(&self, kind: EventKind) -> Vec<Arc<dyn Subscriber>> {
        let hooks = self.me.upgrade().expect("the hooks outlive their calls");
        self.subscriptions
            .iter()
            .filter(|(event, _)| event == kind.as_str())
            .map(|(_, delivery)| {
                Arc::new(NativeSubscriber {
                    hooks: hooks.clone(),
                    delivery: *delivery,
                }) as Arc<dyn Subscriber>
            })
            .collect()
    }
}

/// One subscription of the plugin, delivered natively.
struct NativeSubscriber {
    hooks: Arc<TestHooks>,
    delivery: Delivery,
}

impl Subscriber for NativeSubscriber {
    fn plugin(&self) -> &str {
        &self.hooks.plugin
    }

    fn delivery(&self) -> Delivery {
        self.delivery
    }

    fn deliver<'a>(
        &'a self,
        event: &'a Event,
        session: &'a Arc<Session>,
        depth: u8,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let hooks = &self.hooks;
            let access = HostAccess {
                services: hooks.services.clone(),
                hooks: hooks.clone() as Arc<dyn Hooks>,
                session: session.clone(),
                plugin: hooks.models.clone(),
                grant: hooks.grant.clone(),
                principal: event.principal.clone(),
                depth,
            };
            let record = serde_json::to_value(WitEvent::from(event)).expect("an event encodes");
            let record = serde_json::from_value(record).expect("the host's event is the SDK's");
            let calls = NativeCalls::new(hooks.handle.clone(), &hooks.plugin, access);
            // The handler is plain code that blocks on its host calls:
            // this worker hands its other tasks over while it runs.
            let outcome = tokio::task::block_in_place(|| {
                calls.run(|| kai_sdk::__private::deliver(&(hooks.build)(), record))
            });
            match outcome {
                Ok(Ok(())) => Ok(()),
                Ok(Err(message)) => Err(DeliveryError::Refused(message)),
                Err(_) => Err(DeliveryError::Failed("the event handler panicked".into())),
            }
        })
    }
}
