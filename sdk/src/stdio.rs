//! The standard streams, environment and exit of a plugin, provided inside
//! the component so that it imports no `wasi:cli` interface.
//!
//! Rust's standard library for `wasm32-wasip2` links wasi-libc, whose
//! start-up, panic and abort paths import 19 `wasi:cli` and `wasi:io`
//! functions (stdio, terminals, environment, exit, streams, polling). A
//! request calls none of them unless it panics, yet every import costs at
//! each instantiation, and every request gets a fresh instance: the host
//! resolves each lowered import, and because some of them take lists, the
//! component carries a shim module and its fixup, two more core instances
//! per request (docs/PERFORMANCE.md, "No WASI stdio in plugins").
//!
//! wasi-libc calls each import through a symbol of its own
//! (`__wasm_import_<interface>_<function>`); defining those symbols here
//! (16 of the 19, and stdin's `subscribe` and reads) makes the linker resolve the calls to
//! these functions instead of importing them. What a plugin sees is what the host gave it before:
//!
//! - no environment variables;
//! - stdin at its end, not a terminal; stdout discarded;
//! - stderr forwarded to the host through `kai:fusion/log.write-stderr`
//!   (the first 8 KiB of a call), which logs it if the call fails: that is
//!   where a panic message goes;
//! - `exit` (and `std::process::exit`) notes the status on stderr and
//!   traps, ending the call as a failure.
//!
//! These functions own the stream methods of the whole plugin, so they
//! assume the only streams are the standard ones. That holds because a
//! plugin has no files and no sockets (the host grants neither); handles
//! are numbered from the top of the range, away from the host's own.
//! Pollables and errors stay WASI's: a plugin that sleeps waits on a real
//! clock pollable, which only the host can block on. Those imports take
//! integers only, so they cost little and need no shim. The standard
//! streams have no pollable (subscribing answers handle 0, which
//! wasi-libc takes for none and never drops): a write never has to wait,
//! since there is always room, so wasi-libc never blocks on one. Only
//! `poll(2)` on a standard stream would hand that 0 to the host, which
//! traps the call.
//!
//! The signatures are the canonical ABI of WASI 0.2.0, which is frozen. A
//! wasi-libc that named its imports differently would leave these symbols
//! unused and import WASI again: slower, and still correct. A host test
//! checks that the bundled plugins import neither `wasi:cli` nor WASI's
//! streams.

use crate::wit::kai::fusion::log::write_stderr;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The standard streams' handles, from the top of the handle range.
const STDIN: i32 = i32::MAX;
const STDOUT: i32 = i32::MAX - 1;
const STDERR: i32 = i32::MAX - 2;
/// What subscribing to a standard stream gives: no pollable. Component
/// handles start at 1, and wasi-libc keeps a 0 as "none", so it never
/// passes this to the host's `[resource-drop]pollable` when it closes the
/// stream.
const NO_POLLABLE: i32 = 0;

/// Bytes of stderr forwarded to the host; the host keeps no more than this
/// either, so the rest is dropped here without a host call.
const STDERR_FORWARD_BYTES: usize = 8 * 1024;
static STDERR_FORWARDED: AtomicUsize = AtomicUsize::new(0);

/// Sends `bytes` to the host's stderr capture, eight at a time.
fn forward_stderr(bytes: &[u8]) {
    let room = STDERR_FORWARD_BYTES.saturating_sub(STDERR_FORWARDED.load(Ordering::Relaxed));
    let bytes = &bytes[..bytes.len().min(room)];
    STDERR_FORWARDED.fetch_add(bytes.len(), Ordering::Relaxed);
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        write_stderr(u64::from_le_bytes(word), chunk.len() as u8);
    }
}

// Return areas, as the canonical ABI lays them out: a `result` or `option`
// has its discriminant in the first byte, and a `u64` payload at offset 8.

/// `get-environment: func() -> list<tuple<string, string>>`: an empty list.
#[unsafe(no_mangle)]
unsafe extern "C" fn __wasm_import_environment_get_environment(ret: *mut usize) {
    // SAFETY: wasi-libc passes a return area for a pointer and a length.
    unsafe { ret.write(0) };
    unsafe { ret.add(1).write(0) };
}

/// `exit: func(status: result)`.
#[unsafe(no_mangle)]
extern "C" fn __wasm_import_exit_exit(status: i32) {
    let note: &[u8] = if status == 0 {
        b"the plugin called exit (status: success)\n"
    } else {
        b"the plugin called exit (status: failure)\n"
    };
    forward_stderr(note);
    core::arch::wasm32::unreachable()
}

#[unsafe(no_mangle)]
extern "C" fn __wasm_import_stdin_get_stdin() -> i32 {
    STDIN
}

#[unsafe(no_mangle)]
extern "C" fn __wasm_import_stdout_get_stdout() -> i32 {
    STDOUT
}

#[unsafe(no_mangle)]
extern "C" fn __wasm_import_stderr_get_stderr() -> i32 {
    STDERR
}

/// `[method]output-stream.check-write: func() -> result<u64, stream-error>`:
/// always room for a page.
#[unsafe(no_mangle)]
unsafe extern "C" fn __wasm_import_streams_method_output_stream_check_write(
    _stream: i32,
    ret: *mut u8,
) {
    // SAFETY: wasi-libc passes an 8-aligned return area of 16 bytes.
    unsafe {
        ret.write(0);
        ret.add(8).cast::<u64>().write(4096);
    }
}

/// `[method]output-stream.write: func(contents: list<u8>) -> result<_, stream-error>`.
#[unsafe(no_mangle)]
unsafe extern "C" fn __wasm_import_streams_method_output_stream_write(
    stream: i32,
    contents: *const u8,
    len: usize,
    ret: *mut u8,
) {
    // `write(2, NULL, 0)` is legal C and reaches here with a null pointer.
    if stream == STDERR && len > 0 {
        // SAFETY: wasi-libc passes a buffer of `len` bytes in this memory.
        forward_stderr(unsafe { core::slice::from_raw_parts(contents, len) });
    }
    // SAFETY: the return area holds the result's discriminant.
    unsafe { ret.write(0) };
}

/// `[method]output-stream.blocking-flush: func() -> result<_, stream-error>`.
#[unsafe(no_mangle)]
unsafe extern "C" fn __wasm_import_streams_method_output_stream_blocking_flush(
    _stream: i32,
    ret: *mut u8,
) {
    // SAFETY: the return area holds the result's discriminant.
    unsafe { ret.write(0) };
}

/// `[method]output-stream.subscribe` and `[method]input-stream.subscribe:
/// func() -> pollable`.
#[unsafe(no_mangle)]
extern "C" fn __wasm_import_streams_method_output_stream_subscribe(_stream: i32) -> i32 {
    NO_POLLABLE
}

#[unsafe(no_mangle)]
extern "C" fn __wasm_import_streams_method_input_stream_subscribe(_stream: i32) -> i32 {
    NO_POLLABLE
}

/// `[method]input-stream.read` and `blocking-read: func(len: u64) ->
/// result<list<u8>, stream-error>`: stdin is closed.
macro_rules! closed_input {
    ($($name:ident),*) => {$(
        #[unsafe(no_mangle)]
        unsafe extern "C" fn $name(_stream: i32, _len: u64, ret: *mut u8) {
            // SAFETY: the return area holds the result's discriminant and,
            // at offset 4, the stream error's: `closed` is its second case.
            unsafe {
                ret.write(1);
                ret.add(4).write(1);
            }
        }
    )*};
}
closed_input!(
    __wasm_import_streams_method_input_stream_read,
    __wasm_import_streams_method_input_stream_blocking_read
);

/// `get-terminal-stdin`, `-stdout` and `-stderr: func() -> option<terminal>`:
/// none of the streams is a terminal.
macro_rules! not_a_terminal {
    ($($name:ident),*) => {$(
        #[unsafe(no_mangle)]
        unsafe extern "C" fn $name(ret: *mut u8) {
            // SAFETY: the return area holds the option's discriminant.
            unsafe { ret.write(0) };
        }
    )*};
}
not_a_terminal!(
    __wasm_import_terminal_stdin_get_terminal_stdin,
    __wasm_import_terminal_stdout_get_terminal_stdout,
    __wasm_import_terminal_stderr_get_terminal_stderr
);

/// Dropping a handle of this module owns nothing.
macro_rules! drop_nothing {
    ($($name:ident),*) => {$(
        #[unsafe(no_mangle)]
        extern "C" fn $name(_handle: i32) {}
    )*};
}
drop_nothing!(
    __wasm_import_streams_input_stream_drop,
    __wasm_import_streams_output_stream_drop,
    __wasm_import_terminal_input_terminal_input_drop,
    __wasm_import_terminal_output_terminal_output_drop
);
