//! The memory allocator a plugin runs on: a bump arena for what a call
//! needs, and the system allocator beyond it.
//!
//! The host runs every request and every event in a fresh instance and
//! throws the instance away afterwards, so nothing a call allocates has to
//! outlive it, and most of it is small: the request's strings and headers,
//! written into guest memory by the host one allocation each, a column page,
//! the response. The C library's allocator (dlmalloc, behind two wrappers)
//! took about 14,000 of the 21,000 instructions the guest ran per `hello`
//! request, keeping free lists that no later call would use.
//!
//! [`RequestArena`] hands out memory by moving a pointer through a block of
//! its own and ignores frees, except that the newest block can be freed,
//! grown or shrunk in place (temporary strings and growing buffers mostly
//! are the newest block). A call that outgrows the arena carries on in the
//! system allocator, which reuses what it frees: a plugin that allocates
//! and frees far more than its memory limit over one call still works, and
//! the arena's unreclaimed frees cost at most its own size.
//!
//! [`plugin!`](crate::plugin!) installs it as the global allocator of the
//! WebAssembly build; native builds (tests) keep the system allocator. A
//! plugin that brings its own allocator exports with
//! `kai_sdk::plugin!(plugin, own_allocator)`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;

/// Bytes in the arena of [`PluginAllocator`]. Large enough for a page of
/// rows and its JSON response; small enough that a call which frees and
/// allocates in a loop moves on to the system allocator soon, since every
/// page of the arena it touches is reset by the host after the call.
pub const ARENA_BYTES: usize = 256 * 1024;

/// The allocator [`plugin!`](crate::plugin!) installs.
pub type PluginAllocator = RequestArena<ARENA_BYTES>;

/// A bump arena of `BYTES` bytes in front of the system allocator. See the
/// module documentation.
pub struct RequestArena<const BYTES: usize> {
    /// Lives in the module's zero-initialised data, so it costs no
    /// allocation and only the pages a call touches.
    memory: UnsafeCell<[MaybeUninit<u8>; BYTES]>,
    /// Offset of the first free byte.
    next: Cell<usize>,
    /// Offset of the newest block, the one that may change in place.
    newest: Cell<usize>,
}

// SAFETY: a `wasm32-wasip2` plugin has one thread, so the cells are never
// used concurrently. Natively, and on WebAssembly with threads (atomics),
// the type is not `Sync`, so it cannot be a global allocator there: a
// threaded build fails to compile instead of racing on `next`.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl<const BYTES: usize> Sync for RequestArena<BYTES> {}

impl<const BYTES: usize> RequestArena<BYTES> {
    #[allow(clippy::new_without_default)] // a `const fn` for a `static`
    pub const fn new() -> Self {
        Self {
            memory: UnsafeCell::new([MaybeUninit::uninit(); BYTES]),
            next: Cell::new(0),
            newest: Cell::new(0),
        }
    }

    /// Bytes of the arena handed out so far, freed or not.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.next.get()
    }

    fn base(&self) -> *mut u8 {
        self.memory.get().cast()
    }

    /// Where `ptr` lies in the arena, if it does.
    fn offset_of(&self, ptr: *mut u8) -> Option<usize> {
        let offset = (ptr as usize).checked_sub(self.base() as usize)?;
        (offset < BYTES).then_some(offset)
    }

    /// Takes `layout` from the arena, or `None` when it does not fit.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let base = self.base() as usize;
        let start = (base + self.next.get()).checked_next_multiple_of(layout.align())? - base;
        let end = start.checked_add(layout.size())?;
        // A block ending exactly at the arena's end would make a zero-sized
        // one there, whose address `offset_of` could not tell apart.
        if end >= BYTES {
            return None;
        }
        self.newest.set(start);
        self.next.set(end);
        // SAFETY: `start < BYTES`, inside the arena.
        Some(unsafe { self.base().add(start) })
    }

    /// Whether the block at `offset` of `size` bytes is the newest one.
    fn is_newest(&self, offset: usize, size: usize) -> bool {
        offset == self.newest.get() && offset + size == self.next.get()
    }
}

// SAFETY: blocks from `bump` lie inside the arena, do not overlap (the
// pointer only moves forward, except back over the newest block when it is
// freed) and are aligned as asked; everything else is the system
// allocator's.
unsafe impl<const BYTES: usize> GlobalAlloc for RequestArena<BYTES> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(block) => block,
            // SAFETY: the caller's contract is the system allocator's.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            // Freed newest blocks are handed out again, so arena memory is
            // not always still zero.
            Some(block) => {
                // SAFETY: `bump` returned `layout.size()` bytes.
                unsafe { block.write_bytes(0, layout.size()) };
                block
            }
            // The system allocator knows which of its memory is still zero
            // (fresh pages from `memory.grow` are).
            // SAFETY: the caller's contract is the system allocator's.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.offset_of(ptr) {
            // Only the newest block goes back; the others stay taken until
            // the instance, and its arena, are thrown away.
            Some(offset) => {
                if self.is_newest(offset, layout.size()) {
                    self.next.set(offset);
                }
            }
            // SAFETY: not the arena's, so the system allocator's.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(offset) = self.offset_of(ptr) else {
            // SAFETY: not the arena's, so the system allocator's.
            return unsafe { System.realloc(ptr, layout, new_size) };
        };
        if self.is_newest(offset, layout.size()) {
            if offset + new_size < BYTES {
                self.next.set(offset + new_size);
                return ptr;
            }
        } else if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `realloc`'s contract makes this a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as for `alloc`; the old block stays valid until after the
        // copy, and `dealloc` of a block that is no longer the newest only
        // leaves it taken.
        unsafe {
            let moved = self.alloc(new_layout);
            if !moved.is_null() {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    fn in_arena<const B: usize>(arena: &RequestArena<B>, ptr: *mut u8) -> bool {
        arena.offset_of(ptr).is_some()
    }

    /// Whether the `len` bytes at `ptr` are all `byte`.
    unsafe fn all_bytes(ptr: *mut u8, len: usize, byte: u8) -> bool {
        unsafe { std::slice::from_raw_parts(ptr, len) }
            .iter()
            .all(|&b| b == byte)
    }

    #[test]
    fn blocks_come_from_the_arena_aligned_and_apart() {
        let arena = RequestArena::<1024>::new();
        unsafe {
            let a = arena.alloc(layout(3, 1));
            let b = arena.alloc(layout(8, 8));
            let c = arena.alloc(layout(16, 16));
            for (ptr, align) in [(a, 1), (b, 8), (c, 16)] {
                assert!(in_arena(&arena, ptr));
                assert_eq!(ptr as usize % align, 0);
            }
            assert!(b as usize >= a as usize + 3);
            assert!(c as usize >= b as usize + 8);
            a.write_bytes(0xAA, 3);
            b.write_bytes(0xBB, 8);
            c.write_bytes(0xCC, 16);
            assert_eq!(*a.add(2), 0xAA);
            assert_eq!(*b.add(7), 0xBB);
        }
    }

    #[test]
    fn the_newest_block_is_freed_grown_and_shrunk_in_place() {
        let arena = RequestArena::<1024>::new();
        unsafe {
            let keep = arena.alloc(layout(10, 1));
            let temporary = arena.alloc(layout(100, 8));
            arena.dealloc(temporary, layout(100, 8));
            assert_eq!(
                arena.alloc(layout(60, 8)),
                temporary,
                "a freed newest block is handed out again"
            );
            arena.dealloc(temporary, layout(60, 8));

            let buffer = arena.alloc(layout(32, 8));
            buffer.write_bytes(7, 32);
            let grown = arena.realloc(buffer, layout(32, 8), 200);
            assert_eq!(grown, buffer, "the newest block grows where it is");
            assert_eq!(*grown.add(31), 7);
            let shrunk = arena.realloc(grown, layout(200, 8), 40);
            assert_eq!(shrunk, buffer);
            assert_eq!(arena.used(), buffer as usize - arena.base() as usize + 40);

            // An older block is left where it is when freed.
            let before = arena.used();
            arena.dealloc(keep, layout(10, 1));
            assert_eq!(arena.used(), before);
        }
    }

    #[test]
    fn an_older_block_moves_when_it_grows_and_keeps_its_bytes() {
        let arena = RequestArena::<1024>::new();
        unsafe {
            let old = arena.alloc(layout(16, 4));
            old.copy_from(b"sixteen bytes!!!".as_ptr(), 16);
            let _newer = arena.alloc(layout(8, 4));
            let moved = arena.realloc(old, layout(16, 4), 64);
            assert_ne!(moved, old);
            assert!(in_arena(&arena, moved));
            assert_eq!(std::slice::from_raw_parts(moved, 16), b"sixteen bytes!!!");
            // Shrinking an older block keeps it in place.
            assert_eq!(arena.realloc(moved, layout(64, 4), 8), moved);
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_even_where_a_freed_block_was() {
        let arena = RequestArena::<1024>::new();
        unsafe {
            let dirty = arena.alloc(layout(64, 8));
            dirty.write_bytes(0xFF, 64);
            arena.dealloc(dirty, layout(64, 8));
            let zeroed = arena.alloc_zeroed(layout(64, 8));
            assert_eq!(zeroed, dirty, "the freed block is handed out again");
            assert!(all_bytes(zeroed, 64, 0));

            let big = arena.alloc_zeroed(layout(8192, 8));
            assert!(!in_arena(&arena, big));
            assert!(all_bytes(big, 8192, 0));
            arena.dealloc(big, layout(8192, 8));
        }
    }

    #[test]
    fn what_does_not_fit_goes_to_the_system_allocator() {
        let arena = RequestArena::<256>::new();
        unsafe {
            let big = arena.alloc(layout(4096, 8));
            assert!(!big.is_null() && !in_arena(&arena, big));
            big.write_bytes(1, 4096);
            arena.dealloc(big, layout(4096, 8));

            // Fill the arena, then keep allocating: the rest comes from the
            // system allocator, and frees of it are real frees.
            let mut blocks = Vec::new();
            for _ in 0..64 {
                blocks.push(arena.alloc(layout(16, 8)));
            }
            assert!(blocks.iter().any(|&p| in_arena(&arena, p)));
            assert!(blocks.iter().any(|&p| !in_arena(&arena, p)));
            assert!(arena.used() < 256);
            for block in blocks {
                block.write_bytes(2, 16);
                arena.dealloc(block, layout(16, 8));
            }
        }
    }

    #[test]
    fn a_block_that_outgrows_the_arena_moves_out_with_its_bytes() {
        let arena = RequestArena::<256>::new();
        unsafe {
            let buffer = arena.alloc(layout(100, 1));
            buffer.write_bytes(9, 100);
            let moved = arena.realloc(buffer, layout(100, 1), 10_000);
            assert!(!in_arena(&arena, moved));
            assert!(all_bytes(moved, 100, 9));
            let moved_again = arena.realloc(moved, layout(10_000, 1), 20_000);
            assert_eq!(*moved_again.add(99), 9);
            arena.dealloc(moved_again, layout(20_000, 1));
        }
    }
}
