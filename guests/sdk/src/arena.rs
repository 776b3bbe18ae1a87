//! The per-call arena (wasm only): while a plugin that opts in with
//! [`Plugin::PER_CALL_ARENA`](crate::Plugin::PER_CALL_ARENA) decodes a
//! batch, allocations are bumped from one region that the next `decode`
//! call starts over, and frees cost nothing. Parse trees, strings and the
//! operations of a batch die with the call, so most of a decode's
//! allocator work (talc's `allocate`/`deallocate`, ~7% of the opensearch
//! guest's decode in `cargo bench -p sluice-bench`) goes away.
//!
//! It is safe only for plugins that keep nothing allocated during `decode`
//! beyond the call (no cache filled lazily in a `RefCell` or `OnceCell`):
//! hence the opt-in. State built by `configure` is outside any call and
//! comes from the normal allocator, as does everything once the region is
//! full (a batch of large messages), so a call never fails for want of
//! arena room. The returned operations stay valid until the host has
//! copied them out: the canonical ABI frees them (post-return) before the
//! next call begins.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;

/// The region's size: the allocations of a batch of 1000 messages of a few
/// hundred bytes fit several times over.
const REGION_BYTES: usize = 4 << 20;

pub struct CallArena<A> {
    fallback: A,
    start: Cell<usize>,
    end: Cell<usize>,
    next: Cell<usize>,
    active: Cell<bool>,
}

// Safety: a component instance is single-threaded.
unsafe impl<A: Sync> Sync for CallArena<A> {}

impl<A: GlobalAlloc> CallArena<A> {
    pub const fn new(fallback: A) -> Self {
        CallArena { fallback, start: Cell::new(0), end: Cell::new(0), next: Cell::new(0), active: Cell::new(false) }
    }

    /// Starts a call: everything the previous call bumped is given up.
    pub fn begin_call(&self) {
        if self.start.get() == 0 {
            // Safety: a valid, non-zero layout.
            let region = unsafe { self.fallback.alloc(Layout::from_size_align_unchecked(REGION_BYTES, 16)) };
            if region.is_null() {
                return; // no room for a region: the call uses the fallback
            }
            self.start.set(region as usize);
            self.end.set(region as usize + REGION_BYTES);
        }
        self.next.set(self.start.get());
        self.active.set(true);
    }

    /// Ends a call: later allocations (the ABI's own) use the fallback.
    pub fn end_call(&self) {
        self.active.set(false);
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        let a = ptr as usize;
        a >= self.start.get() && a < self.end.get()
    }

    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        if !self.active.get() {
            return None;
        }
        let at = self.next.get().checked_add(layout.align() - 1)? & !(layout.align() - 1);
        let end = at.checked_add(layout.size())?;
        if end > self.end.get() {
            return None;
        }
        self.next.set(end);
        Some(at as *mut u8)
    }
}

unsafe impl<A: GlobalAlloc> GlobalAlloc for CallArena<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => p,
            // Safety: the caller's contract, passed on.
            None => unsafe { self.fallback.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.owns(ptr) {
            // The newest allocation gives its room back; others wait for the next call.
            if ptr as usize + layout.size() == self.next.get() {
                self.next.set(ptr as usize);
            }
            return;
        }
        // Safety: not ours, so the fallback's.
        unsafe { self.fallback.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // Safety: the fallback's block, the caller's contract.
            return unsafe { self.fallback.realloc(ptr, layout, new_size) };
        }
        // The newest allocation grows (or shrinks) in place while it fits.
        if ptr as usize + layout.size() == self.next.get()
            && let Some(end) = (ptr as usize).checked_add(new_size)
            && end <= self.end.get()
        {
            self.next.set(end);
            return ptr;
        }
        // Safety: size and align come from a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // Safety: as `alloc`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // Safety: both blocks are at least this long and do not overlap.
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    #[test]
    fn bumps_during_a_call_falls_back_outside_and_when_full_and_starts_over() {
        let arena = CallArena::new(System);
        let small = Layout::from_size_align(100, 8).unwrap();
        unsafe {
            let outside = arena.alloc(small);
            assert!(!arena.owns(outside), "before any call: the fallback");
            arena.begin_call();
            let a = arena.alloc(small);
            let b = arena.alloc(Layout::from_size_align(10, 64).unwrap());
            assert!(
                arena.owns(a) && arena.owns(b) && (b as usize).is_multiple_of(64) && b as usize >= a as usize + 100
            );
            // The newest grows in place; an older one moves, keeping its bytes.
            assert_eq!(arena.realloc(b, Layout::from_size_align(10, 64).unwrap(), 1000), b);
            a.write_bytes(7, 100);
            let moved = arena.realloc(a, small, 200);
            assert!(moved != a && arena.owns(moved) && *moved.add(99) == 7);
            let huge = arena.alloc(Layout::from_size_align(REGION_BYTES, 8).unwrap());
            assert!(!huge.is_null() && !arena.owns(huge), "what does not fit comes from the fallback");
            arena.dealloc(huge, Layout::from_size_align(REGION_BYTES, 8).unwrap());
            arena.end_call();
            let after = arena.alloc(small);
            assert!(!arena.owns(after), "after the call: the fallback");
            arena.begin_call();
            assert_eq!(arena.alloc(small), a, "the next call starts over");
            arena.end_call();
            arena.dealloc(outside, small);
            arena.dealloc(after, small);
        }
    }
}
