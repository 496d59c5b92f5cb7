//! Counting failed authentications per client address, so that an address
//! guessing tokens gets 429 for the rest of the minute (see `super::auth`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed authentications per client address in the current minute.
pub struct FailureLimiter {
    per_minute: u32,
    counts: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl FailureLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            counts: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_blocked(&self, client: IpAddr) -> bool {
        let counts = self.counts.lock().unwrap();
        counts
            .get(&client)
            .is_some_and(|(since, count)| since.elapsed() < WINDOW && *count >= self.per_minute)
    }

    pub fn record(&self, client: IpAddr) {
        let mut counts = self.counts.lock().unwrap();
        if counts.len() > 100_000 {
            counts.retain(|_, (since, _)| since.elapsed() < WINDOW);
        }
        let entry = counts.entry(client).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}
