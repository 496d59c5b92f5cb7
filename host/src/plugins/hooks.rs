//! The plugin set as the layers below see it: the subscribers of each core
//! event (the services' [`Hooks`]) and the plugins host functions look up
//! (the capabilities' [`PluginDirectory`]). Delivering an event calls the
//! plugin in a fresh instance inside the change's unit of work.

use super::registry::{PluginRegistry, Subscriber as Subscription};
use crate::capabilities::{DeclaredModels, HostAccess, HostServices, PluginDirectory};
use crate::runtime::call::CallContext;
use crate::services::events::{Delivery, DeliveryError, Event, EventKind, Hooks, Subscriber};
use crate::store::session::Session;
use crate::wit::bindings::exports::kai::fusion::describe::Delivery as WitDelivery;
use crate::wit::bindings::exports::kai::fusion::events::Event as WitEvent;
use futures::future::BoxFuture;
use std::sync::{Arc, Weak};

/// The subscribers of the live plugin set, and what their calls reach.
pub struct PluginHooks {
    registry: Arc<PluginRegistry>,
    services: Arc<HostServices>,
    /// This value's own `Arc`, handed to the calls it makes (their writes
    /// emit events too).
    me: Weak<PluginHooks>,
}

impl PluginHooks {
    pub fn new(registry: Arc<PluginRegistry>, services: Arc<HostServices>) -> Arc<PluginHooks> {
        Arc::new_cyclic(|me| PluginHooks {
            registry,
            services,
            me: me.clone(),
        })
    }

    pub fn services(&self) -> &Arc<HostServices> {
        &self.services
    }

    /// This value as the `Hooks` a call's writes emit through.
    pub fn handle(&self) -> Arc<dyn Hooks> {
        self.me
            .upgrade()
            .expect("the hooks outlive their own calls")
    }
}

impl Hooks for PluginHooks {
    fn subscribers(&self, kind: EventKind) -> Vec<Arc<dyn Subscriber>> {
        let set = self.registry.snapshot();
        set.subscribers(kind.as_str())
            .into_iter()
            .map(|subscription| {
                Arc::new(PluginSubscriber {
                    subscription,
                    hooks: self.handle(),
                    services: self.services.clone(),
                }) as Arc<dyn Subscriber>
            })
            .collect()
    }
}

impl PluginDirectory for PluginRegistry {
    fn models_of(&self, name: &str) -> Option<Arc<DeclaredModels>> {
        Some(self.snapshot().enabled(name)?.data().clone())
    }
}

/// One plugin's subscription, ready to deliver.
struct PluginSubscriber {
    subscription: Subscription,
    hooks: Arc<dyn Hooks>,
    services: Arc<HostServices>,
}

impl Subscriber for PluginSubscriber {
    fn plugin(&self) -> &str {
        &self.subscription.plugin.manifest.name
    }

    fn delivery(&self) -> Delivery {
        match self.subscription.delivery {
            WitDelivery::Transactional => Delivery::Transactional,
            WitDelivery::AfterCommit => Delivery::AfterCommit,
        }
    }

    fn deliver<'a>(
        &'a self,
        event: &'a Event,
        session: &'a Arc<Session>,
        depth: u8,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let subscription = &self.subscription;
            let context = CallContext {
                request_id: format!("event:{}", event.id),
                traceparent: None,
                host: Some(HostAccess {
                    services: self.services.clone(),
                    hooks: self.hooks.clone(),
                    session: session.clone(),
                    plugin: subscription.plugin.data().clone(),
                    grant: subscription.grant.clone(),
                    principal: event.principal.clone(),
                    depth,
                }),
            };
            match subscription
                .plugin
                .on_event(context, WitEvent::from(event))
                .await
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(message)) => Err(DeliveryError::Refused(message)),
                Err(error) => Err(DeliveryError::Failed(error.to_string())),
            }
        })
    }
}
