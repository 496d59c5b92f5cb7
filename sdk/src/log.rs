//! Logging into the host's log. Each line is tagged by the host with the
//! plugin's name and the request id; there is no other way out for text
//! (a plugin's stdout goes nowhere).

use crate::wit::kai::fusion::log::{Level, log};

pub fn trace(message: &str) {
    emit(Level::Trace, message)
}

pub fn debug(message: &str) {
    emit(Level::Debug, message)
}

pub fn info(message: &str) {
    emit(Level::Info, message)
}

pub fn warn(message: &str) {
    emit(Level::Warn, message)
}

pub fn error(message: &str) {
    emit(Level::Error, message)
}

fn emit(level: Level, message: &str) {
    if cfg!(target_arch = "wasm32") {
        log(level, message);
    } else {
        // Native unit tests have no host: print instead.
        eprintln!("[{level:?}] {message}");
    }
}
